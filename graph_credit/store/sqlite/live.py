"""The graph index that follows writes: an immutable base plus a small delta of the edges changed since.

Every write to roles logs, in its own transaction, the ids of the edges it changed with their
organisation before and after (table ``role_log``, under the roles generation it commits). A reader
that finds the committed generation ahead of its view reads, in one snapshot, the log entries after
the view's generation and the current rows of those edges, and makes the next ``Delta`` from the
previous one: the cost is that of the change, not of the graph. Traversals merge the base's arrays
and the delta's (``reach.reach_rows``). When the delta has grown past ``compact_at`` edges, a new
base is built in the background from one snapshot and the log up to it is dropped (the pattern of
an LSM tree's memtable and of dynamic-graph stores such as LiveGraph or Aspen).
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from datetime import date
from typing import NamedTuple, Protocol

import numpy as np

from ...model import Role, RoleEdge
from ..base import TraversedEdge
from .index import _GraphIndex, _Reach
from .reach import reach_rows
from .schema import _OPEN, _ROLE

_NO_INT = np.zeros(0, dtype=np.int64)
_NO_BOOL = np.zeros(0, dtype=bool)
_DELTA_SLOTS = 1 << 20  # delta edges that fit between two base edges on the common order scale


class _Edge(NamedTuple):
    """A delta edge as the traversal needs it, worked out once when the edge changes."""

    row: RoleEdge
    holder: int
    org: int
    vf: int
    vt: int
    place: int  # base edges a traversal follows before this one


def _key(e: RoleEdge) -> tuple[bool, str]:
    """Where an edge comes in the order a traversal follows edges."""
    return e.role is not Role.LEGAL_REPRESENTATIVE, e.edge_id


class Delta:
    """The committed role edges changed since a base was built, as of one roles generation.

    Made from the previous generation's delta by the edges changed since (``advance``): only those
    are looked up and placed; the arrays the traversal reads are then laid out from records kept
    per edge (a few milliseconds for ten thousand edges)."""

    __slots__ = ("base", "gen", "changed", "live", "order", "dead", "extra_names", "extra_ids", "places", "edges",
                 "inc_node", "inc_edge", "inc_other", "d_vf", "d_vt", "d_key")

    def __init__(self, base: _GraphIndex, gen: int, changed: set[str], live: dict[str, _Edge],
                 order: list[tuple[bool, str]], dead: np.ndarray, extra_names: list[str], extra_ids: dict[str, int],
                 places: dict[tuple[bool, str], int]) -> None:
        self.base, self.gen = base, gen
        self.changed = changed  # ids of the edges changed since the base (deleted ones included)
        self.live = live  # the current edges among them
        self.order = order  # their keys, sorted
        self.dead = dead  # base edges whose id is in changed, sorted
        self.extra_names, self.extra_ids = extra_names, extra_ids  # nodes the base does not have
        self.places = places  # edge key -> base edges ahead of it (kept per base)
        n = len(order)
        if n >= _DELTA_SLOTS:
            raise OverflowError("graph index delta: more changed edges than fit the order scale")
        recs = [live[k[1]] for k in order]
        self.edges = [r.row for r in recs]
        cols = np.array([r[1:] for r in recs], dtype=np.int64).reshape(n, 5)
        holder, org = cols[:, 0], cols[:, 1]
        self.d_vf, self.d_vt = cols[:, 2].astype(np.int32), cols[:, 3].astype(np.int32)
        self.d_key = (cols[:, 4] << 21) | np.arange(n, dtype=np.int64)
        loop = holder == org  # one end only: the edge is at that node once
        node = np.concatenate([org, holder[~loop]])
        at = np.argsort(node, kind="stable")
        self.inc_node = node[at]
        self.inc_edge = np.concatenate([np.arange(n, dtype=np.int64), np.flatnonzero(~loop)])[at]
        self.inc_other = np.concatenate([holder, org[~loop]])[at]

    @classmethod
    def empty(cls, base: _GraphIndex) -> Delta:
        return cls(base, base.gen, set(), {}, [], _NO_INT, [], {}, {})

    def __len__(self) -> int:
        return len(self.changed)

    def advance(self, con: sqlite3.Connection) -> Delta | None:
        """The delta as of the generation committed in ``con``'s snapshot (call inside a read
        transaction), or None when the log no longer reaches back to this delta's generation."""
        meta = dict(con.execute("SELECT k, v FROM meta WHERE k IN ('roles_gen', 'roles_log_from')").fetchall())
        gen, log_from = int(meta["roles_gen"]), int(meta["roles_log_from"])
        if self.base.gen < log_from:
            return None
        if gen == self.gen:
            return self
        logged = con.execute("SELECT eid, org FROM role_log WHERE gen > ?", (self.gen,)).fetchall()
        changed = sorted({eid for eid, _ in logged})
        current: dict[str, RoleEdge] = {}
        cols = ", ".join(_ROLE.columns)
        for i in range(0, len(changed), 500):
            chunk = changed[i : i + 500]
            sql = f"SELECT {cols} FROM roles WHERE eid IN ({','.join('?' * len(chunk))})"  # noqa: S608
            current.update((r[0], _ROLE.from_row(r)) for r in con.execute(sql, chunk))
        live, order = dict(self.live), list(self.order)
        extra_names, extra_ids = list(self.extra_names), dict(self.extra_ids)
        for eid in changed:
            old = live.pop(eid, None)
            if old is not None:
                del order[bisect_left(order, _key(old.row))]
        rows = list(current.values())
        ends = self._nids([e.holder for e in rows] + [e.org for e in rows], extra_names, extra_ids).tolist()
        for i, e in enumerate(rows):
            live[e.edge_id] = _Edge(e, ends[i], ends[len(rows) + i], e.valid_from.toordinal(),
                                    e.valid_to.toordinal() if e.valid_to else _OPEN, self._place(e))
            insort(order, _key(e))
        return Delta(self.base, gen, self.changed | set(changed), live, order, self._dead(logged), extra_names,
                     extra_ids, self.places)

    def _dead(self, logged: list[tuple[str, str]]) -> np.ndarray:
        """``dead`` with the base edges among ``logged`` (edge id, organisation) added."""
        base = self.base
        orgs = sorted({org for _, org in logged})
        wanted = {eid for eid, _ in logged}
        found = []
        for n in base.nids(orgs).tolist():
            if n >= 0:
                a, b = int(base.org_ptr[n]), int(base.org_ptr[n + 1])
                found += [a + j for j, eid in enumerate(base.edge_ids(np.arange(a, b))) if eid in wanted]
        return np.union1d(self.dead, np.array(found, dtype=np.int64)) if found else self.dead

    def _nids(self, keys: list[str], extra_names: list[str], extra_ids: dict[str, int]) -> np.ndarray:
        """Node ids of ``keys``; a key the base lacks gets the next extra id."""
        out = self.base.nids(keys)
        n = len(self.base.keys)
        for i in np.flatnonzero(out < 0).tolist():
            k = keys[i]
            nid = extra_ids.get(k)
            if nid is None:
                nid = extra_ids[k] = n + len(extra_names)
                extra_names.append(k)
            out[i] = nid
        return out

    def _place(self, e: RoleEdge) -> int:
        """How many base edges a traversal follows before ``e`` (binary search in the base's order;
        kept per edge key and base, so an edge changed again is not placed again)."""
        key = _key(e)
        found = self.places.get(key)
        if found is None:
            by_rank, lo, hi = self.base.by_rank(), 0, len(self.base)
            while lo < hi:
                mid = (lo + hi) // 2
                if self.base.rank_key(int(by_rank[mid])) < key:
                    lo = mid + 1
                else:
                    hi = mid
            found = self.places[key] = lo
        return found


