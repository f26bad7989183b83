"""Evasion patterns on hand-built graphs with known answers (graph_credit/evasion.py, evasion.yaml)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from graph_credit.engine import Engine
from graph_credit.evasion import evasion_config, evasion_flags, evasion_frame, load_evasion_config, scan_region
from graph_credit.ids import mask_id_number, person_key
from graph_credit.model import DishonestyRecord, ListEntry, Organisation, Person, RecordEvent, Role, RoleEdge
from graph_credit.store import Store
from tests.helpers import INVESTIGATOR, MARKET, PUBLIC, make_id_number, make_uscc
from tests.scenario import D, build

ACT = D("2020-05-01")
DECISION = D("2021-03-01")
AS_OF = D("2022-06-01")


class G:
    """A tiny graph: organisations ``o1``.. and persons ``p1``.. created on first use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.keys: dict[str, str] = {}

    def org(self, name: str, industry: str = "C", region: str = "320281", registered: date = date(2010, 1, 1),
            deregistered: date | None = None) -> str:
        if name not in self.keys:
            self.keys[name] = make_uscc(500 + len(self.keys))
            self.engine.put_subjects([Organisation(self.keys[name], name, "enterprise", region, industry,
                                                   registered, deregistered)])
        return self.keys[name]

    def person(self, name: str) -> str:
        if name not in self.keys:
            number = make_id_number(700 + len(self.keys))
            self.keys[name] = person_key(number)
            self.engine.put_subjects(persons=[Person(self.keys[name], mask_id_number(number), name, "320281")])
        return self.keys[name]

    def __getitem__(self, name: str) -> str:
        return self.keys[name]

    def role(self, holder: str, role: Role, org: str, start: date, end: date | None = None,
             ratio: float | None = None) -> RoleEdge:
        key = self.keys.get(holder) or (self.person(holder) if holder.startswith("p") else self.org(holder))
        edge = RoleEdge(key, role, self.org(org), start, end, ratio=ratio)
        self.engine.put_roles([edge])
        return edge

    def record(self, org: str, record_id: str = "R1", act: date | None = ACT, decision: date = DECISION,
               severity: str = "serious") -> DishonestyRecord:
        r = DishonestyRecord(record_id, self.org(org), "tax_evasion", severity, decision, act_date=act,
                             period_end=decision + timedelta(days=1095))
        self.engine.put_records([r])
        return r


@pytest.fixture
def g(new_store: Callable[[], Store]) -> G:
    return G(Engine(new_store()))


def _edges(flag) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(e["edge_id"], e["change"]) for e in flag.evidence if e["kind"] == "edge"}


# -- control change --------------------------------------------------------------------------------------


def test_legal_representative_changed_30_days_before_the_act_is_flagged_with_both_edges(g: G) -> None:
    change = ACT - timedelta(days=30)
    old = g.role("p_old", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), change)
    new = g.role("p_new", Role.LEGAL_REPRESENTATIVE, "A", change)
    g.record("A")
    (flag,) = evasion_flags(g.engine.store, g["A"], AS_OF)
    assert flag.pattern == "control_change" and flag.anchor == "act_date"
    assert flag.anchor_date == ACT and flag.change_date == change and flag.days == 30
    assert flag.detail == {"role": "LEGAL_REPRESENTATIVE", "from": [g["p_old"]], "to": [g["p_new"]]}
    assert _edges(flag) == {(old.edge_id, "ended"), (new.edge_id, "started")}
    assert flag.cause == "record:R1" and flag.evidence[-1]["record_id"] == "R1"
    assert set(flag.subjects) == {g["A"], g["p_old"], g["p_new"]}
    assert flag.config["window_days"] == 180


def test_legal_representative_changed_400_days_before_is_not_flagged(g: G) -> None:
    change = ACT - timedelta(days=400)
    g.role("p_old", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), change)
    g.role("p_new", Role.LEGAL_REPRESENTATIVE, "A", change)
    g.record("A")
    assert evasion_flags(g.engine.store, g["A"], AS_OF) == []


