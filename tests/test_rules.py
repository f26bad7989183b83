"""Scenario tests, one per rule and lifecycle path, named after the clause they implement."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from graph_credit.cases import case_statistics, open_case, open_items, report_feedback
from graph_credit.checks import check
from graph_credit.engine import Engine
from graph_credit.model import Cause, DishonestyRecord, ListEntry, RecordEvent, Responsible, Role, RoleEdge
from graph_credit.risk_items import risk_items
from graph_credit.rules import LifecycleError
from graph_credit.rules.governing import lifecycle_of, policy_for
from graph_credit.store import Store
from graph_credit.views import explain, profile
from tests.scenario import D, World, build, consequences, r1

ON = D("2021-01-01")  # during R1's punishment period


@pytest.fixture
def world(new_store: Callable[[], Store]) -> World:
    return build(Engine(new_store()))


def targets(w: World, rule_id: str, on: date = ON) -> set[str]:
    names = {v: k for k, v in w.ids.items()}
    return {names[f.target] for f in w.store.iter_facts() if f.rule_id == rule_id and f.status_on(on) == "active"}


def test_p1_xiaoyi_30_personal_credit_entry_for_representative_principal_and_named(world: World) -> None:
    assert targets(world, "P1") == {"p_lr_old", "p_principal", "p_director", "p_cpa"}


def test_temporal_principle_a_representative_appointed_after_the_act_is_not_responsible(world: World) -> None:
    assert consequences(world, "p_lr_new", ON) == set()
    assert "personal_credit_entry" in consequences(world, "p_lr_old", ON)


def test_p2_xiaoyi_20_market_ban_on_organisation_representative_principal_and_named_practitioner(
    world: World,
) -> None:
    assert targets(world, "P2") == {"org_a", "p_lr_old", "p_principal", "p_cpa"}


def test_p3_xiaoyi_21_honours_revoked_and_no_commendation(world: World) -> None:
    revoked = {f.object_id for f in world.store.iter_facts()
               if f.consequence == "honour_revocation" and f.status_on(ON) == "active"}
    # H-LATE was awarded during the commendation bar, so it is revoked too; the un-named director keeps H-DIR2
    assert revoked == {"H-A", "H-LR", "H-LATE"}
    barred = {f.target for f in world.store.iter_facts() if f.consequence == "commendation_ineligible"}
    assert world["p_manager"] in barred and world["p_director2"] not in barred
    assert world["p_director"] in barred  # named directly responsible


def test_p0_joint_punishment_denies_government_procurement(world: World) -> None:
    result = check(world.store, world["org_a"], "government_procurement", ON)
    assert result.decision == "deny"
    assert {m["binding"] for m in result.measures} >= {"mandatory"}
    assert all(m["cause"] == "record:R1" and m["basis"] for m in result.measures)


def test_check_after_expiry_xiaoyi_42_allows(world: World) -> None:
    assert consequences(world, "org_a", D("2023-09-01")) - {"honour_revocation"} == set()
    assert check(world.store, world["org_a"], "government_procurement", D("2024-01-01"),
                 with_related=False).decision in ("allow", "green_channel")


def test_market_ban_xiaoyi_20_bans_practice_but_asks_review_for_any_legal_representative_registration(
    world: World,
) -> None:
    # 市场和行业禁入 bans the market or industry, not every registration: the registrar judges the industry
    assert check(world.store, world["p_lr_old"], "legal_representative_registration", ON).decision == "review"
    assert check(world.store, world["p_cpa"], "practice_qualification", ON).decision == "deny"


def test_related_party_risk_makes_clean_company_reviewable(world: World) -> None:
    result = check(world.store, world["org_c"], "government_procurement", ON)
    assert result.measures == []
    assert result.decision == "review"
    principal = next(r for r in result.related if r["subject"] == world["p_principal"])
    assert principal["path"][0]["role"] == "LEGAL_REPRESENTATIVE"


def test_p4_shandong_11_judgment_defaulter_barred_from_public_institution_representative(
    new_store: Callable[[], Store],
) -> None:
    engine = Engine(new_store(), "shandong")
    w = build(engine, record=False)
    engine.put_records([DishonestyRecord("R4", w["p_other"], "judgment_defaulter", "serious", D("2020-01-01"),
                                         jurisdiction="shandong")])
    assert "public_institution_lr_bar" in consequences(w, "p_other", ON)
    assert check(engine.store, w["p_other"], "public_institution_lr_registration", ON, "shandong").decision == "deny"


def test_p6_xiaoyi_23_judgment_defaulter_high_consumption_restriction(new_store: Callable[[], Store]) -> None:
    engine = Engine(new_store())
    w = build(engine, category="judgment_defaulter")
    assert "high_consumption_restriction" in consequences(w, "org_a", ON)


def _red(w: World, entry_id: str = "RED1", start: str = "2019-01-01") -> ListEntry:
    return ListEntry(entry_id, w["org_c"], "red", "诚信典型", "development_reform", "Xiaoyi 1", D(start))


def _black(w: World, start: str = "2020-03-01", end: str | None = None) -> ListEntry:
    return ListEntry("BLACK1", w["org_c"], "black", "失信黑名单", "market_regulation", "Jiangyin (6)", D(start),
                     D(end) if end else None)


def test_p7_xiaoyi_5_red_list_opens_green_channel(world: World) -> None:
    world.engine.put_list_entries([_red(world)])
    result = check(world.store, world["org_c"], "licensing", ON, with_related=False)
    assert result.decision == "green_channel"
    assert result.green_channel and result.green_channel["reason"] == "red_list"


def test_p7_three_clean_years_open_green_channel(world: World) -> None:
    result = check(world.store, world["org_c"], "licensing", ON, with_related=False)
    assert result.decision == "green_channel" and result.green_channel["reason"] == "clean_years"  # type: ignore[index]
    # the dishonest company is not eligible, even after its period ends, until three clean years pass
    assert check(world.store, world["org_a"], "licensing", D("2024-01-01"), with_related=False).green_channel is None


@pytest.fixture
def jiangyin(new_store: Callable[[], Store]) -> World:
    return build(Engine(new_store(), "jiangyin"), record=False)


def test_p5_jiangyin_6_black_list_removes_red_list(jiangyin: World) -> None:
    jiangyin.engine.put_list_entries([_red(jiangyin), _black(jiangyin)])
    removal = [f for f in jiangyin.store.facts_of([jiangyin["org_c"]]) if f.consequence == "red_list_removal"]
    assert [f.object_id for f in removal] == ["RED1"] and removal[0].basis == ("Jiangyin (6)", "Jiangyin (6)")
    assert check(jiangyin.store, jiangyin["org_c"], "licensing", ON, with_related=False).decision != "green_channel"


def test_p5_jiangyin_6_applies_only_under_jiangyin(world: World) -> None:
    world.engine.put_list_entries([_red(world), _black(world)])
    assert not [f for f in world.store.facts_of([world["org_c"]]) if f.consequence == "red_list_removal"]


def test_p5_the_bar_on_red_listing_ends_with_the_black_listing_but_the_old_red_entry_stays_removed(
    jiangyin: World,
) -> None:
    jiangyin.engine.put_list_entries([_red(jiangyin), _black(jiangyin, end="2021-06-01")])
    assert check(jiangyin.store, jiangyin["org_c"], "red_list", ON, with_related=False).decision == "deny"
    later = check(jiangyin.store, jiangyin["org_c"], "red_list", D("2021-07-01"), with_related=False)
    assert later.decision != "deny"
    assert (later.green_channel or {}).get("reason") != "red_list"


def test_a_revoked_honour_does_not_bar_the_green_channel_once_three_clean_years_have_passed(world: World) -> None:
    assert "honour_revocation" in consequences(world, "org_a", D("2027-01-01"))
    result = check(world.store, world["org_a"], "licensing", D("2027-01-01"), with_related=False)
    assert result.decision == "green_channel" and result.green_channel["reason"] == "clean_years"  # type: ignore[index]


def test_p1_personal_credit_entries_reach_persons_only(world: World) -> None:
    named = (Responsible(world["org_b"], Role.SHAREHOLDER), Responsible(world["p_director"], Role.DIRECTOR))
    world.engine.put_records([r1(world, responsible=named)])
    p1 = {f.target for f in world.store.iter_facts() if f.rule_id == "P1"}
    assert world["p_director"] in p1 and world["org_b"] not in p1


def test_p8_jiangyin_17_key_supervision_then_key_monitoring_after_exit_for_a_term(jiangyin: World) -> None:
    jiangyin.engine.put_list_entries([_black(jiangyin, end="2021-06-01")])
    assert "key_supervision" in consequences(jiangyin, "org_c", ON)
    after = consequences(jiangyin, "org_c", D("2021-07-01"))
    assert "key_supervision" not in after and "key_monitoring" in after
    assert consequences(jiangyin, "org_c", D("2024-06-01")) == set()  # the monitoring term ends too


def test_p8_xiaoyi_no_key_monitoring_after_exit_outside_jiangyin(world: World) -> None:
    world.engine.put_list_entries([_black(world, end="2021-06-01")])
    assert "key_monitoring" not in consequences(world, "org_c", D("2021-07-01"))


def test_objection_xiaoyi_43_suspends_measures_during_verification(world: World) -> None:
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    statuses = {s for _, s in world.engine.facts_on(world["org_a"], D("2020-10-15"))}
    assert statuses == {"suspended"}
    result = check(world.store, world["org_a"], "government_procurement", D("2020-10-15"), with_related=False)
    assert result.decision != "deny" and result.warnings
    world.engine.add_event(RecordEvent("R1", "objection_rejected", D("2020-10-20")))
    assert check(world.store, world["org_a"], "government_procurement", ON, with_related=False).decision == "deny"


def test_objection_jiangyin_24_measures_not_suspended(new_store: Callable[[], Store]) -> None:
    engine = Engine(new_store(), "jiangyin")
    w = build(engine, record=False)
    engine.put_records([r1(w, jurisdiction="jiangyin")])
    engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    assert {s for _, s in engine.facts_on(w["p_lr_old"], D("2020-10-15"))} == {"active"}


def test_objection_tibet_18_twenty_day_verification_deadline_and_overdue(new_store: Callable[[], Store]) -> None:
    engine = Engine(new_store(), "tibet")
    w = build(engine, record=False)
    engine.put_records([r1(w, jurisdiction="tibet")])
    engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    (o,) = engine.objections(D("2020-10-21"))
    assert o["deadline"] == D("2020-10-21") and not o["overdue"]
    assert engine.objections(D("2020-10-22"))[0]["overdue"]


def test_a_tibet_records_objection_has_one_deadline_under_a_default_deployment(
    new_store: Callable[[], Store],
) -> None:
    """A record is judged under its own jurisdiction (rules.governing): the profile read the objection
    under the deployment's policy on the day asked (15 days: overdue after 2020-10-16) while the objection
    list read it under Tibet's (20 days: 2020-10-21), so one objection showed two deadlines."""
    engine = Engine(new_store())  # the default deployment
    w = build(engine, record=False)
    engine.put_records([r1(w, jurisdiction="tibet")])
    engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    on = D("2020-10-18")
    (listed,) = engine.objections(on)
    (record,) = profile(engine.store, w["org_a"], on)["records"]
    (shown,) = record["objections"]
    (warned,) = [i for i in risk_items(engine.store, w["org_a"], on).items if i.kind == "objection_pending"]
    assert listed["deadline"] == shown["deadline"] == warned.until == D("2020-10-21")
    assert not listed["overdue"] and warned.status == "pending"


