"""Connections among many subjects on hand-built graphs (graph_credit/connections.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from graph_credit.engine import Engine
from graph_credit.graph import InvalidCursor, connect
from graph_credit.ids import mask_id_number, person_key
from graph_credit.model import Organisation, Person, Role, RoleEdge
from graph_credit.store import Store
from tests.helpers import make_id_number, make_uscc
from tests.scenario import D

ON = D("2021-01-01")


class G:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.keys: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self.keys:
            if name.startswith("p"):
                number = make_id_number(900 + len(self.keys))
                self.keys[name] = person_key(number)
                self.engine.put_subjects(persons=[Person(self.keys[name], mask_id_number(number), name)])
            else:
                self.keys[name] = make_uscc(800 + len(self.keys))
                self.engine.put_subjects([Organisation(self.keys[name], name, "enterprise", "320281", "C")])
        return self.keys[name]

    def role(self, holder: str, role: Role, org: str, start: str = "2015-01-01", end: str | None = None,
             ratio: float | None = None) -> RoleEdge:
        edge = RoleEdge(self[holder], role, self[org], D(start), D(end) if end else None, ratio=ratio)
        self.engine.put_roles([edge])
        return edge

    def name(self, key: str) -> str:
        return {v: k for k, v in self.keys.items()}[key]


@pytest.fixture
def g(new_store: Callable[[], Store]) -> G:
    return G(Engine(new_store()))


def _pairs(g: G, result) -> dict[tuple[str, str], tuple[str, int, float | None]]:  # type: ignore[no-untyped-def]
    return {(g.name(p.a), g.name(p.b)): (p.kind, len(p.path), p.effective_stake) for p in result.pairs}


def test_shared_person_and_ownership_chain_and_an_unconnected_subject(g: G) -> None:
    g.role("p_shared", Role.LEGAL_REPRESENTATIVE, "X")
    g.role("p_shared", Role.DIRECTOR, "Y")
    g.role("H", Role.SHAREHOLDER, "M", ratio=0.8)
    g.role("M", Role.SHAREHOLDER, "S", ratio=0.5)
    g.role("p_other", Role.DIRECTOR, "Z")
    result = connect(g.engine.store, [g["X"], g["Y"], g["H"], g["S"], g["Z"]], ON)
    assert _pairs(g, result) == {("X", "Y"): ("shared_person", 2, None), ("H", "S"): ("ownership_chain", 2, 0.4)}
    (shared,) = result.shared_persons
    assert shared["person"] == g["p_shared"]
    assert shared["roles"] == {g["X"]: ["LEGAL_REPRESENTATIVE"], g["Y"]: ["DIRECTOR"]}
    assert [[g.name(k) for k in c] for c in result.components] == [["X", "Y"], ["H", "S"], ["Z"]]
    assert result.unconnected == [g["Z"]]
    body = result.as_dict()
    assert not body["connected"] and body["next_cursor"] is None and body["truncated"] == []
    assert {g.name(n["id"]) for n in body["nodes"]} == {"X", "Y", "p_shared", "H", "M", "S", "Z"}
    assert len(body["edges"]) == 4 and [c["effective_stake"] for c in body["ownership_chains"]] == [0.4]


def test_the_shortest_chain_is_kept_per_pair_and_the_union_is_the_subgraph(g: G) -> None:
    # A - p1 - B - p2 - C, and a longer detour A - p3 - D - p4 - E - p5 - C
    g.role("p1", Role.DIRECTOR, "A")
    g.role("p1", Role.DIRECTOR, "B")
    g.role("p2", Role.SUPERVISOR, "B")
    g.role("p2", Role.SUPERVISOR, "C")
    for p, a, b in (("p3", "A", "D"), ("p4", "D", "E"), ("p5", "E", "C")):
        g.role(p, Role.PRINCIPAL, a)
        g.role(p, Role.PRINCIPAL, b)
    result = connect(g.engine.store, [g["A"], g["C"]], ON, max_depth=4)
    ((kind, length, _),) = _pairs(g, result).values()
    assert (kind, length) == ("chain", 4)
    assert [g.name(s.target) for s in result.pairs[0].path] == ["p1", "B", "p2", "C"]
    assert {g.name(n) for n in result.nodes} == {"A", "p1", "B", "p2", "C"}


def test_max_depth_bounds_the_chains(g: G) -> None:
    # a chain of 6 edges: O1 - p1 - O2 - p2 - O3 - p3 - O4
    for i in range(1, 4):
        g.role(f"p{i}", Role.DIRECTOR, f"O{i}")
        g.role(f"p{i}", Role.DIRECTOR, f"O{i + 1}")
    subjects = [g["O1"], g["O4"]]
    assert connect(g.engine.store, subjects, ON, max_depth=5).pairs == []
    (pair,) = connect(g.engine.store, subjects, ON, max_depth=6).pairs
    assert len(pair.path) == 6


def test_connections_are_as_of_a_date(g: G) -> None:
    g.role("p1", Role.LEGAL_REPRESENTATIVE, "X", "2015-01-01", "2019-01-01")
    g.role("p1", Role.LEGAL_REPRESENTATIVE, "Y", "2016-01-01")
    assert len(connect(g.engine.store, [g["X"], g["Y"]], D("2018-01-01")).pairs) == 1
    assert connect(g.engine.store, [g["X"], g["Y"]], D("2020-01-01")).pairs == []


def test_hubs_are_paged_with_a_cursor(g: G) -> None:
    for org, people in (("X", ("q1", "q2", "q3", "q4")), ("Y", ("r1", "r2", "r3", "r4"))):
        for p in people:
            g.role("p" + p, Role.LEGAL_REPRESENTATIVE, org)  # followed first: legal representatives lead
    g.role("p_hidden", Role.SHAREHOLDER, "X", ratio=0.1)
    g.role("p_hidden", Role.DIRECTOR, "Y")
    store, subjects = g.engine.store, [g["X"], g["Y"]]
    first = connect(store, subjects, ON, max_depth=2, max_fanout=4)
    assert first.pairs == [] and first.next_cursor
    assert first.truncated == {g["X"]: {"edges": 5, "offset": 0, "followed": 4},
                               g["Y"]: {"edges": 5, "offset": 0, "followed": 4}}
    second = connect(store, subjects, ON, max_depth=2, max_fanout=4, cursor=first.next_cursor)
    assert _pairs(g, second) == {("X", "Y"): ("shared_person", 2, None)}
    assert second.truncated[g["X"]] == {"edges": 5, "offset": 4, "followed": 5}  # cumulative
    assert second.next_cursor is None
    assert [s["person"] for s in second.shared_persons] == [g["p_hidden"]]
    with pytest.raises(InvalidCursor, match="different request"):
        connect(store, subjects, ON, max_depth=3, max_fanout=4, cursor=first.next_cursor)
    with pytest.raises(InvalidCursor, match="cursor"):
        connect(store, subjects, ON, max_depth=2, max_fanout=4, cursor="not-a-cursor")


def test_hub_paging_is_cumulative_page_two_keeps_what_page_one_found(g: G) -> None:
    # X has 5 legal representatives (followed first) and a director p_early shared with Y; Y's director p_late
    # is shared with X too, but sorts after X's fifth representative: page 1 (fanout 5) finds X-p_early-Y,
    # page 2 finds X-p_late-Y; page 2 must still report the p_early connection.
    for i in range(5):
        g.role(f"p_lr{i}", Role.LEGAL_REPRESENTATIVE, "X")
    early = g.role("p_early", Role.DIRECTOR, "X")
    late = g.role("p_late", Role.SUPERVISOR, "X", start="2016-01-01")
    g.role("p_early", Role.DIRECTOR, "Y")
    g.role("p_late", Role.DIRECTOR, "Y")
    store, subjects = g.engine.store, [g["X"], g["Y"]]
    ordered = sorted([early, late], key=lambda e: e.edge_id)
    first = connect(store, subjects, ON, max_depth=2, max_fanout=6)
    assert first.truncated == {g["X"]: {"edges": 7, "offset": 0, "followed": 6}} and first.next_cursor
    assert [s["person"] for s in first.shared_persons] == [ordered[0].holder]
    second = connect(store, subjects, ON, max_depth=2, max_fanout=6, cursor=first.next_cursor)
    assert second.truncated == {g["X"]: {"edges": 7, "offset": 6, "followed": 7}} and second.next_cursor is None
    assert sorted(s["person"] for s in second.shared_persons) == sorted([g["p_early"], g["p_late"]])
    assert _pairs(g, second) == _pairs(g, first) == {("X", "Y"): ("shared_person", 2, None)}


def test_page_one_never_misses_a_direct_edge_between_two_requested_hubs(g: G) -> None:
    # X and Y each have 4 legal representatives (followed first); Y holds 30% of X: with a fanout of 4 both
    # are hubs, and the shareholding between them sorts after the representatives on both sides.
    for org, people in (("X", ("q1", "q2", "q3", "q4")), ("Y", ("r1", "r2", "r3", "r4"))):
        for p in people:
            g.role("p" + p, Role.LEGAL_REPRESENTATIVE, org)
    stake = g.role("Y", Role.SHAREHOLDER, "X", ratio=0.3)
    result = connect(g.engine.store, [g["X"], g["Y"]], ON, max_depth=2, max_fanout=4)
    assert _pairs(g, result) == {("X", "Y"): ("ownership_chain", 1, 0.3)}
    assert result.pairs[0].path[0].edge_id == stake.edge_id
    # the direct edge is followed on top of the page: 4 other edges each, nothing truncated, nothing to page
    assert result.truncated == {} and result.next_cursor is None
    g.role("p_extra", Role.DIRECTOR, "X")
    paged = connect(g.engine.store, [g["X"], g["Y"]], ON, max_depth=2, max_fanout=4)
    assert paged.truncated == {g["X"]: {"edges": 6, "offset": 0, "followed": 5}} and paged.next_cursor
    assert _pairs(g, paged) == {("X", "Y"): ("ownership_chain", 1, 0.3)}


def test_cross_holding_does_not_hide_a_22_5_percent_ownership_chain(g: G) -> None:
    # B holds 45% of A and C holds 50% of B: C's stake in A is 0.45 x 0.5 = 22.5%. A also holds 10% of B
    # (a cross-holding); its edge sorts first at A, so the search reaches B through it.
    down = g.role("A", Role.SHAREHOLDER, "B", ratio=0.1)
    start = next(f"2015-01-{d:02d}" for d in range(1, 29)  # edge ids are hashes: pick a start sorting after
                 if RoleEdge(g["B"], Role.SHAREHOLDER, g["A"], D(f"2015-01-{d:02d}")).edge_id > down.edge_id)
    up = g.role("B", Role.SHAREHOLDER, "A", start=start, ratio=0.45)
    top = g.role("C", Role.SHAREHOLDER, "B", ratio=0.5)
    result = connect(g.engine.store, [g["A"], g["C"]], ON)
    assert _pairs(g, result) == {("A", "C"): ("ownership_chain", 2, 0.225)}
    (pair,) = result.pairs
    assert [s.edge_id for s in pair.path] == [up.edge_id, top.edge_id]
    assert [(g.name(s.holder), g.name(s.org), s.ratio) for s in pair.path] == [("B", "A", 0.45), ("C", "B", 0.5)]
    assert {e["id"] for e in result.as_dict()["edges"]} == {up.edge_id, top.edge_id}


def test_two_to_fifty_subjects(g: G) -> None:
    store = g.engine.store
    with pytest.raises(ValueError, match="subjects"):
        connect(store, [g["X"]], ON)
    with pytest.raises(ValueError, match="subjects"):
        connect(store, [g["X"], g["X"]], ON)  # duplicates count once
    many = [make_uscc(10_000 + i) for i in range(51)]
    with pytest.raises(ValueError, match="2 to 50"):
        connect(store, many, ON)
    # fifty subjects around one shared person: 1,225 pairs, all of kind shared_person
    orgs = [f"O{i}" for i in range(50)]
    for o in orgs:
        g.role("p_nominee", Role.SUPERVISOR, o)
    result = connect(store, [g[o] for o in orgs], ON, max_depth=2, max_fanout=100)
    assert len(result.pairs) == 50 * 49 // 2 and {p.kind for p in result.pairs} == {"shared_person"}
    assert len(result.components) == 1 and len(result.shared_persons[0]["subjects"]) == 50


def test_direct_role_between_two_subjects(g: G) -> None:
    g.role("p_boss", Role.LEGAL_REPRESENTATIVE, "X")
    (pair,) = connect(g.engine.store, [g["p_boss"], g["X"]], date(2021, 1, 1)).pairs
    assert pair.kind == "direct" and len(pair.path) == 1


# -- API: POST /v1/connections -------------------------------------------------------------------------------

MARKET = {"X-API-Key": "demo-market", "X-Purpose": "test"}
INVESTIGATOR = {"Authorization": "Bearer demo-investigator", "X-Purpose": "network investigation"}


@pytest.fixture
def client(tmp_path):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.app import Settings, create_app
    from graph_credit.store import SQLiteStore
    from tests.scenario import build

    store = SQLiteStore(tmp_path / "api.sqlite")
    w = build(Engine(store))
    app = create_app(Settings(demo=True, today=ON, public_rate_per_minute=1000), store=store)
    with TestClient(app) as c:
        yield c, w


def test_api_connections(client) -> None:  # type: ignore[no-untyped-def]
    c, w = client
    body = {"subjects": [w["org_a"], w["org_c"], w["org_b"]], "as_of": "2021-01-01", "max_depth": 4}
    r = c.post("/v1/connections", json=body, headers=INVESTIGATOR)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["connected"] and len(data["pairs"]) == 3
    assert [s["person"] for s in data["shared_persons"]] == [w["p_principal"]]
    assert [(p["a"], p["b"], p["effective_stake"]) for p in data["ownership_chains"]] == [(w["org_a"], w["org_b"], 0.4)]
    # subjects may be given as ID numbers; the purpose may come in the body
    by_id = c.post("/v1/connections", json={"subjects": [w.id_numbers["p_principal"], w["org_c"]],
                                            "purpose": "调查"}, headers={"X-API-Key": "demo-investigator"})
    assert by_id.status_code == 200 and by_id.json()["pairs"][0]["kind"] == "direct"
    assert c.post("/v1/connections", json=body, headers=MARKET).status_code == 403
    assert c.post("/v1/connections", json=body).status_code == 401


@pytest.mark.parametrize("change, field", [
    ({"subjects": []}, "subjects"),
    ({"max_depth": 99}, "max_depth"),
    ({"max_fanout": 0}, "max_fanout"),
    ({"cursor": "garbage"}, "cursor"),
    ({"as_of": 20210101}, "as_of"),
])
def test_api_connections_bad_input(client, change, field) -> None:  # type: ignore[no-untyped-def]
    c, w = client
    body = {"subjects": [w["org_a"], w["org_c"]], **change}
    r = c.post("/v1/connections", json=body, headers=INVESTIGATOR)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_api_connections_bad_subject_names_its_position(client) -> None:  # type: ignore[no-untyped-def]
    c, w = client
    r = c.post("/v1/connections", json={"subjects": [w["org_a"], "91320281000000001X"]}, headers=INVESTIGATOR)
    assert r.status_code == 422 and r.json()["error"]["field"] == "subjects.1"
    many = c.post("/v1/connections", json={"subjects": [w["org_a"]] * 51}, headers=INVESTIGATOR)
    assert many.status_code == 422 and many.json()["error"]["field"] == "subjects"
    same = c.post("/v1/connections", json={"subjects": [w["org_a"], w["org_a"]]}, headers=INVESTIGATOR)
    assert same.status_code == 422 and same.json()["error"]["field"] == "subjects"
