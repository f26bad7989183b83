"""Security hardening (issue 14), one section per finding.

1 webhook SSRF, 2 personal data in free text, 3 a department changing another's record, 4 objections
scoped, 5 withdrawn records hidden from the public, 6 person keys as JSON object keys, 7 the audit log
(newest first, cursor, filters, Chinese purpose), 8 no sweep past today, 9 cost quotas for every role,
10 forwarded headers only from trusted proxies, 11 ID numbers masked in the logs, 12 health without a
key, 13 hashed keys and only domain errors as 4xx, 14 security headers and the auth scheme in OpenAPI.
No test needs the internet: name resolution is replaced where a test needs it.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from api import security
from api.app import COST_PER_MINUTE, Settings, create_app
from api.security import key_digest
from graph_credit import egress, monitor, pii
from graph_credit.engine import Engine
from graph_credit.errors import DomainError
from graph_credit.ids import person_key
from graph_credit.io import import_frames
from graph_credit.store import SQLiteStore
from tests.helpers import ADMIN, FINANCE, INVESTIGATOR, MARKET, PUBLIC
from tests.scenario import D, World, build, r1
from tests.test_bad_input import REC, frame

ROOT = Path(__file__).resolve().parents[1]
PERSON_KEY = re.compile(r"\bp[0-9a-f]{24}\b")
CLEAR_ID = "11010519491231002X"  # valid check digit; born 1949-12-31 in Beijing Xicheng
OLD_ID = "110105491231002"  # the same person's 15-digit number


def spaced(n: str) -> str:
    return f"{n[:6]} {n[6:14]} {n[14:]}"


def hyphened(n: str) -> str:
    return f"{n[:6]}-{n[6:10]}-{n[10:14]}-{n[14:]}"


@pytest.fixture
def api(tmp_path: Path, serve: Callable[..., TestClient]) -> Iterator[tuple[TestClient, World, Path]]:
    path = tmp_path / "security.sqlite"
    store = SQLiteStore(path)
    w = build(Engine(store))
    yield serve(store, public_rate_per_minute=Settings.public_rate_per_minute), w, path
    store.close()


def client_with(tmp_path: Path, **settings: Any) -> tuple[TestClient, World, SQLiteStore]:
    store = SQLiteStore(tmp_path / "custom.sqlite")
    w = build(Engine(store))
    client = TestClient(create_app(Settings(demo=True, today=D("2021-01-01"), **settings), store=store))
    return client, w, store


def audit_rows(path: Path) -> list[dict[str, Any]]:
    con = sqlite3.connect(path)
    try:
        return [json.loads(r[0]) for r in con.execute("SELECT doc FROM journal WHERE tbl = 'audit' ORDER BY seq")]
    finally:
        con.close()


# -- 1. SSRF through webhooks ------------------------------------------------------------------------------------
PUBLIC_ADDRESS = "93.184.216.34"


class FakeDNS:
    """Names resolve from a table that tests may change; addresses pass through (no network needed)."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {"receiver.example": [PUBLIC_ADDRESS],
                                            "metadata.google.internal": ["169.254.169.254"],
                                            "mixed.example": [PUBLIC_ADDRESS, "10.0.0.1"],
                                            "rebind.example": [PUBLIC_ADDRESS],
                                            "receiver.test": ["127.0.0.1"]}
        self.asked: list[str] = []
        self.real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.asked.append(name)
        if name in self.table:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port) if ":" not in a else (a, port, 0, 0)) for a in self.table[name]]
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
        except OSError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return self.real(host, port, *args, **kwargs)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


