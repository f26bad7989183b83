"""Subscriptions: a department or an investigator watches a subject, optionally with its related parties up
to ``depth`` role edges away (as of the service's today). Rows live in the ``subscriptions`` journal; the id
is derived from (owner, subject, depth, webhook), so subscribing twice is a no-op.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, cast

from .. import egress
from ..errors import DomainError
from ..journal import Subscription, SubscriptionView
from ..model import stable_id
from ..store.base import NotFound, Store

MAX_DEPTH = 3
MAX_FANOUT = 200
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
