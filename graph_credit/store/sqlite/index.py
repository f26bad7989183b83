"""The in-memory graph index: committed role edges as numpy CSR arrays, both directions, for traversals
as of a date; built from the roles table and the role segments, saved next to the database file and
mapped by later starts."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...model import RoleEdge
from ..base import ReachRows, Traversal, TraversedEdge
from .reach import fill_hubs
from .schema import _LR, _OPEN, _ROLES, _day

if TYPE_CHECKING:
    from .live import LiveIndex

HUB_DEGREE = 32  # edges at a node (both directions) from which a traversal reads a copy of them in order (hubs)
_STEP_CACHE = 20_000  # path steps kept per graph index (about 300 bytes each): the hubs' edges recur

_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_INDEX_ARRAYS = ("keys", "org_ptr", "holder", "role", "vf", "vt", "ratio", "eid_hi", "eid_lo", "erank", "h_perm",
                 "h_ptr")


class _GraphIndex:
    """Committed role edges as CSR arrays, both directions, for traversals as of a date.

    Only what a traversal needs is kept: nodes are the sorted distinct keys (``keys``, fixed-width
    bytes, binary-searched); edges are sorted by organisation, so the edges held in node ``n`` are
    ``org_ptr[n]:org_ptr[n+1]`` and the edges held by ``n`` are ``h_perm[h_ptr[n]:h_ptr[n+1]]``.
    Per edge: holder, role, valid_from/valid_to (day ordinals), ratio (in millionths; other values
    in ``odd_ratio``), the edge id (20 hex digits as 10 bytes; other ids in ``odd_ids``) and the
    edge's rank in the order a traversal follows edges (legal representative first, then by edge id):
    35 bytes, plus the keys and the pointers. Titles and subscribed capital stay in SQLite.
    """

    def __init__(self, gen: int, arrays: dict[str, np.ndarray], odd_ids: dict[int, str],
                 odd_ratio: dict[int, float]) -> None:
        for a in arrays.values():  # never changed; and built or mapped, the compiled traversal sees one type
            a.flags.writeable = False
        self.gen = gen
        self.keys = arrays["keys"]
        self.org_ptr = arrays["org_ptr"]
        self.holder = arrays["holder"]
        self.role = arrays["role"]
        self.vf = arrays["vf"]
        self.vt = arrays["vt"]
        self.ratio = arrays["ratio"]
        self.eid_hi = arrays["eid_hi"]
        self.eid_lo = arrays["eid_lo"]
        self.erank = arrays["erank"]
        self.h_perm = arrays["h_perm"]
        self.h_ptr = arrays["h_ptr"]
        self.odd_ids = odd_ids
        self.odd_ratio = odd_ratio
        self._steps: dict[int, TraversedEdge] = {}
        self.flags: tuple[Any, int, np.ndarray] | None = None  # per node: has derived facts (live.LiveIndex.flags)
        self._hubs: tuple[Any, ...] | None = None

    @property
    def hubs(self) -> tuple[Any, ...]:
        """The nodes with at least ``HUB_DEGREE`` edges (sorted), that threshold, and the room for the copies of
        their edges in the order followed (``reach.fill_hub``: where each starts, how many, -1 until
        copied; the edges, their other ends, valid_from and valid_to): about 16 bytes per edge at a hub."""
        if self._hubs is None:
            degree = np.diff(self.org_ptr.astype(np.int64)) + np.diff(self.h_ptr.astype(np.int64))
            hubs = np.flatnonzero(degree >= HUB_DEGREE)
            at = np.zeros(len(hubs) + 1, dtype=np.int64)
            np.cumsum(degree[hubs], out=at[1:])
            room = int(at[-1])
            self._hubs = (hubs, HUB_DEGREE, at, np.full(len(hubs), -1, dtype=np.int64),
                          *(np.empty(room, dtype=np.int32) for _ in range(4)))
        return self._hubs

    def fill_hubs(self) -> None:
        """Copy every hub's edges now (a server's start-up), not at the first traversal through each."""
        fill_hubs(self.hubs[0], self.org_ptr, self.h_ptr, self.h_perm, self.holder, self.vf, self.vt, self.erank,
                  *self.hubs[2:])

    def __len__(self) -> int:
        return len(self.holder)

    @property
    def nbytes(self) -> int:
        copies = [a for a in self._hubs or () if isinstance(a, np.ndarray)]  # the hubs' edges, once made
        return int(sum(getattr(self, name).nbytes for name in _INDEX_ARRAYS) + sum(a.nbytes for a in copies))

    # -- building, saving, loading ------------------------------------------------------------------
    @classmethod
    def build(cls, con: sqlite3.Connection, gen: int) -> _GraphIndex:
        import pyarrow as pa
        import pyarrow.compute as pc

        eids: list[pa.Array] = []
        holders: list[pa.Array] = []
        orgs: list[pa.Array] = []
        nums: dict[str, list[np.ndarray]] = {k: [] for k in ("role", "vf", "vt", "ratio")}
        cur = con.execute("SELECT eid, holder, role, org, vf, vt, ratio FROM roles")
        while rows := cur.fetchmany(100_000):
            e, h, r, o, f, t, q = zip(*rows, strict=True)
            del rows
            eids.append(pa.array(e, pa.string()))
            holders.append(pa.array(h, pa.string()))
            orgs.append(pa.array(o, pa.string()))
            nums["role"].append(np.array(r, dtype=np.int8))
            nums["vf"].append(np.array(f, dtype=np.int32))
            vt = np.array(t, dtype=np.float64)  # None -> NaN
            nums["vt"].append(np.where(np.isnan(vt), _OPEN, vt).astype(np.int32))
            nums["ratio"].append(np.array(q, dtype=np.float64))
            del e, h, r, o, f, t, q
        cur.close()
        # The segments' visible rows, as columns (no Python object per row); the table rows hide theirs.
        from .segments import Segments, db_file, visible_masks

        path = db_file(con)
        segs = Segments(path).registered(con) if path else []
        for seg, mask in zip(segs, visible_masks(con, segs), strict=True):
            t = seg.table if mask.all() else seg.table.filter(pa.array(mask))
            for a in range(0, max(t.num_rows, 1), 1 << 22):  # string offsets of 32 bits per slice
                part = t.slice(a, 1 << 22)
                eids.append(part.column("eid").combine_chunks().cast(pa.string()))
                holders.append(part.column("holder").combine_chunks().cast(pa.string()))
                orgs.append(part.column("org").combine_chunks().cast(pa.string()))
                nums["role"].append(part.column("role").to_numpy())
                nums["vf"].append(part.column("vf").to_numpy())
                vt = part.column("vt").to_numpy()
                nums["vt"].append(np.where(vt == 0, _OPEN, vt).astype(np.int32))
                nums["ratio"].append(part.column("ratio").to_numpy())
        kinds = {"role": np.int8, "vf": np.int32, "vt": np.int32, "ratio": np.float64}
        num = {k: (np.concatenate(v) if v else np.zeros(0, dtype=kinds[k])) for k, v in nums.items()}
        h_all = pa.chunked_array(holders, pa.string())
        o_all = pa.chunked_array(orgs, pa.string())
        del holders, orgs
        keys_arrow = pc.unique(pa.chunked_array([*h_all.chunks, *o_all.chunks], pa.string()))
        keys_arrow = keys_arrow.take(pc.sort_indices(keys_arrow))
        keys = _fixed_width(keys_arrow)
        if len(keys) > 1 and not bool((keys[:-1] < keys[1:]).all()):
            raise RuntimeError("graph index: key order differs between Arrow and numpy")
        holder = np.asarray(pc.index_in(h_all, value_set=keys_arrow).to_numpy(), dtype=np.int32)
        org = np.asarray(pc.index_in(o_all, value_set=keys_arrow).to_numpy(), dtype=np.int32)
        del h_all, o_all, keys_arrow
        order = np.argsort(org, kind="stable")
        org = org[order]
        holder = holder[order]
        ids = pa.chunked_array(eids, pa.string()).combine_chunks() if eids else pa.array([], pa.string())
        del eids
        # The order a traversal follows edges: legal representative first, then by edge id (Arrow
        # sorts strings by their UTF-8 bytes, which is Python's order of str).
        by = pc.sort_indices(pa.table({"lr": pa.array(num["role"] != _LR), "id": ids}),
                             sort_keys=[("lr", "ascending"), ("id", "ascending")]).to_numpy()
        erank = np.empty(len(by), dtype=np.int32)
        erank[by] = np.arange(len(by), dtype=np.int32)
        del by
        erank = erank[order]
        num = {k: v[order] for k, v in num.items()}
        eid_hi, eid_lo, odd_ids = _pack_ids(ids, order)
        del ids
        ratio, odd_ratio = _pack_ratios(num.pop("ratio"))
        nodes = len(keys)
        ptr = np.int64 if len(org) >= 2**31 else np.int32
        org_ptr = np.zeros(nodes + 1, dtype=ptr)
        np.cumsum(np.bincount(org, minlength=nodes), out=org_ptr[1:])
        del org
        h_perm = np.argsort(holder, kind="stable").astype(np.int32)
        h_ptr = np.zeros(nodes + 1, dtype=ptr)
        np.cumsum(np.bincount(holder, minlength=nodes), out=h_ptr[1:])
        arrays = {"keys": keys, "org_ptr": org_ptr, "holder": holder, "role": num["role"], "vf": num["vf"],
                  "vt": num["vt"], "ratio": ratio, "eid_hi": eid_hi, "eid_lo": eid_lo, "erank": erank, "h_perm": h_perm,
                  "h_ptr": h_ptr}
        return cls(gen, arrays, odd_ids, odd_ratio)

    def save(self, directory: Path) -> None:
        """Write the arrays under ``directory/gen-<gen>`` (atomically: a temporary name, then a rename)."""
        final = directory / f"gen-{self.gen}"
        if final.exists():
            return
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".tmp-{self.gen}-{os.getpid()}-{threading.get_ident()}"  # server processes share it
        tmp.mkdir()
        for name in _INDEX_ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(self, name), allow_pickle=False)
        (tmp / "odd.json").write_text(json.dumps({"ids": self.odd_ids, "ratio": self.odd_ratio}))
        try:
            tmp.rename(final)
        except OSError:  # another process saved the same generation first
            for p in tmp.iterdir():
                p.unlink()
            tmp.rmdir()
            return
        for old in directory.iterdir():  # earlier generations (mapped files stay readable once unlinked); a
            # newer one another server process saved stays
            if old.name.startswith("gen-") and old.name[4:].isdigit() and int(old.name[4:]) < self.gen:
                shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path, gen: int) -> _GraphIndex | None:
        """The saved index of generation ``gen``, memory-mapped (pages load as they are touched)."""
        where = directory / f"gen-{gen}"
        try:
            # Plain ndarray views of the maps: numpy's memmap subclass costs a Python call per index.
            arrays = {name: np.load(where / f"{name}.npy", mmap_mode="r").view(np.ndarray) for name in _INDEX_ARRAYS}
            odd = json.loads((where / "odd.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(gen, arrays, {int(k): v for k, v in odd["ids"].items()},
                   {int(k): float(v) for k, v in odd["ratio"].items()})

    # -- lookups ---------------------------------------------------------------------------------
    def nids(self, keys: Sequence[str]) -> np.ndarray:
        """The node id of each key, -1 for a key no edge touches."""
        raw = [k.encode() for k in keys]
        out = np.full(len(raw), -1, dtype=np.int64)
        fits = np.array([len(r) <= self.keys.itemsize for r in raw], dtype=bool)
        if not len(self.keys) or not fits.any():
            return out
        wanted = np.array([r for r, ok in zip(raw, fits, strict=True) if ok], dtype=self.keys.dtype)
        pos = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        out[np.flatnonzero(fits)] = np.where(self.keys[pos] == wanted, pos, -1)
        return out

    def edge_ids(self, idx: np.ndarray) -> list[str]:
        hi = np.asarray(self.eid_hi[idx], dtype=">u8").tobytes()  # big-endian: the bytes in id order
        lo = np.asarray(self.eid_lo[idx], dtype=">u2").tobytes()
        odd = self.odd_ids
        out = []
        for j, i in enumerate(np.asarray(idx).tolist()):
            s = odd.get(i) if odd else None
            out.append(s if s is not None else (hi[8 * j : 8 * j + 8] + lo[2 * j : 2 * j + 2]).hex())
        return out

    def step(self, i: int) -> TraversedEdge:
        """What a path step says about edge ``i`` (kept: paths through a hub share their edges)."""
        found = self._steps.get(i)
        if found is not None:
            return found
        q = int(self.ratio[i])
        ratio = self.odd_ratio.get(i) if q == _ODD_RATIO else None if q < 0 else q / 1e6
        vt = int(self.vt[i])
        eid = self.odd_ids.get(i) if self.odd_ids else None
        if eid is None:
            eid = (int(self.eid_hi[i]).to_bytes(8, "big") + int(self.eid_lo[i]).to_bytes(2, "big")).hex()
        org = int(np.searchsorted(self.org_ptr, self.org_ptr.dtype.type(i), side="right")) - 1
        found = TraversedEdge(eid, _ROLES[int(self.role[i])].value, self.name(int(self.holder[i])), self.name(org),
                              _day(int(self.vf[i])), None if vt == _OPEN else _day(vt), ratio)
        if len(self._steps) >= _STEP_CACHE:
            self._steps.clear()
        self._steps[i] = found
        return found

    def name(self, nid: int) -> str:
        return bytes(self.keys[nid]).decode()

    def rank_key(self, i: int) -> tuple[bool, str]:
        """Where edge ``i`` comes in the order a traversal follows edges."""
        return bool(self.role[i] != _LR), self.edge_ids(np.array([i]))[0]

    def by_rank(self) -> np.ndarray:
        """The edges in the order a traversal follows them (the inverse of ``erank``; made once,
        when a delta first needs to place its edges among the base's)."""
        found = getattr(self, "_by_rank", None)
        if found is None:
            found = np.empty(len(self.erank), dtype=np.int64)
            found[self.erank] = np.arange(len(self.erank), dtype=np.int64)
            self._by_rank = found
        return found


class _Reach:
    """The result of ``LiveIndex.reach``: rows grouped by origin, each origin's rows in the order
    its traversal discovered them (the origin first)."""

    def __init__(self, index: LiveIndex, origins: list[str], src: np.ndarray, node: np.ndarray, dist: np.ndarray,
                 parent: np.ndarray, via: np.ndarray, f_edge: np.ndarray, f_src: np.ndarray, cut_row: np.ndarray,
                 cut_extra: np.ndarray) -> None:
        self.index, self.origins = index, origins
        self.node, self.dist, self.parent, self.via = node, dist, parent, via
        every = np.arange(len(origins) + 1)
        self.bounds = np.searchsorted(src, every)
        self.followed, self.followed_bounds = f_edge, np.searchsorted(f_src, every)
        self.cut: dict[int, dict[str, int]] = {}
        for r, extra in zip(cut_row.tolist(), cut_extra.tolist(), strict=True):
            self.cut.setdefault(int(src[r]), {})[index.name(int(node[r]))] = extra

    def traversals(self, fetch: Callable[[Sequence[str]], dict[str, RoleEdge]],
                   flagged: np.ndarray | None) -> list[Traversal]:
        """Each origin's neighbourhood; ``flagged`` marks the nodes that may carry facts, which
        become each traversal's ``candidates``."""
        hits = np.zeros(0, dtype=np.int64)
        if flagged is not None:
            reached = np.flatnonzero(self.dist > 0)  # an origin the index lacks has node -1
            hits = reached[flagged[self.node[reached]]]
        hit_bounds = np.searchsorted(hits, self.bounds).tolist()
        bounds = self.bounds.tolist()
        fb = self.followed_bounds.tolist()
        out = []
        for i, origin in enumerate(self.origins):
            rows = _OriginRows(self, bounds[i], bounds[i + 1], origin)
            candidates = None
            if flagged is not None:
                candidates = [rows.learn(r) for r in hits[hit_bounds[i] : hit_bounds[i + 1]].tolist()]
            out.append(Traversal(_Distances(rows), _Parents(rows), self.index.step,
                                 _LazyEdges(self.index, self.followed[fb[i] : fb[i + 1]], fetch),
                                 dict(self.cut.get(i, {})), candidates))
        return out

    def rows(self, flagged: np.ndarray | None) -> ReachRows:
        """The rows as arrays (``base.ReachRows``); names and path steps decoded only when asked for."""
        candidate = None
        if flagged is not None:
            candidate = np.zeros(len(self.node), dtype=bool)
            reached = np.flatnonzero(self.dist > 0)  # an origin the index lacks has node -1
            candidate[reached] = flagged[self.node[reached]]
        index, via = self.index, self.via
        return ReachRows(self.bounds, self.node, self.dist, self.parent, candidate, index.names,
                         lambda r: index.step(int(via[r])))


class _OriginRows:
    """One origin's rows of a ``_Reach``, with node names decoded only as far as they are asked for."""

    def __init__(self, reach: _Reach, lo: int, hi: int, origin: str) -> None:
        self.reach, self.lo, self.hi, self.origin = reach, lo, hi, origin
        self.by_name: dict[str, int] = {origin: lo}  # an origin the index does not know is its only row
        self.names: dict[int, str] = {lo: origin}
        self.complete = False

    def learn(self, row: int) -> str:
        """Decode the name of ``row`` and of the rows on its path back to the origin."""
        name = self.names.get(row)
        if name is None:
            name = self.names[row] = self.reach.index.name(int(self.reach.node[row]))
            self.by_name[name] = row
            up = int(self.reach.parent[row])
            if up >= 0:
                self.learn(up)
        return name

    def row(self, name: str) -> int:
        r = self.by_name.get(name)
        if r is None and not self.complete:
            self.everything()
            r = self.by_name.get(name)
        if r is None:
            raise KeyError(name)
        return r

    def everything(self) -> dict[str, int]:
        if not self.complete:
            names = self.reach.index.names(self.reach.node[self.lo + 1 : self.hi])
            self.by_name = {self.origin: self.lo} | {k: r for r, k in enumerate(names, start=self.lo + 1)}
            self.names = {r: k for k, r in self.by_name.items()}
            self.complete = True
        return self.by_name


class _Distances(Mapping[str, int]):
    def __init__(self, rows: _OriginRows) -> None:
        self._rows = rows

    def __getitem__(self, name: str) -> int:
        return int(self._rows.reach.dist[self._rows.row(name)])

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows.everything())

    def __len__(self) -> int:
        return self._rows.hi - self._rows.lo


