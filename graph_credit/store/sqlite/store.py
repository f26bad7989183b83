"""The embedded default store: SQLite in WAL mode on local disk, with an in-memory graph index.

Why SQLite: it ships with Python (nothing to install or run), a committed transaction survives
``kill -9`` (WAL, ``synchronous=FULL`` also survives power loss), and it holds a database far
larger than memory, which is what a province (10^7 organisations) needs on one machine.

One writer connection serialises writes behind a lock; each reading thread has its own
connection, so readers see the last committed state and never a half-written transaction.

Role edges are stored compactly (dates as day ordinals, the role as a small code, three narrow
indexes: edge id, organisation, holder). Traversals outside a write transaction are answered by the
graph index (``live.LiveIndex``): an immutable base of CSR arrays plus the delta of edges changed
since, both tagged with the roles generation that every roles write bumps in its own transaction
(table ``meta``), so the index answers for exactly the committed data. Likewise ``facts_of`` first
drops the subjects that have no derived fact at all (a set of targets tagged with the facts generation).
Journal appends outside a transaction share durable commits (``group.GroupCommit``).
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
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
    JOURNAL_END,
    JOURNAL_TABLES,
    Direction,
    FactSpan,
    JournalTable,
    NotFound,
    ReachRows,
    RoleColumns,
    SubjectKind,
    Traversal,
    WriteCounts,
    check_field_name,
    check_journal_table,
)
from . import segments
from .builder import build_apart, build_committed, build_lock
from .group import GroupCommit
from .index import _GraphIndex
from .live import Delta, LiveIndex
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
    _date,
    _ddate,
    _migrate_v1_roles,
    _role_rows,
    _suspended,
    _Table,
)
from .segments import Segment, Segments

_SYNC_BUILD_ROWS = 200_000  # smaller role tables are indexed synchronously on first use
# A new base is built in the background once the delta holds more changed edges than this share of
# the base, within [_COMPACT_MIN, _COMPACT_MAX] (a delta of n edges costs about n microseconds per
# generation to lay out); past _COMPACT_HARD the delta is not used (SQL answers meanwhile).
_COMPACT_SHARE = 200
_COMPACT_MIN = 1_000
_COMPACT_MAX = 10_000
_COMPACT_HARD = 200_000
_HIDING_KEPT = 50_000  # ids of table rows and tombstones kept in memory per roles generation (segment reads)
_LOG_BATCH = 10_000  # a bulk batch of more edges is not logged edge by edge: a new base is built
_CACHE_MIB = 16  # SQLite's page cache per connection
_FACT_LOG_KEEP = 100_000  # facts generations the log keeps: a reader further behind reloads every target
_SPAN_CACHE = 100_000  # subjects whose fact spans are kept per facts generation (about 1 KB each: 100 MB at most)
_ROW_CACHE = 10_000  # subjects whose fact rows, read with their spans, are kept for the decode of those in force
_FACT_CACHE = 20_000  # subjects whose decoded facts are kept per facts generation: those near hubs recur (each
# pass of 2,000 checks at 10^6 reads those of about 3,000: 4,000 was emptied on nearly every pass)


def _edges_held(con: sqlite3.Connection) -> int:
    """About how many role edges the store holds (table rows ever written plus segment rows): what decides
    how a base is built."""
    return int(con.execute("SELECT coalesce(max(rowid), 0) + (SELECT coalesce(sum(rows), 0) FROM role_segments) "
                           "FROM roles").fetchone()[0])


class _FactTargets:
    """The subjects that have at least one derived fact, as of a facts generation, and the spans of
    the facts of those asked for (``base.FactSpan``), read on demand with their whole rows (``rows``,
    the latest ones: a check then decodes those in force without reading them again): a commit of
    this process's swaps in dicts without the subjects it touched, so a span or row read before the
    commit never lands in a dict read after it; ``added`` lists the subjects this process's writes
    added since it was read, in order (per-node flags follow it)."""

    __slots__ = ("added", "gen", "rows", "spans", "targets")

    def __init__(self, gen: int, targets: set[str]) -> None:
        self.gen = gen
        self.targets = targets
        self.spans: dict[str, tuple[FactSpan, ...]] = {}
        self.rows: dict[str, tuple[tuple[Any, ...], ...]] = {}
        self.added: list[str] = []

    def forget(self, touched: set[str]) -> None:
        """Drop the spans and rows read of subjects whose facts changed (new dicts: a reader still filling
        an old one cannot add a stale entry); the caller holds the store's targets lock."""
        self.spans = {k: v for k, v in self.spans.items() if k not in touched}
        self.rows = {k: v for k, v in self.rows.items() if k not in touched}


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
        self._readers: dict[threading.Thread, sqlite3.Connection] = {}  # each reading thread's connection
        self._readers_lock = threading.Lock()
        self._writer = self._connect()
        _migrate_v1_roles(self._writer)
        self._writer.executescript(_SCHEMA)
        for _, sql in _ROLE_INDEXES:  # also recreates indexes a killed bulk load had dropped
            self._writer.execute(sql)
        self._use_index = graph_index
        self._index: LiveIndex | None = None
        self._index_lock = threading.Lock()  # one thread advances the index at a time
        self._building = False
        self._building_lock = threading.Lock()
        self._save_min = _SYNC_BUILD_ROWS
        self._stats = {"index": 0, "sql": 0, "bases_built": 0, "bases_built_apart": 0}
        self._facts: _FactTargets | None = None
        self._facts_lock = threading.Lock()
        self._targets_lock = threading.Lock()  # replace_facts adds to the targets a reader may be copying
        self._decoded: tuple[int, dict[str, tuple[DerivedFact, ...]]] = (-1, {})
        # This transaction's facts: generation at its start and at its end, subjects touched.
        self._txn_facts: tuple[int, int, set[str]] | None = None
        # Journal appends outside a transaction (the audit of every personal read) share commits.
        self._appends = GroupCommit(self.transaction, self._append_rows)
        self._closed = False
        # Role segments (segments.py): files this transaction wrote (removed if it rolls back), files
        # it unregistered, and those unregistered by the last commit (removed at the next merge or at
        # close: a reader in an older snapshot may still open them); a load batch of at most
        # _table_max edges into a store that has roles goes to the table instead (the delta).
        self._segments = Segments(self.path) if self.path != ":memory:" else None
        self._seg_new: list[Path] = []
        self._seg_old: list[Path] = []
        self._seg_garbage: list[Path] = []
        self._hiding: tuple[int, frozenset[str] | None] = (-1, None)  # see _seg_view
        self._txn_roles = False  # this write transaction has changed the roles (see _seg_view)
        self._table_max = _LOG_BATCH
        # Tiered merging (LSM): a load's batch segments are merged into one sorted segment each time
        # they hold _tier_rows edges, and every segment into one when more than _max_segments remain
        # (reads binary-search each segment).
        self._tier_rows = 4_000_000
        self._max_segments = 24  # a 72 M-edge load (18 tiers of 4 M) ends without a whole merge
        if self._segments is not None:
            with self.transaction():
                self._segments.remove_unregistered(self._writer)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, across kill -9 and power loss.
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=OFF")
        # Per connection (the writer and one per reading thread), and filled to the cap by a long run
        # of writes, whose pages are all over the file: the operating system caches the file as well.
        con.execute(f"PRAGMA cache_size=-{_CACHE_MIB * 1024}")
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
                for thread in [t for t in self._readers if not t.is_alive()]:  # its thread has ended
                    self._readers.pop(thread).close()
                self._readers[threading.current_thread()] = con
        return con

    def _release_reader(self) -> None:
        """Close this thread's reader (a thread of the store's own that is about to end)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            self._local.con = None
            with self._readers_lock:
                self._readers.pop(threading.current_thread(), None)
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._writer.execute("BEGIN IMMEDIATE")
                self._owner = threading.get_ident()
                self._txn_roles = False
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._txn_facts = None
                    self._writer.execute("ROLLBACK")
                    self._owner = None
                    if self._segments is not None:
                        self._segments.forget(self._seg_new)
                    self._drop_files(self._seg_new)
                    self._seg_old.clear()
                raise
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                try:
                    self._writer.execute("COMMIT")
                finally:
                    facts, self._txn_facts = self._txn_facts, None
                self._seg_new.clear()
                self._seg_garbage += self._seg_old
                self._seg_old.clear()
                self._facts_committed(facts)

    @staticmethod
    def _drop_files(paths: list[Path]) -> None:
        """Remove segment directories (a reader that mapped one keeps reading it until it lets go)."""
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        paths.clear()

    def _facts_committed(self, facts: tuple[int, int, set[str]] | None) -> None:
        """After a commit that changed facts from generation ``start`` to ``end``: the decoded facts
        kept for ``start`` stay right for every subject the transaction did not touch."""
        if facts is None:
            return
        start, end, touched = facts
        with self._targets_lock:
            known = self._facts
            if known is not None and known.gen == end:  # else it is reloaded from the database
                known.forget(touched)
        self._carry_decoded(start, end, touched)

    def _carry_decoded(self, start: int, end: int, touched: set[str]) -> None:
        """The decoded facts kept for generation ``start``, less the ``touched`` subjects, kept for ``end`` (a
        new dict: a reader still filling the old one cannot add a stale entry)."""
        label, cache = self._decoded
        if label == start:
            self._decoded = (end, {k: v for k, v in cache.items() if k not in touched})

    def _in_write(self) -> bool:
        return self._owner == threading.get_ident()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.path == ":memory:":
            with self._lock:
                return self._writer.execute(sql, params).fetchall()
        return self._con().execute(sql, params).fetchall()

    def close(self) -> None:
        self._appends.close()  # first: its committer thread writes under the lock taken below
        with self._lock, self._readers_lock:
            self._closed = True
            for con in self._readers.values():
                con.close()
            self._readers.clear()
            self._writer.close()
            self._drop_files(self._seg_garbage)
            self._index = None
            self._facts = None

    # -- generations (what the in-memory indexes are up to date with) -------------------------
    def _gen(self, name: str) -> int:
        return int(self._read("SELECT v FROM meta WHERE k = ?", (name,))[0][0])

    def _bump(self, name: str) -> None:
        """Inside a write transaction: the committed data of ``name`` changes with it."""
        self._writer.execute("UPDATE meta SET v = v + 1 WHERE k = ?", (name,))

    def _roles_changed(self, changed: Iterable[tuple[str, str]] | None) -> None:
        """Inside a write transaction: bump the roles generation and log the (edge id, organisation)
        pairs changed, the organisation before and after, for the graph index's delta; None for a bulk
        change, after which only a new base can answer (the log restarts at this generation)."""
        self._bump("roles_gen")
        self._txn_roles = True
        con = self._writer
        if changed is None:
            con.execute("DELETE FROM role_log")
            con.execute("UPDATE meta SET v = (SELECT v FROM meta WHERE k = 'roles_gen') WHERE k = 'roles_log_from'")
        else:
            con.executemany("INSERT OR IGNORE INTO role_log (gen, eid, org) "
                            "VALUES ((SELECT v FROM meta WHERE k = 'roles_gen'), ?, ?)", changed)

    def _role_orgs(self, edge_ids: Sequence[str]) -> list[tuple[str, str]]:
        """The (edge id, organisation) of those stored (inside a write transaction)."""
        out: list[tuple[str, str]] = []
        for i in range(0, len(edge_ids), _CHUNK):
            chunk = list(edge_ids[i : i + _CHUNK])
            sql = f"SELECT eid, org FROM roles WHERE eid IN ({','.join('?' * len(chunk))})"  # noqa: S608
            out += self._writer.execute(sql, chunk).fetchall()
        if segs := self._segs(self._writer):
            out += [(r[0], r[3]) for r in segments.lookup(self._writer, segs, "eid", list(edge_ids))]
        return out

    def _segs(self, con: sqlite3.Connection) -> list[Segment]:
        """The role segments registered in ``con``'s snapshot, oldest first."""
        return self._segments.registered(con) if self._segments is not None else []

    def _seg_view(self, con: sqlite3.Connection) -> tuple[list[Segment], frozenset[str] | None]:
        """The role segments registered in ``con``'s snapshot and the ids the roles table and the
        tombstones hold in it (what hides a segment's row), read in one statement; the ids are kept
        per roles generation (every change of the table, the tombstones or the registry bumps it in
        its own transaction; a newer generation's are the kept ones plus the log's changes since,
        ``_hiding_since``) when there are at most ``_HIDING_KEPT``. None (each read then asks) when
        there are more, or inside a write transaction once it has changed the roles (its uncommitted
        rows hide too: every roles change bumps the generation, and no read comes between a change
        and its bump); a write transaction never keeps what it reads."""
        if self._segments is None:
            return [], None
        rows = con.execute("SELECT name, (SELECT v FROM meta WHERE k = 'roles_gen') FROM role_segments ORDER BY seq"
                           ).fetchall()
        segs = self._segments.opened(tuple(r[0] for r in rows))
        if not segs or self.path == ":memory:":
            return segs, None
        gen = rows[0][1]
        kept_gen, hiding = self._hiding
        if self._in_write():  # the committed ids, while this transaction has not changed the roles
            return segs, hiding if kept_gen == gen and not self._txn_roles else None
        if kept_gen != gen:
            hiding = self._hiding_since(con, kept_gen, hiding, gen)
            self._hiding = (gen, hiding)
        return segs, hiding

    @staticmethod
    def _hiding_since(con: sqlite3.Connection, kept_gen: int, kept: frozenset[str] | None,
                      gen: int) -> frozenset[str] | None:
        """The ids of the table rows and tombstones at ``gen`` in ``con``'s snapshot: those kept for
        ``kept_gen`` plus the edges the log says changed since, while the log reaches back to it (a
        change of the table or the tombstones is logged edge by edge; a bulk change restarts the log;
        a deleted edge no segment holds stays in the set, which then hides nothing), else read whole.
        None when there are more than ``_HIDING_KEPT``."""
        log_from = int(con.execute("SELECT v FROM meta WHERE k = 'roles_log_from'").fetchone()[0])
        if kept is not None and 0 <= log_from <= kept_gen <= gen:
            found = kept | {r[0] for r in con.execute("SELECT eid FROM role_log WHERE gen > ?", (kept_gen,))}
            return found if len(found) <= _HIDING_KEPT else None
        few = con.execute("SELECT count(*) FROM (SELECT 1 FROM roles LIMIT ?) UNION ALL "
                          "SELECT count(*) FROM (SELECT 1 FROM role_tombstones LIMIT ?)",
                          (_HIDING_KEPT + 1, _HIDING_KEPT + 1)).fetchall()
        if sum(r[0] for r in few) > _HIDING_KEPT:
            return None
        return frozenset(r[0] for r in con.execute("SELECT eid FROM roles UNION SELECT eid FROM role_tombstones"))

    @contextmanager
    def _view(self) -> Iterator[sqlite3.Connection]:
        """One consistent view of the committed roles (this thread's own writes included when it
        is writing): the table and the segments registry read in one snapshot."""
        if self._in_write() or self.path == ":memory:":
            with self._lock:
                yield self._writer
            return
        with self._snapshot() as con:
            yield con

    # -- the graph index -----------------------------------------------------------------------
    def warm(self) -> None:
        """Bring the graph index up to the committed roles now (mapping the saved base, or building
        one), load its compiled traversal and copy its hubs' edges, and find the rows newer role segments
        hide (a server calls this at start-up, so its first requests wait for none of them, and segment
        reads skip probing)."""
        if self._use_index and not self._in_write():
            index = self._catch_up(wait=True)
            if index is not None:
                index.reach([], date(2000, 1, 1), 1, 1)
                index.base.fill_hubs()
        if self._segments is not None and not self._in_write():
            with self._view() as con:
                segments.find_hidden(self._seg_view(con)[0])

    def graph_index_bytes(self) -> int:
        """Bytes the graph index's base holds in memory (0 when there is none)."""
        index = self._index
        return index.base.nbytes if index is not None else 0

    def index_stats(self) -> dict[str, int]:
        """How the graph index kept up: traversals answered by it and by SQL, its generation, the
        edges in its delta, the bases built (for the benchmark and for monitoring)."""
        index = self._index
        return dict(self._stats) | {"delta_edges": len(index.delta) if index is not None else 0,
                                    "gen": index.gen if index is not None else -1,
                                    "base_gen": index.base.gen if index is not None else -1}

    def _fresh_index(self) -> LiveIndex | None:
        """The graph index as of the committed roles, if this thread is not writing."""
        if not self._use_index or self._in_write():
            return None
        index = self._index
        if index is not None and index.gen == self._gen("roles_gen"):
            return index
        return self._catch_up(wait=False)

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on committed data: one snapshot for several statements."""
        if self.path == ":memory:":
            with self._lock:
                yield self._writer
            return
        con = self._con()
        con.execute("BEGIN")
        try:
            yield con
        finally:
            con.execute("COMMIT")

    def _catch_up(self, wait: bool) -> LiveIndex | None:
        """Advance the graph index to the committed roles: the delta from the log when it reaches
        back to the base, else a saved base, else a base built now (small tables or ``wait``) or in
        the background (meanwhile None: the caller reads SQL)."""
        with self._index_lock:
            index = self._index
            with self._snapshot() as con:
                delta = index.delta.advance(con) if index is not None else None
                if delta is None and (base := self._saved_base(con)) is not None:
                    delta = Delta.empty(base).advance(con)
                small = _edges_held(con) <= _SYNC_BUILD_ROWS
            if delta is None or len(delta) > _COMPACT_HARD:
                if not (wait or small):
                    self._compact_in_background()
                    return None
                base = self._build_base()
                with self._snapshot() as con:
                    delta = Delta.empty(base).advance(con)
                if delta is None:  # a bulk load committed meanwhile
                    return None
                self._prune_log(base)
            if len(delta) > max(_COMPACT_MIN, min(len(delta.base) // _COMPACT_SHARE, _COMPACT_MAX)):
                self._compact_in_background()
            if index is None or delta is not index.delta:
                index = self._index = LiveIndex(delta)
            return index

    def _compact_in_background(self) -> None:
        with self._building_lock:  # never held for long: readers must not wait for a build
            if self._building or self._closed:
                return
            self._building = True
        threading.Thread(target=self._compact, name="graph-index", daemon=True).start()

    def _compact(self) -> None:
        """A new base from one snapshot, installed with the delta since, and the log up to it dropped."""
        try:
            base = self._build_base()
            with self._index_lock:
                if self._closed:
                    return
                with self._snapshot() as con:
                    delta = Delta.empty(base).advance(con)
                if delta is not None:
                    self._index = LiveIndex(delta)
            self._prune_log(base)
            release_free_memory()  # the replaced base's delta and lookups: hand the freed pages back
        except Exception:  # noqa: BLE001 - the current base and delta (or SQL) keep answering
            pass
        finally:
            self._release_reader()
            self._building = False

    def _prune_log(self, base: _GraphIndex) -> None:
        """Drop the log entries the new base holds (a base of another process that is older than it
        is then rebuilt by that process)."""
        if self._closed:
            return
        with self.transaction():
            self._writer.execute("DELETE FROM role_log WHERE gen <= ?", (base.gen,))
            self._writer.execute("UPDATE meta SET v = max(v, ?) WHERE k = 'roles_log_from'", (base.gen,))

    def _sidecar(self) -> Path | None:
        """Where the graph index's base of a database file is saved between runs."""
        return None if self.path == ":memory:" else Path(self.path + ".graph")

    def _saved_base(self, con: sqlite3.Connection) -> _GraphIndex | None:
        """The newest saved base that the log, as of ``con``'s snapshot, still reaches back to."""
        sidecar = self._sidecar()
        if sidecar is None or not sidecar.is_dir():
            return None
        meta = dict(con.execute("SELECT k, v FROM meta WHERE k IN ('roles_gen', 'roles_log_from')").fetchall())
        gens = sorted((int(p.name[4:]) for p in sidecar.iterdir() if p.name.startswith("gen-")), reverse=True)
        for gen in gens:
            if meta["roles_log_from"] <= gen <= meta["roles_gen"]:
                return _GraphIndex.load(sidecar, gen)
        return None

    def _build_base(self) -> _GraphIndex:
        """A base built from one snapshot of the committed roles: for a large table in a child process
        that saves it, then mapped (``builder``: neither the build's memory nor its GIL time enter this
        process); else here, on its own connection (a builder thread must not leave a reader behind)."""
        if self.path == ":memory:":
            with self._lock:
                self._stats["bases_built"] += 1
                return _GraphIndex.build(self._writer, self._gen("roles_gen"))
        sidecar = self._sidecar()
        assert sidecar is not None
        with self._snapshot() as con:
            rows = _edges_held(con)
            wanted = self._gen("roles_gen")
        if rows >= self._save_min and os.access(sidecar if sidecar.exists() else sidecar.parent, os.W_OK):
            # Server processes that find the base stale at once build it once: the first builds, the
            # others wait for it and map what it saved.
            with build_lock(sidecar):
                with self._snapshot() as con:
                    saved = self._saved_base(con)
                if saved is not None and saved.gen >= wanted:
                    return saved
                base = build_apart(self.path, sidecar)
            self._stats["bases_built"] += 1
            self._stats["bases_built_apart"] += 1
            return base
        base = build_committed(self.path)
        release_free_memory()  # the build's temporaries: hand the freed pages back to the system
        self._stats["bases_built"] += 1
        return base

    def traverse(self, origins: Sequence[str], as_of: date, depth: int, max_fanout: int) -> list[Traversal] | None:
        """Breadth-first neighbourhoods of ``origins`` from the graph index, all in one pass (see
        ``base.Traversal``), or None when the index cannot answer for the committed state right now
        (the caller then uses roles_of)."""
        index = self._fresh_index()
        if index is None:
            self._stats["sql"] += 1
            return None
        self._stats["index"] += 1
        flagged = self._flagged(index, self._fact_targets())
        return index.reach(origins, as_of, depth, max_fanout).traversals(self.get_roles, flagged)

    def reach_rows(self, origins: Sequence[str], as_of: date, depth: int, max_fanout: int) -> ReachRows | None:
        """``traverse`` as flat arrays (``base.ReachRows``): for related-party scoring, which reads few of
        the nodes reached; None when the index cannot answer for the committed state right now."""
        index = self._fresh_index()
        if index is None:
            self._stats["sql"] += 1
            return None
        self._stats["index"] += 1
        committed = self._fact_targets()
        flagged = self._flagged(index, committed)  # nodes first reached at the last hop without facts: no row
        rows = index.reach(origins, as_of, depth, max_fanout, flagged).rows(flagged)
        if committed is not None:
            known = committed[1]
            rows.spans = lambda names: self._spans(known, names)
        return rows

    def _spans(self, known: _FactTargets, names: Sequence[str]) -> list[tuple[FactSpan, ...]]:
        """The ``FactSpan``s of each of ``names`` (``known``'s, read now for those not yet read, with
        their whole rows: ``facts_of`` decodes those in force from them)."""
        spans = known.spans
        missing = [n for n in names if n not in spans and n in known.targets]
        if missing:
            if len(spans) + len(missing) > _SPAN_CACHE:
                spans = known.spans = {}
            read: dict[str, list[tuple[Any, ...]]] = {n: [] for n in missing}
            for r in self._by_rows(_FACT, "target", missing):
                read[r[5]].append(r)
            rows = known.rows
            if len(rows) + len(missing) > _ROW_CACHE:
                rows = known.rows = {}
            for n, found in read.items():
                rows[n] = tuple(found)
                spans[n] = tuple(FactSpan(r[4], _date(r[7]), _ddate(r[8]), r[14], _suspended(r[15]), r[0])
                                 for r in found)
        return [spans.get(n, ()) for n in names]

    def _flagged(self, index: LiveIndex, committed: tuple[int, _FactTargets] | None) -> np.ndarray | None:
        """Per node of ``index``: has at least one derived fact in ``committed`` (``_fact_targets``; a
        superset is harmless)."""
        if committed is None:
            return None
        with self._targets_lock:  # replace_facts may be adding to the targets
            return index.flags(committed[1])

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
            before_orgs = self._role_orgs([r[0] for r in ordered]) if table is _ROLE else []
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
                self._roles_changed([*before_orgs, *((r[0], r[3]) for r in ordered)])
        return WriteCounts(inserted, updated, len(ordered) - inserted - updated)

    def _by(self, table: _Table, column: str, values: Sequence[Any], order: tuple[str, ...] = (),
            con: sqlite3.Connection | None = None) -> list[Any]:
        """Rows whose ``column`` is in ``values``, sorted by the ``order`` columns across all chunks
        (read through ``con`` when given: a snapshot the caller holds)."""
        rows = self._by_rows(table, column, values, con)
        if order:
            at = [table.columns.index(c) for c in order]
            rows.sort(key=lambda r: tuple(r[i] for i in at))
        return [table.from_row(r) for r in rows]

    def _by_rows(self, table: _Table, column: str, values: Sequence[Any],
                 con: sqlite3.Connection | None = None) -> list[tuple[Any, ...]]:
        """The rows (as stored) whose ``column`` is in ``values``."""
        rows: list[tuple[Any, ...]] = []
        cols = ", ".join(table.columns)
        values = list(dict.fromkeys(values))
        for i in range(0, len(values), _CHUNK):
            chunk = values[i : i + _CHUNK]
            sql = f"SELECT {cols} FROM {table.name} WHERE {column} IN ({','.join('?' * len(chunk))})"  # noqa: S608
            rows.extend(con.execute(sql, chunk).fetchall() if con is not None else self._read(sql, chunk))
        return rows

    def _iter(self, table: _Table, con: sqlite3.Connection | None = None) -> Iterator[Any]:
        # A dedicated connection so a long iteration neither blocks nor sees concurrent writes.
        own = con is None
        if con is None:
            con = sqlite3.connect(self.path, check_same_thread=False) if self.path != ":memory:" else self._writer
        try:
            for row in self._rows(table, con):
                yield table.from_row(row)
        finally:
            if own and con is not self._writer:
                con.close()

    @staticmethod
    def _rows(table: _Table, con: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
        cur = con.execute(f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY {table.key}")  # noqa: S608
        while batch := cur.fetchmany(10_000):
            yield from batch

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
        """Upsert into the table (the delta); an edge whose visible version is a segment's counts as
        unchanged when identical (nothing written), else as updated (its table row now hides it)."""
        with self.transaction():
            segs = self._segs(self._writer)
            if not segs or not rows:
                return self._upsert(_ROLE, rows)
            latest = {e.edge_id: e for e in rows}
            shown = {r[0]: r for r in segments.lookup(self._writer, segs, "eid", list(latest))}
            same = {k for k, r in shown.items() if _ROLE.to_row(latest[k]) == r}
            counts = self._upsert(_ROLE, [e for k, e in latest.items() if k not in same])
            moved = len(shown) - len(same)  # inserted into the table, but an update of what readers saw
            return WriteCounts(counts.inserted - moved, counts.updated + moved, counts.unchanged + len(same))

    def load_roles(self, batches: Iterable[RoleColumns]) -> int:
        """Bulk upsert without comparison, one transaction per batch. In a database file each batch
        becomes a columnar segment (segments.py); the batch segments are merged into one sorted
        segment every ``_tier_rows`` edges and at the end (and all segments into one when more than
        ``_max_segments`` remain); a first batch of at most ``_table_max`` edges into a store that
        has roles goes to the table (an edit, logged edge by edge for the graph index's delta), and
        so do the small ones after it."""
        if self._segments is None:
            return self._load_table(batches)
        with self._lock:
            written = 0
            loaded = False  # once one batch of this load is a segment, the rest are too
            pending = 0  # edges in batch segments not merged yet
            for batch in batches:
                if not len(batch):
                    continue
                with self.transaction():
                    con = self._writer
                    if not loaded and len(batch) <= self._table_max and (self._segs(con) or self._has_table_roles()):
                        self._load_rows(batch, fresh=False)
                    else:
                        self._load_segment(batch)
                        loaded = True
                        pending += len(batch)
                written += len(batch)
                if pending >= self._tier_rows:
                    self._merge_segments(with_table=False, batches_only=True)
                    pending = 0
            if loaded:
                self._merge_segments(with_table=False, batches_only=True)
                if len(self._segs(self._writer)) > self._max_segments:
                    self._merge_segments(with_table=False)
        return written

    def _has_table_roles(self) -> bool:
        return bool(self._writer.execute("SELECT 1 FROM roles LIMIT 1").fetchone())

    def _load_segment(self, batch: RoleColumns) -> None:
        """Inside a write transaction: ``batch`` as a new segment, replacing the table rows and the
        tombstones of its edge ids (a later write wins)."""
        assert self._segments is not None
        import pyarrow as pa
        import pyarrow.compute as pc

        con = self._writer
        table = segments.table_of(batch)
        hiding = [r[0] for r in con.execute("SELECT eid FROM roles UNION SELECT eid FROM role_tombstones")]
        if hiding:
            ids = table.column("eid")
            again = ids.filter(pc.is_in(ids, value_set=pa.array(hiding, pa.large_string()))).to_pylist()
            con.executemany("DELETE FROM roles WHERE eid = ?", [(e,) for e in again])
            con.executemany("DELETE FROM role_tombstones WHERE eid = ?", [(e,) for e in again])
        self._seg_new.append(self._segments.write(con, table))
        self._roles_changed(None)

    def _merge_segments(self, with_table: bool, progress: Callable[[str], None] | None = None,
                        batches_only: bool = False) -> tuple[int, int]:
        """Merge every segment's visible rows (and the table's, ``with_table``; or only the newest
        segments not merged yet, ``batches_only``) into one segment sorted by organisation with its
        lookup arrays, registered in one commit that unregisters the others (a kill before it
        leaves them as they were). Returns (segments merged, rows)."""
        assert self._segments is not None
        with self.transaction():
            con = self._writer
            self._drop_files(self._seg_garbage)
            every = segs = self._segs(con)
            if batches_only:  # the newest run of batch segments: nothing newer can hide their rows
                merged_at = [i for i, seg in enumerate(segs) if seg.merged]
                segs = segs[merged_at[-1] + 1 :] if merged_at else segs
            if not segs and not (with_table and self._has_table_roles()):
                return 0, 0
            if progress:
                progress(f"reading {len(segs)} segments" + (" and the roles table" if with_table else ""))
            path, rows = self._segments.merge(con, segs, with_table, progress)
            self._seg_new.append(path)
            con.executemany("DELETE FROM role_segments WHERE name = ?", [(seg.name,) for seg in segs])
            self._seg_old += [seg.path for seg in segs]
            if len(segs) == len(every):  # the rows they hid are in no segment now
                con.execute("DELETE FROM role_tombstones")
            if with_table:
                con.execute("DELETE FROM roles")
                self._roles_changed(None)  # the log's edges are read from the table: restart it
        return len(segs), rows

    def compact_roles(self, progress: Callable[[str], None] | None = None) -> tuple[int, int, int]:
        """Fold the roles table (the delta, or every role of a store written before segments) and
        every segment into one segment, in one transaction (writers wait; readers do not). Returns
        (table rows folded, segments merged, edges in the segment)."""
        if self._segments is None:
            return 0, 0, 0
        with self.transaction():
            rows = self._writer.execute("SELECT count(*) FROM roles").fetchone()[0]
            merged, total = self._merge_segments(with_table=True, progress=progress)
        return rows, merged, total

    def _load_table(self, batches: Iterable[RoleColumns]) -> int:
        """The table-only bulk path (in-memory stores). Into an empty roles table the rows are
        appended with the secondary indexes dropped, and the indexes are rebuilt once at the end (a
        sort instead of a random B-tree insert per row and index)."""
        with self._lock:
            fresh = not self._read("SELECT 1 FROM roles LIMIT 1")
            if fresh:
                with self.transaction():
                    for name, _ in _ROLE_INDEXES:
                        self._writer.execute(f"DROP INDEX IF EXISTS {name}")
                    self._roles_changed(None)
            written = 0
            try:
                for batch in batches:
                    if not len(batch):
                        continue
                    with self.transaction():
                        self._load_rows(batch, fresh)
                    written += len(batch)
            finally:
                if fresh:
                    with self.transaction():
                        # An edge id appended twice (a later batch repeats it): the later row wins.
                        self._writer.execute("DELETE FROM roles WHERE rowid NOT IN "
                                             "(SELECT max(rowid) FROM roles GROUP BY eid)")
                        for _, create in _ROLE_INDEXES:
                            self._writer.execute(create)
                        self._roles_changed(None)
        return written

    def _load_rows(self, batch: RoleColumns, fresh: bool) -> None:
        """Inside a write transaction: ``batch`` into the roles table (appended when ``fresh``, else
        upserted), logged edge by edge when small."""
        cols = ", ".join(_ROLE.columns)
        marks = ", ".join("?" * len(_ROLE.columns))
        sql = f"INSERT INTO roles ({cols}) VALUES ({marks})"  # noqa: S608 - module constants
        if not fresh:
            updates = ", ".join(f"{c}=excluded.{c}" for c in _ROLE.columns[1:])
            sql += f" ON CONFLICT(eid) DO UPDATE SET {updates}"
        ids = batch.texts("edge_id")
        logged = not fresh and len(batch) <= _LOG_BATCH
        before_orgs = self._role_orgs(ids) if logged else []
        self._writer.executemany(sql, _role_rows(batch))
        self._roles_changed([*before_orgs, *zip(ids, batch.texts("org"), strict=True)] if logged else None)

    def delete_roles(self, edge_ids: Sequence[str]) -> int:
        """Delete table rows; an edge a segment holds gets a tombstone (it hides the segment's row)."""
        with self.transaction():
            gone = self._role_orgs(edge_ids)
            for i in range(0, len(edge_ids), _CHUNK):
                chunk = list(edge_ids[i : i + _CHUNK])
                self._writer.execute(
                    f"DELETE FROM roles WHERE eid IN ({','.join('?' * len(chunk))})", chunk  # noqa: S608
                )
            if segs := self._segs(self._writer):
                held = segments.present(segs, edge_ids)
                self._writer.executemany("INSERT OR IGNORE INTO role_tombstones (eid) VALUES (?)",
                                         [(e,) for e in sorted(held)])
            if gone:
                self._roles_changed(gone)
        return len(gone)

    def get_roles(self, edge_ids: Sequence[str]) -> dict[str, RoleEdge]:
        with self._view() as con:
            segs, hiding = self._seg_view(con)
            found = {e.edge_id: e for e in self._by(_ROLE, "eid", edge_ids, con=con)} if hiding != frozenset() else {}
            if segs:
                rest = [e for e in dict.fromkeys(edge_ids) if e not in found]
                found.update((r[0], _ROLE.from_row(r)) for r in segments.lookup(con, segs, "eid", rest, hiding=hiding))
        return found

    def roles_of(
        self, nodes: Sequence[str], direction: Direction = "both", as_of: date | None = None
    ) -> list[RoleEdge]:
        out = self._roles_sql(list(dict.fromkeys(nodes)), direction, as_of)
        out.sort(key=lambda e: (e.org, e.role, e.valid_from, e.holder))
        return out

    def _roles_sql(self, nodes: list[str], direction: Direction, as_of: date | None) -> list[RoleEdge]:
        extra, params = "", []
        day = as_of.toordinal() if as_of is not None else None
        if as_of is not None:
            extra = "AND vf <= ? AND (vt IS NULL OR vt > ?)"
            params = [day, day]
        out: list[RoleEdge] = []
        cols = ", ".join(_ROLE.columns)
        columns = {"in": ("org",), "out": ("holder",), "both": ("org", "holder")}[direction]
        with self._view() as con:
            segs, hiding = self._seg_view(con)
            if hiding != frozenset():  # the table holds rows (or may: inside a write, or too many to keep)
                for column in columns:
                    for i in range(0, len(nodes), _CHUNK):
                        chunk = nodes[i : i + _CHUNK]
                        sql = f"SELECT {cols} FROM roles WHERE {column} IN ({','.join('?' * len(chunk))}) {extra}"  # noqa: S608
                        out.extend(_ROLE.from_row(r) for r in con.execute(sql, [*chunk, *params]))
            if segs:
                out.extend(_ROLE.from_row(r) for r in segments.lookup(con, segs, columns, nodes, day, hiding))
        if direction == "both":
            out = list({e.edge_id: e for e in out}.values())
        return out

    def iter_roles(self) -> Iterator[RoleEdge]:
        """Every role edge in edge id order: the table's and the segments' visible rows merged."""
        if self._segments is None:
            return self._iter(_ROLE)
        return self._iter_roles()

    def _iter_roles(self) -> Iterator[RoleEdge]:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            con.execute("BEGIN")  # one snapshot of the table and the registry
            segs = self._segs(con)
            if not segs:
                yield from self._iter(_ROLE, con)
                return
            masks = segments.visible_masks(con, segs)
            runs: list[Iterator[tuple[Any, ...]]] = [self._rows(_ROLE, con)]
            runs += [_segment_run(seg, mask) for seg, mask in zip(segs, masks, strict=True)]
            for row in heapq.merge(*runs, key=lambda r: r[0]):
                yield _ROLE.from_row(row)
        finally:
            con.close()

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
                touched = {f.target for f in (*added, *removed)}
                self._writer.executemany("INSERT OR IGNORE INTO fact_log (gen, target) VALUES (?, ?)",
                                         [(gen + 1, t) for t in sorted(touched)])
                if (gen + 1) % 1024 == 0:
                    self._writer.execute("DELETE FROM fact_log WHERE gen <= ?", (gen + 1 - _FACT_LOG_KEEP,))
                    self._writer.execute("UPDATE meta SET v = max(v, ?) WHERE k = 'facts_log_from'",
                                         (gen + 1 - _FACT_LOG_KEEP,))
                with self._targets_lock:  # never held while taking another lock
                    known = self._facts
                    if known is not None and known.gen == gen:
                        fresh = {f.target for f in added} - known.targets
                        known.targets.update(fresh)
                        known.added += sorted(fresh)
                        known.gen = gen + 1
                start, _, before = self._txn_facts or (gen, gen, set())
                self._txn_facts = (start, gen + 1, before | touched)
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
                    if known is None or not self._follow_fact_log(known):
                        known = self._load_fact_targets()
                        self._facts = known
        return (gen, known) if known.gen == gen else None

    def _follow_fact_log(self, known: _FactTargets) -> bool:
        """Bring ``known`` up to the committed facts generation from the fact log (another process's
        writes): its targets gain the subjects given facts (a superset stays right, so the per-node
        flags follow ``added`` in place), and the spans, rows and decoded facts of every subject touched
        are dropped. False when the log no longer reaches back to ``known``'s generation."""
        if self.path == ":memory:":
            return False
        with self._snapshot() as con:
            meta = dict(con.execute("SELECT k, v FROM meta WHERE k IN ('facts_gen', 'facts_log_from')").fetchall())
            start, end = known.gen, int(meta["facts_gen"])
            if not int(meta["facts_log_from"]) <= start <= end:
                return False
            touched = sorted({t for (t,) in con.execute(
                "SELECT DISTINCT target FROM fact_log WHERE gen > ? AND gen <= ?", (start, end))})
            if len(touched) > _SPAN_CACHE:  # a recomputation elsewhere: reading every target is cheaper
                return False
            present: set[str] = set()
            for i in range(0, len(touched), _CHUNK):
                chunk = touched[i : i + _CHUNK]
                present.update(t for (t,) in con.execute(
                    f"SELECT DISTINCT target FROM facts WHERE target IN ({','.join('?' * len(chunk))})",  # noqa: S608
                    chunk))
        with self._targets_lock:
            if known.gen != start:  # this process's own commit relabelled it meanwhile: read again
                return False
            fresh = present - known.targets
            known.targets.update(fresh)
            known.added += sorted(fresh)
            known.forget(set(touched))
            known.gen = end
        self._carry_decoded(start, end, set(touched))
        return True

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
            known = self._facts
            kept = known.rows if known is not None and known.gen == gen else {}  # read with their spans
            for t in [t for t in missing if t in kept]:
                read[t] = [_FACT.from_row(r) for r in kept[t]]
            for f in self._by(_FACT, "target", [t for t in missing if t not in kept]):
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
        payload = _journal_rows(table, rows)
        if self._in_write():  # part of the caller's transaction
            return self._append_rows(payload)
        return self._appends.submit(payload)  # committed, durably, before this returns

    def append_later(self, table: JournalTable, rows: Iterable[dict[str, Any]]) -> Future[int]:
        """``append`` without blocking the caller: the future is done once the rows are committed."""
        return self._appends.submit_later(_journal_rows(table, rows))

    def _append_rows(self, payload: list[tuple[str, str, str]]) -> int:
        with self.transaction():
            before = self._writer.total_changes
            self._writer.executemany("INSERT OR IGNORE INTO journal (tbl, id, doc) VALUES (?, ?, ?)", payload)
            return self._writer.total_changes - before

    def update(self, table: JournalTable, row_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        check_journal_table(table)
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
        check_journal_table(table)
        sql = "SELECT doc FROM journal WHERE tbl = ?"
        params: list[Any] = [table]
        for key, value in (where or {}).items():
            sql += " AND json_extract(doc, ?) = ?"
            params += ["$." + check_field_name(key), value]
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [json.loads(r[0]) for r in self._read(sql, params)]

    def journal_page(self, table: JournalTable, before: int | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
        check_journal_table(table)
        rows = self._read("SELECT seq, doc FROM journal WHERE tbl = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                          [table, JOURNAL_END if before is None else int(before), int(limit)])
        return [(seq, json.loads(doc)) for seq, doc in rows]

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("organisations", "persons", "roles", "records", "events", "honours", "list_entries", "facts"):
            out[table] = self._read(f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608
        with self._view() as con:
            if segs := self._segs(con):  # one snapshot: the table's rows and the segments' visible rows
                out["roles"] = con.execute("SELECT count(*) FROM roles").fetchone()[0] + \
                    segments.visible_count(con, segs)
        for tbl in JOURNAL_TABLES:
            out[tbl] = self._read("SELECT count(*) FROM journal WHERE tbl = ?", (tbl,))[0][0]
        return out


def _segment_run(seg: Segment, mask: np.ndarray, step: int = 10_000) -> Iterator[tuple[Any, ...]]:
    """A segment's visible rows in edge id order, read a slice at a time."""
    rows = seg.lookup("eid").rows
    order = rows if rows is not None else np.arange(seg.rows, dtype=np.int64)
    for a in range(0, len(order), step):
        part = np.asarray(order[a : a + step])
        part = part[mask[part]]
        if len(part):
            yield from seg.tuples(part)


def _journal_rows(table: JournalTable, rows: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    check_journal_table(table)
    return [(table, str(r["id"]), json.dumps(r, ensure_ascii=False, default=str)) for r in rows]
