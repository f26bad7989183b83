"""The lifecycle of a record or list entry, read from its events.

Event kinds (``RecordEvent.kind``):

- ``objection_filed`` / ``objection_upheld`` / ``objection_rejected`` (异议: filing, and the
  provider's verification result);
- ``repair_applied`` / ``repair_verified`` / ``repair_approved`` / ``repair_rejected`` (信用修复;
  measures lift on the approval's date);
- ``revoked`` (the issuing department revokes the record outright);
- ``exit`` (a list entry leaves its list before its validity ends).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ..errors import DomainError
from ..model import RecordEvent

EVENT_KINDS = (
    "objection_filed",
    "objection_upheld",
    "objection_rejected",
    "repair_applied",
    "repair_verified",
    "repair_approved",
    "repair_rejected",
    "revoked",
    "exit",
)


class LifecycleError(DomainError):
    """An event that the current state of its record does not allow."""


@dataclass(frozen=True, slots=True)
class Objection:
    filed_on: date
    deadline: date
    resolved_on: date | None
    upheld: bool | None

    def overdue_on(self, on: date) -> bool:
        """Still under verification on ``on`` and past its deadline: a past-dated view sees an objection
        verified late as overdue until the day it was resolved."""
        return self.pending_on(on) and on > self.deadline

    def pending_on(self, on: date) -> bool:
        return self.filed_on <= on and (self.resolved_on is None or on < self.resolved_on)


@dataclass(frozen=True, slots=True)
class Lifecycle:
    objections: tuple[Objection, ...]
    withdrawn_on: date | None  # objection upheld or revoked: every consequence withdrawn
    repaired_on: date | None
    repair_pending_since: date | None
    exited_on: date | None

    def suspensions(self) -> tuple[tuple[date, date | None], ...]:
        return tuple((o.filed_on, o.resolved_on) for o in self.objections)


def read_lifecycle(events: Sequence[RecordEvent], verification_days: int) -> Lifecycle:
    """Fold events (any order) into the record's state; later events of the same kind are ignored."""
    objections: list[Objection] = []
    open_since: date | None = None
    withdrawn = repaired = repair_pending = exited = None
    for ev in sorted(events, key=lambda e: (e.on, EVENT_KINDS.index(e.kind) if e.kind in EVENT_KINDS else 99)):
        if ev.kind == "objection_filed" and open_since is None:
            open_since = ev.on
        elif ev.kind in ("objection_upheld", "objection_rejected") and open_since is not None:
            upheld = ev.kind == "objection_upheld"
            objections.append(Objection(open_since, open_since + timedelta(days=verification_days), ev.on, upheld))
            open_since = None
            if upheld and withdrawn is None:
                withdrawn = ev.on
        elif ev.kind == "revoked" and withdrawn is None:
            withdrawn = ev.on
        elif ev.kind == "repair_applied" and repair_pending is None and repaired is None:
            repair_pending = ev.on
        elif ev.kind == "repair_rejected":
            repair_pending = None
        elif ev.kind == "repair_approved" and repaired is None:
            repaired, repair_pending = ev.on, None
        elif ev.kind == "exit" and exited is None:
            exited = ev.on
    if open_since is not None:
        objections.append(Objection(open_since, open_since + timedelta(days=verification_days), None, None))
    return Lifecycle(tuple(objections), withdrawn, repaired, repair_pending, exited)


def validate_event(events: Sequence[RecordEvent], new: RecordEvent, verification_days: int) -> None:
    """Refuse an event that makes no sense in the record's current state, naming why."""
    state = read_lifecycle(events, verification_days)
    pending = any(o.resolved_on is None for o in state.objections)
    if new.kind not in EVENT_KINDS:
        raise LifecycleError(f"kind: unknown event kind {new.kind!r}; expected one of {', '.join(EVENT_KINDS)}")
    if state.withdrawn_on is not None:
        raise LifecycleError(f"{new.cause_id} was withdrawn on {state.withdrawn_on}; no further events")
    if new.kind == "objection_filed" and pending:
        raise LifecycleError(f"{new.cause_id} already has an objection under verification")
    if new.kind in ("objection_upheld", "objection_rejected") and not pending:
        raise LifecycleError(f"{new.cause_id} has no objection under verification")
    if new.kind in ("repair_verified", "repair_approved", "repair_rejected") and state.repair_pending_since is None:
        raise LifecycleError(f"{new.cause_id} has no pending repair application")
    if new.kind == "repair_applied" and (state.repaired_on or state.repair_pending_since):
        raise LifecycleError(f"{new.cause_id} already has a repair application or an approved repair")
    last = max((e.on for e in events), default=None)
    if last is not None and new.on < last:
        raise LifecycleError(f"on: {new.on} is before the record's last event ({last})")