class _Parents(Mapping[str, tuple[str, int]]):
    def __init__(self, rows: _OriginRows) -> None:
        self._rows = rows

    def __getitem__(self, name: str) -> tuple[str, int]:
        r = self._rows.row(name)
        up = int(self._rows.reach.parent[r])
        if up < 0:
            raise KeyError(name)  # the origin
        return self._rows.learn(up), int(self._rows.reach.via[r])

    def __iter__(self) -> Iterator[str]:
        return (k for k, r in self._rows.everything().items() if r != self._rows.lo)

    def __len__(self) -> int:
        return max(self._rows.hi - self._rows.lo - 1, 0)


class _LazyEdges(Mapping[str, RoleEdge]):
    """The edges a traversal followed, by edge id, read from the store only when asked for."""

    def __init__(self, index: LiveIndex, followed: np.ndarray,
                 fetch: Callable[[Sequence[str]], dict[str, RoleEdge]]) -> None:
        self._index = index
        self._followed = followed
        self._fetch = fetch
        self._map: dict[str, RoleEdge] | None = None

    def _all(self) -> dict[str, RoleEdge]:
        if self._map is None:
            idx = np.unique(self._followed)
            found = self._fetch(self._index.edge_ids(idx))
            self._map = {k: found[k] for k in sorted(found)}
        return self._map

    def __getitem__(self, key: str) -> RoleEdge:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


