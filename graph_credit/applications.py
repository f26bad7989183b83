"""Objections and credit repair applications received by a department that does not own the record.

A subject may hand an objection (异议) or a repair application (信用修复申请) to any department's front
desk, but only the department that decided the record, or determined the list entry, decides on it
(谁认定、谁负责). So a department receiving one for another department's record does not change the
record: ``receive`` journals it as forwarded to the owner. The owner ``accept``s it, which files the
event dated the day it was received, with the effect the record's jurisdiction gives it (measures
suspended during verification where the policy says so), or ``decline``s it with a reason.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from .model import Cause, RecordEvent, stable_id
from .rules.lifecycle import LifecycleError
from .store.base import NotFound, Store

if TYPE_CHECKING:
    from .changes import Changes
    from .engine import Engine

__all__ = ["KINDS", "accept", "decline", "receive", "visible_to"]

KINDS = ("objection_filed", "repair_applied")  # what a front desk may receive for the subject


def receive(store: Store, cause: Cause, subject: str, owner: str, kind: str, on: date, detail: str,
            received_by: str) -> dict[str, Any]:
    """Journal an application received for ``owner``'s record; the same application twice is one row."""
    if kind not in KINDS:
        raise LifecycleError(f"kind: only {' and '.join(KINDS)} may be received for another department")
    row = {"id": stable_id("application", cause, kind, on, received_by, detail), "cause": str(cause),
           "cause_id": cause.id, "subject": subject, "kind": kind, "on": on.isoformat(), "detail": detail,
           "received_by": received_by, "owner": owner, "status": "forwarded", "decided_at": None,
           "decided_by": None, "reason": "", "event_id": None}
    with store.transaction():
        store.append("applications", [row])
        return store.query("applications", {"id": row["id"]})[0]


def _forwarded(store: Store, application_id: str, owner: str | None) -> dict[str, Any]:
    found = store.query("applications", {"id": application_id})
    if not found or (owner is not None and found[0]["owner"] != owner):
        raise NotFound(f"application_id: no application {application_id!r} forwarded to department {owner!r}")
    if found[0]["status"] != "forwarded":
        raise LifecycleError(f"application_id: already {found[0]['status']}")
    return found[0]


def accept(engine: Engine, application_id: str, owner: str | None, by: str) -> tuple[dict[str, Any], Changes]:
    """The owner takes the application into its workflow: the event is filed (dated when received)."""
    with engine.store.transaction():
        row = _forwarded(engine.store, application_id, owner)
        event = RecordEvent(cause_id=row["cause_id"], kind=row["kind"], on=date.fromisoformat(row["on"]),
                            by=row["received_by"], detail=row["detail"])
        result = engine.add_event(event)
        row = engine.store.update("applications", application_id, {
            "status": "accepted", "decided_at": datetime.now(UTC).isoformat(), "decided_by": by,
            "event_id": event.event_id})
    return row, result


def decline(store: Store, application_id: str, owner: str | None, by: str, reason: str) -> dict[str, Any]:
    """The owner refuses the application (not its matter, out of time...), saying why."""
    with store.transaction():
        _forwarded(store, application_id, owner)
        return store.update("applications", application_id, {
            "status": "declined", "decided_at": datetime.now(UTC).isoformat(), "decided_by": by, "reason": reason})


def visible_to(store: Store, department: str | None, status: str | None = None) -> list[dict[str, Any]]:
    """Applications forwarded to or received by ``department`` (every one for None), oldest first."""
    rows = store.query("applications", {"status": status} if status else None)
    return [r for r in rows if department is None or department in (r["owner"], r["received_by"])]
