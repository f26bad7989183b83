"""The answer of cypher/check_reads.cypher (everything a batch of checks reads, in one statement), read
like a store, and the traversal replayed from it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from ...fields import EVENTS, FACTS, ORGANISATIONS, PERSONS, RECORDS
from ...model import (
    DerivedFact,
    DishonestyRecord,
    Organisation,
    Person,
    RecordEvent,
    Role,
    RoleEdge,
)
from ..base import (
    Traversal,
    TraversedEdge,
)

if TYPE_CHECKING:
    from .store import Neo4jStore

from .store import Row, _role, _unique


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
                    self._orgs[subject] = ORGANISATIONS.from_row(row["node"])
                else:
                    self._persons[subject] = PERSONS.from_row(row["node"])
            facts = [FACTS.from_row(p) for p in row["facts"]]
            records = [RECORDS.from_row(p) for p in row["records"]]
            self._records[subject] = records
            self._by_id.update((r.record_id, r) for r in records)
            self._by_id.update((r.record_id, r) for r in map(RECORDS.from_row, row.get("cause_records") or ()))
            for e in map(EVENTS.from_row, row["events"]):
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
            e = _role(rec)
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