_ODD_RATIO = -2  # a ratio kept in odd_ratio; -1 = no ratio


def _pack_ratios(ratio: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
    """Ratios as whole millionths when that is exact (it is for decimals of up to six places)."""
    micro = np.rint(np.nan_to_num(ratio, nan=-1.0) * 1e6)
    fits = (micro >= 0) & (micro < 2**31 - 1)
    exact = fits & (micro / 1e6 == ratio)
    out = np.where(np.isnan(ratio), -1, np.where(exact, micro, _ODD_RATIO)).astype(np.int32)
    odd = {int(i): float(ratio[i]) for i in np.flatnonzero(out == _ODD_RATIO)}
    return out, odd


def _fixed_width(keys: Any) -> np.ndarray:
    """Arrow strings as a numpy fixed-width bytes array (binary search needs fixed width)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(keys):
        return np.zeros(0, dtype="S1")
    width = int(pc.max(pc.binary_length(keys.cast(pa.binary()))).as_py())
    out = np.empty(len(keys), dtype=f"S{max(width, 1)}")
    step = 1 << 19
    for a in range(0, len(keys), step):
        out[a : a + step] = [k.encode() for k in keys.slice(a, step).to_pylist()]
    return out


def _pack_ids(ids: Any, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Edge ids of 20 lowercase hex digits as (8-byte, 2-byte) integers; others kept aside."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(ids)
    hi = np.zeros(n, dtype=np.uint64)
    lo = np.zeros(n, dtype=np.uint16)
    odd: dict[int, str] = {}
    if n == 0:
        return hi, lo, odd
    regular = pc.match_substring_regex(ids, r"^[0-9a-f]{20}$").to_numpy(zero_copy_only=False)
    if regular.any():
        reg = ids.filter(pa.array(regular))
        offsets = np.frombuffer(reg.buffers()[1], dtype=np.int32)[reg.offset : reg.offset + len(reg) + 1]
        # Every value is 20 bytes, so the values lie back to back in the data buffer.
        raw = np.frombuffer(reg.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[0] + 20 * len(reg)]
        raw = raw.reshape(len(reg), 20)
        h = np.empty(len(reg), dtype=np.uint64)
        low = np.empty(len(reg), dtype=np.uint16)
        step = 1 << 20
        for a in range(0, len(reg), step):
            nib = _HEX[raw[a : a + step]]
            byte = np.ascontiguousarray((nib[:, 0::2] << 4) | nib[:, 1::2])  # (m, 10) uint8
            h[a : a + step] = byte[:, :8].copy().view(">u8").ravel()
            low[a : a + step] = byte[:, 8:].copy().view(">u2").ravel()
        hi[regular] = h
        lo[regular] = low
    if not regular.all():
        values = ids.to_pylist()
        for i in np.flatnonzero(~regular):
            odd[int(i)] = values[i]
    # Reorder to the index's edge order; odd ids follow their edges.
    hi, lo = hi[order], lo[order]
    if odd:
        where = np.empty(n, dtype=np.int64)
        where[order] = np.arange(n)
        odd = {int(where[i]): s for i, s in odd.items()}
    return hi, lo, odd

