"""Webhook delivery. An alert of a subscription with a webhook starts ``pending``. ``deliver_pending`` posts
due alerts (JSON body, HMAC-SHA256 signature over ``"<timestamp>.<body>"`` with the subscription's secret),
and on failure retries with exponential backoff until ``max_attempts``, then marks it ``failed``. Each alert
keeps its state, attempts, last status and error, next attempt and the attempt history: nothing is dropped
silently. The webhook URL is checked (``graph_credit.egress``) when subscribing and again before every
attempt, and the request goes to the address checked; the error shown to the subscriber says what failed
without internal detail (which is logged). Delivery runs outside the write path (a background thread in the
API, ``graph-credit deliver`` on the command line) and is at-least-once: receivers dedupe on the alert id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .. import egress
from ..errors import DomainError
from ..ids import persons_in
from ..model import stable_id
from ..store.base import NotFound, Store
from .alerts import sweep
from .subscriptions import _now

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Graph-Credit-Signature"
TIMESTAMP_HEADER = "X-Graph-Credit-Timestamp"
ALERT_HEADER = "X-Graph-Credit-Alert"
# pending -> delivered | failed (after max_attempts) | cancelled (subscription ended first);
# "none": the subscription has no webhook, the alert is read through the API only.
DELIVERY_STATES = ("pending", "delivered", "failed", "cancelled", "none")
HttpPost = Callable[[egress.Target, bytes, dict[str, str], float], int]
"""``http_post(target, body, headers, timeout) -> HTTP status``, connecting to ``target.address``;
raises on a transport error."""


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
            raise NotFound(f"no alert {alert_id!r}", field="alert_id")
        if found[0]["delivery_state"] not in ("failed", "cancelled"):
            raise DomainError(f"alert is {found[0]['delivery_state']}; only failed or cancelled alerts retry",
                              field="alert_id")
        subs = store.query("subscriptions", {"id": found[0]["subscription_id"]})
        if not subs or subs[0]["status"] != "active" or not subs[0].get("webhook_url"):
            raise DomainError("its subscription is cancelled or has no webhook", field="alert_id")
        return store.update("alerts", alert_id, {"delivery_state": "pending", "attempts": 0,
                                                 "next_attempt_at": (now or _now()).isoformat()})


class Deliverer:
    """The background deliverer: every ``interval`` seconds posts due alerts; once a day runs the sweep."""

    def __init__(self, store: Store, interval: float, today: Callable[[], date] = date.today,
                 http_post: HttpPost | None = None, policy: DeliveryPolicy | None = None,
                 jurisdiction: str = "default") -> None:
        self.store = store
        self.jurisdiction = jurisdiction
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
                sweep(self.store, on, jurisdiction=self.jurisdiction)
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
