"""Policy as data: propagation rules, the measures catalogue (措施清单) and lifecycle settings per jurisdiction.

Policies live in ``data/`` as YAML: ``default.yaml`` (plus the ``catalogue.yaml`` it names) and one
overlay per jurisdiction under ``jurisdictions/`` that ``extends: default``.

Each jurisdiction is its own law. The base files are a library of rules and measures, each citing the
documents that adopt it; ``default`` is the national layer, Guo Fa [2016] No. 33 itself. Under a
jurisdiction whose document is D, a base entry is in force only if it cites D or Guo Fa 33 (the national
rule every local document implements), and it shows only those bases: nothing one local document says
applies under another. The overlay is D's exceptions, as the text makes them: it adds rules and measures
(each must cite D), replaces a base entry by id with its own version, removes one (``removes``, with the
reason), and overrides the settings. Every rule and measure is dated; several entries with one id are
versions and must not overlap within one file set. On a given date an overlay entry in force wins over a
base entry with the same id, so an overlay version starting at its document's date leaves the base version
in force before that date.

Every consequence has an end: a rule is lifted by expiry or exit, or declares itself ``permanent`` with the
clause that makes it so (a revoked honour stays revoked).

The loader is strict on purpose: a policy decides who is punished, so a typo must stop the deployment
rather than silently drop a measure. Every problem names the file, the key path inside it and the reason.

This module holds the vocabulary and the schema of the files (pydantic models); ``snapshot`` the resolved
policy and its dated snapshots; ``loader`` the reading and checking of the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_serializer,
    field_validator,
    model_validator,
)

from graph_credit.model import LISTS, ORG_TYPES, SEVERITIES, Role

# Consequences a rule can derive; the engine gives them meaning.
RULE_CONSEQUENCES = (
    "joint_punishment",
    "personal_credit_entry",
    "responsible_person_punishment",
    "market_ban",
    "honour_revocation",
    "commendation_ineligible",
    "public_institution_lr_bar",
    "red_list_removal",
    "high_consumption_restriction",
    "exit_restriction",
    "green_channel",
    "key_supervision",
)
# Consequences that only follow the lifting of another (重点监测 after exit or repair).
AFTERCARE_CONSEQUENCES = ("key_monitoring",)
CONSEQUENCES = RULE_CONSEQUENCES + AFTERCARE_CONSEQUENCES
LIFTED_BY = ("expiry", "repair", "objection_upheld", "exit")
TARGET_KINDS = ("organisation", "person")

# Source documents and how each numbers its clauses: Xiaoyi/Shandong number items 1..n and Xiaoyi also
# has sections （八） written "(8)"; Ganzhou nests （二） under 四、 written "4(2)"; the rest use "(n)".
DOCUMENTS: Mapping[str, re.Pattern[str]] = MappingProxyType(
    {
        "Xiaoyi": re.compile(r"^(\d+|\(\d+\))$"),
        "Ganzhou": re.compile(r"^\d+(\(\d+\))?$"),
        "Shandong": re.compile(r"^(\d+|\(\d+\))$"),
        "Tibet": re.compile(r"^\(\d+\)$"),
        "Jiangyin": re.compile(r"^\(\d+\)$"),
        "GuoFa33": re.compile(r"^\(\d+\)$"),
    }
)
DocumentName = Literal["Xiaoyi", "Ganzhou", "Shandong", "Tibet", "Jiangyin", "GuoFa33"]

_IDENT = r"^[a-z][a-z0-9_]*$"
_CJK = re.compile(r"[\u4e00-\u9fff]")
_ROLE_NAMES = frozenset(r.value for r in Role)
_NAME_RE = re.compile(_IDENT)


class PolicyError(ValueError):
    """A policy file is malformed. ``file``/``path``/``reason`` describe the first problem, ``problems`` all."""

    def __init__(self, file: str, path: str, reason: str, *, more: Sequence[tuple[str, str, str]] = ()) -> None:
        self.file, self.path, self.reason = file, path, reason
        self.problems: tuple[tuple[str, str, str], ...] = ((file, path, reason), *more)
        super().__init__("\n".join(_format_problem(*p) for p in self.problems))

    @classmethod
    def from_problems(cls, problems: Sequence[tuple[str, str, str]]) -> PolicyError:
        first, *rest = problems
        return cls(*first, more=rest)


def _format_problem(file: str, path: str, reason: str) -> str:
    return f"{file}: {path}: {reason}" if path else f"{file}: {reason}"


# --------------------------------------------------------------------------------------------------
# Schema. Sequences are tuples and sets frozensets so that every entry is immutable and hashable.


class _Model(BaseModel):
    # Numbers become strings where a string is expected: YAML reads clause 30 or version 1 as ints.
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)


class Basis(_Model):
    """Where a rule, measure or setting comes from: document short name, clause and a short quote."""

    document: DocumentName
    clause: str
    quote: str = Field(min_length=2, max_length=80)

    @model_validator(mode="after")
    def _check(self) -> Basis:
        if not DOCUMENTS[self.document].match(self.clause):
            raise ValueError(f"clause '{self.clause}' is not how {self.document} numbers its clauses")
        if not _CJK.search(self.quote):
            raise ValueError("quote must be an excerpt of the Chinese source text")
        return self

    def __str__(self) -> str:
        return f"{self.document} {self.clause}"


BasisList = Annotated[tuple[Basis, ...], Field(min_length=1)]


def _subset(values: frozenset[str] | None, allowed: Iterable[str], what: str) -> frozenset[str] | None:
    if values is None:
        return None
    if not values:
        raise ValueError(f"empty {what} matches nothing; use null for 'any'")
    unknown = sorted(values - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected some of {sorted(allowed)}")
    return values


class Trigger(_Model):
    """What fires a rule. ``None`` in a filter means any value."""

    event: Literal["dishonesty_record", "list_entry"]
    severities: frozenset[str] | None = None
    subject_kinds: frozenset[str] | None = None
    categories: frozenset[str] | None = None  # checked against the policy's categories by the loader
    lists: frozenset[str] | None = None
    org_types: frozenset[str] | None = None  # only applies when the subject is an organisation

    @field_validator("severities")
    @classmethod
    def _severities(cls, v: frozenset[str] | None) -> frozenset[str] | None:
        return _subset(v, SEVERITIES, "severity")

    @field_validator("subject_kinds")
    @classmethod
    def _kinds(cls, v: frozenset[str] | None) -> frozenset[str] | None:
        return _subset(v, TARGET_KINDS, "subject kind")

    @field_validator("lists")
    @classmethod
    def _lists(cls, v: frozenset[str] | None) -> frozenset[str] | None:
        return _subset(v, LISTS, "list")

    @field_validator("org_types")
    @classmethod
    def _org_types(cls, v: frozenset[str] | None) -> frozenset[str] | None:
        return _subset(v, ORG_TYPES, "org type")

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: frozenset[str] | None) -> frozenset[str] | None:
        if v is not None and not v:
            raise ValueError("empty categories match nothing; use null for 'any'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Trigger:
        if self.event == "list_entry":
            if not self.lists:
                raise ValueError("a list_entry trigger must name its lists")
            if self.severities is not None or self.categories is not None:
                raise ValueError("list entries carry no severity or category; filter on lists")
        elif self.lists is not None:
            raise ValueError("lists only apply to list_entry triggers")
        if self.org_types is not None and self.subject_kinds == frozenset({"person"}):
            raise ValueError("org_types cannot match a person-only trigger")
        return self

    def matches(
        self,
        event: str,
        subject_kind: str,
        *,
        severity: str | None = None,
        category: str | None = None,
        list_name: str | None = None,
        org_type: str | None = None,
    ) -> bool:
        """Whether an event with these attributes fires the rule."""
        if event != self.event:
            return False
        if self.subject_kinds is not None and subject_kind not in self.subject_kinds:
            return False
        if self.severities is not None and severity not in self.severities:
            return False
        if self.categories is not None and category not in self.categories:
            return False
        if self.lists is not None and list_name not in self.lists:
            return False
        return not (subject_kind == "organisation" and self.org_types is not None and org_type not in self.org_types)


class Affect(_Model):
    """Who a rule reaches: the subject itself, or holders of a role in the subject organisation.

    ``by: position`` reaches whoever held the role at the act date; ``by: named`` only persons the
    record names as directly responsible (负有直接责任), with ``role: "*"`` meaning any role.
    """

    target: Literal["subject", "role"]
    role: str | None = None
    by: Literal["position", "named"] = "position"

    @model_validator(mode="after")
    def _check(self) -> Affect:
        if self.target == "subject":
            if self.role is not None:
                raise ValueError("a subject affect takes no role")
        elif self.role is None:
            raise ValueError("a role affect needs a role")
        elif self.role == "*":
            if self.by != "named":
                raise ValueError("role '*' only makes sense for persons named as responsible (by: named)")
        elif self.role not in _ROLE_NAMES:
            raise ValueError(f"unknown role '{self.role}'; expected one of {sorted(_ROLE_NAMES)} or '*'")
        return self


class Aftercare(_Model):
    """A consequence that starts when the rule's consequence is lifted in one of the ``on`` ways."""

    consequence: Literal["key_monitoring"]
    on: frozenset[Literal["expiry", "repair", "exit"]] = Field(min_length=1)
    duration_days: StrictInt = Field(gt=0)  # monitoring restricts, so it ends too
    basis: BasisList
    note: str | None = None


