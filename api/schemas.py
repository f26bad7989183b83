"""Request and response bodies. Field limits are here so bad input fails before it reaches the library."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from graph_credit.model import Role

Subject = Field(min_length=18, max_length=25, description="USCC, resident ID number, or person key",
                examples=["91320281MA1MXXXX0X"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CheckRequest(Strict):
    subject: str = Subject
    matter: str = Field(min_length=1, max_length=64, examples=["government_procurement"])
    as_of: date | None = Field(None, description="Defaults to today")
    purpose: str = Field(min_length=1, max_length=200, examples=["政府采购供应商资格审查"])
    depth: int = Field(2, ge=0, le=3, description="Related-party depth")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subject": "91320281MA1MXXXX0X", "matter": "government_procurement", "as_of": "2026-06-01",
        "purpose": "政府采购供应商资格审查"}]})


class BatchCheckRequest(Strict):
    subjects: list[str] = Field(min_length=1, max_length=1000)
    matter: str = Field(min_length=1, max_length=64)
    as_of: date | None = None
    purpose: str = Field(min_length=1, max_length=200)
    depth: int = Field(1, ge=0, le=3)


class CheckResponse(BaseModel):
    subject: str
    subject_kind: Literal["organisation", "person"]
    matter: str
    as_of: date
    decision: Literal["deny", "review", "allow", "green_channel"]
    measures: list[dict[str, Any]]
    related: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    green_channel: dict[str, Any] | None
    policy: dict[str, str]


class Responsible(Strict):
    id_number: str = Field(min_length=18, max_length=25)
    role: Role | None = None


class RecordIn(Strict):
    record_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    subject: str = Subject
    category: str = Field(min_length=1, max_length=64)
    severity: Literal["serious", "general", "minor"]
    act_date: date | None = None
    decision_date: date
    document_no: str = Field("", max_length=128)
    basis: str = Field("", max_length=500)
    period_end: date | None = None
    responsible: list[Responsible] = Field(default_factory=list, max_length=100)
    jurisdiction: str | None = Field(None, max_length=32)

    @model_validator(mode="after")
    def _dates(self) -> RecordIn:
        if self.act_date and self.act_date > self.decision_date:
            raise ValueError("act_date: must not be after decision_date")
        if self.period_end and self.period_end <= self.decision_date:
            raise ValueError("period_end: must be after decision_date")
        return self


class EventIn(Strict):
    kind: Literal["objection_filed", "objection_upheld", "objection_rejected", "repair_applied", "repair_verified",
                  "repair_approved", "repair_rejected", "revoked", "exit"]
    on: date
    detail: str = Field("", max_length=1000)


class RoleIn(Strict):
    holder: str = Subject
    org: str = Field(min_length=18, max_length=18)
    role: Role
    valid_from: date
    valid_to: date | None = None
    ratio: float | None = Field(None, gt=0, le=1)
    subscribed_capital: float | None = Field(None, ge=0)
    title: str = Field("", max_length=64)

    @model_validator(mode="after")
    def _interval(self) -> RoleIn:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to: must be after valid_from")
        if self.role == Role.SHAREHOLDER and self.ratio is None:
            raise ValueError("ratio: a shareholding needs a ratio in (0, 1]")
        return self


class ListEntryIn(Strict):
    entry_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    subject: str = Subject
    list: Literal["red", "black"]
    name: str = Field(min_length=1, max_length=64)
    basis: str = Field("", max_length=500)
    valid_from: date
    valid_to: date | None = None
    publicity_from: date | None = None
    publicity_to: date | None = None
    status: Literal["proposed", "publicity", "effective"] = "proposed"


class CaseIn(Strict):
    cause_id: str = Field(min_length=1, max_length=64)
    opened_on: date | None = None
    due_days: int = Field(30, ge=1, le=365)


class FeedbackIn(Strict):
    status: Literal["applied", "not_applicable", "refused"]
    reason: str = Field("", max_length=1000)
    reported_on: date | None = None
