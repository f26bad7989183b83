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
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from graph_credit.model import LISTS, ORG_TYPES, SEVERITIES, Role

__all__ = [
    "AFTERCARE_CONSEQUENCES",
    "CONSEQUENCES",
    "DOCUMENTS",
    "LIFTED_BY",
    "RULE_CONSEQUENCES",
    "Affect",
    "Aftercare",
    "Basis",
    "Category",
    "Department",
    "GreenChannelPolicy",
    "NATIONAL",
    "Matter",
    "Measure",
    "NoticePolicy",
    "ObjectionRemedyPolicy",
    "Permanence",
    "Removal",
    "ObjectionPolicy",
    "Policy",
    "PolicyError",
    "PolicySnapshot",
    "PunishmentPeriodPolicy",
    "RepairPolicy",
    "Rule",
    "Trigger",
    "available_jurisdictions",
    "load_policy",
    "load_policy_from",
]

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


# --------------------------------------------------------------------------------------------------
# Resolved policy and its dated snapshots.

T = TypeVar("T", Rule, Measure)


def _natural_key(rule_id: str) -> tuple[str, int, str]:
    m = re.match(r"^([A-Za-z_]*)(\d*)(.*)$", rule_id)
    assert m is not None  # the pattern matches every string
    prefix, number, rest = m.groups()
    return (prefix, int(number) if number else -1, rest)


@dataclass(frozen=True, slots=True)
class _Layer:
    file: str
    rules: tuple[Rule, ...]
    measures: tuple[Measure, ...]


@dataclass(frozen=True, eq=False)
class PolicySnapshot:
    """The rules and measures in force on one date, with the jurisdiction's settings and vocabularies."""

    jurisdiction: str
    document: str  # the jurisdiction's own text; every basis is from it or from Guo Fa 33
    version: str
    on: date
    rules: tuple[Rule, ...]  # sorted by id
    measures: tuple[Measure, ...]  # sorted by code
    objection: ObjectionPolicy
    repair: RepairPolicy
    green_channel: GreenChannelPolicy
    punishment_period: PunishmentPeriodPolicy
    objection_remedy: ObjectionRemedyPolicy | None
    objection_feedback: NoticePolicy | None
    list_exit_announcement: NoticePolicy | None
    categories: Mapping[str, Category]
    matters: Mapping[str, Matter]
    departments: Mapping[str, Department]
    _rules_by_id: Mapping[str, Rule] = field(repr=False)
    _measures_by_code: Mapping[str, Measure] = field(repr=False)
    _by_consequence: Mapping[tuple[str, str], tuple[Measure, ...]] = field(repr=False)

    @property
    def punishment_period_days(self) -> Mapping[str, int]:
        # A fresh dict: serialisable (a read-only view is not, for pydantic or FastAPI) and harmless to mutate.
        return dict(self.punishment_period.days)

    def rule(self, rule_id: str) -> Rule:
        try:
            return self._rules_by_id[rule_id]
        except KeyError:
            raise KeyError(f"rule '{rule_id}' is not in force in {self.jurisdiction} on {self.on}") from None

    def measure(self, code: str) -> Measure:
        try:
            return self._measures_by_code[code]
        except KeyError:
            raise KeyError(f"measure '{code}' is not in force in {self.jurisdiction} on {self.on}") from None

    def rules_for(self, event: str) -> list[Rule]:
        return [r for r in self.rules if r.trigger.event == event]

    def measures_for(self, consequence: str, target_kind: str, matter: str | None = None) -> list[Measure]:
        """Measures implementing ``consequence`` for an organisation or a person, optionally on one matter."""
        if target_kind not in TARGET_KINDS:
            raise ValueError(f"target_kind must be one of {TARGET_KINDS}, not '{target_kind}'")
        found = self._by_consequence.get((consequence, target_kind), ())
        return [m for m in found if matter is None or matter in m.matters]