class Permanence(_Model):
    """Why a consequence has no end but an upheld objection: the clause that makes it lasting."""

    basis: BasisList
    note: str | None = None


class _Dated(_Model):
    effective_from: date
    effective_to: date | None = None  # exclusive, like every interval in the model
    note: str | None = None
    origin: str = ""  # the file the entry came from; set by the loader

    @model_validator(mode="before")
    @classmethod
    def _no_origin(cls, data: Any) -> Any:
        if isinstance(data, dict) and "origin" in data:
            raise ValueError("'origin' is set by the loader, not written in the file")
        return data

    @model_validator(mode="after")
    def _interval(self) -> _Dated:
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on < self.effective_to)


class Rule(_Dated):
    id: str = Field(pattern=r"^[A-Z][A-Za-z0-9_]*$")
    version: str = Field(min_length=1)
    title: str = Field(min_length=1)
    trigger: Trigger
    affects: tuple[Affect, ...] = Field(min_length=1)
    consequence: str
    lifted_by: frozenset[str]
    aftercare: Aftercare | None = None
    permanent: Permanence | None = None
    basis: BasisList

    @field_validator("consequence")
    @classmethod
    def _consequence(cls, v: str) -> str:
        if v not in RULE_CONSEQUENCES:
            raise ValueError(f"unknown consequence '{v}'; expected one of {list(RULE_CONSEQUENCES)}")
        return v

    @field_validator("lifted_by")
    @classmethod
    def _lifted_by(cls, v: frozenset[str]) -> frozenset[str]:
        unknown = sorted(v - set(LIFTED_BY))
        if unknown:
            raise ValueError(f"unknown lifting events {unknown}; expected some of {list(LIFTED_BY)}")
        # An upheld objection withdraws everything derived from the wrong record (SPEC 7).
        if "objection_upheld" not in v:
            raise ValueError("every consequence must be lifted by objection_upheld")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        if "exit" in self.lifted_by and self.trigger.event != "list_entry":
            raise ValueError("only list entries are lifted by exit")
        if self.aftercare is not None and not self.aftercare.on <= self.lifted_by:
            raise ValueError("aftercare.on must be among the rule's lifted_by events")
        ends = self.lifted_by & {"expiry", "exit"}
        if not ends and self.permanent is None:
            raise ValueError("a consequence needs an end: lifted_by expiry or exit, or 'permanent' with its basis")
        if ends and self.permanent is not None:
            raise ValueError("a permanent consequence is lifted only by an upheld objection (and repair)")
        if self.trigger.subject_kinds == frozenset({"person"}) and any(a.target == "role" for a in self.affects):
            raise ValueError("role affects need a trigger that admits organisation subjects")
        return self


