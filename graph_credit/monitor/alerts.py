"""Monitoring (subscriptions, alerts, webhook delivery) and withdrawal notices addressed to departments.

Subscriptions
    A department or an investigator watches a subject, optionally with its related parties up to
    ``depth`` role edges away (as of the service's today). Rows live in the ``subscriptions``
    journal; the id is derived from (owner, subject, depth, webhook), so subscribing twice is a no-op.

Alerts
    Every engine write collects what it changed (records, list entries, role edges, lifecycle events,
    and derived facts: added, ended, withdrawn, suspended, resumed, removed) in a ``Changes``; before
    the write commits, ``record_write`` matches the changes against the active subscriptions and appends one
    alert per subscription, in the same transaction. The alert id is a hash of the subscription and the
    changes, so replaying a write cannot produce a second alert. With no active subscription monitoring
    costs one journal query per write. The engine calls ``record_write`` once per write, at its end.

Delivery
    An alert of a subscription with a webhook starts ``pending``. ``deliver_pending`` posts due alerts
    (JSON body, HMAC-SHA256 signature over ``"<timestamp>.<body>"`` with the subscription's secret),
    and on failure retries with exponential backoff until ``max_attempts``, then marks it ``failed``.
    Each alert keeps its state, attempts, last status and error, next attempt and the attempt history:
    nothing is dropped silently. The webhook URL is checked (``graph_credit.egress``) when subscribing
    and again before every attempt, and the request goes to the address checked; the error shown to
    the subscriber says what failed without internal detail (which is logged). Delivery runs outside
    the write path (a background thread in the API, ``graph-credit deliver`` on the command line) and
    is at-least-once: receivers dedupe on the alert id.

Withdrawal notices
    The engine journals a notice whenever a consequence is removed or ended early (objection upheld,
    revocation, repair, exit, corrected registration data). ``address_notices`` addresses each one to
    the departments whose case items (``graph_credit.cases``) reference the fact, or the same
    consequence on the same target from the same cause, naming their measures. Natural expiry is not
    a write, so ``notices_due`` (and ``sweep``) produce expiry notices and expiry alerts as of a date.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from .. import egress
from ..changes import Changes
from ..errors import DomainError
from ..graph.traversal import Step, neighbourhood
from ..ids import persons_in
from ..journal import Alert, Notice, NoticeView, Subscription, SubscriptionView
from ..model import Cause, DerivedFact, RoleEdge, stable_id
from ..store.base import Direction, NotFound, Store

__all__ = [
    "ALERT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeliveryPolicy",
    "Deliverer",
    "acknowledge_notice",
    "address_notices",
    "alerts_due",
    "deliver_pending",
    "department_view",
    "httpx_post",
    "notices_due",
    "notices_for",
    "record_write",
    "retry_alert",
    "sign",
    "subscribe",
    "subscription_view",
    "sweep",
    "unsubscribe",
    "verify_signature",
]

logger = logging.getLogger(__name__)

MAX_DEPTH = 3
MAX_FANOUT = 200
SIGNATURE_HEADER = "X-Graph-Credit-Signature"
TIMESTAMP_HEADER = "X-Graph-Credit-Timestamp"
ALERT_HEADER = "X-Graph-Credit-Alert"
# pending -> delivered | failed (after max_attempts) | cancelled (subscription ended first);
# "none": the subscription has no webhook, the alert is read through the API only.
DELIVERY_STATES = ("pending", "delivered", "failed", "cancelled", "none")
EARLY_ENDS = ("withdrawn", "repaired", "exited")

HttpPost = Callable[[egress.Target, bytes, dict[str, str], float], int]
"""``http_post(target, body, headers, timeout) -> HTTP status``, connecting to ``target.address``;
raises on a transport error."""


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


def _key(item: dict[str, Any]) -> str:
    return stable_id(json.dumps(item, sort_keys=True, ensure_ascii=False, default=str))


# -- subscriptions -------------------------------------------------------------------------------------
def subscribe(
    store: Store, *, subject: str, depth: int, owner_key: str, owner_name: str, role: str,
    department: str | None, purpose: str, since: date, webhook_url: str | None = None,
    secret: str | None = None, label: str = "", egress_policy: egress.EgressPolicy | None = None,
) -> tuple[Subscription, bool, str | None]:
    """Create (or reactivate) a subscription: returns (row, created, generated secret to show once).

    A department's subscriptions belong to the department, anyone else's to the key that made them.
    The webhook URL must pass ``egress_policy`` (default: public https receivers only).
    """
    if not 0 <= depth <= MAX_DEPTH:
        raise DomainError(f"depth: must be between 0 and {MAX_DEPTH}")
    if webhook_url is not None:
        egress.resolve(webhook_url, egress_policy or egress.EgressPolicy())
    owner = f"department:{department}" if department else f"key:{owner_key}"
    sub_id = stable_id("subscription", owner, subject, depth, webhook_url or "")
    generated = secrets.token_urlsafe(32) if webhook_url and not secret else None
    with store.transaction():
        found = store.query("subscriptions", {"id": sub_id})
        if found and found[0]["status"] == "active":
            return cast(Subscription, found[0]), False, None
        row = {
            "id": sub_id, "subject": subject, "depth": depth, "department": department, "owner_key": owner_key,
            "owner": owner_name, "role": role, "purpose": purpose, "label": label, "webhook_url": webhook_url,
            "secret": secret or generated, "status": "active", "since": since.isoformat(),
            "created_at": _now().isoformat(), "cancelled_at": None,
        }
        if found:
            row = store.update("subscriptions", sub_id, row)
        else:
            store.append("subscriptions", [row])
    return cast(Subscription, row), True, generated


def unsubscribe(store: Store, sub_id: str) -> Subscription:
    """Cancel a subscription; its undelivered alerts become ``cancelled`` (kept, visible)."""
    with store.transaction():
        found = store.query("subscriptions", {"id": sub_id})
        if not found:
            raise NotFound(f"subscription_id: no subscription {sub_id!r}")
        if found[0]["status"] != "active":
            return cast(Subscription, found[0])
        row = store.update("subscriptions", sub_id, {"status": "cancelled", "cancelled_at": _now().isoformat()})
        for alert in store.query("alerts", {"subscription_id": sub_id, "delivery_state": "pending"}):
            store.update("alerts", alert["id"], {"delivery_state": "cancelled", "next_attempt_at": None,
                                                 "last_error": "subscription cancelled before delivery"})
    return cast(Subscription, row)


def subscription_view(row: Mapping[str, Any]) -> SubscriptionView:
    """A subscription as shown through the API: never its secret."""
    out = {k: v for k, v in row.items() if k != "secret"}
    out["secret_set"] = bool(row.get("secret"))
    return cast(SubscriptionView, out)


# -- change collection and alerts ---------------------------------------------------------------------
def _fact_item(f: DerivedFact, change: str, today: date) -> dict[str, Any]:
    return {"kind": "measure", "change": change, "subjects": [f.target], "subject": f.target,
            "fact_id": f.fact_id, "cause": str(f.cause), "consequence": f.consequence, "rule_id": f.rule_id,
            "target_role": f.target_role, "valid_from": _iso(f.valid_from), "valid_to": _iso(f.valid_to),
            "ended_by": f.ended_by, "object_id": f.object_id, "status": f.status_on(today)}


def _fact_change(old: DerivedFact | None, new: DerivedFact) -> str:
    if old is None:
        return "added"
    if new.ended_by is not None and new.ended_by != old.ended_by:
        return "withdrawn" if new.ended_by == "withdrawn" else "ended"
    was_open = any(b is None for _, b in old.suspended)
    is_open = any(b is None for _, b in new.suspended)
    if is_open and not was_open:
        return "suspended"
    if was_open and not is_open:
        return "resumed"
    return "changed"


def _items(changes: Changes, today: date) -> list[dict[str, Any]]:
    """The alert items of one write: each stored item that changed, each lifecycle event, each fact."""
    items: list[dict[str, Any]] = []

    def add(item: dict[str, Any]) -> None:
        item["item_id"] = _key({k: v for k, v in item.items() if k != "status"})
        items.append(item)

    for old, r in changes.records:
        if old != r:
            add({"kind": "record", "change": "added" if old is None else "changed",
                 "subjects": sorted({r.subject} | ({old.subject} if old else set())), "subject": r.subject,
                 "record_id": r.record_id, "category": r.category, "severity": r.severity,
                 "decision_date": _iso(r.decision_date), "act_date": _iso(r.act_date),
                 "period_end": _iso(r.period_end), "department": r.department})
    for old_entry, e in changes.list_entries:
        if old_entry != e:
            add({"kind": "list_entry", "change": "added" if old_entry is None else "changed",
                 "subjects": sorted({e.subject} | ({old_entry.subject} if old_entry else set())),
                 "subject": e.subject, "entry_id": e.entry_id, "list": e.list, "name": e.name, "status": e.status,
                 "previous_status": old_entry.status if old_entry else None, "valid_from": _iso(e.valid_from),
                 "valid_to": _iso(e.valid_to), "determining_unit": e.determining_unit})
    roles = [(edge, "added" if old_edge is None else "ended" if old_edge.valid_to is None and edge.valid_to is not None
              else "changed") for old_edge, edge in changes.roles if old_edge != edge]
    for edge, change in [*roles, *((edge, "deleted") for edge in changes.roles_deleted)]:
        add({"kind": "role", "change": change, "subjects": sorted({edge.holder, edge.org}), "subject": edge.org,
             "edge_id": edge.edge_id, "holder": edge.holder, "role": edge.role.value, "org": edge.org,
             "valid_from": _iso(edge.valid_from), "valid_to": _iso(edge.valid_to), "ratio": edge.ratio})
    for event, cause, subject in changes.events:
        kind, id_field = ("record", "record_id") if cause.kind == "record" else ("list_entry", "entry_id")
        add({"kind": kind, "change": event.kind, "subjects": [subject], "subject": subject,
             id_field: cause.id, "event_id": event.event_id, "on": _iso(event.on), "detail": event.detail})
    for f in changes.added:
        add(_fact_item(f, _fact_change(changes.prior.get(f.fact_id), f), today))
    for f in changes.removed:
        add(_fact_item(f, "removed", today))
    return items


class _Restored:
    """The store's role edges as they were before ``deleted`` were deleted, for the generic traversal (it has
    no ``traverse``, so ``neighbourhood`` reads ``roles_of``): who was in a watched network before."""

    def __init__(self, store: Store, deleted: Sequence[RoleEdge]) -> None:
        self._store, self._deleted = store, deleted

    def roles_of(self, nodes: Sequence[str], direction: Direction = "both", as_of: date | None = None
                 ) -> list[RoleEdge]:
        wanted = set(nodes)
        back = [e for e in self._deleted if (as_of is None or e.active_on(as_of))
                and ((direction != "out" and e.org in wanted) or (direction != "in" and e.holder in wanted))]
        return [*self._store.roles_of(nodes, direction, as_of), *back]


def _via(steps: Iterable[Step]) -> list[dict[str, Any]]:
    return [{"edge_id": s.edge_id, "holder": s.holder, "role": s.role, "org": s.org,
             "valid_from": _iso(s.valid_from), "valid_to": _iso(s.valid_to)} for s in steps]


Match = tuple[dict[str, Any], int, list[dict[str, Any]]]  # item, distance, path from the watched subject


def _match(
    store: Store, subs: list[dict[str, Any]], items: list[dict[str, Any]], as_of: date, max_fanout: int
) -> dict[str, list[Match]]:
    """For each subscription, the items touching a subject within its depth (shortest path)."""
    by_subject: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        for s in item["subjects"]:
            by_subject[s].append(i)
    reach: dict[tuple[str, str], tuple[int, list[dict[str, Any]]]] = {
        (sub["subject"], sub["subject"]): (0, []) for sub in subs if sub["subject"] in by_subject}
    deep: dict[str, int] = {}
    for sub in subs:
        if sub["depth"] > 0:
            deep[sub["subject"]] = max(deep.get(sub["subject"], 0), int(sub["depth"]))
    changed = sorted(by_subject)
    if deep and len(deep) <= len(changed):  # walk out from the watched subjects
        for s, depth in sorted(deep.items()):
            hood = neighbourhood(store, s, as_of, depth, max_fanout)
            for x in changed:
                if x != s and x in hood.distance:
                    reach[(s, x)] = (hood.distance[x], _via(hood.paths[x]))
    elif deep:  # fewer changed subjects than watched ones: walk out from the changes
        top = max(deep.values())
        for x in changed:
            hood = neighbourhood(store, x, as_of, top, max_fanout)
            for s in deep:
                if s != x and s in hood.distance:
                    reach[(s, x)] = (hood.distance[s], _via(reversed(hood.paths[s])))
    out: dict[str, list[Match]] = {}
    for sub in subs:
        best: dict[int, tuple[int, list[dict[str, Any]]]] = {}
        for x, indices in by_subject.items():
            found = reach.get((sub["subject"], x))
            if found is None or found[0] > sub["depth"]:
                continue
            for i in indices:
                if i not in best or found[0] < best[i][0]:
                    best[i] = found
        if best:
            out[sub["id"]] = [(items[i], d, via) for i, (d, via) in sorted(best.items())]
    return out


def _left_network(store: Store, changes: Changes, items: list[dict[str, Any]], sub: dict[str, Any],
                  matched: list[Match], today: date, max_fanout: int) -> list[Match]:
    """A role deletion names the related parties it took out of the watched network (no longer within the
    subscription's depth) and the measures in force on them: those still stored, and those the deletion
    removed (a personal credit entry derived through the deleted edge)."""
    restored = cast(Store, _Restored(store, changes.roles_deleted))
    before = neighbourhood(restored, sub["subject"], today, int(sub["depth"]), MAX_FANOUT).distance
    after = neighbourhood(store, sub["subject"], today, int(sub["depth"]), max_fanout).distance
    gone = sorted(set(before) - set(after))
    measures: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    removed = [i for i in items if i["kind"] == "measure" and i["change"] == "removed" and i["subject"] in gone]
    for item in [*(_fact_item(f, "in_force", today) for f in store.facts_of(gone)), *removed]:
        if item["status"] in ("active", "suspended"):
            measures[item["subject"]][item["fact_id"]] = {k: item[k] for k in (
                "fact_id", "cause", "consequence", "rule_id", "status", "valid_from", "valid_to")} | {
                "removed": item["change"] == "removed"}
    left = [{"subject": n, "distance": before[n], "measures": [m for _, m in sorted(measures[n].items())]}
            for n in gone]
    return [({**item, "left_network": left} if (item["kind"], item["change"]) == ("role", "deleted") else item, d, via)
            for item, d, via in matched]


def _alert_row(sub: dict[str, Any], matched: list[Match], trigger: str, as_of: date) -> Alert:
    items = sorted(({**item, "distance": d, "via": via} for item, d, via in matched), key=lambda i: i["item_id"])
    now = _now().isoformat()
    webhook = bool(sub.get("webhook_url"))
    return cast(Alert, {
        "id": stable_id("alert", sub["id"], *(i["item_id"] for i in items)),
        "subscription_id": sub["id"], "subject": sub["subject"], "depth": sub["depth"],
        "department": sub.get("department"), "owner_key": sub.get("owner_key"), "trigger": trigger,
        "as_of": as_of.isoformat(), "created_at": now, "items": items,
        "delivery_state": "pending" if webhook else "none", "attempts": 0, "last_status": None,
        "last_error": None, "next_attempt_at": now if webhook else None, "delivered_at": None, "history": [],
    })


def record_write(store: Store, changes: Changes, today: date, max_fanout: int = MAX_FANOUT) -> list[Alert]:
    """What monitoring does with one write, called once by the write path before it commits: journal the
    write's notices (those naming no department to the departments holding case items on them), and append
    one alert per active subscription the changes concern."""
    if changes.notices:
        unaddressed = [n for n in changes.notices if "departments" not in n]
        if unaddressed:
            address_notices(store, unaddressed, [*changes.added, *changes.removed])
        store.append("notices", changes.notices)
    subs = store.query("subscriptions", {"status": "active"})
    items = _items(changes, today) if subs else []
    if not items:
        return []
    matches = _match(store, subs, items, today, max_fanout)
    if changes.roles_deleted:
        for sub in subs:
            if sub["id"] in matches and sub["depth"] > 0:
                matches[sub["id"]] = _left_network(store, changes, items, sub, matches[sub["id"]], today, max_fanout)
    alerts = [_alert_row(sub, matches[sub["id"]], changes.reason, today)
              for sub in sorted(subs, key=lambda s: s["id"]) if sub["id"] in matches]
    if alerts:
        store.append("alerts", cast(list[dict[str, Any]], alerts))
    return alerts


def alerts_due(store: Store, as_of: date, max_fanout: int = MAX_FANOUT) -> list[Alert]:
    """Expiry alerts: measures on watched subjects that ended by their natural end date, from the
    subscription's start to ``as_of``; one alert per subscription and end date, deterministic ids."""
    out: list[Alert] = []
    for sub in sorted(store.query("subscriptions", {"status": "active"}), key=lambda s: s["id"]):
        since = date.fromisoformat(sub["since"])
        if as_of < since:
            continue
        if sub["depth"] > 0:
            hood = neighbourhood(store, sub["subject"], as_of, int(sub["depth"]), max_fanout)
            distance, paths = hood.distance, hood.paths
        else:
            distance, paths = {sub["subject"]: 0}, {sub["subject"]: ()}
        by_end: dict[date, list[Match]] = defaultdict(list)
        for f in store.facts_of(sorted(distance)):
            if f.valid_to is None or not since <= f.valid_to <= as_of or f.ended_by not in (None, "expired"):
                continue
            item = _fact_item(f, "expired", as_of)
            item["item_id"] = _key({k: v for k, v in item.items() if k != "status"})
            by_end[f.valid_to].append((item, distance[f.target], _via(paths[f.target])))
        out += [_alert_row(sub, matched, "expiry", as_of) for _, matched in sorted(by_end.items())]
    return out


# -- webhook delivery -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry with exponential backoff: the n-th failure waits ``backoff * 2**(n-1)`` seconds (capped)."""

    max_attempts: int = 8
    backoff: float = 30.0
    max_backoff: float = 3600.0
    timeout: float = 10.0
    batch: int = 100
    egress_policy: egress.EgressPolicy = egress.EgressPolicy()  # receivers the deliverer may call

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.backoff * 2 ** max(attempts - 1, 0), self.max_backoff))

    @property
    def lease(self) -> timedelta:
        """How long a claimed alert is left alone: a deliverer that dies mid-send is retried after it."""
        return timedelta(seconds=self.timeout + 30)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` with the subscription's secret."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, body: bytes, timestamp: str | int, signature: str, now: float | None = None, tolerance: float = 300
) -> bool:
    """What a receiver runs: the signature matches and, given ``now`` (epoch seconds), is recent."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if now is not None and abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, ts), signature)


PAYLOAD_FIELDS = ("id", "subscription_id", "subject", "depth", "trigger", "as_of", "created_at", "items")


def payload(alert: dict[str, Any]) -> bytes:
    body = {"type": "graph_credit.alert", "alert": {k: alert.get(k) for k in PAYLOAD_FIELDS}}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def httpx_post(target: egress.Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """The default ``http_post``: connects to the checked address, sending the URL's host name in ``Host``
    and as the TLS server name (certificates are verified against it); redirects are not followed, proxy
    settings from the environment are not used. One client per host name, so a pooled TLS connection is
    only reused for the name it was verified for."""
    import httpx

    with _clients_lock:
        client = _clients.get(target.host)
        if client is None:
            if len(_clients) >= 64:  # receivers come and go: start afresh rather than grow without end
                for old in _clients.values():
                    old.close()
                _clients.clear()
            client = _clients[target.host] = httpx.Client(follow_redirects=False, trust_env=False)
    url = httpx.URL(target.url)
    default_port = {"https": 443, "http": 80}[target.scheme]
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    pinned = url.copy_with(host=target.address)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    response = client.post(pinned, content=body, headers={**headers, "Host": host_header}, timeout=timeout,
                           extensions=extensions)
    return int(response.status_code)


def _failure(exc: Exception) -> str:
    """What the subscriber is told: the kind of failure, not socket or resolver detail."""
    import httpx

    if isinstance(exc, DomainError):
        return "delivery failed: receiver address not allowed"
    if isinstance(exc, httpx.TimeoutException):
        return "delivery failed: receiver did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "delivery failed: receiver refused or unreachable"
    return "delivery failed"


def _claim(store: Store, alert_id: str, now: datetime, lease: timedelta) -> dict[str, Any] | None:
    """Take a due pending alert for one attempt (so two deliverers do not send it at once)."""
    with store.transaction():
        found = store.query("alerts", {"id": alert_id})
        if not found or found[0].get("delivery_state") != "pending":
            return None
        due = found[0].get("next_attempt_at")
        if due is None or datetime.fromisoformat(due) > now:
            return None
        store.update("alerts", alert_id, {"next_attempt_at": (now + lease).isoformat()})
        return found[0]


def deliver_pending(
    store: Store, now: datetime | None = None, http_post: HttpPost | None = None, policy: DeliveryPolicy | None = None,
) -> dict[str, Any]:
    """Post every due pending alert once; record the outcome on each. Returns counts and the ids."""
    now = now or _now()
    post = http_post or httpx_post
    policy = policy or DeliveryPolicy()
    pending = store.query("alerts", {"delivery_state": "pending"})
    due = sorted((a for a in pending if a.get("next_attempt_at")
                  and datetime.fromisoformat(a["next_attempt_at"]) <= now),
                 key=lambda a: (a["next_attempt_at"], a["id"]))[: policy.batch]
    report: dict[str, Any] = {"due": len(due), "delivered": [], "retrying": [], "failed": [], "cancelled": []}
    subs: dict[str, dict[str, Any] | None] = {}
    for row in due:
        alert = _claim(store, row["id"], now, policy.lease)
        if alert is None:
            continue
        sid = alert["subscription_id"]
        if sid not in subs:
            found = store.query("subscriptions", {"id": sid})
            subs[sid] = found[0] if found else None
        sub = subs[sid]
        if sub is None or sub["status"] != "active" or not sub.get("webhook_url"):
            store.update("alerts", alert["id"], {"delivery_state": "cancelled", "next_attempt_at": None,
                                                 "last_error": "subscription cancelled before delivery"})
            report["cancelled"].append(alert["id"])
            continue
        body = payload(alert)
        ts = int(now.timestamp())
        headers = {"Content-Type": "application/json", "User-Agent": "graph-credit-webhook/1",
                   ALERT_HEADER: alert["id"], TIMESTAMP_HEADER: str(ts),
                   SIGNATURE_HEADER: sign(sub["secret"], body, ts)}
        started = time.perf_counter()
        status: int | None = None
        try:
            target = egress.resolve(sub["webhook_url"], policy.egress_policy)  # again: DNS may have changed
            status = int(post(target, body, headers, policy.timeout))
            error = None if 200 <= status < 300 else f"HTTP {status}"
            if 300 <= status < 400:
                error = f"HTTP {status} (redirects are not followed)"
        except Exception as exc:  # any transport failure is recorded, never raised past the deliverer
            logger.info("webhook delivery of alert %s failed: %s: %s", alert["id"], type(exc).__name__, exc)
            error = _failure(exc)
        attempts = int(alert.get("attempts") or 0) + 1
        attempt = {"at": now.isoformat(), "status": status, "error": error,
                   "ms": round((time.perf_counter() - started) * 1000, 1)}
        changes: dict[str, Any] = {"attempts": attempts, "last_status": status, "last_error": error,
                                   "history": [*(alert.get("history") or [])[-19:], attempt]}
        if error is None:
            changes |= {"delivery_state": "delivered", "delivered_at": now.isoformat(), "next_attempt_at": None}
            report["delivered"].append(alert["id"])
        elif attempts >= policy.max_attempts:
            changes |= {"delivery_state": "failed", "next_attempt_at": None}
            report["failed"].append(alert["id"])
        else:
            changes |= {"next_attempt_at": (now + policy.delay(attempts)).isoformat()}
            report["retrying"].append(alert["id"])
        with store.transaction():
            store.update("alerts", alert["id"], changes)
            persons = persons_in([alert.get("items"), alert.get("subject")])
            if error is None and persons:  # personal data pushed to the subscriber: 查询使用登记
                store.append("audit", [{
                    "id": stable_id("webhook", alert["id"]), "at": now.isoformat(), "who": sub.get("owner", ""),
                    "key_id": sub.get("owner_key"), "role": sub.get("role"), "department": sub.get("department"),
                    "purpose": sub.get("purpose", ""), "what": f"alert {alert['id']} delivered to webhook",
                    "persons": sorted(persons)}])
    return report


def retry_alert(store: Store, alert_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Put a failed (or cancelled) alert back in the queue with a fresh attempt budget; history is kept."""
    with store.transaction():
        found = store.query("alerts", {"id": alert_id})
        if not found:
            raise NotFound(f"alert_id: no alert {alert_id!r}")
        if found[0]["delivery_state"] not in ("failed", "cancelled"):
            raise DomainError(f"alert_id: alert is {found[0]['delivery_state']}; only failed or cancelled alerts retry")
        subs = store.query("subscriptions", {"id": found[0]["subscription_id"]})
        if not subs or subs[0]["status"] != "active" or not subs[0].get("webhook_url"):
            raise DomainError("alert_id: its subscription is cancelled or has no webhook")
        return store.update("alerts", alert_id, {"delivery_state": "pending", "attempts": 0,
                                                 "next_attempt_at": (now or _now()).isoformat()})


class Deliverer:
    """The background deliverer: every ``interval`` seconds posts due alerts; once a day runs the sweep."""

    def __init__(self, store: Store, interval: float, today: Callable[[], date] = date.today,
                 http_post: HttpPost | None = None, policy: DeliveryPolicy | None = None) -> None:
        self.store = store
        self.interval = interval
        self.today = today
        self.http_post = http_post
        self.policy = policy or DeliveryPolicy()
        self.swept_on: date | None = None
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, Any]:
        on = self.today()
        if self.swept_on != on:
            try:
                sweep(self.store, on)
                self.swept_on = on
            except Exception:  # a failed sweep is retried next round; delivery goes on regardless
                logger.exception("expiry sweep failed")
        report = deliver_pending(self.store, _now(), self.http_post, self.policy)
        self.rounds += 1
        return report

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep delivering: one bad round must not stop the thread
                logger.exception("webhook delivery round failed")
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="graph-credit-deliverer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


# -- withdrawal notices ---------------------------------------------------------------------------------
def _same_consequence(a: DerivedFact | None, b: DerivedFact | None) -> bool:
    return a is not None and b is not None and (a.target, a.consequence, a.object_id) == (
        b.target, b.consequence, b.object_id)


def _item_ref(item: dict[str, Any]) -> dict[str, Any]:
    return {"item_id": item["id"], "case_id": item["case_id"], "department": item["department"],
            "measure": item["measure"], "measure_name": item.get("measure_name"), "target": item["target"],
            "fact_id": item["fact_id"], "feedback": item.get("status")}


def address_notices(store: Store, notices: list[dict[str, Any]], facts: Iterable[DerivedFact] = ()) -> None:
    """Address notices (in place) to the departments that received the consequence through a case.

    A fact notice goes to the case items naming that fact, or the same consequence on the same target
    from the same cause (an item is opened once per measure, department and target, whichever edge
    carried it); a remedy (clarification, clawback) to every item of the cause's cases.
    ``still_applies_via`` lists facts of the cause that keep the same consequence in force.
    """
    known = {f.fact_id: f for f in facts}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in notices:
        n.setdefault("departments", [])
        n.setdefault("items", [])
        n.setdefault("acknowledged", {})
        groups[n["cause"]].append(n)
    for cause_text, group in groups.items():
        items = [it for case in store.query("cases", {"cause": cause_text})
                 for it in store.query("case_items", {"case_id": case["id"]})]
        if not items:
            continue
        lookup = dict(known)
        missing = sorted({it["fact_id"] for it in items} - set(lookup))
        if missing:
            lookup.update(store.get_facts(missing))
        current = store.facts_by_cause([Cause.parse(cause_text)])
        for n in group:
            if "fact_id" in n:
                fact = lookup.get(n["fact_id"])
                matched = [it for it in items
                           if it["fact_id"] == n["fact_id"] or _same_consequence(lookup.get(it["fact_id"]), fact)]
                n["still_applies_via"] = sorted(
                    f.fact_id for f in current
                    if f.fact_id != n["fact_id"] and _same_consequence(f, fact) and f.ended_by not in EARLY_ENDS)
            else:
                matched = items
            matched.sort(key=lambda it: (it["department"], it["measure"], it["id"]))
            n["items"] = [_item_ref(it) for it in matched]
            n["departments"] = sorted({it["department"] for it in matched})


def _expiry_notice(f: DerivedFact) -> dict[str, Any]:
    # the same shape and id scheme as the engine's notices (graph_credit.engine._notice)
    return {"id": stable_id(f.fact_id, "expired", f.valid_to, "expiry"), "fact_id": f.fact_id, "cause": str(f.cause),
            "target": f.target, "consequence": f.consequence, "rule_id": f.rule_id, "change": "expired",
            "reason": "expiry", "effective": _iso(f.valid_to)}


def notices_due(store: Store, as_of: date, write: bool = True) -> list[dict[str, Any]]:
    """Expiry notices for consequences that departments received through a case and that reached their
    natural end on or before ``as_of``; ids are deterministic, so running it again adds nothing."""
    items = store.query("case_items")
    facts = store.get_facts(sorted({it["fact_id"] for it in items}))
    due = sorted((f for f in facts.values()
                  if f.valid_to is not None and f.valid_to <= as_of and f.ended_by in (None, "expired")),
                 key=lambda f: (f.valid_to, f.fact_id))
    notices = [_expiry_notice(f) for f in due]
    address_notices(store, notices, facts.values())
    if write and notices:
        store.append("notices", notices)
    return notices


def sweep(store: Store, as_of: date, max_fanout: int = MAX_FANOUT) -> dict[str, Any]:
    """The time-driven part: expiry notices and expiry alerts as of a date. Idempotent."""
    notices = notices_due(store, as_of, write=False)
    alerts = alerts_due(store, as_of, max_fanout)
    with store.transaction():
        new_notices = store.append("notices", notices) if notices else 0
        new_alerts = store.append("alerts", cast(list[dict[str, Any]], alerts)) if alerts else 0
    return {"as_of": as_of.isoformat(), "notices_due": len(notices), "notices_new": new_notices,
            "alerts_due": len(alerts), "alerts_new": new_alerts}


def department_view(notice: Mapping[str, Any], department: str) -> NoticeView:
    """A notice as one addressee sees it: its own measures and its own acknowledgement."""
    out = {k: v for k, v in notice.items() if k not in ("items", "acknowledged", "departments")}
    out["department"] = department
    out["items"] = [it for it in notice.get("items", []) if it["department"] == department]
    out["acknowledged"] = (notice.get("acknowledged") or {}).get(department)
    return cast(NoticeView, out)


def notices_for(
    store: Store, department: str | None, acknowledged: bool | None = None, change: str | None = None,
    limit: int | None = None,
) -> list[Notice | NoticeView]:
    """Notices addressed to ``department`` (its view), or every notice when ``department`` is None."""
    rows = cast(list[Notice], store.query("notices", {"change": change} if change else None))
    out: list[Notice | NoticeView] = []
    for n in rows:
        shown: Notice | NoticeView = n
        if department is not None:
            if department not in (n.get("departments") or ()):
                continue
            view = department_view(n, department)
            acked, shown = view["acknowledged"] is not None, view
        else:
            acked = bool(n.get("acknowledged"))
        if acknowledged is not None and acked != acknowledged:
            continue
        out.append(shown)
    return out[-limit:] if limit else out


def acknowledge_notice(
    store: Store, notice_id: str, department: str, by: str, note: str = "", at: datetime | None = None,
) -> NoticeView:
    """The department confirms it has acted on the notice (lifted its measure); the first ack stands."""
    with store.transaction():
        found = store.query("notices", {"id": notice_id})
        if not found or department not in (found[0].get("departments") or ()):
            raise NotFound(f"notice_id: no notice {notice_id!r} addressed to department {department!r}")
        row = found[0]
        acks = dict(row.get("acknowledged") or {})
        if department not in acks:
            acks[department] = {"by": by, "at": (at or _now()).isoformat(), "note": note}
            row = store.update("notices", notice_id, {"acknowledged": acks})
    return department_view(row, department)
