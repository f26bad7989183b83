"""Evasion patterns (规避惩戒), flagged for review with their evidence.

Four patterns, each timed against an *anchor*: the act date or decision date of a dishonesty record on an
organisation, the first day of a black list entry on it, or its deregistration (注销).

- ``control_change``: a legal representative or principal leaves, or the controlling shareholder (at least
  ``min_ratio``, or the single largest holder) loses control, within ``window_days`` before the anchor;
- ``stake_below_threshold``: a holding at or above a threshold (5%, 25%, 50%) is cut to just below it
  (within ``margin``) within ``window_days`` before the anchor;
- ``person_move``: a person who held a role in the dishonest firm at the act date takes up a role in another
  firm of the same industry within ``window_days`` after the firm's record;
- ``serial_failure`` (金蝉脱壳): the legal representative of a deregistered, dishonest or black-listed firm
  founds a new firm of the same industry (takes a founding role in it at its registration) within
  ``window_days`` before or after the firm failed.

Windows, roles and thresholds are data, in ``evasion.yaml`` beside this module. A flag decides nothing: it
names the change in a sentence under the pattern's title, the anchor, the days between them and the edges,
records and registrations that show it, for a reviewer. One change is one flag: when it falls in the window
of several anchors (the act and the decision of one record, a record and the deregistration), the nearest
is the flag's anchor and every one is listed in ``anchors`` and in the evidence. Everything is read through
``Store`` and is deterministic as of a date: only edges that started, records decided and firms registered
or deregistered on or before that date are looked at.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .model import DishonestyRecord, ListEntry, Organisation, Role, RoleEdge, stable_id
from .risk_items import shift
from .rules.derive import subject_kind
from .rules.governing import lifecycle_of
from .store.base import Store

__all__ = [
    "EvasionConfig",
    "EvasionFlag",
    "evasion_config",
    "evasion_flags",
    "evasion_frame",
    "load_evasion_config",
    "scan_region",
    "serial_failure_flags",
]

PATTERNS = ("control_change", "stake_below_threshold", "person_move", "serial_failure")
Anchor = Literal["act_date", "decision_date", "black_list", "deregistration"]


# -- configuration ----------------------------------------------------------------------------------------


class _Cfg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ControllingStake(_Cfg):
    min_ratio: float = Field(gt=0, le=1)
    largest_holder: bool = True


class _Pattern(_Cfg):
    title: str = Field(min_length=1)
    window_days: int = Field(gt=0, le=3660)
    severities: frozenset[Literal["serious", "general", "minor"]] | None = None


class ControlChange(_Pattern):
    anchors: tuple[Anchor, ...] = Field(min_length=1)
    roles: tuple[Role, ...] = Field(min_length=1)
    controlling_stake: ControllingStake | None = None

    @field_validator("roles")
    @classmethod
    def _no_shareholder(cls, v: tuple[Role, ...]) -> tuple[Role, ...]:
        if Role.SHAREHOLDER in v:
            raise ValueError("shareholding control is configured under controlling_stake, not roles")
        return v


class StakeBelowThreshold(_Pattern):
    anchors: tuple[Anchor, ...] = Field(min_length=1)
    thresholds: tuple[float, ...] = Field(min_length=1)
    margin: float = Field(gt=0, lt=1)

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < t <= 1 for t in v):
            raise ValueError("thresholds are shares in (0, 1]")
        return tuple(sorted(set(v)))


class PersonMove(_Pattern):
    anchor: Literal["act_date", "decision_date"] = "decision_date"
    roles_from: tuple[Role, ...] = Field(min_length=1)
    roles_to: tuple[Role, ...] = Field(min_length=1)
    industry_prefix: int = Field(ge=1, le=5)


class SerialFailure(_Pattern):
    anchors: tuple[Literal["decision_date", "black_list", "deregistration"], ...] = Field(min_length=1)
    roles_from: tuple[Role, ...] = Field(min_length=1)
    roles_to: tuple[Role, ...] = Field(min_length=1)
    founder_days: int = Field(ge=0, le=3660)
    industry_prefix: int = Field(ge=1, le=5)


class EvasionConfig(_Cfg):
    version: str = Field(min_length=1)
    exclude_withdrawn: bool = True
    control_change: ControlChange
    stake_below_threshold: StakeBelowThreshold
    person_move: PersonMove
    serial_failure: SerialFailure

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v


def load_evasion_config(path: str | Path) -> EvasionConfig:
    """Read and validate an evasion configuration; errors name the file and the key path."""
    text = Path(path).read_text(encoding="utf-8")
    return _parse(text, str(path))


def _parse(text: str, name: str) -> EvasionConfig:
    try:
        return EvasionConfig.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{name}: {where}: {first['msg']}") from None


@lru_cache(maxsize=1)
def evasion_config() -> EvasionConfig:
    """The packaged configuration, ``graph_credit/evasion.yaml``."""
    text = resources.files("graph_credit").joinpath("evasion.yaml").read_text(encoding="utf-8")
    return _parse(text, "evasion.yaml")


# -- flags ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvasionFlag:
    """One change matching a pattern, for review.

    ``subject`` is the organisation whose record the change is timed against (for ``person_move`` and
    ``serial_failure``, the person); ``subjects`` everyone involved. ``title`` is the pattern's title and
    ``summary`` says what happened in one sentence. ``days`` counts from the change to the anchor
    (``control_change``, ``stake_below_threshold``), from the anchor to the new role (``person_move``) or
    from the anchor to the new firm's registration (``serial_failure``; negative: founded before). The
    anchor is the nearest of ``anchors``, every anchor whose window the change falls in. ``evidence`` holds
    the edges (with ``change``: ended, started or held), the records, list entries and registrations.
    ``flag_id`` names the change (pattern, subject and what changed), not the anchor.
    """

    pattern: str
    title: str
    summary: str
    subject: str
    subjects: tuple[str, ...]
    cause: str
    anchor: str
    anchor_date: date
    change_date: date
    days: int
    detail: dict[str, Any]
    evidence: tuple[dict[str, Any], ...]
    config: dict[str, Any]
    flag_id: str
    anchors: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"flag_id": self.flag_id, "pattern": self.pattern, "title": self.title, "summary": self.summary,
                "subject": self.subject, "subjects": list(self.subjects), "cause": self.cause, "anchor": self.anchor,
                "anchor_date": self.anchor_date, "change_date": self.change_date, "days": self.days,
                "anchors": list(self.anchors), "detail": self.detail, "evidence": list(self.evidence),
                "config": self.config, "status": "for_review"}


def _edge(e: RoleEdge, change: str) -> dict[str, Any]:
    return {"kind": "edge", "change": change, "edge_id": e.edge_id, "holder": e.holder, "role": e.role.value,
            "org": e.org, "valid_from": e.valid_from, "valid_to": e.valid_to, "ratio": e.ratio}


def _record(r: DishonestyRecord) -> dict[str, Any]:
    return {"kind": "record", "record_id": r.record_id, "subject": r.subject, "category": r.category,
            "severity": r.severity, "act_date": r.act_date, "decision_date": r.decision_date,
            "document_no": r.document_no, "department": r.department}


def _entry(e: ListEntry) -> dict[str, Any]:
    return {"kind": "list_entry", "entry_id": e.entry_id, "subject": e.subject, "list": e.list, "name": e.name,
            "valid_from": e.valid_from, "valid_to": e.valid_to, "determining_unit": e.determining_unit}


def _registration(o: Organisation) -> dict[str, Any]:
    return {"kind": "registration", "org": o.code, "name": o.name, "industry": o.industry, "region": o.region,
            "registered_on": o.registered_on, "deregistered_on": o.deregistered_on}


_ANCHOR_WORDS = {"act_date": "act", "decision_date": "decision", "black_list": "black listing"}


@dataclass(frozen=True)
class _AnchorAt:
    kind: str
    on: date
    cause: str
    evidence: dict[str, Any]
    held: tuple[date, date]  # a role held on some day of this interval makes a person one of the firm's

    def words(self) -> str:
        """The anchor in a sentence; keys of persons and organisations stay out of sentences."""
        if self.kind == "deregistration":
            return f"the deregistration ({self.on})"
        return f"the {_ANCHOR_WORDS[self.kind]} ({self.on}) of {self.cause}"


def _withdrawn_by(store: Store, item: DishonestyRecord | ListEntry, as_of: date) -> bool:
    # Withdrawal (an upheld objection, a revocation) is the same under every jurisdiction; only objection
    # deadlines differ, and the scans do not read them. So the national layer serves for any list entry.
    life = lifecycle_of(store, item, "default")
    return life.withdrawn_on is not None and life.withdrawn_on <= as_of


def _records(store: Store, orgs: Sequence[str], as_of: date, severities: frozenset[str] | None,
             cfg: EvasionConfig) -> list[DishonestyRecord]:
    out = []
    for r in store.records_of(orgs):
        if r.decision_date > as_of or (severities is not None and r.severity not in severities):
            continue
        if cfg.exclude_withdrawn and _withdrawn_by(store, r, as_of):
            continue
        out.append(r)
    return sorted(out, key=lambda r: (r.decision_date, r.record_id))


def _anchors(store: Store, org: str, as_of: date, kinds: Iterable[str], severities: frozenset[str] | None,
             cfg: EvasionConfig, lookback_days: int = 0) -> list[_AnchorAt]:
    """The anchors of ``org`` known on ``as_of``. A person is one of the firm's for an anchor when holding a
    role at the act date of a record, on the first day of a black listing, or in the ``lookback_days``
    before a deregistration."""
    kinds = set(kinds)
    out: list[_AnchorAt] = []
    for r in _records(store, [org], as_of, severities, cfg):
        cause = f"record:{r.record_id}"
        held = (r.responsibility_date, r.responsibility_date)
        if "act_date" in kinds and r.act_date is not None:
            out.append(_AnchorAt("act_date", r.act_date, cause, _record(r), held))
        if "decision_date" in kinds:
            out.append(_AnchorAt("decision_date", r.decision_date, cause, _record(r), held))
    if "black_list" in kinds:
        for e in store.list_entries_of([org]):
            if e.list != "black" or e.status not in ("effective", "exited") or e.valid_from > as_of:
                continue
            if cfg.exclude_withdrawn and _withdrawn_by(store, e, as_of):
                continue
            out.append(_AnchorAt("black_list", e.valid_from, f"list:{e.entry_id}", _entry(e),
                                 (e.valid_from, e.valid_from)))
    if "deregistration" in kinds:
        o = store.get_organisations([org]).get(org)
        if o is not None and o.deregistered_on is not None and o.deregistered_on <= as_of:
            out.append(_AnchorAt("deregistration", o.deregistered_on, f"deregistration:{org}", _registration(o),
                                 (shift(o.deregistered_on, -lookback_days), o.deregistered_on)))
    return out


def _held(e: RoleEdge, anchor: _AnchorAt) -> bool:
    """The role was held on some day of the anchor's interval (edges are half-open: the last day is excluded)."""
    start, end = anchor.held
    return e.valid_from <= end and (e.valid_to is None or e.valid_to > start)


