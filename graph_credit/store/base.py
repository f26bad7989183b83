"""The backend-neutral store interface.

A store persists subjects, dated role edges, records and their lifecycle events, honours, list
entries, derived facts, cases with their feedback items and the audit log. It answers the few
primitive reads the engine needs (edges around a set of nodes as of a date, records and facts of a
set of subjects). It knows nothing of the rules: those live in ``graph_credit.engine``.

Writes are idempotent upserts keyed by natural ids. ``transaction()`` groups writes so that a
record and everything derived from it become visible together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple, Protocol, TypeAlias, TypeVar, cast, runtime_checkable

import numpy as np
import pyarrow as pa

from ..errors import DomainError
from ..model import (
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

Direction = Literal["in", "out", "both"]
SubjectKind = Literal["organisation", "person"]


@dataclass(frozen=True, slots=True)
class WriteCounts:
    """What an upsert batch did: rows new, rows changed, rows already identical."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.inserted + other.inserted, self.updated + other.updated, self.unchanged + other.unchanged
        )


class NotFound(DomainError, KeyError):
    """A referenced subject, record, edge or case does not exist (a KeyError too, for lookups that expect one)."""

    code, status = "not_found", 404


Texts: TypeAlias = Sequence[str] | pa.Array | pa.ChunkedArray  # a text column of RoleColumns


@dataclass(frozen=True)
class RoleColumns:
    """A batch of role edges as parallel columns, for bulk loading (``Store.load_roles``).

    Dates are day ordinals (``date.toordinal()``), ``valid_to`` 0 for an open end; ``ratio`` and
    ``subscribed_capital`` are NaN when absent; ``role`` holds ``Role`` values. The text columns
    are sequences of ``str`` or Arrow string arrays (the bulk import's, so no Python string is
    made per row before the store needs one): read them through ``texts`` or ``texts_of``.
    """

    edge_id: Texts
    holder: Texts
    role: Texts
    org: Texts
    valid_from: np.ndarray
    valid_to: np.ndarray
    ratio: np.ndarray
    subscribed_capital: np.ndarray
    title: Texts

    def __len__(self) -> int:
        return len(self.edge_id)

    def texts(self, name: str) -> list[str]:
        """A text column as Python strings."""
        return texts_of(getattr(self, name))

    def take(self, idx: np.ndarray) -> RoleColumns:
        """The rows ``idx`` (positions) of the batch."""
        if len(idx) == len(self) and (idx == np.arange(len(self))).all():
            return self

        def pick(values: Texts) -> Texts:
            if isinstance(values, pa.Array | pa.ChunkedArray):
                return values.take(pa.array(idx, pa.int64()))
            return [values[i] for i in idx.tolist()]

        return RoleColumns(
            edge_id=pick(self.edge_id), holder=pick(self.holder), role=pick(self.role), org=pick(self.org),
            valid_from=self.valid_from[idx], valid_to=self.valid_to[idx], ratio=self.ratio[idx],
            subscribed_capital=self.subscribed_capital[idx], title=pick(self.title),
        )

    def edges(self) -> list[RoleEdge]:
        """The batch as ``RoleEdge`` objects (for backends without a columnar path)."""
        from ..model import Role

        return [
            RoleEdge(h, Role(r), o, date.fromordinal(f), date.fromordinal(t) if t > 0 else None,
                     None if q != q else q, None if c != c else c, ti, eid)
            for eid, h, r, o, f, t, q, c, ti in zip(
                self.texts("edge_id"), self.texts("holder"), self.texts("role"), self.texts("org"),
                np.asarray(self.valid_from).tolist(), np.asarray(self.valid_to).tolist(),
                np.asarray(self.ratio, dtype=float).tolist(), np.asarray(self.subscribed_capital, dtype=float).tolist(),
                self.texts("title"), strict=True,
            )
        ]


