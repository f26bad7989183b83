"""The embedded default store: SQLite in WAL mode on local disk, with an in-memory graph index.

Why SQLite: it ships with Python (nothing to install or run), a committed transaction survives
``kill -9`` (WAL, ``synchronous=FULL`` also survives power loss), and it holds a database far
larger than memory, which is what a province (10^7 organisations) needs on one machine.

One writer connection serialises writes behind a lock; each reading thread has its own
connection, so readers see the last committed state and never a half-written transaction.

Role edges are stored compactly (dates as day ordinals, the role as a small code, three narrow
indexes: edge id, organisation, holder). Traversals that do not run inside a write transaction are
answered from ``_GraphIndex``: the committed role edges as numpy CSR arrays (both directions),
built from the table and tagged with the generation of the roles it reflects. Every write to roles
bumps that generation in the same transaction (table ``meta``), so a reader that finds the index
behind the committed generation falls back to SQL until a rebuild catches up: the index never
answers with anything but committed data. Likewise ``facts_of`` first drops the subjects that have
no derived fact at all, using a set of fact targets tagged with the facts generation.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ..memory import release_free_memory
from ..model import (
    Cause,
    DerivedFact,
    DishonestyRecord,
    Honour,
    ListEntry,
    Organisation,
    Person,
    RecordEvent,
    Responsible,
    Role,
    RoleEdge,
)
from .base import (
    JOURNAL_TABLES,
    Direction,
    JournalTable,
    NotFound,
    RoleColumns,
    SubjectKind,
    Traversal,
    TraversedEdge,
    WriteCounts,
)
from .reach import reach_rows

_CHUNK = 500  # keys per IN (...) lookup, under SQLite's parameter limit
_ROLES = tuple(Role)  # stored role code = position here
_ROLE_CODE = {r.value: i for i, r in enumerate(_ROLES)}
_OPEN = 2**31 - 1  # an open interval end in the graph index
_LR = _ROLE_CODE[Role.LEGAL_REPRESENTATIVE.value]
_SYNC_BUILD_ROWS = 200_000  # smaller role tables are indexed synchronously on first use
_STEP_CACHE = 20_000  # path steps kept per graph index (about 300 bytes each): the hubs' edges recur
_FACT_CACHE = 4_000  # subjects whose decoded facts are kept per facts generation: those near hubs recur


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


_DAYS: dict[int, date] = {}


def _day(ordinal: int) -> date:
    d = _DAYS.get(ordinal)
    if d is None:
        d = _DAYS[ordinal] = date.fromordinal(ordinal)
    return d


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    to_row: Callable[[Any], tuple[Any, ...]]
    from_row: Callable[[tuple[Any, ...]], Any]

    @property
    def key(self) -> str:
        return self.columns[0]


_ORG = _Table(
    "organisations",
    ("code", "name", "org_type", "region", "industry", "registered_on", "deregistered_on"),
    lambda o: (o.code, o.name, o.org_type, o.region, o.industry, _iso(o.registered_on), _iso(o.deregistered_on)),
    lambda r: Organisation(r[0], r[1], r[2], r[3], r[4], _d(r[5]), _d(r[6])),
)
_PERSON = _Table(
    "persons",
    ("key", "masked_id", "name", "region"),
    lambda p: (p.key, p.masked_id, p.name, p.region),
    lambda r: Person(*r),
)
_ROLE = _Table(
    "roles",
    ("eid", "holder", "role", "org", "vf", "vt", "ratio", "cap", "title"),
    lambda e: (
        e.edge_id, e.holder, _ROLE_CODE[e.role], e.org, e.valid_from.toordinal(),
        e.valid_to.toordinal() if e.valid_to else None, e.ratio, e.subscribed_capital, e.title,
    ),
    lambda r: RoleEdge(
        holder=r[1], role=_ROLES[r[2]], org=r[3], valid_from=_day(r[4]), valid_to=_day(r[5]) if r[5] else None,
        ratio=r[6], subscribed_capital=r[7], title=r[8], edge_id=r[0],
    ),
)
_RECORD = _Table(
    "records",
    (
        "record_id", "subject", "category", "severity", "decision_date", "act_date", "document_no",
        "department", "basis", "period_end", "responsible", "jurisdiction",
    ),
    lambda x: (
        x.record_id, x.subject, x.category, x.severity, _iso(x.decision_date), _iso(x.act_date),
        x.document_no, x.department, x.basis, _iso(x.period_end),
        json.dumps([[r.person, r.role.value if r.role else None] for r in x.responsible]), x.jurisdiction,
    ),
    lambda r: DishonestyRecord(
        record_id=r[0], subject=r[1], category=r[2], severity=r[3], decision_date=date.fromisoformat(r[4]),
        act_date=_d(r[5]), document_no=r[6], department=r[7], basis=r[8], period_end=_d(r[9]),
        responsible=tuple(Responsible(p, Role(role) if role else None) for p, role in json.loads(r[10])),
        jurisdiction=r[11],
    ),
)
_EVENT = _Table(
    "events",
    ("event_id", "cause_id", "kind", "on_date", "by", "detail"),
    lambda e: (e.event_id, e.cause_id, e.kind, _iso(e.on), e.by, e.detail),
    lambda r: RecordEvent(cause_id=r[1], kind=r[2], on=date.fromisoformat(r[3]), by=r[4], detail=r[5], event_id=r[0]),
)
_HONOUR = _Table(
    "honours",
    ("honour_id", "holder", "title", "awarding_body", "awarded_on"),
    lambda h: (h.honour_id, h.holder, h.title, h.awarding_body, _iso(h.awarded_on)),
    lambda r: Honour(r[0], r[1], r[2], r[3], date.fromisoformat(r[4])),
)
_LIST = _Table(
    "list_entries",
    (
        "entry_id", "subject", "list", "name", "determining_unit", "basis", "valid_from", "valid_to",
        "publicity_from", "publicity_to", "status",
    ),
    lambda e: (
        e.entry_id, e.subject, e.list, e.name, e.determining_unit, e.basis, _iso(e.valid_from),
        _iso(e.valid_to), _iso(e.publicity_from), _iso(e.publicity_to), e.status,
    ),
    lambda r: ListEntry(
        r[0], r[1], r[2], r[3], r[4], r[5], date.fromisoformat(r[6]), _d(r[7]), _d(r[8]), _d(r[9]), r[10]
    ),
)
_JSON_CACHE: dict[str, Any] = {}
_DATE_CACHE: dict[str, date] = {}


def _json_tuple(text: str) -> Any:
    """json.loads for the small, much repeated lists stored in facts (basis, suspensions)."""
    found = _JSON_CACHE.get(text)
    if found is None:
        found = json.loads(text)
        found = tuple(found) if all(isinstance(x, str) for x in found) else found
        if len(_JSON_CACHE) < 100_000:
            _JSON_CACHE[text] = found
    return found


def _date(text: str) -> date:
    found = _DATE_CACHE.get(text)
    if found is None:
        found = _DATE_CACHE[text] = date.fromisoformat(text)
    return found


def _ddate(text: str | None) -> date | None:
    return _date(text) if text else None


def _suspended(text: str) -> tuple[tuple[date, date | None], ...]:
    if text == "[]":
        return ()
    return tuple((_date(a), _ddate(b)) for a, b in json.loads(text))


_FACT = _Table(
    "facts",
    (
        "fact_id", "cause", "rule_id", "rule_version", "consequence", "target", "target_role", "valid_from",
        "valid_to", "basis", "edge_id", "edge_from", "edge_to", "object_id", "ended_by", "suspended",
        "jurisdiction",
    ),
    lambda f: (
        f.fact_id, str(f.cause), f.rule_id, f.rule_version, f.consequence, f.target, f.target_role,
        _iso(f.valid_from), _iso(f.valid_to), json.dumps(list(f.basis), ensure_ascii=False), f.edge_id,
        _iso(f.edge_from), _iso(f.edge_to), f.object_id, f.ended_by,
        json.dumps([[_iso(a), _iso(b)] for a, b in f.suspended]), f.jurisdiction,
    ),
    lambda r: DerivedFact(
        cause=Cause.parse(r[1]), rule_id=r[2], rule_version=r[3], consequence=r[4], target=r[5],
        target_role=r[6], valid_from=_date(r[7]), valid_to=_ddate(r[8]), basis=tuple(_json_tuple(r[9])),
        edge_id=r[10], edge_from=_ddate(r[11]), edge_to=_ddate(r[12]), object_id=r[13], ended_by=r[14],
        suspended=_suspended(r[15]), jurisdiction=r[16], fact_id=r[0],
    ),
)

_ROLE_INDEXES = (
    ("roles_eid", "CREATE UNIQUE INDEX IF NOT EXISTS roles_eid ON roles(eid)"),
    ("roles_org", "CREATE INDEX IF NOT EXISTS roles_org ON roles(org)"),
    ("roles_holder", "CREATE INDEX IF NOT EXISTS roles_holder ON roles(holder)"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (k, v) VALUES ('roles_gen', 0), ('facts_gen', 0);
CREATE TABLE IF NOT EXISTS organisations (
  code TEXT PRIMARY KEY, name TEXT NOT NULL, org_type TEXT NOT NULL, region TEXT NOT NULL,
  industry TEXT NOT NULL, registered_on TEXT, deregistered_on TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS organisations_region ON organisations(region, industry);
CREATE TABLE IF NOT EXISTS persons (
  key TEXT PRIMARY KEY, masked_id TEXT NOT NULL, name TEXT NOT NULL, region TEXT NOT NULL) WITHOUT ROWID;
-- Role edges: vf/vt are day ordinals (vt NULL = open), role is the position in model.Role.
CREATE TABLE IF NOT EXISTS roles (
  eid TEXT NOT NULL, holder TEXT NOT NULL, role INTEGER NOT NULL, org TEXT NOT NULL,
  vf INTEGER NOT NULL, vt INTEGER, ratio REAL, cap REAL, title TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
  record_id TEXT PRIMARY KEY, subject TEXT NOT NULL, category TEXT NOT NULL, severity TEXT NOT NULL,
  decision_date TEXT NOT NULL, act_date TEXT, document_no TEXT NOT NULL, department TEXT NOT NULL,
  basis TEXT NOT NULL, period_end TEXT, responsible TEXT NOT NULL, jurisdiction TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_subject ON records(subject);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, cause_id TEXT NOT NULL, kind TEXT NOT NULL, on_date TEXT NOT NULL,
  by TEXT NOT NULL, detail TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_cause ON events(cause_id, on_date);
CREATE TABLE IF NOT EXISTS honours (
  honour_id TEXT PRIMARY KEY, holder TEXT NOT NULL, title TEXT NOT NULL, awarding_body TEXT NOT NULL,
  awarded_on TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS honours_holder ON honours(holder);
CREATE TABLE IF NOT EXISTS list_entries (
  entry_id TEXT PRIMARY KEY, subject TEXT NOT NULL, list TEXT NOT NULL, name TEXT NOT NULL,
  determining_unit TEXT NOT NULL, basis TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT,
  publicity_from TEXT, publicity_to TEXT, status TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS list_entries_subject ON list_entries(subject);
CREATE TABLE IF NOT EXISTS facts (
  fact_id TEXT PRIMARY KEY, cause TEXT NOT NULL, rule_id TEXT NOT NULL, rule_version TEXT NOT NULL,
  consequence TEXT NOT NULL, target TEXT NOT NULL, target_role TEXT NOT NULL, valid_from TEXT NOT NULL,
  valid_to TEXT, basis TEXT NOT NULL, edge_id TEXT, edge_from TEXT, edge_to TEXT, object_id TEXT,
  ended_by TEXT, suspended TEXT NOT NULL, jurisdiction TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS facts_target ON facts(target);
CREATE INDEX IF NOT EXISTS facts_cause ON facts(cause);
CREATE TABLE IF NOT EXISTS journal (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
  UNIQUE (tbl, id));
"""


