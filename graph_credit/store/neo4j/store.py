"""The Neo4j store: the same ``Store`` contract as SQLiteStore, on Neo4j 5 through the official driver.

Graph shape
-----------
* ``(:Subject:Organisation {id, code, name, ...})`` and ``(:Subject:Person {id, key, masked_id, ...})``:
  every subject carries ``:Subject {id}`` (its USCC or person key) so a role holder can be found by
  key whatever it is. A key a role edge refers to before its subject is stored gets a
  ``:Placeholder`` node, labelled by the shape of the key (``graph_credit.ids.is_person_key``);
  placeholders are invisible to ``get_*``, ``iter_*`` and ``counts()`` until the subject is put, and
  putting it removes the other kind's label.
* Role edges are relationships ``(holder)-[:LEGAL_REPRESENTATIVE|PRINCIPAL|... {edge_id, valid_from,
  valid_to, ratio, subscribed_capital, title}]->(organisation)``; the relationship type is the role,
  and each type's ``edge_id`` is unique (a constraint).
* ``:DishonestyRecord``, ``:RecordEvent``, ``:Honour``, ``:ListEntry`` and ``:DerivedFact`` nodes refer
  to their subject, cause or target by key property (indexed), as the SQLite store's rows do: no
  statement would read a relationship to them, so none is written (and writing one would lock the
  subject node, a hub for a busy subject). Journal rows are ``(:Journal {tbl, id, seq, doc})``
  with the row as JSON text.
* Dates are ISO ``YYYY-MM-DD`` strings, which order and compare exactly as dates, so as-of filters
  read ``valid_from <= $as_of AND (valid_to IS NULL OR valid_to > $as_of)``. Tuples (a record's
  responsible persons, a fact's basis and suspensions) are JSON text, as in the SQLite store.
  ``graph_credit.io.export_neo4j_admin`` writes files ``neo4j-admin`` loads into this same shape.

Statements
----------
Every statement is a file in ``cypher/`` (see ``graph_credit.store.neo4j.cypher``), run by name with its
values as parameters; the parameter names must match the file's exactly. The constraints and
indexes (``cypher/schema.cypher``) are applied once by ``graph-credit init-schema``.

Transactions and a cluster
--------------------------
Reads outside a transaction go through ``driver.execute_query`` routed to readers (followers on a
cluster), a managed read the driver retries on transient errors. A write made of several
statements is one managed write transaction (``session.execute_write``), retried likewise.
``atomic(work)`` runs a whole engine write (a record and everything derived from it) as one
managed write transaction, re-run from the start on a transient error (a deadlock, a leader
change). ``transaction()`` opens an explicit transaction per thread for the block (not
retriable); inside ``atomic`` it joins the managed one. Every session shares the driver's
``execute_query`` bookmark manager, so within one process a read after a commit sees it wherever
it is served.

Neo4j runs transactions at read committed, so a check-then-write (is the record new, which
department owns it, is the subject on a black list) is made safe with locks: inside a transaction a
read by key takes the write lock of a ``(:Lock {key})`` node per key ("record:<id>",
"subject:<key>", "cause:<id>", "list:<id>") and the writes take the same ones, so a second writer
waits for the first to commit and then reads what it wrote (cypher/locks_take.cypher).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

from neo4j import READ_ACCESS, Driver, GraphDatabase, ManagedTransaction, RoutingControl, Session, Transaction

from ...ids import is_person_key
from ...model import (
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
from ..base import (
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
from .cypher import schema_statements, statement

__all__ = ["CheckReads", "Neo4jStore"]

log = logging.getLogger(__name__)

_CHUNK = 1000  # rows per UNWIND batch and keys per IN list
_T = TypeVar("_T")
Row = dict[str, Any]


# -- conversions between the model and node / relationship properties ---------------------------


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


ORG_COLUMNS = ("code", "name", "org_type", "region", "industry", "registered_on", "deregistered_on")
PERSON_COLUMNS = ("key", "masked_id", "name", "region")
ROLE_COLUMNS = ("edge_id", "valid_from", "valid_to", "ratio", "subscribed_capital", "title")
RECORD_COLUMNS = (
    "record_id",
    "subject",
    "category",
    "severity",
    "decision_date",
    "act_date",
    "document_no",
    "department",
    "basis",
    "period_end",
    "responsible",
    "jurisdiction",
)
EVENT_COLUMNS = ("event_id", "cause_id", "kind", "on_date", "by", "detail")
HONOUR_COLUMNS = ("honour_id", "holder", "title", "awarding_body", "awarded_on")
LIST_COLUMNS = (
    "entry_id",
    "subject",
    "list",
    "name",
    "determining_unit",
    "basis",
    "valid_from",
    "valid_to",
    "publicity_from",
    "publicity_to",
    "status",
)
FACT_COLUMNS = (
    "fact_id",
    "cause",
    "rule_id",
    "rule_version",
    "consequence",
    "target",
    "target_role",
    "valid_from",
    "valid_to",
    "basis",
    "edge_id",
    "edge_from",
    "edge_to",
    "object_id",
    "ended_by",
    "suspended",
    "jurisdiction",
)
"""The properties each kind is stored with (tests/test_cypher_files.py checks them against the schema)."""


def _org_props(o: Organisation) -> Row:
    return {
        "code": o.code,
        "name": o.name,
        "org_type": o.org_type,
        "region": o.region,
        "industry": o.industry,
        "registered_on": _iso(o.registered_on),
        "deregistered_on": _iso(o.deregistered_on),
    }


def _org(p: Row) -> Organisation:
    return Organisation(
        p["code"],
        p["name"],
        p["org_type"],
        p["region"],
        p["industry"],
        _d(p.get("registered_on")),
        _d(p.get("deregistered_on")),
    )


def _person_props(x: Person) -> Row:
    return {"key": x.key, "masked_id": x.masked_id, "name": x.name, "region": x.region}


def _person(p: Row) -> Person:
    # A database loaded from export_neo4j_admin holds no names or regions of persons.
    return Person(p["key"], p["masked_id"], p.get("name") or "", p.get("region") or "")


def _role_flat(e: RoleEdge) -> Row:
    return {
        "edge_id": e.edge_id,
        "holder": e.holder,
        "role": Role(e.role).value,
        "org": e.org,
        "valid_from": _iso(e.valid_from),
        "valid_to": _iso(e.valid_to),
        "ratio": _float(e.ratio),
        "subscribed_capital": _float(e.subscribed_capital),
        "title": e.title,
    }


def _role_flat_from(rec: Row) -> Row:
    """A role as stored: ``holder``, ``role``, ``org`` and the relationship's ``props``."""
    props = rec["props"]
    return {"holder": rec["holder"], "role": rec["role"], "org": rec["org"]} | {
        c: props.get(c) for c in ROLE_COLUMNS
    }


