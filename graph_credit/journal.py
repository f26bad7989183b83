"""The shapes of the rows kept in the store's journal tables that the service hands out: subscriptions, alerts,
notices and cases. The stores keep them as JSON documents (``Store.append`` / ``query``); these TypedDicts say
which keys each one has, for the code that writes them and for the API's response models.

Dates and times are ISO strings (they are JSON documents). A key that only some rows of a table carry is
``NotRequired``; ``None`` is a value that is always present.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

__all__ = [
    "Acknowledgement", "Alert", "AlertItem", "Case", "CaseItem", "CaseStatistics", "DeliveryAttempt", "Notice",
    "NoticeItem", "NoticeView", "Subscription", "SubscriptionView", "ViaStep",
]

DeliveryState = Literal["pending", "delivered", "failed", "cancelled", "none"]


# -- subscriptions ------------------------------------------------------------------------------------------
class _SubscriptionFields(TypedDict):
    id: str
    subject: str
    depth: int
    department: str | None
    owner_key: str
    owner: str
    role: str
    purpose: str
    label: str
    webhook_url: str | None
    status: Literal["active", "cancelled"]
    since: str
    created_at: str
    cancelled_at: str | None


class Subscription(_SubscriptionFields):
    """A stored subscription: ``secret`` signs its webhook deliveries."""

    secret: str | None


class SubscriptionView(_SubscriptionFields):
    """A subscription as the API shows it: never the secret, only whether one is set."""

    secret_set: bool


# -- alerts -------------------------------------------------------------------------------------------------
class ViaStep(TypedDict):
    """One role edge on the path from the watched subject to where a change happened."""

    edge_id: str
    holder: str
    role: str
    org: str
    valid_from: str | None
    valid_to: str | None


class AlertItem(TypedDict):
    """One change an alert reports. ``kind`` says which of the optional keys it carries: a ``record``, a
    ``list_entry`` (their fields, or an event's), a ``role`` (the edge) or a ``measure`` (a derived fact)."""

    kind: Literal["record", "list_entry", "role", "measure"]
    change: str
    subjects: list[str]
    subject: str
    item_id: str
    distance: int
    via: list[ViaStep]
    record_id: NotRequired[str]
    entry_id: NotRequired[str]
    edge_id: NotRequired[str]
    fact_id: NotRequired[str]
    event_id: NotRequired[str]
    left_network: NotRequired[list[str]]
    # the remaining fields of the changed thing, as the change log wrote them
    category: NotRequired[str]
    severity: NotRequired[str]
    decision_date: NotRequired[str | None]
    act_date: NotRequired[str | None]
    period_end: NotRequired[str | None]
    department: NotRequired[str]
    list: NotRequired[str]
    name: NotRequired[str]
    status: NotRequired[str]
    previous_status: NotRequired[str | None]
    determining_unit: NotRequired[str]
    holder: NotRequired[str]
    role: NotRequired[str]
    org: NotRequired[str]
    ratio: NotRequired[float | None]
    valid_from: NotRequired[str | None]
    valid_to: NotRequired[str | None]
    on: NotRequired[str | None]
    detail: NotRequired[str]
    cause: NotRequired[str]
    consequence: NotRequired[str]
    rule_id: NotRequired[str]
    target_role: NotRequired[str | None]
    ended_by: NotRequired[str | None]
    object_id: NotRequired[str | None]


class DeliveryAttempt(TypedDict):
    at: str
    status: int | None
    error: str | None
    ms: float


class Alert(TypedDict):
    """One alert: the changes one write (or the expiry sweep) made within one subscription's network."""

    id: str
    subscription_id: str
    subject: str
    depth: int
    department: str | None
    owner_key: str | None
    trigger: str
    as_of: str
    created_at: str
    items: list[AlertItem]
    delivery_state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: str | None
    delivered_at: str | None
    history: list[DeliveryAttempt]


# -- notices ------------------------------------------------------------------------------------------------
class NoticeItem(TypedDict):
    """The case item a notice is addressed through."""

    item_id: str
    case_id: str
    department: str
    measure: str
    measure_name: str | None
    target: str
    fact_id: str
    feedback: str | None


class Acknowledgement(TypedDict):
    by: str
    at: str
    note: str


class _NoticeFields(TypedDict):
    id: str
    cause: str
    target: str
    change: str
    reason: str
    effective: str
    # a fact's change (ended, withdrawn, expired ...)
    fact_id: NotRequired[str]
    consequence: NotRequired[str]
    rule_id: NotRequired[str]
    still_applies_via: NotRequired[list[str]]
    # an upheld objection's remedy (clarification, clawback) and an objection's result
    detail: NotRequired[str]
    facts: NotRequired[list[str]]
    benefit_periods: NotRequired[list[dict[str, str]]]
    apology_required: NotRequired[bool]
    compensation_where_harmed: NotRequired[bool]
    result: NotRequired[Literal["upheld", "rejected"]]
    objector: NotRequired[str]
    # a list exit's announcement
    list: NotRequired[str]
    list_name: NotRequired[str]
    channel: NotRequired[str]
    publicity: NotRequired[dict[str, str | None]]
    basis: NotRequired[list[str]]


class Notice(_NoticeFields):
    """A notice to the departments that received a consequence (or must act on a remedy)."""

    departments: list[str]
    items: list[NoticeItem]
    acknowledged: dict[str, Acknowledgement]


class NoticeView(_NoticeFields):
    """A notice as one addressee sees it: its own items and its own acknowledgement."""

    department: str
    items: list[NoticeItem]
    acknowledged: Acknowledgement | None


# -- cases --------------------------------------------------------------------------------------------------
class Case(TypedDict):
    id: str
    cause: str
    kind: Literal["punishment", "incentive"]
    initiating_department: str
    opened_on: str
    items: int  # how many items the case opened


class CaseItem(TypedDict):
    """One measure one department applies to one target, and its feedback."""

    id: str
    case_id: str
    department: str
    measure: str
    measure_name: str | None
    binding: bool
    target: str
    fact_id: str
    status: Literal["pending", "applied", "not_applicable", "refused"]
    reason: str
    due: str
    reported_on: str | None
    overdue: NotRequired[bool]  # in open_items' answer


class CaseStatistics(TypedDict):
    department: str
    measure: str
    total: int
    pending: int
    applied: int
    not_applicable: int
    refused: int
    overdue: int
    completion: float