class Measure(_Dated):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    kind: Literal["punishment", "incentive"]
    category: Literal["administrative", "market", "industry", "social", "incentive"]
    binding: Literal["mandatory", "recommended"]
    consequence: str
    targets: frozenset[Literal["organisation", "person"]] = Field(min_length=1)
    departments: tuple[str, ...] = Field(min_length=1)  # ids into the policy's departments
    matters: frozenset[str] = Field(min_length=1)  # ids into the policy's matters
    basis: BasisList
    default_duration_days: StrictInt | None = Field(default=None, gt=0)  # None: as long as the cause lasts

    @field_validator("consequence")
    @classmethod
    def _consequence(cls, v: str) -> str:
        if v not in CONSEQUENCES:
            raise ValueError(f"unknown consequence '{v}'; expected one of {list(CONSEQUENCES)}")
        return v

    @model_validator(mode="after")
    def _kind(self) -> Measure:
        incentive = self.kind == "incentive"
        if incentive != (self.category == "incentive"):
            raise ValueError("category 'incentive' goes with kind 'incentive' and only with it")
        if incentive != (self.consequence == "green_channel"):
            raise ValueError("incentive measures implement green_channel, punishments never do")
        return self


class Category(_Model):
    """A dishonesty category (失信行为类别); ``sources`` like "Xiaoyi 15" name the listing clauses."""

    id: str = Field(pattern=_IDENT)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    group: str = Field(pattern=_IDENT)
    sources: tuple[str, ...] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            doc, _, clause = s.partition(" ")
            if doc not in DOCUMENTS or not DOCUMENTS[doc].match(clause):
                raise ValueError(f"source '{s}' is not '<document> <clause>', e.g. 'Xiaoyi 15'")
        return v


