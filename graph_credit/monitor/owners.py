"""Whose subscriptions and alerts they are. A department's belong to the department, an investigator's to
the key that made them; an administrator's ``Watcher`` sees them all. Someone else's is as absent as one
that does not exist (NotFound, not a refusal): who watches whom is itself confidential.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from ..journal import Alert, Subscription
from ..store.base import NotFound, Store

__all__ = ["Watcher", "alert_of", "alerts_of", "subscription_of", "subscriptions_of"]


@dataclass(frozen=True)
class Watcher:
    key_id: str
    department: str | None = None
    admin: bool = False

    def owns(self, row: Mapping[str, Any]) -> bool:
        if self.admin:
            return True
        if self.department:
            return row.get("department") == self.department
        return row.get("department") is None and row.get("owner_key") == self.key_id

    def scope(self) -> dict[str, Any]:
        """The store filter narrowing a query to the watcher's rows (``owns`` is still applied after it)."""
        if self.admin:
            return {}
        return {"department": self.department} if self.department else {"owner_key": self.key_id}


def subscriptions_of(store: Store, who: Watcher, status: str | None = None) -> list[Subscription]:
    where = who.scope() | ({"status": status} if status else {})
    return [cast(Subscription, r) for r in store.query("subscriptions", where) if who.owns(r)]


def subscription_of(store: Store, who: Watcher, subscription_id: str) -> Subscription:
    found = store.query("subscriptions", {"id": subscription_id})
    if not found or not who.owns(found[0]):
        raise NotFound(f"no subscription {subscription_id!r}", field="subscription_id")
    return cast(Subscription, found[0])


def alerts_of(store: Store, who: Watcher, state: str | None = None, subscription_id: str | None = None,
              limit: int | None = None) -> list[Alert]:
    """The watcher's alerts, newest first."""
    where = who.scope() | ({"delivery_state": state} if state else {}) | (
        {"subscription_id": subscription_id} if subscription_id else {})
    rows = [cast(Alert, r) for r in store.query("alerts", where) if who.owns(r)][::-1]
    return rows[:limit] if limit is not None else rows


def alert_of(store: Store, who: Watcher, alert_id: str) -> Alert:
    found = store.query("alerts", {"id": alert_id})
    if not found or not who.owns(found[0]):
        raise NotFound(f"no alert {alert_id!r}", field="alert_id")
    return cast(Alert, found[0])
