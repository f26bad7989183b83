"""Property tests over random graphs and random event sequences.

(a) incremental derivation equals full recomputation from scratch;
(b) withdrawing a cause (upheld objection, revocation, deleted edge) changes exactly the facts
    whose provenance depends on it;
(c) nobody who took a role after the act date is ever affected through that role.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_credit.engine import Engine
from graph_credit.ids import person_key
from graph_credit.model import (
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
from graph_credit.rules import LifecycleError
from graph_credit.store import Store
from tests.scenario import id_number_for, uscc_for

BASE = date(2015, 1, 1)
ORGS = [uscc_for(100 + i) for i in range(4)]
PERSONS = [person_key(id_number_for(200 + i)) for i in range(6)]
ROLES = list(Role)
CATEGORIES = ["tax_evasion", "judgment_defaulter", "food_drug"]


def day(n: int) -> date:
    return BASE + timedelta(days=n)


@st.composite
def edges(draw: st.DrawFn) -> RoleEdge:
    role = draw(st.sampled_from(ROLES))
    holder = draw(st.sampled_from(PERSONS + (ORGS if role == Role.SHAREHOLDER else [])))
    org = draw(st.sampled_from(ORGS))
    start = draw(st.integers(0, 3000))
    length = draw(st.one_of(st.none(), st.integers(1, 2000)))
    return RoleEdge(holder, role, org, day(start), day(start + length) if length else None,
                    ratio=draw(st.sampled_from([0.1, 0.3, 0.5])) if role == Role.SHAREHOLDER else None)


@st.composite
def records(draw: st.DrawFn, n: int) -> DishonestyRecord:
    act = draw(st.integers(0, 3000))
    decided = act + draw(st.integers(0, 400))
    subject = draw(st.sampled_from(ORGS + PERSONS[:2]))
    named = draw(st.lists(st.tuples(st.sampled_from(PERSONS), st.sampled_from([None, *ROLES])), max_size=2,
                          unique_by=lambda t: t[0]))
    period = draw(st.one_of(st.none(), st.integers(30, 1500)))
    return DishonestyRecord(
        record_id=f"R{n}", subject=subject, category=draw(st.sampled_from(CATEGORIES)),
        severity=draw(st.sampled_from(["serious", "serious", "general"])), decision_date=day(decided),
        act_date=day(act) if draw(st.booleans()) else None, period_end=day(decided + period) if period else None,
        responsible=tuple(Responsible(p, r) for p, r in named), department="market_regulation",
    )


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, object]]:
    ops: list[tuple[str, object]] = []
    n_records = 0
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["edge", "edge", "record", "record", "honour", "event", "delete_edge", "list"]))
        if kind == "edge":
            ops.append(("edge", draw(edges())))
        elif kind == "record":
            n_records += 1
            ops.append(("record", draw(records(n_records))))
        elif kind == "honour":
            holder = draw(st.sampled_from(ORGS + PERSONS))
            ops.append(("honour", Honour(f"H{len(ops)}", holder, "荣誉", "市政府", day(draw(st.integers(0, 3500))))))
        elif kind == "event" and n_records:
            ops.append(("event", RecordEvent(
                f"R{draw(st.integers(1, n_records))}",
                draw(st.sampled_from(["objection_filed", "objection_upheld", "objection_rejected", "repair_applied",
                                      "repair_approved", "revoked"])),
                day(draw(st.integers(0, 4000))))))
        elif kind == "delete_edge":
            ops.append(("delete_edge", draw(st.integers(0, 50))))
        elif kind == "list":
            start = draw(st.integers(0, 3000))
            ops.append(("list", ListEntry(
                f"L{len(ops)}", draw(st.sampled_from(ORGS[:2])), draw(st.sampled_from(["red", "black"])), "名单",
                "development_reform", "", day(start),
                day(start + draw(st.integers(100, 1500))) if draw(st.booleans()) else None)))
    return ops


def fresh_engine(new_store: Callable[[], Store]) -> Engine:
    engine = Engine(new_store())
    engine.put_subjects([Organisation(o, f"org{i}", registered_on=BASE) for i, o in enumerate(ORGS)],
                        [Person(p, "***", f"person{i}") for i, p in enumerate(PERSONS)])
    return engine


def apply(engine: Engine, ops: list[tuple[str, object]]) -> None:
    for kind, op in ops:
        if kind == "edge":
            engine.put_roles([op])  # type: ignore[list-item]
        elif kind == "record":
            engine.put_records([op])  # type: ignore[list-item]
        elif kind == "honour":
            engine.put_honours([op])  # type: ignore[list-item]
        elif kind == "list":
            engine.put_list_entries([op])  # type: ignore[list-item]
        elif kind == "event":
            try:
                engine.add_event(op)  # type: ignore[arg-type]
            except LifecycleError:
                pass  # an event the record's state does not allow is refused and changes nothing
        elif kind == "delete_edge":
            stored = sorted(e.edge_id for e in engine.store.iter_roles())
            if stored:
                engine.delete_roles([stored[int(op) % len(stored)]])  # type: ignore[call-overload]


def facts(engine: Engine) -> dict[str, object]:
    return {f.fact_id: f for f in engine.store.iter_facts()}


def recomputed(engine: Engine, new_store: Callable[[], Store]) -> dict[str, object]:
    """The facts derived from scratch in a new store holding only the inputs of ``engine``'s store.

    Inputs are read out before the new store opens: on Neo4j it is the same, wiped, database.
    """
    s = engine.store
    roles, records, honours = list(s.iter_roles()), list(s.iter_records()), list(s.iter_honours())
    entries = list(s.iter_list_entries())
    events = [e for r in records for e in s.events_of([r.record_id])]
    other = fresh_engine(new_store)
    t = other.store
    t.put_roles(roles)
    t.put_records(records)
    t.put_honours(honours)
    t.put_list_entries(entries)
    t.put_events(events)
    other.recompute_all()
    return facts(other)


# The store factory fixture is function-scoped by design: each example opens its own empty store.
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@FAST
@given(operations())
def test_incremental_derivation_equals_full_recomputation(
    new_store: Callable[[], Store], ops: list[tuple[str, object]]
) -> None:
    engine = fresh_engine(new_store)
    apply(engine, ops)
    incremental = facts(engine)
    assert incremental == recomputed(engine, new_store)


@FAST
@given(operations(), st.data())
def test_withdrawing_a_record_changes_exactly_its_consequences(
    new_store: Callable[[], Store], ops: list[tuple[str, object]], data: st.DataObject
) -> None:
    engine = fresh_engine(new_store)
    apply(engine, ops)
    recs = sorted(r.record_id for r in engine.store.iter_records())
    if not recs:
        return
    target = data.draw(st.sampled_from(recs))
    before = facts(engine)
    last = max((e.on for e in engine.store.events_of([target])), default=date(2000, 1, 1))
    try:
        engine.add_event(RecordEvent(target, "revoked", max(last, day(4100))))
    except LifecycleError:
        return  # already withdrawn
    after = facts(engine)
    for fid, f in before.items():
        if str(f.cause) == f"record:{target}":  # type: ignore[attr-defined]
            assert after[fid].ended_by == "withdrawn" or after[fid].valid_to <= day(4100)  # type: ignore[attr-defined]
        else:
            assert after[fid] == f
    assert set(after) == set(before)


@FAST
@given(operations(), st.data())
def test_deleting_an_edge_removes_exactly_what_travelled_along_it(
    new_store: Callable[[], Store], ops: list[tuple[str, object]], data: st.DataObject
) -> None:
    engine = fresh_engine(new_store)
    apply(engine, ops)
    stored = sorted(e.edge_id for e in engine.store.iter_roles())
    if not stored:
        return
    edge_id = data.draw(st.sampled_from(stored))
    before = facts(engine)
    engine.delete_roles([edge_id])
    after = facts(engine)
    assert not any(f.edge_id == edge_id for f in after.values())  # type: ignore[attr-defined]
    for fid, f in before.items():
        if f.edge_id != edge_id:  # type: ignore[attr-defined]
            assert after.get(fid) == f
    # Anything new is a named person who, with the edge gone, has no registered role left.
    for fid in set(after) - set(before):
        assert after[fid].edge_id is None and after[fid].target_role == "directly_responsible"  # type: ignore[attr-defined]


@FAST
@given(operations())
def test_nobody_appointed_after_the_act_date_is_affected(
    new_store: Callable[[], Store], ops: list[tuple[str, object]]
) -> None:
    engine = fresh_engine(new_store)
    apply(engine, ops)
    recs = {r.record_id: r for r in engine.store.iter_records()}
    for f in engine.store.iter_facts():
        if f.cause.kind != "record" or f.edge_id is None:
            continue
        act = recs[f.cause.id].responsibility_date
        assert f.edge_from is not None and f.edge_from <= act
        assert f.edge_to is None or act < f.edge_to