@dataclass(frozen=True, eq=False)
class Policy:
    """A jurisdiction's policy with every dated version of its rules and measures."""

    id: str
    name: str
    version: str  # own version, followed by the versions of the policies it extends
    document: str  # short name of the source document, e.g. "Jiangyin"
    title: str
    issued: date
    lineage: tuple[str, ...]  # "jiangyin-1.0", "default-1.0": most specific first
    objection: ObjectionPolicy
    repair: RepairPolicy
    green_channel: GreenChannelPolicy
    punishment_period: PunishmentPeriodPolicy
    objection_remedy: ObjectionRemedyPolicy | None
    objection_feedback: NoticePolicy | None
    list_exit_announcement: NoticePolicy | None
    removed: tuple[Removal, ...]  # base entries the jurisdiction's document does not adopt
    categories: Mapping[str, Category]
    matters: Mapping[str, Matter]
    departments: Mapping[str, Department]
    _layers: tuple[_Layer, ...] = field(repr=False)  # base first
    _boundaries: tuple[date, ...] = field(repr=False)
    _issued: Mapping[str, date] = field(repr=False)  # document -> the date its bases start to count
    _cache: dict[int, PolicySnapshot] = field(default_factory=dict, repr=False)

    def snapshot_dates(self) -> list[date]:
        """Every date on which some rule or measure starts or stops being in force, sorted."""
        return list(self._boundaries)

    def at(self, on: date) -> PolicySnapshot:
        """The policy in force on ``on``. Snapshots are shared between dates with the same rule set."""
        slot = bisect_right(self._boundaries, on)
        snap = self._cache.get(slot)
        if snap is None:
            snap = self._cache[slot] = self._build(on)
        return snap if snap.on == on else replace(snap, on=on)

    def rule_versions(self, rule_id: str) -> list[Rule]:
        """All versions of a rule across the base and overlays, base first then by date."""
        return [r for layer in self._layers for r in sorted(layer.rules, key=_by_from) if r.id == rule_id]

    def measure_versions(self, code: str) -> list[Measure]:
        return [m for layer in self._layers for m in sorted(layer.measures, key=_by_from) if m.code == code]

    def _current(self, item: T, on: date) -> T | None:
        """``item`` on ``on``: only bases whose document is issued by then; none left, not in force."""
        basis = tuple(b for b in item.basis if self._issued[b.document] <= on)
        if len(basis) == len(item.basis):
            return item
        return item.model_copy(update={"basis": basis}) if basis else None

    def _current_setting(self, setting: S | None, on: date) -> S | None:
        """A setting's bases as of ``on``; a step whose every basis is later is not yet required."""
        if setting is None:
            return None
        basis = tuple(b for b in setting.basis if self._issued[b.document] <= on)  # type: ignore[attr-defined]
        return setting.model_copy(update={"basis": basis}) if basis else None

    def _build(self, on: date) -> PolicySnapshot:
        gone = self.issued <= on and bool(self.removed)  # removals take effect with the document
        removed_rules = {r.rule for r in self.removed if r.rule} if gone else set()
        removed_measures = {r.measure for r in self.removed if r.measure} if gone else set()
        own = len(self._layers) - 1
        rules = _select([tuple(r for r in layer.rules if i == own or r.id not in removed_rules)
                         for i, layer in enumerate(self._layers)], on, lambda r: r.id, self._current)
        measures = _select([tuple(m for m in layer.measures if i == own or m.code not in removed_measures)
                            for i, layer in enumerate(self._layers)], on, lambda m: m.code, self._current)
        rules.sort(key=lambda r: _natural_key(r.id))
        measures.sort(key=lambda m: m.code)
        by_consequence: dict[tuple[str, str], list[Measure]] = {}
        for m in measures:
            for kind in m.targets:
                by_consequence.setdefault((m.consequence, kind), []).append(m)
        return PolicySnapshot(
            jurisdiction=self.id,
            document=self.document,
            version=self.version,
            on=on,
            rules=tuple(rules),
            measures=tuple(measures),
            # the lifecycle settings always apply; their bases are those issued by the date
            objection=self._current_setting(self.objection, on) or self.objection,
            repair=self._current_setting(self.repair, on) or self.repair,
            green_channel=self._current_setting(self.green_channel, on) or self.green_channel,
            punishment_period=self._current_setting(self.punishment_period, on) or self.punishment_period,
            objection_remedy=self._current_setting(self.objection_remedy, on),
            objection_feedback=self._current_setting(self.objection_feedback, on),
            list_exit_announcement=self._current_setting(self.list_exit_announcement, on),
            categories=self.categories,
            matters=self.matters,
            departments=self.departments,
            _rules_by_id=MappingProxyType({r.id: r for r in rules}),
            _measures_by_code=MappingProxyType({m.code: m for m in measures}),
            _by_consequence=MappingProxyType({k: tuple(v) for k, v in by_consequence.items()}),
        )