def _known(edges: Iterable[RoleEdge], as_of: date) -> list[RoleEdge]:
    """Edges registered by ``as_of``; an end after ``as_of`` is not known yet."""
    return [e for e in edges if e.valid_from <= as_of]


def _change_days(edges: Iterable[RoleEdge], start: date, end: date) -> list[date]:
    days = {d for e in edges for d in (e.valid_from, e.valid_to) if d is not None and start <= d <= end}
    return sorted(days)


def _holdings(edges: Iterable[RoleEdge], on: date) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in edges:
        if e.role == Role.SHAREHOLDER and e.ratio and e.active_on(on):
            out[e.holder] = round(out.get(e.holder, 0.0) + e.ratio, 6)
    return out


def _controllers(holdings: dict[str, float], stake: ControllingStake) -> set[str]:
    found = {h for h, r in holdings.items() if r >= stake.min_ratio}
    if stake.largest_holder and holdings:
        top = max(holdings.values())
        leaders = [h for h, r in holdings.items() if r == top]
        if len(leaders) == 1:
            found.add(leaders[0])
    return found


def _changed_at(edges: Iterable[RoleEdge], holders: set[str], day: date) -> list[dict[str, Any]]:
    out = []
    for e in edges:
        if e.holder not in holders:
            continue
        if e.valid_to == day:
            out.append(_edge(e, "ended"))
        elif e.valid_from == day:
            out.append(_edge(e, "started"))
    return out


