"""Request and response bodies. Field limits are here so bad input fails before it reaches the library."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from graph_credit.errors import DomainError
from graph_credit.ids import birth_date
from graph_credit.model import (
    DATE_OUT_OF_RANGE,
    EARLIEST_DATE,
    ID_PATTERN,
    LATEST_DATE,
    MAX_LENGTH,
    MAX_RESPONSIBLE,
    Role,
)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Only YYYY-MM-DD (or a date): pydantic would otherwise take 0 or 1.5e9 as a Unix time."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


def _in_range(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(DATE_OUT_OF_RANGE)
    return value


# Request scalars are strict: the OpenAPI types are what is accepted (no true for 1, no 0 for a date).
# Dates are bounded as in the import (graph_credit.model): year 9999 is a typo, and a period added to it
# would leave the calendar.
Day = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_in_range)]

Subject = Field(min_length=18, max_length=25, description="USCC, resident ID number, or person key",
                examples=["91320281MA1MXXXX0Q"])


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. invalid_identifier, forbidden, not_found")
    message: str = Field(description="What is wrong, for a person")
    field: str | None = Field(description="The request field at fault (dotted path), null when none applies")
    details: list[dict[str, Any]] | None = Field(None, description="Every validation problem, when several")
    facts: list[str] | None = Field(None, description="Blocking derived facts (black_list_conflict)")
    basis: list[str] | None = Field(None, description="The clauses barring it (black_list_conflict)")


class ErrorResponse(BaseModel):
    """Every error answer: a 4xx status and this body."""

    error: ErrorBody


# Never in any text field: C0/C1 control characters (NUL...) other than tab and line breaks, bidirectional
# marks, embeddings, overrides and isolates (a right-to-left override makes a code read differently from
# what it is), lone surrogates (not encodable as UTF-8), the BOM and non-characters.
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                       "\u2066-\u2069\ufeff\ufffe\uffff\ud800-\udfff]")


def _check_text(value: str, where: str = "") -> None:
    if m := _BAD_TEXT.search(value):
        raise ValueError(f"{where}contains U+{ord(m.group()):04X} at position {m.start()}: control, "
                         "bidirectional and unpaired surrogate characters are not accepted")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    _check_text(item, f"item {i} ")
        return value


class CheckRequest(Strict):
    subject: str = Subject
    matter: str = Field(min_length=1, max_length=64, examples=["government_procurement"])
    as_of: Day | None = Field(None, description="Defaults to today")
    purpose: str = Field(min_length=1, max_length=200, examples=["政府采购供应商资格审查"])
    depth: StrictInt = Field(2, ge=0, le=3, description="Related-party depth")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subject": "91320281MA1MXXXX0Q", "matter": "government_procurement", "as_of": "2026-06-01",
        "purpose": "政府采购供应商资格审查"}]})


class BatchCheckRequest(Strict):
    subjects: list[str] = Field(min_length=1, max_length=1000)
    matter: str = Field(min_length=1, max_length=64)
    as_of: Day | None = None
    purpose: str = Field(min_length=1, max_length=200)
    depth: StrictInt = Field(1, ge=0, le=3)


class CheckResponse(BaseModel):
    subject: str
    subject_kind: Literal["organisation", "person"]
    matter: str
    as_of: date
    decision: Literal["deny", "review", "allow", "green_channel", "unknown"] = Field(
        description="unknown: the subject is not registered, so nothing can be said about it (not an allow)")
    measures: list[dict[str, Any]]
    related: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    green_channel: dict[str, Any] | None
    policy: dict[str, str]


class Responsible(Strict):
    id_number: str = Field(min_length=18, max_length=25)
    role: Role | None = None


class RecordIn(Strict):
    record_id: str = Field(min_length=1, max_length=MAX_LENGTH["record_id"], pattern=ID_PATTERN)
    subject: str = Subject
    category: str = Field(min_length=1, max_length=MAX_LENGTH["category"],
                          description="A category of the record's jurisdiction policy (GET /v1/policy)")
    severity: Literal["serious", "general", "minor"]
    act_date: Day | None = None
    decision_date: Day
    document_no: str = Field("", max_length=MAX_LENGTH["document_no"])
    basis: str = Field("", max_length=MAX_LENGTH["basis"])
    period_end: Day | None = None
    responsible: list[Responsible] = Field(default_factory=list, max_length=MAX_RESPONSIBLE)
    jurisdiction: str | None = Field(None, max_length=MAX_LENGTH["jurisdiction"])

    @model_validator(mode="after")
    def _dates(self) -> RecordIn:
        if self.act_date and self.act_date > self.decision_date:
            raise DomainError("must not be after decision_date", field="act_date")
        if self.period_end and self.period_end <= self.decision_date:
            raise DomainError("must be after decision_date", field="period_end")
        return self


class EventIn(Strict):
    kind: Literal["objection_filed", "objection_upheld", "objection_rejected", "repair_applied", "repair_verified",
                  "repair_approved", "repair_rejected", "revoked", "exit"]
    on: Day
    detail: str = Field("", max_length=1000)


class RoleIn(Strict):
    holder: str = Subject
    org: str = Field(min_length=18, max_length=18)
    role: Role
    valid_from: Day
    valid_to: Day | None = None
    ratio: StrictFloat | None = Field(None, gt=0, le=1)
    subscribed_capital: StrictFloat | None = Field(None, ge=0)
    title: str = Field("", max_length=MAX_LENGTH["title"])

    @model_validator(mode="after")
    def _interval(self) -> RoleIn:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise DomainError("must be after valid_from", field="valid_to")
        born = birth_date(self.holder)  # known only when the holder is given by a clear ID number
        if born is not None and self.valid_from < born:
            raise DomainError("before the holder's birth date (in the ID number)", field="valid_from")
        if self.role == Role.SHAREHOLDER and self.ratio is None:
            raise DomainError("a shareholding needs a ratio in (0, 1]", field="ratio")
        return self


class ListEntryIn(Strict):
    entry_id: str = Field(min_length=1, max_length=MAX_LENGTH["entry_id"], pattern=ID_PATTERN)
    subject: str = Subject
    list: Literal["red", "black"]
    name: str = Field(min_length=1, max_length=MAX_LENGTH["name"])
    basis: str = Field("", max_length=MAX_LENGTH["basis"])
    valid_from: Day
    valid_to: Day | None = None
    publicity_from: Day | None = None
    publicity_to: Day | None = None
    status: Literal["proposed", "publicity", "effective"] = "proposed"

    @model_validator(mode="after")
    def _intervals(self) -> ListEntryIn:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise DomainError("must be after valid_from", field="valid_to")
        if self.publicity_from and self.publicity_to and self.publicity_to < self.publicity_from:
            raise DomainError("must not be before publicity_from", field="publicity_to")
        return self


class CaseIn(Strict):
    cause_id: str = Field(min_length=1, max_length=64)
    opened_on: Day | None = None
    due_days: StrictInt = Field(30, ge=1, le=365)


class FeedbackIn(Strict):
    status: Literal["applied", "not_applicable", "refused"]
    reason: str = Field("", max_length=1000)
    reported_on: Day | None = None


class SubscriptionIn(Strict):
    """Watch a subject, and with ``depth`` its related parties, for records, list entries, measures and roles."""

    subject: str = Subject
    depth: StrictInt = Field(0, ge=0, le=3, description="Also watch subjects up to this many role edges away")
    webhook_url: str | None = Field(None, max_length=2000, pattern=r"^https?://[^\s]+$",
                                    description="Alerts are POSTed here, signed; without it they are read via the API")
    secret: str | None = Field(None, min_length=16, max_length=256,
                               description="HMAC-SHA256 key for X-Graph-Credit-Signature; generated and shown once "
                                           "if omitted")
    purpose: str = Field(min_length=1, max_length=200, description="Why (audited with every delivery)")
    label: str = Field("", max_length=200)

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subject": "91320281MA1MXXXX0Q", "depth": 1, "webhook_url": "https://dept.example/hooks/credit",
        "purpose": "重点监管对象跟踪"}]})


class DeclineIn(Strict):
    reason: str = Field(min_length=1, max_length=1000, description="Why the owning department declines it")


class NoticeAckIn(Strict):
    note: str = Field("", max_length=1000, description="What the department did (e.g. lifted the restriction)")


# -- analysis: connections among many subjects, policy what-if ------------------------------------------------


def _jurisdiction(value: Any) -> Any:
    from graph_credit.policy import available_jurisdictions

    if value is not None and value not in available_jurisdictions():
        raise ValueError(f"unknown jurisdiction; available: {', '.join(available_jurisdictions())}")
    return value


class ConnectionsRequest(Strict):
    subjects: list[Annotated[str, Field(min_length=18, max_length=25)]] = Field(
        min_length=2, max_length=50, description="2 to 50 USCCs, resident ID numbers or person keys")
    as_of: Day | None = Field(None, description="Defaults to today")
    max_depth: StrictInt = Field(4, ge=1, le=6, description="Longest chain of role edges joining two subjects")
    max_fanout: StrictInt = Field(100, ge=1, le=2000, description="Edges followed from any one node per page")
    cursor: str | None = Field(None, max_length=8192, description="next_cursor of the previous page")
    purpose: str | None = Field(None, min_length=1, max_length=200)

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subjects": ["91320281MA1MXXXX0Q", "91320281MA1MYYYY0X"], "as_of": "2026-06-01", "max_depth": 4,
        "max_fanout": 100, "purpose": "关联关系调查"}]})


class PolicyChoiceIn(Strict):
    jurisdiction: Annotated[str | None, BeforeValidator(_jurisdiction)] = Field(
        None, max_length=MAX_LENGTH["jurisdiction"],
        description="A jurisdiction policy (default, jiangyin, ...); omitted: each record's own")
    on: Day | None = Field(None, description="Effective date of the policy; omitted: each cause's own date")


class WhatIfRequest(Strict):
    subject: str | None = Field(None, min_length=18, max_length=25)
    region: str | None = Field(None, pattern=r"^\d{2,6}$", description="Administrative division code or prefix")
    a: PolicyChoiceIn
    b: PolicyChoiceIn
    as_of: Day | None = Field(None, description="Statuses compared on this date; defaults to today")
    limit: StrictInt = Field(1000, ge=1, le=10000, description="Most differences returned")
    purpose: str | None = Field(None, min_length=1, max_length=200)

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subject": "91320281MA1MXXXX0Q", "a": {"jurisdiction": "default"}, "b": {"jurisdiction": "jiangyin"},
        "purpose": "政策比较"}]})

    @model_validator(mode="after")
    def _scope(self) -> WhatIfRequest:
        if (self.subject is None) == (self.region is None):
            raise DomainError("give exactly one of subject or region", field="subject")
        return self