def _by_from(entry: Rule | Measure) -> date:
    return entry.effective_from


def _select(layers: list[tuple[T, ...]], on: date, key: Any, current: Any) -> list[T]:
    chosen: dict[str, T] = {}
    for items in reversed(layers):  # most specific layer first: its entry in force wins
        for item in items:
            if item.in_force(on) and key(item) not in chosen:
                now = current(item, on)
                if now is not None:
                    chosen[key(item)] = now
    return list(chosen.values())


# --------------------------------------------------------------------------------------------------
# YAML reading: duplicate keys are errors and only true/false are booleans (YAML 1.1 would read the
# aftercare key ``on`` as True).


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable keys are reported by construct_mapping itself
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _resolve(root: Traversable, rel: str) -> Traversable:
    node = root
    for part in rel.split("/"):
        node = node.joinpath(part)
    return node


def _read_yaml(root: Traversable, rel: str) -> dict[str, Any]:
    try:
        text = _resolve(root, rel).read_text(encoding="utf-8")
    except OSError:
        raise PolicyError(rel, "", "file not found") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(rel, where, str(e.problem or e.context or e)) from None
    except yaml.YAMLError as e:
        raise PolicyError(rel, "", str(e)) from None
    if not isinstance(data, dict):
        raise PolicyError(rel, "", "the top level must be a mapping")
    return data


def _loc_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(e: ValidationError, rel: str, prefix: str = "") -> list[tuple[str, str, str]]:
    out = []
    for err in e.errors():
        path = _loc_path((prefix, *err["loc"]) if prefix else err["loc"])
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        elif err["type"] == "missing":
            reason = "required key is missing"
        else:
            reason = err["msg"].removeprefix("Value error, ")
        out.append((rel, path, reason))
    return out


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], data: Any, rel: str, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise PolicyError.from_problems(_problems(e, rel, prefix)) from None


# --------------------------------------------------------------------------------------------------
# Loading.


def _file_for(name: str) -> str:
    return "default.yaml" if name == "default" else f"jurisdictions/{name}.yaml"


def _read_chain(root: Traversable, jurisdiction: str) -> list[tuple[str, _PolicyFile]]:
    """The policy file and every file it extends, base first."""
    chain: list[tuple[str, _PolicyFile]] = []
    name: str | None = jurisdiction
    asked_by, key = "<request>", "jurisdiction"
    while name is not None:
        if not _NAME_RE.match(name):
            raise PolicyError(asked_by, key, f"'{name}' is not a jurisdiction name")
        rel = _file_for(name)
        if any(r == rel for r, _ in chain):
            cycle = " -> ".join([*(pf.id for _, pf in chain), name])
            raise PolicyError(asked_by, key, f"extends cycle: {cycle}")
        if not chain and not _resolve(root, rel).is_file():
            known = ", ".join(available_jurisdictions(root))
            raise PolicyError(rel, "", f"unknown jurisdiction '{name}' (available: {known})")
        pf = _validate(_PolicyFile, _read_yaml(root, rel), rel)
        if pf.id != name:
            raise PolicyError(rel, "id", f"'{pf.id}' does not match the file name '{name}'")
        chain.append((rel, pf))
        asked_by, key, name = rel, "extends", pf.extends
    return list(reversed(chain))