def _flag(pattern: str, change: Iterable[Any], summary: str, subject: str, subjects: Iterable[str],
          anchor: _AnchorAt, day: date, days: int, detail: dict[str, Any], evidence: list[dict[str, Any]],
          config: dict[str, Any], cfg: EvasionConfig) -> EvasionFlag:
    """A flag for one change; ``change`` identifies it (what changed, not the anchor): see ``_merge``."""
    title: str = getattr(cfg, pattern).title
    return EvasionFlag(pattern, title, summary, subject, tuple(sorted(set(subjects) | {subject})), anchor.cause,
                       anchor.kind, anchor.on, day, days, detail, _evidence([*evidence, anchor.evidence]), config,
                       stable_id(pattern, subject, *change),
                       ({"anchor": anchor.kind, "anchor_date": anchor.on, "cause": anchor.cause, "days": days},))


def _evidence(items: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Each edge, record, list entry and registration once: edges by start date, then the rest."""
    seen: dict[tuple[str, Any], dict[str, Any]] = {}
    for e in items:
        ident = e.get("edge_id") or e.get("record_id") or e.get("entry_id") or e.get("org")
        seen.setdefault((e["kind"], ident), e)
    edges = sorted((e for e in seen.values() if e["kind"] == "edge"), key=lambda e: (e["valid_from"], e["edge_id"]))
    return tuple(edges) + tuple(e for e in seen.values() if e["kind"] != "edge")


def _merge(flags: Sequence[EvasionFlag]) -> EvasionFlag:
    """One flag for one change seen from several anchors: the nearest anchor leads, all are listed."""
    lead = min(flags, key=lambda f: (abs(f.days), f.anchor_date, f.cause, f.anchor))
    anchors = sorted({(a["anchor_date"], a["cause"], a["anchor"]): a for f in flags for a in f.anchors}.items())
    evidence = _evidence([*lead.evidence, *(e for f in flags for e in f.evidence)])
    subjects = tuple(sorted({s for f in flags for s in f.subjects}))
    return replace(lead, subjects=subjects, evidence=evidence, anchors=tuple(a for _, a in anchors))


def _words(role: str) -> str:
    return role.lower().replace("_", " ")


def _control_changes(store: Store, org: str, edges: list[RoleEdge], as_of: date, cfg: EvasionConfig
                     ) -> list[EvasionFlag]:
    pc = cfg.control_change
    config = {"window_days": pc.window_days, "roles": [r.value for r in pc.roles],
              "controlling_stake": pc.controlling_stake.model_dump() if pc.controlling_stake else None}
    flags = []
    for anchor in _anchors(store, org, as_of, pc.anchors, pc.severities, cfg):
        start = shift(anchor.on, -pc.window_days)
        # every role ends with the firm: the deregistration day itself is no change
        last = shift(anchor.on, -1) if anchor.kind == "deregistration" else anchor.on
        for role in pc.roles:
            mine = [e for e in edges if e.role == role]
            for day in _change_days(mine, start, last):
                before = {e.holder for e in mine if e.active_on(shift(day, -1))}
                after = {e.holder for e in mine if e.active_on(day)}
                left = before - after
                if not left:
                    continue
                came = after - before
                evidence = _changed_at(mine, left | came, day)
                if not came:  # the successor may be registered some days later, still before the anchor
                    later = [e for e in mine if day < e.valid_from <= anchor.on and e.holder not in before]
                    came = {e.holder for e in later}
                    evidence += [_edge(e, "started") for e in later]
                detail: dict[str, Any] = {"role": role.value, "from": sorted(left), "to": sorted(came)}
                days = (anchor.on - day).days
                summary = f"The {_words(role.value)} changed on {day}, {days} days before {anchor.words()}."
                flags.append(_flag("control_change", (role.value, day, *sorted(left)), summary, org, left | came,
                                   anchor, day, days, detail, evidence, config, cfg))
        if pc.controlling_stake is None:
            continue
        shares = [e for e in edges if e.role == Role.SHAREHOLDER]
        for day in _change_days(shares, start, last):
            before_h, after_h = _holdings(shares, shift(day, -1)), _holdings(shares, day)
            before = _controllers(before_h, pc.controlling_stake)
            after = _controllers(after_h, pc.controlling_stake)
            left = before - after
            if not left:
                continue
            came = after - before
            evidence = _changed_at(shares, left | came, day)
            evidence += [_edge(e, "held") for e in shares if e.holder in came and e.active_on(day)]
            detail = {"role": "controlling_shareholder", "from": sorted(left), "to": sorted(came),
                      "stakes": [{"holder": h, "before": before_h.get(h, 0.0), "after": after_h.get(h, 0.0)}
                                 for h in sorted(left | came)]}
            days = (anchor.on - day).days
            summary = f"The controlling shareholder changed on {day}, {days} days before {anchor.words()}."
            flags.append(_flag("control_change", ("controlling_shareholder", day, *sorted(left)), summary, org,
                               left | came, anchor, day, days, detail, evidence, config, cfg))
    return flags


def _stake_cuts(store: Store, org: str, edges: list[RoleEdge], as_of: date, cfg: EvasionConfig
                ) -> list[EvasionFlag]:
    pc = cfg.stake_below_threshold
    config = {"window_days": pc.window_days, "thresholds": list(pc.thresholds), "margin": pc.margin}
    shares = [e for e in edges if e.role == Role.SHAREHOLDER]
    flags = []
    for anchor in _anchors(store, org, as_of, pc.anchors, pc.severities, cfg):
        start = shift(anchor.on, -pc.window_days)
        for day in _change_days(shares, start, anchor.on):
            before, after = _holdings(shares, shift(day, -1)), _holdings(shares, day)
            for holder in sorted(before):
                was, now = before[holder], after.get(holder, 0.0)
                for t in pc.thresholds:
                    if was >= t and round(t - pc.margin, 6) <= now < t:
                        detail = {"holder": holder, "threshold": t, "ratio_before": was, "ratio_after": now,
                                  "below_by": round(t - now, 6)}
                        days = (anchor.on - day).days
                        summary = (f"A holding of {was:.2%} was cut to {now:.2%}, just under {t:.0%}, on {day}, "
                                   f"{days} days before {anchor.words()}.")
                        flags.append(_flag("stake_below_threshold", (holder, t, day), summary, org, [holder],
                                           anchor, day, days, detail, _changed_at(shares, {holder}, day), config,
                                           cfg))
    return flags


def _same_industry(a: str, b: str, prefix: int) -> bool:
    return bool(a) and bool(b) and a[:prefix] == b[:prefix]


def _moves_from(store: Store, org: str, as_of: date, cfg: EvasionConfig, only_person: str | None = None,
                only_to: str | None = None) -> list[EvasionFlag]:
    """People who held a role in the dishonest ``org`` at the act date and took a role in a new firm of the
    same industry within the window after its record."""
    pc = cfg.person_move
    config = {"window_days": pc.window_days, "anchor": pc.anchor, "industry_prefix": pc.industry_prefix,
              "roles_from": [r.value for r in pc.roles_from], "roles_to": [r.value for r in pc.roles_to]}
    anchors = _anchors(store, org, as_of, [pc.anchor], pc.severities, cfg)
    if pc.anchor == "act_date":  # a record without an act date is timed from its decision
        dated = {a.cause for a in anchors}
        anchors += [a for a in _anchors(store, org, as_of, ["decision_date"], pc.severities, cfg)
                    if a.cause not in dated]
    if not anchors:
        return []
    old = store.get_organisations([org]).get(org)
    if old is None or not old.industry:
        return []
    inside = _known(store.roles_of([org], "in"), as_of)
    flags = []
    for anchor in anchors:
        closes = shift(anchor.on, pc.window_days)
        held = [e for e in inside if e.role in pc.roles_from and _held(e, anchor)
                and subject_kind(e.holder) == "person" and (only_person is None or e.holder == only_person)]
        people = sorted({e.holder for e in held})
        if not people:
            continue
        theirs = [e for e in _known(store.roles_of(people, "out"), as_of) if e.org != org]
        targets = store.get_organisations(sorted({e.org for e in theirs}))
        for e in theirs:
            if e.role not in pc.roles_to or not anchor.on <= e.valid_from <= closes:
                continue
            if only_to is not None and e.org != only_to:
                continue
            new = targets.get(e.org)
            if new is None or not _same_industry(old.industry, new.industry, pc.industry_prefix):
                continue
            if any(x.org == e.org and x.holder == e.holder and x.valid_from < anchor.on for x in theirs):
                continue  # already in that firm before the record: not a move
            origin = [x for x in held if x.holder == e.holder]
            roles_from = sorted({x.role.value for x in origin})
            detail = {"person": e.holder, "from_org": org, "to_org": e.org, "roles_from": roles_from,
                      "role_to": e.role.value, "industry": new.industry, "to_org_registered_on": new.registered_on}
            days = (e.valid_from - anchor.on).days
            summary = (f"A {' and '.join(_words(r) for r in roles_from)} of the firm of {anchor.cause} became "
                       f"{_words(e.role.value)} of another firm of industry {new.industry} on {e.valid_from}, "
                       f"{days} days after {anchor.words()}.")
            evidence = [_edge(x, "held") for x in origin] + [_edge(e, "started")]
            flags.append(_flag("person_move", (e.edge_id,), summary, e.holder, [org, e.org], anchor, e.valid_from,
                               days, detail, evidence, config, cfg))
    return flags


def _founded_after(store: Store, org: str, as_of: date, cfg: EvasionConfig, only_person: str | None = None,
                   only_to: str | None = None) -> list[EvasionFlag]:
    """金蝉脱壳: people who held a role of ``roles_from`` (the legal representative) in ``org`` when it failed
    (deregistered, a serious record, black-listed) and founded a firm of the same industry within
    ``window_days`` before or after: they took a role of ``roles_to`` in it within ``founder_days`` of its
    registration, and it was registered after ``org``."""
    pc = cfg.serial_failure
    config = {"window_days": pc.window_days, "anchors": list(pc.anchors), "founder_days": pc.founder_days,
              "industry_prefix": pc.industry_prefix, "roles_from": [r.value for r in pc.roles_from],
              "roles_to": [r.value for r in pc.roles_to]}
    anchors = _anchors(store, org, as_of, pc.anchors, pc.severities, cfg, lookback_days=pc.window_days)
    old = store.get_organisations([org]).get(org) if anchors else None
    if old is None or not old.industry:
        return []
    inside = [e for e in _known(store.roles_of([org], "in"), as_of) if e.role in pc.roles_from
              and subject_kind(e.holder) == "person" and (only_person is None or e.holder == only_person)]
    people = sorted({e.holder for e in inside})
    if not people:
        return []
    theirs = [e for e in _known(store.roles_of(people, "out"), as_of) if e.org != org and e.role in pc.roles_to
              and (only_to is None or e.org == only_to)]
    firms = store.get_organisations(sorted({e.org for e in theirs}))
    flags = []
    for anchor in anchors:
        held = [e for e in inside if _held(e, anchor)]
        for e in theirs:
            new = firms.get(e.org)
            if new is None or new.registered_on is None or new.registered_on > as_of:
                continue
            founded = new.registered_on
            if abs((founded - anchor.on).days) > pc.window_days or abs((e.valid_from - founded).days) > pc.founder_days:
                continue
            if (old.registered_on is not None and founded <= old.registered_on) or \
                    not _same_industry(old.industry, new.industry, pc.industry_prefix):
                continue
            origin = [x for x in held if x.holder == e.holder]
            if not origin:
                continue
            days = (founded - anchor.on).days
            roles_from = sorted({x.role.value for x in origin})
            detail = {"person": e.holder, "failed_org": org, "new_org": e.org, "roles_from": roles_from,
                      "role_to": e.role.value, "industry": new.industry, "new_org_registered_on": founded,
                      "failed_org_deregistered_on": old.deregistered_on}
            summary = (f"The {' and '.join(_words(r) for r in roles_from)} of a firm failed by {anchor.words()} "
                       f"founded a new firm of industry {new.industry} on {founded}, {abs(days)} days "
                       f"{'after' if days >= 0 else 'before'} it, as its {_words(e.role.value)}.")
            evidence = [_edge(x, "held") for x in origin] + [_edge(e, "started"), _registration(new)]
            flags.append(_flag("serial_failure", (e.org,), summary, e.holder, [org, e.org], anchor, founded, days,
                               detail, evidence, config, cfg))
    return flags


def _org_flags(store: Store, org: str, as_of: date, cfg: EvasionConfig) -> list[EvasionFlag]:
    edges = _known(store.roles_of([org], "in"), as_of)
    return (_control_changes(store, org, edges, as_of, cfg) + _stake_cuts(store, org, edges, as_of, cfg)
            + _moves_from(store, org, as_of, cfg) + _founded_after(store, org, as_of, cfg))


def _unique(flags: Iterable[EvasionFlag]) -> list[EvasionFlag]:
    """One flag per change (``flag_id``), its anchors merged; oldest anchor first."""
    same: dict[str, list[EvasionFlag]] = {}
    for f in flags:
        same.setdefault(f.flag_id, []).append(f)
    merged = [_merge(fs) for fs in same.values()]
    return sorted(merged, key=lambda f: (f.anchor_date, f.change_date, f.pattern, f.subject, f.flag_id))


def evasion_flags(store: Store, subject: str, as_of: date, config: EvasionConfig | None = None
                  ) -> list[EvasionFlag]:
    """Every flag involving ``subject`` as of the date.

    For an organisation: changes timed against its own records, black listings and deregistration, people who
    left it for a same-industry firm or founded one, and people who came to it from a dishonest or failed
    firm. For a person: their moves and foundings, and changes in any organisation where the person is among
    those involved.
    """
    cfg = config or evasion_config()
    flags: list[EvasionFlag] = []
    if subject_kind(subject) == "organisation":
        flags += _org_flags(store, subject, as_of, cfg)
        roles_to = set(cfg.person_move.roles_to) | set(cfg.serial_failure.roles_to)
        arrivals = [e for e in _known(store.roles_of([subject], "in"), as_of)
                    if e.role in roles_to and subject_kind(e.holder) == "person"]
        people = sorted({e.holder for e in arrivals})
        if people:
            others = sorted({e.org for e in store.roles_of(people, "out")} - {subject})
            for org in others:
                flags += _moves_from(store, org, as_of, cfg, only_to=subject)
                flags += _founded_after(store, org, as_of, cfg, only_to=subject)
    else:
        orgs = sorted({e.org for e in _known(store.roles_of([subject], "out"), as_of)})
        for org in orgs:
            edges = _known(store.roles_of([org], "in"), as_of)
            found = _control_changes(store, org, edges, as_of, cfg) + _stake_cuts(store, org, edges, as_of, cfg)
            flags += [f for f in found if subject in f.subjects]
            flags += _moves_from(store, org, as_of, cfg, only_person=subject)
            flags += _founded_after(store, org, as_of, cfg, only_person=subject)
    return _unique(flags)


def serial_failure_flags(store: Store, orgs: Sequence[str], as_of: date, config: EvasionConfig | None = None
                         ) -> list[EvasionFlag]:
    """The ``serial_failure`` flags of people who failed with one of ``orgs`` (金蝉脱壳), for the analytics."""
    cfg = config or evasion_config()
    return _unique(f for org in orgs for f in _founded_after(store, org, as_of, cfg))


def scan_region(store: Store, region: str, as_of: date, config: EvasionConfig | None = None,
                limit: int | None = None) -> list[EvasionFlag]:
    """Every flag on organisations registered in ``region`` (administrative division code prefix) with a
    record, a black list entry or a deregistration by ``as_of``; people leaving them are followed to new
    firms anywhere."""
    cfg = config or evasion_config()
    region_orgs = [o for o in store.iter_organisations() if o.region.startswith(region)]
    flagged = {o.code for o in region_orgs if o.deregistered_on is not None and o.deregistered_on <= as_of}
    orgs = sorted(o.code for o in region_orgs)
    for i in range(0, len(orgs), 1000):
        chunk = orgs[i : i + 1000]
        flagged |= {r.subject for r in store.records_of(chunk)}
        flagged |= {e.subject for e in store.list_entries_of(chunk) if e.list == "black"}
    flags: list[EvasionFlag] = []
    for org in sorted(flagged):
        flags += _org_flags(store, org, as_of, cfg)
    found = _unique(flags)
    return found[:limit] if limit is not None else found


def evasion_frame(flags: Sequence[EvasionFlag]) -> pd.DataFrame:
    """The flags as a pandas DataFrame, one row per flag, with the evidence edge ids and the scalar details."""
    rows = [{"flag_id": f.flag_id, "pattern": f.pattern, "summary": f.summary, "subject": f.subject,
             "cause": f.cause, "anchor": f.anchor, "anchor_date": f.anchor_date, "change_date": f.change_date,
             "days": f.days, "subjects": list(f.subjects),
             "evidence_edges": [e["edge_id"] for e in f.evidence if e.get("kind") == "edge"],
             **{f"detail_{k}": v for k, v in f.detail.items() if not isinstance(v, dict)}} for f in flags]
    columns = ["flag_id", "pattern", "summary", "subject", "cause", "anchor", "anchor_date", "change_date", "days",
               "subjects", "evidence_edges"]
    return pd.DataFrame(rows, columns=list(dict.fromkeys(columns + [k for r in rows for k in r])))