def test_the_window_is_configuration(g: G) -> None:
    change = ACT - timedelta(days=400)
    g.role("p_old", Role.PRINCIPAL, "A", D("2015-01-01"), change)
    g.role("p_new", Role.PRINCIPAL, "A", change)
    g.record("A")
    cfg = evasion_config()
    wide = cfg.model_copy(update={"control_change": cfg.control_change.model_copy(update={"window_days": 500})})
    (flag,) = evasion_flags(g.engine.store, g["A"], AS_OF, wide)
    assert flag.detail["role"] == "PRINCIPAL" and flag.days == 400


def test_a_change_before_the_decision_is_timed_against_the_decision(g: G) -> None:
    change = DECISION - timedelta(days=10)  # long after the act
    g.role("p_old", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), change)
    g.role("p_new", Role.LEGAL_REPRESENTATIVE, "A", change + timedelta(days=5))  # registered a few days later
    g.record("A")
    (flag,) = evasion_flags(g.engine.store, g["A"], AS_OF)
    assert flag.anchor == "decision_date" and flag.days == 10
    assert flag.detail["to"] == [g["p_new"]] and len(_edges(flag)) == 2


def test_scenario_world_flags_the_representative_replaced_before_the_decision(new_store) -> None:  # type: ignore[no-untyped-def]
    w = build(Engine(new_store()))
    (flag,) = evasion_flags(w.store, w["org_a"], D("2021-01-01"))
    assert flag.anchor == "decision_date" and flag.change_date == D("2020-06-01") and flag.days == 92
    assert flag.detail["from"] == [w["p_lr_old"]] and flag.detail["to"] == [w["p_lr_new"]]


def test_controlling_shareholder_replaced_before_the_decision(g: G) -> None:
    change = DECISION - timedelta(days=60)
    out = g.role("p_boss", Role.SHAREHOLDER, "A", D("2015-01-01"), change, ratio=0.6)
    g.role("p_minor", Role.SHAREHOLDER, "A", D("2015-01-01"), ratio=0.4)
    came = g.role("p_straw", Role.SHAREHOLDER, "A", change, ratio=0.6)
    g.record("A", act=None)
    (flag,) = evasion_flags(g.engine.store, g["A"], AS_OF)
    assert flag.pattern == "control_change" and flag.detail["role"] == "controlling_shareholder"
    assert flag.detail["from"] == [g["p_boss"]] and flag.detail["to"] == [g["p_straw"]]
    assert {"holder": g["p_boss"], "before": 0.6, "after": 0.0} in flag.detail["stakes"]
    assert _edges(flag) == {(out.edge_id, "ended"), (came.edge_id, "started")}


def test_largest_holder_losing_first_place_is_a_control_change(g: G) -> None:
    change = DECISION - timedelta(days=20)
    g.role("p_a", Role.SHAREHOLDER, "A", D("2015-01-01"), change, ratio=0.4)
    g.role("p_a", Role.SHAREHOLDER, "A", change, ratio=0.2)  # still above 5%: no threshold flag
    held = g.role("p_b", Role.SHAREHOLDER, "A", D("2015-01-01"), ratio=0.35)
    g.role("p_c", Role.SHAREHOLDER, "A", D("2015-01-01"), ratio=0.25)
    g.record("A", act=None)
    (flag,) = [f for f in evasion_flags(g.engine.store, g["A"], AS_OF) if f.pattern == "control_change"]
    assert flag.detail["from"] == [g["p_a"]] and flag.detail["to"] == [g["p_b"]]
    assert (held.edge_id, "held") in _edges(flag)