def _merge_setting(
    model: type[_Model], base: _Model | None, raw: dict[str, Any], rel: str, key: str
) -> tuple[_Model | None, list[tuple[str, str, str]]]:
    if base is None:
        try:
            return model.model_validate(raw), []
        except ValidationError as e:
            return None, _problems(e, rel, key)
    unknown = sorted(set(raw) - set(model.model_fields))
    if unknown:
        return None, [(rel, f"{key}.{k}", "unknown key") for k in unknown]
    if "basis" not in raw:
        return None, [(rel, f"{key}.basis", "an override must give its own basis")]
    # The base's note explained the base's values; an override brings its own or none.
    merged = {name: getattr(base, name) for name in model.model_fields} | {"note": None} | raw
    try:
        return model.model_validate(merged), []
    except ValidationError as e:
        return None, _problems(e, rel, key)


@dataclass
class _Entry:
    file: str
    path: str
    item: Rule | Measure


def _check_versions(entries: list[_Entry], kind: str) -> list[tuple[str, str, str]]:
    problems = []
    by_id: dict[str, list[_Entry]] = {}
    for e in entries:
        by_id.setdefault(_key(e.item), []).append(e)
    for ident, group in by_id.items():
        group.sort(key=lambda e: e.item.effective_from)
        for prev, cur in zip(group, group[1:], strict=False):
            end = prev.item.effective_to
            if end is None or end > cur.item.effective_from:
                problems.append(
                    (
                        cur.file,
                        f"{cur.path}.effective_from",
                        f"{kind} {ident} version {_version(cur.item)} overlaps version {_version(prev.item)} "
                        f"({prev.item.effective_from} to {end or 'open'}) in {prev.file}",
                    )
                )
    return problems


def _key(item: Rule | Measure) -> str:
    return item.id if isinstance(item, Rule) else item.code


def _version(item: Rule | Measure) -> str:
    return item.version if isinstance(item, Rule) else str(item.effective_from)


NATIONAL = "GuoFa33"  # the national layer: Guo Fa [2016] No. 33, which every local document implements


def _adopt(item: Rule | Measure, document: str) -> Rule | Measure | None:
    """``item`` as ``document``'s law: in force only if it cites ``document`` or the national text, and
    carrying only those bases. ``None`` if neither cites it."""

    def own(basis: tuple[Basis, ...]) -> tuple[Basis, ...]:
        return tuple(b for b in basis if b.document in (document, NATIONAL))

    basis = own(item.basis)
    if not basis:
        return None
    update: dict[str, Any] = {"basis": basis}
    if isinstance(item, Rule):
        if item.aftercare is not None:
            care = own(item.aftercare.basis)
            update["aftercare"] = item.aftercare.model_copy(update={"basis": care}) if care else None
        if item.permanent is not None:
            update["permanent"] = item.permanent.model_copy(update={"basis": own(item.permanent.basis)})
    return item.model_copy(update=update)


def _own_setting(value: _Model, document: str, rel: str, key: str) -> tuple[_Model | None, list[tuple[str, str, str]]]:
    basis = tuple(b for b in value.basis if b.document in (document, NATIONAL))  # type: ignore[attr-defined]
    if not basis:
        return None, [(rel, f"{key}.basis", f"cites no clause of {document} or {NATIONAL}")]
    return value.model_copy(update={"basis": basis}), []


