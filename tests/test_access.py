"""Access control, along the OWASP API Security Top 10 items that apply here.

* API1 (object level): a department cannot alter another department's records, list entries, cases
  or case items, nor win a record id another department holds; nothing stored changes when refused.
* API2 (authentication): every operation but the health check refuses a missing or unknown key;
  failed attempts are rate limited per client address.
* API3 (property level): the public role never sees a clear resident ID number nor a person key, even
  where a department typed an ID number into free text; a department cannot set the department of a
  record (mass assignment).
* API4 (resource consumption): payload size limits (with and without Content-Length) and the public
  request rate limit.
* API5 (function level): the audit log is for admins only; investigation for investigators; writes
  for departments.
* Every read of personal data by a non-public role names a purpose and writes exactly one audit entry.

GET operations are crawled from the OpenAPI description with real subjects filled in, so endpoints
added later are covered without editing this file.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stdnum.cn import ric

from api.app import Settings, create_app
from graph_credit.engine import Engine
from graph_credit.ids import persons_in
from graph_credit.store import SQLiteStore
from tests.scenario import D, World, build
from tests.test_bad_input import dump

KEYS = {"public": "demo-public", "market": "demo-market", "finance": "demo-finance",
        "investigator": "demo-investigator", "admin": "demo-admin"}
PURPOSE = "access control test"
ID_LIKE = re.compile(r"(?<![0-9A-Za-z０-９])[0-9０-９]{17}[0-9０-９XxＸｘ](?![0-9A-Za-z０-９])")
PERSON_KEY = re.compile(r"\bp[0-9a-f]{24}\b")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def h(role: str, purpose: bool = True) -> dict[str, str]:
    return {"X-API-Key": KEYS[role], **({"X-Purpose": PURPOSE} if purpose and role != "public" else {})}


def clear_ids_in(text: str) -> list[str]:
    """Valid resident ID numbers (ASCII or full-width digits) anywhere in a text."""
    ascii_digits = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789XX")
    return [m for m in ID_LIKE.findall(text) if ric.is_valid(m.translate(ascii_digits).upper())]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, World, Path]]:
    """The scenario world, plus: a finance record on C whose free text holds clear ID numbers, an
    objection event whose detail holds one, a case market opened on its R1 (items for several
    departments), a finance black list entry."""
    path = tmp_path_factory.mktemp("access") / "access.sqlite"
    store = SQLiteStore(path)
    w = build(Engine(store))
    app = create_app(Settings(demo=True, today=D("2021-01-01"), public_rate_per_minute=100_000), store=store)
    with TestClient(app) as client:
        leak = w.id_numbers["p_other"]
        r = client.post("/v1/records", headers=h("finance"), json={
            "record_id": "F1", "subject": w["org_c"], "category": "tax_evasion", "severity": "serious",
            "act_date": "2020-11-01", "decision_date": "2020-12-01", "period_end": "2022-12-01",
            "basis": f"责任人身份证号{leak}，见附件", "document_no": f"财罚〔2020〕{leak.translate(FULL_WIDTH)}号",
            "responsible": [{"id_number": leak, "role": "SHAREHOLDER"}]})
        assert r.status_code == 201, r.text
        r = client.post("/v1/records/F1/events", headers=h("finance"), json={
            "kind": "objection_filed", "on": "2020-12-05", "detail": f"当事人{w.id_numbers['p_principal']}提出异议"})
        assert r.status_code == 201, r.text
        assert client.post("/v1/cases", headers=h("market"), json={"cause_id": "R1"}).status_code == 201
        assert client.post("/v1/list-entries", headers=h("finance"), json={
            "entry_id": "FB1", "subject": w["org_c"], "list": "black", "name": "失信黑名单",
            "valid_from": "2020-12-01", "status": "effective"}).status_code == 201
        yield client, w, path
    store.close()


def crawl(client: TestClient, w: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(operation, url, json body) for every GET in the OpenAPI description (path parameters filled
    with real subjects, facts and ids), plus the two check operations."""
    doc = client.get("/openapi.json").json()
    con = sqlite3.connect(w.store.path)  # type: ignore[attr-defined]
    facts = [r[0] for r in con.execute("SELECT fact_id FROM facts ORDER BY fact_id LIMIT 3")]
    journal = {t: [r[0] for r in con.execute("SELECT id FROM journal WHERE tbl = ? LIMIT 2", (t,))]
               for t in ("alerts", "subscriptions", "notices")}
    con.close()
    values = {
        "subject": [w["org_a"], w["org_c"], w["p_lr_old"], w.id_numbers["p_director"], w["p_other"]],
        "fact_id": facts, "alert_id": journal["alerts"] or ["none"],
        "subscription_id": journal["subscriptions"] or ["none"], "notice_id": journal["notices"] or ["none"],
    }
    query = {"a": w["org_a"], "b": w["org_c"], "region": "320281"}
    out: list[tuple[str, str, dict[str, Any] | None]] = []
    for path, ops in doc["paths"].items():
        if "get" not in ops:
            continue
        params = ops["get"].get("parameters", [])
        required = [p["name"] for p in params if p["in"] == "query" and p.get("required")]
        qs = "&".join(f"{name}={query.get(name, 'x')}" for name in required)
        urls = [path]
        for name in re.findall(r"{(\w+)}", path):
            urls = [u.replace("{" + name + "}", v) for u in urls for v in values.get(name, ["x"])]
        out += [(f"GET {path}", u + (f"?{qs}" if qs else ""), None) for u in urls]
    for subject in values["subject"]:
        out.append(("POST /v1/checks", "/v1/checks",
                    {"subject": subject, "matter": "government_procurement", "purpose": PURPOSE}))
    out.append(("POST /v1/checks/batch", "/v1/checks/batch",
                {"subjects": values["subject"], "matter": "legal_representative_registration", "purpose": PURPOSE}))
    return out


