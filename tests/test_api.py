"""The HTTP API through FastAPI's TestClient: every endpoint, every role, errors as 4xx JSON."""

from __future__ import annotations

import pytest

from graph_credit.engine import Engine
from graph_credit.store import SQLiteStore
from tests.helpers import ADMIN, FINANCE, INVESTIGATOR, MARKET, PUBLIC
from tests.scenario import build


def test_check_denies_with_measures_basis_and_paths(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    r = client.post("/v1/checks", json={"subject": w["org_a"], "matter": "government_procurement",
                                        "purpose": "采购资格审查"}, headers=MARKET)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == "deny"
    assert body["measures"] and all(m["basis"] and m["cause"] == "record:R1" for m in body["measures"])


def test_single_check_answers_as_the_batch_does_and_audits_each_personal_read_once(api) -> None:  # type: ignore[no-untyped-def]
    """The check route encodes its answer straight from the result, without the response-model pass the
    other routes make: the same JSON as the batch route's validated answer for every subject, role and
    depth, and exactly one audit entry per answer naming persons, committed before the answer."""
    from graph_credit.ids import persons_in

    client, w = api
    audited = 0
    for headers in (MARKET, PUBLIC):
        for name in sorted(w.ids):
            for depth in (0, 2):
                query = {"matter": "government_procurement", "purpose": "审查", "depth": depth}
                before = len(w.store.query("audit"))
                one = client.post("/v1/checks", json=query | {"subject": w[name]}, headers=headers)
                entries = w.store.query("audit")[before:]  # committed by the time the answer came
                batch = client.post("/v1/checks/batch", json=query | {"subjects": [w[name]]}, headers=headers)
                assert one.status_code == 200 and batch.status_code == 200, (one.text, batch.text)
                assert one.json() == batch.json()["results"][0], (name, depth, headers)
                assert one.headers["content-type"] == "application/json"
                named = persons_in(one.json()) if headers is MARKET else set()
                assert [set(e["persons"]) for e in entries] == ([named] if named else [])
                audited += bool(named)
    assert audited >= 4  # the scenario's answers do name persons


def test_check_by_id_number_and_batch(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    r = client.post("/v1/checks", json={"subject": w.id_numbers["p_lr_old"], "matter":
                                        "legal_representative_registration", "purpose": "登记"}, headers=MARKET)
    assert r.json()["decision"] == "review"  # 市场和行业禁入: the registrar judges the industry
    r = client.post("/v1/checks/batch", json={"subjects": [w["org_a"], w["org_c"]], "matter": "government_procurement",
                                              "purpose": "批量审查"}, headers=MARKET)
    assert [x["decision"] for x in r.json()["results"]] == ["deny", "review"]


def test_public_role_sees_masked_data_only_and_is_not_audited(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    r = client.get(f"/v1/subjects/{w['org_c']}/related", headers=PUBLIC)
    assert r.status_code == 200
    text = r.text
    for name in ("p_principal", "p_lr_old"):
        assert w[name] not in text and w.id_numbers[name] not in text
    assert "***" in text


def test_person_reads_are_audited_and_need_a_purpose(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    r = client.get(f"/v1/subjects/{w['p_lr_old']}", headers={"X-API-Key": "demo-investigator"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "purpose_required"
    r = client.get(f"/v1/subjects/{w['p_lr_old']}", headers=INVESTIGATOR)
    assert r.status_code == 200
    assert r.json()["subject"]["masked_id"].startswith("110")
    audit = client.get("/v1/audit", headers=ADMIN).json()["entries"]
    assert any(w["p_lr_old"] in e["persons"] and e["purpose"] == INVESTIGATOR["X-Purpose"] for e in audit)
    assert client.get("/v1/audit", headers=MARKET).status_code == 403


def test_profile_related_ownership_neighbourhood_connection_timeline_explain(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    prof = client.get(f"/v1/subjects/{w['org_a']}", headers=INVESTIGATOR).json()
    assert {h["honour_id"]: h["status"] for h in prof["honours"]} == {"H-A": "revoked"}
    fact_id = prof["derived"][0]["fact_id"]
    chain = client.get(f"/v1/facts/{fact_id}/explain", headers=INVESTIGATOR).json()
    assert chain["record"]["record_id"] == "R1" and chain["rule"]["basis"]
    own = client.get(f"/v1/subjects/{w['org_a']}/ownership", headers=INVESTIGATOR).json()
    stakes = {h["holder"]: h["effective_stake"] for h in own["holders"]}
    assert stakes == {w["p_holder"]: 0.6, w["org_b"]: 0.4}
    hood = client.get(f"/v1/subjects/{w['org_a']}/neighbourhood?depth=2", headers=INVESTIGATOR).json()
    assert {n["id"] for n in hood["nodes"]} >= {w["org_a"], w["org_c"], w["p_principal"]}
    conn = client.get(f"/v1/connections?a={w['org_a']}&b={w['org_c']}", headers=INVESTIGATOR).json()
    assert len(conn["path"]) == 2
    tl = client.get(f"/v1/subjects/{w['org_a']}/timeline", headers=INVESTIGATOR).json()
    assert any(e["kind"] == "act" for e in tl["events"])
    assert client.get(f"/v1/subjects/{w['org_a']}/neighbourhood", headers=PUBLIC).status_code == 403


def test_department_workflow_and_ownership_of_records(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    rec = {"record_id": "R9", "subject": w["org_c"], "category": "tax_evasion", "severity": "serious",
           "act_date": "2020-11-01", "decision_date": "2020-12-01", "period_end": "2022-12-01"}
    assert client.post("/v1/records", json=rec, headers=FINANCE).status_code == 201
    # another department cannot alter it or decide on it
    assert client.post("/v1/records", json=rec, headers=MARKET).status_code == 403
    # market's front desk receives an objection: forwarded to finance, which takes it into its workflow
    ev = client.post("/v1/records/R9/events", json={"kind": "objection_filed", "on": "2020-12-05"}, headers=MARKET)
    assert ev.status_code == 202 and ev.json()["owner"] == "finance"
    r = client.post(f"/v1/applications/{ev.json()['application_id']}/accept", headers=FINANCE)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert client.post("/v1/records/R9/events", json={"kind": "objection_upheld", "on": "2020-12-09"},
                       headers=MARKET).status_code == 403
    assert client.post("/v1/records/R9/events", json={"kind": "objection_rejected", "on": "2020-12-09"},
                       headers=FINANCE).status_code == 201
    objections = client.get("/v1/objections", headers=FINANCE).json()["objections"]
    assert objections[0]["resolved_on"] == "2020-12-09"
    case = client.post("/v1/cases", json={"cause_id": "R9"}, headers=FINANCE).json()
    items = client.get("/v1/cases/items", headers=FINANCE).json()["items"]
    mine = [i for i in items if i["case_id"] == case["id"]]
    assert mine and all(i["department"] == "finance" for i in mine)
    fb = client.post(f"/v1/cases/items/{mine[0]['id']}/feedback", json={"status": "refused"}, headers=FINANCE)
    assert fb.status_code == 422 and fb.json()["error"]["field"] == "reason"
    fb = client.post(f"/v1/cases/items/{mine[0]['id']}/feedback", json={"status": "applied"}, headers=FINANCE)
    assert fb.status_code == 200
    stats = client.get("/v1/cases/statistics", headers=FINANCE).json()["statistics"]
    assert any(s["applied"] == 1 for s in stats)


def test_red_list_refused_when_black_listed_under_jiangyin_6(tmp_path, serve) -> None:  # type: ignore[no-untyped-def]
    black = {"entry_id": "B1", "list": "black", "name": "失信黑名单", "valid_from": "2020-06-01",
             "status": "effective"}
    red = {"entry_id": "RD1", "list": "red", "name": "诚信典型", "valid_from": "2020-07-01"}
    for jurisdiction, expected in (("jiangyin", 409), ("xiaoyi", 201)):  # the cross-check is Jiangyin's
        store = SQLiteStore(tmp_path / f"{jurisdiction}.sqlite")
        w = build(Engine(store, jurisdiction))
        client = serve(store, jurisdiction=jurisdiction)
        assert client.post("/v1/list-entries", json={**black, "subject": w["org_c"]},
                           headers=MARKET).status_code == 201
        r = client.post("/v1/list-entries", json={**red, "subject": w["org_c"]}, headers=FINANCE)
        assert r.status_code == expected, r.text
        if expected == 409:
            assert r.json()["error"]["code"] == "black_list_conflict"
            assert "Jiangyin (6)" in r.json()["error"]["message"]


def test_registration_corrections_only_by_registration_authority(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    edge = {"holder": w.id_numbers["p_lr_new"], "org": w["org_a"], "role": "LEGAL_REPRESENTATIVE",
            "valid_from": "2019-01-01"}
    assert client.post("/v1/roles", json=edge, headers=FINANCE).status_code == 403
    r = client.post("/v1/roles", json=edge, headers=MARKET)
    assert r.status_code == 201 and r.json()["facts_changed"] > 0
    assert client.delete(f"/v1/roles/{r.json()['edge_id']}", headers=MARKET).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"subject": "91320281000000001X", "matter": "licensing", "purpose": "x"}, "subject"),
    ({"subject": "not-a-code-at-all!!", "matter": "licensing", "purpose": "x"}, "subject"),
    ({"subject": "91320281000000001", "matter": "licensing", "purpose": "x"}, "subject"),
    ({"subject": "MATCH (n) DETACH DELETE n //", "matter": "licensing", "purpose": "x"}, "subject"),
])
def test_bad_subjects_get_422_naming_the_field(api, body, field) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    r = client.post("/v1/checks", json=body, headers=MARKET)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_unknown_matter_auth_and_payload_limits(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    r = client.post("/v1/checks", json={"subject": w["org_a"], "matter": "bogus", "purpose": "x"}, headers=MARKET)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_matter"
    assert client.post("/v1/checks", json={}, headers={"X-API-Key": "nope"}).status_code == 401
    assert client.get("/v1/policy").status_code == 401
    big = client.post("/v1/checks", content=b"x" * 2_000_000, headers={**MARKET, "content-type": "application/json"})
    assert big.status_code == 413


def test_policy_and_catalogue_readout(api) -> None:  # type: ignore[no-untyped-def]
    client, _ = api
    policy = client.get("/v1/policy", headers=PUBLIC).json()
    assert {r["id"] for r in policy["rules"]} >= {"P0", "P1", "P1b", "P2", "P3", "P3b", "P6", "P7", "P8"}
    assert all(b["document"] == "GuoFa33" for r in policy["rules"] for b in r["basis"])  # the national layer
    cat = client.get("/v1/catalogue?matter=government_procurement", headers=PUBLIC).json()
    assert cat["measures"] and all("government_procurement" in m["matters"] for m in cat["measures"])
    assert client.get("/v1/health", headers=PUBLIC).json()["counts"]["organisations"] == 3


def test_every_route_documents_its_answer() -> None:
    """Each JSON answer of the OpenAPI description is a named model (api.responses), not a bare object."""
    from api.app import Settings, create_app

    doc = create_app(Settings()).openapi()
    bare = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None and "$ref" not in str(schema):
                    bare.append(f"{method.upper()} {path} {status}")
                if status.startswith("2") and schema is None and "content" not in response and status != "202":
                    bare.append(f"{method.upper()} {path} {status}: no content")
    assert not bare, bare


def test_a_plain_value_error_is_a_bug_and_a_domain_error_names_its_own_field(api) -> None:  # type: ignore[no-untyped-def]
    """One error type: the field comes from the error, never from its message; anything else answers 500."""
    from fastapi.testclient import TestClient

    from graph_credit.errors import DomainError

    client, w = api
    app = client.app

    @app.get("/test/domain")  # type: ignore[attr-defined]
    def domain() -> None:
        raise DomainError("a reason: with a colon in it", code="gone", status=410, facts=["f1"])

    @app.get("/test/plain")  # type: ignore[attr-defined]
    def plain() -> None:
        raise ValueError("field: looks like a domain error")

    @app.get("/test/file")  # type: ignore[attr-defined]
    def file() -> None:
        raise PermissionError("[Errno 13] Permission denied: 'data/x.sqlite'")

    r = client.get("/test/domain")
    assert r.status_code == 410
    assert r.json()["error"] == {"code": "gone", "field": None, "message": "a reason: with a colon in it",
                                 "facts": ["f1"]}
    quiet = TestClient(app, raise_server_exceptions=False)
    assert quiet.get("/test/plain").status_code == 500
    assert quiet.get("/test/file").status_code == 500


def test_a_cause_is_accepted_as_the_api_returns_it(api) -> None:  # type: ignore[no-untyped-def]
    """Stumble 4 (issue 15): a check names its causes `record:R1`; cases and events take that form as well."""
    client, w = api
    check = client.post("/v1/checks", json={"subject": w["org_a"], "matter": "government_procurement",
                                            "purpose": "采购资格审查"}, headers=MARKET).json()
    cause = check["measures"][0]["cause"]
    assert cause == "record:R1"
    r = client.post("/v1/cases", json={"cause_id": cause}, headers=MARKET)
    assert r.status_code == 201 and r.json()["cause"] == cause, r.text
    assert client.post("/v1/cases", json={"cause_id": "R1"}, headers=MARKET).json()["id"] == r.json()["id"]
    r = client.post(f"/v1/records/{cause}/events", json={"kind": "objection_filed", "on": "2020-12-05"},
                    headers=MARKET)
    assert r.status_code == 201, r.text
    r = client.post("/v1/cases", json={"cause_id": "list:R1"}, headers=MARKET)  # R1 is a record, not a list entry
    assert r.status_code == 404 and r.json()["error"]["field"] == "cause_id"


def test_a_record_sent_again_unchanged_answers_200_with_its_facts(api) -> None:  # type: ignore[no-untyped-def]
    """Stumble 7 (issue 15): a replayed record answered 201 with `facts: []`."""
    client, w = api
    rec = {"record_id": "R9", "subject": w["org_c"], "category": "tax_evasion", "severity": "serious",
           "act_date": "2020-11-01", "decision_date": "2020-12-01", "period_end": "2022-12-01"}
    first = client.post("/v1/records", json=rec, headers=FINANCE)
    assert first.status_code == 201 and first.json()["facts"]
    again = client.post("/v1/records", json=rec, headers=FINANCE)
    assert again.status_code == 200, again.text
    assert again.json()["facts"] == first.json()["facts"] and again.json()["facts_added"] == 0
    changed = client.post("/v1/records", json=rec | {"period_end": "2023-12-01"}, headers=FINANCE)
    assert changed.status_code == 201 and changed.json()["facts"] == first.json()["facts"]


def test_profile_and_check_agree_that_a_punishment_closes_the_green_channel(api) -> None:  # type: ignore[no-untyped-def]
    """Stumble 6 (issue 15): the profile showed a red listing's green channel active beside a new serious
    record's punishment, while the check (rightly) gave no green channel."""
    client, w = api
    red = {"entry_id": "RD1", "subject": w["org_c"], "list": "red", "name": "诚信典型", "valid_from": "2019-01-01",
           "status": "effective"}
    assert client.post("/v1/list-entries", json=red, headers=FINANCE).status_code == 201
    profile = client.get(f"/v1/subjects/{w['org_c']}", headers=FINANCE).json()
    assert "green_channel" in profile["active_consequences"]
    rec = {"record_id": "R9", "subject": w["org_c"], "category": "tax_evasion", "severity": "serious",
           "act_date": "2020-11-01", "decision_date": "2020-12-01", "period_end": "2022-12-01"}
    assert client.post("/v1/records", json=rec, headers=FINANCE).status_code == 201
    check = client.post("/v1/checks", json={"subject": w["org_c"], "matter": "licensing", "purpose": "审批"},
                        headers=FINANCE).json()
    assert check["decision"] != "green_channel" and check["green_channel"] is None
    profile = client.get(f"/v1/subjects/{w['org_c']}", headers=FINANCE).json()
    (green,) = [f for f in profile["derived"] if f["consequence"] == "green_channel"]
    assert green["status"] == "barred" and green["barred_by"]
    assert "green_channel" not in profile["active_consequences"]


def test_an_active_fact_names_its_scheduled_end_not_an_end(api) -> None:  # type: ignore[no-untyped-def]
    """Stumble 7 (issue 15): `ended_by: "expired"` on facts in force."""
    client, w = api
    facts = client.get(f"/v1/subjects/{w['org_a']}", headers=FINANCE).json()["derived"]
    r1 = [f for f in facts if f["cause"] == "record:R1" and f["status"] == "active"]
    assert r1 and all(f["ended_by"] is None for f in facts if f["status"] in ("active", "pending", "suspended"))
    expiring = [f for f in r1 if f["ends_by"] == "expired"]
    assert expiring and all(f["valid_to"] == "2023-09-01" for f in expiring)
    later = client.get(f"/v1/subjects/{w['org_a']}?as_of=2024-01-01", headers=FINANCE).json()["derived"]
    ids = {f["fact_id"] for f in expiring}
    assert all(f["ended_by"] == "expired" and f["ends_by"] is None for f in later if f["fact_id"] in ids)
    explained = client.get(f"/v1/facts/{expiring[0]['fact_id']}/explain", headers=FINANCE).json()["fact"]
    assert explained["ended_by"] is None and explained["ends_by"] == "expired"


def test_an_unregistered_subject_is_unknown_in_checks_and_batch_counts(api) -> None:  # type: ignore[no-untyped-def]
    """Stumble 1 (issue 15): the API answered "allow" (with a warning) for a subject nobody registered."""
    from tests.helpers import make_uscc

    client, w = api
    r = client.post("/v1/checks", json={"subject": make_uscc(999), "matter": "licensing", "purpose": "审批"},
                    headers=MARKET)
    assert r.status_code == 200 and r.json()["decision"] == "unknown", r.text
    r = client.post("/v1/checks/batch", json={"subjects": [make_uscc(999), w["org_a"]], "matter": "licensing",
                                              "purpose": "审批"}, headers=MARKET)
    assert r.status_code == 200 and r.json()["decisions"]["unknown"] == 1, r.text


def test_a_store_without_append_later_audits_the_check_through_the_thread_pool(tmp_path, serve) -> None:  # type: ignore[no-untyped-def]
    """Neo4j has no group commit: the check route's audit goes through the blocking append, still
    committed before the answer."""
    from graph_credit.store.base import AppendsLater

    class Blocking:  # the SQLite store as a backend that only appends blocking
        def __init__(self, store: SQLiteStore) -> None:
            self._store = store

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            if name == "append_later":
                raise AttributeError(name)
            return getattr(self._store, name)

    store = SQLiteStore(tmp_path / "blocking.sqlite")
    w = build(Engine(store))
    blocking = Blocking(store)
    assert not isinstance(blocking, AppendsLater)
    client = serve(blocking)
    try:
        r = client.post("/v1/checks", json={"subject": w["org_a"], "matter": "government_procurement",
                                            "purpose": "阻塞审计"}, headers=MARKET)
        assert r.status_code == 200, r.text
        assert [e["purpose"] for e in store.query("audit")] == ["阻塞审计"]
    finally:
        store.close()
