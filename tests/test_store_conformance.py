"""Backend conformance: every ``Store`` method, with the same expectations on every backend.

The ``store`` fixture (tests/conftest.py) runs each test on a SQLite file, SQLite in memory and,
when NEO4J_URI is set, Neo4j; here also on a SQLite file whose roles all arrive through
``load_roles`` and so live in columnar segments (``sqlite-segments``, tests/segmented.py).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from graph_credit.ids import person_key
from graph_credit.model import (
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
from graph_credit.store import JOURNAL_TABLES, NotFound, SQLiteStore, Store, WriteCounts
from graph_credit.store.base import RoleColumns
from tests.conftest import BACKENDS, make_backend
from tests.helpers import make_id_number, make_uscc
from tests.segmented import role_columns

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Backend


@pytest.fixture(params=[*BACKENDS[:1], pytest.param("sqlite-segments", id="sqlite-segments"), *BACKENDS[1:]])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)

D = date.fromisoformat
KINDS = ("organisations", "persons", "roles", "records", "events", "honours", "list_entries", "facts")


def org(n: int, **changes: Any) -> Organisation:
    fields: dict[str, Any] = {"code": make_uscc(n), "name": f"企业{n}", "region": "110105", "industry": "C"}
    return Organisation(**(fields | changes))


def pkey(n: int) -> str:
    return person_key(make_id_number(n))


def person(n: int, **changes: Any) -> Person:
    number = make_id_number(n)
    fields: dict[str, Any] = {"key": person_key(number), "masked_id": number[:3] + "*" * 11 + number[-4:]}
    return Person(**(fields | {"name": f"人员{n}", "region": "110105"} | changes))


def edge(holder: str, role: Role, org_code: str, start: str, end: str | None = None, **kw: Any) -> RoleEdge:
    return RoleEdge(holder, role, org_code, D(start), D(end) if end else None, **kw)


def record(rid: str, subject: str, decided: str, **kw: Any) -> DishonestyRecord:
    fields: dict[str, Any] = {"category": "tax_evasion", "severity": "serious"}
    return DishonestyRecord(rid, subject, decision_date=D(decided), **(fields | kw))


def fact(
    cause: Cause, target: str, consequence: str = "bar_bidding", start: str = "2024-01-01", **kw: Any
) -> DerivedFact:
    fields: dict[str, Any] = {
        "rule_id": "R1",
        "rule_version": "1",
        "consequence": consequence,
        "target": target,
        "target_role": "subject",
        "valid_from": D(start),
        "valid_to": None,
        "basis": ("《意见》第十条",),
    }
    return DerivedFact(cause=cause, **(fields | kw))


# -- the contract itself ---------------------------------------------------------------------------

COVERED = {
    "transaction",
    "close",
    "put_organisations",
    "put_persons",
    "get_organisations",
    "get_persons",
    "iter_organisations",
    "iter_persons",
    "search_subjects",
    "put_roles",
    "load_roles",
    "delete_roles",
    "get_roles",
    "roles_of",
    "iter_roles",
    "put_records",
    "get_records",
    "records_of",
    "iter_records",
    "put_events",
    "events_of",
    "put_honours",
    "honours_of",
    "iter_honours",
    "put_list_entries",
    "get_list_entries",
    "list_entries_of",
    "iter_list_entries",
    "replace_facts",
    "get_facts",
    "facts_of",
    "facts_by_cause",
    "iter_facts",
    "causes_touching",
    "append",
    "update",
    "query",
    "journal_page",
    "counts",
}


def test_every_protocol_method_is_covered_here() -> None:
    methods = {n for n, v in vars(Store).items() if inspect.isfunction(v) and not n.startswith("_")}
    assert methods == COVERED, "add conformance tests for new Store methods (and list them in COVERED)"


def test_store_implements_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.name in ("sqlite", "neo4j")
    assert store.counts() == dict.fromkeys((*KINDS, *JOURNAL_TABLES), 0)


# -- subjects --------------------------------------------------------------------------------------


def test_put_organisations_counts_inserts_updates_and_unchanged(store: Store) -> None:
    rows = [org(1), org(2, registered_on=D("2010-03-04")), org(3)]
    assert store.put_organisations(rows) == WriteCounts(3, 0, 0)
    assert store.put_organisations(rows) == WriteCounts(0, 0, 3)  # idempotent re-run
    assert store.put_organisations([org(1, name="改名"), org(2, registered_on=D("2010-03-04")), org(4)]) == (
        WriteCounts(1, 1, 1)
    )
    assert store.put_organisations([]) == WriteCounts()
    # a field back to None is a change, and is stored as None
    assert store.put_organisations([org(2)]) == WriteCounts(0, 1, 0)
    assert store.get_organisations([make_uscc(2)])[make_uscc(2)].registered_on is None


def test_put_organisations_last_row_of_a_batch_wins(store: Store) -> None:
    assert store.put_organisations([org(1, name="first"), org(1, name="second")]) == WriteCounts(1, 0, 0)
    assert store.get_organisations([make_uscc(1)])[make_uscc(1)].name == "second"


def test_get_and_iter_organisations_round_trip(store: Store) -> None:
    rows = [
        org(3, org_type="public_institution", registered_on=D("1999-12-31"), deregistered_on=D("2021-02-28")),
        org(1),
        org(2, industry="", region=""),
    ]
    store.put_organisations(rows)
    got = store.get_organisations([make_uscc(1), make_uscc(3), make_uscc(99), make_uscc(1)])
    assert got == {make_uscc(1): rows[1], make_uscc(3): rows[0]}
    assert store.get_organisations([]) == {}
    assert list(store.iter_organisations()) == sorted(rows, key=lambda o: o.code)


def test_put_get_iter_persons(store: Store) -> None:
    rows = [person(2), person(1), person(3, region="")]
    assert store.put_persons(rows) == WriteCounts(3, 0, 0)
    assert store.put_persons(rows) == WriteCounts(0, 0, 3)
    assert store.put_persons([person(1, name="新名"), person(4)]) == WriteCounts(1, 1, 0)
    assert store.get_persons([pkey(1), pkey(9)]) == {pkey(1): person(1, name="新名")}
    assert [p.key for p in store.iter_persons()] == sorted(pkey(n) for n in (1, 2, 3, 4))
    assert store.counts()["persons"] == 4


def test_search_subjects_by_code_name_masked_id_region_industry(store: Store) -> None:
    store.put_organisations([
        org(1, name="甲建设有限公司", region="320281", industry="E"),
        org(2, name="乙投资有限公司", region="320282", industry="J"),
        org(3, name="Acme 100%_Trade 贸易", region="110105", industry="F"),
    ])
    store.put_persons([person(1, name="张建设", region="320281"), person(2, name="李四", region="110105")])
    masked2 = store.get_persons([pkey(2)])[pkey(2)].masked_id

    def keys(**kw: Any) -> list[str]:
        return [s.code if isinstance(s, Organisation) else s.key for s in store.search_subjects(**kw)]

    orgs = sorted([make_uscc(1), make_uscc(2), make_uscc(3)])
    assert keys(text=make_uscc(2)) == [make_uscc(2)]  # a full code
    assert keys(text=make_uscc(1)[:12]) == orgs  # a code prefix: all three share it
    assert keys(text="甲建") == [make_uscc(1)]  # a name prefix
    assert keys(text="建设") == [make_uscc(1), pkey(1)]  # contains: an organisation, then a person
    assert keys(text="acme") == [make_uscc(3)]  # without case
    assert keys(text="100%_") == [make_uscc(3)] and keys(text="0%x") == []  # % and _ are literal
    assert keys(text=masked2[-6:]) == [pkey(2)]  # a masked ID number fragment
    people = sorted([pkey(1), pkey(2)])
    assert keys(text=masked2[:3]) == people and keys(text="110****") == people
    assert keys(region="3202") == [make_uscc(1), make_uscc(2), pkey(1)]  # a division prefix
    assert keys(region="320281", text="建设") == [make_uscc(1), pkey(1)]
    assert keys(industry="J") == [make_uscc(2)]  # persons have no industry
    assert keys(text="建设", kind="person") == [pkey(1)] and keys(text="建设", kind="organisation") == [make_uscc(1)]
    assert keys(text="有限公司", limit=1) == [min(make_uscc(1), make_uscc(2))]
    assert keys(limit=2, offset=3) == people and keys(offset=5) == []  # pages in key order
    assert keys(text="无此名") == []
    found = store.search_subjects(text="张建")
    assert found == [person(1, name="张建设", region="320281")]  # whole rows, as stored


# -- role edges ------------------------------------------------------------------------------------


@pytest.fixture
def graph(store: Store) -> dict[str, Any]:
    """A (org 1) with a legal representative, a director, a person and an organisation shareholder;
    A holds shares in B (org 2); the legal representative also supervises C (org 3)."""
    a, b, c = make_uscc(1), make_uscc(2), make_uscc(3)
    lr, director, holder = pkey(1), pkey(2), pkey(3)
    store.put_organisations([org(1), org(2), org(3)])
    store.put_persons([person(1), person(2), person(3)])
    edges = {
        "lr": edge(lr, Role.LEGAL_REPRESENTATIVE, a, "2020-01-01", "2021-01-01"),
        "director": edge(director, Role.DIRECTOR, a, "2018-05-01", title="董事长"),
        "holder": edge(holder, Role.SHAREHOLDER, a, "2015-01-01", ratio=0.6, subscribed_capital=600.0),
        "org_holder": edge(b, Role.SHAREHOLDER, a, "2015-01-01", ratio=0.4),
        "a_in_b": edge(a, Role.SHAREHOLDER, b, "2016-01-01", ratio=1.0),
        "supervisor": edge(lr, Role.SUPERVISOR, c, "2019-01-01"),
    }
    assert store.put_roles(list(edges.values())) == WriteCounts(6, 0, 0)
    return {"a": a, "b": b, "c": c, "lr": lr, "director": director, "holder": holder, "edges": edges}


def test_put_roles_counts_and_get_roles(store: Store, graph: dict[str, Any]) -> None:
    edges = graph["edges"]
    assert store.put_roles(list(edges.values())) == WriteCounts(0, 0, 6)
    closed = edge(graph["director"], Role.DIRECTOR, graph["a"], "2018-05-01", "2023-01-01", title="董事长")
    assert closed.edge_id == edges["director"].edge_id
    assert store.put_roles([closed, edges["holder"]]) == WriteCounts(0, 1, 1)
    got = store.get_roles([closed.edge_id, edges["holder"].edge_id, "no-such-edge"])
    assert got == {closed.edge_id: closed, edges["holder"].edge_id: edges["holder"]}
    assert got[edges["holder"].edge_id].ratio == 0.6
    assert store.get_roles([]) == {}
    assert store.counts()["roles"] == 6


def test_put_roles_can_change_role_type_and_ends_of_an_edge(store: Store, graph: dict[str, Any]) -> None:
    old = graph["edges"]["director"]
    moved = RoleEdge(graph["holder"], Role.SUPERVISOR, graph["c"], D("2018-05-01"), edge_id=old.edge_id)
    assert store.put_roles([moved]) == WriteCounts(0, 1, 0)
    assert store.get_roles([old.edge_id]) == {old.edge_id: moved}
    assert old.edge_id not in {e.edge_id for e in store.roles_of([graph["a"]], "in")}
    assert store.counts()["roles"] == 6


def test_roles_of_directions(store: Store, graph: dict[str, Any]) -> None:
    e = graph["edges"]
    ids = lambda edges: {x.edge_id for x in edges}  # noqa: E731
    into_a = {e[k].edge_id for k in ("lr", "director", "holder", "org_holder")}
    assert ids(store.roles_of([graph["a"]], "in")) == into_a
    assert ids(store.roles_of([graph["a"]], "out")) == {e["a_in_b"].edge_id}
    assert ids(store.roles_of([graph["a"]], "both")) == into_a | {e["a_in_b"].edge_id}
    assert ids(store.roles_of([graph["a"]])) == into_a | {e["a_in_b"].edge_id}
    assert ids(store.roles_of([graph["lr"]], "out")) == {e["lr"].edge_id, e["supervisor"].edge_id}
    assert store.roles_of([graph["lr"]], "in") == []
    assert ids(store.roles_of([graph["b"]], "out")) == {e["org_holder"].edge_id}
    assert store.roles_of([], "both") == []
    assert store.roles_of([make_uscc(77)], "both") == []


def test_roles_of_both_returns_each_edge_once_sorted(store: Store, graph: dict[str, Any]) -> None:
    got = store.roles_of([graph["a"], graph["lr"], graph["b"], graph["a"]], "both")
    assert len(got) == len({x.edge_id for x in got}) == 6
    assert got == sorted(got, key=lambda x: (x.org, x.role, x.valid_from, x.holder))
    assert got[0].org <= got[-1].org
    assert set(got) == set(graph["edges"].values())


@pytest.mark.parametrize(
    ("as_of", "active"),
    [
        ("2019-12-31", False),  # the day before valid_from
        ("2020-01-01", True),  # valid_from itself is included
        ("2020-12-31", True),
        ("2021-01-01", False),  # valid_to itself is excluded: [from, to)
        ("2030-01-01", False),
    ],
)
def test_roles_of_as_of_is_a_half_open_interval(
    store: Store, graph: dict[str, Any], as_of: str, active: bool
) -> None:
    lr = graph["edges"]["lr"]
    for direction, node in (("in", graph["a"]), ("out", graph["lr"]), ("both", graph["a"])):
        got = {x.edge_id for x in store.roles_of([node], direction, as_of=D(as_of))}  # type: ignore[arg-type]
        assert (lr.edge_id in got) is active, (direction, as_of)


def test_roles_of_as_of_open_ended_edges(store: Store, graph: dict[str, Any]) -> None:
    e = graph["edges"]
    got = {x.edge_id for x in store.roles_of([graph["a"]], "in", as_of=D("2099-12-31"))}
    assert got == {e["director"].edge_id, e["holder"].edge_id, e["org_holder"].edge_id}
    got = {x.edge_id for x in store.roles_of([graph["a"]], "in", as_of=D("2018-05-01"))}
    assert got == {e["director"].edge_id, e["holder"].edge_id, e["org_holder"].edge_id}
    got = {x.edge_id for x in store.roles_of([graph["a"]], "in", as_of=D("2018-04-30"))}
    assert got == {e["holder"].edge_id, e["org_holder"].edge_id}


def test_roles_of_holders_and_organisations_not_stored_as_subjects(store: Store) -> None:
    """A role may name a holder or an organisation that is not (yet) stored as a subject."""
    a, lone = make_uscc(50), pkey(50)
    shareholder = make_uscc(51)
    edges = [
        edge(lone, Role.PRINCIPAL, a, "2020-01-01"),
        edge(shareholder, Role.SHAREHOLDER, a, "2020-01-01"),
    ]
    assert store.put_roles(edges) == WriteCounts(2, 0, 0)
    assert {x.edge_id for x in store.roles_of([a], "in")} == {x.edge_id for x in edges}
    assert store.roles_of([lone], "out") == [edges[0]]
    assert store.roles_of([shareholder], "out") == [edges[1]]
    counts = store.counts()
    assert (counts["organisations"], counts["persons"], counts["roles"]) == (0, 0, 2)
    assert store.get_organisations([a, shareholder]) == {}
    assert store.get_persons([lone]) == {}
    assert list(store.iter_organisations()) == [] and list(store.iter_persons()) == []
    # storing the subject later is an insert, not an update
    assert store.put_organisations([org(50)]) == WriteCounts(1, 0, 0)
    assert store.put_persons([person(50)]) == WriteCounts(1, 0, 0)
    assert store.get_organisations([a]) == {a: org(50)}
    assert store.roles_of([a], "in", as_of=D("2020-01-01")) == sorted(edges, key=lambda x: (x.org, x.role))


def test_a_subject_stored_for_a_key_of_the_other_shape_is_one_subject_of_its_kind(store: Store) -> None:
    """A role end whose key does not look like a person key is held for an organisation; stored later
    as a person, it is a person only (Neo4j: the placeholder keeps no :Organisation label)."""
    odd = "P-NOT-A-PERSON-KEY"
    org_code = make_uscc(60)
    store.put_roles([edge(odd, Role.DIRECTOR, org_code, "2020-01-01")])
    store.put_persons([Person(odd, "110***********0000", "人员60", "110105")])
    counts = store.counts()
    assert (counts["organisations"], counts["persons"]) == (0, 1)
    assert list(store.iter_organisations()) == [] and [p.key for p in store.iter_persons()] == [odd]


def test_delete_roles(store: Store, graph: dict[str, Any]) -> None:
    e = graph["edges"]
    gone = [e["lr"].edge_id, e["a_in_b"].edge_id]
    assert store.delete_roles([*gone, "no-such-edge", gone[0]]) == 2
    assert store.delete_roles(gone) == 0
    assert store.delete_roles([]) == 0
    assert store.get_roles(gone) == {}
    assert {x.edge_id for x in store.roles_of([graph["a"]], "both")} == {
        e[k].edge_id for k in ("director", "holder", "org_holder")
    }
    assert store.counts()["roles"] == 4
    assert store.put_roles([e["lr"]]) == WriteCounts(1, 0, 0)  # and can come back


def test_iter_roles_in_edge_id_order(store: Store, graph: dict[str, Any]) -> None:
    assert list(store.iter_roles()) == sorted(graph["edges"].values(), key=lambda x: x.edge_id)


def test_load_roles_into_an_empty_store_then_upserts(store: Store) -> None:
    a, b = make_uscc(1), make_uscc(2)
    first = [
        edge(pkey(1), Role.LEGAL_REPRESENTATIVE, a, "2020-01-01", "2021-01-01"),
        edge(pkey(2), Role.DIRECTOR, a, "2018-05-01", title="董事长"),
        edge(pkey(3), Role.SHAREHOLDER, a, "2015-01-01", ratio=0.6, subscribed_capital=600.0),
    ]
    second = [edge(a, Role.SHAREHOLDER, b, "2016-01-01", ratio=1.0)]
    assert store.load_roles(iter([role_columns(first), role_columns([]), role_columns(second)])) == 4
    assert store.get_roles([e.edge_id for e in first + second]) == {e.edge_id: e for e in first + second}
    assert {e.edge_id for e in store.roles_of([a], "in", as_of=D("2020-06-01"))} == {e.edge_id for e in first}
    assert store.roles_of([a], "out") == second
    # Into a store that has edges: an upsert by edge id (a changed edge replaces the stored one).
    closed = edge(pkey(2), Role.DIRECTOR, a, "2018-05-01", "2023-01-01", title="董事长")
    assert store.load_roles([role_columns([closed, second[0]])]) == 2
    assert store.get_roles([closed.edge_id]) == {closed.edge_id: closed}
    assert store.counts()["roles"] == 4
    assert list(store.iter_roles()) == sorted([first[0], closed, first[2], second[0]], key=lambda e: e.edge_id)
    assert store.put_roles([closed]) == WriteCounts(0, 0, 1)


def test_load_roles_repeating_an_edge_id_keeps_the_last(store: Store) -> None:
    """Into an empty store, an edge id repeated within a batch and across batches: the last row wins
    (the in-memory bulk path failed on its unique index, the segment path kept both rows)."""
    a = make_uscc(1)
    old = edge(pkey(1), Role.DIRECTOR, a, "2020-01-01")
    ended = edge(pkey(1), Role.DIRECTOR, a, "2020-01-01", "2021-01-01")
    last = edge(pkey(1), Role.DIRECTOR, a, "2020-01-01", "2022-01-01")
    assert ended.edge_id == old.edge_id == last.edge_id
    assert store.load_roles([role_columns([old, ended]), role_columns([last])]) == 3
    assert store.get_roles([old.edge_id]) == {old.edge_id: last}
    assert store.roles_of([a], "in") == [last]
    assert list(store.iter_roles()) == [last]
    assert store.counts()["roles"] == 1


def test_load_roles_rolls_back_the_batch_that_fails(store: Store) -> None:
    a = make_uscc(1)
    good = [edge(pkey(1), Role.DIRECTOR, a, "2020-01-01")]

    def batches() -> Iterator[RoleColumns]:
        yield role_columns(good)
        raise RuntimeError("the source failed")

    with pytest.raises(RuntimeError):
        store.load_roles(batches())
    assert store.get_roles([good[0].edge_id]) == {good[0].edge_id: good[0]}  # the committed batch stays
    assert store.roles_of([a], "in") == good  # and is found (the indexes are back)


# -- records, events, honours, list entries --------------------------------------------------------


def test_records_put_get_of_iter(store: Store) -> None:
    a, b = make_uscc(1), make_uscc(2)
    r1 = record(
        "R1",
        a,
        "2020-09-01",
        act_date=D("2019-05-01"),
        document_no="京税罚〔2020〕1号",
        department="税务局",
        basis="《税收征收管理法》",
        period_end=D("2023-09-01"),
        responsible=(Responsible(pkey(1), Role.DIRECTOR), Responsible(pkey(2))),
        jurisdiction="beijing",
    )
    r2 = record("R2", a, "2019-01-01")
    r3 = record("R0", a, "2020-09-01")  # same date as R1: ordered by record_id
    r4 = record("R4", b, "2018-01-01")
    assert store.put_records([r1, r2, r3, r4]) == WriteCounts(4, 0, 0)
    assert store.put_records([r1, r2]) == WriteCounts(0, 0, 2)
    assert store.get_records(["R1", "nope"]) == {"R1": r1}
    assert store.records_of([a]) == [r2, r3, r1]
    assert store.records_of([b, a, b]) == [r4, r2, r3, r1]
    assert store.records_of([make_uscc(9)]) == [] and store.records_of([]) == []
    assert list(store.iter_records()) == [r3, r1, r2, r4]
    changed = record("R2", b, "2019-01-01", severity="general")  # moves to another subject
    assert store.put_records([changed]) == WriteCounts(0, 1, 0)
    assert store.records_of([a]) == [r3, r1] and store.records_of([b]) == [r4, changed]
    assert store.counts()["records"] == 4
    assert store.counts()["organisations"] == 0  # a record's subject is not a stored subject by itself


def test_events_put_and_events_of_in_date_order(store: Store) -> None:
    e1 = RecordEvent("R1", "objection", D("2021-03-01"), by="企业", detail="异议")
    e2 = RecordEvent("R1", "repair", D("2021-01-01"))
    e3 = RecordEvent("L1", "exit", D("2020-01-01"))
    e4 = RecordEvent("R1", "correction", D("2021-01-01"), detail="x")  # same day as e2: by event_id
    assert store.put_events([e1, e2, e3, e4]) == WriteCounts(4, 0, 0)
    assert store.put_events([e1]) == WriteCounts(0, 0, 1)
    assert store.events_of(["R1"]) == [*sorted([e2, e4], key=lambda e: e.event_id), e1]
    assert store.events_of(["L1", "R1"])[0] == e3
    assert store.events_of(["none"]) == [] and store.events_of([]) == []
    moved = RecordEvent("R1", "revocation", D("2022-01-01"), event_id=e3.event_id)
    assert store.put_events([moved]) == WriteCounts(0, 1, 0)
    assert store.events_of(["L1"]) == [] and store.events_of(["R1"])[-1] == moved
    assert store.counts()["events"] == 4


def test_honours_put_of_iter(store: Store) -> None:
    a, p = make_uscc(1), pkey(1)
    h1 = Honour("H1", a, "守信激励对象", "发展改革委", D("2021-05-01"))
    h2 = Honour("H2", a, "纳税信用A级", "税务局", D("2020-05-01"))
    h3 = Honour("H3", p, "劳动模范", "总工会", D("2019-05-01"))
    assert store.put_honours([h1, h2, h3]) == WriteCounts(3, 0, 0)
    assert store.put_honours([h1, h2, h3]) == WriteCounts(0, 0, 3)
    assert store.honours_of([a]) == [h2, h1]
    assert store.honours_of([a, p]) == [h3, h2, h1]
    assert store.honours_of([]) == []
    assert list(store.iter_honours()) == [h1, h2, h3]
    h1b = Honour("H1", p, "守信激励对象", "发展改革委", D("2021-05-02"))
    assert store.put_honours([h1b]) == WriteCounts(0, 1, 0)
    assert store.honours_of([a]) == [h2] and store.honours_of([p]) == [h3, h1b]
    assert store.counts()["honours"] == 3


def test_list_entries_put_get_of_iter(store: Store) -> None:
    a, b = make_uscc(1), make_uscc(2)
    black = ListEntry(
        "L1",
        a,
        "black",
        "失信黑名单",
        "市场监管局",
        "《条例》",
        D("2021-01-01"),
        D("2024-01-01"),
        D("2020-12-01"),
        D("2020-12-08"),
        "effective",
    )
    red = ListEntry("L2", a, "red", "诚信典型", "发展改革委", "《办法》", D("2020-01-01"))
    other = ListEntry("L0", b, "black", "失信黑名单", "税务局", "", D("2021-01-01"), status="proposed")
    assert store.put_list_entries([black, red, other]) == WriteCounts(3, 0, 0)
    assert store.put_list_entries([black]) == WriteCounts(0, 0, 1)
    assert store.get_list_entries(["L1", "L9"]) == {"L1": black}
    assert store.list_entries_of([a]) == [red, black]
    assert store.list_entries_of([a, b]) == [red, other, black]
    assert store.list_entries_of([]) == []
    assert list(store.iter_list_entries()) == [other, black, red]
    exited = ListEntry(
        "L1",
        a,
        "black",
        "失信黑名单",
        "市场监管局",
        "《条例》",
        D("2021-01-01"),
        D("2022-06-01"),
        D("2020-12-01"),
        D("2020-12-08"),
        "exited",
    )
    assert store.put_list_entries([exited, red]) == WriteCounts(0, 1, 1)
    assert store.get_list_entries(["L1"])["L1"] == exited
    assert store.counts()["list_entries"] == 3


ORDERED_READS = ("records_of", "events_of", "honours_of", "list_entries_of", "facts_of", "facts_by_cause")


@pytest.mark.parametrize("read", ORDERED_READS)
def test_ordering_holds_across_many_keys(store: Store, read: str, request: pytest.FixtureRequest) -> None:
    """Results are ordered by date then id over all the keys asked for, however many there are.

    Keys are given so that later keys have earlier dates, which a per-batch ordering would miss.
    """
    n = 620
    start = D("2000-01-01")
    keys = [make_uscc(i) for i in range(n)]
    when = [start + timedelta(days=n - i) for i in range(n)]
    causes = [Cause("record", f"R{i:04d}") for i in range(n)]
    if read == "records_of":
        store.put_records([record(f"R{i:04d}", keys[i], when[i].isoformat()) for i in range(n)])
        got = [r.decision_date for r in store.records_of(keys)]
    elif read == "events_of":
        store.put_events([RecordEvent(f"R{i:04d}", "repair", when[i]) for i in range(n)])
        got = [e.on for e in store.events_of([f"R{i:04d}" for i in range(n)])]
    elif read == "honours_of":
        store.put_honours([Honour(f"H{i:04d}", keys[i], "t", "b", when[i]) for i in range(n)])
        got = [h.awarded_on for h in store.honours_of(keys)]
    elif read == "list_entries_of":
        store.put_list_entries(
            [ListEntry(f"L{i:04d}", keys[i], "red", "n", "u", "b", when[i]) for i in range(n)]
        )
        got = [e.valid_from for e in store.list_entries_of(keys)]
    else:
        with store.transaction():
            for i in range(n):
                store.replace_facts(causes[i], [fact(causes[i], keys[i], start=when[i].isoformat())])
        facts = store.facts_of(keys) if read == "facts_of" else store.facts_by_cause(causes)
        got = [f.valid_from for f in facts]
    assert len(got) == n
    assert got == sorted(got)


# -- derived facts ---------------------------------------------------------------------------------


def test_replace_facts_returns_added_or_changed_and_removed(store: Store) -> None:
    a, p = make_uscc(1), pkey(1)
    cause = Cause("record", "R1")
    f1 = fact(cause, a)
    f2 = fact(
        cause,
        p,
        target_role="LEGAL_REPRESENTATIVE",
        edge_id="e1",
        edge_from=D("2015-01-01"),
        edge_to=D("2020-06-01"),
        basis=("第十条", "第十一条"),
    )
    f3 = fact(
        cause,
        p,
        consequence="bar_office",
        suspended=((D("2024-02-01"), D("2024-03-01")), (D("2024-06-01"), None)),
    )
    added, removed = store.replace_facts(cause, [f1, f2, f3])
    assert (added, removed) == ([f1, f2, f3], [])
    assert store.replace_facts(cause, [f1, f2, f3]) == ([], [])  # idempotent
    f2b = fact(
        cause,
        p,
        target_role="LEGAL_REPRESENTATIVE",
        edge_id="e1",
        edge_from=D("2015-01-01"),
        edge_to=D("2020-06-01"),
        basis=("第十条", "第十一条"),
        valid_to=D("2025-01-01"),
        ended_by="repair",
    )
    assert f2b.fact_id == f2.fact_id
    assert store.replace_facts(cause, [f1, f2b]) == ([f2b], [f3])
    assert store.get_facts([f2.fact_id, f3.fact_id, "nope"]) == {f2.fact_id: f2b}
    assert store.replace_facts(cause, []) == ([], sorted([f1, f2b], key=lambda f: f.fact_id))
    assert store.facts_by_cause([cause]) == [] and store.counts()["facts"] == 0


def test_replace_facts_leaves_other_causes_alone(store: Store) -> None:
    a = make_uscc(1)
    c1, c2 = Cause("record", "R1"), Cause("list", "L1")
    f1, f2 = fact(c1, a), fact(c2, a, consequence="bar_honours", start="2023-01-01")
    store.replace_facts(c1, [f1])
    store.replace_facts(c2, [f2])
    assert store.replace_facts(c1, []) == ([], [f1])
    assert store.facts_of([a]) == [f2]
    assert store.get_facts([f2.fact_id]) == {f2.fact_id: f2}


def test_facts_of_by_cause_iter_and_causes_touching(store: Store) -> None:
    a, b, p = make_uscc(1), make_uscc(2), pkey(1)
    c1, c2, c3 = Cause("record", "R1"), Cause("list", "L1"), Cause("record", "R0")
    f1 = fact(c1, a, start="2024-03-01")
    f2 = fact(c1, p, start="2024-01-01")
    f3 = fact(c2, a, consequence="honour_revoked", start="2024-02-01", object_id="H1")
    f4 = fact(c3, b, start="2024-01-01")
    for cause, facts in ((c1, [f1, f2]), (c2, [f3]), (c3, [f4])):
        store.replace_facts(cause, facts)
    assert store.facts_of([a]) == [f3, f1]
    assert store.facts_of([a, p, a]) == [f2, f3, f1]
    assert store.facts_of([]) == [] and store.facts_of([make_uscc(9)]) == []
    assert store.facts_by_cause([c1]) == [f2, f1]
    assert store.facts_by_cause([c1, c2]) == [f2, f3, f1]
    assert store.facts_by_cause([]) == []
    assert list(store.iter_facts()) == sorted([f1, f2, f3, f4], key=lambda f: f.fact_id)
    assert store.causes_touching([a, p]) == [c2, c1]  # distinct, sorted by their text
    assert store.causes_touching([a, b]) == [c2, c3, c1]
    assert store.causes_touching([]) == [] and store.causes_touching([make_uscc(9)]) == []
    assert store.get_facts([]) == {}
    counts = store.counts()
    assert (counts["facts"], counts["organisations"], counts["persons"]) == (4, 0, 0)


def test_facts_of_many_subjects_follows_every_write(store: Store) -> None:
    """Reads of many subjects at once (which a store may answer from decoded facts it keeps)
    see each committed write, and inside a write transaction its own uncommitted facts."""
    subjects = [make_uscc(i) for i in range(1, 7)]
    c1, c2 = Cause("record", "R1"), Cause("record", "R2")
    f1 = fact(c1, subjects[0], start="2024-02-01")
    f2 = fact(c2, subjects[1], start="2024-01-01")
    store.replace_facts(c1, [f1])
    assert store.facts_of(subjects) == [f1]
    store.replace_facts(c2, [f2])
    assert store.facts_of(subjects) == [f2, f1]
    f1b = fact(c1, subjects[0], start="2024-02-01", valid_to=D("2025-01-01"), ended_by="repair")
    store.replace_facts(c1, [f1b])
    assert store.facts_of(subjects) == [f2, f1b]
    f3 = fact(c2, subjects[2], start="2023-01-01")
    with store.transaction():
        store.replace_facts(c2, [f2, f3])
        assert store.facts_of(subjects) == [f3, f2, f1b]
    assert store.facts_of(subjects) == [f3, f2, f1b]
    store.replace_facts(c2, [])
    assert store.facts_of(subjects) == [f1b] and store.facts_of(subjects[1:]) == []


# -- journal ---------------------------------------------------------------------------------------


def test_journal_append_ignores_existing_ids(store: Store) -> None:
    rows: list[dict[str, Any]] = [
        {"id": "c1", "subject": "A", "status": "open", "n": 1},
        {"id": "c2", "subject": "B", "status": "open"},
    ]
    assert store.append("cases", rows) == 2
    assert store.append("cases", [{"id": "c1", "status": "changed"}, {"id": "c3", "status": "open"}]) == 1
    assert store.append("cases", [{"id": "c4", "v": 1}, {"id": "c4", "v": 2}]) == 1  # first of a batch wins
    assert store.append("cases", []) == 0
    assert store.append("audit", [{"id": "c1", "what": "same id, other table"}]) == 1
    assert [r["id"] for r in store.query("cases")] == ["c1", "c2", "c3", "c4"]
    assert store.query("cases", {"id": "c1"}) == [rows[0]]
    assert store.query("cases", {"id": "c4"})[0]["v"] == 1
    counts = store.counts()
    assert (counts["cases"], counts["audit"], counts["alerts"]) == (4, 1, 0)


def test_journal_append_accepts_non_string_ids_and_values(store: Store) -> None:
    assert store.append("alerts", [{"id": 7, "on": D("2024-01-02"), "tags": ["a", "b"], "ok": True}]) == 1
    assert store.append("alerts", [{"id": "7"}]) == 0  # ids are compared as text
    assert store.query("alerts") == [{"id": 7, "on": "2024-01-02", "tags": ["a", "b"], "ok": True}]
    assert store.query("alerts", {"on": D("2024-01-02")}) == store.query("alerts")
    assert store.query("alerts", {"ok": True}) == store.query("alerts", {"ok": 1}) == store.query("alerts")
    assert store.query("alerts", {"id": "7"}) == []  # the doc keeps the number 7


def test_journal_update(store: Store) -> None:
    store.append("cases", [{"id": "c1", "status": "open", "items": 2}, {"id": "c2", "status": "open"}])
    assert store.update("cases", "c1", {"status": "closed", "closed_on": "2024-05-01"}) == {
        "id": "c1",
        "status": "closed",
        "items": 2,
        "closed_on": "2024-05-01",
    }
    assert store.query("cases", {"status": "closed"}) == [
        {"id": "c1", "status": "closed", "items": 2, "closed_on": "2024-05-01"}
    ]
    assert store.query("cases", {"status": "open"}) == [{"id": "c2", "status": "open"}]
    with pytest.raises(NotFound):
        store.update("cases", "c9", {"status": "x"})
    with pytest.raises(NotFound):
        store.update("audit", "c1", {"status": "x"})  # ids belong to one table
    assert [r["id"] for r in store.query("cases")] == ["c1", "c2"]  # an update keeps the order


def test_journal_query_where_and_limit(store: Store) -> None:
    store.append(
        "case_items", [{"id": f"i{n}", "case": f"c{n % 3}", "n": n, "done": n % 2 == 0} for n in range(10)]
    )
    assert [r["n"] for r in store.query("case_items", {"case": "c1"})] == [1, 4, 7]
    assert [r["n"] for r in store.query("case_items", {"case": "c1", "done": False})] == [1, 7]
    assert [r["n"] for r in store.query("case_items", {"case": "c1"}, limit=2)] == [1, 4]
    assert [r["n"] for r in store.query("case_items", limit=3)] == [0, 1, 2]
    assert store.query("case_items", limit=0) == []
    assert store.query("case_items", {"case": "c9"}) == []
    assert store.query("case_items", {"missing": "x"}) == []
    assert store.query("case_items", {"n": 4.0}) == [store.query("case_items", {"n": 4})[0]]
    assert store.query("case_items", {"n": "4"}) == []  # text never equals a number
    assert store.query("subscriptions") == []


def test_journal_page_newest_first_from_a_cursor(store: Store) -> None:
    store.append("audit", [{"id": f"a{n}", "n": n} for n in range(7)])
    store.append("case_items", [{"id": "other", "n": 99}])  # another table is never read
    first = store.journal_page("audit", None, 3)
    assert [d["n"] for _, d in first] == [6, 5, 4]
    second = store.journal_page("audit", first[-1][0], 3)
    assert [d["n"] for _, d in second] == [3, 2, 1]
    assert [d["n"] for _, d in store.journal_page("audit", second[-1][0], 3)] == [0]
    assert store.journal_page("audit", None, 0) == [] and store.journal_page("alerts", None, 5) == []
    with pytest.raises(ValueError):
        store.journal_page("nope", None, 1)  # type: ignore[arg-type]


def test_journal_rejects_unknown_tables_and_fields(store: Store) -> None:
    with pytest.raises(ValueError):
        store.append("nope", [{"id": "x"}])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.query("nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.update("nope", "x", {})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.query("cases", {"a.b": 1})
    with pytest.raises(ValueError):
        store.query("cases", {"a') OR 1=1 --": 1})


# -- counts, transactions, persistence -------------------------------------------------------------


def test_counts_every_kind(store: Store, graph: dict[str, Any]) -> None:
    store.put_records([record("R1", graph["a"], "2020-01-01")])
    store.put_events([RecordEvent("R1", "repair", D("2021-01-01"))])
    store.put_honours([Honour("H1", graph["a"], "t", "b", D("2020-01-01"))])
    store.put_list_entries([ListEntry("L1", graph["a"], "black", "n", "u", "b", D("2020-01-01"))])
    store.replace_facts(Cause("record", "R1"), [fact(Cause("record", "R1"), graph["lr"])])
    for n, table in enumerate(JOURNAL_TABLES):
        store.append(table, [{"id": str(i)} for i in range(n + 1)])
    expected = {
        "organisations": 3,
        "persons": 3,
        "roles": 6,
        "records": 1,
        "events": 1,
        "honours": 1,
        "list_entries": 1,
        "facts": 1,
    }
    assert store.counts() == expected | {t: n + 1 for n, t in enumerate(JOURNAL_TABLES)}


def write_everything(store: Store) -> None:
    a = make_uscc(1)
    store.put_organisations([org(1)])
    store.put_persons([person(1)])
    store.put_roles([edge(pkey(1), Role.LEGAL_REPRESENTATIVE, a, "2020-01-01")])
    store.put_records([record("R1", a, "2021-01-01")])
    store.put_events([RecordEvent("R1", "repair", D("2021-02-01"))])
    store.put_honours([Honour("H1", a, "t", "b", D("2020-01-01"))])
    store.put_list_entries([ListEntry("L1", a, "black", "n", "u", "b", D("2021-01-01"))])
    store.replace_facts(Cause("record", "R1"), [fact(Cause("record", "R1"), pkey(1))])
    store.append("cases", [{"id": "c1"}])


EMPTY = dict.fromkeys((*KINDS, *JOURNAL_TABLES), 0)


def test_transaction_rolls_back_everything_on_exception(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        write_everything(store)
        assert store.get_organisations([make_uscc(1)])  # the block sees its own writes
        assert store.counts()["facts"] == 1
        raise RuntimeError("boom")
    assert store.counts() == EMPTY
    assert store.get_organisations([make_uscc(1)]) == {} and store.query("cases") == []
    write_everything(store)  # and the store is usable afterwards
    assert store.counts()["cases"] == 1


def test_transaction_rolls_back_an_update_of_existing_data(store: Store) -> None:
    store.put_organisations([org(1)])
    store.append("cases", [{"id": "c1", "status": "open"}])
    with pytest.raises(KeyError), store.transaction():
        assert store.put_organisations([org(1, name="改名")]) == WriteCounts(0, 1, 0)
        store.update("cases", "c1", {"status": "closed"})
        store.delete_roles(["x"])
        raise KeyError("boom")
    assert store.get_organisations([make_uscc(1)]) == {make_uscc(1): org(1)}
    assert store.query("cases") == [{"id": "c1", "status": "open"}]


def test_nested_transactions_commit_once_at_the_outermost_exit(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.put_organisations([org(1)])
            with store.transaction():
                store.append("audit", [{"id": "a1"}])
        # the inner blocks are over but nothing is committed yet: this undoes them too
        raise RuntimeError("outer fails")
    assert store.counts() == EMPTY

    with store.transaction():
        with store.transaction():
            store.put_organisations([org(1)])
        store.append("audit", [{"id": "a1"}])
    assert store.counts()["organisations"] == 1 and store.counts()["audit"] == 1


def test_uncommitted_writes_are_invisible_to_other_threads(store: Store, backend: Backend) -> None:
    if backend.kind == "sqlite-memory":
        pytest.skip("sqlite-memory serialises readers behind the writer: they wait for the commit")
    code = make_uscc(1)
    with ThreadPoolExecutor(1) as reader:
        assert reader.submit(store.get_organisations, [code]).result(30) == {}  # the reader is set up
        with store.transaction():
            with store.transaction():
                store.put_organisations([org(1)])
            assert reader.submit(store.get_organisations, [code]).result(30) == {}
            assert store.get_organisations([code]) == {code: org(1)}
        assert reader.submit(store.get_organisations, [code]).result(30) == {code: org(1)}


def test_a_new_reader_thread_does_not_wait_for_a_transaction(
    store: Store, backend: Backend, request: pytest.FixtureRequest
) -> None:
    if backend.kind == "sqlite-memory":
        pytest.skip("sqlite-memory serialises readers behind the writer: they wait for the commit")
    seen: list[Any] = []
    with store.transaction():
        store.put_organisations([org(1)])
        t = threading.Thread(target=lambda: seen.append(store.get_organisations([make_uscc(1)])))
        t.start()
        t.join(5)
        blocked = t.is_alive()
    t.join(30)
    assert not blocked and seen == [{}]


def test_data_persists_after_close_and_reopen(store: Store, backend: Backend) -> None:
    write_everything(store)
    before = store.counts()
    store.close()
    again = backend.reopen()
    assert again.counts() == before
    assert again.get_organisations([make_uscc(1)]) == {make_uscc(1): org(1)}
    assert again.roles_of([make_uscc(1)], "in", as_of=D("2024-01-01"))[0].holder == pkey(1)
    assert again.query("cases") == [{"id": "c1"}]
    assert again.put_organisations([org(1)]) == WriteCounts(0, 0, 1)


# -- the SQLite graph index: the same answers as SQL --------------------------------------------------


def random_edges(n_orgs: int, n_persons: int, n_edges: int, seed: int) -> list[RoleEdge]:
    import random

    rng = random.Random(seed)
    orgs = [make_uscc(i) for i in range(n_orgs)]
    people = [pkey(i) for i in range(n_persons)]
    out: dict[str, RoleEdge] = {}
    while len(out) < n_edges:
        o = rng.choice(orgs)
        start = D("2010-01-01") + timedelta(days=rng.randrange(5000))
        end = start + timedelta(days=rng.randrange(1, 4000)) if rng.random() < 0.4 else None
        if rng.random() < 0.15:
            h = rng.choice(orgs)
            if h == o:
                continue
            e = RoleEdge(h, Role.SHAREHOLDER, o, start, end, ratio=rng.choice([None, 0.25, 0.1]),
                         subscribed_capital=rng.choice([None, 100.0]))
        else:
            hub = rng.random() < 0.1
            h = people[0] if hub else rng.choice(people)  # one hub person with many roles
            e = RoleEdge(h, rng.choice(list(Role)), o, start, end, title=rng.choice(["", "董事长", "经理"]))
        out[e.edge_id] = e
    return list(out.values())


def test_graph_index_follows_writes_and_is_saved_for_the_next_run(tmp_path: Any) -> None:
    from graph_credit import graph as risk

    path = tmp_path / "g.sqlite"
    fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
    fast._save_min = 0  # save even a small index
    try:
        edges = random_edges(60, 40, 600, seed=3)
        fast.put_roles(edges[:300])
        fast.load_roles([role_columns(edges[300:])])
        fast.warm()
        assert fast.graph_index_bytes() > 0
        origin, on = edges[0].org, D("2024-06-01")

        def same(a: SQLiteStore) -> None:
            x, y = risk.neighbourhood(a, origin, on, 3), risk.neighbourhood(plain, origin, on, 3)
            assert (x.distance, dict(x.paths), dict(x.edges)) == (y.distance, dict(y.paths), dict(y.edges))

        same(fast)
        # A write makes the index stale; reads answer from the committed data (rebuilt or SQL).
        fast.delete_roles([edges[1].edge_id, edges[2].edge_id])
        same(fast)
        # Inside a write transaction the writer's own, uncommitted edges are seen (SQL).
        with fast.transaction():
            fast.put_roles([edges[1]])
            assert fast.traverse([origin], on, 2, 200) is None
            assert edges[1] in fast.roles_of([edges[1].org], "in")
        same(fast)
        fast.warm()
        saved = list((tmp_path / "g.sqlite.graph").iterdir())
        assert len(saved) == 1 and saved[0].name.startswith("gen-")
        fast.close()
        again = SQLiteStore(path)
        again.warm()  # mapped from the saved files, not rebuilt
        assert again._index is not None and again._index.base.gen == int(saved[0].name[4:])
        same(again)
        again.close()
    finally:
        plain.close()


def test_graph_index_traversal_equals_the_generic_neighbourhood(tmp_path: Any) -> None:
    from graph_credit import graph as risk

    path = tmp_path / "g.sqlite"
    fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
    try:
        edges = random_edges(80, 50, 900, seed=5)
        fast.put_roles(edges)
        fast.warm()
        origins = sorted({e.org for e in edges})[:40] + [pkey(0), pkey(7), make_uscc(999)]
        assert fast.traverse(origins[:1], D("2016-01-01"), 2, 200) is not None  # the index answers
        assert plain.traverse(origins[:1], D("2016-01-01"), 2, 200) is None
        for origin in origins:
            for on in (D("2016-01-01"), D("2024-06-01")):
                for depth, fanout in ((2, 200), (3, 5), (1, 2)):
                    a = risk.neighbourhood(fast, origin, on, depth, fanout)
                    b = risk.neighbourhood(plain, origin, on, depth, fanout)
                    assert a.distance == b.distance
                    assert dict(a.paths) == dict(b.paths)
                    assert dict(a.edges) == dict(b.edges)
                    assert a.truncated == b.truncated
    finally:
        fast.close()
        plain.close()


def test_fact_filter_sees_committed_facts_only(tmp_path: Any) -> None:
    path = tmp_path / "f.sqlite"
    store = SQLiteStore(path)
    try:
        keys = [make_uscc(i) for i in range(10)]
        cause = Cause("record", "R1")
        assert store.facts_of(keys) == []
        f = fact(cause, keys[3])
        with ThreadPoolExecutor(1) as reader:
            with store.transaction():
                store.replace_facts(cause, [f])
                assert reader.submit(store.facts_of, keys).result(30) == []
                assert store.facts_of(keys) == [f]
            assert reader.submit(store.facts_of, keys).result(30) == [f]
            with pytest.raises(RuntimeError), store.transaction():
                store.replace_facts(Cause("record", "R2"), [fact(Cause("record", "R2"), keys[5])])
                raise RuntimeError("roll back")
            assert reader.submit(store.facts_of, keys).result(30) == [f]
            assert store.facts_of(keys) == [f]
    finally:
        store.close()



def test_a_store_file_of_the_earlier_roles_layout_is_migrated(tmp_path: Any) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    edges = random_edges(10, 10, 40, seed=9)
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE roles (edge_id TEXT PRIMARY KEY, holder TEXT NOT NULL, role TEXT NOT NULL, org TEXT NOT NULL,"
        " valid_from TEXT NOT NULL, valid_to TEXT, ratio REAL, subscribed_capital REAL, title TEXT NOT NULL);"
        "CREATE INDEX roles_org ON roles(org, valid_from, valid_to, role, holder);"
        "CREATE INDEX roles_holder ON roles(holder, valid_from, valid_to, role, org);"
    )
    con.executemany(
        "INSERT INTO roles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(e.edge_id, e.holder, e.role.value, e.org, e.valid_from.isoformat(),
          e.valid_to.isoformat() if e.valid_to else None, e.ratio, e.subscribed_capital, e.title) for e in edges],
    )
    con.commit()
    con.close()
    store = SQLiteStore(path)
    try:
        assert sorted(store.iter_roles(), key=lambda e: e.edge_id) == sorted(edges, key=lambda e: e.edge_id)
        for e in edges[:10]:
            assert e in store.roles_of([e.org], "in", as_of=e.valid_from)
        assert store.put_roles(edges) == WriteCounts(0, 0, len(edges))
    finally:
        store.close()