def _role(flat: Row) -> RoleEdge:
    return RoleEdge(
        holder=flat["holder"],
        role=Role(flat["role"]),
        org=flat["org"],
        valid_from=date.fromisoformat(flat["valid_from"]),
        valid_to=_d(flat["valid_to"]),
        ratio=flat["ratio"],
        subscribed_capital=flat["subscribed_capital"],
        title=flat["title"],
        edge_id=flat["edge_id"],
    )


def _record_props(x: DishonestyRecord) -> Row:
    return {
        "record_id": x.record_id,
        "subject": x.subject,
        "category": x.category,
        "severity": x.severity,
        "decision_date": _iso(x.decision_date),
        "act_date": _iso(x.act_date),
        "document_no": x.document_no,
        "department": x.department,
        "basis": x.basis,
        "period_end": _iso(x.period_end),
        "responsible": json.dumps([[r.person, r.role.value if r.role else None] for r in x.responsible]),
        "jurisdiction": x.jurisdiction,
    }


def _record(p: Row) -> DishonestyRecord:
    return DishonestyRecord(
        record_id=p["record_id"],
        subject=p["subject"],
        category=p["category"],
        severity=p["severity"],
        decision_date=date.fromisoformat(p["decision_date"]),
        act_date=_d(p.get("act_date")),
        document_no=p["document_no"],
        department=p["department"],
        basis=p["basis"],
        period_end=_d(p.get("period_end")),
        responsible=tuple(
            Responsible(q, Role(role) if role else None) for q, role in json.loads(p["responsible"])
        ),
        jurisdiction=p["jurisdiction"],
    )


def _event_props(e: RecordEvent) -> Row:
    return {
        "event_id": e.event_id,
        "cause_id": e.cause_id,
        "kind": e.kind,
        "on_date": _iso(e.on),
        "by": e.by,
        "detail": e.detail,
    }


def _event(p: Row) -> RecordEvent:
    return RecordEvent(
        cause_id=p["cause_id"],
        kind=p["kind"],
        on=date.fromisoformat(p["on_date"]),
        by=p["by"],
        detail=p["detail"],
        event_id=p["event_id"],
    )


def _honour_props(h: Honour) -> Row:
    return {
        "honour_id": h.honour_id,
        "holder": h.holder,
        "title": h.title,
        "awarding_body": h.awarding_body,
        "awarded_on": _iso(h.awarded_on),
    }


def _honour(p: Row) -> Honour:
    return Honour(
        p["honour_id"], p["holder"], p["title"], p["awarding_body"], date.fromisoformat(p["awarded_on"])
    )


def _list_props(e: ListEntry) -> Row:
    return {
        "entry_id": e.entry_id,
        "subject": e.subject,
        "list": e.list,
        "name": e.name,
        "determining_unit": e.determining_unit,
        "basis": e.basis,
        "valid_from": _iso(e.valid_from),
        "valid_to": _iso(e.valid_to),
        "publicity_from": _iso(e.publicity_from),
        "publicity_to": _iso(e.publicity_to),
        "status": e.status,
    }


def _list_entry(p: Row) -> ListEntry:
    return ListEntry(
        p["entry_id"],
        p["subject"],
        p["list"],
        p["name"],
        p["determining_unit"],
        p["basis"],
        date.fromisoformat(p["valid_from"]),
        _d(p.get("valid_to")),
        _d(p.get("publicity_from")),
        _d(p.get("publicity_to")),
        p["status"],
    )


def _fact_props(f: DerivedFact) -> Row:
    return {
        "fact_id": f.fact_id,
        "cause": str(f.cause),
        "rule_id": f.rule_id,
        "rule_version": f.rule_version,
        "consequence": f.consequence,
        "target": f.target,
        "target_role": f.target_role,
        "valid_from": _iso(f.valid_from),
        "valid_to": _iso(f.valid_to),
        "basis": json.dumps(list(f.basis), ensure_ascii=False),
        "edge_id": f.edge_id,
        "edge_from": _iso(f.edge_from),
        "edge_to": _iso(f.edge_to),
        "object_id": f.object_id,
        "ended_by": f.ended_by,
        "suspended": json.dumps([[_iso(a), _iso(b)] for a, b in f.suspended]),
        "jurisdiction": f.jurisdiction,
    }


