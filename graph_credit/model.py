"""Domain model: subjects, dated role edges, records, honours, list entries and derived facts.

Plain frozen dataclasses: the store persists them, the engine reasons over them. Dates are
``datetime.date``; an open interval end is ``None``. Intervals are half-open ``[from, to)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

__all__ = [
    "DATE_OUT_OF_RANGE",
    "EARLIEST_DATE",
    "ID_PATTERN",
    "LATEST_DATE",
    "MAX_LENGTH",
    "MAX_RESPONSIBLE",
    "Cause",
    "DerivedFact",
    "DishonestyRecord",
    "Honour",
    "ListEntry",
    "Organisation",
    "Person",
    "RecordEvent",
    "Responsible",
    "Role",
    "RoleEdge",
    "SCHEDULED_ENDS",
    "active_on",
    "fact_status",
    "stable_id",
]


class Role(StrEnum):
    LEGAL_REPRESENTATIVE = "LEGAL_REPRESENTATIVE"
    PRINCIPAL = "PRINCIPAL"
    SENIOR_MANAGER = "SENIOR_MANAGER"
    DIRECTOR = "DIRECTOR"
    SUPERVISOR = "SUPERVISOR"
    SHAREHOLDER = "SHAREHOLDER"
    PRACTITIONER = "PRACTITIONER"


ORG_TYPES = ("enterprise", "public_institution", "social_organisation", "individual_business")
SEVERITIES = ("serious", "general", "minor")
LISTS = ("red", "black")
LIST_STATUSES = ("proposed", "publicity", "effective", "exited", "revoked")

# Input limits, declared once: the API schemas and the import both enforce them, so a value one
# refuses the other refuses too. Dates outside the range are typos (0001, 9999); periods added to
# them would also leave the calendar.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
DATE_OUT_OF_RANGE = f"must be a date from {EARLIEST_DATE} to {LATEST_DATE}"
# Longest text per field, in characters (code points), by the field's name in the file format.
MAX_LENGTH: dict[str, int] = {
    "name": 100,  # organisation, person and list names
    "title": 64,  # role title (财务负责人), honour title
    "industry": 64,
    "record_id": 64,
    "entry_id": 64,
    "honour_id": 64,
    "category": 64,
    "jurisdiction": 32,
    "document_no": 128,
    "department": 64,
    "determining_unit": 64,
    "awarding_body": 100,
    "basis": 500,
}
ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"  # record, list entry and honour ids
MAX_RESPONSIBLE = 100  # persons named directly responsible on one record


def stable_id(*parts: object) -> str:
    """A deterministic short id from its natural key, so re-importing the same row is a no-op."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def active_on(valid_from: date | None, valid_to: date | None, on: date) -> bool:
    """Whether ``on`` lies in the half-open interval ``[valid_from, valid_to)``."""
    return (valid_from is None or valid_from <= on) and (valid_to is None or on < valid_to)


@dataclass(frozen=True, slots=True)
class Organisation:
    code: str  # USCC
    name: str
    org_type: str = "enterprise"
    region: str = ""  # administrative division code; defaults to USCC characters 3-8
    industry: str = ""
    registered_on: date | None = None
    deregistered_on: date | None = None


@dataclass(frozen=True, slots=True)
class Person:
    key: str  # keyed pseudonym of the resident ID number
    masked_id: str
    name: str
    region: str = ""


@dataclass(frozen=True, slots=True)
class RoleEdge:
    holder: str  # person key, or USCC for an organisation shareholder
    role: Role
    org: str  # USCC of the organisation the role is held in
    valid_from: date
    valid_to: date | None = None
    ratio: float | None = None  # shareholding ratio in (0, 1]
    subscribed_capital: float | None = None
    title: str = ""  # e.g. 财务负责人 for a senior manager
    edge_id: str = ""

    def __post_init__(self) -> None:
        if not self.edge_id:
            object.__setattr__(
                self, "edge_id", stable_id(self.holder, self.role, self.org, self.valid_from)
            )

    def active_on(self, on: date) -> bool:
        return active_on(self.valid_from, self.valid_to, on)


@dataclass(frozen=True, slots=True)
class Responsible:
    """A person the initiating department names as directly responsible (负有直接责任的人员)."""

    person: str
    role: Role | None = None