def test_a_list_entry_is_judged_under_the_deployment_and_must_be_told_it(new_store: Callable[[], Store]) -> None:
    engine = Engine(new_store(), "tibet")
    w = build(engine, record=False)
    entry = _red(w)
    engine.put_list_entries([entry])
    engine.add_event(RecordEvent("RED1", "objection_filed", D("2020-10-01")))
    assert policy_for(entry, "tibet").objection.verification_days == 20
    (listed,) = engine.objections(D("2020-10-18"))
    assert listed["deadline"] == lifecycle_of(engine.store, entry, "tibet").objections[0].deadline == D("2020-10-21")
    with pytest.raises(TypeError, match="deployment"):
        policy_for(entry)


def test_objection_upheld_withdraws_everything_restores_honours_and_notifies(world: World) -> None:
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    world.engine.add_event(RecordEvent("R1", "objection_upheld", D("2020-10-10"), detail="记录有误"))
    assert all(f.ended_by == "withdrawn" for f in world.store.facts_by_cause([Cause("record", "R1")]))
    assert consequences(world, "p_lr_old", ON) == set()
    notices = world.store.query("notices", {"reason": "objection_upheld"})
    withdrawn = {f.fact_id for f in world.store.facts_by_cause([Cause("record", "R1")])}
    assert {n["fact_id"] for n in notices if n["change"] == "withdrawn"} == withdrawn
    (clarification,) = [n for n in notices if n["change"] == "clarification"]
    assert clarification["target"] == world["org_a"] and set(clarification["facts"]) == withdrawn
    assert clarification["basis"] == ["GuoFa33 (20)"]  # a default record: the national text, not Jiangyin's
    assert not clarification["apology_required"]
    with pytest.raises(LifecycleError):
        world.engine.add_event(RecordEvent("R1", "repair_applied", D("2020-11-01")))