def test_one_change_is_one_flag_with_the_pattern_title_a_sentence_and_its_anchors_merged(g: G) -> None:
    # the act (2020-05-01) and the decision (2020-07-01) are 30 and 91 days after the change: one flag
    change = ACT - timedelta(days=30)
    g.role("p_old", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), change)
    g.role("p_new", Role.LEGAL_REPRESENTATIVE, "A", change)
    g.record("A", decision=D("2020-07-01"))
    (flag,) = evasion_flags(g.engine.store, g["A"], AS_OF)
    assert (flag.anchor, flag.anchor_date, flag.days) == ("act_date", ACT, 30)  # the nearest anchor leads
    assert [(a["anchor"], a["anchor_date"], a["days"]) for a in flag.anchors] == [
        ("act_date", ACT, 30), ("decision_date", D("2020-07-01"), 91)]
    assert [e["kind"] for e in flag.evidence] == ["edge", "edge", "record"]  # the record once
    assert flag.title == evasion_config().control_change.title == "法定代表人、主要负责人或控股股东在失信行为或惩戒决定前变更"  # noqa: E501
    assert flag.summary == ("The legal representative changed on 2020-04-01, 30 days before the act (2020-05-01) "
                            "of record:R1.")
    body = flag.as_dict()
    assert (body["title"], body["summary"], len(body["anchors"])) == (flag.title, flag.summary, 2)
    # a black listing of the same firm 10 days after the decision adds an anchor, not a flag
    g.engine.put_list_entries([ListEntry("B1", g["A"], "black", "失信黑名单", "market_regulation", "Jiangyin (6)",
                                         D("2020-07-11"))])
    (again,) = evasion_flags(g.engine.store, g["A"], AS_OF)
    assert again.flag_id == flag.flag_id
    assert [a["cause"] for a in again.anchors] == ["record:R1", "record:R1", "list:B1"]
    assert [e["kind"] for e in again.evidence] == ["edge", "edge", "record", "list_entry"]


def test_legal_representative_replaced_before_deregistration_is_flagged(g: G) -> None:
    # a clean firm deregistered on 2021-06-30; its legal representative was replaced 20 days before (顶替注销)
    g.org("A", deregistered=D("2021-06-30"))
    g.role("p_old", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), D("2021-06-10"))
    g.role("p_stand_in", Role.LEGAL_REPRESENTATIVE, "A", D("2021-06-10"), D("2021-06-30"))
    (flag,) = evasion_flags(g.engine.store, g["A"], AS_OF)
    assert (flag.pattern, flag.anchor, flag.cause, flag.days) == ("control_change", "deregistration",
                                                                  f"deregistration:{g['A']}", 20)
    assert flag.evidence[-1] == {"kind": "registration", "org": g["A"], "name": "A", "industry": "C",
                                 "region": "320281", "registered_on": D("2010-01-01"),
                                 "deregistered_on": D("2021-06-30")}
    assert flag.summary == ("The legal representative changed on 2021-06-10, 20 days before the deregistration "
                            "(2021-06-30).")
    assert evasion_flags(g.engine.store, g["A"], D("2021-06-29")) == []  # not deregistered yet
    assert [f.flag_id for f in scan_region(g.engine.store, "320281", AS_OF)] == [flag.flag_id]


# -- serial failure (金蝉脱壳) -------------------------------------------------------------------------------


def _jin_chan_tuo_ke(g: G) -> None:
    """Old firm A (industry C, 2010) deregistered 2021-06-30; p_boss its legal representative until then.
    p_boss founded N (C) on 2021-03-01, 121 days before: flagged. Not flagged: F (industry F), L (C, founded
    2023-01-01, 550 days after), E (C, registered 2005, p_boss a shareholder since 2021-04-01: not a founder),
    and N2 (C, 2021-05-01) founded by p_clerk, a director of A, not its legal representative."""
    g.org("A", deregistered=D("2021-06-30"))
    g.role("p_boss", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), D("2021-06-30"))
    g.role("p_clerk", Role.DIRECTOR, "A", D("2015-01-01"), D("2021-06-30"))
    for name, industry, founded in (("N", "C", "2021-03-01"), ("F", "F", "2021-03-01"), ("L", "C", "2023-01-01")):
        g.org(name, industry=industry, registered=D(founded))
        g.role("p_boss", Role.LEGAL_REPRESENTATIVE, name, D(founded))
    g.org("E", registered=D("2005-01-01"))
    g.role("p_boss", Role.SHAREHOLDER, "E", D("2021-04-01"), ratio=0.3)
    g.org("N2", registered=D("2021-05-01"))
    g.role("p_clerk", Role.LEGAL_REPRESENTATIVE, "N2", D("2021-05-01"))


