"""Monitoring (subscriptions, alerts, webhook delivery) and withdrawal notices, on the hand-built world.

Known answers (tests/scenario.py): org_c's legal representative p_principal is also the principal of
org_a; a serious record on org_a reaches p_principal (P1 personal credit entry, P2 market ban, P3b
commendation bar), so a depth-1 watch on org_c sees exactly those three measures, one hop away.
The webhook is exercised against a real HTTP server on loopback.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import Settings, create_app
from graph_credit import monitor
from graph_credit.cases import open_case
from graph_credit.changes import Changes
from graph_credit.egress import EgressPolicy
from graph_credit.engine import Engine
from graph_credit.model import Cause, ListEntry, RecordEvent, Role, RoleEdge, stable_id
from graph_credit.monitor import notices as notices_module
from graph_credit.store import SQLiteStore, Store
from tests.helpers import ADMIN, FINANCE, INVESTIGATOR, MARKET
from tests.scenario import D, World, build, r1

ON = D("2021-01-01")
SECRET = "s3cret-for-tests-0123456789"
# The receivers below listen on loopback over plain http: allow-listed as a deployment would a private one.
LOOPBACK = EgressPolicy.of(allow_http=True, allow=["127.0.0.0/8"])
R2 = dict(record_id="R2", decision_date=D("2020-10-01"), act_date=D("2020-01-01"), period_end=D("2022-10-01"))


@pytest.fixture
def world(new_store: Callable[[], Store]) -> World:
    w = build(Engine(new_store()))
    w.engine.clock = lambda: ON
    return w


def watch(w: World, name: str, depth: int = 0, owner: str = "inv-1", department: str | None = None,
          url: str | None = None) -> dict[str, Any]:
    row, created, _ = monitor.subscribe(
        w.store, subject=w[name], depth=depth, owner_key=owner, owner_name=owner, role="investigator",
        department=department, purpose="test", since=ON, webhook_url=url, secret=SECRET if url else None,
        egress_policy=LOOPBACK)
    assert created
    return row


def alerts_of(w: World, sub: dict[str, Any]) -> list[dict[str, Any]]:
    return w.store.query("alerts", {"subscription_id": sub["id"]})


def named(w: World, key: str) -> str:
    return {v: k for k, v in w.ids.items()}[key]


# -- alerts -----------------------------------------------------------------------------------------
def test_depth_one_watch_alerts_once_for_a_record_on_the_representatives_other_firm(world: World) -> None:
    deep = watch(world, "org_c", depth=1)
    shallow = watch(world, "org_c", depth=0, owner="inv-2")
    world.engine.put_records([r1(world, **R2)])

    (alert,) = alerts_of(world, deep)
    assert alerts_of(world, shallow) == []  # the record's consequences never touch org_c itself
    assert alert["trigger"] == "record written" and alert["delivery_state"] == "none"
    items = alert["items"]
    assert {(named(world, i["subject"]), i["change"], i["distance"]) for i in items} == {
        ("p_principal", "added", 1)}
    assert {i["consequence"] for i in items} == {"personal_credit_entry", "responsible_person_punishment",
                                                 "market_ban", "commendation_ineligible"}
    assert all(i["cause"] == "record:R2" and i["status"] == "active" for i in items)
    (step,) = items[0]["via"]
    assert (step["holder"], step["role"], step["org"]) == (world["p_principal"], "LEGAL_REPRESENTATIVE",
                                                           world["org_c"])

    # the same write again, and a re-derivation of the same cause, change nothing: no second alert
    world.engine.put_records([r1(world, **R2)])
    world.engine.refresh([Cause("record", "R2")])
    assert len(alerts_of(world, deep)) == 1


def test_each_write_returns_its_changes_and_monitoring_records_them_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write (its nested re-derivation included) hands monitoring one Changes, once, and returns it."""
    from graph_credit import engine as engine_module

    seen: list[Changes] = []
    record_write = engine_module.monitor.record_write
    monkeypatch.setattr(engine_module.monitor, "record_write",
                        lambda store, changes, today: seen.append(changes) or record_write(store, changes, today))
    changes = world.engine.put_records([r1(world, **R2)])
    assert seen == [changes] and changes.reason == "record written"
    (before, after), = changes.records
    assert before is None and after.record_id == "R2" and changes.causes == 1 and changes.added
    world.engine.add_event(RecordEvent("R2", "objection_filed", D("2020-10-01")))
    assert len(seen) == 2 and seen[1].events[0][0].kind == "objection_filed"