def test_credit_repair_tibet_17_lifts_measures(new_store: Callable[[], Store]) -> None:
    engine = Engine(new_store(), "tibet")
    w = build(engine, record=False)
    engine.put_records([r1(w, jurisdiction="tibet")])
    engine.add_event(RecordEvent("R1", "repair_applied", D("2021-03-01")))
    engine.add_event(RecordEvent("R1", "repair_approved", D("2021-04-01")))
    after = consequences(w, "org_a", D("2021-05-01"))
    # no Tibet clause makes a repaired subject a monitoring object: only the revoked honour stays revoked
    assert after == {"honour_revocation"}
    assert consequences(w, "p_lr_old", D("2021-05-01")) == {"honour_revocation"}


def test_corrected_registration_data_rederives(world: World) -> None:
    old_lr = next(e for e in world.store.roles_of([world["org_a"]], "in") if e.holder == world["p_lr_old"])
    world.engine.delete_roles([old_lr.edge_id])
    assert consequences(world, "p_lr_old", ON) == set()
    # the new representative's appointment is corrected to before the act: now responsible
    world.engine.put_roles([RoleEdge(world["p_lr_new"], Role.LEGAL_REPRESENTATIVE, world["org_a"], D("2019-01-01"))])
    assert "personal_credit_entry" in consequences(world, "p_lr_new", ON)