def test_serial_failure_legal_representative_of_a_deregistered_firm_founds_one_in_the_same_industry(g: G) -> None:
    _jin_chan_tuo_ke(g)
    store = g.engine.store
    (flag,) = evasion_flags(store, g["p_boss"], D("2023-06-01"))
    assert (flag.pattern, flag.subject, flag.anchor, flag.anchor_date, flag.change_date, flag.days) == (
        "serial_failure", g["p_boss"], "deregistration", D("2021-06-30"), D("2021-03-01"), -121)
    assert set(flag.subjects) == {g["p_boss"], g["A"], g["N"]}
    assert flag.detail == {"person": g["p_boss"], "failed_org": g["A"], "new_org": g["N"],
                           "roles_from": ["LEGAL_REPRESENTATIVE"], "role_to": "LEGAL_REPRESENTATIVE", "industry": "C",
                           "new_org_registered_on": D("2021-03-01"), "failed_org_deregistered_on": D("2021-06-30")}
    assert [(e["kind"], e.get("change"), e.get("org")) for e in flag.evidence] == [
        ("edge", "held", g["A"]), ("edge", "started", g["N"]), ("registration", None, g["N"]),
        ("registration", None, g["A"])]
    assert flag.title == evasion_config().serial_failure.title
    assert flag.summary == ("The legal representative of a firm failed by the deregistration (2021-06-30) founded a "
                            "new firm of industry C on 2021-03-01, 121 days before it, as its legal representative.")
    # the same flag from the failed firm and from the new one; none for the others
    assert [f.flag_id for f in evasion_flags(store, g["A"], D("2023-06-01"))] == [flag.flag_id]
    assert [f.flag_id for f in evasion_flags(store, g["N"], D("2023-06-01"))] == [flag.flag_id]
    for other in ("F", "L", "E", "N2", "p_clerk"):
        assert evasion_flags(store, g[other], D("2023-06-01")) == [], other
    # before the deregistration nothing had failed
    assert evasion_flags(store, g["p_boss"], D("2021-06-29")) == []


def test_serial_failure_from_a_dishonest_firm_is_one_flag_with_the_record_and_the_deregistration(g: G) -> None:
    # A also got a serious record (act 2020-05-01, decided 2021-01-15): N was founded 45 days after the
    # decision and 121 days before the deregistration; one founding, one flag, timed against the decision
    _jin_chan_tuo_ke(g)
    g.record("A", decision=D("2021-01-15"))
    (flag,) = [f for f in evasion_flags(g.engine.store, g["p_boss"], D("2023-06-01")) if f.pattern == "serial_failure"]
    assert (flag.anchor, flag.cause, flag.days) == ("decision_date", "record:R1", 45)
    assert [(a["anchor"], a["days"]) for a in flag.anchors] == [("decision_date", 45), ("deregistration", -121)]
    assert {e["kind"] for e in flag.evidence} == {"edge", "registration", "record"}


# -- stake reduced to just under a threshold -------------------------------------------------------------


def _stake_world(g: G, before: float, after: float, days_before: int) -> None:
    change = DECISION - timedelta(days=days_before)
    g.role("p_big", Role.SHAREHOLDER, "A", D("2015-01-01"), ratio=0.6)
    g.role("p_x", Role.SHAREHOLDER, "A", D("2015-01-01"), change, ratio=before)
    g.role("p_x", Role.SHAREHOLDER, "A", change, ratio=after)
    g.record("A", act=None)


def test_stake_cut_from_30_to_24_9_percent_two_months_before_the_decision_is_flagged(g: G) -> None:
    _stake_world(g, 0.30, 0.249, 61)
    (flag,) = evasion_flags(g.engine.store, g["A"], AS_OF)
    assert flag.pattern == "stake_below_threshold" and flag.anchor == "decision_date" and flag.days == 61
    assert flag.detail == {"holder": g["p_x"], "threshold": 0.25, "ratio_before": 0.3, "ratio_after": 0.249,
                           "below_by": 0.001}
    assert {c for _, c in _edges(flag)} == {"ended", "started"}
    # the person's own view shows the flag too
    assert [f.flag_id for f in evasion_flags(g.engine.store, g["p_x"], AS_OF)] == [flag.flag_id]


