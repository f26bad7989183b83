"""GET /v1/subjects (search) and GET /v1/subjects/{subject}/roles (a subject's edges page by page), in process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from graph_credit.engine import Engine
from graph_credit.store import SQLiteStore
from tests.scenario import World, build

INVESTIGATOR = {"X-API-Key": "demo-investigator", "X-Purpose": "case 2021-7"}
ADMIN = {"X-API-Key": "demo-admin", "X-Purpose": "review"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = SQLiteStore(tmp_path / "search.sqlite")
    w = build(Engine(store))
    yield w
    store.close()


@pytest.fixture
def client(world: World, serve: Callable[..., TestClient]) -> TestClient:
    return serve(world.store)


def test_search_by_name_code_id_and_filters(client: TestClient, world: World) -> None:
    r = client.get("/v1/subjects", params={"q": "建设"}, headers=INVESTIGATOR)
    assert r.status_code == 200, r.text
    hit = r.json()["subjects"]
    assert [s["key"] for s in hit] == [world["org_a"]] and hit[0]["status"] == "banned"
    assert {c["rule_id"] for c in hit[0]["causes"]} >= {"P0"} and r.json()["as_of"] == "2021-01-01"
    by_code = client.get("/v1/subjects", params={"q": world["org_c"][:-2].lower()}, headers=INVESTIGATOR).json()
    assert world["org_c"] in [s["key"] for s in by_code["subjects"]]
    by_id = client.get("/v1/subjects", params={"q": world.id_numbers["p_director"]}, headers=INVESTIGATOR).json()
    assert [s["key"] for s in by_id["subjects"]] == [world["p_director"]]  # a whole ID number: that person
    masked = client.get("/v1/subjects", params={"q": world.id_numbers["p_cpa"][-4:]}, headers=INVESTIGATOR).json()
    assert world["p_cpa"] in [s["key"] for s in masked["subjects"]]
    assert [s["key"] for s in client.get("/v1/subjects", params={"industry": "J"},
                                         headers=INVESTIGATOR).json()["subjects"]] == [world["org_b"]]
    page1 = client.get("/v1/subjects", params={"region": "3202", "limit": 5}, headers=INVESTIGATOR).json()
    page2 = client.get("/v1/subjects", params={"region": "3202", "limit": 5, "offset": 5}, headers=INVESTIGATOR).json()
    assert page1["next_offset"] == 5 and len(page1["subjects"]) == 5
    assert not {s["key"] for s in page1["subjects"]} & {s["key"] for s in page2["subjects"]}
    assert client.get("/v1/subjects", params={"q": "无此名"}, headers=INVESTIGATOR).json()["subjects"] == []


def test_search_refusals_name_the_field(client: TestClient) -> None:
    assert client.get("/v1/subjects", params={"q": "建设"}).status_code == 401
    r = client.get("/v1/subjects", headers=INVESTIGATOR)
    assert r.status_code == 422 and r.json()["error"]["field"] == "q"
    r = client.get("/v1/subjects", params={"q": "x", "region": "32a"}, headers=INVESTIGATOR)
    assert r.status_code == 422 and r.json()["error"]["field"] == "region"
    r = client.get("/v1/subjects", params={"q": "x", "limit": 1000}, headers=INVESTIGATOR)
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"
    r = client.get("/v1/subjects", params={"q": "张"}, headers={"X-API-Key": "demo-investigator"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "purpose_required"  # persons need a purpose
    assert client.get("/v1/subjects", params={"q": "建设"}, headers={"X-API-Key": "demo-investigator"}).status_code \
        == 200  # organisations only: nothing personal read


def test_public_search_is_masked_and_reads_are_audited(client: TestClient, world: World) -> None:
    r = client.get("/v1/subjects", params={"q": "张"}, headers={"X-API-Key": "demo-public"})
    assert r.status_code == 200
    text = r.text
    for name in ("p_director", "p_lr_old"):
        assert world[name] not in text and world.id_numbers[name] not in text and f"张{name[2:]}" not in text
    assert {s["name"][:2] for s in r.json()["subjects"]} == {"张*"}
    client.get("/v1/subjects", params={"q": "张"}, headers=INVESTIGATOR)
    audit = client.get("/v1/audit", headers=ADMIN).json()["entries"]
    entry = next(e for e in audit if e["what"] == "subject search")
    assert entry["purpose"] == "case 2021-7" and world["p_director"] in entry["persons"]
    assert not any(e["role"] == "public" for e in audit)  # the public saw masked data: nothing personal read


def test_roles_page_by_page_with_change_dates(client: TestClient, world: World) -> None:
    url = f"/v1/subjects/{world['org_a']}/roles"
    first = client.get(url, params={"limit": 5}, headers=INVESTIGATOR).json()
    assert first["total"] == 8 and len(first["edges"]) == 5 and first["next_offset"] == 5
    assert first["edges"][0]["role"] == "LEGAL_REPRESENTATIVE"  # the legal representative first
    rest = client.get(url, params={"limit": 5, "offset": 5}, headers=INVESTIGATOR).json()
    assert rest["next_offset"] is None and len(rest["edges"]) == 3
    ends = {n["key"] for n in first["nodes"] + rest["nodes"]}
    assert world["p_lr_new"] in ends and world["p_lr_old"] not in ends
    assert {"2020-06-01", "2020-09-01", "2023-09-01"} <= set(first["changes"])
    old = client.get(url, params={"as_of": "2020-05-31"}, headers=INVESTIGATOR).json()
    assert world["p_lr_old"] in {n["key"] for n in old["nodes"]} and old["subject"]["status"] == "clean"
    assert client.get(url, headers={"X-API-Key": "demo-public"}).status_code == 403
    assert client.get(f"/v1/subjects/{'9' * 17}X/roles", headers=INVESTIGATOR).status_code == 422


def test_a_firm_run_by_a_banned_person_shows_its_exposure(client: TestClient, world: World) -> None:
    """Org C has no consequence of its own, but its legal representative is banned on the date: the view says
    so (the workbench draws it exposed, not clean); before the ban it is clean and unexposed."""
    url = f"/v1/subjects/{world['p_principal']}/roles"
    (org_c,) = [n for n in client.get(url, headers=INVESTIGATOR).json()["nodes"] if n["key"] == world["org_c"]]
    assert org_c["status"] == "clean"
    assert org_c["exposure"] == [{"holder": world["p_principal"], "role": "LEGAL_REPRESENTATIVE", "status": "banned"}]
    before = client.get(url, params={"as_of": "2019-01-01"}, headers=INVESTIGATOR).json()
    assert all(n["exposure"] == [] for n in before["nodes"] if n["key"] == world["org_c"])