def test_explain_returns_the_whole_chain(world: World) -> None:
    fact = next(f for f in world.store.facts_of([world["p_lr_old"]]) if f.rule_id == "P1")
    chain = explain(world.store, fact.fact_id)
    assert chain["record"]["record_id"] == "R1"
    assert chain["edge"]["role"] == "LEGAL_REPRESENTATIVE"
    assert chain["edge"]["valid_to"] == D("2020-06-01")
    assert chain["rule"]["id"] == "P1" and chain["rule"]["basis"]


def test_trigger_and_feedback_xiaoyi_31_closed_loop(world: World) -> None:
    case = open_case(world.store, Cause("record", "R1"), "market_regulation", ON)
    assert case["items"] > 0
    items = open_items(world.store, ON)
    assert len(items) == case["items"]
    item = items[0]
    with pytest.raises(PermissionError):
        report_feedback(world.store, item["id"], "not-" + item["department"], "applied", ON)
    report_feedback(world.store, item["id"], item["department"], "applied", ON)
    stats = case_statistics(world.store, D("2021-03-01"))
    assert sum(s["applied"] for s in stats) == 1
    assert sum(s["overdue"] for s in stats) == case["items"] - 1
    assert open_case(world.store, Cause("record", "R1"), "market_regulation", ON)["id"] == case["id"]


def test_everything_is_deterministic_as_of_a_date(world: World) -> None:
    first = check(world.store, world["org_c"], "government_procurement", ON)
    again = check(world.store, world["org_c"], "government_procurement", ON)
    assert first == again
    before_act = check(world.store, world["org_a"], "government_procurement", D("2019-06-01"), with_related=False)
    assert before_act.measures == []


def test_objection_upheld_on_a_wrong_red_listing_jiangyin_24_claws_back_benefits(jiangyin: World) -> None:
    world = jiangyin
    world.engine.put_list_entries([_red(world)])
    world.engine.add_event(RecordEvent("RED1", "objection_filed", D("2020-02-01")))
    world.engine.add_event(RecordEvent("RED1", "objection_upheld", D("2020-02-10")))
    assert check(world.store, world["org_c"], "licensing", ON, with_related=False).green_channel != {
        "reason": "red_list"}
    (clawback,) = world.store.query("notices", {"change": "clawback"})
    assert clawback["benefit_periods"] and clawback["benefit_periods"][0]["from"] == "2019-01-01"
    assert clawback["benefit_periods"][0]["to"] == "2020-02-10"


def test_a_check_on_an_unregistered_subject_warns_that_the_graph_knows_nothing_of_it(world: World) -> None:
    from tests.helpers import make_uscc

    result = check(world.store, make_uscc(999), "licensing", ON)
    assert result.decision == "allow" and result.warnings == [{"kind": "subject_not_registered",
                                                               "subject": make_uscc(999)}]
    assert check(world.store, world["org_c"], "licensing", ON).warnings == []


def test_is_this_subject_known_has_one_answer(new_store: Callable[[], Store]) -> None:
    """A subject named only by a record (an import may carry records of unregistered subjects) is known to
    every read; a key nothing names is unknown to every read. The explorer and the picture asked "any role
    edges or facts?", the profile "any records or facts?", the what-if "any causes?": they disagreed."""
    from graph_credit.graph.explore import roles_page
    from graph_credit.render import neighbourhood_graph
    from graph_credit.store.base import NotFound, is_registered
    from graph_credit.whatif import PolicyChoice, what_if
    from tests.helpers import make_uscc

    store = new_store()
    named, nobody = make_uscc(4242), make_uscc(4243)
    store.put_records([DishonestyRecord("RX", named, "tax_evasion", "general", D("2020-09-01"))])
    assert not is_registered(store, named)
    reads = [
        lambda key: profile(store, key, ON),
        lambda key: roles_page(store, key, ON, 0, 10),
        lambda key: neighbourhood_graph(store, key, ON),
        lambda key: what_if(store, key, PolicyChoice("default"), PolicyChoice("jiangyin"), ON),
    ]
    for read in reads:
        read(named)
        with pytest.raises(NotFound):
            read(nobody)