@pytest.mark.parametrize("before, after, days", [
    (0.30, 0.20, 61),  # well below, not "just" under
    (0.30, 0.26, 61),  # still above
    (0.30, 0.249, 400),  # long before the decision
    (0.20, 0.049, 30),  # 5%: flagged (below)
])
def test_stake_cuts_that_are_not_flagged_and_the_5_percent_threshold(g: G, before: float, after: float,
                                                                     days: int) -> None:
    _stake_world(g, before, after, days)
    flags = evasion_flags(g.engine.store, g["A"], AS_OF)
    if after == 0.049:
        (flag,) = flags
        assert flag.detail["threshold"] == 0.05
    else:
        assert flags == []


# -- person moving to a new firm in the same industry -----------------------------------------------------


def test_person_moving_from_a_dishonest_firm_to_a_same_industry_firm(g: G) -> None:
    held = g.role("p_lr", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"))
    g.org("B", industry="C")
    g.org("C_other_industry", industry="F")
    moved = g.role("p_lr", Role.LEGAL_REPRESENTATIVE, "B", DECISION + timedelta(days=60))
    g.role("p_lr", Role.LEGAL_REPRESENTATIVE, "C_other_industry", DECISION + timedelta(days=60))
    g.role("p_lr", Role.DIRECTOR, "D_late", DECISION + timedelta(days=400))  # outside the window
    g.role("p_lr", Role.DIRECTOR, "E_before", D("2016-01-01"))  # already there before the record
    g.role("p_late", Role.LEGAL_REPRESENTATIVE, "A", ACT + timedelta(days=1))  # not in the role at the act
    g.role("p_late", Role.DIRECTOR, "F", DECISION + timedelta(days=10))
    g.record("A")
    store = g.engine.store
    (flag,) = evasion_flags(store, g["p_lr"], AS_OF)
    assert flag.pattern == "person_move" and flag.subject == g["p_lr"]
    assert flag.detail["from_org"] == g["A"] and flag.detail["to_org"] == g["B"] and flag.days == 60
    assert flag.detail["roles_from"] == ["LEGAL_REPRESENTATIVE"] and flag.detail["industry"] == "C"
    assert _edges(flag) == {(held.edge_id, "held"), (moved.edge_id, "started")}
    # the same flag from the old firm, from the new firm, and not from the unrelated firms
    assert flag.flag_id in {f.flag_id for f in evasion_flags(store, g["A"], AS_OF)}
    assert [f.flag_id for f in evasion_flags(store, g["B"], AS_OF)] == [flag.flag_id]
    assert evasion_flags(store, g["C_other_industry"], AS_OF) == []
    assert evasion_flags(store, g["F"], AS_OF) == []
    # as of a date before the move, nothing is known yet
    assert evasion_flags(store, g["p_lr"], DECISION + timedelta(days=30)) == []


def test_withdrawn_records_raise_no_flags(g: G) -> None:
    change = ACT - timedelta(days=30)
    g.role("p_old", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), change)
    g.role("p_new", Role.LEGAL_REPRESENTATIVE, "A", change)
    g.record("A")
    g.engine.add_event(RecordEvent("R1", "objection_filed", DECISION + timedelta(days=5)))
    g.engine.add_event(RecordEvent("R1", "objection_upheld", DECISION + timedelta(days=9)))
    assert evasion_flags(g.engine.store, g["A"], DECISION + timedelta(days=3)) != []
    assert evasion_flags(g.engine.store, g["A"], AS_OF) == []


def test_general_records_do_not_count_by_default(g: G) -> None:
    change = ACT - timedelta(days=30)
    g.role("p_old", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), change)
    g.role("p_new", Role.LEGAL_REPRESENTATIVE, "A", change)
    g.record("A", severity="general")
    assert evasion_flags(g.engine.store, g["A"], AS_OF) == []


def test_black_listing_is_an_anchor(g: G) -> None:
    change = D("2021-01-10")
    g.role("p_old", Role.PRINCIPAL, "A", D("2015-01-01"), change)
    g.role("p_new", Role.PRINCIPAL, "A", change)
    g.engine.put_list_entries([ListEntry("B1", g["A"], "black", "失信黑名单", "market_regulation", "Jiangyin (6)",
                                         D("2021-02-01"))])
    (flag,) = evasion_flags(g.engine.store, g["A"], AS_OF)
    assert flag.anchor == "black_list" and flag.cause == "list:B1" and flag.days == 22


