"""Each jurisdiction is its own law (issue 13): tests named after the clause whose scope they pin.

A consequence applies only where the record's own document (or Guo Fa 33) supports it; every restriction
ends; the lifecycle steps the documents require happen; the legal reviewer's table is current.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_credit.checks import check
from graph_credit.engine import BlackListConflict, Engine
from graph_credit.errors import DomainError
from graph_credit.model import Cause, DishonestyRecord, Honour, ListEntry, RecordEvent
from graph_credit.monitor import alerts as monitor
from graph_credit.policy import NATIONAL, available_jurisdictions, jurisdiction_table, load_policy
from graph_credit.store import SQLiteStore, Store
from tests.scenario import D, World, build, consequences, r1

JURISDICTIONS = available_jurisdictions()
LOCAL = [j for j in JURISDICTIONS if j != "default"]


def _world(new_store: Callable[[], Store], jurisdiction: str, **record: object) -> World:
    w = build(Engine(new_store(), jurisdiction), record=False)
    w.engine.put_records([r1(w, jurisdiction=jurisdiction, **record)])  # keywords change the scenario's R1
    return w


def _defaulter(w: World, jurisdiction: str, category: str = "judgment_defaulter", **fields: object) -> None:
    w.engine.put_records([DishonestyRecord("R4", w["p_other"], category, "serious", D("2020-01-10"),
                                           period_end=D("2023-01-10"), jurisdiction=jurisdiction,
                                           department="court", **fields)])  # type: ignore[arg-type]


ON = D("2021-01-01")


def _decision(w: World, subject: str, matter: str, on: date = ON) -> str:
    return check(w.store, w[subject], matter, on, with_related=False).decision


# --------------------------------------------------------------------------------------------------
# Scope: nothing of one local document applies under another.


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_rule_and_measure_in_force_cites_its_own_document_or_the_national_one(jurisdiction: str) -> None:
    policy = load_policy(jurisdiction)
    own = {policy.document, NATIONAL}
    for on in policy.snapshot_dates() + [D("2030-01-01")]:
        snap = policy.at(on)
        for entry in (*snap.rules, *snap.measures):
            documents = {b.document for b in entry.basis}
            assert documents and documents <= own, (jurisdiction, on, entry)
        for setting in (snap.objection, snap.repair, snap.green_channel, snap.punishment_period):
            assert {b.document for b in setting.basis} <= own


@pytest.mark.parametrize("jurisdiction", [j for j in JURISDICTIONS if j != "shandong"])
def test_shandong_11_public_institution_bar_is_no_deny_elsewhere(new_store: Callable[[], Store],
                                                                 jurisdiction: str) -> None:
    w = _world(new_store, jurisdiction)
    _defaulter(w, jurisdiction)
    assert _decision(w, "p_other", "public_institution_lr_registration") != "deny"


def test_shandong_11_public_institution_bar_denies_under_shandong(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "shandong")
    _defaulter(w, "shandong")
    result = check(w.store, w["p_other"], "public_institution_lr_registration", D("2021-01-01"), with_related=False)
    assert result.decision == "deny" and result.measures[0]["basis"] == ["Shandong 11"]


def test_xiaoyi_23_no_flights_or_trains_for_a_xiaoyi_defaulter(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "xiaoyi")
    _defaulter(w, "xiaoyi")
    for matter in ("air_travel", "rail_travel", "securities_issuance"):
        assert _decision(w, "p_other", matter) == "allow", matter
    for matter in ("exit", "real_estate_purchase", "travel_leisure", "star_hotel"):
        assert _decision(w, "p_other", matter) == "deny", matter


def test_shandong_12_flights_and_trains_for_a_shandong_defaulter(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "shandong")
    _defaulter(w, "shandong")
    assert _decision(w, "p_other", "air_travel") == "deny" and _decision(w, "p_other", "rail_travel") == "deny"


@pytest.mark.parametrize("jurisdiction", ["tibet", "jiangyin"])
def test_tibet_13_jiangyin_12_exit_restriction_only_for_judgment_defaulters(
    new_store: Callable[[], Store], jurisdiction: str
) -> None:
    w = _world(new_store, jurisdiction)
    _defaulter(w, jurisdiction, "refusing_to_perform")
    assert _decision(w, "p_other", "exit") == "allow"
    w.engine.put_records([DishonestyRecord("R5", w["p_other"], "judgment_defaulter", "serious", D("2020-02-01"),
                                           period_end=D("2023-01-10"), jurisdiction=jurisdiction)])
    assert _decision(w, "p_other", "exit") == "deny"


def test_jiangyin_11_serious_record_alone_denies_no_procurement(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "jiangyin")
    assert _decision(w, "org_a", "government_procurement") == "allow"
    # ... and revokes no honour of the legal representative (only the black-listed subject's own, below)
    assert "honour_revocation" not in consequences(w, "p_lr_old", D("2021-01-01"))


def test_jiangyin_11_black_listed_subject_is_punished_and_loses_its_own_honours(
    new_store: Callable[[], Store],
) -> None:
    w = _world(new_store, "jiangyin")
    w.engine.put_list_entries([ListEntry("B1", w["org_a"], "black", "失信黑名单", "market_regulation", "Jiangyin (6)",
                                         D("2020-10-01"), D("2022-10-01"))])
    assert _decision(w, "org_a", "government_procurement") == "deny"
    assert "honour_revocation" in consequences(w, "org_a", D("2021-01-01"))
    assert "honour_revocation" not in consequences(w, "p_lr_old", D("2021-01-01"))
    assert "market_ban" in consequences(w, "p_lr_new", D("2021-01-01"))  # the legal representative at listing
    assert "market_ban" not in consequences(w, "p_lr_old", D("2021-01-01"))  # left before the listing
    assert _decision(w, "org_a", "government_procurement", D("2022-10-01")) != "deny"  # ends with the listing


@pytest.mark.parametrize("jurisdiction", ["xiaoyi", "ganzhou", "tibet", "default"])
def test_jiangyin_6_and_17_apply_only_under_jiangyin(new_store: Callable[[], Store], jurisdiction: str) -> None:
    w = _world(new_store, jurisdiction)
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2019-01-01"), D("2020-01-01"))])
    assert "key_monitoring" not in consequences(w, "org_c", D("2020-06-01"))
    assert check(w.store, w["org_c"], "red_list", D("2020-06-01"), with_related=False).decision != "deny"


def test_xiaoyi_42_record_repaired_in_2017_is_no_deny_in_2019(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "xiaoyi", record_id="R1", decision_date=D("2017-06-01"), act_date=D("2017-01-01"),
               period_end=D("2020-06-01"))
    w.engine.add_event(RecordEvent("R1", "repair_applied", D("2017-08-01")))
    w.engine.add_event(RecordEvent("R1", "repair_approved", D("2017-09-01")))
    for matter in ("government_procurement", "supervision_inspection", "red_list", "commendation"):
        assert _decision(w, "org_a", matter, D("2019-01-01")) != "deny", matter


@pytest.mark.parametrize("jurisdiction", LOCAL)
def test_a_consequence_carries_only_the_bases_of_its_own_jurisdiction(new_store: Callable[[], Store],
                                                                     jurisdiction: str) -> None:
    w = _world(new_store, jurisdiction)
    own = {load_policy(jurisdiction).document, NATIONAL}
    for f in w.store.iter_facts():
        assert {b.split(" ")[0] for b in f.basis} <= own, f
    result = check(w.store, w["p_lr_old"], "legal_representative_registration", D("2021-01-01"), with_related=False)
    for m in result.measures:
        assert {b.split(" ")[0] for b in m["basis"] + m["rule_basis"]} <= own, m


# --------------------------------------------------------------------------------------------------
# Every restriction ends.


def test_xiaoyi_42_legal_representative_no_longer_under_review_after_the_period(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "default", period_end=D("2023-09-01"))
    assert _decision(w, "p_lr_old", "legal_representative_registration") == "review"
    assert _decision(w, "p_lr_old", "legal_representative_registration", D("2030-01-01")) == "allow"
    # the entry stays in the person's history, as an ended fact
    ended = [f for f, s in w.engine.facts_on(w["p_lr_old"], D("2030-01-01"), include_ended=True)
             if f.consequence == "personal_credit_entry"]
    assert ended and ended[0].ended_by == "expired"


@pytest.mark.parametrize("jurisdiction", ["xiaoyi", "tibet", "default"])
def test_xiaoyi_42_tibet_17_repair_never_leaves_a_subject_worse_off_than_waiting(
    new_store: Callable[[], Store], jurisdiction: str
) -> None:
    repaired = _world(new_store, jurisdiction)
    repaired.engine.add_event(RecordEvent("R1", "repair_applied", D("2021-03-01")))
    repaired.engine.add_event(RecordEvent("R1", "repair_approved", D("2021-04-01")))
    waited = _world(new_store, jurisdiction)
    for year in range(2021, 2031):
        on = D(f"{year}-06-01")
        rank = {"deny": 0, "review": 1, "allow": 2, "green_channel": 3}
        for matter in ("licensing", "government_procurement", "legal_representative_registration"):
            assert rank[_decision(repaired, "org_a", matter, on)] >= rank[_decision(waited, "org_a", matter, on)]
    assert _decision(repaired, "org_a", "licensing", D("2024-06-01")) == "green_channel"


RESTRICTING = {"joint_punishment", "personal_credit_entry", "responsible_person_punishment", "market_ban",
               "commendation_ineligible", "public_institution_lr_bar", "high_consumption_restriction",
               "exit_restriction", "key_supervision", "key_monitoring", "red_list_removal"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(jurisdiction=st.sampled_from(JURISDICTIONS),
       category=st.sampled_from(["tax_evasion", "judgment_defaulter", "refusing_to_perform"]),
       period_days=st.none() | st.integers(30, 2000), repair=st.booleans(),
       list_days=st.none() | st.integers(1, 2000), exit_early=st.booleans())
def test_far_past_every_period_repair_and_exit_nothing_restricts(
    tmp_path_factory: pytest.TempPathFactory, jurisdiction: str, category: str, period_days: int | None,
    repair: bool, list_days: int | None, exit_early: bool,
) -> None:
    store = SQLiteStore(tmp_path_factory.mktemp("p") / "s.sqlite")
    try:
        engine = Engine(store, jurisdiction)
        w = build(engine, record=False)
        decided = D("2019-03-01")
        end = decided + timedelta(days=period_days) if period_days else None
        engine.put_records([r1(w, category=category, jurisdiction=jurisdiction, decision_date=decided,
                               period_end=end)])
        engine.put_list_entries([ListEntry("B1", w["org_a"], "black", "失信黑名单", "market_regulation", "-",
                                           decided, decided + timedelta(days=list_days) if list_days else None)])
        if repair:
            engine.add_event(RecordEvent("R1", "repair_applied", D("2019-06-01")))
            engine.add_event(RecordEvent("R1", "repair_approved", D("2019-07-01")))
        if exit_early:
            engine.add_event(RecordEvent("B1", "exit", D("2019-08-01")))
        far = D("2040-01-01")
        for f in store.iter_facts():
            if f.status_on(far) == "active":
                rule = load_policy(f.jurisdiction).at(f.valid_from).rule(f.rule_id)
                assert f.consequence not in RESTRICTING or rule.permanent is not None, f
    finally:
        store.close()


# --------------------------------------------------------------------------------------------------
# Steps the documents require.


def test_tibet_18_a_rejected_objection_is_reported_to_the_objector(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "tibet")
    w.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01"), by="finance"))
    w.engine.add_event(RecordEvent("R1", "objection_rejected", D("2020-10-15")))
    (notice,) = w.store.query("notices", {"change": "objection_result"})
    assert notice["result"] == "rejected" and notice["departments"] == ["finance"]
    assert notice["basis"] == ["Tibet (18)"]


@pytest.mark.parametrize(("decided", "suspended"), [(D("2017-09-01"), True), (D("2019-09-01"), False)])
def test_jiangyin_24_governs_objections_only_from_the_day_its_document_is_issued(
    new_store: Callable[[], Store], decided: date, suspended: bool,
) -> None:
    # Jiangyin (24) keeps measures in force while an objection is verified; before 2018-06-22 there was no
    # such clause, and Guo Fa 33 (20) suspends them.
    w = _world(new_store, "jiangyin", decision_date=decided, act_date=decided - timedelta(days=90),
               period_end=decided + timedelta(days=1095))
    w.engine.add_event(RecordEvent("R1", "objection_filed", decided + timedelta(days=30)))
    facts = w.store.facts_by_cause([Cause("record", "R1")])
    assert facts and {bool(f.suspended) for f in facts} == {suspended}
    snap = w.engine.policy_snapshot(Cause("record", "R1"))
    assert {str(b) for b in snap.objection.basis} == ({"GuoFa33 (20)"} if suspended else {"Jiangyin (24)"})


def test_jiangyin_17_black_list_exit_is_announced_through_the_original_channel(
    new_store: Callable[[], Store],
) -> None:
    w = _world(new_store, "jiangyin")
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2020-01-01"), publicity_from=D("2019-12-01"),
                                         publicity_to=D("2019-12-15"))])
    w.engine.add_event(RecordEvent("B1", "exit", D("2021-01-01")))
    (notice,) = w.store.query("notices", {"change": "exit_announcement"})
    assert notice["departments"] == ["market_regulation"] and notice["publicity"]["from"] == "2019-12-01"
    assert notice["basis"] == ["Jiangyin (17)"]


def test_jiangyin_17_a_listing_whose_term_ends_is_announced_by_the_sweep(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "jiangyin")
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2020-01-01"), valid_to=D("2021-06-01"))])
    assert monitor.sweep(w.store, D("2021-05-31"), jurisdiction="jiangyin")["notices_new"] == 0
    monitor.sweep(w.store, D("2021-06-02"), jurisdiction="jiangyin")
    (notice,) = w.store.query("notices", {"change": "exit_announcement"})
    assert (notice["reason"], notice["effective"], notice["departments"]) == (
        "scheduled_exit", "2021-06-01", ["market_regulation"])
    assert notice["basis"] == ["Jiangyin (17)"]
    monitor.sweep(w.store, D("2021-07-01"), jurisdiction="jiangyin")  # idempotent
    assert len(w.store.query("notices", {"change": "exit_announcement"})) == 1


def test_a_later_sweep_does_not_reread_what_it_already_announced(
    new_store: Callable[[], Store], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import graph_credit.rules.governing as governing

    w = _world(new_store, "jiangyin")
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2020-01-01"), valid_to=D("2021-06-01"))])
    first = monitor.sweep(w.store, D("2021-06-02"), jurisdiction="jiangyin")
    read: list[str] = []
    real = governing.lifecycle_of
    monkeypatch.setattr(governing, "lifecycle_of", lambda s, e, **kw: read.append(e.entry_id) or real(s, e, **kw))
    again = monitor.sweep(w.store, D("2022-06-02"), jurisdiction="jiangyin")
    assert read == [] and again["notices_new"] == 0 and again["notices_due"] == first["notices_due"] >= 1


def test_xiaoyi_has_no_exit_announcement_for_an_ended_listing(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "xiaoyi")
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2020-01-01"), valid_to=D("2021-06-01"))])
    monitor.sweep(w.store, D("2021-06-02"), jurisdiction="xiaoyi")
    assert w.store.query("notices", {"change": "exit_announcement"}) == []


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_jiangyin_23_a_black_listing_without_a_term_ends_after_the_default_period(
    new_store: Callable[[], Store], jurisdiction: str,
) -> None:
    """Every document requires the period to be fixed; a listing that gives none is not a restriction for life:
    it ends after the default period for serious dishonesty, and its determining unit is told."""
    w = build(Engine(new_store(), jurisdiction), record=False)
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2020-01-01"))])
    days = load_policy(jurisdiction).at(D("2020-01-01")).punishment_period_days["serious"]
    end = D("2020-01-01") + timedelta(days=days)
    facts = w.store.facts_by_cause([Cause("list", "B1")])
    assert facts and all(f.valid_to is not None and f.valid_to <= end for f in facts if f.valid_from < end)
    assert all(f.valid_to == end for f in facts if f.valid_from == D("2020-01-01"))
    (notice,) = w.store.query("notices", {"change": "period_assumed"})
    assert notice["departments"] == ["market_regulation"] and notice["assumed_period_end"] == end.isoformat()
    restricting = [m for m in check(w.store, w["org_c"], "credit_record", D("2021-01-01"), jurisdiction,
                                    with_related=False).measures]
    assert all(m["period_assumed"] for m in restricting)
    later = check(w.store, w["org_c"], "credit_record", end + timedelta(days=1), jurisdiction, with_related=False)
    assert not [m for m in later.measures if m["cause"] == "list:B1"]


def test_a_category_its_jurisdiction_does_not_define_is_refused_by_the_library_too(
    new_store: Callable[[], Store],
) -> None:
    """The Python API (analysts' notebooks) refuses what the HTTP API and the import refuse: a category outside
    the record's own policy, or an unknown jurisdiction; nothing is written."""
    w = build(Engine(new_store(), "xiaoyi"), record=False)
    for fields, field in (({"category": "no_such_category"}, "category"), ({"jurisdiction": "atlantis"},
                                                                          "jurisdiction")):
        with pytest.raises(DomainError) as err:
            w.engine.put_records([r1(w, **fields)])
        assert err.value.field == field
    assert list(w.store.iter_records()) == [] and list(w.store.iter_facts()) == []


def test_jiangyin_24_upheld_objection_tracks_apology_and_compensation(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "jiangyin")
    w.engine.add_event(RecordEvent("R1", "objection_filed", D("2020-10-01")))
    w.engine.add_event(RecordEvent("R1", "objection_upheld", D("2020-10-15")))
    (remedy,) = w.store.query("notices", {"change": "clarification"})
    assert remedy["apology_required"] and remedy["compensation_where_harmed"]
    assert set(remedy["basis"]) == {"Jiangyin (24)"}


def test_xiaoyi_42_a_record_without_a_period_is_flagged_to_its_department_and_in_checks(
    new_store: Callable[[], Store],
) -> None:
    w = _world(new_store, "xiaoyi", period_end=None)
    (notice,) = w.store.query("notices", {"change": "period_assumed"})
    assert notice["departments"] == ["market_regulation"] and notice["assumed_period_end"] == "2023-09-01"
    result = check(w.store, w["p_lr_old"], "credit_record", D("2021-01-01"), with_related=False)
    assert result.measures and all(m["period_assumed"] for m in result.measures)
    assert any(x["kind"] == "period_assumed" for x in result.warnings)


def test_xiaoyi_21_an_honour_granted_during_the_commendation_bar_is_revoked_and_flagged(
    new_store: Callable[[], Store],
) -> None:
    w = _world(new_store, "xiaoyi")
    w.engine.put_honours([Honour("H-NEW", w["org_a"], "文明单位", "civilisation_office", D("2021-05-01"))])
    revoked = [f for f in w.store.facts_of([w["org_a"]]) if f.object_id == "H-NEW"]
    assert revoked and revoked[0].valid_from == D("2021-05-01")
    (flag,) = w.store.query("notices", {"change": "honour_awarded_during_bar"})
    assert flag["departments"] == ["civilisation_office"]
    # after the bar an honour is not touched
    w.engine.put_honours([Honour("H-LATER", w["org_a"], "文明单位", "civilisation_office", D("2024-01-01"))])
    assert not [f for f in w.store.facts_of([w["org_a"]]) if f.object_id == "H-LATER"]


def test_jiangyin_6_an_effective_red_listing_of_a_black_listed_subject_is_refused(
    new_store: Callable[[], Store],
) -> None:
    w = _world(new_store, "jiangyin")
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2020-01-01"))])
    before = sorted(e.entry_id for e in w.store.iter_list_entries())
    with pytest.raises(BlackListConflict, match="Jiangyin \\(6\\)"):
        w.engine.put_list_entries([ListEntry("R9", w["org_c"], "red", "诚信典型", "development_reform", "-",
                                             D("2020-06-01"))])
    assert sorted(e.entry_id for e in w.store.iter_list_entries()) == before  # nothing written


# --------------------------------------------------------------------------------------------------
# The reviewer's table.


def test_the_jurisdiction_table_in_docs_is_current() -> None:
    committed = (Path(__file__).parents[1] / "docs" / "jurisdictions.md").read_text(encoding="utf-8")
    assert committed == jurisdiction_table() + "\n", "docs/jurisdictions.md is stale: run graph-credit policy-table"


def test_the_same_facts_get_different_answers_exactly_where_the_documents_differ(
    new_store: Callable[[], Store],
) -> None:
    answers = {}
    for j in JURISDICTIONS:
        w = _world(new_store, j)
        _defaulter(w, j)
        answers[j] = {m: _decision(w, "p_other", m)
                      for m in ("air_travel", "exit", "public_institution_lr_registration")}
    assert answers["xiaoyi"]["air_travel"] == answers["default"]["air_travel"] == "allow"
    assert answers["shandong"] == {"air_travel": "deny", "exit": "deny", "public_institution_lr_registration": "deny"}
    assert all(a["public_institution_lr_registration"] != "deny" for j, a in answers.items() if j != "shandong")
    assert all(a["exit"] == "deny" for a in answers.values())


@pytest.mark.parametrize("jurisdiction", ["tibet", "xiaoyi"])
def test_tibet_17_an_approved_repair_of_a_black_listing_lifts_its_supervision(
    new_store: Callable[[], Store], jurisdiction: str
) -> None:
    w = _world(new_store, jurisdiction)
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2020-01-01"))])
    assert "key_supervision" in consequences(w, "org_c", ON)
    w.engine.add_event(RecordEvent("B1", "repair_applied", D("2021-02-01")))
    w.engine.add_event(RecordEvent("B1", "repair_approved", D("2021-03-01")))
    assert "key_supervision" not in consequences(w, "org_c", D("2021-03-01"))


def test_jiangyin_23_repair_is_only_a_reference_for_leaving_the_black_list(new_store: Callable[[], Store]) -> None:
    w = _world(new_store, "jiangyin")
    w.engine.put_list_entries([ListEntry("B1", w["org_c"], "black", "失信黑名单", "market_regulation", "-",
                                         D("2020-01-01"))])
    w.engine.add_event(RecordEvent("B1", "repair_applied", D("2021-02-01")))
    w.engine.add_event(RecordEvent("B1", "repair_approved", D("2021-03-01")))
    assert "key_supervision" in consequences(w, "org_c", D("2021-03-01"))  # still listed: exit decides
    w.engine.add_event(RecordEvent("B1", "exit", D("2021-04-01")))
    after = consequences(w, "org_c", D("2021-04-01"))
    assert "key_supervision" not in after and "key_monitoring" in after


def test_every_consequence_has_a_risk_weight_and_a_status() -> None:
    from graph_credit.analytics.status import CONSEQUENCE_STATUS
    from graph_credit.graph import ADVERSE, weights
    from graph_credit.policy import CONSEQUENCES

    assert set(CONSEQUENCES) <= set(CONSEQUENCE_STATUS)
    assert set(CONSEQUENCES) - {"green_channel", "red_list_removal"} <= set(weights()["consequences"]) & ADVERSE


def test_over_http_the_same_record_denies_a_flight_under_shandong_12_and_not_under_xiaoyi_23(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import Settings, create_app

    store = SQLiteStore(tmp_path / "api.sqlite")
    w = build(Engine(store), record=False)
    app = create_app(Settings(demo=True, today=D("2021-01-01")), store=store)
    from urllib.parse import quote

    market = {"X-API-Key": "demo-market", "X-Purpose": quote("联合惩戒")}  # percent-encoded, as HTTP headers are
    with TestClient(app) as client:
        answers = {}
        for n, jurisdiction in enumerate(("xiaoyi", "shandong")):
            subject = w.id_numbers["p_other"] if n == 0 else w.id_numbers["p_holder"]
            r = client.post("/v1/records", headers=market, json={
                "record_id": f"RJ{n}", "subject": subject, "category": "judgment_defaulter", "severity": "serious",
                "decision_date": "2020-06-01", "period_end": "2023-06-01", "jurisdiction": jurisdiction})
            assert r.status_code == 201, r.text
            r = client.post("/v1/checks", headers=market, json={"subject": subject, "matter": "air_travel",
                                                                 "as_of": "2021-01-01", "purpose": "审批"})
            assert r.status_code == 200, r.text
            answers[jurisdiction] = r.json()
    assert answers["xiaoyi"]["decision"] == "allow" and not answers["xiaoyi"]["measures"]
    shandong = answers["shandong"]
    assert shandong["decision"] == "deny"
    assert {b.split(" ")[0] for m in shandong["measures"] for b in m["basis"] + m["rule_basis"]} <= {
        "Shandong", "GuoFa33"}
