"""Risk categories on the scenario world, with known answers (graph_credit/risk_items.py).

R1 on org_a: serious, act 2019-05-01, decided 2020-09-01, period ends 2023-09-01. On 2021-01-01 org_a
carries P0 joint punishment, P2 market ban, P3 honour revocation (H-A) and P3b commendation ineligibility;
its people in post carry P1/P2/P3b; org_c is clean and shares p_principal with org_a.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graph_credit.engine import Engine
from graph_credit.model import ListEntry, RecordEvent
from graph_credit.risk_items import risk_items, risk_items_frame
from graph_credit.store import Store
from tests.helpers import INVESTIGATOR, MARKET, PUBLIC
from tests.scenario import D, World, build

ON = D("2021-01-01")


@pytest.fixture
def world(new_store: Callable[[], Store]) -> World:
    return build(Engine(new_store()))


def _own(report) -> dict[tuple[str, str | None], tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return {(i.kind, i.consequence): (i.severity, i.status) for i in report.items if i.category == "own"}


def test_own_items_of_the_dishonest_company(world: World) -> None:
    report = risk_items(world.store, world["org_a"], ON)
    assert _own(report) == {
        ("record", None): ("high", "in_force"),
        ("consequence", "joint_punishment"): ("high", "active"),
        ("consequence", "market_ban"): ("high", "active"),
        ("consequence", "honour_revocation"): ("high", "active"),
        ("consequence", "commendation_ineligible"): ("high", "active"),
    }
    record = next(i for i in report.items if i.kind == "record")
    assert record.until == D("2023-09-01") and record.cause == "record:R1"
    ban = next(i for i in report.items if i.consequence == "market_ban" and i.category == "own")
    assert ban.rule_id == "P2" and ban.basis == ("GuoFa33 (8)",) and ban.fact_id  # a default record: national
    assert report.counts()["historical"] == dict.fromkeys(("high", "medium", "low", "info"), 0)


def test_surrounding_items_name_the_carrier_and_the_path(world: World) -> None:
    report = risk_items(world.store, world["org_c"], ON)
    surrounding = [i for i in report.items if i.category == "surrounding"]
    assert {i.carrier for i in surrounding} == {world["org_a"], world["p_principal"]}
    assert all(i.kind == "consequence" and i.score is not None for i in surrounding)
    via_person = next(i for i in surrounding if i.carrier == world["p_principal"] and i.rule_id == "P1")
    assert [s.role for s in via_person.path] == ["LEGAL_REPRESENTATIVE"]
    assert via_person.severity == "high"  # a legal representative with a personal credit entry: 0.8 >= 0.5
    via_company = next(i for i in surrounding if i.carrier == world["org_a"] and i.rule_id == "P0")
    assert [s.target for s in via_company.path] == [world["p_principal"], world["org_a"]]
    assert [i for i in report.items if i.category == "own"] == []
    # depth 1 reaches only the shared person
    near = risk_items(world.store, world["org_c"], ON, depth=1)
    assert {i.carrier for i in near.items if i.category == "surrounding"} == {world["p_principal"]}


def test_a_pending_objection_is_a_warning_and_suspended_items_drop_a_grade(world: World) -> None:
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-12-20")))
    report = risk_items(world.store, world["org_a"], ON)
    (objection,) = [i for i in report.items if i.kind == "objection_pending"]
    assert objection.category == "warning" and objection.severity == "medium" and objection.status == "pending"
    assert objection.until == D("2021-01-04")  # 15 verification days (default policy)
    assert _own(report)[("consequence", "market_ban")] == ("medium", "suspended")
    overdue = risk_items(world.store, world["org_a"], D("2021-01-10"))
    assert next(i for i in overdue.items if i.kind == "objection_pending").severity == "high"


def test_upcoming_expiry_within_the_window(world: World) -> None:
    on = D("2023-07-01")
    report = risk_items(world.store, world["org_a"], on, window_days=90)
    expiring = {(i.kind, i.consequence) for i in report.items if i.kind == "upcoming_expiry"}
    # the record and every consequence ending with it; the honour revocation has no end
    assert expiring == {("upcoming_expiry", None), ("upcoming_expiry", "joint_punishment"),
                        ("upcoming_expiry", "market_ban"), ("upcoming_expiry", "commendation_ineligible")}
    assert all(i.category == "warning" and i.severity == "low" for i in report.items if i.kind == "upcoming_expiry")
    assert not [i for i in risk_items(world.store, world["org_a"], on, window_days=30).items
                if i.kind == "upcoming_expiry"]


def test_historical_after_expiry_repair_and_withdrawal(world: World) -> None:
    after = risk_items(world.store, world["org_a"], D("2024-01-01"))
    historical = {(i.kind, i.consequence): i.status for i in after.items if i.category == "historical"}
    assert historical == {("record", None): "expired", ("consequence", "joint_punishment"): "expired",
                          ("consequence", "market_ban"): "expired",
                          ("consequence", "commendation_ineligible"): "expired"}
    assert all(i.severity == "info" for i in after.items if i.category == "historical")
    assert ("consequence", "honour_revocation") in _own(after)  # revoked honours stay revoked

    world.engine.add_event(RecordEvent("R1", "repair_applied", D("2021-03-01")))
    world.engine.add_event(RecordEvent("R1", "repair_approved", D("2021-04-01")))
    repaired = risk_items(world.store, world["org_a"], D("2021-05-01"))
    assert {i.status for i in repaired.items if i.category == "historical"} == {"repaired"}
    assert set(_own(repaired)) == {("consequence", "honour_revocation")}  # nothing else restricts after repair


def test_withdrawn_record_is_only_history(new_store: Callable[[], Store]) -> None:
    w = build(Engine(new_store()))
    w.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    w.engine.add_event(RecordEvent("R1", "objection_upheld", D("2020-10-10")))
    report = risk_items(w.store, w["p_lr_old"], ON)
    assert report.items and {i.category for i in report.items} == {"historical"}
    assert {i.status for i in report.items} == {"withdrawn"}


def test_black_list_entries_and_proposals(world: World) -> None:
    world.engine.put_list_entries([
        ListEntry("B1", world["org_c"], "black", "失信黑名单", "market_regulation", "Jiangyin (6)", D("2020-11-01"),
                  D("2021-02-01")),
        ListEntry("B2", world["org_c"], "black", "失信黑名单", "tax", "Jiangyin (6)", D("2021-03-01"),
                  status="publicity"),
    ])
    report = risk_items(world.store, world["org_c"], ON)
    own = _own(report)
    assert own[("list_entry", None)] == ("high", "effective")
    assert own[("consequence", "key_supervision")][1] == "active"
    kinds = {(i.category, i.kind) for i in report.items}
    assert ("warning", "black_list_proposed") in kinds and ("warning", "upcoming_expiry") in kinds


def test_newly_related_party_within_the_window(world: World) -> None:
    # p_lr_new became org_a's legal representative on 2020-06-01, 214 days before ON
    assert not [i for i in risk_items(world.store, world["org_a"], ON, window_days=90).items
                if i.kind == "new_related_party"]
    report = risk_items(world.store, world["org_a"], ON, depth=1, window_days=300)
    (new,) = [i for i in report.items if i.kind == "new_related_party"]
    assert new.carrier == world["p_lr_new"] and new.since == D("2020-06-01") and new.severity == "low"
    assert new.category == "warning" and [s.role for s in new.path] == ["LEGAL_REPRESENTATIVE"]


def test_order_and_frame(world: World) -> None:
    report = risk_items(world.store, world["org_a"], ON)
    order = ["own", "surrounding", "warning", "historical"]
    assert [order.index(i.category) for i in report.items] == sorted(order.index(i.category) for i in report.items)
    frame = risk_items_frame(world.store, [world["org_a"], world["org_c"]], ON)
    assert len(frame) == len(report.items) + len(risk_items(world.store, world["org_c"], ON).items)
    assert set(frame["category"]) == {"own", "surrounding"}
    assert {"subject", "category", "kind", "severity", "carrier", "path", "basis"} <= set(frame.columns)
    assert frame[frame["subject"] == world["org_c"]]["distance"].min() == 1
    assert report.as_dict()["counts"]["own"]["high"] == 5


# -- API: GET /v1/subjects/{subject}/risk-items -----------------------------------------------------------

def test_objection_verified_late_is_overdue_in_past_views(world: World) -> None:
    # filed 2020-12-20, 15 verification days: due 2021-01-04; rejected late, on 2021-01-10
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-12-20")))
    world.engine.add_event(RecordEvent("R1", "objection_rejected", D("2021-01-10")))
    expected = {"2021-01-03": (True, False), "2021-01-07": (True, True), "2021-01-10": (False, False)}
    for on, (pending, overdue) in expected.items():
        (o,) = world.engine.objections(D(on))
        assert (o["pending"], o["overdue"]) == (pending, overdue), on
    (item,) = [i for i in risk_items(world.store, world["org_a"], D("2021-01-07")).items
               if i.kind == "objection_pending"]
    assert (item.status, item.severity, item.until) == ("overdue", "high", D("2021-01-04"))
    assert "(overdue)" in item.summary
    assert not [i for i in risk_items(world.store, world["org_a"], D("2021-01-10")).items
                if i.kind == "objection_pending"]


def test_later_withdrawal_does_not_leak_into_a_past_view(world: World) -> None:
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2021-03-01")))
    world.engine.add_event(RecordEvent("R1", "objection_upheld", D("2021-03-10")))
    before = risk_items(world.store, world["org_a"], ON, window_days=90)  # the withdrawal is 68 days later
    assert [i for i in before.items if i.kind == "upcoming_expiry"] == []
    assert not [i for i in before.items if "withdrawn" in i.summary or i.status == "withdrawn"]
    ban = next(i for i in before.items if i.category == "own" and i.consequence == "market_ban")
    assert (ban.status, ban.since, ban.until) == ("active", D("2020-09-01"), D("2023-09-01"))
    around = next(i for i in risk_items(world.store, world["org_c"], ON).items
                  if i.category == "surrounding" and i.rule_id == "P2" and i.carrier == world["p_principal"])
    assert around.until == D("2023-09-01")
    after = risk_items(world.store, world["org_a"], D("2021-03-10"))
    assert {i.status for i in after.items if i.cause == "record:R1"} == {"withdrawn"}


def test_own_record_is_not_surrounding_through_the_legal_representatives_entry(world: World) -> None:
    # p_principal (org_a's principal) carries a personal credit entry for R1, org_a's own record
    assert any(f.cause.id == "R1" for f in world.store.facts_of([world["p_principal"]]))
    report = risk_items(world.store, world["org_a"], ON)
    assert [i for i in report.items if i.category == "surrounding"] == []
    # for org_c, R1 is another subject's record: it stays surrounding
    assert any(i.cause == "record:R1" for i in risk_items(world.store, world["org_c"], ON).items
               if i.category == "surrounding")


def test_surrounding_items_carry_since_and_until(world: World) -> None:
    report = risk_items(world.store, world["org_c"], ON)
    ban = next(i for i in report.items if i.carrier == world["p_principal"] and i.rule_id == "P2")
    assert (ban.since, ban.until) == (D("2020-09-01"), D("2023-09-01"))
    assert ban.summary.endswith("market_ban (P2, record:R1) since 2020-09-01 until 2023-09-01")
    row = report.as_dict()["items"][report.items.index(ban)]
    assert (row["since"], row["until"]) == (D("2020-09-01"), D("2023-09-01"))
    entry = next(i for i in report.items if i.carrier == world["p_principal"] and i.rule_id == "P1")
    assert (entry.since, entry.until) == (D("2020-09-01"), D("2023-09-01"))  # ends with the period




def test_api_risk_items_every_role(api) -> None:  # type: ignore[no-untyped-def]
    c, w = api
    r = c.get(f"/v1/subjects/{w['org_c']}/risk-items?depth=2", headers=INVESTIGATOR)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == "2021-01-01" and body["counts"]["surrounding"]["high"] > 0
    assert {i["category"] for i in body["items"]} == {"surrounding"}
    assert any(i["carrier"] == w["p_principal"] and i["path"] for i in body["items"])
    assert c.get(f"/v1/subjects/{w['org_a']}/risk-items", headers=MARKET).json()["counts"]["own"]["high"] == 5
    # public: masked, and no person key or clear ID number leaks
    pub = c.get(f"/v1/subjects/{w['org_c']}/risk-items", headers=PUBLIC)
    assert pub.status_code == 200 and w["p_principal"] not in pub.text and w.id_numbers["p_principal"] not in pub.text
    # personal data needs a purpose
    assert c.get(f"/v1/subjects/{w['org_c']}/risk-items",
                 headers={"X-API-Key": "demo-investigator"}).json()["error"]["code"] == "purpose_required"
    assert c.get(f"/v1/subjects/{w['org_c']}/risk-items").status_code == 401


def test_api_risk_items_errors_are_4xx(api) -> None:  # type: ignore[no-untyped-def]
    c, w = api
    bad = c.get("/v1/subjects/91320281000000001X/risk-items", headers=INVESTIGATOR)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "subject"
    assert c.get(f"/v1/subjects/{w['org_a']}/risk-items?depth=9", headers=INVESTIGATOR).status_code == 422
    assert c.get(f"/v1/subjects/{w['org_a']}/risk-items?as_of=x", headers=INVESTIGATOR).status_code == 422
    from tests.helpers import make_uscc

    missing = c.get(f"/v1/subjects/{make_uscc(4242)}/risk-items", headers=INVESTIGATOR)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_api_public_does_not_see_withdrawn_items(api) -> None:  # type: ignore[no-untyped-def]
    c, w = api
    w.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    w.engine.add_event(RecordEvent("R1", "objection_upheld", D("2020-10-10")))
    seen = c.get(f"/v1/subjects/{w['org_a']}/risk-items", headers=INVESTIGATOR).json()["items"]
    assert seen and {i["status"] for i in seen if i["category"] == "historical"} == {"withdrawn"}
    public = c.get(f"/v1/subjects/{w['org_a']}/risk-items", headers=PUBLIC).json()
    assert [i for i in public["items"] if i["status"] == "withdrawn"] == []
    assert public["counts"]["historical"]["info"] == 0


def test_api_objections_overdue_only_as_of_a_date(api) -> None:  # type: ignore[no-untyped-def]
    c, w = api
    w.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-12-20")))  # due 2021-01-04
    w.engine.add_event(RecordEvent("R1", "objection_rejected", D("2021-01-10")))  # verified late

    def overdue(on: str) -> list[dict]:
        r = c.get(f"/v1/objections?overdue_only=true&as_of={on}", headers=MARKET)
        assert r.status_code == 200, r.text
        return r.json()["objections"]

    (row,) = overdue("2021-01-07")
    assert (row["cause"], row["deadline"], row["overdue"], row["resolved_on"]) == (
        "record:R1", "2021-01-04", True, None)  # the late verification had not happened yet
    assert overdue("2021-01-03") == [] and overdue("2021-01-10") == []
    assert c.get("/v1/objections?as_of=2020-12-01", headers=MARKET).json()["objections"] == []  # not yet filed
    item = next(i for i in c.get(f"/v1/subjects/{w['org_a']}/risk-items?as_of=2021-01-07",
                                 headers=INVESTIGATOR).json()["items"] if i["kind"] == "objection_pending")
    assert item["status"] == "overdue"
