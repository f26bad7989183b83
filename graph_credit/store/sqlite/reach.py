"""The graph index's breadth-first traversal, compiled (numba): a check near a hub follows hundreds of
edges, and one Python or numpy step per edge or per hop cost more than the rest of the check.

It walks the immutable base (CSR arrays) and the small delta of edges changed since the base was
built (``live.Delta``) together: base edges the delta replaced or removed are skipped, the delta's
current edges are merged in, each in its place in the order edges are followed."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _grow(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with room for at least ``n`` items (its contents kept)."""
    if n <= len(a):
        return a
    out = np.empty(max(n, 2 * len(a)), dtype=a.dtype)
    out[: len(a)] = a
    return out


@numba.njit(cache=True)
def _add(nodes: np.ndarray, stamps: np.ndarray, stamp: int, node: np.int64) -> bool:
    """Put ``node`` into the open-addressing set of ``stamp`` (a slot of another stamp is free: one
    table serves every origin without being cleared); whether it was absent."""
    mask = len(nodes) - 1
    slot = (node * 0x9E3779B1) & mask
    while stamps[slot] == stamp:
        if nodes[slot] == node:
            return False
        slot = (slot + 1) & mask
    nodes[slot], stamps[slot] = node, stamp
    return True


@numba.njit(cache=True)
def _has(sorted_values: np.ndarray, v: int) -> bool:
    i = np.searchsorted(sorted_values, v)
    return bool(i < len(sorted_values) and sorted_values[i] == v)


@numba.njit(cache=True)
def _expand(a: int, b: int, ha: int, hb: int, da: int, db: int, n_edges: int, holder: np.ndarray,
            h_perm: np.ndarray, vf: np.ndarray, vt: np.ndarray, erank: np.ndarray, dead: np.ndarray,
            inc_edge: np.ndarray, inc_other: np.ndarray, d_vf: np.ndarray, d_vt: np.ndarray, d_key: np.ndarray,
            day: int, buf_e: np.ndarray, buf_o: np.ndarray, buf_k: np.ndarray) -> int:
    """The edges at a node in force on ``day`` (held in it: ``a:b``; held by it: ``h_perm[ha:hb]``; the
    delta's: ``inc_*[da:db]``) into ``buf_e``, with the other end in ``buf_o`` (-1: an organisation not
    looked up yet), and in ``buf_k`` their positions in the order followed; returns their count."""
    k = 0
    nd = len(dead) > 0
    for e in range(a, b):  # edges held in the node: the other end is the holder
        if vf[e] <= day and vt[e] > day and not (nd and _has(dead, e)):
            buf_e[k], buf_o[k] = e, holder[e]
            k += 1
    for j in range(ha, hb):  # edges the node holds: the other end is the organisation
        e = h_perm[j]
        if a <= e < b:  # held in itself: already taken from the other side
            continue
        if vf[e] <= day and vt[e] > day and not (nd and _has(dead, e)):
            buf_e[k], buf_o[k] = e, -1
            k += 1
    for j in range(da, db):  # the delta's edges at the node
        d = inc_edge[j]
        if d_vf[d] <= day and d_vt[d] > day:
            buf_e[k], buf_o[k] = n_edges + d, inc_other[j]
            k += 1
    if db > da:  # base and delta edges: sort by the common scale
        for t in range(k):
            e = buf_e[t]
            buf_k[t] = (np.int64(erank[e]) << 21 | 1 << 20) if e < n_edges else d_key[e - n_edges]
        order = np.argsort(buf_k[:k])
        buf_k[:k] = order
    else:
        for t in range(k):
            buf_k[t] = (np.int64(erank[buf_e[t]]) << 32) | t
        buf_k[:k].sort()
        for t in range(k):
            buf_k[t] &= 0xFFFFFFFF
    return k


@numba.njit(cache=True)
def fill_hub(h: int, x: int, org_ptr: np.ndarray, h_ptr: np.ndarray, h_perm: np.ndarray, holder: np.ndarray,
             vf: np.ndarray, vt: np.ndarray, erank: np.ndarray, hub_at: np.ndarray, hub_n: np.ndarray,
             hub_e: np.ndarray, hub_o: np.ndarray, hub_vf: np.ndarray, hub_vt: np.ndarray) -> None:
    """Copy the base edges at node ``x`` (hub ``h``) from ``hub_at[h]`` on, in the order a traversal follows
    them (``erank``), each with its other end and validity, whatever the day; ``hub_n[h]``: how many."""
    a, b, ha, hb = org_ptr[x], org_ptr[x + 1], h_ptr[x], h_ptr[x + 1]
    m = (b - a) + (hb - ha)
    es, others, keys = np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m, np.int64)
    k = 0
    for e in range(a, b):  # held in the node: the other end is the holder
        es[k], others[k] = e, holder[e]
        k += 1
    for j in range(ha, hb):  # held by the node: the other end is the organisation
        e = h_perm[j]
        if a <= e < b:  # held in itself: already taken
            continue
        es[k], others[k] = e, np.searchsorted(org_ptr, e, side="right") - 1
        k += 1
    for t in range(k):
        keys[t] = (np.int64(erank[es[t]]) << 32) | t
    keys[:k].sort()
    at = hub_at[h]
    for t in range(k):
        p = keys[t] & 0xFFFFFFFF
        e = es[p]
        hub_e[at + t], hub_o[at + t], hub_vf[at + t], hub_vt[at + t] = e, others[p], vf[e], vt[e]
    hub_n[h] = k


