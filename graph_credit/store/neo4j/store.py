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
read by key takes the write lock of the ``(:Lock {key})`` node of the key's stripe ("record:<id>",
"subject:<key>", "cause:<id>", "list:<id>" hashed to one of 65,536) and the writes take the same
ones, so a second writer waits for the first to commit and then reads what it wrote
(cypher/locks_take.cypher).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import logging
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from neo4j import READ_ACCESS, Driver, GraphDatabase, ManagedTransaction, RoutingControl, Session, Transaction

from ...fields import EVENTS, FACTS, HONOURS, LIST_ENTRIES, ORGANISATIONS, PERSONS, RECORDS, ROLES, Kind
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
    Role,
    RoleEdge,
)
from ..base import (
    JOURNAL_END,
    JOURNAL_TABLES,
    Direction,
    JournalTable,
    NotFound,
    RoleColumns,
    SubjectKind,
    WriteCounts,
    check_field_name,
    check_journal_table,
)
from .cypher import schema_statements, statement
from .journal import _SEQ, _sql_equal, _sql_json_value, _sql_param

if TYPE_CHECKING:
    from .check_reads import CheckReads

__all__ = ["Neo4jStore"]

log = logging.getLogger(__name__)

_CHUNK = 1000  # rows per UNWIND batch and keys per IN list
_T = TypeVar("_T")
Row = dict[str, Any]


# -- the node kinds: fields from graph_credit.fields, statements by name ----------------------------
@dataclass(frozen=True)
class _Nodes(Generic[_T]):
    """How one kind is kept as nodes: its fields (``graph_credit.fields``), the statements that read it by key,
    merge it and read it all, and the lock a write takes on its keys (tests/test_cypher_files.py checks each
    statement's parameters)."""

    kind: Kind[_T]
    by_key: str
    keys: str  # the by-key statement's parameter
    merge: str  # takes $rows
    all: str | None  # none for events: they are read by cause
    lock: str | None = None


_ORGANISATIONS = _Nodes(ORGANISATIONS, "organisations_by_code", "codes", "organisations_merge", "organisations_all")
_PERSONS = _Nodes(PERSONS, "persons_by_key", "keys", "persons_merge", "persons_all")
_RECORDS = _Nodes(RECORDS, "records_by_id", "ids", "records_merge", "records_all", "record")
_EVENTS = _Nodes(EVENTS, "events_by_id", "ids", "events_merge", None)
_HONOURS = _Nodes(HONOURS, "honours_by_id", "ids", "honours_merge", "honours_all")
_LIST_ENTRIES = _Nodes(LIST_ENTRIES, "list_entries_by_id", "ids", "list_entries_merge", "list_entries_all", "list")
NODE_TABLES = (_ORGANISATIONS, _PERSONS, _RECORDS, _EVENTS, _HONOURS, _LIST_ENTRIES)
# A role is a relationship: its ends and type are the edge, the other fields its properties.
ROLE_ENDS = ("holder", "role", "org")
ROLE_PROPS = tuple(c for c in ROLES.columns if c not in ROLE_ENDS)


def _role_row(rec: Row) -> Row:
    """A role as stored: ``holder``, ``role``, ``org`` and the relationship's ``props``."""
    props = rec["props"]
    return {"holder": rec["holder"], "role": rec["role"], "org": rec["org"]} | {c: props.get(c) for c in ROLE_PROPS}


def _role(rec: Row) -> RoleEdge:
    return ROLES.from_row(_role_row(rec))



# -- small helpers ---------------------------------------------------------------------------------


def _unique(values: Iterable[_T]) -> list[_T]:
    return list(dict.fromkeys(values))


# One Lock node per key would add a node for every record, cause and subject ever written (tens of millions in
# a province) and never remove them. A key takes the lock of its stripe instead: at most _LOCK_STRIPES nodes,
# and two keys that share a stripe only wait for each other, which is safe.
_LOCK_STRIPES = 1 << 16


