"""The rules applied to the stored facts: a record's lifecycle (events: objections, repair, exit) and the
consequences derived from records, honours and list entries under the policy in force.
"""

from .derive import derive, punishment_end, subject_kind
from .lifecycle import Lifecycle, LifecycleError, Objection, read_lifecycle, validate_event

__all__ = [
    "Lifecycle", "LifecycleError", "Objection", "derive", "punishment_end", "read_lifecycle", "subject_kind",
    "validate_event",
]