def _fact(p: Row) -> DerivedFact:
    return DerivedFact(
        cause=Cause.parse(p["cause"]),
        rule_id=p["rule_id"],
        rule_version=p["rule_version"],
        consequence=p["consequence"],
        target=p["target"],
        target_role=p["target_role"],
        valid_from=date.fromisoformat(p["valid_from"]),
        valid_to=_d(p.get("valid_to")),
        basis=tuple(json.loads(p["basis"])),
        edge_id=p.get("edge_id"),
        edge_from=_d(p.get("edge_from")),
        edge_to=_d(p.get("edge_to")),
        object_id=p.get("object_id"),
        ended_by=p.get("ended_by"),
        suspended=tuple((date.fromisoformat(a), _d(b)) for a, b in json.loads(p["suspended"])),
        jurisdiction=p["jurisdiction"],
        fact_id=p["fact_id"],
    )


# -- small helpers ---------------------------------------------------------------------------------


def _unique(values: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(values))


def _chunks(values: Sequence[_T], size: int = _CHUNK) -> Iterator[list[_T]]:
    for i in range(0, len(values), size):
        yield list(values[i : i + size])


def _keyed(items: Iterable[Any], to_props: Callable[[Any], Row], key: str) -> dict[str, Row]:
    """Rows by key, the last one winning within a batch (as in SQLiteStore)."""
    rows: dict[str, Row] = {}
    for item in items:
        row = to_props(item)
        rows[row[key]] = row
    return rows


def _stored(p: Row, columns: Sequence[str]) -> Row:
    """A node's properties in the shape ``to_props`` gives (an absent property reads as None)."""
    return {c: p.get(c) for c in columns}


def _diff(rows: dict[str, Row], existing: dict[str, Row]) -> tuple[WriteCounts, list[Row]]:
    inserted = updated = unchanged = 0
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
    return WriteCounts(inserted, updated, unchanged), changed


def _check_table(table: str) -> None:
    if table not in JOURNAL_TABLES:
        raise ValueError(f"unknown journal table {table!r}")


def _json_key(key: str) -> str:
    if not key.replace("_", "").isalnum():
        raise ValueError(f"invalid field name {key!r}")
    return key


# The journal filter matches SQLiteStore's ``json_extract(doc, '$.key') = ?`` exactly: JSON true /
# false read as 1 / 0, arrays and objects as their compact JSON text, a missing field or null
# matches nothing (SQL NULL), and text never equals a number.


def _sql_json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _sql_param(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bytes):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, datetime):
        return value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"unsupported filter value type {type(value).__name__}")


def _sql_equal(field: Any, value: Any) -> bool:
    if field is None or value is None:
        return False
    if isinstance(field, str | bytes) or isinstance(value, str | bytes):
        return type(field) is type(value) and field == value
    return bool(field == value)


class _Runner:
    """Runs named statements in one transaction (explicit or managed)."""

    __slots__ = ("_tx",)

    def __init__(self, tx: Transaction | ManagedTransaction) -> None:
        self._tx = tx

    def run(self, name: str, **params: Any) -> list[Row]:
        stmt = statement(name)
        stmt.check(params)
        return [record.data() for record in self._tx.run(stmt.text, params)]