def call(client: TestClient, url: str, body: dict[str, Any] | None, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(url, json=body, headers=headers) if body is not None else client.get(url, headers=headers)


# -- API3: the public role ------------------------------------------------------------------------------------
def test_public_role_never_sees_a_clear_id_number_or_person_key(env) -> None:  # type: ignore[no-untyped-def]
    client, w, _ = env
    secrets = {*w.id_numbers.values(), *(n.translate(FULL_WIDTH) for n in w.id_numbers.values())}
    names = {f"张{n[2:]}" for n in w.ids if n.startswith("p_")}
    scanned, ok = 0, Counter[str]()
    for op, url, body in crawl(client, w):
        r = call(client, url, body, h("public"))
        assert r.status_code < 500, (op, url, r.text[:300])
        text = r.text
        scanned += 1
        ok[op] += r.status_code == 200
        assert not clear_ids_in(text), (op, url, clear_ids_in(text))
        assert not any(s in text for s in secrets), (op, url)
        assert not PERSON_KEY.search(text), (op, url, PERSON_KEY.search(text))
        assert not any(n in text for n in names), (op, url, "an unmasked person name")
    # The scan saw personal data: profiles (also of persons, also asked for by clear ID number), checks,
    # explanations of facts on persons, and the record whose free text holds ID numbers.
    assert ok["GET /v1/subjects/{subject}"] == 5 and ok["POST /v1/checks"] == 5
    assert ok["GET /v1/facts/{fact_id}/explain"] >= 1 and scanned >= 40
    profile = client.get(f"/v1/subjects/{w['org_c']}", headers=h("public")).json()
    f1 = next(r for r in profile["records"] if r["record_id"] == "F1")
    assert "*" * 11 in f1["basis"] and "＊" not in f1["basis"] and "*" * 11 in f1["document_no"]


# -- audit of personal data reads -------------------------------------------------------------------------------
def _audit(path: Path) -> list[tuple[str, ...]]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT doc FROM journal WHERE tbl = 'audit' ORDER BY seq")]
    finally:
        con.close()


@pytest.mark.parametrize("role", ["market", "investigator", "admin"])
def test_every_personal_data_read_is_audited_once(env, role: str) -> None:  # type: ignore[no-untyped-def]
    client, w, path = env
    audited = 0
    for op, url, body in crawl(client, w):
        before = len(_audit(path))
        r = call(client, url, body, h(role))
        assert r.status_code < 500, (op, url, r.text[:300])
        new = [json.loads(d) for d in _audit(path)[before:]]
        if r.status_code != 200:
            assert not new, (op, url, "a refused read was audited")
            continue
        if r.headers["content-type"].startswith("application/json"):
            persons = persons_in(r.json())
        else:  # pictures and pages: personal data is whatever the same read as JSON would name
            persons = set(PERSON_KEY.findall(r.text)) or ({"?"} if new else set())
        if not persons:
            assert not new, (op, url, "audited a read without personal data")
            continue
        assert len(new) == 1, (op, url, f"{len(new)} audit entries for one read")
        entry = new[0]
        assert entry["purpose"] == PURPOSE and entry["role"] == (role if role != "market" else "department")
        if "?" not in persons:
            assert set(entry["persons"]) == persons, (op, url)
        audited += 1
    assert audited >= 10


@pytest.mark.parametrize("op, url", [
    ("profile", "/v1/subjects/{p_lr_old}"), ("timeline", "/v1/subjects/{org_a}/timeline"),
    ("case items", "/v1/cases/items"), ("audit log", "/v1/audit"),
])
def test_personal_data_needs_a_purpose(env, op: str, url: str) -> None:  # type: ignore[no-untyped-def]
    client, w, path = env
    before = len(_audit(path))
    role = "admin" if op == "audit log" else "market"
    r = client.get(url.format(p_lr_old=w["p_lr_old"], org_a=w["org_a"]), headers=h(role, purpose=False))
    assert r.status_code == 400 and r.json()["error"]["code"] == "purpose_required"
    assert r.json()["error"]["field"] == "X-Purpose" and len(_audit(path)) == before


# -- API5: function level, API2: authentication ------------------------------------------------------------------
def test_audit_log_is_for_admins_only(env) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = env
    for role in ("public", "market", "finance", "investigator"):
        r = client.get("/v1/audit", headers=h(role))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", role
    assert client.get("/v1/audit").status_code == 401
    assert client.get("/v1/audit", headers=h("admin")).status_code == 200


@pytest.mark.parametrize("role, method, url, allowed", [
    ("public", "GET", "/v1/subjects/{org_a}/neighbourhood", False),
    ("public", "GET", "/v1/subjects/{org_a}/timeline", False),
    ("public", "GET", "/v1/connections?a={org_a}&b={org_c}", False),
    ("public", "GET", "/v1/cases/items", False),
    ("public", "GET", "/v1/cases/statistics", False),
    ("public", "GET", "/v1/objections", False),
    ("public", "POST", "/v1/records", False),
    ("public", "POST", "/v1/roles", False),
    ("public", "POST", "/v1/list-entries", False),
    ("public", "POST", "/v1/cases", False),
    ("market", "GET", "/v1/subjects/{org_a}/neighbourhood", False),
    ("market", "GET", "/v1/connections?a={org_a}&b={org_c}", False),
    ("investigator", "POST", "/v1/records", False),
    ("investigator", "POST", "/v1/cases", False),
    ("investigator", "GET", "/v1/subjects/{org_a}/neighbourhood", True),
    ("public", "GET", "/v1/subjects/{org_a}", True),
    ("public", "GET", "/v1/policy", True),
])
def test_function_level_authorisation(env, role: str, method: str, url: str, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    client, w, path = env
    before = dump(path)
    r = client.request(method, url.format(org_a=w["org_a"], org_c=w["org_c"]), headers=h(role),
                       json={} if method == "POST" else None)
    if allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        assert dump(path) == before


def test_every_operation_refuses_a_missing_or_unknown_key(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "auth.sqlite")
    app = create_app(Settings(demo=True, auth_failures_per_minute=100_000), store=store)
    seen = 0
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
        for path, ops in doc["paths"].items():
            if path == "/v1/health":
                continue
            url = re.sub(r"{\w+}", "x", path)
            for method in ops:
                for headers in ({}, {"X-API-Key": "not-a-key"}, {"Authorization": "Bearer not-a-key"}):
                    r = client.request(method.upper(), url, headers=headers, json={} if method != "get" else None)
                    assert r.status_code == 401, (method, path, headers, r.status_code, r.text[:200])
                    assert r.json()["error"]["code"] == "unauthenticated"
                    seen += 1
    store.close()
    assert seen >= 3 * 25


def test_failed_authentication_is_rate_limited(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "auth.sqlite")
    app = create_app(Settings(demo=True, auth_failures_per_minute=5), store=store)
    with TestClient(app) as client:
        codes = [client.get("/v1/policy", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(8)]
        assert codes == [401] * 5 + [429] * 3
        r = client.get("/v1/policy", headers={"X-API-Key": "guess-9"})
        assert r.json()["error"]["code"] == "rate_limited"
        assert client.get("/v1/policy", headers=h("public")).status_code == 200  # a valid key still works
    store.close()


# -- API4: resource consumption -----------------------------------------------------------------------------------
def test_public_request_rate_is_limited(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "rate.sqlite")
    app = create_app(Settings(demo=True, public_rate_per_minute=5), store=store)
    with TestClient(app) as client:
        codes = [client.get("/v1/policy", headers=h("public")).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        r = client.get("/v1/catalogue", headers=h("public"))
        assert r.status_code == 429 and r.json()["error"] == {
            "code": "rate_limited", "message": "too many requests; slow down", "field": None}
        # Departments and investigators are not throttled by the public limit.
        assert all(client.get("/v1/policy", headers=h("market")).status_code == 200 for _ in range(10))
    store.close()


def test_payload_size_is_limited_with_or_without_content_length(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "size.sqlite")
    app = create_app(Settings(demo=True, max_body_bytes=10_000), store=store)
    body = b'{"subject": "x", "matter": "m", "purpose": "' + b"p" * 20_000 + b'"}'

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    with TestClient(app) as client:
        headers = {**h("public"), "content-type": "application/json"}
        r = client.post("/v1/checks", content=body, headers=headers)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        r = client.post("/v1/checks", content=chunks(), headers=headers)
        assert "content-length" not in r.request.headers and r.request.headers.get("transfer-encoding") == "chunked"
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        small = b'{"subject": "bad", "matter": "licensing", "purpose": "x"}'
        r = client.post("/v1/checks", content=iter([small[:10], small[10:]]), headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "subject"  # under the limit: read normally
    store.close()


# -- API1: object level ---------------------------------------------------------------------------------------------
def test_a_department_cannot_alter_another_departments_records(env) -> None:  # type: ignore[no-untyped-def]
    client, w, path = env
    items = client.get("/v1/cases/items", headers=h("admin")).json()["items"]
    not_finance = next(i for i in items if i["department"] != "finance")
    attempts = [
        # overwrite finance's record F1 / market's record R1 under the same id
        ("POST", "/v1/records", "market", {"record_id": "F1", "subject": w["org_c"], "category": "tax_evasion",
                                           "severity": "minor", "decision_date": "2020-12-01"}),
        ("POST", "/v1/records", "finance", {"record_id": "R1", "subject": w["org_a"], "category": "tax_evasion",
                                            "severity": "minor", "decision_date": "2020-09-01"}),
        # decide on another department's record
        ("POST", "/v1/records/F1/events", "market", {"kind": "objection_upheld", "on": "2020-12-09"}),
        ("POST", "/v1/records/F1/events", "market", {"kind": "revoked", "on": "2020-12-09"}),
        ("POST", "/v1/records/R1/events", "finance", {"kind": "repair_approved", "on": "2021-01-01"}),
        # initiate a case on another department's record or list entry
        ("POST", "/v1/cases", "market", {"cause_id": "F1"}),
        ("POST", "/v1/cases", "market", {"cause_id": "FB1"}),
        # change another department's list entry
        ("POST", "/v1/list-entries", "market", {"entry_id": "FB1", "subject": w["org_c"], "list": "black",
                                                "name": "改", "valid_from": "2020-12-01", "status": "proposed"}),
        # report on another department's case item
        ("POST", f"/v1/cases/items/{not_finance['id']}/feedback", "finance", {"status": "applied"}),
        # registration data belongs to market regulation
        ("POST", "/v1/roles", "finance", {"holder": w.id_numbers["p_other"], "org": w["org_a"],
                                          "role": "DIRECTOR", "valid_from": "2019-01-01"}),
        ("DELETE", "/v1/roles/anything", "finance", None),
    ]
    for method, url, role, body in attempts:
        before = dump(path)
        r = client.request(method, url, headers=h(role), json=body)
        assert r.status_code == 403, (method, url, role, r.status_code, r.text)
        assert r.json()["error"]["code"] == "forbidden"
        assert dump(path) == before, (method, url, role, "a refused request changed the store")


def test_the_department_of_a_record_comes_from_the_key(env) -> None:  # type: ignore[no-untyped-def]
    client, w, path = env
    body = {"record_id": "F2", "subject": w["org_c"], "category": "tax_evasion", "severity": "general",
            "decision_date": "2020-12-02"}
    r = client.post("/v1/records", headers=h("finance"), json=body | {"department": "market_regulation"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "department"  # no mass assignment
    assert client.post("/v1/records", headers=h("finance"), json=body).status_code == 201
    con = sqlite3.connect(path)
    assert con.execute("SELECT department FROM records WHERE record_id = 'F2'").fetchone() == ("finance",)
    con.close()
