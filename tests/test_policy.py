"""The policy loader and the shipped policy data: catalogue, jurisdiction overlays, dating and strictness."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

import graph_credit
from graph_credit.policy import (
    DOCUMENTS,
    Basis,
    Measure,
    Policy,
    PolicyError,
    Rule,
    available_jurisdictions,
    load_policy,
    load_policy_from,
)

D = date.fromisoformat
DATA = Path(graph_credit.__file__).parent / "policy" / "data"
JURISDICTIONS = available_jurisdictions()
OVERLAYS = [j for j in JURISDICTIONS if j != "default"]
ON = D("2021-01-01")
ISSUED = {"xiaoyi": D("2017-05-05"), "shandong": D("2017-12-22"), "tibet": D("2017-06-02"),
          "ganzhou": D("2018-03-23"), "jiangyin": D("2018-06-22")}


def all_rules(policy: Policy) -> list[Rule]:
    ids = {r.id for d in policy.snapshot_dates() for r in policy.at(d).rules}
    return [v for i in sorted(ids) for v in policy.rule_versions(i)]


def all_measures(policy: Policy) -> list[Measure]:
    codes = {m.code for d in policy.snapshot_dates() for m in policy.at(d).measures}
    return [v for c in sorted(codes) for v in policy.measure_versions(c)]


def affected_kinds(rule: Rule) -> set[str]:
    kinds: set[str] = set()
    for a in rule.affects:
        if a.target == "subject":
            kinds |= set(rule.trigger.subject_kinds or {"organisation", "person"})
        else:  # role holders are persons, except that a shareholder may be an organisation
            kinds |= {"person", "organisation"} if a.role == "SHAREHOLDER" else {"person"}
    return kinds


# --------------------------------------------------------------------------------------------------
# The shipped data loads and is coherent on every date.


def test_the_five_documents_have_jurisdictions() -> None:
    assert JURISDICTIONS[0] == "default"
    assert set(JURISDICTIONS) >= {"default", "ganzhou", "jiangyin", "shandong", "tibet", "xiaoyi"}


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_jurisdiction_loads_with_its_metadata(jurisdiction: str) -> None:
    policy = load_policy(jurisdiction)
    assert policy.id == jurisdiction
    assert policy.lineage[-1].startswith("default-")
    if jurisdiction != "default":
        assert policy.lineage[0].startswith(f"{jurisdiction}-") and len(policy.lineage) == 2
        assert policy.issued == ISSUED[jurisdiction]
        assert policy.document.lower() == jurisdiction
    snap = policy.at(ON)
    assert snap.jurisdiction == jurisdiction and snap.rules and snap.measures


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_on_every_date_each_rule_in_force_has_a_measure_for_each_kind_it_reaches(jurisdiction: str) -> None:
    policy = load_policy(jurisdiction)
    for day in policy.snapshot_dates():
        snap = policy.at(day)
        for rule in snap.rules:
            produced = [rule.consequence] + ([rule.aftercare.consequence] if rule.aftercare else [])
            for consequence in produced:
                for kind in affected_kinds(rule):
                    assert snap.measures_for(consequence, kind), (day, rule.id, consequence, kind)


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_on_every_date_each_measure_in_force_implements_a_rule_in_force(jurisdiction: str) -> None:
    policy = load_policy(jurisdiction)
    for day in policy.snapshot_dates():
        snap = policy.at(day)
        produced = {r.consequence for r in snap.rules} | {r.aftercare.consequence for r in snap.rules if r.aftercare}
        assert {m.code for m in snap.measures if m.consequence not in produced} == set(), day


def test_nothing_is_in_force_before_guo_fa_33() -> None:
    snap = load_policy("default").at(D("2016-05-29"))
    assert snap.rules == () and snap.measures == ()


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_basis_is_well_formed(jurisdiction: str) -> None:
    policy = load_policy(jurisdiction)
    bases: list[Basis] = [b for m in all_measures(policy) for b in m.basis]
    bases += [b for r in all_rules(policy) for b in r.basis]
    bases += [b for s in (policy.objection, policy.repair, policy.green_channel, policy.punishment_period)
              for b in s.basis]
    assert bases
    for b in bases:
        assert DOCUMENTS[b.document].match(b.clause), b
        assert 2 <= len(b.quote) <= 80 and re.search(r"[\u4e00-\u9fff]", b.quote), b


def test_catalogue_size_and_shape() -> None:
    measures = load_policy("default").at(ON).measures
    assert 40 <= len(measures) <= 70
    categories = {m.category for m in measures}
    assert categories == {"administrative", "market", "industry", "social", "incentive"}
    assert {m.binding for m in measures} == {"mandatory", "recommended"}
    for m in measures:
        assert (m.kind == "incentive") == (m.category == "incentive") == (m.consequence == "green_channel")
        assert m.default_duration_days is None or m.default_duration_days > 0
        assert len(set(m.departments)) == len(m.departments), m.code  # one case item per department


@pytest.mark.parametrize("jurisdiction", OVERLAYS)
def test_overlay_entries_cite_their_own_document_and_start_on_its_date(jurisdiction: str) -> None:
    policy = load_policy(jurisdiction)
    origin = f"jurisdictions/{jurisdiction}.yaml"
    entries: list[Rule | Measure] = [*all_rules(policy), *all_measures(policy)]
    own = [e for e in entries if e.origin == origin]
    for entry in own:
        assert entry.effective_from == policy.issued, entry
        assert {b.document for b in entry.basis} == {policy.document}, entry


@pytest.mark.parametrize("jurisdiction", OVERLAYS)
def test_versions_of_one_code_implement_the_same_consequence(jurisdiction: str) -> None:
    # A later version may reword a measure or change its binding; what it implements and for whom stays.
    policy = load_policy(jurisdiction)
    for code in {m.code for m in all_measures(policy)}:
        versions = policy.measure_versions(code)
        assert len({(m.consequence, m.kind, m.category) for m in versions}) == 1, code
    # A rule's version may change its trigger where the text does (Jiangyin's black list), not its consequence.
    for rule_id in {r.id for r in all_rules(policy)}:
        assert len({r.consequence for r in policy.rule_versions(rule_id)}) == 1, rule_id


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_snapshots_serialise_to_json(jurisdiction: str) -> None:
    snap = load_policy(jurisdiction).at(ON)
    json.dumps(snap.punishment_period_days)
    for model in (snap.objection, snap.repair, snap.green_channel, snap.punishment_period, *snap.rules,
                  *snap.measures):
        json.loads(model.model_dump_json())


# --------------------------------------------------------------------------------------------------
# What the approval checks rely on.


def test_mandatory_procurement_measure_for_a_serious_dishonest_organisation() -> None:
    found = load_policy("default").at(ON).measures_for("joint_punishment", "organisation", "government_procurement")
    mandatory = [m for m in found if m.binding == "mandatory" and m.kind == "punishment"]
    assert [m.code for m in mandatory] == ["GOVERNMENT_PROCUREMENT_RESTRICTION"]
    assert "finance" in mandatory[0].departments
    assert all("government_procurement" in m.matters for m in found)


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_market_ban_asks_review_for_legal_representative_registration_in_any_industry(jurisdiction: str) -> None:
    # 市场和行业禁入 bars a market or industry: whether a new registration is in it is the registrar's call
    found = load_policy(jurisdiction).at(ON).measures_for("market_ban", "person", "legal_representative_registration")
    assert found and all(m.binding == "recommended" and "market_regulation" in m.departments for m in found)
    assert not load_policy(jurisdiction).at(ON).measures_for("market_ban", "organisation",
                                                             "legal_representative_registration")


@pytest.mark.parametrize("jurisdiction", [j for j in JURISDICTIONS if j != "shandong"])
def test_shandong_11_public_institution_bar_applies_only_under_shandong(jurisdiction: str) -> None:
    policy = load_policy(jurisdiction)
    for on in (D("2017-12-22"), ON, D("2030-01-01")):
        assert "P4" not in {r.id for r in policy.at(on).rules}
        assert not policy.at(on).measures_for("public_institution_lr_bar", "person")


def test_public_institution_bar_from_the_shandong_date() -> None:
    policy = load_policy("shandong")
    before = policy.at(D("2017-12-21")).measures_for("public_institution_lr_bar", "person",
                                                     "public_institution_lr_registration")
    after = policy.at(D("2017-12-22")).measures_for("public_institution_lr_bar", "person",
                                                    "public_institution_lr_registration")
    assert before == []
    assert [m.binding for m in after] == ["mandatory"] and after[0].departments == ("establishment_office",)
    assert [b.document for b in after[0].basis] == ["Shandong"]
    assert "P4" not in {r.id for r in policy.at(D("2017-12-21")).rules}
    assert policy.at(D("2017-12-22")).rule("P4").effective_from == D("2017-12-22")


def test_green_channel_on_licensing_for_organisations() -> None:
    found = load_policy("default").at(ON).measures_for("green_channel", "organisation", "licensing")
    assert {m.code for m in found} >= {"GREEN_CHANNEL_LICENSING", "ACCEPTANCE_WITH_MISSING_DOCUMENTS"}
    assert all(m.kind == "incentive" and m.category == "incentive" for m in found)


def test_development_reform_implements_joint_punishment() -> None:
    found = load_policy("default").at(ON).measures_for("joint_punishment", "organisation")
    assert any("development_reform" in m.departments for m in found)


def test_honours_and_red_list_removal_bear_only_on_their_own_matters() -> None:
    # These facts outlive the punishment period; they must not deny unrelated approvals after it.
    snap = load_policy("default").at(ON)
    for consequence in ("honour_revocation", "red_list_removal", "personal_credit_entry"):
        for kind in ("organisation", "person"):
            for m in snap.measures_for(consequence, kind):
                assert m.matters <= {"honour", "red_list", "credit_record", "legal_representative_registration",
                                     "practice_qualification"}, m.code
                if m.binding == "mandatory":
                    assert m.matters <= {"honour", "red_list", "credit_record"}, m.code


def test_high_consumption_restrictions_cover_every_matter_the_document_names() -> None:
    def matters(jurisdiction: str) -> set[str]:
        snap = load_policy(jurisdiction).at(ON)
        assert all(m.binding == "mandatory" for m in snap.measures_for("high_consumption_restriction", "person"))
        return {x for m in snap.measures_for("high_consumption_restriction", "person") for x in m.matters}

    assert matters("shandong") >= {"high_consumption", "air_travel", "rail_travel", "star_hotel",
                                   "real_estate_purchase", "travel_leisure", "exit"}
    # Xiaoyi 23 (and the national text as Xiaoyi restates it): exit, real estate, holidays, star hotels
    for j in ("xiaoyi", "default"):
        assert matters(j) == {"high_consumption", "star_hotel", "real_estate_purchase", "travel_leisure", "exit"}


def test_measures_for_rejects_an_unknown_target_kind() -> None:
    with pytest.raises(ValueError, match="target_kind"):
        load_policy("default").at(ON).measures_for("joint_punishment", "company")


# --------------------------------------------------------------------------------------------------
# Jurisdiction differences.


def test_jiangyin_does_not_suspend_measures_during_objection() -> None:
    assert load_policy("default").objection.suspends_measures is True
    jiangyin = load_policy("jiangyin").objection
    assert jiangyin.suspends_measures is False
    assert any(b.document == "Jiangyin" and b.clause == "(24)" and "不停止执行" in b.quote for b in jiangyin.basis)
    assert jiangyin.verification_days == load_policy("default").objection.verification_days
    for other in ("xiaoyi", "ganzhou", "shandong", "tibet"):
        assert load_policy(other).objection.suspends_measures is True


@pytest.mark.parametrize("jurisdiction", [j for j in available_jurisdictions() if j != "default"])
def test_before_its_document_a_jurisdiction_follows_the_national_procedure(jurisdiction: str) -> None:
    policy, national = load_policy(jurisdiction), load_policy("default")
    before, issued = policy.at(policy.issued - timedelta(days=1)), policy.at(policy.issued)
    for key in ("objection", "repair", "green_channel", "punishment_period", "objection_remedy",
                "objection_feedback", "list_exit_announcement"):
        early, later = getattr(before, key), getattr(issued, key)
        for snap, setting in ((before, early), (issued, later)):
            cited = {b.document for b in (setting.basis if setting is not None else ())}
            assert cited <= {"GuoFa33", policy.document}, (key, snap.on, cited)
            assert all(policy._issued[d] <= snap.on for d in cited), (key, snap.on, cited)
        if early is not None:
            assert {b.document for b in early.basis} == {"GuoFa33"}
            same = getattr(national.at(before.on), key)
            assert early.model_dump(exclude={"basis", "note"}) == same.model_dump(exclude={"basis", "note"})


@pytest.mark.parametrize("jurisdiction", available_jurisdictions())
def test_nothing_in_force_on_a_day_cites_a_document_not_yet_issued(jurisdiction: str) -> None:
    """What a lawyer checks in docs/jurisdictions.md, on every day the policy changes: each clause a rule,
    its permanence, its aftercare, a measure or a lifecycle setting cites is the jurisdiction's own or Guo
    Fa 33, and already issued."""
    policy = load_policy(jurisdiction)
    for day in policy.snapshot_dates():
        snap = policy.at(day)
        cited: list[tuple[str, Basis]] = []
        for r in snap.rules:
            cited += [(r.id, b) for b in r.basis]
            cited += [(f"{r.id}.permanent", b) for b in (r.permanent.basis if r.permanent else ())]
            cited += [(f"{r.id}.aftercare", b) for b in (r.aftercare.basis if r.aftercare else ())]
        cited += [(m.code, b) for m in snap.measures for b in m.basis]
        for key in ("objection", "repair", "green_channel", "punishment_period", "objection_remedy",
                    "objection_feedback", "list_exit_announcement"):
            setting = getattr(snap, key)
            cited += [(key, b) for b in (setting.basis if setting is not None else ())]
        wrong = [(what, str(b)) for what, b in cited
                 if b.document not in ("GuoFa33", policy.document) or policy._issued[b.document] > day]
        assert not wrong, (day, wrong)


def test_jiangyin_and_tibet_change_the_objection_procedure_on_the_day_their_documents_are_issued() -> None:
    assert (load_policy("jiangyin").at(date(2018, 6, 21)).objection.suspends_measures,
            load_policy("jiangyin").at(date(2018, 6, 22)).objection.suspends_measures) == (True, False)
    assert (load_policy("tibet").at(date(2017, 6, 1)).objection.verification_days,
            load_policy("tibet").at(date(2017, 6, 2)).objection.verification_days) == (15, 20)


def test_tibet_verifies_within_twenty_days_and_keeps_suspension() -> None:
    tibet = load_policy("tibet")
    assert tibet.objection.verification_days == 20 and tibet.objection.suspends_measures is True
    assert any("20日内" in b.quote for b in tibet.objection.basis)
    assert load_policy("default").objection.verification_days != 20
    assert tibet.at(ON).objection.verification_days == 20


def test_tibet_and_jiangyin_add_dishonesty_categories() -> None:
    default = set(load_policy("default").categories)
    tibet = set(load_policy("tibet").categories) - default
    jiangyin = set(load_policy("jiangyin").categories) - default
    assert tibet >= {"illegal_subcontracting", "construction_payment_arrears", "false_application_documents",
                     "social_insurance_arrears", "metrology_fraud"}
    assert jiangyin >= {"false_invoicing", "tax_arrears", "false_application_documents", "other_serious_violation"}
    assert load_policy("tibet").categories["false_application_documents"].sources == ("Tibet (11)",)
    for other in ("xiaoyi", "ganzhou", "shandong"):
        assert set(load_policy(other).categories) == default


def test_jurisdiction_specific_measures_exist_only_there() -> None:
    only = {"tibet": "PRIVATE_SCHOOL_RESTRICTION", "jiangyin": "BID_BOND_WAIVER",
            "shandong": "FUTURES_SERVICE_RESTRICTION"}
    for jurisdiction, code in only.items():
        for other in JURISDICTIONS:
            codes = {m.code for m in load_policy(other).at(ON).measures}
            assert (code in codes) == (other == jurisdiction), (code, other)


def test_ganzhou_extends_bans_and_honours_to_social_organisations() -> None:
    ganzhou = load_policy("ganzhou")
    for rule_id in ("P2", "P3", "P3b"):
        before, after = ganzhou.at(D("2018-03-22")).rule(rule_id), ganzhou.at(D("2018-03-23")).rule(rule_id)
        assert before.version == "1" and before.trigger.org_types == {"enterprise"}
        assert after.version == "ganzhou-1" and after.trigger.org_types == {"enterprise", "social_organisation"}
        assert load_policy("default").at(ON).rule(rule_id).version == "1"


# --------------------------------------------------------------------------------------------------
# As-of semantics: a version is in force from its date and not before; an overlay version wins while in
# force and leaves the base version in force before its date.


def test_rule_versions_change_on_their_dates() -> None:
    policy = load_policy("jiangyin")
    assert policy.at(D("2018-06-21")).rule("P8").version == "1"
    assert policy.at(D("2018-06-21")).rule("P8").aftercare is None
    assert policy.at(D("2018-06-22")).rule("P8").version == "jiangyin-1"
    assert [r.version for r in policy.rule_versions("P8")] == ["1", "jiangyin-1"]
    assert "P5" not in {r.id for r in policy.at(D("2018-06-21")).rules}
    with pytest.raises(KeyError, match="P5"):
        policy.at(D("2018-06-21")).rule("P5")


def test_measure_in_force_from_its_date_and_not_before() -> None:
    policy = load_policy("jiangyin")
    for code in ("KEY_MONITORING", "RED_LIST_REMOVAL", "BLACKLIST_RED_LIST_BAR"):
        with pytest.raises(KeyError):
            policy.at(D("2018-06-21")).measure(code)
        assert policy.at(D("2018-06-22")).measure(code).effective_from == D("2018-06-22")
    assert D("2018-06-22") in policy.snapshot_dates()


def test_overlay_version_replaces_the_base_version_from_its_date() -> None:
    tibet = load_policy("tibet")
    before = tibet.at(D("2017-06-01")).measure("STAR_HOTEL_RESTRICTION")
    after = tibet.at(D("2017-06-02")).measure("STAR_HOTEL_RESTRICTION")
    assert before.origin == "catalogue.yaml" and "三星级" not in before.name_zh
    assert after.origin == "jurisdictions/tibet.yaml" and "三星级" in after.name_zh
    assert [m.origin for m in tibet.measure_versions("STAR_HOTEL_RESTRICTION")] == [
        "catalogue.yaml", "jurisdictions/tibet.yaml"]
    # the same code is untouched elsewhere
    assert load_policy("default").at(ON).measure("STAR_HOTEL_RESTRICTION").origin == "catalogue.yaml"
    # a wording difference can change the outcome of a check: Tibet reviews new projects, others restrict
    assert tibet.at(ON).measure("NEW_PROJECT_APPROVAL_RESTRICTION").binding == "recommended"
    assert load_policy("xiaoyi").at(ON).measure("NEW_PROJECT_APPROVAL_RESTRICTION").binding == "mandatory"


def test_snapshot_dates_and_cache_are_consistent() -> None:
    policy = load_policy("jiangyin")
    day = D("2019-03-04")
    assert policy.at(day).on == day
    assert policy.at(day).measures == policy.at(day + timedelta(days=1)).measures
    assert policy.at(D("2018-06-21")).measures != policy.at(D("2018-06-22")).measures


# --------------------------------------------------------------------------------------------------
# Strictness: a broken copy of the data directory fails with the file, key path and reason.


@pytest.fixture
def data_copy(tmp_path: Path) -> Iterator[tuple[Path, Callable[[str, str, str], None]]]:
    root = tmp_path / "policy_data"
    shutil.copytree(DATA, root)

    def edit(rel: str, old: str, new: str) -> None:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert text.count(old) >= 1, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    yield root, edit


def test_the_copy_itself_loads(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, _ = data_copy
    assert available_jurisdictions(root) == JURISDICTIONS
    for jurisdiction in JURISDICTIONS:
        assert load_policy_from(root, jurisdiction).id == jurisdiction


def test_unknown_matter_names_file_and_key_path(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("catalogue.yaml", "matters: [government_procurement, government_purchase_services]",
         "matters: [government_procurment, government_purchase_services]")
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "default")
    assert err.value.file == "catalogue.yaml"
    assert re.fullmatch(r"measures\[\d+\]\.matters", err.value.path)
    assert "government_procurment" in err.value.reason
    assert "catalogue.yaml: measures[" in str(err.value)


def test_unknown_matter_in_an_overlay(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("jurisdictions/jiangyin.yaml", "matters: [public_facility_fares]", "matters: [public_facility_fare]")
    load_policy_from(root, "default")  # the base is unaffected
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "jiangyin")
    assert err.value.file == "jurisdictions/jiangyin.yaml"
    assert err.value.reason == "unknown matter 'public_facility_fare'"


def test_overlapping_versions_name_both_entries(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("jurisdictions/tibet.yaml", "  - code: PRIVATE_SCHOOL_RESTRICTION\n",
         "  - code: STAR_HOTEL_RESTRICTION\n")  # a second open-ended version of a code the file already has
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "tibet")
    assert err.value.file == "jurisdictions/tibet.yaml"
    assert re.fullmatch(r"measures\[\d+\]\.effective_from", err.value.path)
    assert "STAR_HOTEL_RESTRICTION" in err.value.reason and "overlaps" in err.value.reason


def test_overlapping_rule_versions(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("jurisdictions/jiangyin.yaml", '  - id: P6e\n    version: "1"', '  - id: P6\n    version: jiangyin-2')
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "jiangyin")
    assert err.value.file == "jurisdictions/jiangyin.yaml" and err.value.path.endswith(".effective_from")
    assert "rule P6 version jiangyin-2 overlaps version jiangyin-1" in err.value.reason


def test_override_without_basis(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("jurisdictions/tibet.yaml",
         '  basis:\n    - {document: Tibet, clause: "(18)", quote: "信息提供单位要在收到核查通知之日起20日内核实"}\n'
         '    - {document: Tibet, clause: "(18)", quote: "信息核实期间暂不执行联合惩戒措施"}\n', "")
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "tibet")
    assert (err.value.file, err.value.path) == ("jurisdictions/tibet.yaml", "objection.basis")
    assert "own basis" in err.value.reason


def test_unknown_consequence(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("catalogue.yaml", "consequence: market_ban", "consequence: market_bam")
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "default")
    assert err.value.file == "catalogue.yaml"
    assert re.fullmatch(r"measures\[\d+\]\.consequence", err.value.path)
    assert "unknown consequence 'market_bam'" in err.value.reason


def test_consequence_without_measure(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("jurisdictions/shandong.yaml", "consequence: public_institution_lr_bar\n    targets",
         "consequence: market_ban\n    targets")
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "shandong")
    assert err.value.file == "jurisdictions/shandong.yaml" and err.value.path.endswith(".consequence")
    assert "no measure implements consequence 'public_institution_lr_bar'" in err.value.reason


def test_bad_clause_format(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("jurisdictions/tibet.yaml", 'clause: "(13)", quote: "入住三星级以上宾馆"',
         'clause: "13", quote: "入住三星级以上宾馆"')
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "tibet")
    assert err.value.file == "jurisdictions/tibet.yaml"
    assert re.fullmatch(r"measures\[\d+\]\.basis\[0\]", err.value.path)
    assert "not how Tibet numbers its clauses" in err.value.reason


def test_every_problem_is_reported(data_copy: tuple[Path, Callable[[str, str, str], None]]) -> None:
    root, edit = data_copy
    edit("catalogue.yaml", "matters: [franchise]", "matters: [franchises]")
    edit("catalogue.yaml", "departments: [cyberspace]", "departments: [internet_office]")
    with pytest.raises(PolicyError) as err:
        load_policy_from(root, "default")
    reasons = {p[2] for p in err.value.problems}
    assert {"unknown matter 'franchises'", "unknown department 'internet_office'"} <= reasons


# --------------------------------------------------------------------------------------------------
# Quotes are verbatim excerpts of the cited clause (checked against the source documents when present).

SEEDS = Path("/work/shared/seeds")
SEED_FILES = {"Xiaoyi": "000_79712eafbff66d28.txt", "Ganzhou": "001_c7a1e830f69a0cbd.txt",
              "Shandong": "002_0aa2b5d4398a6cc2.txt", "Tibet": "003_b034bc3938ce2264.txt",
              "Jiangyin": "004_eff039d1ac75f7d1.txt"}
_NUMERALS = "一二三四五六七八九十"


def _chinese(n: int) -> str:
    tens, units = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _NUMERALS[tens - 1] + "十")
    return head + (_NUMERALS[units - 1] if units else "")


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    assert i >= 0, start
    j = text.find(end, i + len(start))
    return text[i:] if j < 0 else text[i:j]


def _clause_text(texts: dict[str, str], document: str, clause: str) -> str:
    text = texts[document]
    section = re.fullmatch(r"\((\d+)\)", clause)
    if document == "Ganzhou":
        top, sub = re.fullmatch(r"(\d+)(?:\((\d+)\))?", clause).groups()  # type: ignore[union-attr]
        part = _between(text, f"{_chinese(int(top))}、", f"{_chinese(int(top) + 1)}、")
        return part if sub is None else _between(part, f"({_chinese(int(sub))})", f"({_chinese(int(sub) + 1)})")
    if section:
        n = int(section.group(1))
        return _between(text, f"（{_chinese(n)}）", f"（{_chinese(n + 1)}）")
    n = int(clause)
    dot = "．" if document == "Xiaoyi" else "."
    return _between(text, f"{n}{dot}", f"{n + 1}{dot}")


@pytest.mark.skipif(not SEEDS.is_dir(), reason="source documents not available")
@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_quotes_are_verbatim_in_the_cited_clause(jurisdiction: str) -> None:
    texts = {d: re.sub(r"\s+", "", (SEEDS / f).read_text(encoding="utf-8")) for d, f in SEED_FILES.items()}
    policy = load_policy(jurisdiction)
    bases = {b for m in all_measures(policy) for b in m.basis}
    bases |= {b for r in all_rules(policy) for b in (*r.basis, *(r.aftercare.basis if r.aftercare else ()))}
    bases |= {b for s in (policy.objection, policy.repair, policy.green_channel, policy.punishment_period)
              for b in s.basis}
    missing = [str(b) + " " + b.quote for b in sorted(bases, key=str) if b.document != "GuoFa33"
               and re.sub(r"\s+", "", b.quote) not in _clause_text(texts, b.document, b.clause)]
    assert missing == []
    for category in policy.categories.values():
        for source in category.sources:
            document, _, clause = source.partition(" ")
            assert _clause_text(texts, document, clause)