REFUSED_URLS = [
    "https://169.254.169.254/latest/meta-data/", "https://127.0.0.1:22/", "https://[::1]/hook",
    "https://10.0.0.1/hook", "https://192.168.1.10/hook", "https://172.16.0.1/hook", "https://100.64.0.1/hook",
    "https://metadata.google.internal/computeMetadata/v1/", "https://2130706433/hook", "https://0x7f.1/hook",
    "https://0177.0.0.1/hook", "https://127.1/hook", "https://[::ffff:127.0.0.1]/hook", "https://[::ffff:a00:1]/hook",
    "https://[64:ff9b::7f00:1]/hook", "https://[2002:7f00:1::1]/hook", "https://[fe80::1]/hook",
    "https://[fd00:ec2::254]/hook", "https://224.0.0.1/hook", "https://0.0.0.0/hook", "https://240.0.0.1/hook",
    "https://mixed.example/hook", "https://no-such-host.invalid/hook",
    "http://receiver.example/hook",  # plain http without the setting
    "https://user:secret@receiver.example/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_webhook_to_an_internal_address_is_refused_at_registration(api, dns, url: str) -> None:  # type: ignore[no-untyped-def]
    client, w, _ = api
    r = client.post("/v1/subscriptions", headers=MARKET, json={
        "subject": w["org_c"], "purpose": "跟踪", "webhook_url": url})
    assert r.status_code == 422, (url, r.text)
    assert r.json()["error"]["field"] == "webhook_url"
    assert client.get("/v1/subscriptions", headers=MARKET).json()["subscriptions"] == []


def test_webhook_to_a_public_https_receiver_is_accepted(api, dns) -> None:  # type: ignore[no-untyped-def]
    client, w, _ = api
    r = client.post("/v1/subscriptions", headers=MARKET, json={
        "subject": w["org_c"], "purpose": "跟踪", "webhook_url": "https://receiver.example/hook"})
    assert r.status_code == 201, r.text


def test_private_receivers_only_when_allow_listed_and_metadata_never(tmp_path: Path, dns) -> None:  # type: ignore[no-untyped-def]
    receivers = egress.EgressPolicy.of(allow_http=False, allow=["10.1.0.0/16", "169.254.0.0/16"])
    client, w, store = client_with(tmp_path, webhook_receivers=receivers)
    with client:
        def post(url: str) -> int:
            return client.post("/v1/subscriptions", headers=MARKET, json={
                "subject": w["org_c"], "purpose": "跟踪", "webhook_url": url}).status_code

        assert post("https://10.1.2.3/hook") == 201
        assert post("https://10.2.0.1/hook") == 422
        assert post("https://169.254.10.10/hook") == 201
        assert post("https://169.254.169.254/hook") == 422  # allow-listed network, but a metadata address
        assert post("http://10.1.2.3/hook") == 422  # http still needs its own setting
    store.close()


def test_egress_policy_reads_the_documented_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_CREDIT_WEBHOOK_ALLOW_HTTP", "1")
    monkeypatch.setenv("GRAPH_CREDIT_WEBHOOK_ALLOW", "10.1.0.0/16, 192.168.5.7")
    policy = Settings.from_env().webhook_receivers
    assert policy.allow_http and [str(n) for n in policy.allow] == ["10.1.0.0/16", "192.168.5.7/32"]


def test_delivery_checks_the_address_again_and_posts_to_the_checked_one(api, dns) -> None:  # type: ignore[no-untyped-def]
    """DNS rebinding: the name resolved to a public address at registration, to loopback at delivery."""
    client, w, _ = api
    sub = client.post("/v1/subscriptions", headers=MARKET, json={
        "subject": w["org_c"], "depth": 1, "purpose": "跟踪", "webhook_url": "https://rebind.example/hook"}).json()
    assert client.post("/v1/records", headers=FINANCE, json={
        "record_id": "R9", "subject": w["org_a"], "category": "tax_evasion", "severity": "serious",
        "decision_date": "2020-12-01", "period_end": "2022-12-01"}).status_code == 201
    sent: list[egress.Target] = []

    def post(target: egress.Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append(target)
        return 200

    dns.table["rebind.example"] = ["127.0.0.1"]
    report = monitor.deliver_pending(w.store, datetime.now(UTC), post)
    assert report["retrying"] and not sent
    (alert,) = client.get("/v1/alerts", headers=MARKET).json()["alerts"]
    assert alert["subscription_id"] == sub["id"]
    assert alert["last_error"] == "delivery failed: receiver address not allowed"

    dns.table["rebind.example"] = [PUBLIC_ADDRESS]
    w.store.update("alerts", alert["id"], {"next_attempt_at": datetime.now(UTC).isoformat()})
    assert monitor.deliver_pending(w.store, datetime.now(UTC), post)["delivered"] == [alert["id"]]
    assert [(t.host, t.address) for t in sent] == [("rebind.example", PUBLIC_ADDRESS)]


class Receiver:
    """A loopback HTTP receiver; answers with ``status`` (and a Location for redirects)."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status, error", [(200, None), (302, "HTTP 302 (redirects are not followed)")])
def test_httpx_delivery_is_pinned_and_follows_no_redirect(tmp_path: Path, dns, status: int,  # type: ignore[no-untyped-def]
                                                          error: str | None) -> None:
    rx = Receiver(status)
    loopback = egress.EgressPolicy.of(allow_http=True, allow=["127.0.0.0/8"])
    store = SQLiteStore(tmp_path / "pin.sqlite")
    w = build(Engine(store))
    try:
        url = f"http://receiver.test:{rx.port}/hook"
        sub, _, _ = monitor.subscribe(store, subject=w["org_c"], depth=1, owner_key="k", owner_name="k",
                                      role="investigator", department=None, purpose="test", since=D("2021-01-01"),
                                      webhook_url=url, secret="s" * 20, egress_policy=loopback)
        w.engine.clock = lambda: D("2021-01-01")
        w.engine.put_records([r1(w, record_id="R2", decision_date=D("2020-10-01"))])
        dns.asked.clear()
        policy = monitor.DeliveryPolicy(egress_policy=loopback)
        monitor.deliver_pending(store, datetime.now(UTC), monitor.httpx_post, policy)
        # one lookup of the name (the check); the connection went to the address checked, Host kept
        assert dns.asked.count("receiver.test") == 1
        assert [(p, h["host"]) for p, h in rx.requests] == [("/hook", f"receiver.test:{rx.port}")]
        (alert,) = store.query("alerts", {"subscription_id": sub["id"]})
        assert alert["last_error"] == error and alert["last_status"] == status
    finally:
        rx.close()
        store.close()


def test_egress_resolve_refuses_embedded_and_shorthand_forms() -> None:
    strict = egress.EgressPolicy()
    for host in ("2130706433", "0x7f.1", "017700000001", "[::ffff:7f00:1]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]"):
        with pytest.raises(DomainError):
            egress.resolve(f"https://{host}/x", strict)
    assert egress.resolve(f"https://{PUBLIC_ADDRESS}:8443/x", strict).address == PUBLIC_ADDRESS


# -- 2. personal data in free text -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, kind", [
    (f"身份证号{CLEAR_ID}，见附件", "id_number"), (f"号码 {spaced(CLEAR_ID)} 见", "id_number"),
    (f"号码{hyphened(CLEAR_ID)}", "id_number"), (f"旧证{OLD_ID}记载", "id_number"),
    (f"号码{CLEAR_ID.translate(str.maketrans('0123456789X', '０１２３４５６７８９Ｘ'))}", "id_number"),
    ("联系电话 138-0013-8000", "phone"), ("手机+86 139 0013 9000", "phone"), ("当事人张三提出异议", "name"),
    ("法定代表人：欧阳小明，", "name"),
])
def test_pii_finds_personal_data_in_free_text(text: str, kind: str) -> None:
    (found,) = pii.find(text)
    assert found.kind == kind
    masked = pii.mask(text)
    assert masked != text and "*" in masked
    assert not pii.find(masked)


@pytest.mark.parametrize("text", ["依据《税收征收管理法》第六十三条", "财罚〔2020〕123号", "股东会决议",
                                  "统一社会信用代码91320281MA1MXXXX0Q", "金额1234567元", "110105194912310021"])
def test_pii_leaves_other_text_alone(text: str) -> None:
    assert pii.mask(text) == text


def test_personal_data_typed_into_free_text_is_masked_before_it_is_stored(api) -> None:  # type: ignore[no-untyped-def]
    client, w, path = api
    other = w.id_numbers["p_other"]
    basis = (f"责任人{spaced(other)}，旧证{OLD_ID}，电话138-0013-8000，当事人王五提出申辩；"
             f"直接责任人张director")
    r = client.post("/v1/records", headers=FINANCE, json={
        "record_id": "F1", "subject": w["org_c"], "category": "tax_evasion", "severity": "serious",
        "decision_date": "2020-12-01", "basis": basis, "document_no": f"财罚〔2020〕{hyphened(other)}号",
        "responsible": [{"id_number": w.id_numbers["p_director"], "role": "DIRECTOR"}]})
    assert r.status_code == 201, r.text
    assert r.json()["personal_data_masked"] == ["basis", "document_no"]
    r = client.post("/v1/records/F1/events", headers=FINANCE, json={
        "kind": "objection_filed", "on": "2020-12-05", "detail": f"当事人{other}提出异议，联系13900139000"})
    assert r.status_code == 201
    con = sqlite3.connect(path)
    stored = " ".join(str(v) for row in con.execute("SELECT basis, document_no FROM records WHERE record_id = 'F1'")
                      for v in row)
    stored += " ".join(r[0] for r in con.execute("SELECT detail FROM events WHERE cause_id = 'F1'"))
    con.close()
    for clear in (other, spaced(other), hyphened(other), OLD_ID, "138-0013-8000", "13900139000", "王五",
                  "张director"):
        assert clear not in stored, clear
    assert "王*" in stored and "张*******" in stored and "110***********002X" in stored


def test_import_masks_personal_data_in_free_text(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "import.sqlite")
    build(Engine(store))
    report = import_frames(store, {"records": frame("records", **REC, basis=f"负责人李四，身份证{spaced(CLEAR_ID)}",
                                                    document_no=f"罚{OLD_ID}")})
    assert report.ok, report.summary()
    rec = store.get_records(["IMP-1"])["IMP-1"]
    assert (rec.basis, rec.document_no) == ("负责人李*，身份证110***********002X", "罚110***********002X")
    store.close()


def test_clear_text_stored_before_is_masked_for_the_public_and_audited_for_departments(api) -> None:  # type: ignore[no-untyped-def]
    """A row written before free text was masked (here straight into the store) is still safe to read:
    org_c's profile names no person but the ID number in the record's basis."""
    client, w, path = api
    w.engine.put_records([r1(w, record_id="OLD1", subject=w["org_c"], responsible=(), department="finance",
                             basis=f"责任人身份证{spaced(CLEAR_ID)}")])
    public = client.get(f"/v1/subjects/{w['org_c']}", headers=PUBLIC).text
    assert CLEAR_ID not in public and spaced(CLEAR_ID) not in public and "110***********002X" in public
    no_purpose = client.get(f"/v1/subjects/{w['org_c']}", headers={"X-API-Key": "demo-finance"})
    assert no_purpose.status_code == 400 and no_purpose.json()["error"]["field"] == "X-Purpose"
    before = len(audit_rows(path))
    assert client.get(f"/v1/subjects/{w['org_c']}", headers=FINANCE).status_code == 200
    (entry,) = audit_rows(path)[before:]
    assert entry["free_text"] == 1 and entry["persons"] == [person_key(CLEAR_ID)]


# -- 3. a department changes another department's record ---------------------------------------------------------
def statuses(client: TestClient, subject: str, headers: dict[str, str]) -> dict[str, str]:
    return {f["fact_id"]: f["status"] for f in client.get(f"/v1/subjects/{subject}", headers=headers).json()["derived"]
            if f["cause"] == "record:R1"}


def test_another_departments_objection_is_forwarded_and_takes_effect_only_when_the_owner_accepts(api) -> None:  # type: ignore[no-untyped-def]
    client, w, path = api
    before = statuses(client, w["org_a"], MARKET)
    assert set(before.values()) == {"active"}
    r = client.post("/v1/records/R1/events", headers=FINANCE, json={"kind": "objection_filed", "on": "2020-12-05",
                                                                   "detail": "当事人张三不服"})
    assert r.status_code == 202 and r.json()["owner"] == "market_regulation"
    application = r.json()["application_id"]
    assert statuses(client, w["org_a"], MARKET) == before  # nothing suspended by finance's desk
    assert w.store.events_of(["R1"]) == []
    assert client.get("/v1/objections", headers=MARKET).json()["objections"] == []

    forwarded = client.get("/v1/applications", headers=MARKET).json()["applications"]
    assert [(a["id"], a["status"], a["received_by"], a["detail"]) for a in forwarded] == [
        (application, "forwarded", "finance", "当事人张*不服")]
    assert client.post(f"/v1/applications/{application}/accept", headers=FINANCE).status_code == 404
    r = client.post(f"/v1/applications/{application}/accept", headers=MARKET)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    after = client.get(f"/v1/subjects/{w['org_a']}?as_of=2020-12-10", headers=MARKET).json()["derived"]
    assert {f["status"] for f in after if f["cause"] == "record:R1"} == {"suspended"}  # default policy suspends
    (event,) = w.store.events_of(["R1"])
    assert (event.kind, event.on, event.by) == ("objection_filed", D("2020-12-05"), "finance")
    assert client.post(f"/v1/applications/{application}/accept", headers=MARKET).status_code == 409


def test_a_forwarded_repair_application_may_be_declined(api) -> None:  # type: ignore[no-untyped-def]
    client, w, _ = api
    r = client.post("/v1/records/R1/events", headers=FINANCE, json={"kind": "repair_applied", "on": "2020-12-05"})
    assert r.status_code == 202
    app_id = r.json()["application_id"]
    assert client.post(f"/v1/applications/{app_id}/decline", headers=MARKET, json={}).status_code == 422
    r = client.post(f"/v1/applications/{app_id}/decline", headers=MARKET, json={"reason": "不属于本部门认定事项"})
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert w.store.events_of(["R1"]) == []
    mine = client.get("/v1/applications?status=declined", headers=FINANCE).json()["applications"]
    assert [a["id"] for a in mine] == [app_id]  # the receiving desk sees the outcome
    # a decision on another department's record is still refused outright
    assert client.post("/v1/records/R1/events", headers=FINANCE,
                       json={"kind": "repair_approved", "on": "2020-12-06"}).status_code == 403


# -- 4. objections scoped and audited ------------------------------------------------------------------------------
def test_objections_are_scoped_to_the_owning_department_and_audited(api) -> None:  # type: ignore[no-untyped-def]
    client, w, path = api
    assert client.post("/v1/records", headers=FINANCE, json={
        "record_id": "FP1", "subject": w.id_numbers["p_other"], "category": "tax_evasion", "severity": "serious",
        "decision_date": "2020-12-01"}).status_code == 201
    for cause, headers in (("FP1", FINANCE), ("R1", MARKET)):
        assert client.post(f"/v1/records/{cause}/events", headers=headers,
                           json={"kind": "objection_filed", "on": "2020-12-05"}).status_code == 201

    def causes(headers: dict[str, str]) -> set[str]:
        r = client.get("/v1/objections", headers=headers)
        assert r.status_code == 200, r.text
        return {o["cause"] for o in r.json()["objections"]}

    assert causes(MARKET) == {"record:R1"} and causes(FINANCE) == {"record:FP1"}
    assert causes(INVESTIGATOR) == causes(ADMIN) == {"record:R1", "record:FP1"}
    assert client.get("/v1/objections", headers={"X-API-Key": "demo-finance"}).status_code == 400  # names a person
    before = len(audit_rows(path))
    client.get("/v1/objections", headers=FINANCE)
    (entry,) = audit_rows(path)[before:]
    assert entry["what"] == "objections" and entry["persons"] == [w["p_other"]]


# -- 5. withdrawn records and facts are not public -----------------------------------------------------------------
def test_public_profile_hides_withdrawn_records_and_facts(api) -> None:  # type: ignore[no-untyped-def]
    client, w, _ = api
    facts = list(statuses(client, w["org_a"], MARKET))
    assert client.post("/v1/records/R1/events", headers=MARKET, json={"kind": "revoked", "on": "2020-12-01"}
                       ).status_code == 201
    public = client.get(f"/v1/subjects/{w['org_a']}", headers=PUBLIC).json()
    assert public["records"] == [] and not [f for f in public["derived"] if f["cause"] == "record:R1"]
    department = client.get(f"/v1/subjects/{w['org_a']}", headers=MARKET).json()
    assert [r["record_id"] for r in department["records"]] == ["R1"]  # the department still sees its history
    assert client.get(f"/v1/facts/{facts[0]}/explain", headers=PUBLIC).status_code == 404
    assert client.get(f"/v1/facts/{facts[0]}/explain", headers=MARKET).status_code == 200


# -- 6. person keys as JSON object keys ------------------------------------------------------------------------------
def test_public_answers_have_no_person_key_even_as_an_object_key(api) -> None:  # type: ignore[no-untyped-def]
    client, w, _ = api
    r = client.get(f"/v1/subjects/{w['org_c']}/related?depth=2&max_fanout=1", headers=PUBLIC)
    assert r.status_code == 200
    assert r.json()["truncated"], "the scan needs a truncated hub"
    assert not PERSON_KEY.search(r.text), PERSON_KEY.search(r.text)
    inside = client.get(f"/v1/subjects/{w['org_c']}/related?depth=2&max_fanout=1", headers=INVESTIGATOR).json()
    assert len(inside["truncated"]) == len(r.json()["truncated"])  # masked, none dropped


# -- 7. the audit log ------------------------------------------------------------------------------------------------
def test_audit_log_newest_first_with_cursor_and_filters(api) -> None:  # type: ignore[no-untyped-def]
    client, w, _ = api
    for i in range(5):
        headers = (MARKET if i % 2 else INVESTIGATOR) | {"X-Purpose": f"purpose {i}"}
        assert client.get(f"/v1/subjects/{w['p_director']}", headers=headers).status_code == 200
    assert client.get(f"/v1/subjects/{w['p_cpa']}", headers=MARKET | {"X-Purpose": "cpa"}).status_code == 200
    page = client.get("/v1/audit?limit=4", headers=ADMIN).json()
    assert [e["purpose"] for e in page["entries"]] == ["cpa", "purpose 4", "purpose 3", "purpose 2"]
    rest = client.get(f"/v1/audit?limit=4&cursor={page['next_cursor']}", headers=ADMIN).json()
    assert [e["purpose"] for e in rest["entries"]][:2] == ["purpose 1", "purpose 0"]
    cpa = client.get(f"/v1/audit?person={w.id_numbers['p_cpa']}&who=市场监管局", headers=ADMIN).json()["entries"]
    assert [e["purpose"] for e in cpa] == ["cpa"]
    by_market = client.get("/v1/audit?who=市场监管局&purpose=purpose", headers=ADMIN).json()["entries"]
    assert [e["purpose"] for e in by_market] == ["purpose 3", "purpose 1"]
    assert client.get("/v1/audit?since=2999-01-01", headers=ADMIN).json()["entries"] == []
    assert len(client.get("/v1/audit?until=2999-01-01", headers=ADMIN).json()["entries"]) >= 6
    bad = client.get("/v1/audit?cursor=nonsense", headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"
    assert client.get("/v1/audit?since=yesterday", headers=ADMIN).json()["error"]["field"] == "since"


def test_audit_pages_walk_a_long_log_once_each_without_reading_it_whole(api) -> None:  # type: ignore[no-untyped-def]
    """Pages are read from the newest entry back, a bounded slice at a time: every entry that matches comes
    exactly once across pages, in the order the log committed them, and ``since`` ends the walk."""
    client, _, path = api
    store = SQLiteStore(path)
    try:
        store.append("audit", [{"id": f"bulk{n}", "at": f"2020-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
                                "who": "A" if n % 3 else "B", "key_id": "k", "purpose": "bulk", "persons": []}
                               for n in range(3600)])
    finally:
        store.close()
    seen: list[str] = []
    cursor = ""
    while True:
        page = client.get(f"/v1/audit?who=B&limit=500{cursor}", headers=ADMIN).json()
        seen += [e["id"] for e in page["entries"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [f"bulk{n}" for n in reversed(range(0, 3600, 3))]
    late = client.get("/v1/audit?who=B&since=2020-01-01T00:59:00Z&limit=1000", headers=ADMIN).json()["entries"]
    assert [e["id"] for e in late] == [f"bulk{n}" for n in reversed(range(3540, 3600, 3))]


@pytest.mark.parametrize("header", ["调查核实".encode(), quote("调查核实").encode()])
def test_a_chinese_purpose_header_is_stored_as_written(api, header: bytes) -> None:  # type: ignore[no-untyped-def]
    client, w, path = api
    r = client.get(f"/v1/subjects/{w['p_director']}", headers={"X-API-Key": "demo-market", "X-Purpose": header})
    assert r.status_code == 200
    assert audit_rows(path)[-1]["purpose"] == "调查核实"


# -- 8. no sweep past today ------------------------------------------------------------------------------------------
def test_notices_sweep_refuses_a_date_after_today(api) -> None:  # type: ignore[no-untyped-def]
    client, _, path = api
    r = client.post("/v1/notices/sweep?as_of=2099-12-31", headers=ADMIN)  # 9999 is refused as out of range
    assert r.status_code == 422 and r.json()["error"]["field"] == "as_of"
    assert "after today" in r.json()["error"]["message"]
    assert client.post("/v1/notices/sweep?as_of=2021-01-01", headers=ADMIN).status_code == 200


# -- 9. cost quotas for every role -----------------------------------------------------------------------------------
@pytest.mark.parametrize("role, headers", [("department", MARKET), ("investigator", INVESTIGATOR)])
def test_every_role_has_a_cost_quota(tmp_path: Path, role: str, headers: dict[str, str]) -> None:
    client, w, store = client_with(tmp_path, cost_per_minute=COST_PER_MINUTE | {role: 100})
    subjects = [w["org_a"], w["org_b"], w["org_c"]] * 10
    with client:
        body = {"matter": "government_procurement", "purpose": "x"}
        too_big = client.post("/v1/checks/batch", headers=headers, json=body | {"subjects": subjects, "depth": 3})
        assert too_big.status_code == 429 and too_big.json()["error"]["code"] == "cost_limited"
        assert "120 units" in too_big.json()["error"]["message"] and too_big.headers["Retry-After"] == "60"
        codes = [client.post("/v1/checks/batch", headers=headers,
                             json=body | {"subjects": subjects[:20], "depth": 1}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]  # 40 + 40 units, then 40 more would pass 100
        retry = client.post("/v1/checks/batch", headers=headers, json=body | {"subjects": subjects[:20], "depth": 1})
        assert 0 < int(retry.headers["Retry-After"]) <= 60
        # another key is not charged for this one
        assert client.post("/v1/checks", headers=ADMIN, json=body | {"subject": w["org_a"]}).status_code == 200
    store.close()


def test_cost_window_is_a_running_total(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request's charge costs the same however many are in the window (a running total, not a sum over
    the window: at 1,000 checks a second the window holds 60,000 entries), and expiry frees exactly the
    units that left it."""
    now = [1000.0]
    monkeypatch.setattr(security.time, "monotonic", lambda: now[0])
    limiter = security.CostLimiter({"department": 100})
    who = security.Principal("k1", "department", "x")
    for _ in range(30):
        assert limiter.take(who, 3) == 0.0
        now[0] += 1
    assert limiter.used["k1"] == 90 and limiter.take(who, 11) == pytest.approx(30.0)  # once the first entry left
    now[0] = 1000.0 + 61.5  # the entries of seconds 0 and 1 have left the window
    assert limiter.take(who, 5) == 0.0 and limiter.used["k1"] == 90 - 6 + 5
    assert limiter.used["k1"] == sum(c for _, c in limiter.spent["k1"])


def test_each_server_process_enforces_its_share_of_every_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --workers N`` processes count on their own, so each allows limit / N: the totals hold."""
    monkeypatch.setenv("GRAPH_CREDIT_WORKERS", "3")
    settings = Settings.from_env()
    assert settings.workers == 3
    app = create_app(Settings(workers=3, public_rate_per_minute=120, auth_failures_per_minute=2,
                              cost_per_minute={"public": 2000, "department": 8000, "investigator": 0}))
    assert app.state.limiter.per_minute == 40
    assert app.state.auth_limiter.per_minute == 1  # never 0: a limit that is not 0 lets some through
    assert app.state.cost_limiter.per_minute == {"public": 666, "department": 2666, "investigator": 0}
    assert create_app(Settings()).state.cost_limiter.per_minute == COST_PER_MINUTE  # one process: as set


def test_cost_quotas_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_CREDIT_COST", "department=500, investigator=700")
    costs = Settings.from_env().cost_per_minute
    assert costs["department"] == 500 and costs["investigator"] == 700 and costs["public"] == 2000


# -- 10 and 11. the real server: forwarded headers and the logs ------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_served_app_ignores_forwarded_for_from_untrusted_peers_and_masks_ids_in_its_logs(tmp_path: Path) -> None:
    path = tmp_path / "served.sqlite"
    store = SQLiteStore(path)
    w = build(Engine(store))
    store.close()
    port = free_port()
    env = {**os.environ, "GRAPH_CREDIT_DEMO": "1", "GRAPH_CREDIT_TODAY": "2021-01-01",
           "GRAPH_CREDIT_AUTH_FAILURES": "5", "GRAPH_CREDIT_WEBHOOK_INTERVAL": "0"}
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        # One process, so the exact count below is its own (several share it: tests/test_server_workers.py).
        proc = subprocess.Popen([sys.executable, "-m", "graph_credit.cli", "serve", "--store", str(path),
                                 "--port", str(port), "--workers", "1"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
            codes = [httpx.get(f"{base}/v1/policy", timeout=5, headers={
                "X-API-Key": f"guess-{i}", "X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(8)]
            assert codes == [401] * 5 + [429] * 3  # one client, whatever it claims to forward
            clear = w.id_numbers["p_director"]
            r = httpx.get(f"{base}/v1/subjects/{clear}?note={quote(spaced(clear))}&tel=13800138000", timeout=10,
                          headers={"X-API-Key": "demo-investigator", "X-Purpose": "log test"})
            assert r.status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    text = log.read_text()
    assert "GET /v1/subjects/" in text, text[-2000:]  # the access log is on
    for secret in (clear, spaced(clear), quote(spaced(clear)), "13800138000"):
        assert secret not in text, secret


def test_forwarded_for_is_believed_from_a_configured_proxy(tmp_path: Path) -> None:
    client, _, store = client_with(tmp_path, auth_failures_per_minute=2, trusted_proxies=("testclient",))
    with client:
        codes = [client.get("/v1/policy", headers={"X-API-Key": "guess", "X-Forwarded-For": f"198.51.100.{i // 2}"}
                            ).status_code for i in range(6)]
        assert codes == [401] * 6  # two failures per forwarded client address, each under the limit
    store.close()


@pytest.fixture
def logging_restored() -> Iterator[None]:
    names = ("", "uvicorn", "uvicorn.access", "uvicorn.error", "graph_credit")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    yield
    for n, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def test_log_filter_masks_access_and_error_lines(logging_restored) -> None:  # type: ignore[no-untyped-def]
    from graph_credit.cli import log_config

    logging.config.dictConfig(log_config())
    stream = io.StringIO()
    for name in ("uvicorn.access", "uvicorn.error", "graph_credit"):
        for handler in logging.getLogger(name).handlers:
            handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                                             f"/v1/subjects/{CLEAR_ID}?q={quote(hyphened(CLEAR_ID))}", "1.1", 200)
    try:
        raise ValueError(f"bad {CLEAR_ID}")
    except ValueError:
        logging.getLogger("graph_credit.api").exception("unhandled error on GET /v1/subjects/%s", CLEAR_ID)
    text = stream.getvalue()
    assert "/v1/subjects/110***********002X" in text and "bad 110***********002X" in text
    assert CLEAR_ID not in text and hyphened(CLEAR_ID) not in text and quote(hyphened(CLEAR_ID)) not in text


# -- 12. health without a key ----------------------------------------------------------------------------------------
def test_health_without_a_key_is_liveness_only(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    assert client.get("/v1/health").json() == {"status": "ok"}
    assert client.get("/v1/health", headers=PUBLIC).json()["counts"]["audit"] >= 0
    assert client.get("/v1/health", headers={"X-API-Key": "wrong"}).status_code == 401


# -- 13. keys and errors ---------------------------------------------------------------------------------------------
def test_keys_are_kept_as_digests_and_may_be_configured_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = "a-long-random-department-key-0123456789"
    monkeypatch.setenv("GRAPH_CREDIT_API_KEYS", json.dumps({
        f"sha256:{key_digest(secret)}": {"role": "department", "department": "finance", "name": "财政局"}}))
    store = SQLiteStore(tmp_path / "keys.sqlite")
    app = create_app(Settings(), store=store)
    assert secret not in app.state.keys and list(app.state.keys) == [key_digest(secret)]
    with TestClient(app) as client:
        assert client.get("/v1/policy", headers={"X-API-Key": secret}).status_code == 200
        assert client.get("/v1/policy", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        assert client.get("/v1/policy", headers={"X-API-Key": key_digest(secret)}).status_code == 401
    store.close()


def test_a_bug_raising_value_error_is_a_500_not_a_client_error(api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api

    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("jurisdiction: a bug, not the caller's input")

    monkeypatch.setattr("api.routers.admin.load_policy", broken)
    r = TestClient(client.app, raise_server_exceptions=False).get("/v1/policy", headers=PUBLIC)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "bug" not in r.text
    # domain errors stay 4xx naming the field
    r = client.get("/v1/policy?jurisdiction=atlantis", headers=PUBLIC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "jurisdiction"


# -- 14. headers and the documented auth scheme ----------------------------------------------------------------------
@pytest.mark.parametrize("method, url, headers, status", [
    ("GET", "/v1/policy", PUBLIC, 200), ("GET", "/v1/policy", {}, 401), ("GET", "/v1/subjects/x", PUBLIC, 422),
    ("GET", "/v1/facts/none/explain", PUBLIC, 404), ("GET", "/v1/health", {}, 200), ("GET", "/openapi.json", {}, 200),
])
def test_security_headers_on_every_response(api, method: str, url: str, headers: dict[str, str], status: int) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    r = client.request(method, url, headers=headers)
    assert r.status_code == status
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_security_headers_on_a_500(api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    monkeypatch.setattr("api.routers.admin.load_policy", lambda *a, **k: 1 / 0)
    r = TestClient(client.app, raise_server_exceptions=False).get("/v1/policy", headers=PUBLIC)
    assert r.status_code == 500 and r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


def test_openapi_states_the_auth_scheme(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"]["name"] == "X-API-Key" and schemes["HTTPBearer"]["scheme"] == "bearer"
    assert all(s.get("description") for s in schemes.values())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("security"), (method, path)

