"""A corpus of bad input, through the API and through the import: each gets a clear error naming the
field, and nothing stored changes (every row of every table is compared before and after).

Malformed codes, wrong check characters, dates out of order, overlapping intervals, ratios above 1
or summing past 100%, unknown matters and jurisdictions, oversized payloads, unicode edge cases
(NUL, right-to-left marks and overrides, lone surrogates, the BOM) and Cypher-injection strings.
Full-width digits are the one unicode case that is not an error: identifiers are validated as
python-stdnum validates them, which reads full-width digits as the same digits, so they name exactly
the same subject as the ASCII form (tested below: never a different subject).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from stdnum.cn import ric

from graph_credit.engine import Engine
from graph_credit.ids import id_number_problem, normalise_id_number
from graph_credit.io import COLUMNS, import_dir, import_frames
from graph_credit.model import MAX_LENGTH, MAX_RESPONSIBLE
from graph_credit.policy import load_policy
from graph_credit.store import SQLiteStore
from tests.helpers import ADMIN, FINANCE, INVESTIGATOR, MARKET, PUBLIC, make_id_number, make_uscc
from tests.scenario import World, build

# The hand-made world of tests/scenario.py: organisations 1-3, persons 1-9 (see PEOPLE there).
ORG_A, ORG_B, ORG_C = make_uscc(1), make_uscc(2), make_uscc(3)
P_LR_OLD, P_DIRECTOR, P_HOLDER, P_OTHER = make_id_number(1), make_id_number(5), make_id_number(7), make_id_number(9)
UNKNOWN_ORG = make_uscc(77)
CYPHER = "x'}) MATCH (n) DETACH DELETE n //"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def wrong_check(code: str) -> str:
    return code[:-1] + ("1" if code[-1] != "1" else "2")



def id_number(region: str, born: str, sequence: str = "123") -> str:
    """A resident ID number with the right check character."""
    body = f"{region}{born}{sequence}"
    return body + ric.calc_check_digit(body + "0")


# Valid: the address code is the county of registered residence when the number was issued (GB 11643
# 4.3.1), so 江阴市 (320281, created 1989) is a valid code for a person born in 1965.
JIANGYIN_1965 = id_number("320281", "19650101")
BORN_IN_FUTURE = id_number("110105", "20900101")
# One bad number per part of an ID number, and the part the message must name.
BAD_ID_NUMBERS = [
    ("region code", id_number("999999", "19650101")),
    ("birth date", id_number("110105", "19651301")),
    ("birth date", BORN_IN_FUTURE),
    ("check character", wrong_check(id_number("110105", "19650101"))),
    ("characters", "1101051965010112A3"),
    ("characters", "11010519650101123Y"),
]


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}  # noqa: S608
    finally:
        con.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory,
        serve: Callable[..., TestClient]) -> Iterator[tuple[TestClient, World, Path]]:
    path = tmp_path_factory.mktemp("bad-input") / "api.sqlite"
    store = SQLiteStore(path)
    world = build(Engine(store))
    yield serve(store), world, path
    store.close()


def record(**changes: Any) -> dict[str, Any]:
    body = {"record_id": "BAD-1", "subject": ORG_C, "category": "tax_evasion", "severity": "serious",
            "act_date": "2020-11-01", "decision_date": "2020-12-01", "period_end": "2022-12-01"}
    return body | changes


def check(**changes: Any) -> dict[str, Any]:
    return {"subject": ORG_A, "matter": "government_procurement", "purpose": "审查"} | changes


def role(**changes: Any) -> dict[str, Any]:
    return {"holder": P_HOLDER, "org": ORG_C, "role": "DIRECTOR", "valid_from": "2019-01-01"} | changes


def entry(**changes: Any) -> dict[str, Any]:
    return {"entry_id": "BAD-L1", "subject": ORG_C, "list": "black", "name": "失信黑名单",
            "valid_from": "2020-06-01"} | changes


def _big_chunks() -> Iterator[bytes]:
    for _ in range(40):
        yield b" " * 50_000  # 2 MB in all, sent chunked: no Content-Length to refuse up front


# (id, method, path, headers, json body / raw bytes / chunk iterator, expected status, expected field)
API_CASES: list[tuple[str, str, str, dict[str, str], Any, int, str | None]] = [
    # malformed codes
    ("uscc-17-chars", "POST", "/v1/checks", MARKET, check(subject=ORG_A[:17]), 422, "subject"),
    ("uscc-letter-I", "POST", "/v1/checks", MARKET, check(subject=ORG_A[:10] + "I" + ORG_A[11:]), 422, "subject"),
    ("record-subject-garbage", "POST", "/v1/records", FINANCE, record(subject="not-a-code-at-all!!"), 422, "subject"),
    ("role-org-garbage", "POST", "/v1/roles", MARKET, role(org="ABCDEFGHIJKLMNOPQR"), 422, "org"),
    ("batch-item-garbage", "POST", "/v1/checks/batch", MARKET,
     {"subjects": [ORG_A, "garbage-garbage-garbage"], "matter": "licensing", "purpose": "x"}, 422, "subjects[1]"),
    ("path-subject-garbage", "GET", "/v1/subjects/ABC", PUBLIC, None, 422, "subject"),
    ("person-key-not-hex", "GET", "/v1/subjects/pzzzzzzzzzzzzzzzzzzzzzzzz", PUBLIC, None, 422, "subject"),
    ("unknown-organisation", "POST", "/v1/records", FINANCE, record(subject=UNKNOWN_ORG), 422, "subject"),
    # wrong check characters
    ("uscc-check-char", "POST", "/v1/checks", MARKET, check(subject=wrong_check(ORG_A)), 422, "subject"),
    ("id-check-char-responsible", "POST", "/v1/records", FINANCE,
     record(responsible=[{"id_number": wrong_check(P_DIRECTOR)}]), 422, "responsible[0].id_number"),
    ("id-check-char-holder", "POST", "/v1/roles", MARKET, role(holder=wrong_check(P_HOLDER)), 422, "holder"),
    ("id-birth-date-feb-30", "POST", "/v1/checks", MARKET, check(subject="11010519900230001X"), 422, "subject"),
    # dates out of order, impossible dates, numbers for dates
    ("act-after-decision", "POST", "/v1/records", FINANCE, record(act_date="2021-01-01"), 422, "act_date"),
    ("period-end-before-decision", "POST", "/v1/records", FINANCE, record(period_end="2020-01-01"), 422,
     "period_end"),
    ("role-ends-before-start", "POST", "/v1/roles", MARKET, role(valid_to="2018-01-01"), 422, "valid_to"),
    ("list-ends-before-start", "POST", "/v1/list-entries", FINANCE, entry(valid_to="2020-01-01"), 422, "valid_to"),
    ("publicity-out-of-order", "POST", "/v1/list-entries", FINANCE,
     entry(publicity_from="2020-05-20", publicity_to="2020-05-01"), 422, "publicity_to"),
    ("feb-30", "POST", "/v1/records", FINANCE, record(decision_date="2021-02-30"), 422, "decision_date"),
    ("date-as-number", "POST", "/v1/records", FINANCE, record(decision_date=0), 422, "decision_date"),
    ("query-date-as-number", "GET", "/v1/policy?as_of=1600000000", PUBLIC, None, 422, "as_of"),
    ("event-on-unknown-record", "POST", "/v1/records/NOPE/events", FINANCE,
     {"kind": "objection_filed", "on": "2021-01-01"}, 404, "cause_id"),
    # ratios above 1, summing past 100%, overlapping shareholdings
    ("ratio-above-1", "POST", "/v1/roles", MARKET, role(role="SHAREHOLDER", ratio=1.5), 422, "ratio"),
    ("ratio-zero", "POST", "/v1/roles", MARKET, role(role="SHAREHOLDER", ratio=0), 422, "ratio"),
    ("ratio-missing", "POST", "/v1/roles", MARKET, role(role="SHAREHOLDER"), 422, "ratio"),
    ("ratio-boolean", "POST", "/v1/roles", MARKET, role(role="SHAREHOLDER", ratio=True), 422, "ratio"),
    ("ratios-sum-past-100", "POST", "/v1/roles", MARKET,  # org A: 0.6 + 0.4 already
     role(org=ORG_A, holder=P_LR_OLD, role="SHAREHOLDER", ratio=0.1, valid_from="2016-01-01"), 422, "ratio"),
    ("overlapping-shareholding", "POST", "/v1/roles", MARKET,  # org C: 1.0 held since 2012
     role(role="SHAREHOLDER", ratio=0.5, valid_from="2020-01-01", valid_to="2021-01-01"), 422, "ratio"),
    # unknown matters, jurisdictions, enums
    ("unknown-matter", "POST", "/v1/checks", MARKET, check(matter="bogus_matter"), 422, "matter"),
    ("unknown-matter-batch", "POST", "/v1/checks/batch", MARKET,
     {"subjects": [ORG_A], "matter": "bogus_matter", "purpose": "x"}, 422, "matter"),
    ("unknown-jurisdiction", "POST", "/v1/records", FINANCE, record(jurisdiction="atlantis"), 422, "jurisdiction"),
    ("unknown-jurisdiction-query", "GET", "/v1/policy?jurisdiction=atlantis", PUBLIC, None, 422, "jurisdiction"),
    ("unknown-severity", "POST", "/v1/records", FINANCE, record(severity="catastrophic"), 422, "severity"),
    ("unknown-role", "POST", "/v1/roles", MARKET, role(role="EMPEROR"), 422, "role"),
    ("extra-field", "POST", "/v1/records", FINANCE, record(department="market_regulation"), 422, "department"),
    ("depth-boolean", "POST", "/v1/checks", MARKET, check(depth=True), 422, "depth"),
    # oversized payloads
    ("body-over-1MB", "POST", "/v1/records", FINANCE, b"{" + b" " * 1_100_000 + b"}", 413, None),
    ("chunked-body-over-1MB", "POST", "/v1/records", FINANCE, _big_chunks, 413, None),
    ("batch-1001-subjects", "POST", "/v1/checks/batch", MARKET,
     {"subjects": [ORG_A] * 1001, "matter": "licensing", "purpose": "x"}, 422, "subjects"),
    ("basis-501-chars", "POST", "/v1/records", FINANCE, record(basis="依" * 501), 422, "basis"),
    ("record-id-65-chars", "POST", "/v1/records", FINANCE, record(record_id="R" * 65), 422, "record_id"),
    ("101-responsible", "POST", "/v1/records", FINANCE,
     record(responsible=[{"id_number": P_DIRECTOR}] * 101), 422, "responsible"),
    ("purpose-header-201-chars", "GET", f"/v1/subjects/{ORG_A}",
     {"X-API-Key": "demo-investigator", "X-Purpose": "p" * 201}, None, 422, "X-Purpose"),
    # unicode edge cases
    ("nul-in-subject", "POST", "/v1/checks", MARKET, check(subject=ORG_A + "\x00"), 422, "subject"),
    ("nul-in-basis", "POST", "/v1/records", FINANCE, record(basis="依据\x00第十条"), 422, "basis"),
    ("rtl-mark-in-subject", "POST", "/v1/checks", MARKET, check(subject="\u200f" + ORG_A), 422, "subject"),
    ("rtl-override-in-document-no", "POST", "/v1/records", FINANCE,
     record(document_no="澄税罚\u202e2020\u202c号"), 422, "document_no"),
    ("lone-surrogate-in-category", "POST", "/v1/records", FINANCE,
     json.dumps(record(category="tax\ud800evasion")).encode(), 422, "category"),
    ("bom-in-purpose", "POST", "/v1/checks", MARKET, check(purpose="\ufeff审查"), 422, "purpose"),
    ("c1-control-in-name", "POST", "/v1/list-entries", FINANCE, entry(name="黑名单\x85"), 422, "name"),
    ("not-utf8-body", "POST", "/v1/records", FINANCE, b'{"record_id": "\xff\xfe"}', 400, None),
    ("truncated-json", "POST", "/v1/records", FINANCE, b'{"record_id": "R', 422, "body"),
    ("json-array-body", "POST", "/v1/checks", MARKET, b"[1, 2]", 422, "body"),
    # Cypher (and SQL) injection strings where identifiers are expected
    ("cypher-subject", "POST", "/v1/checks", MARKET, check(subject="MATCH (n) DETACH DELETE n //"), 422, "subject"),
    ("cypher-record-id", "POST", "/v1/records", FINANCE, record(record_id="R1' OR 1=1 //"), 422, "record_id"),
    ("cypher-matter", "POST", "/v1/checks", MARKET, check(matter=CYPHER), 422, "matter"),
    ("cypher-entry-id", "POST", "/v1/list-entries", FINANCE, entry(entry_id=CYPHER), 422, "entry_id"),
    ("cypher-path-subject", "GET", "/v1/subjects/x'%7D)%20MATCH%20(n)%20DETACH%20DELETE%20n", PUBLIC, None,
     422, "subject"),
    ("cypher-edge-id", "DELETE", "/v1/roles/x'%7D)%20MATCH%20(n)%20DETACH%20DELETE%20n", MARKET, None, 404,
     "edge_id"),
    ("cypher-cause-id", "POST", "/v1/cases", FINANCE, {"cause_id": CYPHER}, 404, "cause_id"),
    ("sql-audit-key", "GET", "/v1/audit?key_id=x%27%20OR%20%271%27=%271", ADMIN, None, 200, None),
    # categories the record's policy does not define: their rules would silently never fire
    ("category-word-of-the-old-doc", "POST", "/v1/records", FINANCE, record(category="judgment_default"), 422,
     "category"),
    ("category-any-string", "POST", "/v1/records", FINANCE, record(category="anything_at_all"), 422, "category"),
    ("category-of-another-jurisdiction", "POST", "/v1/records", FINANCE,  # a Jiangyin category, default record
     record(category="false_invoicing"), 422, "category"),
    # resident ID numbers
    ("id-born-in-the-future", "POST", "/v1/checks", MARKET, check(subject=BORN_IN_FUTURE), 422, "subject"),
    # dates nobody can mean (9999 ended in a 500 OverflowError on these three)
    ("record-decided-9999", "POST", "/v1/records", FINANCE,
     record(act_date=None, decision_date="9999-12-31", period_end=None), 422, "decision_date"),
    ("event-on-9999", "POST", "/v1/records/R1/events", FINANCE, {"kind": "objection_filed", "on": "9999-12-31"},
     422, "on"),
    ("case-opened-9999", "POST", "/v1/cases", MARKET, {"cause_id": "R1", "opened_on": "9999-12-31"}, 422,
     "opened_on"),
    ("check-as-of-year-1", "POST", "/v1/checks", MARKET, check(as_of="0001-01-01"), 422, "as_of"),
    ("role-from-9999", "POST", "/v1/roles", MARKET, role(valid_from="9999-01-01"), 422, "valid_from"),
    ("entry-until-9999", "POST", "/v1/list-entries", FINANCE, entry(valid_to="9999-12-31"), 422, "valid_to"),
    ("risk-items-as-of-number", "GET", f"/v1/subjects/{ORG_A}/risk-items?as_of=0", MARKET, None, 422, "as_of"),
    ("evasion-as-of-number", "GET", f"/v1/subjects/{ORG_A}/evasion?as_of=0", INVESTIGATOR, None, 422, "as_of"),
    ("region-evasion-as-of-number", "GET", "/v1/evasion?region=110105&as_of=0", INVESTIGATOR, None, 422, "as_of"),
    ("role-before-holder-birth", "POST", "/v1/roles", MARKET,  # P_HOLDER was born on 1970-01-01
     role(valid_from="1969-12-31"), 422, "valid_from"),
    # one length limit for names, as in the import
    ("list-name-over-limit", "POST", "/v1/list-entries", FINANCE, entry(name="名" * (MAX_LENGTH["name"] + 1)), 422,
     "name"),
]


@pytest.mark.parametrize("name, method, path, headers, body, status, field", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_refuses_bad_input_naming_the_field(api, name, method, path, headers, body, status, field) -> None:  # type: ignore[no-untyped-def]
    client, _, db = api
    before = dump(db)
    kwargs: dict[str, Any] = {}
    if isinstance(body, bytes):
        kwargs["content"] = body
        kwargs["headers"] = {**headers, "content-type": "application/json"}
    elif callable(body):
        kwargs["content"] = body()
        kwargs["headers"] = {**headers, "content-type": "application/json"}
    else:
        kwargs["headers"] = headers
        if body is not None:
            kwargs["json"] = body
    r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text[:500]
    if status == 200:  # an injection string as a filter value: parameterised, it matches nothing
        assert r.json() == {"entries": [], "next_cursor": None}
    else:
        err = r.json()["error"]
        assert set(err) >= {"code", "message", "field"} and err["message"], err
        assert err["field"] == field, err
    assert dump(db) == before, "a refused request changed the store"


def test_unknown_category_is_refused_naming_the_allowed_values(api) -> None:  # type: ignore[no-untyped-def]
    client, _, db = api
    before = dump(db)
    r = client.post("/v1/records", json=record(category="judgment_default"), headers=FINANCE)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == "category" and "'judgment_default'" in err["message"]
    allowed = sorted(load_policy("default").categories)
    assert "judgment_defaulter" in allowed and err["message"].endswith("allowed: " + ", ".join(allowed))
    assert dump(db) == before


@pytest.mark.parametrize("part, number", BAD_ID_NUMBERS, ids=[f"{p}-{n}" for p, n in BAD_ID_NUMBERS])
def test_id_number_messages_name_the_part_and_are_the_same_in_api_and_import(api, tmp_path, part, number) -> None:  # type: ignore[no-untyped-def]
    client, _, db = api
    reason = id_number_problem(ric.compact(number))
    assert reason is not None and reason.startswith(f"{part}: ")
    before = dump(db)
    r = client.post("/v1/checks", json=check(subject=number), headers=MARKET)
    assert r.status_code == 422 and r.json()["error"]["field"] == "subject", r.text
    assert r.json()["error"]["message"] == f"subject: {reason}"
    assert dump(db) == before
    store = SQLiteStore(tmp_path / "ids.sqlite")
    try:
        report = import_frames(store, {"persons": frame("persons", id_number=number, name="李四")})
        assert [(e.field, e.reason) for e in report.errors] == [("id_number", f"invalid resident ID number: {reason}")]
        assert store.counts()["persons"] == 0
    finally:
        store.close()


def test_id_number_length_and_characters_name_the_part() -> None:
    for number, message in (
        ("11010519650101123", "length: must be 18 characters, not 17"),
        ("A10105196501011234", "characters: character 1 (region code) must be a digit"),
        ("1101051965O101123X", "characters: character 11 (birth date) must be a digit"),
        ("11010519650101123Y", "characters: character 18 (check character) must be a digit or X"),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape('id_number: ' + message)}$"):
            normalise_id_number(number)


def test_region_code_newer_than_the_birth_year_is_accepted_by_api_and_import(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """320281 江阴市 was created in 1989; a number issued there to a person born in 1965 is valid."""
    client, _, _ = api
    r = client.post("/v1/checks", json=check(subject=JIANGYIN_1965), headers=MARKET)
    assert r.status_code == 200, r.text
    assert r.json()["subject_kind"] == "person"
    store = SQLiteStore(tmp_path / "jiangyin.sqlite")
    try:
        person = frame("persons", id_number=JIANGYIN_1965, name="周六", region="320281")
        report = import_frames(store, {"persons": person})
        assert report.ok and report.counts["persons"].inserted == 1, report.summary()
    finally:
        store.close()


def test_import_and_api_share_one_length_limit_for_names(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """At the limit both accept a name; one character more, both refuse it."""
    client, _, db = api
    limit = MAX_LENGTH["name"]
    r = client.post("/v1/list-entries", json=entry(entry_id="NAME-LIMIT", name="名" * limit), headers=FINANCE)
    assert r.status_code == 201, r.text
    store = SQLiteStore(tmp_path / "names.sqlite")
    try:
        ok = import_frames(store, {"organisations": frame("organisations", **ORG | {"code": make_uscc(60),
                                                                                   "name": "名" * limit})})
        assert ok.ok, ok.summary()
        before = dump(tmp_path / "names.sqlite")
        bad = import_frames(store, {"organisations": frame("organisations", **ORG | {"code": make_uscc(61),
                                                                                    "name": "名" * (limit + 1)})})
        assert [(e.field, e.reason) for e in bad.errors] == [("name", f"longer than {limit} characters")]
        assert dump(tmp_path / "names.sqlite") == before
    finally:
        store.close()


def test_cypher_text_in_free_text_is_stored_verbatim_and_does_nothing_else(api) -> None:  # type: ignore[no-untyped-def]
    """Free text may contain anything printable: it is a parameter, never part of a statement."""
    client, _, db = api
    before = dump(db)
    text = "'); MATCH (n) DETACH DELETE n; DROP TABLE records; --"
    r = client.post("/v1/records", json=record(record_id="INJ-1", basis=text, document_no=CYPHER), headers=FINANCE)
    assert r.status_code == 201, r.text
    after = dump(db)
    stored = [row for row in after["records"] if row[0] == "INJ-1"]
    assert stored and stored[0][8] == text and stored[0][6] == CYPHER
    for table in ("organisations", "persons", "roles", "honours", "list_entries", "events"):
        assert after[table] == before[table], table
    assert len(after["records"]) == len(before["records"]) + 1


def test_full_width_digits_name_the_same_subject(api) -> None:  # type: ignore[no-untyped-def]
    client, w, db = api
    ascii_check = client.post("/v1/checks", json=check(), headers=MARKET).json()
    wide = client.post("/v1/checks", json=check(subject=ORG_A.translate(FULL_WIDTH)), headers=MARKET)
    assert wide.status_code == 200 and wide.json() == ascii_check
    person = client.get(f"/v1/subjects/{P_LR_OLD.translate(FULL_WIDTH)}", headers=MARKET)
    assert person.status_code == 200 and person.json()["subject"]["key"] == w["p_lr_old"]
    before = dump(db)
    r = client.post("/v1/records", headers=FINANCE, json=record(
        record_id="WIDE-1", subject=ORG_C.translate(FULL_WIDTH),
        responsible=[{"id_number": P_OTHER.translate(FULL_WIDTH)}]))
    assert r.status_code == 201, r.text
    after = dump(db)
    assert after["organisations"] == before["organisations"] and after["persons"] == before["persons"]
    row = next(x for x in after["records"] if x[0] == "WIDE-1")
    assert row[1] == ORG_C and json.loads(row[10]) == [[w["p_other"], None]]


# -- the import -------------------------------------------------------------------------------------------
@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[SQLiteStore, Path, World]]:
    path = tmp_path / "import.sqlite"
    store = SQLiteStore(path)
    world = build(Engine(store))
    yield store, path, world
    store.close()


def frame(kind: str, **values: str) -> pd.DataFrame:
    return pd.DataFrame([{c: values.get(c, "") for c in COLUMNS[kind]}])


ORG = {"name": "新公司", "org_type": "enterprise", "region": "320281", "industry": "C", "registered_on": "2015-01-01"}
ROLE = {"holder_id": P_HOLDER, "org_code": ORG_C, "role": "DIRECTOR", "valid_from": "2019-01-01"}
REC = {"record_id": "IMP-1", "subject_id": ORG_C, "category": "tax_evasion", "severity": "serious",
       "act_date": "2020-11-01", "decision_date": "2020-12-01", "period_end": "2022-12-01", "department": "finance"}
ENTRY = {"entry_id": "IMP-L1", "subject_id": ORG_C, "list": "black", "name": "黑名单", "valid_from": "2020-06-01"}

# (id, kind, row, expected field)
IMPORT_CASES: list[tuple[str, str, dict[str, str], str]] = [
    ("uscc-17-chars", "organisations", ORG | {"code": make_uscc(40)[:17]}, "code"),
    ("uscc-check-char", "organisations", ORG | {"code": wrong_check(make_uscc(40))}, "code"),
    ("uscc-cypher", "organisations", ORG | {"code": CYPHER}, "code"),
    ("uscc-rtl-mark", "organisations", ORG | {"code": "\u200f" + make_uscc(40)[1:]}, "code"),
    ("org-name-nul", "organisations", ORG | {"code": make_uscc(40), "name": "新\x00公司"}, "name"),
    ("org-name-rtl-override", "organisations", ORG | {"code": make_uscc(40), "name": "\u202e司公新"}, "name"),
    ("org-unknown-type", "organisations", ORG | {"code": make_uscc(40), "org_type": "cartel"}, "org_type"),
    ("org-registered-feb-30", "organisations", ORG | {"code": make_uscc(40), "registered_on": "2015-02-30"},
     "registered_on"),
    ("id-check-char", "persons", {"id_number": wrong_check(make_id_number(40)), "name": "李四"}, "id_number"),
    ("id-birth-feb-30", "persons", {"id_number": "11010519900230001X", "name": "李四"}, "id_number"),
    ("person-name-c1-control", "persons", {"id_number": make_id_number(40), "name": "李\x85四"}, "name"),
    ("role-ends-before-start", "roles", ROLE | {"valid_to": "2018-01-01"}, "valid_to"),
    ("role-ratio-above-1", "roles", ROLE | {"role": "SHAREHOLDER", "ratio": "1.5"}, "ratio"),
    ("role-ratio-not-a-number", "roles", ROLE | {"role": "SHAREHOLDER", "ratio": "six tenths"}, "ratio"),
    ("role-ratios-sum-past-100", "roles",  # org A: 0.6 + 0.4 stored
     ROLE | {"org_code": ORG_A, "holder_id": P_LR_OLD, "role": "SHAREHOLDER", "ratio": "0.1",
             "valid_from": "2016-01-01"}, "ratio"),
    ("role-overlaps-stored-interval", "roles",  # p_director is a director of A from 2016 on
     ROLE | {"org_code": ORG_A, "holder_id": P_DIRECTOR, "valid_from": "2018-01-01"}, "valid_from"),
    ("role-unknown-role", "roles", ROLE | {"role": "EMPEROR"}, "role"),
    ("role-unknown-holder", "roles", ROLE | {"holder_id": make_id_number(41)}, "holder_id"),
    ("record-act-after-decision", "records", REC | {"act_date": "2021-01-01"}, "act_date"),
    ("record-period-end-before-decision", "records", REC | {"period_end": "2020-01-01"}, "period_end"),
    ("record-unknown-subject", "records", REC | {"subject_id": UNKNOWN_ORG}, "subject_id"),
    ("record-cypher-subject", "records", REC | {"subject_id": CYPHER}, "subject_id"),
    ("record-unknown-severity", "records", REC | {"severity": "catastrophic"}, "severity"),
    ("record-date-not-a-date", "records", REC | {"decision_date": "01/12/2020"}, "decision_date"),
    ("record-responsible-check-char", "records", REC | {"responsible": wrong_check(P_DIRECTOR) + ":DIRECTOR"},
     "responsible"),
    ("record-basis-nul", "records", REC | {"basis": "依据\x00"}, "basis"),
    ("entry-ends-before-start", "list_entries", ENTRY | {"valid_to": "2020-01-01"}, "valid_to"),
    ("entry-unknown-list", "list_entries", ENTRY | {"list": "grey"}, "list"),
    # categories and jurisdictions the policies do not define
    ("record-category-word-of-the-old-doc", "records", REC | {"category": "judgment_default"}, "category"),
    ("record-category-any-string", "records", REC | {"category": "anything_at_all"}, "category"),
    ("record-category-of-another-jurisdiction", "records", REC | {"category": "false_invoicing",
                                                                  "jurisdiction": "xiaoyi"}, "category"),
    ("record-unknown-jurisdiction", "records", REC | {"jurisdiction": "atlantis"}, "jurisdiction"),
    # resident ID numbers
    ("id-born-in-the-future", "persons", {"id_number": BORN_IN_FUTURE, "name": "李四"}, "id_number"),
    ("responsible-too-many", "records",
     REC | {"responsible": ";".join([P_DIRECTOR] * (MAX_RESPONSIBLE + 1))}, "responsible"),
    # dates nobody can mean
    ("role-before-holder-birth", "roles", ROLE | {"valid_from": "1969-12-31"}, "valid_from"),  # born 1970-01-01
    ("role-from-9999", "roles", ROLE | {"valid_from": "9999-01-01"}, "valid_from"),
    ("record-decided-9999", "records", REC | {"act_date": "", "decision_date": "9999-12-31", "period_end": ""},
     "decision_date"),
    ("record-period-end-9999", "records", REC | {"period_end": "9999-12-31"}, "period_end"),
    ("record-decided-year-1", "records", REC | {"act_date": "", "decision_date": "0001-01-01", "period_end": ""},
     "decision_date"),
    ("entry-until-9999", "list_entries", ENTRY | {"valid_to": "9999-12-31"}, "valid_to"),
    ("org-registered-9999", "organisations", ORG | {"code": make_uscc(40), "registered_on": "9999-01-01"},
     "registered_on"),
    # one limit for each text field, as in the API
    ("org-name-10000-chars", "organisations", ORG | {"code": make_uscc(40), "name": "名" * 10_000}, "name"),
    ("person-name-over-limit", "persons", {"id_number": make_id_number(40), "name": "名" * (MAX_LENGTH["name"] + 1)},
     "name"),
    ("record-basis-over-limit", "records", REC | {"basis": "依" * (MAX_LENGTH["basis"] + 1)}, "basis"),
    ("record-id-not-an-id", "records", REC | {"record_id": "R1' OR 1=1 //"}, "record_id"),
    ("entry-name-over-limit", "list_entries", ENTRY | {"name": "名" * (MAX_LENGTH["name"] + 1)}, "name"),
]


@pytest.mark.parametrize("name, kind, row, field", IMPORT_CASES, ids=[c[0] for c in IMPORT_CASES])
def test_import_refuses_bad_rows_naming_the_field(seeded, name, kind, row, field) -> None:  # type: ignore[no-untyped-def]
    store, path, _ = seeded
    before, counts = dump(path), store.counts()
    report = import_frames(store, {kind: frame(kind, **row)})
    assert report.errors, f"{name}: accepted"
    assert {e.field for e in report.errors} == {field}, report.errors
    assert all(e.line == 2 and e.reason for e in report.errors)
    assert store.counts() == counts and dump(path) == before


def test_unknown_jurisdiction_is_a_bad_row_not_an_aborted_import(seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Through Engine.import_dir (the CLI's import): the rest of the file loads and derives."""
    store, path, _ = seeded
    src = tmp_path / "src"
    src.mkdir()
    rows = [REC | {"record_id": "J-OK"}, REC | {"record_id": "J-BAD", "jurisdiction": "atlantis"}]
    pd.DataFrame([{c: r.get(c, "") for c in COLUMNS["records"]} for r in rows]).to_csv(src / "records.csv",
                                                                                        index=False)
    report, refreshed = Engine(store).import_dir(src, progress=False)
    assert [(e.line, e.field) for e in report.errors] == [(3, "jurisdiction")]
    assert report.errors[0].reason.startswith("unknown jurisdiction; available: default, ")
    assert set(store.get_records(["J-OK", "J-BAD"])) == {"J-OK"} and refreshed.added


def test_import_file_that_is_not_utf8_is_refused_whole(seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A lone surrogate cannot be in a UTF-8 file: its bytes make the file unreadable, and nothing loads."""
    store, path, _ = seeded
    before = dump(path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "organisations.csv").write_bytes(
        b"code,name\n" + make_uscc(50).encode() + b",good name\n" + make_uscc(51).encode() + b",bad \xed\xa0\x80\n")
    report = import_dir(store, src, progress=False)
    assert [e.reason.startswith("cannot read the file") for e in report.errors] == [True]
    assert dump(path) == before


def test_import_full_width_digits_name_the_same_person(seeded) -> None:  # type: ignore[no-untyped-def]
    store, path, w = seeded
    before = dump(path)
    report = import_frames(store, {"persons": frame("persons", id_number=P_LR_OLD.translate(FULL_WIDTH),
                                                     name="张lr_old", region="320281")})
    assert report.ok and report.counts["persons"].inserted == 0, report.summary()
    assert dump(path)["persons"] == before["persons"]
    assert w["p_lr_old"] in store.get_persons([w["p_lr_old"]])