@numba.njit(cache=True)
def fill_hubs(hubs: np.ndarray, org_ptr: np.ndarray, h_ptr: np.ndarray, h_perm: np.ndarray, holder: np.ndarray,
              vf: np.ndarray, vt: np.ndarray, erank: np.ndarray, hub_at: np.ndarray, hub_n: np.ndarray,
              hub_e: np.ndarray, hub_o: np.ndarray, hub_vf: np.ndarray, hub_vt: np.ndarray) -> None:
    """``fill_hub`` for every hub not copied yet."""
    for h in range(len(hubs)):
        if hub_n[h] < 0:
            fill_hub(h, hubs[h], org_ptr, h_ptr, h_perm, holder, vf, vt, erank, hub_at, hub_n, hub_e, hub_o, hub_vf,
                     hub_vt)


@numba.njit(cache=True)
def reach_rows(
    start: np.ndarray,
    n_base: int,
    org_ptr: np.ndarray,
    h_ptr: np.ndarray,
    h_perm: np.ndarray,
    holder: np.ndarray,
    vf: np.ndarray,
    vt: np.ndarray,
    erank: np.ndarray,
    dead: np.ndarray,
    inc_node: np.ndarray,
    inc_edge: np.ndarray,
    inc_other: np.ndarray,
    d_vf: np.ndarray,
    d_vt: np.ndarray,
    d_key: np.ndarray,
    day: int,
    depth: int,
    max_fanout: int,
    leaves: np.ndarray,
    hubs: np.ndarray,
    hub_degree: int,
    hub_at: np.ndarray,
    hub_n: np.ndarray,
    hub_e: np.ndarray,
    hub_o: np.ndarray,
    hub_vf: np.ndarray,
    hub_vt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
           np.ndarray]:
    """Breadth-first from each start node (-1: not in the index) over edges in force on ``day``,
    both directions. A node's incident edges are taken in ``erank`` order, at most ``max_fanout``
    of them; a node keeps the first path that reached it.

    Nodes from ``n_base`` on exist only in the delta. Base edges listed in ``dead`` (sorted) are
    skipped. Delta edge ``d`` is edge ``len(holder) + d``; ``inc_*`` list its ends sorted by node
    (the node, the edge, the other end) and ``d_key`` its place in the order edges are followed,
    on the scale where base edge ``e`` sits at ``erank[e] << 21 | 1 << 20``.

    Returns the rows, grouped by origin in discovery order, the origin first: (origin, node,
    distance, parent row, edge from the parent); the edges followed with their origin, in
    traversal order; and the rows whose edges were cut by the fan-out limit, with how many.

    ``leaves``, when not empty, marks per node those worth a row at the last hop (the nodes that may
    carry facts, for scoring): a node first reached there has no child, so leaving out the others
    changes no other row's path, and the edges followed are not listed (scoring never reads them).
    Empty: every node reached has its row.

    ``hubs`` (sorted base node ids: every node with ``hub_degree`` edges or more; may be empty) name
    the nodes whose base edges are read from a copy in the order followed (``fill_hub``), sequentially:
    scanning and ordering a hub's hundreds of edges, each a random read, was most of a traversal's
    time. A hub with delta edges at it is expanded from the arrays as any other node.
    """
    r_src = np.empty(64, dtype=np.int64)
    r_node = np.empty(64, dtype=np.int64)
    r_dist = np.empty(64, dtype=np.int8)
    r_parent = np.empty(64, dtype=np.int64)
    r_via = np.empty(64, dtype=np.int64)
    f_edge = np.empty(64, dtype=np.int64)
    f_src = np.empty(64, dtype=np.int64)
    c_row = np.empty(4, dtype=np.int64)
    c_extra = np.empty(4, dtype=np.int64)
    buf_e = np.empty(64, dtype=np.int64)
    buf_o = np.empty(64, dtype=np.int64)  # the other end, -1 for an organisation not looked up yet
    buf_k = np.empty(64, dtype=np.int64)  # sort keys, then the buffer positions in the order followed
    t_node = np.empty(64, dtype=np.int64)
    t_stamp = np.zeros(64, dtype=np.int64)
    n = nf = nc = 0
    n_edges = len(holder)
    pick = len(leaves) > 0
    nd = len(dead) > 0
    for o in range(len(start)):
        x0 = start[o]
        r_src, r_node, r_dist = _grow(r_src, n + 1), _grow(r_node, n + 1), _grow(r_dist, n + 1)
        r_parent, r_via = _grow(r_parent, n + 1), _grow(r_via, n + 1)
        r_src[n], r_node[n], r_dist[n], r_parent[n], r_via[n] = o, x0, 0, -1, -1
        n += 1
        if x0 < 0:
            continue
        _add(t_node, t_stamp, o + 1, x0)
        found = 1
        lo, hi = n - 1, n
        for hop in range(1, depth + 1):
            if lo == hi:
                break
            for r in range(lo, hi):
                x = r_node[r]
                a = b = ha = hb = 0
                if x < n_base:
                    a, b, ha, hb = org_ptr[x], org_ptr[x + 1], h_ptr[x], h_ptr[x + 1]
                da = db = 0
                if len(inc_node):
                    da = np.searchsorted(inc_node, x)
                    db = np.searchsorted(inc_node, x, side="right")
                buf_e = _grow(buf_e, (b - a) + (hb - ha) + (db - da))
                buf_o, buf_k = _grow(buf_o, len(buf_e)), _grow(buf_k, len(buf_e))
                h = -1
                if db == da and (b - a) + (hb - ha) >= hub_degree and len(hubs):
                    h = np.searchsorted(hubs, x)
                    if h == len(hubs) or hubs[h] != x:
                        h = -1
                if h >= 0:  # its edges in the order followed, from its copy
                    if hub_n[h] < 0:
                        fill_hub(h, x, org_ptr, h_ptr, h_perm, holder, vf, vt, erank, hub_at, hub_n, hub_e, hub_o,
                                 hub_vf, hub_vt)
                    k = 0
                    for t in range(hub_at[h], hub_at[h] + hub_n[h]):
                        if hub_vf[t] <= day and hub_vt[t] > day and not (nd and _has(dead, hub_e[t])):
                            if k < max_fanout:
                                buf_e[k], buf_o[k], buf_k[k] = hub_e[t], hub_o[t], k
                            k += 1
                else:
                    k = _expand(a, b, ha, hb, da, db, n_edges, holder, h_perm, vf, vt, erank, dead, inc_edge,
                                inc_other, d_vf, d_vt, d_key, day, buf_e, buf_o, buf_k)
                if k > max_fanout:
                    c_row, c_extra = _grow(c_row, nc + 1), _grow(c_extra, nc + 1)
                    c_row[nc], c_extra[nc] = r, k - max_fanout
                    nc += 1
                    k = max_fanout
                if not pick:
                    f_edge, f_src = _grow(f_edge, nf + k), _grow(f_src, nf + k)
                for t in range(k):
                    at = buf_k[t]
                    e, other = buf_e[at], buf_o[at]
                    if other < 0:  # only for the edges followed: a binary search over the organisations
                        other = np.searchsorted(org_ptr, e, side="right") - 1
                    if not pick:
                        f_edge[nf], f_src[nf] = e, o
                        nf += 1
                    if pick and hop == depth and not leaves[other]:
                        continue  # never a parent, and not wanted
                    if 2 * (found + 1) > len(t_node):  # keep the set at most half full
                        held = t_node[t_stamp == o + 1]
                        t_node, t_stamp = np.empty(4 * len(t_node), dtype=np.int64), np.zeros(4 * len(t_node), np.int64)
                        for v in held:
                            _add(t_node, t_stamp, o + 1, v)
                    if _add(t_node, t_stamp, o + 1, other):
                        found += 1
                        r_src, r_node, r_dist = _grow(r_src, n + 1), _grow(r_node, n + 1), _grow(r_dist, n + 1)
                        r_parent, r_via = _grow(r_parent, n + 1), _grow(r_via, n + 1)
                        r_src[n], r_node[n], r_dist[n], r_parent[n], r_via[n] = o, other, hop, r, e
                        n += 1
            lo, hi = hi, n
    return (r_src[:n], r_node[:n], r_dist[:n], r_parent[:n], r_via[:n], f_edge[:nf], f_src[:nf], c_row[:nc],
            c_extra[:nc])
