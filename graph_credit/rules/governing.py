"""Which policy a cause is judged under, and its lifecycle read under that policy: the one answer every
caller uses (the derivation, the engine, the profile, the objection list, checks, risk items, analytics).

The rule: a record carries its jurisdiction (the one whose department decided it) and is judged under that
jurisdiction's policy as in force on its decision date. A list entry carries none: it is judged under the
deployment's jurisdiction (``Engine.jurisdiction``) as in force on the day it took effect (``valid_from``).
So an objection's verification deadline is the same wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ..model import DishonestyRecord, ListEntry, RecordEvent
from ..policy.loader import load_policy
from ..policy.snapshot import PolicySnapshot
from ..store.base import Store
from .lifecycle import Lifecycle, read_lifecycle

__all__ = ["Judged", "judged_on", "lifecycle_of", "policy_for"]

Judged = DishonestyRecord | ListEntry


def judged_on(item: Judged) -> date:
    """The day whose policy applies: a record's decision date, a list entry's first effective day."""
    return item.decision_date if isinstance(item, DishonestyRecord) else item.valid_from


def policy_for(
    item: Judged, deployment: str | None = None, override: PolicySnapshot | str | None = None
) -> PolicySnapshot:
    """The policy ``item`` is judged under (see the module's rule); ``deployment`` is needed for a list entry
    only. ``override`` is a policy what-if: a jurisdiction's name (in force on the item's own day) or a
    snapshot used as it is."""
    if isinstance(override, PolicySnapshot):
        return override
    if override is None:
        if isinstance(item, DishonestyRecord):
            override = item.jurisdiction
        elif deployment is None:
            raise TypeError(f"list entry {item.entry_id}: judged under the deployment's jurisdiction, none given")
        else:
            override = deployment
    return load_policy(override).at(judged_on(item))


def lifecycle_of(
    store: Store, item: Judged, deployment: str | None = None, events: Sequence[RecordEvent] | None = None,
    override: PolicySnapshot | str | None = None,
) -> Lifecycle:
    """The item's lifecycle (objections with their deadlines, withdrawal, repair, exit) under its policy;
    ``events`` when the caller has read them already."""
    cause_id = item.record_id if isinstance(item, DishonestyRecord) else item.entry_id
    days = policy_for(item, deployment, override).objection.verification_days
    return read_lifecycle(store.events_of([cause_id]) if events is None else events, days)