def _migrate_v1_roles(con: sqlite3.Connection) -> None:
    """Stores written before the compact layout kept roles with ISO dates and role names."""
    cols = [r[1] for r in con.execute("PRAGMA table_info(roles)")]
    if "edge_id" not in cols:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("DROP INDEX IF EXISTS roles_org")
        con.execute("DROP INDEX IF EXISTS roles_holder")
        con.execute("ALTER TABLE roles RENAME TO roles_v1")
        con.execute(
            "CREATE TABLE roles (eid TEXT NOT NULL, holder TEXT NOT NULL, role INTEGER NOT NULL, org TEXT NOT NULL, "
            "vf INTEGER NOT NULL, vt INTEGER, ratio REAL, cap REAL, title TEXT NOT NULL)"
        )
        cases = " ".join(f"WHEN '{name}' THEN {code}" for name, code in _ROLE_CODE.items())
        con.execute(
            f"INSERT INTO roles SELECT edge_id, holder, CASE role {cases} END, org, "  # noqa: S608 - constants
            "CAST(julianday(valid_from) - 1721424.5 AS INTEGER), "
            "CAST(julianday(valid_to) - 1721424.5 AS INTEGER), ratio, subscribed_capital, title "
            "FROM roles_v1 ORDER BY org"
        )
        con.execute("DROP TABLE roles_v1")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# -- the in-memory graph index ------------------------------------------------------------------------
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

    def __len__(self) -> int:
        return len(self.holder)

    @property
    def nbytes(self) -> int:
        return int(sum(getattr(self, name).nbytes for name in _INDEX_ARRAYS))

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
        tmp = directory / f".tmp-{self.gen}-{threading.get_ident()}"
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
        for old in directory.iterdir():  # earlier generations: mapped files stay readable once unlinked
            if old.name != final.name and old.name.startswith("gen-"):
                for p in old.iterdir():
                    p.unlink(missing_ok=True)
                old.rmdir()

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

    # -- traversal -----------------------------------------------------------------------------------
    def reach(self, origins: Sequence[str], on: date, depth: int, max_fanout: int) -> _Reach:
        """Breadth-first from every origin over edges in force on ``on``, both directions, exactly
        as ``risk.neighbourhood`` does it from one: per node, incident edges ordered legal
        representative first, then by edge id; at most ``max_fanout`` followed; a node keeps the
        first path that reached it (frontier order, then edge order)."""
        rows = reach_rows(self.nids(origins), self.org_ptr, self.h_ptr, self.h_perm, self.holder, self.vf, self.vt,
                          self.erank, on.toordinal(), depth, max_fanout)
        return _Reach(self, list(origins), *rows)

    def name(self, nid: int) -> str:
        return bytes(self.keys[nid]).decode()