def load_policy_from(root: Path | Traversable, jurisdiction: str = "default") -> Policy:
    """Load ``jurisdiction`` from a policy directory laid out like ``graph_credit/policy/data``."""
    chain = _read_chain(root, jurisdiction)
    top_rel, top = chain[-1]
    document = top.document
    vocab: dict[str, dict[str, tuple[Any, str]]] = {"categories": {}, "matters": {}, "departments": {}}
    settings: dict[str, _Model] = {}
    layers: list[_Layer] = []
    all_rules: list[_Entry] = []
    all_measures: list[_Entry] = []
    rule_versions: dict[tuple[str, str], str] = {}

    for depth, (rel, pf) in enumerate(chain):
        problems: list[tuple[str, str, str]] = []
        own_file = depth == len(chain) - 1

        named: tuple[tuple[str, tuple[Category | Matter | Department, ...]], ...] = (
            ("categories", pf.categories),
            ("matters", pf.matters),
            ("departments", pf.departments),
        )
        for kind, items in named:
            for i, item in enumerate(items):
                if item.id in vocab[kind]:
                    problems.append(
                        (rel, f"{kind}[{i}].id", f"'{item.id}' is already defined in {vocab[kind][item.id][1]}")
                    )
                else:
                    vocab[kind][item.id] = (item, rel)

        for key, model in _SETTINGS + _OPTIONAL_SETTINGS:
            raw = getattr(pf, key)
            if raw is None:
                if depth == 0 and (key, model) in _SETTINGS:
                    problems.append((rel, key, "required in a policy that extends nothing"))
                continue
            merged, errs = _merge_setting(model, settings.get(key), raw, rel, key)
            problems += errs
            if merged is not None:
                settings[key] = merged

        measures = [
            _Entry(cat, f"measures[{i}]", m)
            for cat in pf.catalogue
            for i, m in enumerate(_validate(_CatalogueFile, _read_yaml(root, cat), cat).measures)
        ]
        measures += [_Entry(rel, f"measures[{i}]", m) for i, m in enumerate(pf.measures)]
        rules = [_Entry(rel, f"rules[{i}]", r) for i, r in enumerate(pf.rules)]
        for e in measures + rules:
            e.item = e.item.model_copy(update={"origin": e.file})

        for e in measures:
            m = e.item
            assert isinstance(m, Measure)
            problems += [
                (e.file, f"{e.path}.matters", f"unknown matter '{x}'")
                for x in sorted(m.matters)
                if x not in vocab["matters"]
            ]
            problems += [
                (e.file, f"{e.path}.departments", f"unknown department '{x}'")
                for x in m.departments
                if x not in vocab["departments"]
            ]
        for e in rules:
            r = e.item
            assert isinstance(r, Rule)
            problems += [
                (e.file, f"{e.path}.trigger.categories", f"unknown category '{x}'")
                for x in sorted(r.trigger.categories or ())
                if x not in vocab["categories"]
            ]
            # (id, version) is what a derived fact records, so it must name exactly one entry.
            if (r.id, r.version) in rule_versions:
                where = rule_versions[(r.id, r.version)]
                problems.append(
                    (e.file, f"{e.path}.version", f"rule {r.id} version '{r.version}' is already used in {where}")
                )
            else:
                rule_versions[(r.id, r.version)] = e.file
        problems += _check_versions(rules, "rule") + _check_versions(measures, "measure")

        if own_file and depth > 0:
            # An overlay is its document's law: each entry it adds must cite that document (or Guo Fa 33).
            problems += [
                (e.file, f"{e.path}.basis", f"cites no clause of {document} or {NATIONAL}")
                for e in rules + measures
                if _adopt(e.item, document) is None
            ]
            present = {("rule" if isinstance(e.item, Rule) else "measure", _key(e.item))
                       for e in all_rules + all_measures}
            for i, rm in enumerate(pf.removes):
                what, ident = ("rule", rm.rule) if rm.rule is not None else ("measure", rm.measure)
                if (what, ident) not in present:
                    problems.append((rel, f"removes[{i}]", f"no base {what} '{ident}' to remove"))
        elif pf.removes:
            problems.append((rel, "removes", "only the jurisdiction's own file removes base entries"))
        if problems:
            raise PolicyError.from_problems(problems)
        all_rules += rules
        all_measures += measures

    # Resolve under the jurisdiction's document: every entry keeps only its own bases (what the document
    # removes goes from its date on, in PolicySnapshot).
    adopted_rules: list[_Entry] = []
    adopted_measures: list[_Entry] = []
    for entries, out in ((all_rules, adopted_rules), (all_measures, adopted_measures)):
        for e in entries:
            adopted = _adopt(e.item, document)
            if adopted is not None:
                out.append(_Entry(e.file, e.path, adopted))
    for rel, _ in chain:
        layers.append(
            _Layer(
                rel,
                tuple(e.item for e in adopted_rules if e.file == rel and isinstance(e.item, Rule)),
                tuple(e.item for e in adopted_measures
                      if _layer_of(e.file, chain) == rel and isinstance(e.item, Measure)),
            )
        )

    problems = []
    for rule_entry in adopted_rules:
        r = rule_entry.item
        assert isinstance(r, Rule)
        if r.permanent is not None and not r.permanent.basis:
            problems.append((rule_entry.file, f"{rule_entry.path}.permanent.basis",
                             f"cites no clause of {document} or {NATIONAL} that makes it permanent"))
    # A rule whose consequence no measure implements, or a measure no rule reaches, is a dead letter.
    produced = {c for e in adopted_rules if isinstance(e.item, Rule) for c in _produces(e.item)}
    implemented = {e.item.consequence for e in adopted_measures}
    problems += [
        (e.file, f"{e.path}.consequence", f"no measure implements consequence '{c}' in {top.id}")
        for e in adopted_rules
        if isinstance(e.item, Rule)
        for c in _produces(e.item)
        if c not in implemented
    ]
    problems += [
        (e.file, f"{e.path}.consequence", f"no rule produces consequence '{e.item.consequence}' in {top.id}")
        for e in adopted_measures
        if e.item.consequence not in produced
    ]
    own_settings: dict[str, _Model] = {}
    for key, value in settings.items():
        mine, errs = _own_setting(value, document, top_rel, key)
        problems += errs
        if mine is not None:
            own_settings[key] = mine
    if problems:
        raise PolicyError.from_problems(problems)

    lineage = tuple(f"{pf.id}-{pf.version}" for _, pf in reversed(chain))
    issued: dict[str, date] = {pf.document: pf.issued for _, pf in chain}
    dated = adopted_rules + adopted_measures
    boundaries = sorted(
        {e.item.effective_from for e in dated}
        | {e.item.effective_to for e in dated if e.item.effective_to is not None}
        | set(issued.values())
    )

    def frozen(kind: str) -> Mapping[str, Any]:
        return MappingProxyType({k: v for k, (v, _) in sorted(vocab[kind].items())})

    def optional(key: str, cls: type[S]) -> S | None:
        value = own_settings.get(key)
        return None if value is None else _as(value, cls)

    return Policy(
        id=top.id,
        name=top.name,
        version="+".join((top.version, *lineage[1:])),
        document=document,
        title=top.title,
        issued=top.issued,
        lineage=lineage,
        objection=_as(own_settings["objection"], ObjectionPolicy),
        repair=_as(own_settings["repair"], RepairPolicy),
        green_channel=_as(own_settings["green_channel"], GreenChannelPolicy),
        punishment_period=_as(own_settings["punishment_period"], PunishmentPeriodPolicy),
        objection_remedy=optional("objection_remedy", ObjectionRemedyPolicy),
        objection_feedback=optional("objection_feedback", NoticePolicy),
        list_exit_announcement=optional("list_exit_announcement", NoticePolicy),
        removed=tuple(top.removes),
        categories=frozen("categories"),
        matters=frozen("matters"),
        departments=frozen("departments"),
        _layers=tuple(layers),
        _boundaries=tuple(boundaries),
        _issued=MappingProxyType(issued),
    )


def _layer_of(file: str, chain: list[tuple[str, _PolicyFile]]) -> str:
    """The policy file a catalogue file belongs to (the one naming it), or the file itself."""
    for rel, pf in chain:
        if file == rel or file in pf.catalogue:
            return rel
    return file


S = TypeVar("S", bound=_Model)


def _as(value: _Model, cls: type[S]) -> S:
    assert isinstance(value, cls)
    return value


def _produces(rule: Rule) -> tuple[str, ...]:
    return (rule.consequence, rule.aftercare.consequence) if rule.aftercare else (rule.consequence,)


def _data_root() -> Traversable:
    return resources.files("graph_credit.policy").joinpath("data")


def available_jurisdictions(root: Path | Traversable | None = None) -> list[str]:
    """``default`` followed by every jurisdiction overlay, alphabetically."""
    base = _data_root() if root is None else root
    folder = base.joinpath("jurisdictions")
    names = (
        sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
        if folder.is_dir()
        else []
    )
    return ["default", *names]


@functools.cache
def load_policy(jurisdiction: str = "default") -> Policy:
    """The packaged policy for ``jurisdiction``, loaded once per process."""
    return load_policy_from(_data_root(), jurisdiction)