def texts_of(values: Texts) -> list[str]:
    """A text column of a ``RoleColumns`` (a sequence of strings or an Arrow string array) as a list."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return cast(list[str], values.to_pylist())
    return values if isinstance(values, list) else list(values)


class TraversedEdge(NamedTuple):
    """What a path step needs to say about an edge."""

    edge_id: str
    role: str
    holder: str
    org: str
    valid_from: date
    valid_to: date | None
    ratio: float | None


@dataclass
class Traversal:
    """A breadth-first neighbourhood computed by a backend's own graph index (optional; see
    ``SQLiteStore.traverse``), with exactly the result ``graph.traversal.neighbourhood`` computes from
    ``roles_of``. ``parent`` maps each node reached to the node it was first reached from and an
    edge handle that ``edge`` describes; ``edges`` are all edges followed, by id (read lazily).
    ``candidates``, when the backend knows it, lists the nodes reached (the origin aside) that have
    at least one derived fact: the only ones whose facts are worth reading."""

    distance: Mapping[str, int]
    parent: Mapping[str, tuple[str, int]]
    edge: Callable[[int], TraversedEdge]
    edges: Mapping[str, RoleEdge]
    truncated: dict[str, int]
    candidates: list[str] | None = None


@runtime_checkable
class Store(Protocol):
    """Every backend implements exactly this; the conformance suite in tests/ checks it."""

    name: str

    def transaction(self) -> AbstractContextManager[None]:
        """Group the writes made inside the block into one atomic, durable commit (re-entrant)."""
        ...

    def close(self) -> None: ...

    # -- subjects --------------------------------------------------------------------------
    def put_organisations(self, rows: Sequence[Organisation]) -> WriteCounts: ...
    def put_persons(self, rows: Sequence[Person]) -> WriteCounts: ...
    def get_organisations(self, codes: Sequence[str]) -> dict[str, Organisation]: ...
    def get_persons(self, keys: Sequence[str]) -> dict[str, Person]: ...
    def iter_organisations(self) -> Iterator[Organisation]: ...
    def iter_persons(self) -> Iterator[Person]: ...
    def search_subjects(
        self, text: str = "", region: str = "", industry: str = "", kind: SubjectKind | None = None,
        limit: int = 20, offset: int = 0,
    ) -> list[Organisation | Person]:
        """Subjects matching every criterion given, ordered by key (organisation codes sort before
        person keys), ``limit`` of them from ``offset``. ``text`` matches an organisation whose code
        starts with it (any case) or whose name contains it, and a person whose name or masked ID
        number contains it; ``region`` is a prefix of the division code; ``industry`` is a code equal
        to the organisation's (persons have none, so they never match it)."""
        ...

    # -- role edges ------------------------------------------------------------------------
    def put_roles(self, rows: Sequence[RoleEdge]) -> WriteCounts: ...
    def load_roles(self, batches: Iterable[RoleColumns]) -> int:
        """Bulk upsert of role edges, one atomic, durable commit per batch, without the comparison
        ``put_roles`` makes (the caller knows what changed); returns the number of rows loaded."""
        ...

    def delete_roles(self, edge_ids: Sequence[str]) -> int: ...
    def get_roles(self, edge_ids: Sequence[str]) -> dict[str, RoleEdge]: ...
    def roles_of(
        self, nodes: Sequence[str], direction: Direction = "both", as_of: date | None = None
    ) -> list[RoleEdge]:
        """Edges touching ``nodes``: ``in`` = held in these organisations, ``out`` = held by these
        holders. With ``as_of``, only edges whose interval contains that date."""
        ...

    def iter_roles(self) -> Iterator[RoleEdge]: ...

    # -- records, events, honours, list entries ----------------------------------------------
    def put_records(self, rows: Sequence[DishonestyRecord]) -> WriteCounts: ...
    def get_records(self, ids: Sequence[str]) -> dict[str, DishonestyRecord]: ...
    def records_of(self, subjects: Sequence[str]) -> list[DishonestyRecord]: ...
    def iter_records(self) -> Iterator[DishonestyRecord]: ...
    def put_events(self, rows: Sequence[RecordEvent]) -> WriteCounts: ...
    def events_of(self, cause_ids: Sequence[str]) -> list[RecordEvent]: ...
    def put_honours(self, rows: Sequence[Honour]) -> WriteCounts: ...
    def honours_of(self, holders: Sequence[str]) -> list[Honour]: ...
    def iter_honours(self) -> Iterator[Honour]: ...
    def put_list_entries(self, rows: Sequence[ListEntry]) -> WriteCounts: ...
    def get_list_entries(self, ids: Sequence[str]) -> dict[str, ListEntry]: ...
    def list_entries_of(self, subjects: Sequence[str]) -> list[ListEntry]: ...
    def iter_list_entries(self) -> Iterator[ListEntry]: ...

    # -- derived facts -----------------------------------------------------------------------
    def replace_facts(self, cause: Cause, facts: Sequence[DerivedFact]) -> tuple[list[DerivedFact], list[DerivedFact]]:
        """Make ``facts`` the complete set derived from ``cause``; return (added or changed, removed)."""
        ...

    def get_facts(self, fact_ids: Sequence[str]) -> dict[str, DerivedFact]: ...
    def facts_of(self, targets: Sequence[str]) -> list[DerivedFact]: ...
    def facts_by_cause(self, causes: Sequence[Cause]) -> list[DerivedFact]: ...
    def iter_facts(self) -> Iterator[DerivedFact]: ...
    def causes_touching(self, targets: Sequence[str]) -> list[Cause]:
        """Causes with at least one fact on one of ``targets``."""
        ...

    # -- journal: cases, feedback items, withdrawal notices, audit, alerts -------------------
    def append(self, table: JournalTable, rows: Iterable[dict[str, Any]]) -> int:
        """Insert rows (dicts with an ``id``) into a journal table; existing ids are left as they are."""
        ...

    def update(self, table: JournalTable, row_id: str, changes: dict[str, Any]) -> dict[str, Any]: ...
    def query(
        self, table: JournalTable, where: dict[str, Any] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Rows whose fields equal every value in ``where``, oldest first."""
        ...

    def journal_page(self, table: JournalTable, before: int | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` rows of a journal table, newest first, with their sequence numbers (the order rows
        were appended), those before ``before`` only: a long log (the audit) is read page by page, not whole."""
        ...

    def counts(self) -> dict[str, int]:
        """Row counts per kind of thing stored."""
        ...


# imports: bulk imports whose consequences are still being derived (Engine.import_dir on a store
# that commits an import batch by batch), so that a re-run completes an interrupted one.
JournalTable = Literal[
    "cases", "case_items", "notices", "objections", "audit", "subscriptions", "alerts", "applications", "imports"]
JOURNAL_TABLES: tuple[JournalTable, ...] = (
    "cases", "case_items", "notices", "objections", "audit", "subscriptions", "alerts", "applications", "imports"
)
JOURNAL_END = 2**62
"""A sequence number past every journal row: ``journal_page(before=None)`` starts from the newest."""


_T = TypeVar("_T")


# -- optional capabilities: a backend has them or not; callers ask with isinstance -------------------------
@runtime_checkable
class Traverses(Protocol):
    """A backend with its own graph index: neighbourhoods of many origins in one pass (SQLite's index,
    Neo4j's check reads), or None when it cannot answer this one (then the generic traversal runs)."""

    def traverse(self, origins: Sequence[str], as_of: date, depth: int, max_fanout: int) -> list[Traversal] | None:
        ...


@dataclass
class ReachRows:
    """Breadth-first neighbourhoods of many origins as flat arrays (a backend's graph index), for work
    that reads a few of the nodes reached, such as related-party scoring: one row per node reached
    per origin, rows of origin ``i`` at ``bounds[i]:bounds[i + 1]`` in discovery order, the origin
    first. The result is that of ``Traverses.traverse``, except that a node first reached at the last
    hop that cannot carry facts (not ``candidate``) may have no row: it is on no other node's path.
    Names and edges are decoded only on request.

    Per row: ``node`` (an id for ``names``; -1 for an origin the index lacks), ``dist``, ``parent`` (the
    row it was reached from, -1 at the origin) and ``candidate`` (the node may carry facts, when the
    backend knows; None: every node may). ``spans``, when the backend keeps them: the ``FactSpan``s
    of each named node, read with the same committed facts as ``candidate``."""

    bounds: np.ndarray
    node: np.ndarray
    dist: np.ndarray
    parent: np.ndarray
    candidate: np.ndarray | None
    names: Callable[[np.ndarray], list[str]]
    step: Callable[[int], TraversedEdge]  # the edge from the row's parent to the row
    spans: Callable[[Sequence[str]], list[tuple[FactSpan, ...]]] | None = None


@runtime_checkable
class ReachesRows(Protocol):
    """A backend whose graph index answers ``Traverses.traverse`` as flat arrays (``ReachRows``), or
    None when it cannot answer for the committed state right now."""

    def reach_rows(self, origins: Sequence[str], as_of: date, depth: int, max_fanout: int) -> ReachRows | None:
        ...


class FactSpan(NamedTuple):
    """What judging a derived fact on a date reads (``model.fact_status``, its consequence), kept
    compact per subject so that candidates are judged without decoding whole facts (those judged in
    force are then read in full with ``facts_of``)."""

    consequence: str
    valid_from: date
    valid_to: date | None
    ended_by: str | None
    suspended: tuple[tuple[date, date | None], ...]
    fact_id: str


@runtime_checkable
class ReadsChecks(Protocol):
    """A backend that reads everything a batch of checks needs in one round trip, as a read-only store
    answering the same calls; None when it cannot (then the checks read the store itself)."""

    def check_reads(self, subjects: Sequence[str], as_of: date, depth: int = 2, max_fanout: int = 200) -> Store | None:
        ...


@runtime_checkable
class RetriesTransactions(Protocol):
    """A backend whose transactions can fail transiently (Neo4j: a deadlock, a leader change) and that
    re-runs a unit of work from the start."""

    def atomic(self, work: Callable[[], _T]) -> _T: ...


@runtime_checkable
class AppendsLater(Protocol):
    """A backend whose durable journal appends can be awaited without holding a thread per append
    (SQLite's group commit: a committer thread commits each batch and completes its futures)."""

    def append_later(self, table: JournalTable, rows: Iterable[dict[str, Any]]) -> Future[int]: ...


@runtime_checkable
class Warms(Protocol):
    """A backend with start-up work (building or mapping its graph index) a server pays before serving."""

    def warm(self) -> None: ...


@runtime_checkable
class ImportsInBatches(Protocol):
    """A backend that commits a large import in batches (Neo4j's transactions are bounded by memory)."""

    import_in_batches: bool


_IMPLEMENTS: dict[tuple[type, type], bool] = {}


def implements(obj: object, protocol: type) -> bool:
    """``isinstance(obj, protocol)`` for a runtime-checkable protocol, answered once per class: the
    check inspects every member of the protocol (tens of microseconds), which a single check felt."""
    key = (type(obj), protocol)
    found = _IMPLEMENTS.get(key)
    if found is None:
        found = _IMPLEMENTS[key] = isinstance(obj, protocol)
    return found


def check_journal_table(table: str) -> None:
    """Both stores refuse a journal table name the contract does not know (names reach SQL and Cypher)."""
    if table not in JOURNAL_TABLES:
        raise ValueError(f"unknown journal table {table!r}")


def check_field_name(key: str) -> str:
    """A journal row's field name as a filter may name it: letters, digits and underscores only."""
    if not key.replace("_", "").isalnum():
        raise ValueError(f"invalid field name {key!r}")
    return key


# -- is this subject known? -------------------------------------------------------------------------
def is_registered(store: Store, key: str) -> bool:
    """Stored as an organisation or a person: what a reference in a write must be."""
    from ..ids import is_person_key

    return key in (store.get_persons([key]) if is_person_key(key) else store.get_organisations([key]))


def require_known(store: Store, key: str) -> None:
    """A read about ``key`` answers if the store knows anything of it: registered, or named by a role edge,
    a record, a list entry or a derived fact (imports may carry records of unregistered subjects); else
    ``NotFound``. The one answer every read (profile, risk items, explorer, pictures, what-if) gives."""
    if not (is_registered(store, key) or store.roles_of([key], "both") or store.records_of([key])
            or store.list_entries_of([key]) or store.facts_of([key])):
        raise NotFound(f"no subject {key!r}", field="subject")


def atomic(store: Store, work: Callable[[], _T]) -> _T:
    """Run ``work()`` as one transaction. A store whose transactions can fail transiently
    (:class:`RetriesTransactions`) re-runs ``work`` from the start, so ``work`` must be idempotent and keep
    its effects inside the store; on any other store this is ``with store.transaction(): work()``."""
    if isinstance(store, RetriesTransactions):
        return store.atomic(work)
    with store.transaction():
        return work()
