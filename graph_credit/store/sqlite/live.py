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
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Protocol

import numpy as np

from ...model import Role, RoleEdge
from ..base import TraversedEdge
from .index import _GraphIndex, _Reach
from .reach import reach_rows
from .schema import _OPEN, _ROLE

_NO_INT = np.zeros(0, dtype=np.int64)
_DELTA_SLOTS = 1 << 20  # delta edges that fit between two base edges on the common order scale


class Delta:
    """The committed role edges changed since a base was built, as of one roles generation."""

    __slots__ = ("base", "gen", "rows", "dead", "extra_names", "extra_ids", "places", "edges", "inc_node",
                 "inc_edge", "inc_other", "d_vf", "d_vt", "d_key", "dead_arr")

    def __init__(self, base: _GraphIndex, gen: int, rows: dict[str, RoleEdge | None], dead: frozenset[int],
                 extra_names: list[str], extra_ids: dict[str, int], places: dict[tuple[bool, str], int]) -> None:
        self.base, self.gen = base, gen
        self.rows = rows  # edge id -> its current row (None: deleted)
        self.dead = dead  # base edges whose id is in rows
        self.extra_names, self.extra_ids = extra_names, extra_ids  # nodes the base does not have
        self.places = places  # (not a legal representative, edge id) -> base edges ahead of it
        self.edges = sorted((e for e in rows.values() if e is not None),
                            key=lambda e: (e.role is not Role.LEGAL_REPRESENTATIVE, e.edge_id))
        if len(self.edges) >= _DELTA_SLOTS:
            raise OverflowError("graph index delta: more changed edges than fit the order scale")
        n = len(self.edges)
        holder = self._nids([e.holder for e in self.edges])
        org = self._nids([e.org for e in self.edges])
        self.d_vf = np.array([e.valid_from.toordinal() for e in self.edges], dtype=np.int32)
        self.d_vt = np.array([e.valid_to.toordinal() if e.valid_to else _OPEN for e in self.edges], dtype=np.int32)
        place = np.array([self._place(e) for e in self.edges], dtype=np.int64)
        self.d_key = (place << 21) | np.arange(n, dtype=np.int64)
        loop = holder == org  # one end only: the edge is at that node once
        node = np.concatenate([org, holder[~loop]])
        order = np.argsort(node, kind="stable")
        self.inc_node = node[order]
        self.inc_edge = np.concatenate([np.arange(n, dtype=np.int64), np.flatnonzero(~loop)])[order]
        self.inc_other = np.concatenate([holder, org[~loop]])[order]
        self.dead_arr = np.array(sorted(dead), dtype=np.int64) if dead else _NO_INT

    @classmethod
    def empty(cls, base: _GraphIndex) -> Delta:
        return cls(base, base.gen, {}, frozenset(), [], {}, {})

    def __len__(self) -> int:
        return len(self.rows)

    def _nids(self, keys: list[str]) -> np.ndarray:
        out = self.base.nids(keys)
        n = len(self.base.keys)
        for i in np.flatnonzero(out < 0).tolist():
            k = keys[i]
            nid = self.extra_ids.get(k)
            if nid is None:
                nid = self.extra_ids[k] = n + len(self.extra_names)
                self.extra_names.append(k)
            out[i] = nid
        return out

    def _place(self, e: RoleEdge) -> int:
        """How many base edges a traversal follows before ``e`` (binary search in the base's order;
        kept per edge and base, so each changed edge is placed once)."""
        key = (e.role is not Role.LEGAL_REPRESENTATIVE, e.edge_id)
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
        rows = dict(self.rows)
        cols = ", ".join(_ROLE.columns)
        for i in range(0, len(changed), 500):
            chunk = changed[i : i + 500]
            for eid in chunk:
                rows[eid] = None
            sql = f"SELECT {cols} FROM roles WHERE eid IN ({','.join('?' * len(chunk))})"  # noqa: S608
            for r in con.execute(sql, chunk):
                rows[r[0]] = _ROLE.from_row(r)
        dead = set(self.dead)
        base = self.base
        orgs = sorted({org for _, org in logged})
        at = dict(zip(orgs, base.nids(orgs).tolist(), strict=True))
        wanted = set(changed)
        for org in orgs:
            n = at[org]
            if n < 0:
                continue
            a, b = int(base.org_ptr[n]), int(base.org_ptr[n + 1])
            ids = base.edge_ids(np.arange(a, b))
            dead.update(a + j for j, eid in enumerate(ids) if eid in wanted)
        return Delta(base, gen, rows, frozenset(dead), list(self.extra_names), dict(self.extra_ids), self.places)


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

    def reach(self, origins: Sequence[str], on: date, depth: int, max_fanout: int) -> _Reach:
        """Breadth-first from every origin over edges in force on ``on``, both directions, exactly
        as ``risk.neighbourhood`` does it from one: per node, incident edges ordered legal
        representative first, then by edge id; at most ``max_fanout`` followed; a node keeps the
        first path that reached it (frontier order, then edge order)."""
        b, d = self.base, self.delta
        rows = reach_rows(self.nids(origins), len(b.keys), b.org_ptr, b.h_ptr, b.h_perm, b.holder, b.vf, b.vt,
                          b.erank, d.dead_arr, d.inc_node, d.inc_edge, d.inc_other, d.d_vf, d.d_vt, d.d_key,
                          on.toordinal(), depth, max_fanout)
        return _Reach(self, list(origins), *rows)

