"""The Neo4j store: the same ``Store`` contract as SQLiteStore, on Neo4j 5 through the official driver.

Graph shape
-----------
* ``(:Subject:Organisation {id, code, name, ...})`` and ``(:Subject:Person {id, key, ...})``: every
  subject carries ``:Subject {id}`` (its USCC or person key) so a holder can be found by key
  whatever it is. A key referred to before its subject is stored (a role holder, a record subject)
  gets a ``:Placeholder`` node, labelled by the shape of the key (``graph_credit.ids.is_person_key``);
  placeholders are invisible to ``get_*``, ``iter_*`` and ``counts()`` until the subject is put.
* Role edges are relationships ``(holder)-[:LEGAL_REPRESENTATIVE|PRINCIPAL|... {edge_id, valid_from,
  valid_to, ratio, subscribed_capital, title}]->(organisation)``; the relationship type is the role.
* ``(:DishonestyRecord)-[:CONCERNS]->(subject)``, ``(:ListEntry)-[:LISTS]->(subject)``,
  ``(:Honour)-[:AWARDED_TO]->(subject)``, ``(:DerivedFact)-[:TARGETS]->(subject)``; events are
  ``(:RecordEvent {cause_id})`` nodes (their cause may arrive later). Journal rows are
  ``(:Journal {tbl, id, seq, doc})`` with the row as JSON text; ``:JournalCounter`` hands out ``seq``.
* Dates are ISO ``YYYY-MM-DD`` strings, which order and compare exactly as dates, so as-of filters
  read ``valid_from <= $as_of AND (valid_to IS NULL OR valid_to > $as_of)``. Tuples (a record's
  responsible persons, a fact's basis and suspensions) are JSON text, as in the SQLite store.

Statements
----------
Every statement is a file in ``cypher/`` (see ``graph_credit.store.cypher``), run by name with its
values as parameters; the parameter names must match the file's exactly.

Transactions
------------
Reads run through ``driver.execute_query`` (routed to readers) and single-statement writes through
``execute_query`` too; a write made of several statements (an upsert reads what is there, then
writes what changed) is one managed transaction (``session.execute_write``). Both are retried on
transient errors. ``transaction()`` opens one explicit transaction per thread on first entry; every
store call made inside the block on that thread runs in it; it commits when the outermost block
exits and rolls back if an exception leaves it. Sessions share the driver's ``execute_query``
bookmark manager, so a read after a commit sees it (causal consistency on a cluster).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

from neo4j import READ_ACCESS, Driver, GraphDatabase, ManagedTransaction, RoutingControl, Session, Transaction

from ..ids import is_person_key
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
from .base import JOURNAL_TABLES, Direction, JournalTable, NotFound, RoleColumns, SubjectKind, WriteCounts
from .cypher import schema_statements, statement

__all__ = ["Neo4jStore"]

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
    return Person(p["key"], p["masked_id"], p["name"], p["region"])


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


class Neo4jStore:
    """``Store`` on a Neo4j 5 database (``neo4j://``, ``neo4j+s://``, ``bolt://`` ...)."""

    name = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        database: str | None = None,
        *,
        apply_schema: bool = True,
    ) -> None:
        self.uri = uri
        self.database = database
        self._driver: Driver = GraphDatabase.driver(uri, auth=(user, password))
        self._local = threading.local()
        try:
            self._driver.verify_connectivity()
            if apply_schema:
                self.apply_schema()
        except BaseException:
            self._driver.close()
            raise

    @property
    def driver(self) -> Driver:
        return self._driver

    def apply_schema(self, timeout_seconds: int = 300) -> None:
        """Create the constraints and indexes of ``cypher/schema.cypher`` (IF NOT EXISTS) and wait
        for them to come online."""
        for text in schema_statements():
            self._driver.execute_query(text, database_=self.database)
        self._write("await_indexes", timeout_seconds=timeout_seconds)

    def close(self) -> None:
        self._driver.close()

    # -- running statements ----------------------------------------------------------------------
    def _session(self, **config: Any) -> Session:
        return self._driver.session(
            database=self.database, bookmark_manager=self._driver.execute_query_bookmark_manager, **config
        )

    def _tx(self) -> Transaction | None:
        return getattr(self._local, "tx", None)

    def _read(self, name: str, **params: Any) -> list[Row]:
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

    @contextmanager
    def transaction(self) -> Iterator[None]:
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
        subject: str | None = None,
    ) -> WriteCounts:
        """Compare ``rows`` with what is stored (``fetch`` returns ``{"p": properties}`` records),
        write the new and changed ones, and count them as SQLiteStore does. ``subject`` names the
        property holding the subject a row links to."""
        if not rows:
            return WriteCounts()
        key = columns[0]

        def work(run: _Runner) -> WriteCounts:
            existing: dict[str, Row] = {}
            for keys in _chunks(list(rows)):
                for rec in fetch(run, keys):
                    old = _stored(rec["p"], columns)
                    existing[old[key]] = old
            counts, changed = _diff(rows, existing)
            if subject is not None:
                self._ensure_subjects(run, [row[subject] for row in changed])
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
            return sum(int(run.run("roles_delete", edge_ids=chunk)[0]["deleted"]) for chunk in _chunks(ids))

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
        return (_role(_role_flat_from(rec)) for rec in self._stream("roles_all"))

    # -- records, events, honours, list entries --------------------------------------------------------
    def put_records(self, rows: Sequence[DishonestyRecord]) -> WriteCounts:
        return self._upsert(
            _keyed(rows, _record_props, "record_id"),
            RECORD_COLUMNS,
            lambda run, keys: run.run("records_by_id", ids=keys),
            lambda run, chunk: run.run("records_merge", rows=chunk),
            subject="subject",
        )

    def get_records(self, ids: Sequence[str]) -> dict[str, DishonestyRecord]:
        found = self._props_by(ids, lambda chunk: self._read("records_by_id", ids=chunk))
        return {r.record_id: r for r in map(_record, found)}

    def records_of(self, subjects: Sequence[str]) -> list[DishonestyRecord]:
        found = self._props_by(subjects, lambda chunk: self._read("records_of_subjects", subjects=chunk))
        return sorted(map(_record, found), key=lambda r: (r.decision_date, r.record_id))

    def iter_records(self) -> Iterator[DishonestyRecord]:
        return (_record(rec["p"]) for rec in self._stream("records_all"))

    def put_events(self, rows: Sequence[RecordEvent]) -> WriteCounts:
        return self._upsert(
            _keyed(rows, _event_props, "event_id"),
            EVENT_COLUMNS,
            lambda run, keys: run.run("events_by_id", ids=keys),
            lambda run, chunk: run.run("events_merge", rows=chunk),
        )

    def events_of(self, cause_ids: Sequence[str]) -> list[RecordEvent]:
        found = self._props_by(cause_ids, lambda chunk: self._read("events_of_causes", cause_ids=chunk))
        return sorted(map(_event, found), key=lambda e: (e.on, e.event_id))

    def put_honours(self, rows: Sequence[Honour]) -> WriteCounts:
        return self._upsert(
            _keyed(rows, _honour_props, "honour_id"),
            HONOUR_COLUMNS,
            lambda run, keys: run.run("honours_by_id", ids=keys),
            lambda run, chunk: run.run("honours_merge", rows=chunk),
            subject="holder",
        )

    def honours_of(self, holders: Sequence[str]) -> list[Honour]:
        found = self._props_by(holders, lambda chunk: self._read("honours_of_holders", holders=chunk))
        return sorted(map(_honour, found), key=lambda h: (h.awarded_on, h.honour_id))

    def iter_honours(self) -> Iterator[Honour]:
        return (_honour(rec["p"]) for rec in self._stream("honours_all"))

    def put_list_entries(self, rows: Sequence[ListEntry]) -> WriteCounts:
        return self._upsert(
            _keyed(rows, _list_props, "entry_id"),
            LIST_COLUMNS,
            lambda run, keys: run.run("list_entries_by_id", ids=keys),
            lambda run, chunk: run.run("list_entries_merge", rows=chunk),
            subject="subject",
        )

    def get_list_entries(self, ids: Sequence[str]) -> dict[str, ListEntry]:
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
            stored = [_fact(rec["p"]) for rec in run.run("facts_of_causes", causes=[str(cause)])]
            old = {f.fact_id: f for f in sorted(stored, key=lambda f: f.fact_id)}
            new = {f.fact_id: f for f in facts}
            removed = [f for k, f in old.items() if k not in new]
            added = [f for k, f in new.items() if old.get(k) != f]
            for chunk in _chunks([f.fact_id for f in removed]):
                run.run("facts_delete", fact_ids=chunk)
            if added:
                self._ensure_subjects(run, [f.target for f in added])
                for rows in _chunks([_fact_props(f) for f in added]):
                    run.run("facts_merge", rows=rows)
            return added, removed

        return self._unit(work)

    def get_facts(self, fact_ids: Sequence[str]) -> dict[str, DerivedFact]:
        found = self._props_by(fact_ids, lambda chunk: self._read("facts_by_id", fact_ids=chunk))
        return {f.fact_id: f for f in map(_fact, found)}

    def facts_of(self, targets: Sequence[str]) -> list[DerivedFact]:
        found = self._props_by(targets, lambda chunk: self._read("facts_of_targets", targets=chunk))
        return sorted(map(_fact, found), key=lambda f: (f.valid_from, f.fact_id))

    def facts_by_cause(self, causes: Sequence[Cause]) -> list[DerivedFact]:
        keys = [str(c) for c in causes]
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
        if not payload:
            return 0

        def work(run: _Runner) -> int:
            base = int(run.run("journal_reserve", tbl=table, n=len(payload))[0]["base"])
            seen: set[str] = set()
            for chunk in _chunks(_unique(row_id for row_id, _ in payload)):
                seen.update(rec["id"] for rec in run.run("journal_existing_ids", tbl=table, ids=chunk))
            new: list[Row] = []
            for row_id, doc in payload:  # existing ids, and repeats within the batch, are ignored
                if row_id not in seen:
                    seen.add(row_id)
                    new.append({"id": row_id, "seq": base + len(new) + 1, "doc": doc})
            for batch in _chunks(new):
                run.run("journal_create", tbl=table, rows=batch)
            return len(new)

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