def test_alert_ids_are_idempotent_when_a_change_is_replayed(world: World) -> None:
    sub = watch(world, "p_principal")
    facts = world.store.facts_of([world["p_principal"]])
    for _ in range(2):
        (alert,) = monitor.record_write(world.store, Changes("replay", added=facts), ON)
    assert [a["id"] for a in alerts_of(world, sub)] == [alert["id"]]


def test_roles_list_membership_and_record_lifecycle_alert_the_watched_subject(world: World) -> None:
    sub = watch(world, "org_c")
    edge = RoleEdge(world["p_manager"], Role.DIRECTOR, world["org_c"], D("2020-01-01"))
    world.engine.put_roles([edge])
    world.engine.put_roles([RoleEdge(edge.holder, edge.role, edge.org, edge.valid_from, D("2020-12-01"))])
    world.engine.delete_roles([edge.edge_id])
    black = ListEntry("B1", world["org_c"], "black", "失信黑名单", "market_regulation", "basis", D("2020-06-01"))
    world.engine.put_list_entries([black])
    world.engine.add_event(RecordEvent("B1", "exit", D("2020-12-01")))
    got = [(a["trigger"], sorted({(i["kind"], i["change"]) for i in a["items"]})) for a in alerts_of(world, sub)]
    assert got == [
        ("registration data changed", [("role", "added")]),
        ("registration data changed", [("role", "ended")]),
        ("registration data corrected", [("role", "deleted")]),
        ("list entry written", [("list_entry", "added"), ("measure", "added")]),
        ("exit", [("list_entry", "exit"), ("measure", "ended")]),
    ]
    exit_items = {(i["consequence"], i["change"]) for i in alerts_of(world, sub)[-1]["items"] if i["kind"] == "measure"}
    assert exit_items == {("key_supervision", "ended")}  # no aftercare outside Jiangyin (17)


def test_role_deleted_alert_names_the_related_parties_and_measures_that_left_the_watched_network(
        world: World) -> None:
    # org_c watched 2 hops out: p_principal (its legal representative) at 1, org_a (where p_principal is the
    # principal) at 2. Deleting that legal representative edge takes both out of the network, with their
    # measures: p_principal's P1, P2, P3b and org_a's P0, P2, P3, P3b, all from R1 and still in force.
    sub = watch(world, "org_c", depth=2)
    edge = next(e for e in world.store.roles_of([world["org_c"]], "in") if e.holder == world["p_principal"])
    world.engine.delete_roles([edge.edge_id])
    (alert,) = alerts_of(world, sub)
    (item,) = [i for i in alert["items"] if (i["kind"], i["change"]) == ("role", "deleted")]
    left = {named(world, p["subject"]): (p["distance"], sorted((m["rule_id"], m["removed"]) for m in p["measures"]))
            for p in item["left_network"]}
    assert left == {"p_principal": (1, [("P1", False), ("P1b", False), ("P2", False), ("P3b", False)]),
                    "org_a": (2, [("P0", False), ("P2", False), ("P3", False), ("P3b", False)])}
    assert all(m["cause"] == "record:R1" and m["status"] == "active" for p in item["left_network"]
               for m in p["measures"])


