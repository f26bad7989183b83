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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ...memory import release_free_memory
from ...model import (
    Cause,
    DerivedFact,
    DishonestyRecord,
    Honour,
    ListEntry,
    Organisation,
    Person,
    RecordEvent,
    RoleEdge,
)
from ..base import (
    JOURNAL_TABLES,
    Direction,
    JournalTable,
    NotFound,
    RoleColumns,
    SubjectKind,
    Traversal,
    WriteCounts,
)
from .index import _GraphIndex
from .schema import (
    _CHUNK,
    _EVENT,
    _FACT,
    _HONOUR,
    _LIST,
    _ORG,
    _PERSON,
    _RECORD,
    _ROLE,
    _ROLE_INDEXES,
    _SCHEMA,
    _migrate_v1_roles,
    _role_rows,
    _Table,
)

_SYNC_BUILD_ROWS = 200_000  # smaller role tables are indexed synchronously on first use
_FACT_CACHE = 4_000  # subjects whose decoded facts are kept per facts generation: those near hubs recur


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



def _check_table(table: str) -> None:
    if table not in JOURNAL_TABLES:
        raise ValueError(f"unknown journal table {table!r}")


def _json_key(key: str) -> str:
    if not key.replace("_", "").isalnum():
        raise ValueError(f"invalid field name {key!r}")
    return key