def lock_stripe(name: str) -> int:
    """The lock stripe of a key such as ``record:R1`` (a stable hash, the same in every process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") % _LOCK_STRIPES


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
        """Hold the write lock of the stripe of ``prefix:key`` for each key until the transaction ends (see
        cypher/locks_take.cypher). A read made inside a transaction takes the locks of what it reads
        by key, so a decision made on it (the record is new, the subject is not black-listed) still
        holds when the transaction writes; writes take the same locks. Stripes are locked in ascending
        order, which keeps two transactions locking the same keys from deadlocking each other.
        Outside a transaction (``run`` None and none open) there is nothing to hold a lock for."""
        if run is None:
            tx = self._tx()
            if tx is None:
                return
            run = _Runner(tx)
        stripes = sorted({lock_stripe(f"{prefix}:{k}") for k in keys})
        for chunk in _chunks(stripes):
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
        kind: Kind[Any],
        fetch: Callable[[_Runner, list[str]], list[Row]],
        write: Callable[[_Runner, list[Row]], object],
        locks: Callable[[_Runner], None] | None = None,
    ) -> WriteCounts:
        """Compare ``rows`` with what is stored (``fetch`` returns ``{"p": properties}`` records),
        write the new and changed ones, and count them as SQLiteStore does. ``locks`` takes the
        locks the write must hold (see ``_lock``) before anything is read."""
        if not rows:
            return WriteCounts()
        key, columns = kind.key, kind.columns

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

    # -- the node kinds, one way each ---------------------------------------------------------------
    def _put(self, nodes: _Nodes[_T], rows: Sequence[_T], locks: Callable[[_Runner, list[Row]], None] | None = None,
             ) -> WriteCounts:
        kind = nodes.kind
        keyed = _keyed(rows, kind.to_row, kind.key)

        def lock(run: _Runner) -> None:
            if nodes.lock is not None:
                self._lock(run, nodes.lock, keyed)
            if locks is not None:
                locks(run, list(keyed.values()))

        return self._upsert(
            keyed,
            kind,
            lambda run, keys: run.run(nodes.by_key, **{nodes.keys: keys}),
            lambda run, chunk: run.run(nodes.merge, rows=chunk),
            lock,
        )

    def _get(self, nodes: _Nodes[_T], keys: Sequence[str]) -> dict[str, _T]:
        if nodes.lock is not None:
            self._lock(None, nodes.lock, keys)  # does it exist, who owns it
        kind = nodes.kind
        found = self._props_by(keys, lambda chunk: self._read(nodes.by_key, **{nodes.keys: chunk}))
        return {row[kind.key]: kind.from_row(row) for row in found}

    def _iter(self, nodes: _Nodes[_T]) -> Iterator[_T]:
        assert nodes.all is not None
        return (nodes.kind.from_row(rec["p"]) for rec in self._stream(nodes.all))

    # -- subjects ----------------------------------------------------------------------------------
    def put_organisations(self, rows: Sequence[Organisation]) -> WriteCounts:
        return self._put(_ORGANISATIONS, rows)

    def put_persons(self, rows: Sequence[Person]) -> WriteCounts:
        return self._put(_PERSONS, rows)

    def get_organisations(self, codes: Sequence[str]) -> dict[str, Organisation]:
        return self._get(_ORGANISATIONS, codes)

    def get_persons(self, keys: Sequence[str]) -> dict[str, Person]:
        return self._get(_PERSONS, keys)

    def iter_organisations(self) -> Iterator[Organisation]:
        return self._iter(_ORGANISATIONS)

    def iter_persons(self) -> Iterator[Person]:
        return self._iter(_PERSONS)

    def search_subjects(
        self, text: str = "", region: str = "", industry: str = "", kind: SubjectKind | None = None,
        limit: int = 20, offset: int = 0,
    ) -> list[Organisation | Person]:
        rows = self._read("subjects_search", text=text.lower(), region=region, industry=industry or None,
                          organisations=kind != "person", persons=kind != "organisation" and not industry,
                          wanted=offset + limit, offset=offset, limit=limit)
        return [PERSONS.from_row(r["p"]) if r["person"] else ORGANISATIONS.from_row(r["p"]) for r in rows]

    # -- role edges ----------------------------------------------------------------------------------
    def put_roles(self, rows: Sequence[RoleEdge]) -> WriteCounts:
        items = _keyed(rows, ROLES.to_row, ROLES.key)
        if not items:
            return WriteCounts()

        def work(run: _Runner) -> WriteCounts:
            # The organisations' edges are what check_roles summed: lock them before reading.
            self._lock(run, "subject", (row["org"] for row in items.values()))
            existing: dict[str, Row] = {}
            for keys in _chunks(list(items)):
                for rec in run.run("roles_by_edge_id", edge_ids=keys):
                    old = _role_row(rec)
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
                            "props": {c: row[c] for c in ROLE_PROPS},
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
                edge = _role(rec)
                out[edge.edge_id] = edge
        return out

    def roles_of(
        self, nodes: Sequence[str], direction: Direction = "both", as_of: date | None = None
    ) -> list[RoleEdge]:
        if direction not in ("in", "out", "both"):
            raise KeyError(direction)
        when = as_of.isoformat() if as_of is not None else None
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
            edge = _role(rec)
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
        return (_role(rec) for rec in heapq.merge(*streams, key=lambda rec: rec["props"]["edge_id"]))

    # -- records, events, honours, list entries --------------------------------------------------------
    def put_records(self, rows: Sequence[DishonestyRecord]) -> WriteCounts:
        return self._put(_RECORDS, rows)

    def get_records(self, ids: Sequence[str]) -> dict[str, DishonestyRecord]:
        return self._get(_RECORDS, ids)

    def records_of(self, subjects: Sequence[str]) -> list[DishonestyRecord]:
        found = self._props_by(subjects, lambda chunk: self._read("records_of_subjects", subjects=chunk))
        return sorted(map(RECORDS.from_row, found), key=lambda r: (r.decision_date, r.record_id))

    def iter_records(self) -> Iterator[DishonestyRecord]:
        return self._iter(_RECORDS)

    def put_events(self, rows: Sequence[RecordEvent]) -> WriteCounts:
        return self._put(_EVENTS, rows, lambda run, new: self._lock(run, "cause", [row["cause_id"] for row in new]))

    def events_of(self, cause_ids: Sequence[str]) -> list[RecordEvent]:
        self._lock(None, "cause", cause_ids)  # the lifecycle a new event is validated against
        found = self._props_by(cause_ids, lambda chunk: self._read("events_of_causes", cause_ids=chunk))
        return sorted(map(EVENTS.from_row, found), key=lambda e: (e.on, e.event_id))

    def put_honours(self, rows: Sequence[Honour]) -> WriteCounts:
        return self._put(_HONOURS, rows)

    def honours_of(self, holders: Sequence[str]) -> list[Honour]:
        found = self._props_by(holders, lambda chunk: self._read("honours_of_holders", holders=chunk))
        return sorted(map(HONOURS.from_row, found), key=lambda h: (h.awarded_on, h.honour_id))

    def iter_honours(self) -> Iterator[Honour]:
        return self._iter(_HONOURS)

    def put_list_entries(self, rows: Sequence[ListEntry]) -> WriteCounts:
        # the red / black cross-check (P5) reads the subject's facts: serialise on the subject
        return self._put(_LIST_ENTRIES, rows, lambda run, new: self._lock(run, "subject", (r["subject"] for r in new)))

    def get_list_entries(self, ids: Sequence[str]) -> dict[str, ListEntry]:
        return self._get(_LIST_ENTRIES, ids)

    def list_entries_of(self, subjects: Sequence[str]) -> list[ListEntry]:
        found = self._props_by(subjects, lambda chunk: self._read("list_entries_of_subjects", subjects=chunk))
        return sorted(map(LIST_ENTRIES.from_row, found), key=lambda e: (e.valid_from, e.entry_id))

    def iter_list_entries(self) -> Iterator[ListEntry]:
        return self._iter(_LIST_ENTRIES)

    # -- derived facts -----------------------------------------------------------------------------------
    def replace_facts(
        self, cause: Cause, facts: Sequence[DerivedFact]
    ) -> tuple[list[DerivedFact], list[DerivedFact]]:
        def work(run: _Runner) -> tuple[list[DerivedFact], list[DerivedFact]]:
            # Two replacements of one cause must not both read the old set: the second would keep
            # facts the first removed, or delete what it added.
            self._lock(run, "cause", [str(cause)])
            stored = [FACTS.from_row(rec["p"]) for rec in run.run("facts_of_causes", causes=[str(cause)])]
            old = {f.fact_id: f for f in sorted(stored, key=lambda f: f.fact_id)}
            new = {f.fact_id: f for f in facts}
            removed = [f for k, f in old.items() if k not in new]
            added = [f for k, f in new.items() if old.get(k) != f]
            for chunk in _chunks([f.fact_id for f in removed]):
                run.run("facts_delete", fact_ids=chunk)
            for rows in _chunks([FACTS.to_row(f) for f in added]):
                run.run("facts_merge", rows=rows)
            return added, removed

        return self._unit(work)

    def get_facts(self, fact_ids: Sequence[str]) -> dict[str, DerivedFact]:
        found = self._props_by(fact_ids, lambda chunk: self._read("facts_by_id", fact_ids=chunk))
        return {f.fact_id: f for f in map(FACTS.from_row, found)}

    def facts_of(self, targets: Sequence[str]) -> list[DerivedFact]:
        self._lock(None, "subject", targets)  # e.g. the P5 check before a red list entry
        found = self._props_by(targets, lambda chunk: self._read("facts_of_targets", targets=chunk))
        return sorted(map(FACTS.from_row, found), key=lambda f: (f.valid_from, f.fact_id))

    def facts_by_cause(self, causes: Sequence[Cause]) -> list[DerivedFact]:
        keys = [str(c) for c in causes]
        self._lock(None, "cause", keys)
        found = self._props_by(keys, lambda chunk: self._read("facts_of_causes", causes=chunk))
        return sorted(map(FACTS.from_row, found), key=lambda f: (f.valid_from, f.fact_id))

    def iter_facts(self) -> Iterator[DerivedFact]:
        return (FACTS.from_row(rec["p"]) for rec in self._stream("facts_all"))

    def causes_touching(self, targets: Sequence[str]) -> list[Cause]:
        out: set[str] = set()
        for chunk in _chunks(_unique(targets)):
            out.update(rec["cause"] for rec in self._read("causes_of_targets", targets=chunk))
        return [Cause.parse(c) for c in sorted(out)]

    # -- journal -------------------------------------------------------------------------------------------
    def append(self, table: JournalTable, rows: Iterable[dict[str, Any]]) -> int:
        check_journal_table(table)
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
        check_journal_table(table)
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
        check_journal_table(table)
        conditions = [(check_field_name(k), _sql_param(v)) for k, v in (where or {}).items()]
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

    def journal_page(self, table: JournalTable, before: int | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
        check_journal_table(table)
        rows = self._read("journal_page", tbl=table, before=JOURNAL_END if before is None else int(before),
                          limit=int(limit))
        return [(int(r["seq"]), json.loads(r["doc"])) for r in rows]

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
            as_of=as_of.isoformat(),
            depth=depth,
            cap=max_fanout,
            lead_role=Role.LEGAL_REPRESENTATIVE.value,
            record_prefix="record:",  # facts name their cause "record:<id>" (model.Cause)
        )
        from .check_reads import CheckReads  # which reads the store's own converters

        return CheckReads(self, rows, as_of, depth, max_fanout)