def test_role_deleted_alert_lists_the_measures_the_deletion_removed(world: World) -> None:
    # org_a watched 1 hop out; p_principal's principal edge is deleted: p_principal leaves, and the P1, P1b,
    # P2 and P3b it carried for R1 (derived through that edge) are removed with it
    sub = watch(world, "org_a", depth=1)
    edge = next(e for e in world.store.roles_of([world["org_a"]], "in")
                if e.holder == world["p_principal"] and e.role == Role.PRINCIPAL)
    world.engine.delete_roles([edge.edge_id])
    (alert,) = alerts_of(world, sub)
    (item,) = [i for i in alert["items"] if (i["kind"], i["change"]) == ("role", "deleted")]
    (party,) = item["left_network"]
    assert (party["subject"], party["distance"]) == (world["p_principal"], 1)
    assert sorted((m["rule_id"], m["removed"]) for m in party["measures"]) == [
        ("P1", True), ("P1b", True), ("P2", True), ("P3b", True)]


def test_without_subscriptions_a_write_pays_one_journal_query(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    real = world.store.query

    def counting(table, where=None, limit=None):  # type: ignore[no-untyped-def]
        calls.append(table)
        return real(table, where, limit)

    monkeypatch.setattr(world.store, "query", counting)
    world.engine.put_records([r1(world, **R2)])
    assert calls.count("subscriptions") == 1 and "alerts" not in calls
    assert world.store.counts()["alerts"] == 0


def test_objection_upheld_alerts_and_notices_the_departments_with_case_items(world: World) -> None:
    sub = watch(world, "org_a", department="finance", owner="key-fin")
    case = open_case(world.store, Cause("record", "R1"), "market_regulation", ON)
    items = world.store.query("case_items", {"case_id": case["id"]})
    world.engine.add_event(RecordEvent("R1", "objection_filed", D("2021-01-05")))
    world.engine.add_event(RecordEvent("R1", "objection_upheld", D("2021-01-20"), detail="记录有误"))

    filed, upheld = alerts_of(world, sub)
    assert {(i["kind"], i["change"]) for i in filed["items"]} == {("record", "objection_filed"),
                                                                  ("measure", "suspended")}
    assert {(i["kind"], i["change"]) for i in upheld["items"]} == {("record", "objection_upheld"),
                                                                   ("measure", "withdrawn")}
    assert all(i["subject"] == world["org_a"] for i in upheld["items"])

    notices = world.store.query("notices", {"reason": "objection_upheld"})
    by_fact = {it["fact_id"] for it in items}
    for n in notices:
        if n["change"] == "withdrawn":
            expected = {it["department"] for it in items if it["fact_id"] == n["fact_id"]}
            assert set(n["departments"]) >= expected
            assert (n["fact_id"] in by_fact) == bool(n["departments"])
            assert n["still_applies_via"] == []
    (clarification,) = [n for n in notices if n["change"] == "clarification"]
    assert set(clarification["departments"]) == {it["department"] for it in items}
    assert len(clarification["items"]) == len(items)

    mine = monitor.notices_for(world.store, "finance")
    assert mine and all(n["items"] and {i["department"] for i in n["items"]} == {"finance"} for n in mine)
    assert all(n["acknowledged"] is None for n in mine)
    first = monitor.acknowledge_notice(world.store, mine[0]["id"], "finance", "财政局", "lifted")
    again = monitor.acknowledge_notice(world.store, mine[0]["id"], "finance", "someone else")
    assert first["acknowledged"] == again["acknowledged"] and again["acknowledged"]["by"] == "财政局"
    assert len(monitor.notices_for(world.store, "finance", acknowledged=False)) == len(mine) - 1
    foreign = next(n for n in notices if n["departments"] and "finance" not in n["departments"])
    with pytest.raises(KeyError):
        monitor.acknowledge_notice(world.store, foreign["id"], "finance", "财政局")


def test_repair_and_corrected_registration_notices_name_the_departments(world: World) -> None:
    case = open_case(world.store, Cause("record", "R1"), "market_regulation", ON)
    items = world.store.query("case_items", {"case_id": case["id"]})
    world.engine.add_event(RecordEvent("R1", "repair_applied", D("2021-03-01")))
    world.engine.add_event(RecordEvent("R1", "repair_approved", D("2021-04-01")))
    repaired = world.store.query("notices", {"change": "repaired"})
    assert repaired and all(n["reason"] == "repair_approved" and n["effective"] == "2021-04-01" for n in repaired)
    assert any(n["departments"] for n in repaired)

    old_lr = next(e for e in world.store.roles_of([world["org_a"]], "in") if e.holder == world["p_lr_old"])
    world.engine.delete_roles([old_lr.edge_id])
    removed = world.store.query("notices", {"change": "removed"})
    assert {n["target"] for n in removed} == {world["p_lr_old"]}
    lr_items = {it["department"] for it in items if it["target"] == world["p_lr_old"]}
    assert set().union(*(n["departments"] for n in removed)) == lr_items
    assert all(n["reason"] == "registration data corrected" for n in removed)


def test_expiry_sweep_notices_departments_and_alerts_watchers_once(
    world: World, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sub = watch(world, "p_principal")
    case = open_case(world.store, Cause("record", "R1"), "market_regulation", ON)
    items = world.store.query("case_items", {"case_id": case["id"]})
    assert monitor.notices_due(world.store, D("2023-08-31")) == []
    end = D("2023-09-01")  # R1's punishment period ends: P2 market bans and P3 bars expire
    first = monitor.sweep(world.store, end)
    expiring = {f.fact_id for f in world.store.facts_by_cause([Cause("record", "R1")]) if f.valid_to == end}
    notices = world.store.query("notices", {"change": "expired"})
    assert {n["fact_id"] for n in notices} == expiring & {it["fact_id"] for it in items}
    assert all(n["departments"] and n["reason"] == "expiry" and n["effective"] == "2023-09-01" for n in notices)
    assert first["notices_new"] == len(notices) and first["alerts_new"] == 1
    (alert,) = alerts_of(world, sub)
    assert alert["trigger"] == "expiry" and {i["change"] for i in alert["items"]} == {"expired"}
    assert {i["consequence"] for i in alert["items"]} == {"market_ban", "commendation_ineligible",
                                                          "personal_credit_entry", "responsible_person_punishment"}
    addressed: list[dict] = []
    real = notices_module.address_notices
    monkeypatch.setattr(notices_module, "address_notices", lambda s, ns, fs=(): addressed.extend(ns) or real(s, ns, fs))
    again = monitor.sweep(world.store, D("2023-10-01"))
    assert (again["notices_new"], again["alerts_new"]) == (0, 0)
    assert addressed == [] and again["notices_due"] == first["notices_due"]  # stored notices are not readdressed


# -- webhook delivery against a real receiver ---------------------------------------------------------
class Receiver:
    """An HTTP server on 127.0.0.1 (port 0) answering POSTs with scripted statuses, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def dead_url() -> str:
    """A loopback port nothing listens on: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_webhook_delivers_signed_alert_once(world: World, receiver) -> None:  # type: ignore[no-untyped-def]
    rx = receiver()
    sub = watch(world, "org_c", depth=1, url=rx.url)
    world.engine.put_records([r1(world, **R2)])
    (alert,) = alerts_of(world, sub)
    assert (alert["delivery_state"], alert["attempts"]) == ("pending", 0)

    now = datetime.now(UTC)
    policy = monitor.DeliveryPolicy(egress_policy=LOOPBACK)
    report = monitor.deliver_pending(world.store, now, monitor.httpx_post, policy)
    assert report["delivered"] == [alert["id"]]
    (headers, body), = rx.requests
    ts, signature = headers[monitor.TIMESTAMP_HEADER.lower()], headers[monitor.SIGNATURE_HEADER.lower()]
    assert monitor.verify_signature(SECRET, body, ts, signature, now=time.time())
    assert not monitor.verify_signature("another-secret-0123456789", body, ts, signature)
    assert not monitor.verify_signature(SECRET, body + b" ", ts, signature)
    sent = json.loads(body)
    assert sent["type"] == "graph_credit.alert" and sent["alert"]["id"] == alert["id"]
    assert headers[monitor.ALERT_HEADER.lower()] == alert["id"] and len(sent["alert"]["items"]) == 4

    (stored,) = alerts_of(world, sub)
    assert (stored["delivery_state"], stored["attempts"], stored["last_status"]) == ("delivered", 1, 200)
    assert monitor.deliver_pending(world.store, now + timedelta(hours=1), monitor.httpx_post, policy)["due"] == 0
    assert len(rx.requests) == 1
    audit = world.store.query("audit", {"id": stable_id("webhook", alert["id"])})
    assert audit and audit[0]["persons"] == [world["p_principal"]] and audit[0]["purpose"] == "test"


def test_a_delivered_alert_naming_only_organisations_and_consequences_is_not_logged_as_personal_data(
    world: World,
) -> None:
    """The audit of a webhook delivery names the persons it carried. A consequence name of 25 characters
    starting with "p" (public_institution_lr_bar) is not a person key: monitoring used its own copy of the
    person finder, without the check the API's had, and logged the consequence as a person."""
    sub = watch(world, "org_c", url="http://127.0.0.1:9/hook")
    now = datetime.now(UTC)
    item = {"kind": "measure", "change": "added", "subjects": [world["org_c"]], "subject": world["org_c"],
            "consequence": "public_institution_lr_bar", "item_id": "i1", "distance": 0, "via": []}
    world.store.append("alerts", [{
        "id": "a-lr-bar", "subscription_id": sub["id"], "subject": world["org_c"], "depth": 0, "items": [item],
        "delivery_state": "pending", "attempts": 0, "next_attempt_at": now.isoformat(), "history": []}])
    policy = monitor.DeliveryPolicy(egress_policy=LOOPBACK)
    report = monitor.deliver_pending(world.store, now, lambda *a: 200, policy)
    assert report["delivered"] == ["a-lr-bar"]
    assert world.store.query("audit", {"id": stable_id("webhook", "a-lr-bar")}) == []


def test_webhook_retries_with_backoff_until_the_receiver_recovers(world: World, receiver) -> None:  # type: ignore[no-untyped-def]
    rx = receiver([500, 500])
    sub = watch(world, "org_c", depth=1, url=rx.url)
    world.engine.put_records([r1(world, **R2)])
    policy = monitor.DeliveryPolicy(max_attempts=5, backoff=30, egress_policy=LOOPBACK)
    t0 = datetime.now(UTC)
    assert monitor.deliver_pending(world.store, t0, policy=policy)["retrying"]
    (a,) = alerts_of(world, sub)
    assert (a["delivery_state"], a["attempts"], a["last_error"]) == ("pending", 1, "HTTP 500")
    assert datetime.fromisoformat(a["next_attempt_at"]) == t0 + timedelta(seconds=30)
    assert monitor.deliver_pending(world.store, t0 + timedelta(seconds=10), policy=policy)["due"] == 0
    t1 = t0 + timedelta(seconds=31)
    assert monitor.deliver_pending(world.store, t1, policy=policy)["retrying"]
    (a,) = alerts_of(world, sub)
    assert datetime.fromisoformat(a["next_attempt_at"]) == t1 + timedelta(seconds=60)  # doubled
    assert monitor.deliver_pending(world.store, t1 + timedelta(seconds=61), policy=policy)["delivered"]
    (a,) = alerts_of(world, sub)
    assert (a["delivery_state"], a["attempts"], a["last_status"], a["last_error"]) == ("delivered", 3, 200, None)
    assert [h["status"] for h in a["history"]] == [500, 500, 200]
    assert len(rx.requests) == 3 and len({b for _, b in rx.requests}) == 1  # the same body each time


# -- the API ----------------------------------------------------------------------------------------
@pytest.fixture
def api(tmp_path, serve) -> Iterator[tuple[TestClient, World]]:  # type: ignore[no-untyped-def]
    store = SQLiteStore(tmp_path / "monitor.sqlite")
    world = build(Engine(store))
    yield serve(store, today=ON, webhook_max_attempts=3, webhook_backoff=0, webhook_receivers=LOOPBACK), world
    store.close()


R9 = {"record_id": "R9", "category": "tax_evasion", "severity": "serious", "act_date": "2020-11-01",
      "decision_date": "2020-12-01", "period_end": "2022-12-01"}


def test_api_subscriptions_are_private_to_their_owner(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    body = {"subject": w["org_c"], "depth": 1, "purpose": "重点监管"}
    assert client.post("/v1/subscriptions", json=body, headers={"X-API-Key": "demo-public"}).status_code == 403
    r = client.post("/v1/subscriptions", json=body | {"webhook_url": "http://127.0.0.1:9/x"}, headers=MARKET)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["secret"] and sub["secret_set"] and sub["department"] == "market_regulation"
    again = client.post("/v1/subscriptions", json=body | {"webhook_url": "http://127.0.0.1:9/x"}, headers=MARKET)
    assert again.status_code == 200 and again.json()["id"] == sub["id"] and "secret" not in again.json()
    inv = client.post("/v1/subscriptions", json=body, headers=INVESTIGATOR).json()

    def ids(headers: dict[str, str]) -> set[str]:
        r = client.get("/v1/subscriptions", headers=headers)
        assert r.status_code == 200, r.text
        assert all("secret" not in s for s in r.json()["subscriptions"])
        return {s["id"] for s in r.json()["subscriptions"]}

    assert ids(MARKET) == {sub["id"]} and ids(INVESTIGATOR) == {inv["id"]} and ids(FINANCE) == set()
    assert ids(ADMIN) == {sub["id"], inv["id"]}
    long = client.get("/v1/subscriptions", headers=MARKET | {"X-Purpose": "x" * 201})
    assert long.status_code == 422 and long.json()["error"]["field"] == "X-Purpose"
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=FINANCE).status_code == 404
    assert client.delete(f"/v1/subscriptions/{inv['id']}", headers=MARKET).status_code == 404
    r = client.delete(f"/v1/subscriptions/{sub['id']}", headers=MARKET)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"

    for bad, field in (({"depth": 4}, "depth"), ({"webhook_url": "ftp://x"}, "webhook_url"),
                       ({"subject": "91110105000000999X"}, "subject")):
        r = client.post("/v1/subscriptions", json=body | bad, headers=MARKET)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


def test_api_alerts_listed_per_owner_and_a_dead_receiver_ends_failed(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    url = dead_url()
    sub = client.post("/v1/subscriptions", json={"subject": w["org_c"], "depth": 1, "purpose": "跟踪",
                                                "webhook_url": url, "secret": SECRET}, headers=MARKET).json()
    assert client.post("/v1/records", json=R9 | {"subject": w["org_a"]}, headers=FINANCE).status_code == 201
    r = client.get("/v1/alerts", headers=MARKET)
    (alert,) = r.json()["alerts"]
    assert alert["subscription_id"] == sub["id"] and alert["delivery_state"] == "pending"
    assert client.get("/v1/alerts", headers={"X-API-Key": "demo-market"}).status_code == 400  # personal data
    assert client.get("/v1/alerts", headers=FINANCE).json()["alerts"] == []
    assert client.get(f"/v1/alerts/{alert['id']}", headers=FINANCE).status_code == 404
    assert client.post("/v1/deliveries", headers=MARKET).status_code == 403

    for _ in range(3):  # backoff 0, three attempts allowed
        assert client.post("/v1/deliveries", headers=ADMIN).status_code == 200
    (failed,) = client.get("/v1/alerts?state=failed", headers=MARKET).json()["alerts"]
    assert failed["id"] == alert["id"] and failed["attempts"] == 3 and failed["next_attempt_at"] is None
    # what failed, without the socket error's detail (a port scanner would read it)
    assert failed["last_error"] == "delivery failed: receiver refused or unreachable" and len(failed["history"]) == 3
    assert client.post("/v1/deliveries", headers=ADMIN).json()["due"] == 0  # kept, not retried forever
    r = client.post(f"/v1/alerts/{alert['id']}/retry", headers=MARKET)
    assert r.status_code == 200 and (r.json()["delivery_state"], r.json()["attempts"]) == ("pending", 0)
    assert client.post(f"/v1/alerts/{alert['id']}/retry", headers=MARKET).status_code == 422


def test_api_notices_per_department_with_acknowledgement(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    assert client.post("/v1/cases", json={"cause_id": "R1"}, headers=MARKET).status_code == 201
    for kind, on in (("objection_filed", "2021-01-05"), ("objection_upheld", "2021-01-20")):
        assert client.post("/v1/records/R1/events", json={"kind": kind, "on": on}, headers=MARKET).status_code == 201
    fin = client.get("/v1/notices", headers=FINANCE).json()["notices"]
    assert fin and all(n["department"] == "finance" and n["items"] for n in fin)
    assert all(i["department"] == "finance" for n in fin for i in n["items"])
    assert {n["change"] for n in fin} == {"withdrawn", "clarification"}
    everything = client.get("/v1/notices", headers=ADMIN).json()["notices"]
    foreign = [n for n in everything if n["departments"] and "finance" not in n["departments"]]
    assert foreign and not {n["id"] for n in foreign} & {n["id"] for n in fin}
    assert client.post(f"/v1/notices/{foreign[0]['id']}/ack", json={}, headers=FINANCE).status_code == 404
    assert client.get("/v1/notices", headers=INVESTIGATOR).status_code == 403

    r = client.post(f"/v1/notices/{fin[0]['id']}/ack", json={"note": "已解除限制"}, headers=FINANCE)
    assert r.status_code == 200 and r.json()["acknowledged"]["note"] == "已解除限制"
    pending = client.get("/v1/notices?acknowledged=false", headers=FINANCE).json()["notices"]
    assert len(pending) == len(fin) - 1 and fin[0]["id"] not in {n["id"] for n in pending}
    # the same notice is still unacknowledged for the other departments it was addressed to
    other = next(d for d in everything if d["id"] == fin[0]["id"])["departments"]
    dept = next(d for d in other if d != "finance")
    view = client.get(f"/v1/notices?department={dept}&acknowledged=false", headers=ADMIN).json()["notices"]
    assert fin[0]["id"] in {n["id"] for n in view}

    assert client.post("/v1/notices/sweep?as_of=2023-09-02", headers=MARKET).status_code == 403
    client.app.state.settings.today = D("2023-09-02")  # type: ignore[attr-defined]
    swept = client.post("/v1/notices/sweep?as_of=2023-09-02", headers=ADMIN).json()
    assert swept["notices_new"] == 0  # everything was withdrawn before it could expire


def test_background_deliverer_posts_alerts_written_through_the_api(tmp_path, receiver) -> None:  # type: ignore[no-untyped-def]
    rx = receiver()
    store = SQLiteStore(tmp_path / "bg.sqlite")
    w = build(Engine(store))
    settings = Settings(demo=True, today=ON, webhook_interval=0.05, webhook_receivers=LOOPBACK)
    with TestClient(create_app(settings, store=store)) as client:
        client.post("/v1/subscriptions", json={"subject": w["org_c"], "depth": 1, "purpose": "跟踪",
                                               "webhook_url": rx.url, "secret": SECRET}, headers=MARKET)
        started = time.monotonic()
        assert client.post("/v1/records", json=R9 | {"subject": w["org_a"]}, headers=FINANCE).status_code == 201
        while not rx.requests and time.monotonic() - started < 10:
            time.sleep(0.02)
        assert len(rx.requests) == 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            (alert,) = client.get("/v1/alerts", headers=MARKET).json()["alerts"]
            if alert["delivery_state"] == "delivered":
                break
            time.sleep(0.02)
        assert alert["delivery_state"] == "delivered" and alert["attempts"] == 1
        headers, body = rx.requests[0]
        assert monitor.verify_signature(SECRET, body, headers["x-graph-credit-timestamp"],
                                        headers["x-graph-credit-signature"])
    assert client.app.state.deliverer.rounds >= 1  # type: ignore[attr-defined]


def test_own_subscriptions_need_no_purpose_and_an_ack_no_body(api) -> None:  # type: ignore[no-untyped-def]
    """Stumble 7 (issue 15): listing or deleting one's own subscriptions asked for X-Purpose (given when
    subscribing), and an acknowledgement insisted on a JSON body."""
    client, w = api
    plain = {"X-API-Key": MARKET["X-API-Key"]}  # no X-Purpose
    sub = client.post("/v1/subscriptions", json={"subject": w["p_principal"], "purpose": "重点监管"}, headers=MARKET)
    assert sub.status_code == 201, sub.text
    r = client.get("/v1/subscriptions", headers=plain)
    assert r.status_code == 200 and [s["id"] for s in r.json()["subscriptions"]] == [sub.json()["id"]], r.text
    r = client.delete(f"/v1/subscriptions/{sub.json()['id']}", headers=plain)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    audit = client.get("/v1/audit", headers=ADMIN).json()["entries"]
    assert any(e["what"] == "subscriptions" and e["purpose"] == "the caller's own subscriptions" for e in audit)

    assert client.post("/v1/cases", json={"cause_id": "R1"}, headers=MARKET).status_code == 201
    assert client.post("/v1/records/R1/events", json={"kind": "revoked", "on": "2021-01-05"},
                       headers=MARKET).status_code == 201
    notice = client.get("/v1/notices", headers=FINANCE).json()["notices"][0]
    r = client.post(f"/v1/notices/{notice['id']}/ack", headers=FINANCE)  # no body at all
    assert r.status_code == 200 and r.json()["acknowledged"]["note"] == "", r.text


def test_a_watched_list_term_ending_alerts_at_the_sweep(api) -> None:  # type: ignore[no-untyped-def]
    """Stumble 5 (issue 15): the sweep skipped facts ended by a list entry's scheduled exit, so a watched
    red or black listing that ran out never alerted (the README promises alerts on losing list membership)."""
    client, w = api
    assert client.post("/v1/subscriptions", json={"subject": w["org_c"], "purpose": "重点监管"},
                       headers=MARKET).status_code == 201
    red = {"entry_id": "RD1", "subject": w["org_c"], "list": "red", "name": "诚信典型", "valid_from": "2020-12-01",
           "valid_to": "2021-06-01", "status": "effective"}
    assert client.post("/v1/list-entries", json=red, headers=FINANCE).status_code == 201
    client.app.state.settings.today = D("2021-06-02")  # type: ignore[attr-defined]
    swept = client.post("/v1/notices/sweep", headers=ADMIN).json()
    assert swept["alerts_new"] == 1, swept
    alerts = client.get("/v1/alerts", headers=MARKET).json()["alerts"]
    (expiry,) = [a for a in alerts if a["trigger"] == "expiry"]
    assert {(i["consequence"], i["change"], i["ended_by"]) for i in expiry["items"]} == {
        ("green_channel", "exited", "scheduled_exit")}