class _Reach:
    """The result of ``_GraphIndex.reach``: rows grouped by origin, each origin's rows in the order
    its traversal discovered them (the origin first)."""

    def __init__(self, index: _GraphIndex, origins: list[str], src: np.ndarray, node: np.ndarray, dist: np.ndarray,
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
            keys = self.reach.index.keys[self.reach.node[self.lo + 1 : self.hi]].tolist()
            self.by_name = {self.origin: self.lo} | {k.decode(): r for r, k in enumerate(keys, start=self.lo + 1)}
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

    def __init__(self, index: _GraphIndex, followed: np.ndarray,
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


class _FactTargets:
    """The subjects that have at least one derived fact, as of a facts generation."""

    __slots__ = ("gen", "targets")

    def __init__(self, gen: int, targets: set[str]) -> None:
        self.gen = gen
        self.targets = targets


# -- the store ------------------------------------------------------------------------------------------
class SQLiteStore:
    """Durable embedded store in one SQLite file (``:memory:`` for throwaway use)."""

    name = "sqlite"

    def __init__(self, path: str | Path = ":memory:", graph_index: bool = True) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._owner: int | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer = self._connect(cache_mib=64)
        _migrate_v1_roles(self._writer)
        self._writer.executescript(_SCHEMA)
        for _, sql in _ROLE_INDEXES:  # also recreates indexes a killed bulk load had dropped
            self._writer.execute(sql)
        self._use_index = graph_index
        self._index: _GraphIndex | None = None
        self._index_lock = threading.Lock()
        self._building = False
        self._building_lock = threading.Lock()
        self._save_min = _SYNC_BUILD_ROWS
        self._facts: _FactTargets | None = None
        self._facts_lock = threading.Lock()
        self._targets_lock = threading.Lock()  # replace_facts adds to the targets a reader may be copying
        self._flags: tuple[_GraphIndex, int, np.ndarray] | None = None
        self._decoded: tuple[int, dict[str, tuple[DerivedFact, ...]]] = (-1, {})
        self._closed = False

    def _connect(self, cache_mib: int = 16) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, across kill -9 and power loss.
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=OFF")
        # Per connection (one per reading thread): the operating system caches the file as well.
        con.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        return con

    # -- connections and transactions --------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        """The writer inside this thread's transaction or for :memory:, else this thread's reader."""
        if self._owner == threading.get_ident() or self.path == ":memory:":
            return self._writer
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._connect()
            self._local.con = con
            with self._readers_lock:  # not self._lock: a writer holds that for its whole transaction
                self._readers.append(con)
        return con

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._writer.execute("BEGIN IMMEDIATE")
                self._owner = threading.get_ident()
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._writer.execute("ROLLBACK")
                    self._owner = None
                raise
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._writer.execute("COMMIT")

    def _in_write(self) -> bool:
        return self._owner == threading.get_ident()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.path == ":memory:":
            with self._lock:
                return self._writer.execute(sql, params).fetchall()
        return self._con().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock, self._readers_lock:
            self._closed = True
            for con in self._readers:
                con.close()
            self._readers.clear()
            self._writer.close()
            self._index = None
            self._facts = None

    # -- generations (what the in-memory indexes are up to date with) -------------------------
    def _gens(self) -> tuple[int, int]:
        rows = dict(self._read("SELECT k, v FROM meta WHERE k IN ('roles_gen', 'facts_gen')"))
        return int(rows.get("roles_gen", 0)), int(rows.get("facts_gen", 0))

    def _gen(self, name: str) -> int:
        return int(self._read("SELECT v FROM meta WHERE k = ?", (name,))[0][0])

    def _bump(self, name: str) -> None:
        """Inside a write transaction: the committed data of ``name`` changes with it."""
        self._writer.execute("UPDATE meta SET v = v + 1 WHERE k = ?", (name,))

    # -- the graph index -----------------------------------------------------------------------
    def warm(self) -> None:
        """Build the graph index now if it is missing or behind, and load its compiled traversal
        (a server calls this at start-up, so its first request waits for neither)."""
        if self._use_index and not self._in_write():
            self._ensure_index(wait=True)
            index = self._index
            if index is not None:
                index.reach([], date(2000, 1, 1), 1, 1)

    def graph_index_bytes(self) -> int:
        """Bytes the graph index holds in memory (0 when there is none)."""
        index = self._index
        return index.nbytes if index is not None else 0

    def _fresh_index(self) -> _GraphIndex | None:
        """The graph index if it reflects the committed roles and this thread is not writing."""
        if not self._use_index or self._in_write():
            return None
        index = self._index
        gen = self._gen("roles_gen")
        if index is not None and index.gen == gen:
            return index
        return self._ensure_index(wait=False, gen=gen)

    def _ensure_index(self, wait: bool, gen: int | None = None) -> _GraphIndex | None:
        gen = self._gen("roles_gen") if gen is None else gen
        index = self._index
        if index is not None and index.gen == gen:
            return index
        sidecar = self._sidecar()
        if sidecar is not None and (loaded := _GraphIndex.load(sidecar, gen)) is not None:
            return self._install(loaded)  # saved by an earlier run or another process: mapped, not read
        small = self._read("SELECT max(rowid) FROM roles")[0][0] or 0
        if wait or small <= _SYNC_BUILD_ROWS:
            with self._index_lock:
                index = self._index
                if index is None or index.gen != self._gen("roles_gen"):
                    index = self._build_index()
                return index if index is not None and index.gen == gen else None
        with self._building_lock:  # never held for long: readers must not wait for a build
            if self._building:
                return None
            self._building = True
        threading.Thread(target=self._build_in_background, name="graph-index", daemon=True).start()
        return None

    def _build_in_background(self) -> None:
        try:
            if not self._closed:
                self._build_index()
        except Exception:  # noqa: BLE001 - the SQL path keeps answering; the next read retries
            pass
        finally:
            self._building = False

    def _install(self, index: _GraphIndex) -> _GraphIndex:
        """Make ``index`` the current one unless a newer one is already in place."""
        with self._building_lock:
            current = self._index
            if current is None or index.gen >= current.gen:
                self._index = index
        return index

    def _sidecar(self) -> Path | None:
        """Where the graph index of a database file is saved between runs."""
        return None if self.path == ":memory:" else Path(self.path + ".graph")

    def _build_index(self) -> _GraphIndex | None:
        """The saved index of the committed generation, or one built from a single snapshot of the
        committed roles (a read transaction) and then saved."""
        if self.path == ":memory:":
            with self._lock:
                if self._depth:
                    return None
                index = _GraphIndex.build(self._writer, self._gen("roles_gen"))
            return self._install(index)
        sidecar = self._sidecar()
        assert sidecar is not None
        gen = self._gen("roles_gen")
        loaded = _GraphIndex.load(sidecar, gen)
        if loaded is not None:
            return self._install(loaded)
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            con.execute("BEGIN")  # one snapshot for the generation and the rows
            gen = int(con.execute("SELECT v FROM meta WHERE k = 'roles_gen'").fetchone()[0])
            index = _GraphIndex.build(con, gen)
            con.execute("COMMIT")
        finally:
            con.close()
        if len(index) >= self._save_min:  # small indexes are rebuilt faster than written
            try:
                index.save(sidecar)
            except OSError:  # a read-only directory: the index lives in memory only
                pass
        release_free_memory()  # the build's temporaries: hand the freed pages back to the system
        return self._install(index)

    def traverse(self, origins: Sequence[str], as_of: date, depth: int, max_fanout: int) -> list[Traversal] | None:
        """Breadth-first neighbourhoods of ``origins`` from the graph index, all in one pass (see
        ``base.Traversal``), or None when the index cannot answer for the committed state right now
        (the caller then uses roles_of)."""
        index = self._fresh_index()
        if index is None:
            return None
        return index.reach(origins, as_of, depth, max_fanout).traversals(self.get_roles, self._flagged(index))

    def _flagged(self, index: _GraphIndex) -> np.ndarray | None:
        """Per node of ``index``: has at least one derived fact (committed; a superset is harmless)."""
        committed = self._fact_targets()
        if committed is None:
            return None
        known = committed[1]
        cached = self._flags
        if cached is not None and cached[0] is index and cached[1] == known.gen:
            return cached[2]
        with self._targets_lock:
            gen, targets = known.gen, [t.encode() for t in known.targets]
        keys = index.keys
        flags = np.zeros(len(keys), dtype=bool)
        wanted = np.array([t for t in targets if len(t) <= keys.itemsize], dtype=keys.dtype)
        if len(keys) and len(wanted):
            pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            flags[pos[keys[pos] == wanted]] = True
        self._flags = (index, gen, flags)
        return flags

    # -- generic helpers ---------------------------------------------------------------------
    def _upsert(self, table: _Table, items: Sequence[Any]) -> WriteCounts:
        """Insert new rows, update changed ones, count both and the unchanged, in one transaction.

        ``INSERT OR IGNORE`` adds the new rows (its changes are the inserts); only when some rows
        already existed, an ``UPDATE ... WHERE <a column differs>`` rewrites the changed ones (its
        changes are the updates). Rows go in key order, so B-tree inserts are mostly sequential.
        """
        if not items:
            return WriteCounts()
        rows = {}
        for item in items:
            row = table.to_row(item)
            rows[row[0]] = row  # last one wins within a batch
        ordered = sorted(rows.values(), key=lambda r: r[0])
        cols = ", ".join(table.columns)
        marks = ", ".join("?" * len(table.columns))
        con = self._writer
        with self.transaction():
            before = con.total_changes
            con.executemany(f"INSERT OR IGNORE INTO {table.name} ({cols}) VALUES ({marks})", ordered)  # noqa: S608 - identifiers are module constants
            inserted = con.total_changes - before
            updated = 0
            if inserted < len(ordered):
                rest = table.columns[1:]
                sets = ", ".join(f"{c} = ?" for c in rest)
                differs = " OR ".join(f"{c} IS NOT ?" for c in rest)
                sql = f"UPDATE {table.name} SET {sets} WHERE ({table.key} = ?) AND ({differs})"  # noqa: S608
                before = con.total_changes
                con.executemany(sql, (r[1:] + r[:1] + r[1:] for r in ordered))
                updated = con.total_changes - before
            if table is _ROLE and (inserted or updated):
                self._bump("roles_gen")
        return WriteCounts(inserted, updated, len(ordered) - inserted - updated)

    def _fetch_rows(self, con: sqlite3.Connection, table: _Table, keys: list[Any]) -> dict[Any, tuple[Any, ...]]:
        out: dict[Any, tuple[Any, ...]] = {}
        cols = ", ".join(table.columns)
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            sql = f"SELECT {cols} FROM {table.name} WHERE {table.key} IN ({','.join('?' * len(chunk))})"  # noqa: S608
            for row in con.execute(sql, chunk):
                out[row[0]] = tuple(row)
        return out

    def _by(self, table: _Table, column: str, values: Sequence[Any], order: tuple[str, ...] = ()) -> list[Any]:
        """Rows whose ``column`` is in ``values``, sorted by the ``order`` columns across all chunks."""
        rows: list[tuple[Any, ...]] = []
        cols = ", ".join(table.columns)
        values = list(dict.fromkeys(values))
        for i in range(0, len(values), _CHUNK):
            chunk = values[i : i + _CHUNK]
            sql = f"SELECT {cols} FROM {table.name} WHERE {column} IN ({','.join('?' * len(chunk))})"  # noqa: S608
            rows.extend(self._read(sql, chunk))
        if order:
            at = [table.columns.index(c) for c in order]
            rows.sort(key=lambda r: tuple(r[i] for i in at))
        return [table.from_row(r) for r in rows]

    def _iter(self, table: _Table) -> Iterator[Any]:
        # A dedicated connection so a long iteration neither blocks nor sees concurrent writes.
        con = sqlite3.connect(self.path, check_same_thread=False) if self.path != ":memory:" else self._writer
        try:
            cur = con.execute(f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY {table.key}")  # noqa: S608
            while batch := cur.fetchmany(10_000):
                for row in batch:
                    yield table.from_row(row)
        finally:
            if con is not self._writer:
                con.close()

    # -- subjects ----------------------------------------------------------------------------
    def put_organisations(self, rows: Sequence[Organisation]) -> WriteCounts:
        return self._upsert(_ORG, rows)

    def put_persons(self, rows: Sequence[Person]) -> WriteCounts:
        return self._upsert(_PERSON, rows)

    def get_organisations(self, codes: Sequence[str]) -> dict[str, Organisation]:
        return {o.code: o for o in self._by(_ORG, "code", codes)}

    def get_persons(self, keys: Sequence[str]) -> dict[str, Person]:
        return {p.key: p for p in self._by(_PERSON, "key", keys)}

    def iter_organisations(self) -> Iterator[Organisation]:
        return self._iter(_ORG)

    def iter_persons(self) -> Iterator[Person]:
        return self._iter(_PERSON)

    def search_subjects(
        self, text: str = "", region: str = "", industry: str = "", kind: SubjectKind | None = None,
        limit: int = 20, offset: int = 0,
    ) -> list[Organisation | Person]:
        # Each table is read in key order and stops after offset + limit matches (the primary key's
        # order: no sort); region narrows through organisations_region. A name "contains" test scans.
        like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        wanted = offset + limit
        found: list[Organisation | Person] = []
        for table, allowed in ((_ORG, kind != "person"), (_PERSON, kind != "organisation" and not industry)):
            if not allowed:
                continue
            where, params = [], []
            if text:
                if table is _ORG:
                    where.append("(code LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\')")
                    params += [like + "%", f"%{like}%"]
                else:
                    where.append("(name LIKE ? ESCAPE '\\' OR masked_id LIKE ? ESCAPE '\\')")
                    params += [f"%{like}%", f"%{like}%"]
            if region:
                where.append("region >= ? AND region < ?")
                params += [region, region + "\U0010ffff"]
            if industry:
                where.append("industry = ?")
                params.append(industry)
            sql = (f"SELECT {', '.join(table.columns)} FROM {table.name} "  # noqa: S608 - constant names
                   f"WHERE {' AND '.join(where) or '1'} ORDER BY {table.key} LIMIT ?")
            found += [table.from_row(r) for r in self._read(sql, [*params, wanted])]
        found.sort(key=lambda s: s.code if isinstance(s, Organisation) else s.key)
        return found[offset:wanted]

    # -- role edges --------------------------------------------------------------------------
    def put_roles(self, rows: Sequence[RoleEdge]) -> WriteCounts:
        return self._upsert(_ROLE, rows)

    def load_roles(self, batches: Iterable[RoleColumns]) -> int:
        """Bulk upsert without comparison, one transaction per batch. Into an empty roles table the
        rows are appended with the secondary indexes dropped, and the indexes are rebuilt once at
        the end (a sort instead of a random B-tree insert per row and index)."""
        with self._lock:
            fresh = not self._read("SELECT 1 FROM roles LIMIT 1")
            cols = ", ".join(_ROLE.columns)
            marks = ", ".join("?" * len(_ROLE.columns))
            if fresh:
                with self.transaction():
                    for name, _ in _ROLE_INDEXES:
                        self._writer.execute(f"DROP INDEX IF EXISTS {name}")
                    self._bump("roles_gen")
                sql = f"INSERT INTO roles ({cols}) VALUES ({marks})"  # noqa: S608 - module constants
            else:
                updates = ", ".join(f"{c}=excluded.{c}" for c in _ROLE.columns[1:])
                sql = f"INSERT INTO roles ({cols}) VALUES ({marks}) ON CONFLICT(eid) DO UPDATE SET {updates}"  # noqa: S608
            written = 0
            try:
                for batch in batches:
                    if not len(batch):
                        continue
                    with self.transaction():
                        self._writer.executemany(sql, _role_rows(batch))
                        self._bump("roles_gen")
                    written += len(batch)
            finally:
                if fresh:
                    with self.transaction():
                        for _, create in _ROLE_INDEXES:
                            self._writer.execute(create)
                        self._bump("roles_gen")
        return written

    def delete_roles(self, edge_ids: Sequence[str]) -> int:
        with self.transaction():
            n = 0
            for i in range(0, len(edge_ids), _CHUNK):
                chunk = list(edge_ids[i : i + _CHUNK])
                cur = self._writer.execute(
                    f"DELETE FROM roles WHERE eid IN ({','.join('?' * len(chunk))})", chunk  # noqa: S608
                )
                n += cur.rowcount
            if n:
                self._bump("roles_gen")
        return n

    def get_roles(self, edge_ids: Sequence[str]) -> dict[str, RoleEdge]:
        return {e.edge_id: e for e in self._by(_ROLE, "eid", edge_ids)}

    def roles_of(
        self, nodes: Sequence[str], direction: Direction = "both", as_of: date | None = None
    ) -> list[RoleEdge]:
        out = self._roles_sql(list(dict.fromkeys(nodes)), direction, as_of)
        out.sort(key=lambda e: (e.org, e.role, e.valid_from, e.holder))
        return out

    def _roles_sql(self, nodes: list[str], direction: Direction, as_of: date | None) -> list[RoleEdge]:
        extra, params = "", []
        if as_of is not None:
            extra = "AND vf <= ? AND (vt IS NULL OR vt > ?)"
            params = [as_of.toordinal(), as_of.toordinal()]
        out: list[RoleEdge] = []
        cols = ", ".join(_ROLE.columns)
        for column in {"in": ("org",), "out": ("holder",), "both": ("org", "holder")}[direction]:
            for i in range(0, len(nodes), _CHUNK):
                chunk = nodes[i : i + _CHUNK]
                sql = f"SELECT {cols} FROM roles WHERE {column} IN ({','.join('?' * len(chunk))}) {extra}"  # noqa: S608
                out.extend(_ROLE.from_row(r) for r in self._read(sql, [*chunk, *params]))
        if direction == "both":
            out = list({e.edge_id: e for e in out}.values())
        return out

    def iter_roles(self) -> Iterator[RoleEdge]:
        return self._iter(_ROLE)

    # -- records, events, honours, list entries --------------------------------------------------
    def put_records(self, rows: Sequence[DishonestyRecord]) -> WriteCounts:
        return self._upsert(_RECORD, rows)

    def get_records(self, ids: Sequence[str]) -> dict[str, DishonestyRecord]:
        return {r.record_id: r for r in self._by(_RECORD, "record_id", ids)}

    def records_of(self, subjects: Sequence[str]) -> list[DishonestyRecord]:
        return self._by(_RECORD, "subject", subjects, order=("decision_date", "record_id"))

    def iter_records(self) -> Iterator[DishonestyRecord]:
        return self._iter(_RECORD)

    def put_events(self, rows: Sequence[RecordEvent]) -> WriteCounts:
        return self._upsert(_EVENT, rows)

    def events_of(self, cause_ids: Sequence[str]) -> list[RecordEvent]:
        return self._by(_EVENT, "cause_id", cause_ids, order=("on_date", "event_id"))

    def put_honours(self, rows: Sequence[Honour]) -> WriteCounts:
        return self._upsert(_HONOUR, rows)

    def honours_of(self, holders: Sequence[str]) -> list[Honour]:
        return self._by(_HONOUR, "holder", holders, order=("awarded_on", "honour_id"))

    def iter_honours(self) -> Iterator[Honour]:
        return self._iter(_HONOUR)

    def put_list_entries(self, rows: Sequence[ListEntry]) -> WriteCounts:
        return self._upsert(_LIST, rows)

    def get_list_entries(self, ids: Sequence[str]) -> dict[str, ListEntry]:
        return {e.entry_id: e for e in self._by(_LIST, "entry_id", ids)}

    def list_entries_of(self, subjects: Sequence[str]) -> list[ListEntry]:
        return self._by(_LIST, "subject", subjects, order=("valid_from", "entry_id"))

    def iter_list_entries(self) -> Iterator[ListEntry]:
        return self._iter(_LIST)

    # -- derived facts ---------------------------------------------------------------------------
    def replace_facts(
        self, cause: Cause, facts: Sequence[DerivedFact]
    ) -> tuple[list[DerivedFact], list[DerivedFact]]:
        with self.transaction():
            old = {f.fact_id: f for f in self._by(_FACT, "cause", [str(cause)])}
            new = {f.fact_id: f for f in facts}
            removed = [f for k, f in old.items() if k not in new]
            added = [f for k, f in new.items() if old.get(k) != f]
            if removed:
                self._writer.executemany("DELETE FROM facts WHERE fact_id = ?", [(f.fact_id,) for f in removed])
            if added:
                cols = ", ".join(_FACT.columns)
                self._writer.executemany(
                    f"INSERT OR REPLACE INTO facts ({cols}) VALUES ({', '.join('?' * len(_FACT.columns))})",  # noqa: S608
                    [_FACT.to_row(f) for f in added],
                )
            if added or removed:
                # The target filter is a superset: adding this transaction's targets before the
                # commit is harmless, and a rollback leaves the generation behind, which a reader
                # sees as a mismatch and rebuilds from the committed facts.
                gen = self._gen("facts_gen")
                self._bump("facts_gen")
                with self._targets_lock:  # never held while taking another lock
                    known = self._facts
                    if known is not None and known.gen == gen:
                        known.targets.update(f.target for f in added)
                        known.gen = gen + 1
        return added, removed

    def _fact_filter(self, targets: list[str]) -> tuple[int | None, list[str]]:
        """``targets`` less those with no derived fact at all, with the committed facts generation
        that says so (outside a write; else None and ``targets`` as they are)."""
        committed = self._fact_targets() if len(targets) >= 4 else None
        if committed is None:
            return None, targets
        gen, known = committed
        return gen, [t for t in targets if t in known.targets]

    def _fact_targets(self) -> tuple[int, _FactTargets] | None:
        """The committed facts generation and the subjects with derived facts in it (None inside a
        write transaction). The generation is the one read from the database: a writer relabels
        the targets object before its commit."""
        if self._in_write():
            return None
        gen = self._gen("facts_gen")
        known = self._facts
        if known is None or known.gen != gen:
            with self._facts_lock:
                known = self._facts
                if known is None or known.gen != gen:
                    known = self._load_fact_targets()
                    self._facts = known
        return (gen, known) if known.gen == gen else None

    def _load_fact_targets(self) -> _FactTargets:
        if self.path == ":memory:":
            with self._lock:
                gen = self._gen("facts_gen")
                return _FactTargets(gen, {r[0] for r in self._writer.execute("SELECT DISTINCT target FROM facts")})
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            con.execute("BEGIN")
            gen = int(con.execute("SELECT v FROM meta WHERE k = 'facts_gen'").fetchone()[0])
            found = {r[0] for r in con.execute("SELECT DISTINCT target FROM facts")}
            con.execute("COMMIT")
        finally:
            con.close()
        return _FactTargets(gen, found)

    def get_facts(self, fact_ids: Sequence[str]) -> dict[str, DerivedFact]:
        return {f.fact_id: f for f in self._by(_FACT, "fact_id", fact_ids)}

    def facts_of(self, targets: Sequence[str]) -> list[DerivedFact]:
        gen, wanted = self._fact_filter(list(dict.fromkeys(targets)))
        if gen is None:
            return self._by(_FACT, "target", wanted, order=("valid_from", "fact_id")) if wanted else []
        # Decoded facts kept per committed generation; read after the generation was, so never
        # older than it (a newer commit changes the generation and empties the cache).
        label, cache = self._decoded
        if label != gen:
            cache = {}
            self._decoded = (gen, cache)
        got = {t: fs for t in wanted if (fs := cache.get(t)) is not None}
        missing = [t for t in wanted if t not in got]
        if missing:
            read: dict[str, list[DerivedFact]] = {t: [] for t in missing}
            for f in self._by(_FACT, "target", missing):
                read[f.target].append(f)
            if len(cache) + len(missing) > _FACT_CACHE:
                cache.clear()
            for t, found in read.items():
                got[t] = cache[t] = tuple(found)
        out = [f for t in wanted for f in got[t]]
        out.sort(key=lambda f: (f.valid_from, f.fact_id))
        return out

    def facts_by_cause(self, causes: Sequence[Cause]) -> list[DerivedFact]:
        return self._by(_FACT, "cause", [str(c) for c in causes], order=("valid_from", "fact_id"))

    def iter_facts(self) -> Iterator[DerivedFact]:
        return self._iter(_FACT)

    def causes_touching(self, targets: Sequence[str]) -> list[Cause]:
        out: set[str] = set()
        _, targets = self._fact_filter(list(dict.fromkeys(targets)))
        for i in range(0, len(targets), _CHUNK):
            chunk = targets[i : i + _CHUNK]
            sql = f"SELECT DISTINCT cause FROM facts WHERE target IN ({','.join('?' * len(chunk))})"  # noqa: S608
            out.update(r[0] for r in self._read(sql, chunk))
        return [Cause.parse(c) for c in sorted(out)]

    # -- journal -----------------------------------------------------------------------------------
    def append(self, table: JournalTable, rows: Iterable[dict[str, Any]]) -> int:
        _check_table(table)
        payload = [(table, str(r["id"]), json.dumps(r, ensure_ascii=False, default=str)) for r in rows]
        with self.transaction():
            before = self._writer.total_changes
            self._writer.executemany("INSERT OR IGNORE INTO journal (tbl, id, doc) VALUES (?, ?, ?)", payload)
            return self._writer.total_changes - before

    def update(self, table: JournalTable, row_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        _check_table(table)
        with self.transaction():
            found = self._writer.execute("SELECT doc FROM journal WHERE tbl = ? AND id = ?", (table, row_id)).fetchone()
            if found is None:
                raise NotFound(f"{table}/{row_id}")
            doc = json.loads(found[0]) | changes
            self._writer.execute(
                "UPDATE journal SET doc = ? WHERE tbl = ? AND id = ?",
                (json.dumps(doc, ensure_ascii=False, default=str), table, row_id),
            )
        return dict(doc)

    def query(
        self, table: JournalTable, where: dict[str, Any] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        _check_table(table)
        sql = "SELECT doc FROM journal WHERE tbl = ?"
        params: list[Any] = [table]
        for key, value in (where or {}).items():
            sql += " AND json_extract(doc, ?) = ?"
            params += ["$." + _json_key(key), value]
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [json.loads(r[0]) for r in self._read(sql, params)]

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("organisations", "persons", "roles", "records", "events", "honours", "list_entries", "facts"):
            out[table] = self._read(f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608
        for tbl in JOURNAL_TABLES:
            out[tbl] = self._read("SELECT count(*) FROM journal WHERE tbl = ?", (tbl,))[0][0]
        return out


def _role_rows(b: RoleColumns) -> Iterator[tuple[Any, ...]]:
    """Rows of the roles table from a column batch (ordinals, role codes, None for absent values)."""
    vt = [t if t > 0 else None for t in np.asarray(b.valid_to).tolist()]
    ratio = np.asarray(b.ratio, dtype=np.float64)
    cap = np.asarray(b.subscribed_capital, dtype=np.float64)
    ratio_o = [None if q != q else q for q in ratio.tolist()] if np.isnan(ratio).any() else ratio.tolist()
    cap_o = [None if c != c else c for c in cap.tolist()] if np.isnan(cap).any() else cap.tolist()
    roles = [_ROLE_CODE[str(r)] for r in b.role]
    return zip(
        b.edge_id, b.holder, roles, b.org, np.asarray(b.valid_from).tolist(), vt, ratio_o, cap_o, b.title,
        strict=True,
    )


def _check_table(table: str) -> None:
    if table not in JOURNAL_TABLES:
        raise ValueError(f"unknown journal table {table!r}")


def _json_key(key: str) -> str:
    if not key.replace("_", "").isalnum():
        raise ValueError(f"invalid field name {key!r}")
    return key

