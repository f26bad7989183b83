"""What one engine write changed: the value every write returns and the one thing monitoring reads.

The engine fills a ``Changes`` as it writes (the stored item before and after, the facts each re-derived
cause gained and lost, the notices the write produced) and hands it to monitoring once, when the write's
work is done and before it commits (``monitor.record_write``): monitoring never reaches back into the write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Cause, DerivedFact, DishonestyRecord, ListEntry, RecordEvent, RoleEdge

__all__ = ["Changes"]


@dataclass
class Changes:
    reason: str = ""
    causes: int = 0  # causes re-derived
    added: list[DerivedFact] = field(default_factory=list)  # facts stored new or changed
    removed: list[DerivedFact] = field(default_factory=list)  # facts no longer derived
    prior: dict[str, DerivedFact] = field(default_factory=dict)  # the re-derived causes' facts before, by id
    records: list[tuple[DishonestyRecord | None, DishonestyRecord]] = field(default_factory=list)  # (before, after)
    list_entries: list[tuple[ListEntry | None, ListEntry]] = field(default_factory=list)
    roles: list[tuple[RoleEdge | None, RoleEdge]] = field(default_factory=list)
    roles_deleted: list[RoleEdge] = field(default_factory=list)
    events: list[tuple[RecordEvent, Cause, str]] = field(default_factory=list)  # (event, its cause, the subject)
    # Journalled in this order; one without ``departments`` goes to the departments holding case items on it.
    notices: list[dict[str, Any]] = field(default_factory=list)

    def __iadd__(self, other: Changes) -> Changes:
        self.causes += other.causes
        self.added += other.added
        self.removed += other.removed
        self.prior |= {k: f for k, f in other.prior.items() if k not in self.prior}
        self.records += other.records
        self.list_entries += other.list_entries
        self.roles += other.roles
        self.roles_deleted += other.roles_deleted
        self.events += other.events
        self.notices += other.notices
        return self
