"""The resolved policy of one jurisdiction (``Policy``) and what is in force on one date (``PolicySnapshot``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType
from typing import Any, TypeVar

from .schema import (
    TARGET_KINDS,
    Category,
    Department,
    GreenChannelPolicy,
    Matter,
    Measure,
    NoticePolicy,
    ObjectionPolicy,
    ObjectionRemedyPolicy,
    PunishmentPeriodPolicy,
    Removal,
    RepairPolicy,
    Rule,
    S,
)

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
    # the lifecycle settings before ``issued`` (the national ones); None for the national policy itself
    _national: Mapping[str, Any] | None = field(repr=False)
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
        """``item`` on ``on``: only bases whose document is issued by then; none left, not in force. The same
        for a rule's aftercare and permanence: a rule that no clause in force makes lasting is not in force
        (it would restrict without an end)."""
        basis = tuple(b for b in item.basis if self._issued[b.document] <= on)
        if not basis:
            return None
        update: dict[str, Any] = {"basis": basis} if len(basis) != len(item.basis) else {}
        if isinstance(item, Rule):
            if item.permanent is not None:
                lasting = tuple(b for b in item.permanent.basis if self._issued[b.document] <= on)
                if not lasting:
                    return None
                if len(lasting) != len(item.permanent.basis):
                    update["permanent"] = item.permanent.model_copy(update={"basis": lasting})
            if item.aftercare is not None:
                care = tuple(b for b in item.aftercare.basis if self._issued[b.document] <= on)
                if len(care) != len(item.aftercare.basis):
                    update["aftercare"] = item.aftercare.model_copy(update={"basis": care}) if care else None
        return item.model_copy(update=update) if update else item

    def _current_setting(self, setting: S | None, on: date) -> S | None:
        """A setting's bases as of ``on``; a step whose every basis is later is not yet required."""
        if setting is None:
            return None
        basis = tuple(b for b in setting.basis if self._issued[b.document] <= on)  # type: ignore[attr-defined]
        return setting.model_copy(update={"basis": basis}) if basis else None

    def _setting(self, key: str, on: date, required: bool = False) -> Any:
        """A lifecycle setting on ``on``: before the jurisdiction's document is issued the national one (its
        values and clauses: Jiangyin's "measures are not suspended" cannot govern a 2017 record); from then
        the jurisdiction's, with the bases issued by the date."""
        if self._national is not None and on < self.issued:
            national = self._national.get(key)
            if national is not None or not required:
                return national
        own = getattr(self, key)
        return self._current_setting(own, on) or (own if required else None)

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
            objection=self._setting("objection", on, required=True),
            repair=self._setting("repair", on, required=True),
            green_channel=self._setting("green_channel", on, required=True),
            punishment_period=self._setting("punishment_period", on, required=True),
            objection_remedy=self._setting("objection_remedy", on),
            objection_feedback=self._setting("objection_feedback", on),
            list_exit_announcement=self._setting("list_exit_announcement", on),
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