@dataclass(frozen=True, slots=True)
class DishonestyRecord:
    record_id: str
    subject: str
    category: str
    severity: str
    decision_date: date
    act_date: date | None = None
    document_no: str = ""
    department: str = ""
    basis: str = ""
    period_end: date | None = None  # end of the joint punishment period (联合惩戒期限)
    responsible: tuple[Responsible, ...] = ()
    jurisdiction: str = "default"

    @property
    def responsibility_date(self) -> date:
        """Responsibility attaches to role holders at the act date (decision date if unknown)."""
        return self.act_date or self.decision_date


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """A lifecycle event on a record or list entry: objection, repair, correction, revocation."""

    cause_id: str
    kind: str
    on: date
    by: str = ""
    detail: str = ""
    event_id: str = ""

    def __post_init__(self) -> None:
        if not self.event_id:
            object.__setattr__(
                self, "event_id", stable_id(self.cause_id, self.kind, self.on, self.by, self.detail)
            )


@dataclass(frozen=True, slots=True)
class Honour:
    honour_id: str
    holder: str
    title: str
    awarding_body: str
    awarded_on: date


@dataclass(frozen=True, slots=True)
class ListEntry:
    entry_id: str
    subject: str
    list: str  # red | black
    name: str  # e.g. 诚信典型, 失信黑名单
    determining_unit: str
    basis: str
    valid_from: date
    valid_to: date | None = None
    publicity_from: date | None = None
    publicity_to: date | None = None
    status: str = "effective"


@dataclass(frozen=True, slots=True)
class Cause:
    """What a derived fact derives from: a dishonesty record or a list entry."""

    kind: str  # record | list
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cause:
        kind, _, ident = text.partition(":")
        return cls(kind, ident)


# Ends known when a fact is derived (a punishment period's expiry, a list entry's scheduled exit): no write
# happens the day they come, so the expiry sweep announces them (graph_credit.monitor).
SCHEDULED_ENDS = ("expired", "scheduled_exit")


@dataclass(frozen=True, slots=True)
class DerivedFact:
    """A consequence with its provenance: the cause, the edge it travelled, the rule and its basis.

    ``valid_from``/``valid_to`` bound the consequence in time; ``suspended`` lists half-open
    intervals (objection verification) during which it does not apply; ``ended_by`` says what
    closed or will close ``valid_to`` (expired, scheduled_exit, repaired, exited, withdrawn, removed); while the
    fact is pending or in force it is the scheduled end (``ends_by`` in the API's answers).
    """

    cause: Cause
    rule_id: str
    rule_version: str
    consequence: str
    target: str
    target_role: str  # subject | LEGAL_REPRESENTATIVE | ... | directly_responsible
    valid_from: date
    valid_to: date | None
    basis: tuple[str, ...]
    edge_id: str | None = None
    edge_from: date | None = None
    edge_to: date | None = None
    object_id: str | None = None  # the honour or list entry acted upon
    ended_by: str | None = None
    suspended: tuple[tuple[date, date | None], ...] = field(default=())
    jurisdiction: str = "default"
    fact_id: str = ""

    def __post_init__(self) -> None:
        if not self.fact_id:
            object.__setattr__(
                self,
                "fact_id",
                stable_id(self.cause, self.rule_id, self.consequence, self.target, self.edge_id, self.object_id),
            )

    def ends_on(self, on: date) -> dict[str, str | None]:
        """``ended_by`` once the fact has ended by ``on``, else None and ``ends_by``: its scheduled end (an
        active fact did not end by "expired"; it will, on ``valid_to``)."""
        ended = self.valid_to is not None and on >= self.valid_to
        return {"ended_by": self.ended_by if ended else None, "ends_by": None if ended else self.ended_by}

    def status_on(self, on: date) -> str:
        """pending, active, suspended, or the reason it ended (expired, lifted, withdrawn, ...)."""
        return fact_status(self.valid_from, self.valid_to, self.ended_by, self.suspended, on)


def fact_status(valid_from: date, valid_to: date | None, ended_by: str | None,
                suspended: tuple[tuple[date, date | None], ...], on: date) -> str:
    """``DerivedFact.status_on`` from the fields it reads (a store's compact fact table judges with it)."""
    if on < valid_from:
        return "pending"
    if valid_to is not None and on >= valid_to:
        return ended_by or "expired"
    if suspended and any(active_on(a, b, on) for a, b in suspended):
        return "suspended"
    return "active"
