"""The embedded default store: SQLite in WAL mode on local disk.

Why SQLite: it ships with Python (nothing to install or run), a committed transaction survives
``kill -9`` (WAL, ``synchronous=FULL`` also survives power loss), and covering indexes on
``(org, ...)`` and ``(holder, ...)`` answer a one-hop neighbourhood as of a date in tens of
microseconds from a database far larger than memory, which is what a province (10^7
organisations) needs on one machine.

One writer connection serialises writes behind a lock; each reading thread has its own
connection, so readers see the last committed state and never a half-written transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

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
from .base import JOURNAL_TABLES, Direction, JournalTable, NotFound, WriteCounts

_CHUNK = 500  # keys per IN (...) lookup, under SQLite's parameter limit


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


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
    ("edge_id", "holder", "role", "org", "valid_from", "valid_to", "ratio", "subscribed_capital", "title"),
    lambda e: (
        e.edge_id, e.holder, e.role.value, e.org, _iso(e.valid_from), _iso(e.valid_to),
        e.ratio, e.subscribed_capital, e.title,
    ),
    lambda r: RoleEdge(
        holder=r[1], role=Role(r[2]), org=r[3], valid_from=date.fromisoformat(r[4]), valid_to=_d(r[5]),
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
        target_role=r[6], valid_from=date.fromisoformat(r[7]), valid_to=_d(r[8]), basis=tuple(json.loads(r[9])),
        edge_id=r[10], edge_from=_d(r[11]), edge_to=_d(r[12]), object_id=r[13], ended_by=r[14],
        suspended=tuple((date.fromisoformat(a), _d(b)) for a, b in json.loads(r[15])), jurisdiction=r[16],
        fact_id=r[0],
    ),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS organisations (
  code TEXT PRIMARY KEY, name TEXT NOT NULL, org_type TEXT NOT NULL, region TEXT NOT NULL,
  industry TEXT NOT NULL, registered_on TEXT, deregistered_on TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS organisations_region ON organisations(region, industry);
CREATE TABLE IF NOT EXISTS persons (
  key TEXT PRIMARY KEY, masked_id TEXT NOT NULL, name TEXT NOT NULL, region TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS roles (
  edge_id TEXT PRIMARY KEY, holder TEXT NOT NULL, role TEXT NOT NULL, org TEXT NOT NULL,
  valid_from TEXT NOT NULL, valid_to TEXT, ratio REAL, subscribed_capital REAL, title TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS roles_org ON roles(org, valid_from, valid_to, role, holder);
CREATE INDEX IF NOT EXISTS roles_holder ON roles(holder, valid_from, valid_to, role, org);
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


class SQLiteStore:
    """Durable embedded store in one SQLite file (``:memory:`` for throwaway use)."""

    name = "sqlite"

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._owner: int | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, across kill -9 and power loss.
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=OFF")
        con.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache per connection
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

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.path == ":memory:":
            with self._lock:
                return self._writer.execute(sql, params).fetchall()
        return self._con().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for con in self._readers:
                con.close()
            self._readers.clear()
            self._writer.close()

    # -- generic helpers ---------------------------------------------------------------------
    def _upsert(self, table: _Table, items: Sequence[Any]) -> WriteCounts:
        if not items:
            return WriteCounts()
        rows = {}
        for item in items:
            row = table.to_row(item)
            rows[row[0]] = row  # last one wins within a batch
        cols = ", ".join(table.columns)
        marks = ", ".join("?" * len(table.columns))
        updates = ", ".join(f"{c}=excluded.{c}" for c in table.columns[1:])
        sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) ON CONFLICT({table.key}) DO UPDATE SET {updates}"  # noqa: S608 - identifiers are module constants
        inserted = updated = unchanged = 0
        with self.transaction():
            con = self._writer
            existing = self._fetch_rows(con, table, list(rows))
            changed = []
            for key, row in rows.items():
                old = existing.get(key)
                if old is None:
                    inserted += 1
                elif old != row:
                    updated += 1
                else:
                    unchanged += 1
                    continue
                changed.append(row)
            con.executemany(sql, changed)
        return WriteCounts(inserted, updated, unchanged)

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

    # -- role edges --------------------------------------------------------------------------
    def put_roles(self, rows: Sequence[RoleEdge]) -> WriteCounts:
        return self._upsert(_ROLE, rows)

    def delete_roles(self, edge_ids: Sequence[str]) -> int:
        with self.transaction():
            n = 0
            for i in range(0, len(edge_ids), _CHUNK):
                chunk = list(edge_ids[i : i + _CHUNK])
                cur = self._writer.execute(
                    f"DELETE FROM roles WHERE edge_id IN ({','.join('?' * len(chunk))})", chunk  # noqa: S608
                )
                n += cur.rowcount
        return n

    def get_roles(self, edge_ids: Sequence[str]) -> dict[str, RoleEdge]:
        return {e.edge_id: e for e in self._by(_ROLE, "edge_id", edge_ids)}

    def roles_of(
        self, nodes: Sequence[str], direction: Direction = "both", as_of: date | None = None
    ) -> list[RoleEdge]:
        extra, params = "", []
        if as_of is not None:
            extra = "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
            params = [as_of.isoformat(), as_of.isoformat()]
        out: list[RoleEdge] = []
        cols = ", ".join(_ROLE.columns)
        nodes = list(dict.fromkeys(nodes))
        for column in {"in": ("org",), "out": ("holder",), "both": ("org", "holder")}[direction]:
            for i in range(0, len(nodes), _CHUNK):
                chunk = nodes[i : i + _CHUNK]
                sql = f"SELECT {cols} FROM roles WHERE {column} IN ({','.join('?' * len(chunk))}) {extra}"  # noqa: S608
                out.extend(_ROLE.from_row(r) for r in self._read(sql, [*chunk, *params]))
        if direction == "both":
            out = list({e.edge_id: e for e in out}.values())
        out.sort(key=lambda e: (e.org, e.role, e.valid_from, e.holder))
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
        return added, removed

    def get_facts(self, fact_ids: Sequence[str]) -> dict[str, DerivedFact]:
        return {f.fact_id: f for f in self._by(_FACT, "fact_id", fact_ids)}

    def facts_of(self, targets: Sequence[str]) -> list[DerivedFact]:
        return self._by(_FACT, "target", targets, order=("valid_from", "fact_id"))

    def facts_by_cause(self, causes: Sequence[Cause]) -> list[DerivedFact]:
        return self._by(_FACT, "cause", [str(c) for c in causes], order=("valid_from", "fact_id"))

    def iter_facts(self) -> Iterator[DerivedFact]:
        return self._iter(_FACT)

    def causes_touching(self, targets: Sequence[str]) -> list[Cause]:
        out: set[str] = set()
        targets = list(dict.fromkeys(targets))
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
