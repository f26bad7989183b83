"""Policy what-if with known answers from the policy files (graph_credit/whatif.py, derive(policy=...)).

Real differences in graph_credit/policy/data:
- Jiangyin (24): measures are not suspended while an objection is verified (the default suspends them);
- P4 (public-institution legal representative bar) is in force from 2017-12-22 (Shandong 11) only;
- Ganzhou 4(2): the entry ban and the revocation of honours reach social organisations (from 2018-03-23);
- Shandong 11, 12 and Tibet (12) add measures to the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graph_credit.engine import Engine
from graph_credit.model import Cause, DishonestyRecord, Organisation, RecordEvent, Role, RoleEdge
from graph_credit.policy import load_policy
from graph_credit.rules import derive
from graph_credit.store import NotFound, Store
from graph_credit.whatif import PolicyChoice, what_if, what_if_region
from tests.helpers import INVESTIGATOR, MARKET, PUBLIC, make_uscc
from tests.scenario import D, World, build

DEFAULT, JIANGYIN = PolicyChoice("default"), PolicyChoice("jiangyin")


@pytest.fixture
def world(new_store: Callable[[], Store]) -> World:
    return build(Engine(new_store()))


def _facts(store: Store) -> list:
    return sorted(store.iter_facts(), key=lambda f: f.fact_id)


def test_derive_takes_a_policy_override_and_writes_nothing(world: World) -> None:
    cause = Cause("record", "R1")
    before = _facts(world.store)
    own = derive(world.store, cause)
    assert {f.jurisdiction for f in own} == {"default"}
    assert {f.jurisdiction for f in derive(world.store, cause, policy="jiangyin")} == {"jiangyin"}
    snap = load_policy("default").at(D("2016-06-01"))
    assert {f.fact_id for f in derive(world.store, cause, policy=snap)} == {f.fact_id for f in own}
    assert _facts(world.store) == before


def test_jiangyin_24_does_not_suspend_measures_during_an_objection(world: World) -> None:
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    before = _facts(world.store)
    result = what_if(world.store, world["p_lr_old"], DEFAULT, JIANGYIN, D("2020-10-15"))
    assert _facts(world.store) == before  # nothing written
    changed = [d for d in result.differences if d["change"] == "changed"]
    assert {d["consequence"] for d in changed} == {"personal_credit_entry", "responsible_person_punishment"}
    for d in changed:
        assert d["fields"]["suspended"] == {"a": [[D("2020-10-01"), None]], "b": []}
        assert d["fields"]["status"] == {"a": "suspended", "b": "active"}
        assert "GuoFa33 (20)" in d["clauses"]["a"] and "Jiangyin (24)" in d["clauses"]["b"]
        assert d["rule"]["a"]["id"] == d["rule"]["b"]["id"] == d["rule_id"]


def test_jiangyin_11_a_serious_record_alone_is_not_a_black_listing(world: World) -> None:
    # Under Jiangyin the administrative punishments, the entry ban and the honours follow the black list
    result = what_if(world.store, world["org_a"], DEFAULT, JIANGYIN, D("2020-10-15"))
    assert {(d["change"], d["rule_id"]) for d in result.differences} == {
        ("only_a", "P0"), ("only_a", "P2"), ("only_a", "P3"), ("only_a", "P3b")}
    # without a record the two policies agree on this company
    assert what_if(world.store, world["org_c"], DEFAULT, JIANGYIN, D("2020-10-15")).differences == []


def _defaulter(engine: Engine, w: World, decided: str, jurisdiction: str = "default") -> None:
    engine.put_records([DishonestyRecord("R4", w["p_other"], "judgment_defaulter", "serious", D(decided),
                                         jurisdiction=jurisdiction)])


def test_p4_shandong_11_one_policy_at_two_effective_dates(new_store: Callable[[], Store]) -> None:
    engine = Engine(new_store(), "shandong")
    w = build(engine, record=False)
    _defaulter(engine, w, "2018-03-01", "shandong")
    result = what_if(w.store, w["p_other"], PolicyChoice("shandong", D("2017-06-01")), PolicyChoice("shandong"),
                     D("2018-06-01"))
    only = [d for d in result.differences if d["change"] == "only_b"]
    assert [d["rule_id"] for d in only] == ["P4"]
    assert only[0]["consequence"] == "public_institution_lr_bar" and only[0]["clauses"]["b"] == ["Shandong 11"]
    assert only[0]["rule"]["a"] is None and "not in force in shandong on 2017-06-01" in only[0]["reason"]
    assert only[0]["fact"]["status"] == "active"


def test_shandong_before_and_after_2017_12_22(new_store: Callable[[], Store]) -> None:
    engine = Engine(new_store(), "shandong")
    w = build(engine, record=False)
    _defaulter(engine, w, "2017-06-01", "shandong")
    # decided before the Shandong document: shandong and default derive and implement the same
    early = what_if(w.store, w["p_other"], DEFAULT, PolicyChoice("shandong"), D("2017-07-01"))
    assert early.differences == [] and early.facts_a == early.facts_b == 2  # P0 and P6
    # the same record judged under Shandong's policy as in force from 2018: P4, Shandong's own bases
    # beside the national ones, and the measures only Shandong names (flights and trains among them)
    later = what_if(w.store, w["p_other"], DEFAULT, PolicyChoice("shandong", D("2018-01-01")), D("2018-06-01"))
    assert {(d["change"], d["rule_id"]) for d in later.differences} == {
        ("only_b", "P4"), ("changed", "P0"), ("changed", "P6"), ("measures", "P0"), ("measures", "P6")}
    for d in later.differences:
        assert all(c.startswith(("Shandong", "GuoFa33")) for c in d["clauses"]["b"])
    measures = {m["code"] for d in later.differences if d["change"] == "measures" for m in d["measures"]["only_b"]}
    assert {"DISHONEST_OFFICIAL_APPOINTMENT", "FUTURES_SERVICE_RESTRICTION", "AIR_TRAVEL_RESTRICTION",
            "RAIL_TRAVEL_RESTRICTION"} <= measures


def test_ganzhou_4_2_reaches_social_organisations(new_store: Callable[[], Store]) -> None:
    engine = Engine(new_store())
    w = build(engine, record=False)
    soc = make_uscc(77)
    engine.put_subjects([Organisation(soc, "某协会", "social_organisation", "620702", "S", D("2012-01-01"))])
    engine.put_roles([RoleEdge(w["p_lr_new"], Role.LEGAL_REPRESENTATIVE, soc, D("2015-01-01"))])
    engine.put_records([DishonestyRecord("RS", soc, "contract_fraud", "serious", D("2019-01-01"),
                                         act_date=D("2018-06-01"))])
    result = what_if(w.store, soc, DEFAULT, PolicyChoice("ganzhou"), D("2019-06-01"))
    only_b = {(d["rule_id"], d["consequence"]) for d in result.differences if d["change"] == "only_b"}
    assert only_b == {("P2", "market_ban"), ("P3b", "commendation_ineligible")}  # no honours to revoke
    ban = next(d for d in result.differences if d["rule_id"] == "P2")
    assert ban["clauses"]["b"] == ["Ganzhou 4(2)"] and ban["rule"]["b"]["version"] == "ganzhou-1"
    assert "version 1 in default" in ban["reason"] and "trigger or affected roles differ" in ban["reason"]
    # the legal representative of the association is reached too
    person = what_if(w.store, w["p_lr_new"], DEFAULT, PolicyChoice("ganzhou"), D("2019-06-01"))
    assert {d["rule_id"] for d in person.differences if d["change"] == "only_b"} == {"P2", "P3b"}


def test_tibet_differs_only_in_measures_and_bases_for_this_record(world: World) -> None:
    result = what_if(world.store, world["org_a"], DEFAULT, PolicyChoice("tibet"), D("2021-01-01"))
    assert {d["change"] for d in result.differences} == {"measures", "changed"}
    assert all(set(d["fields"]) <= {"basis", "rule_version"} for d in result.differences if d["change"] == "changed")
    codes = {m["code"] for d in result.differences if d["change"] == "measures" for m in d["measures"]["only_b"]}
    assert "CENTRAL_BUDGET_INVESTMENT_RESTRICTION" in codes
    assert all(c.startswith(("Tibet", "GuoFa33")) for d in result.differences for c in d["clauses"]["b"])


def test_verification_deadline_15_against_20_days_is_a_difference(world: World) -> None:
    # filed 2020-10-01, rejected 2020-10-18: due 2020-10-16 under the default (15 days), verified late;
    # due 2020-10-21 in Tibet (20 days, Tibet (18)), on time. The suspension (10-01 to 10-18) is the same.
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    world.engine.add_event(RecordEvent("R1", "objection_rejected", D("2020-10-18")))
    result = what_if(world.store, world["org_a"], DEFAULT, PolicyChoice("tibet"), D("2020-10-17"))
    (d,) = [d for d in result.differences if d["change"] == "objection"]
    assert d["cause"] == "record:R1" and d["fields"]["verification_days"] == {"a": 15, "b": 20}
    assert d["objections"] == [{"filed_on": D("2020-10-01"), "resolved_on": D("2020-10-18"),
                                "deadline": {"a": D("2020-10-16"), "b": D("2020-10-21")},
                                "verified_late": {"a": True, "b": False}, "overdue": {"a": True, "b": False}}]
    assert d["clauses"]["a"] and d["clauses"]["b"] and result.counts()["objection"] == 1
    # same suspension on both sides (the bases differ: Tibet's own beside the national ones)
    assert not [d for d in result.differences if d["change"] == "changed" and "suspended" in d["fields"]]
    same = what_if(world.store, world["org_a"], DEFAULT, JIANGYIN, D("2020-10-17"))  # 15 days both
    assert same.counts()["objection"] == 0


def test_region_what_if_covers_every_target(world: World) -> None:
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    region = what_if_region(world.store, "320281", DEFAULT, JIANGYIN, D("2020-10-15"))
    company = what_if(world.store, world["org_a"], DEFAULT, JIANGYIN, D("2020-10-15"))
    targets = {d["target"] for d in region.differences}
    assert world["org_a"] in targets and world["p_lr_old"] in targets and world["p_director"] in targets
    assert len(region.differences) > len(company.differences) and region.causes == 1
    assert what_if_region(world.store, "540102", DEFAULT, JIANGYIN).causes == 0


def test_bad_choices_and_unknown_subjects(world: World) -> None:
    with pytest.raises(ValueError, match="jurisdiction"):
        PolicyChoice("atlantis")
    with pytest.raises(NotFound):
        what_if(world.store, make_uscc(999), DEFAULT, JIANGYIN)


# -- API: POST /v1/what-if -------------------------------------------------------------------------------------



@pytest.fixture
def client(api):  # type: ignore[no-untyped-def]
    """The API over the scenario world, with an objection under verification on R1."""
    api[1].engine.add_event(RecordEvent("R1", "objection_filed", D("2020-12-20")))
    return api


def test_api_what_if_subject_and_region(client) -> None:  # type: ignore[no-untyped-def]
    c, w = client
    body = {"subject": w["p_lr_old"], "a": {"jurisdiction": "default"}, "b": {"jurisdiction": "jiangyin"}}
    r = c.post("/v1/what-if", json=body, headers=MARKET)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["counts"]["changed"] == 2 and data["truncated"] is False
    changed = [d for d in data["differences"] if d["change"] == "changed"]
    assert all("Jiangyin (24)" in d["clauses"]["b"] for d in changed)
    assert changed[0]["fields"]["status"] == {"a": "suspended", "b": "active"}
    region = c.post("/v1/what-if", json={"region": "320281", "a": {}, "b": {"jurisdiction": "jiangyin"},
                                         "limit": 2}, headers=INVESTIGATOR)
    assert region.status_code == 200 and region.json()["truncated"] is True
    assert len(region.json()["differences"]) == 2 and region.json()["counts"]["changed"] > 4
    dated = c.post("/v1/what-if", json={"subject": w["org_a"], "a": {"on": "2016-06-01"}, "b": {}},
                   headers=MARKET)
    assert dated.status_code == 200 and dated.json()["differences"] == []
    assert c.post("/v1/what-if", json=body, headers=PUBLIC).status_code == 403
    assert c.post("/v1/what-if", json=body).status_code == 401
    # a person's consequences are personal data: purpose required and audited
    person = {"subject": w["p_lr_old"], "a": {}, "b": {"jurisdiction": "jiangyin"}}
    assert c.post("/v1/what-if", json=person, headers={"X-API-Key": "demo-market"}).status_code == 400
    assert c.post("/v1/what-if", json={**person, "purpose": "政策比较"},
                  headers={"X-API-Key": "demo-market"}).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"a": {}, "b": {}}, "subject"),
    ({"subject": "SUBJECT", "region": "320281", "a": {}, "b": {}}, "subject"),
    ({"region": "320281", "a": {"jurisdiction": "atlantis"}, "b": {}}, "a.jurisdiction"),
    ({"region": "320281", "a": {}, "b": {"on": "yesterday"}}, "b.on"),
    ({"region": "32x", "a": {}, "b": {}}, "region"),
    ({"region": "320281", "a": {}}, "b"),
    ({"subject": "91320281000000001X", "a": {}, "b": {}}, "subject"),
])
def test_api_what_if_bad_input(client, body, field) -> None:  # type: ignore[no-untyped-def]
    c, w = client
    if body.get("subject") == "SUBJECT":
        body = {**body, "subject": w["org_a"]}
    r = c.post("/v1/what-if", json=body, headers=MARKET)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_api_what_if_shows_the_verification_deadline_difference(client) -> None:  # type: ignore[no-untyped-def]
    c, w = client  # the objection filed 2020-12-20 is due 2021-01-04 (15 days) or 2021-01-09 (Tibet, 20)
    w.engine.add_event(RecordEvent("R1", "objection_rejected", D("2021-01-06")))
    body = {"subject": w["org_a"], "a": {"jurisdiction": "default"}, "b": {"jurisdiction": "tibet"}}
    data = c.post("/v1/what-if", json=body, headers=MARKET).json()
    library = what_if(w.store, w["org_a"], DEFAULT, PolicyChoice("tibet"), D("2021-01-01"))
    assert data["counts"] == library.counts() and data["counts"]["objection"] == 1
    (d,) = [d for d in data["differences"] if d["change"] == "objection"]
    assert d["objections"][0]["deadline"] == {"a": "2021-01-04", "b": "2021-01-09"}
    assert d["objections"][0]["verified_late"] == {"a": True, "b": False}
