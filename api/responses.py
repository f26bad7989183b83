"""Response bodies: what every route answers, so the OpenAPI page documents answers and not only requests.

The journal rows (subscriptions, alerts, notices, cases) are the library's TypedDicts (graph_credit.journal).
Answers are validated against these models on the way out; keys a model does not name are kept, never
dropped (``extra="allow"``), so a model that lags the library shows less in the documentation but never
takes data away from a client. A test fails when a route has no model (tests/test_api.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, with_config

from graph_credit import journal
from graph_credit.journal import Alert, CaseItem, CaseStatistics, Notice, NoticeView, SubscriptionView

from .schemas import CheckResponse

_KEEP_EXTRA = ConfigDict(extra="allow")
for _shape in journal.__all__:  # the library's TypedDicts, as response models that keep unnamed keys
    with_config(_KEEP_EXTRA)(getattr(journal, _shape))

Row = dict[str, Any]  # a nested row whose keys the library's docstring gives (e.g. a derived fact)


class Answer(BaseModel):
    model_config = _KEEP_EXTRA


# -- approval checks ------------------------------------------------------------------------------------------
class BatchCheckResponse(Answer):
    as_of: date
    matter: str
    results: list[CheckResponse] = Field(description="One per subject, in request order")
    decisions: dict[str, int] = Field(description="How many results have each decision")


# -- subjects -------------------------------------------------------------------------------------------------
class Profile(Answer):
    subject: Row = Field(description="Who it is (organisation or person, masked ID for persons)")
    as_of: date
    records: list[Row] = Field(description="Own dishonesty records with lifecycle (withdrawn, repaired, objections)")
    derived: list[Row] = Field(description="Derived consequences with status on as_of and provenance; `ended_by` "
                                           "once ended, `ends_by` what is scheduled to end one still in force")
    honours: list[Row]
    list_entries: list[Row]
    monitoring: Literal["key_supervision", "key_monitoring"] | None
    active_consequences: list[str] = Field(description="Consequences in force on as_of")


class RelatedParties(Answer):
    subject: str
    as_of: date
    depth: int
    truncated: Any = Field(description="Hubs whose edges were not all followed")
    related: list[Row] = Field(description="subject, distance, score, reasons and the path of role edges")


class Holder(Answer):
    holder: str
    direct: float
    effective_stake: float
    control_share: float
    beneficial_owner: bool


class BeneficialOwner(Answer):
    person: str
    effective_stake: float
    control_share: float
    criteria: list[str]


class Ownership(Answer):
    subject: str
    as_of: date
    threshold: float
    holders: list[Holder]
    beneficial_owners: list[BeneficialOwner]
    truncated: bool


# -- investigation --------------------------------------------------------------------------------------------
class Graph(Answer):
    origin: str
    as_of: date
    depth: int
    nodes: list[Row] = Field(description="id, kind, name, distance, consequences in force, truncated_edges")
    edges: list[Row] = Field(description="id, source (holder), target (organisation), role, valid_from, valid_to")
    truncated: Any


class Connection(Answer):
    a: str
    b: str
    path: list[Row] | None = Field(description="The role edges from a to b; null when not connected")


class Timeline(Answer):
    subject: str
    events: list[Row] = Field(description="Dated: role_start/role_end, act, record, lifecycle events, lists, facts")


class Explanation(Answer):
    fact: Row = Field(description="The derived consequence")


# -- departments ----------------------------------------------------------------------------------------------
class RecordWritten(Answer):
    record_id: str
    facts_added: int
    facts_removed: int
    facts: list[str] = Field(description="The record's consequences in force, also when the write changed nothing")
    personal_data_masked: list[str] = Field(description="Free-text fields in which personal data was masked")


class EventFiled(Answer):
    event_id: str
    facts_changed: int
    facts_removed: int


class ApplicationForwarded(Answer):
    application_id: str
    status: str
    owner: str = Field(description="The department owning the record, which accepts or declines it")
    facts_changed: int
    facts_removed: int


class Applications(Answer):
    applications: list[Row]


class Application(Answer):
    id: str
    status: str
    cause: str


class Written(Answer):
    facts_changed: int
    facts_removed: int


class RoleWritten(Written):
    edge_id: str


class ListEntryWritten(Written):
    entry_id: str
    status: str


class CaseItems(Answer):
    items: list[CaseItem]


class Statistics(Answer):
    statistics: list[CaseStatistics]


class Objection(Answer):
    cause: str
    filed_on: date
    deadline: date
    resolved_on: date | None
    upheld: bool | None
    pending: bool
    overdue: bool
    subject: str
    owner: str


class Objections(Answer):
    objections: list[Objection]


# -- monitoring -----------------------------------------------------------------------------------------------
class SubscriptionAnswer(SubscriptionView):
    created: NotRequired[bool]
    secret: NotRequired[str]  # generated: shown once


with_config(_KEEP_EXTRA)(SubscriptionAnswer)


class Subscriptions(Answer):
    subscriptions: list[SubscriptionView]


class Alerts(Answer):
    alerts: list[Alert]


class DeliveryRound(Answer):
    """Counts of one delivery round, and the alert ids by outcome."""


class Notices(Answer):
    department: str | None
    notices: list[NoticeView | Notice]


class Sweep(Answer):
    as_of: str
    notices_due: int
    notices_new: int
    alerts_due: int
    alerts_new: int


# -- policy and administration --------------------------------------------------------------------------------
class PolicyAnswer(Answer):
    jurisdiction: str
    version: str
    on: date
    rules: list[Any]
    objection: Any
    repair: Any
    green_channel: Any
    punishment_period_days: dict[str, int]
    jurisdictions: list[str]


class Catalogue(Answer):
    version: str
    measures: list[Any]
    matters: list[Any]
    departments: list[Any]


class AuditPage(Answer):
    entries: list[Row]
    next_cursor: str | None


class Health(Answer):
    status: Literal["ok"]
    store: str | None = None
    counts: dict[str, int] | None = None


# -- analysis -------------------------------------------------------------------------------------------------
class RiskItems(Answer):
    subject: str
    as_of: date
    depth: int
    window_days: int
    counts: Row
    items: list[Row] = Field(description="category (own, surrounding, historical, warning), severity, summary...")
    truncated: Any


class EvasionFlags(Answer):
    subject: str
    as_of: date
    flags: list[Row]


class RegionEvasion(Answer):
    region: str
    as_of: date
    flags: list[Row]
    truncated: bool


class SerialFailures(Answer):
    region: str
    as_of: date
    persons: list[Row]
    truncated: bool
    flags: list[Row]


class Connections(Answer):
    subjects: list[str]
    as_of: date
    max_depth: int
    max_fanout: int
    connected: bool
    components: list[Any]
    unconnected: list[Any]
    pairs: list[Row]
    ownership_chains: list[Row]
    shared_persons: Any
    nodes: list[Row]
    edges: list[Row]
    truncated: list[Row]
    next_cursor: str | None


class WhatIf(Answer):
    a: Row
    b: Row
    as_of: date | None
    causes: int
    facts_a: int
    facts_b: int
    counts: Row
    differences: list[Row]
    truncated: bool


# -- workbench ------------------------------------------------------------------------------------------------
class Search(Answer):
    q: str
    region: str | None
    industry: str | None
    kind: str | None
    as_of: date
    offset: int
    limit: int
    next_offset: int | None
    subjects: list[Row]


class RolesPage(Answer):
    subject: Row
    as_of: date
    total: int
    offset: int
    limit: int
    next_offset: int | None
    edges: list[Row]