class FactTargets(Protocol):
    targets: set[str]
    added: list[str]


def _mark(keys: np.ndarray, flags: np.ndarray, targets: Iterable[str]) -> None:
    wanted = np.array([b for t in targets if len(b := t.encode()) <= keys.itemsize], dtype=keys.dtype)
    if len(keys) and len(wanted):
        pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        flags[pos[keys[pos] == wanted]] = True


class LiveIndex:
    """A base and the delta of one committed roles generation: what a traversal reads."""

    def __init__(self, delta: Delta) -> None:
        self.delta = delta
        self.base = delta.base
        self.gen = delta.gen
        self._flags: tuple[FactTargets, int, np.ndarray] | None = None

    def flags(self, known: FactTargets) -> np.ndarray:
        """Per node: in ``known.targets`` (the subjects with derived facts). A superset is harmless, so
        the base's part follows the targets this process adds (``known.added``) in place, and is
        computed afresh only for a new targets object; the delta's new nodes are added per view."""
        count = len(known.added)
        if self._flags is not None and self._flags[0] is known and self._flags[1] == count:
            return self._flags[2]
        base = self.base
        found = base.flags
        if found is not None and found[0] is known:
            arr = found[2]
            if found[1] < count:
                _mark(base.keys, arr, known.added[found[1] :])
        else:
            arr = np.zeros(len(base.keys), dtype=bool)
            _mark(base.keys, arr, known.targets)
        base.flags = (known, count, arr)
        if self.delta.extra_names:
            arr = np.concatenate([arr, np.array([n in known.targets for n in self.delta.extra_names], dtype=bool)])
        self._flags = (known, count, arr)
        return arr

    def nids(self, keys: Sequence[str]) -> np.ndarray:
        out = self.base.nids(keys)
        extra = self.delta.extra_ids
        if extra:
            for i in np.flatnonzero(out < 0).tolist():
                out[i] = extra.get(keys[i], -1)
        return out

    def name(self, nid: int) -> str:
        n = len(self.base.keys)
        return self.base.name(nid) if nid < n else self.delta.extra_names[nid - n]

    def names(self, nodes: np.ndarray) -> list[str]:
        n = len(self.base.keys)
        if not self.delta.extra_names or not len(nodes) or int(nodes.max()) < n:
            return [k.decode() for k in self.base.keys[nodes].tolist()]
        return [self.name(int(x)) for x in nodes.tolist()]

    @property
    def n_nodes(self) -> int:
        return len(self.base.keys) + len(self.delta.extra_names)

    def edge_ids(self, idx: np.ndarray) -> list[str]:
        n = len(self.base)
        idx = np.asarray(idx)
        if not len(idx) or int(idx.max()) < n:
            return self.base.edge_ids(idx)
        return [self.base.edge_ids(np.array([i]))[0] if i < n else self.delta.edges[i - n].edge_id
                for i in idx.tolist()]

    def step(self, i: int) -> TraversedEdge:
        n = len(self.base)
        if i < n:
            return self.base.step(i)
        e = self.delta.edges[i - n]
        return TraversedEdge(e.edge_id, e.role.value, e.holder, e.org, e.valid_from, e.valid_to, e.ratio)

    def reach(self, origins: Sequence[str], on: date, depth: int, max_fanout: int,
              leaves: np.ndarray | None = None) -> _Reach:
        """Breadth-first from every origin over edges in force on ``on``, both directions, exactly
        as ``risk.neighbourhood`` does it from one: per node, incident edges ordered legal
        representative first, then by edge id; at most ``max_fanout`` followed; a node keeps the
        first path that reached it (frontier order, then edge order). With ``leaves`` (per node), a
        node first reached at the last hop has a row only if marked there (``reach.reach_rows``)."""
        b, d = self.base, self.delta
        rows = reach_rows(self.nids(origins), len(b.keys), b.org_ptr, b.h_ptr, b.h_perm, b.holder, b.vf, b.vt,
                          b.erank, d.dead, d.inc_node, d.inc_edge, d.inc_other, d.d_vf, d.d_vt, d.d_key,
                          on.toordinal(), depth, max_fanout, _NO_BOOL if leaves is None else leaves, *b.hubs)
        return _Reach(self, list(origins), *rows)