def test_region_scan_finds_every_flag_once_and_frames(g: G) -> None:
    change = ACT - timedelta(days=30)
    g.role("p_old", Role.LEGAL_REPRESENTATIVE, "A", D("2015-01-01"), change)
    g.role("p_new", Role.LEGAL_REPRESENTATIVE, "A", change)
    g.role("p_new", Role.LEGAL_REPRESENTATIVE, "B", DECISION + timedelta(days=5))  # and moves on
    g.org("Z", region="110105")
    g.role("p_z1", Role.LEGAL_REPRESENTATIVE, "Z", D("2015-01-01"), change)
    g.role("p_z2", Role.LEGAL_REPRESENTATIVE, "Z", change)
    g.record("A")
    g.record("Z", record_id="RZ")
    flags = scan_region(g.engine.store, "320281", AS_OF)
    assert sorted(f.pattern for f in flags) == ["control_change", "person_move"]
    assert {f.cause for f in flags} == {"record:R1"}
    assert len(scan_region(g.engine.store, "32", AS_OF)) == 2
    assert [f.cause for f in scan_region(g.engine.store, "110105", AS_OF)] == ["record:RZ"]
    assert len(scan_region(g.engine.store, "320281", AS_OF, limit=1)) == 1
    frame = evasion_frame(flags)
    assert list(frame["pattern"]) == [f.pattern for f in flags]
    assert {"flag_id", "anchor_date", "days", "evidence_edges", "detail_role"} <= set(frame.columns)


# -- configuration --------------------------------------------------------------------------------------


def test_packaged_configuration_is_valid_and_shipped() -> None:
    cfg = evasion_config()
    assert cfg.control_change.window_days == 180
    assert cfg.stake_below_threshold.thresholds == (0.05, 0.25, 0.5)
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"evasion.yaml"' in pyproject


def test_a_bad_configuration_names_the_key(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "graph_credit" / "evasion.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "evasion.yaml"
    bad.write_text(text.replace("margin: 0.02", "margin: 2"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"stake_below_threshold\.margin"):
        load_evasion_config(bad)
    bad.write_text(text.replace("roles: [LEGAL_REPRESENTATIVE, PRINCIPAL]", "roles: [SHAREHOLDER]"), encoding="utf-8")
    with pytest.raises(ValueError, match="controlling_stake"):
        load_evasion_config(bad)


# -- API: GET /v1/subjects/{subject}/evasion, GET /v1/evasion?region= -------------------------------------



def test_api_evasion_for_a_subject_and_a_region(api) -> None:  # type: ignore[no-untyped-def]
    c, w = api
    r = c.get(f"/v1/subjects/{w['org_a']}/evasion", headers=INVESTIGATOR)
    assert r.status_code == 200, r.text
    (flag,) = r.json()["flags"]
    assert flag["pattern"] == "control_change" and flag["anchor"] == "decision_date" and flag["days"] == 92
    assert flag["status"] == "for_review" and {e["change"] for e in flag["evidence"] if e["kind"] == "edge"} == {
        "ended", "started"}
    assert c.get(f"/v1/subjects/{w['org_a']}/evasion", headers=MARKET).status_code == 200
    assert c.get(f"/v1/subjects/{w['org_a']}/evasion", headers=PUBLIC).status_code == 403
    assert c.get(f"/v1/subjects/{w['org_a']}/evasion?as_of=2020-01-01", headers=INVESTIGATOR).json()["flags"] == []
    scan = c.get("/v1/evasion?region=320281", headers=INVESTIGATOR)
    assert scan.status_code == 200 and [f["flag_id"] for f in scan.json()["flags"]] == [flag["flag_id"]]
    assert scan.json()["truncated"] is False
    assert c.get("/v1/evasion?region=320281", headers=MARKET).status_code == 403
    bad = c.get("/v1/evasion?region=abc", headers=INVESTIGATOR)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "region"