class Matter(_Model):
    """An approval matter (事项) a measure bears on: where an approval system asks the question."""

    id: str = Field(pattern=_IDENT)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    note: str | None = None


class Department(_Model):
    """An implementing body, by function rather than by a city's name for it."""

    id: str = Field(pattern=_IDENT)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    note: str | None = None


class ObjectionPolicy(_Model):
    suspends_measures: StrictBool
    verification_days: StrictInt = Field(gt=0)
    basis: BasisList
    note: str | None = None


class RepairPolicy(_Model):
    basis: BasisList
    note: str | None = None


class ObjectionRemedyPolicy(_Model):
    """What an upheld objection owes the subject beyond withdrawing every consequence."""

    apology: StrictBool = False  # a written apology (书面道歉)
    compensation: StrictBool = False  # compensation where rights were harmed (依法给予赔偿)
    clawback: StrictBool = False  # benefits of a wrong red listing recovered
    basis: BasisList
    note: str | None = None


class NoticePolicy(_Model):
    """A notice a step of the lifecycle requires: to the objector, or an exit announcement."""

    basis: BasisList
    note: str | None = None


class GreenChannelPolicy(_Model):
    clean_years: StrictInt = Field(gt=0)
    basis: BasisList
    note: str | None = None


class PunishmentPeriodPolicy(_Model):
    """Default joint punishment period by severity, used when a record gives no ``period_end``."""

    days: Mapping[str, StrictInt]
    basis: BasisList
    note: str | None = None

    @field_validator("days")
    @classmethod
    def _days(cls, v: Mapping[str, int]) -> Mapping[str, int]:
        if set(v) != set(SEVERITIES):
            raise ValueError(f"give a period for exactly the severities {list(SEVERITIES)}")
        if any(d <= 0 for d in v.values()):
            raise ValueError("periods must be positive")
        return MappingProxyType(dict(v))

    @field_serializer("days")
    def _dump_days(self, v: Mapping[str, int]) -> dict[str, int]:
        # The read-only view has no pydantic serializer; dumps (JSON included) get a plain dict.
        return dict(v)

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.days.items())), self.basis, self.note))


_SETTINGS: tuple[tuple[str, type[_Model]], ...] = (
    ("objection", ObjectionPolicy),
    ("repair", RepairPolicy),
    ("green_channel", GreenChannelPolicy),
    ("punishment_period", PunishmentPeriodPolicy),
)
# Steps only some documents require: absent means the jurisdiction's texts do not ask for them.
_OPTIONAL_SETTINGS: tuple[tuple[str, type[_Model]], ...] = (
    ("objection_remedy", ObjectionRemedyPolicy),
    ("objection_feedback", NoticePolicy),
    ("list_exit_announcement", NoticePolicy),
)


class Removal(_Model):
    """A base rule or measure the jurisdiction's document does not adopt, with the reason."""

    rule: str | None = None
    measure: str | None = None
    note: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self) -> Removal:
        if (self.rule is None) == (self.measure is None):
            raise ValueError("name exactly one of rule or measure")
        return self


class _PolicyFile(_Model):
    id: str = Field(pattern=_IDENT)
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    document: DocumentName
    title: str = Field(min_length=1)
    issued: date
    extends: str | None = None
    note: str | None = None
    catalogue: tuple[str, ...] = ()  # measure files, relative to the policy directory
    objection: dict[str, Any] | None = None
    repair: dict[str, Any] | None = None
    green_channel: dict[str, Any] | None = None
    punishment_period: dict[str, Any] | None = None
    objection_remedy: dict[str, Any] | None = None
    objection_feedback: dict[str, Any] | None = None
    list_exit_announcement: dict[str, Any] | None = None
    removes: tuple[Removal, ...] = ()
    categories: tuple[Category, ...] = ()
    matters: tuple[Matter, ...] = ()
    departments: tuple[Department, ...] = ()
    rules: tuple[Rule, ...] = ()
    measures: tuple[Measure, ...] = ()

    @field_validator("catalogue")
    @classmethod
    def _catalogue(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for rel in v:
            if not re.match(r"^[a-z0-9_]+(/[a-z0-9_]+)*\.yaml$", rel):
                raise ValueError(f"'{rel}' is not a .yaml path inside the policy directory")
        return v


class _CatalogueFile(_Model):
    note: str | None = None
    measures: tuple[Measure, ...] = Field(min_length=1)


S = TypeVar("S", bound=_Model)  # a settings model