class _SeqClock:
    """Journal sequence numbers: the wall clock in nanoseconds, never going back within a process.
    Rows appended by different API processes interleave by time; no shared counter node is written
    (one would serialise every audited read of the whole deployment)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> int:
        with self._lock:
            base = max(time.time_ns(), self._last + 1)
            self._last = base + n - 1
            return base


_SEQ = _SeqClock()


class Neo4jStore:
    """``Store`` on a Neo4j 5 database (``neo4j://``, ``neo4j+s://``, ``bolt://`` ...).

    Connecting applies no schema: an operator runs ``graph-credit init-schema`` once per database
    (it needs schema privileges, which the service's own user need not have)."""

    name = "neo4j"
    # An import commits batch by batch (Engine.import_dir): a province in one transaction would be
    # gigabytes of transaction state on the server.
    import_in_batches = True

    def __init__(
        self,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        database: str | None = None,
        *,
        driver: Driver | None = None,
    ) -> None:
        """``driver``: an already built driver (tests pass one that records the statements run)."""
        self.uri = uri
        self.database = database
        self._driver: Driver = driver or GraphDatabase.driver(uri, auth=(user, password))
        self._local = threading.local()
        try:
            self._driver.verify_connectivity()
        except BaseException:
            self._driver.close()
            raise

    @property
    def driver(self) -> Driver:
        return self._driver

    def apply_schema(self, timeout_seconds: int = 300) -> None:
        """Create the constraints and indexes of ``cypher/schema.cypher`` (IF NOT EXISTS) and wait
        for them to come online (``graph-credit init-schema``)."""
        for text in schema_statements():
            self._driver.execute_query(text, database_=self.database)
        self._write("await_indexes", timeout_seconds=timeout_seconds)

    def close(self) -> None:
        self._driver.close()

    # -- running statements ----------------------------------------------------------------------
    def _session(self, **config: Any) -> Session:
        # One bookmark manager for every session and execute_query: on a cluster a read after a
        # commit of this process sees it, whichever member serves it (causal consistency).
        return self._driver.session(
            database=self.database, bookmark_manager=self._driver.execute_query_bookmark_manager, **config
        )

    def _tx(self) -> Transaction | ManagedTransaction | None:
        return getattr(self._local, "tx", None)

    def _read(self, name: str, **params: Any) -> list[Row]:
        """A read: in this thread's transaction if one is open, else routed to a reader (a
        follower on a cluster) as a managed read, retried on transient errors."""
        tx = self._tx()
        if tx is not None:
            return _Runner(tx).run(name, **params)
        stmt = statement(name)
        stmt.check(params)
        result = self._driver.execute_query(
            stmt.text, params, routing_=RoutingControl.READ, database_=self.database
        )
        return [record.data() for record in result.records]

    def _write(self, name: str, **params: Any) -> list[Row]:
        tx = self._tx()
        if tx is not None:
            return _Runner(tx).run(name, **params)
        stmt = statement(name)
        stmt.check(params)
        result = self._driver.execute_query(
            stmt.text, params, routing_=RoutingControl.WRITE, database_=self.database
        )
        return [record.data() for record in result.records]

    def _unit(self, work: Callable[[_Runner], _T]) -> _T:
        """Run several statements atomically: in this thread's open transaction, else in one
        managed write transaction (re-run from the start on a transient error)."""
        tx = self._tx()
        if tx is not None:
            return work(_Runner(tx))
        with self._session() as session:
            return session.execute_write(lambda mtx: work(_Runner(mtx)))

    def _stream(self, name: str, **params: Any) -> Generator[Row, None, None]:
        """Rows of a (long) read as they arrive instead of all at once."""
        stmt = statement(name)
        stmt.check(params)
        tx = self._tx()
        if tx is not None:
            return (record.data() for record in tx.run(stmt.text, params))
        return self._stream_session(stmt.text, params)

    def _stream_session(self, text: str, params: Row) -> Generator[Row, None, None]:
        with self._session(default_access_mode=READ_ACCESS) as session:
            for record in session.run(text, params):
                yield record.data()

    def _lock(self, run: _Runner | None, prefix: str, keys: Iterable[str]) -> None:
        """Hold the write lock of ``prefix:key`` for each key until the transaction ends (see
        cypher/locks_take.cypher). A read made inside a transaction takes the locks of what it reads
        by key, so a decision made on it (the record is new, the subject is not black-listed) still
        holds when the transaction writes; writes take the same locks. Keys are locked in sorted
        order, which keeps two transactions locking the same keys from deadlocking each other.
        Outside a transaction (``run`` None and none open) there is nothing to hold a lock for."""
        if run is None:
            tx = self._tx()
            if tx is None:
                return
            run = _Runner(tx)
        names = sorted({f"{prefix}:{k}" for k in keys})
        for chunk in _chunks(names):
            run.run("locks_take", keys=chunk)

    def atomic(self, work: Callable[[], _T]) -> _T:
        """Run ``work()`` in one managed write transaction, re-run from the start when Neo4j reports a
        transient error (a deadlock, a leader change on a cluster): ``work`` must be idempotent and
        keep its effects inside the store. Store calls it makes, and ``transaction()`` blocks inside
        it, join the transaction. Inside a transaction already open, ``work`` simply joins it.
        Callers reach it through ``graph_credit.store.base.atomic``."""
        if self._tx() is not None:
            return work()
        local = self._local

        def unit(tx: ManagedTransaction) -> _T:
            local.tx, local.depth = tx, 1  # as if an outer transaction() block were open
            try:
                return work()
            finally:
                local.tx, local.depth = None, 0

        with self._session() as session:
            return session.execute_write(unit)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An explicit transaction for the block (nested blocks join it). It cannot be re-run on a
        transient error, since the block is not a function: writes that should be use ``atomic``."""
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            session = self._session()
            try:
                local.tx = session.begin_transaction()
            except BaseException:
                session.close()
                raise
            local.session = session
        local.depth = depth + 1
        try:
            yield
        except BaseException:
            local.depth -= 1
            if local.depth == 0:
                self._end(commit=False)
            raise
        local.depth -= 1
        if local.depth == 0:
            self._end(commit=True)

    def _end(self, commit: bool) -> None:
        local = self._local
        tx: Transaction = local.tx
        session: Session = local.session
        local.tx = local.session = None
        try:
            if commit:
                tx.commit()
            else:
                try:
                    tx.rollback()
                except Exception:  # the block's own exception is the one to report
                    log.warning("rollback failed", exc_info=True)
        finally:
            session.close()

    # -- generic upsert ------------------------------------------------------------------------------
    def _upsert(
        self,
        rows: dict[str, Row],
        columns: Sequence[str],
        fetch: Callable[[_Runner, list[str]], list[Row]],
        write: Callable[[_Runner, list[Row]], object],
        locks: Callable[[_Runner], None] | None = None,
    ) -> WriteCounts:
        """Compare ``rows`` with what is stored (``fetch`` returns ``{"p": properties}`` records),
        write the new and changed ones, and count them as SQLiteStore does. ``locks`` takes the
        locks the write must hold (see ``_lock``) before anything is read."""
        if not rows:
            return WriteCounts()
        key = columns[0]

        def work(run: _Runner) -> WriteCounts:
            if locks is not None:
                locks(run)
            existing: dict[str, Row] = {}
            for keys in _chunks(list(rows)):
                for rec in fetch(run, keys):
                    old = _stored(rec["p"], columns)
                    existing[old[key]] = old
            counts, changed = _diff(rows, existing)
            for batch in _chunks(changed):
                write(run, batch)
            return counts

        return self._unit(work)

    def _ensure_subjects(self, run: _Runner, keys: Iterable[str]) -> None:
        keys = _unique(keys)
        persons = [k for k in keys if is_person_key(k)]
        organisations = [k for k in keys if not is_person_key(k)]
        for chunk in _chunks(persons):
            run.run("subjects_ensure", persons=chunk, organisations=[])
        for chunk in _chunks(organisations):
            run.run("subjects_ensure", persons=[], organisations=chunk)

    def _props_by(self, values: Sequence[str], read: Callable[[list[str]], list[Row]]) -> list[Row]:
        out: list[Row] = []
        for chunk in _chunks(_unique(values)):
            out.extend(rec["p"] for rec in read(chunk))
        return out

    # -- subjects ----------------------------------------------------------------------------------
    def put_organisations(self, rows: Sequence[Organisation]) -> WriteCounts:
        return self._upsert(
            _keyed(rows, _org_props, "code"),
            ORG_COLUMNS,
            lambda run, keys: run.run("organisations_by_code", codes=keys),
            lambda run, chunk: run.run("organisations_merge", rows=chunk),
        )

    def put_persons(self, rows: Sequence[Person]) -> WriteCounts:
        return self._upsert(
            _keyed(rows, _person_props, "key"),
            PERSON_COLUMNS,
            lambda run, keys: run.run("persons_by_key", keys=keys),
            lambda run, chunk: run.run("persons_merge", rows=chunk),
        )

    def get_organisations(self, codes: Sequence[str]) -> dict[str, Organisation]:
        found = self._props_by(codes, lambda chunk: self._read("organisations_by_code", codes=chunk))
        return {o.code: o for o in map(_org, found)}

    def get_persons(self, keys: Sequence[str]) -> dict[str, Person]:
        found = self._props_by(keys, lambda chunk: self._read("persons_by_key", keys=chunk))
        return {p.key: p for p in map(_person, found)}

    def iter_organisations(self) -> Iterator[Organisation]:
        return (_org(rec["p"]) for rec in self._stream("organisations_all"))

    def iter_persons(self) -> Iterator[Person]:
        return (_person(rec["p"]) for rec in self._stream("persons_all"))

    def search_subjects(
        self, text: str = "", region: str = "", industry: str = "", kind: SubjectKind | None = None,
        limit: int = 20, offset: int = 0,
    ) -> list[Organisation | Person]:
        rows = self._read("subjects_search", text=text.lower(), region=region, industry=industry or None,
                          organisations=kind != "person", persons=kind != "organisation" and not industry,
                          wanted=offset + limit, offset=offset, limit=limit)
        return [_person(r["p"]) if r["person"] else _org(r["p"]) for r in rows]

    # -- role edges ----------------------------------------------------------------------------------
    def put_roles(self, rows: Sequence[RoleEdge]) -> WriteCounts:
        items = _keyed(rows, _role_flat, "edge_id")
        if not items:
            return WriteCounts()

        def work(run: _Runner) -> WriteCounts:
            # The organisations' edges are what check_roles summed: lock them before reading.
            self._lock(run, "subject", (row["org"] for row in items.values()))
            existing: dict[str, Row] = {}
            for keys in _chunks(list(items)):
                for rec in run.run("roles_by_edge_id", edge_ids=keys):
                    old = _role_flat_from(rec)
                    existing[old["edge_id"]] = old
            counts, changed = _diff(items, existing)
            # A relationship's type and ends cannot change: a changed edge is deleted and created anew.
            replaced = [row["edge_id"] for row in changed if row["edge_id"] in existing]
            for keys in _chunks(replaced):
                run.run("roles_delete", edge_ids=keys)
            self._ensure_subjects(run, [k for row in changed for k in (row["holder"], row["org"])])
            for batch in _chunks(changed):
                by_role: dict[str, list[Row]] = {role.value: [] for role in Role}
                for row in batch:
                    by_role[row["role"]].append(
                        {
                            "holder": row["holder"],
                            "org": row["org"],
                            "props": {c: row[c] for c in ROLE_COLUMNS},
                        }
                    )
                run.run(
                    "roles_create",
                    legal_representative=by_role[Role.LEGAL_REPRESENTATIVE],
                    principal=by_role[Role.PRINCIPAL],
                    senior_manager=by_role[Role.SENIOR_MANAGER],
                    director=by_role[Role.DIRECTOR],
                    supervisor=by_role[Role.SUPERVISOR],
                    shareholder=by_role[Role.SHAREHOLDER],
                    practitioner=by_role[Role.PRACTITIONER],
                )
            return counts

        return self._unit(work)

    def load_roles(self, batches: Iterable[RoleColumns]) -> int:
        """Each batch through ``put_roles`` (batched UNWIND writes, one transaction per batch)."""
        loaded = 0
        for batch in batches:
            self.put_roles(batch.edges())
            loaded += len(batch)
        return loaded

    def delete_roles(self, edge_ids: Sequence[str]) -> int:
        ids = _unique(edge_ids)
        if not ids:
            return 0

        def work(run: _Runner) -> int:
            # one count per role type (the statement's UNION ALL branches)
            return sum(int(rec["deleted"]) for chunk in _chunks(ids) for rec in run.run("roles_delete", edge_ids=chunk))

        return self._unit(work)

    def get_roles(self, edge_ids: Sequence[str]) -> dict[str, RoleEdge]:
        out: dict[str, RoleEdge] = {}
        for chunk in _chunks(_unique(edge_ids)):
            for rec in self._read("roles_by_edge_id", edge_ids=chunk):
                edge = _role(_role_flat_from(rec))
                out[edge.edge_id] = edge
        return out

    def roles_of(
        self, nodes: Sequence[str], direction: Direction = "both", as_of: date | None = None
    ) -> list[RoleEdge]:
        if direction not in ("in", "out", "both"):
            raise KeyError(direction)
        when = _iso(as_of) if as_of is not None else None
        if direction == "in":  # an organisation's edges read in a transaction: check_roles decides on them
            self._lock(None, "subject", nodes)
        records: list[Row] = []
        for chunk in _chunks(_unique(nodes)):
            if direction in ("in", "both"):
                records.extend(self._read("roles_into", nodes=chunk, as_of=when))
            if direction in ("out", "both"):
                records.extend(self._read("roles_out_of", nodes=chunk, as_of=when))
        edges = {}
        for rec in records:
            edge = _role(_role_flat_from(rec))
            edges[edge.edge_id] = edge
        return sorted(edges.values(), key=lambda e: (e.org, e.role, e.valid_from, e.holder, e.edge_id))

    def iter_roles(self) -> Iterator[RoleEdge]:
        # Each type's edges arrive in edge_id order from its index; merging the seven streams keeps
        # the server from sorting every edge (reading the first edge reads seven rows).
        streams = (
            self._stream("roles_all_legal_representative"),
            self._stream("roles_all_principal"),
            self._stream("roles_all_senior_manager"),
            self._stream("roles_all_director"),
            self._stream("roles_all_supervisor"),
            self._stream("roles_all_shareholder"),
            self._stream("roles_all_practitioner"),
        )
        return (_role(_role_flat_from(rec)) for rec in heapq.merge(*streams, key=lambda rec: rec["props"]["edge_id"]))

    # -- records, events, honours, list entries --------------------------------------------------------
    def put_records(self, rows: Sequence[DishonestyRecord]) -> WriteCounts:
        keyed = _keyed(rows, _record_props, "record_id")
        keys = list(keyed)
        return self._upsert(
            keyed,
            RECORD_COLUMNS,
            lambda run, keys: run.run("records_by_id", ids=keys),
            lambda run, chunk: run.run("records_merge", rows=chunk),
            lambda run: self._lock(run, "record", keys),
        )

    def get_records(self, ids: Sequence[str]) -> dict[str, DishonestyRecord]:
        self._lock(None, "record", ids)  # does it exist, which department owns it
        found = self._props_by(ids, lambda chunk: self._read("records_by_id", ids=chunk))
        return {r.record_id: r for r in map(_record, found)}

    def records_of(self, subjects: Sequence[str]) -> list[DishonestyRecord]:
        found = self._props_by(subjects, lambda chunk: self._read("records_of_subjects", subjects=chunk))
        return sorted(map(_record, found), key=lambda r: (r.decision_date, r.record_id))

    def iter_records(self) -> Iterator[DishonestyRecord]:
        return (_record(rec["p"]) for rec in self._stream("records_all"))

    def put_events(self, rows: Sequence[RecordEvent]) -> WriteCounts:
        causes = [e.cause_id for e in rows]
        return self._upsert(
            _keyed(rows, _event_props, "event_id"),
            EVENT_COLUMNS,
            lambda run, keys: run.run("events_by_id", ids=keys),
            lambda run, chunk: run.run("events_merge", rows=chunk),
            lambda run: self._lock(run, "cause", causes),
        )

    def events_of(self, cause_ids: Sequence[str]) -> list[RecordEvent]:
        self._lock(None, "cause", cause_ids)  # the lifecycle a new event is validated against
        found = self._props_by(cause_ids, lambda chunk: self._read("events_of_causes", cause_ids=chunk))
        return sorted(map(_event, found), key=lambda e: (e.on, e.event_id))

    def put_honours(self, rows: Sequence[Honour]) -> WriteCounts:
        return self._upsert(
            _keyed(rows, _honour_props, "honour_id"),
            HONOUR_COLUMNS,
            lambda run, keys: run.run("honours_by_id", ids=keys),
            lambda run, chunk: run.run("honours_merge", rows=chunk),
        )

    def honours_of(self, holders: Sequence[str]) -> list[Honour]:
        found = self._props_by(holders, lambda chunk: self._read("honours_of_holders", holders=chunk))
        return sorted(map(_honour, found), key=lambda h: (h.awarded_on, h.honour_id))

    def iter_honours(self) -> Iterator[Honour]:
        return (_honour(rec["p"]) for rec in self._stream("honours_all"))

    def put_list_entries(self, rows: Sequence[ListEntry]) -> WriteCounts:
        keyed = _keyed(rows, _list_props, "entry_id")

        def locks(run: _Runner) -> None:
            self._lock(run, "list", keyed)
            # the red / black cross-check (P5) reads the subject's facts: serialise on the subject
            self._lock(run, "subject", (row["subject"] for row in keyed.values()))

        return self._upsert(
            keyed,
            LIST_COLUMNS,
            lambda run, keys: run.run("list_entries_by_id", ids=keys),
            lambda run, chunk: run.run("list_entries_merge", rows=chunk),
            locks,
        )

    def get_list_entries(self, ids: Sequence[str]) -> dict[str, ListEntry]:
        self._lock(None, "list", ids)
        found = self._props_by(ids, lambda chunk: self._read("list_entries_by_id", ids=chunk))
        return {e.entry_id: e for e in map(_list_entry, found)}

    def list_entries_of(self, subjects: Sequence[str]) -> list[ListEntry]:
        found = self._props_by(subjects, lambda chunk: self._read("list_entries_of_subjects", subjects=chunk))
        return sorted(map(_list_entry, found), key=lambda e: (e.valid_from, e.entry_id))

    def iter_list_entries(self) -> Iterator[ListEntry]:
        return (_list_entry(rec["p"]) for rec in self._stream("list_entries_all"))

    # -- derived facts -----------------------------------------------------------------------------------
    def replace_facts(
        self, cause: Cause, facts: Sequence[DerivedFact]
    ) -> tuple[list[DerivedFact], list[DerivedFact]]:
        def work(run: _Runner) -> tuple[list[DerivedFact], list[DerivedFact]]:
            # Two replacements of one cause must not both read the old set: the second would keep
            # facts the first removed, or delete what it added.
            self._lock(run, "cause", [str(cause)])
            stored = [_fact(rec["p"]) for rec in run.run("facts_of_causes", causes=[str(cause)])]
            old = {f.fact_id: f for f in sorted(stored, key=lambda f: f.fact_id)}
            new = {f.fact_id: f for f in facts}
            removed = [f for k, f in old.items() if k not in new]
            added = [f for k, f in new.items() if old.get(k) != f]
            for chunk in _chunks([f.fact_id for f in removed]):
                run.run("facts_delete", fact_ids=chunk)
            for rows in _chunks([_fact_props(f) for f in added]):
                run.run("facts_merge", rows=rows)
            return added, removed

        return self._unit(work)

    def get_facts(self, fact_ids: Sequence[str]) -> dict[str, DerivedFact]:
        found = self._props_by(fact_ids, lambda chunk: self._read("facts_by_id", fact_ids=chunk))
        return {f.fact_id: f for f in map(_fact, found)}

    def facts_of(self, targets: Sequence[str]) -> list[DerivedFact]:
        self._lock(None, "subject", targets)  # e.g. the P5 check before a red list entry
        found = self._props_by(targets, lambda chunk: self._read("facts_of_targets", targets=chunk))
        return sorted(map(_fact, found), key=lambda f: (f.valid_from, f.fact_id))

    def facts_by_cause(self, causes: Sequence[Cause]) -> list[DerivedFact]:
        keys = [str(c) for c in causes]
        self._lock(None, "cause", keys)
        found = self._props_by(keys, lambda chunk: self._read("facts_of_causes", causes=chunk))
        return sorted(map(_fact, found), key=lambda f: (f.valid_from, f.fact_id))

    def iter_facts(self) -> Iterator[DerivedFact]:
        return (_fact(rec["p"]) for rec in self._stream("facts_all"))

    def causes_touching(self, targets: Sequence[str]) -> list[Cause]:
        out: set[str] = set()
        for chunk in _chunks(_unique(targets)):
            out.update(rec["cause"] for rec in self._read("causes_of_targets", targets=chunk))
        return [Cause.parse(c) for c in sorted(out)]

    # -- journal -------------------------------------------------------------------------------------------
    def append(self, table: JournalTable, rows: Iterable[dict[str, Any]]) -> int:
        _check_table(table)
        payload = [(str(r["id"]), json.dumps(r, ensure_ascii=False, default=str)) for r in rows]
        docs: dict[str, str] = {}
        for row_id, doc in payload:  # repeats within the batch: the first one counts
            docs.setdefault(row_id, doc)
        if not docs:
            return 0
        base = _SEQ.take(len(docs))
        new = [{"id": row_id, "seq": base + i, "doc": doc} for i, (row_id, doc) in enumerate(docs.items())]

        def work(run: _Runner) -> int:
            return sum(int(run.run("journal_append", tbl=table, rows=batch)[0]["created"]) for batch in _chunks(new))

        return self._unit(work)

    def update(self, table: JournalTable, row_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        _check_table(table)
        key = str(row_id)

        def work(run: _Runner) -> dict[str, Any]:
            found = run.run("journal_lock_doc", tbl=table, id=key)
            if not found:
                raise NotFound(f"{table}/{row_id}")
            doc = json.loads(found[0]["doc"]) | changes
            run.run(
                "journal_set_doc", tbl=table, id=key, doc=json.dumps(doc, ensure_ascii=False, default=str)
            )
            return dict(doc)

        return self._unit(work)

    def query(
        self, table: JournalTable, where: dict[str, Any] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        _check_table(table)
        conditions = [(_json_key(k), _sql_param(v)) for k, v in (where or {}).items()]
        cap = None if limit is None or int(limit) < 0 else int(limit)  # SQLite: a negative LIMIT is none
        out: list[dict[str, Any]] = []
        if cap == 0:
            return out
        with contextlib.closing(self._stream("journal_rows", tbl=table)) as rows:
            for rec in rows:
                doc = json.loads(rec["doc"])
                if all(_sql_equal(_sql_json_value(doc.get(k)), v) for k, v in conditions):
                    out.append(doc)
                    if cap is not None and len(out) >= cap:
                        break
        return out

    def counts(self) -> dict[str, int]:
        found = self._read("counts")[0]
        out = {
            k: int(found[k])
            for k in (
                "organisations",
                "persons",
                "roles",
                "records",
                "events",
                "honours",
                "list_entries",
                "facts",
            )
        }
        per_table = {rec["tbl"]: int(rec["n"]) for rec in self._read("journal_counts")}
        for tbl in JOURNAL_TABLES:
            out[tbl] = per_table.get(tbl, 0)
        return out

    # -- the approval check's reads ----------------------------------------------------------------------
    def check_reads(
        self, subjects: Sequence[str], as_of: date, depth: int = 2, max_fanout: int = 200
    ) -> CheckReads | None:
        """Everything ``checks.check_many`` reads about ``subjects`` (their nodes, facts, records and
        events, related parties to ``depth`` as of the date, cut at ``max_fanout`` edges per node,
        and those parties' facts) in ONE statement, cypher/check_reads.cypher; None beyond depth 2,
        where the generic traversal (one ``roles_of`` per hop) takes over."""
        if depth > 2:
            return None
        keys = _unique(subjects)
        rows = self._read(
            "check_reads",
            subjects=keys,
            as_of=_iso(as_of),
            depth=depth,
            cap=max_fanout,
            lead_role=Role.LEGAL_REPRESENTATIVE.value,
            record_prefix="record:",  # facts name their cause "record:<id>" (model.Cause)
        )
        return CheckReads(self, rows, as_of, depth, max_fanout)


class CheckReads:
    """The answer of cypher/check_reads.cypher, read like a store: ``get_organisations``,
    ``get_persons``, ``facts_of``, ``get_records``, ``records_of``, ``events_of`` and ``traverse`` answer from it
    for the subjects it was built for (and ``facts_of`` for every node reached); anything else goes
    to the store. The traversal replays ``risk.neighbourhood`` on the per-node edge lists the server
    sent, already ordered and cut at the fan-out cap, so distances, paths and truncation are the
    ones the generic traversal finds."""

    def __init__(self, store: Neo4jStore, rows: list[Row], as_of: date, depth: int, max_fanout: int) -> None:
        self._store = store
        self.name = store.name
        self._key = (as_of, depth, max_fanout)
        self._orgs: dict[str, Organisation] = {}
        self._persons: dict[str, Person] = {}
        self._facts: dict[str, list[DerivedFact]] = {}
        self._records: dict[str, list[DishonestyRecord]] = {}
        self._by_id: dict[str, DishonestyRecord] = {}  # the subjects' records and those behind their facts
        self._events: dict[str, list[RecordEvent]] = {}
        self._traversals: dict[str, Traversal] = {}
        seen: set[str] = set()
        for row in rows:
            subject = row["subject"]
            if row["node"] is not None:
                if row["organisation"]:
                    self._orgs[subject] = _org(row["node"])
                else:
                    self._persons[subject] = _person(row["node"])
            facts = [_fact(p) for p in row["facts"]]
            records = [_record(p) for p in row["records"]]
            self._records[subject] = records
            self._by_id.update((r.record_id, r) for r in records)
            self._by_id.update((r.record_id, r) for r in map(_record, row.get("cause_records") or ()))
            for e in map(_event, row["events"]):
                self._events.setdefault(e.cause_id, []).append(e)
            for r in records:
                self._events.setdefault(r.record_id, [])
            trav = _replay(subject, row, depth, max_fanout)
            for n in trav.distance:
                self._facts.setdefault(n, [])
            for f in facts:  # a node reached from several subjects of the batch comes in several rows
                if f.fact_id not in seen:
                    seen.add(f.fact_id)
                    self._facts[f.target].append(f)
            trav.candidates = [n for n in trav.distance if n != subject and self._facts.get(n)]
            self._traversals[subject] = trav

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_organisations(self, codes: Sequence[str]) -> dict[str, Organisation]:
        if all(c in self._records for c in codes):
            return {c: self._orgs[c] for c in codes if c in self._orgs}
        return self._store.get_organisations(codes)

    def get_persons(self, keys: Sequence[str]) -> dict[str, Person]:
        if all(k in self._records for k in keys):
            return {k: self._persons[k] for k in keys if k in self._persons}
        return self._store.get_persons(keys)

    def facts_of(self, targets: Sequence[str]) -> list[DerivedFact]:
        if not all(t in self._facts for t in targets):
            return self._store.facts_of(targets)
        found = [f for t in _unique(targets) for f in self._facts[t]]
        return sorted(found, key=lambda f: (f.valid_from, f.fact_id))

    def get_records(self, ids: Sequence[str]) -> dict[str, DishonestyRecord]:
        if not all(i in self._by_id for i in ids):
            return self._store.get_records(ids)
        return {i: self._by_id[i] for i in ids}

    def records_of(self, subjects: Sequence[str]) -> list[DishonestyRecord]:
        if not all(s in self._records for s in subjects):
            return self._store.records_of(subjects)
        found = [r for s in _unique(subjects) for r in self._records[s]]
        return sorted(found, key=lambda r: (r.decision_date, r.record_id))

    def events_of(self, cause_ids: Sequence[str]) -> list[RecordEvent]:
        if not all(c in self._events for c in cause_ids):
            return self._store.events_of(cause_ids)
        found = [e for c in _unique(cause_ids) for e in self._events[c]]
        return sorted(found, key=lambda e: (e.on, e.event_id))

    def traverse(
        self, origins: Sequence[str], as_of: date, depth: int, max_fanout: int
    ) -> list[Traversal] | None:
        if (as_of, depth, max_fanout) != self._key or not all(o in self._traversals for o in origins):
            return None
        return [self._traversals[o] for o in origins]


def _replay(origin: str, row: Row, depth: int, cap: int) -> Traversal:
    """``risk._neighbourhood`` on the edge lists of check_reads.cypher (see ``CheckReads``)."""
    distance = {origin: 0}
    parent: dict[str, tuple[str, int]] = {}
    followed: list[RoleEdge] = []
    edges: dict[str, RoleEdge] = {}
    truncated: dict[str, int] = {}

    def follow(node: str, listed: list[Row], total: int, hop: int) -> list[str]:
        if total > cap:
            truncated[node] = total - cap
        reached = []
        for rec in listed:
            e = _role(_role_flat_from(rec))
            edges[e.edge_id] = e
            other = e.org if e.holder == node else e.holder
            if other not in distance:
                distance[other] = hop
                parent[other] = (node, len(followed))
                followed.append(e)
                reached.append(other)
        return reached

    frontier = follow(origin, row["near_edges"], int(row["near_total"]), 1) if depth > 0 else []
    if depth > 1:
        far = {hop["node"]: hop for hop in row["far"]}
        for node in frontier:
            if node in far:
                follow(node, far[node]["edges"], int(far[node]["total"]), 2)

    def edge(handle: int) -> TraversedEdge:
        e = followed[handle]
        return TraversedEdge(e.edge_id, Role(e.role).value, e.holder, e.org, e.valid_from, e.valid_to, e.ratio)

    return Traversal(distance, parent, edge, edges, truncated)
