"""Approval checks (应查必查): what applies to a subject for one approval matter on one date.

The decision comes from the catalogue: an active fact on the subject whose consequence carries a
mandatory punishment measure bearing on the matter denies; a recommended one, or related-party risk
above the review threshold, asks for review; an incentive (red list, or the clean-years rule)
opens the green channel; otherwise allow. Every measure in the answer names its source fact,
record, rule and legal basis.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from .errors import DomainError
from .graph.traversal import RelatedParty, related_of_origins, weights
from .memory import collector_paused, release_free_memory
from .model import Cause, DerivedFact, DishonestyRecord, RecordEvent
from .policy.loader import load_policy
from .policy.schema import Measure
from .policy.snapshot import PolicySnapshot
from .rules.derive import punishment_end, subject_kind, term_assumed
from .rules.governing import lifecycle_of, policy_for
from .store.base import ReadsChecks, Store, implements

__all__ = ["CheckResult", "UnknownMatter", "check", "check_many", "green_channel_barred_by", "green_channel_basis"]

# "unknown": the subject is not registered, so an empty graph says nothing; never to be read as "allow".
DECISIONS = ("deny", "review", "allow", "green_channel", "unknown")
_CHUNK = 2_000  # subjects per pass of check_many: about 200,000 traversal rows at a time
# Consequences that do not stand in the way of the green channel: the incentive itself, and the
# lasting record of a past act (a revoked honour or an ended red listing stays so), which the
# clean-years test already weighs through the record behind it.
NOT_ADVERSE = frozenset({"green_channel", "honour_revocation", "red_list_removal"})


class UnknownMatter(DomainError):
    code = "unknown_matter"

    def __init__(self, matter: str, known: list[str]) -> None:
        super().__init__(f"unknown approval matter {matter!r}; known: {', '.join(sorted(known))}", field="matter")


@dataclass
class CheckResult:
    subject: str
    subject_kind: str
    matter: str
    as_of: date
    decision: str
    measures: list[dict[str, Any]] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    green_channel: dict[str, Any] | None = None
    policy: dict[str, str] = field(default_factory=dict)


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def green_channel_barred_by(facts: Iterable[DerivedFact], as_of: date) -> list[str]:
    """The consequences in force on ``as_of`` that close the green channel (a red listing's included): the
    one answer the check and the profile give."""
    return [f.fact_id for f in facts if f.status_on(as_of) == "active" and f.consequence not in NOT_ADVERSE]


def green_channel_basis(store: Store, subject: str, as_of: date, jurisdiction: str = "default") -> dict | None:
    """P7: a red list fact in force, or N consecutive years (default 3) with no adverse record."""
    return _green_channel(_Subjects(store, [subject]), subject, as_of, load_policy(jurisdiction).at(as_of))


class _Subjects:
    """What a batch of checks reads about its subjects, each kind in one store call."""

    def __init__(self, store: Store, subjects: Sequence[str]) -> None:
        self.store = store
        self.kind = {s: subject_kind(s) for s in subjects}
        orgs = [s for s, k in self.kind.items() if k == "organisation"]
        self.orgs = store.get_organisations(orgs) if orgs else {}
        persons = [s for s, k in self.kind.items() if k != "organisation"]
        self.persons = store.get_persons(persons) if persons else {}
        self.facts: dict[str, list[DerivedFact]] = defaultdict(list)
        for f in store.facts_of(list(self.kind)):
            self.facts[f.target].append(f)
        self._records: dict[str, list[DishonestyRecord]] | None = None
        self._events: dict[str, list[RecordEvent]] = {}
        self._cause_records: dict[str, DishonestyRecord] = {}

    def registered(self, subject: str) -> bool:
        return subject in self.orgs or subject in self.persons

    def records(self, subject: str) -> list[DishonestyRecord]:
        if self._records is None:  # read only once a subject needs the clean-years test
            self._records = defaultdict(list)
            for r in self.store.records_of(list(self.kind)):
                self._records[r.subject].append(r)
            for e in self.store.events_of([r.record_id for rs in self._records.values() for r in rs]):
                self._events.setdefault(e.cause_id, []).append(e)
        return self._records.get(subject, [])

    def events(self, record_id: str) -> list[RecordEvent]:
        return self._events.get(record_id, [])

    def cause_records(self, record_ids: Sequence[str]) -> dict[str, DishonestyRecord]:
        """Records behind facts, read once per batch and only for facts that bear on the matter."""
        missing = [r for r in record_ids if r not in self._cause_records]
        if missing:
            self._cause_records.update(self.store.get_records(missing))
        return {r: self._cause_records[r] for r in record_ids if r in self._cause_records}


def _green_channel(known: _Subjects, subject: str, as_of: date, snap: PolicySnapshot) -> dict | None:
    for f in known.facts.get(subject, ()):
        if f.consequence == "green_channel" and f.status_on(as_of) == "active":
            return {"reason": "red_list", "fact_id": f.fact_id, "cause": str(f.cause), "basis": list(f.basis)}
    years = snap.green_channel.clean_years
    since = _years_before(as_of, years)
    if known.kind[subject] == "organisation":
        org = known.orgs.get(subject)
        if org is None or org.registered_on is None or org.registered_on > since:
            return None
    for r in known.records(subject):
        if r.decision_date > as_of:
            continue
        rsnap = policy_for(r)
        life = lifecycle_of(known.store, r, events=known.events(r.record_id))
        if life.withdrawn_on is not None and life.withdrawn_on <= as_of:
            continue  # a withdrawn record is not an adverse record
        # The record stops counting when its punishment ends, by expiry or by an approved repair: repairing
        # never leaves a subject worse off than waiting (Xiaoyi 42, Tibet (17)).
        end = punishment_end(r, rsnap)
        if life.repaired_on is not None and life.repaired_on <= as_of:
            end = min(end, life.repaired_on)
        if max(r.decision_date, end) > since:
            return None
    return {"reason": "clean_years", "years": years, "since": since.isoformat(),
            "basis": [str(b) for b in snap.green_channel.basis]}


def check(
    store: Store, subject: str, matter: str, as_of: date, jurisdiction: str = "default", depth: int = 2,
    with_related: bool = True,
) -> CheckResult:
    return check_many(store, [subject], matter, as_of, jurisdiction, depth, with_related)[0]


def check_many(
    store: Store, subjects: Sequence[str], matter: str, as_of: date, jurisdiction: str = "default", depth: int = 2,
    with_related: bool = True,
) -> list[CheckResult]:
    """``check`` of each subject, in order, with each kind of read made once for the whole batch."""
    snap = load_policy(jurisdiction).at(as_of)
    if matter not in snap.matters:
        raise UnknownMatter(matter, list(snap.matters))
    subjects = list(subjects)
    threshold = float(weights()["review_threshold"])
    out: list[CheckResult] = []
    # Paused for the whole batch: re-enabled after each pass, the collector walked every pass's answers.
    with collector_paused():
        for at in range(0, len(subjects), _CHUNK):  # bounded working memory whatever the batch size
            chunk = subjects[at : at + _CHUNK]
            # A backend that can (Neo4jStore.check_reads) reads all of it in one statement.
            bulk = implements(store, ReadsChecks) and cast(ReadsChecks, store).check_reads(
                chunk, as_of, depth if with_related else 0)
            reads: Store = bulk or store
            known = _Subjects(reads, chunk)
            related: list[list[RelatedParty]] = [[] for _ in chunk]
            if with_related:
                related = related_of_origins(reads, chunk, as_of, depth)
            incentives = {k: [m for m in snap.measures_for("green_channel", k) if matter in m.matters]
                          for k in set(known.kind.values())}
            out += [_decide(known, s, matter, as_of, snap, parties, threshold, incentives)
                    for s, parties in zip(chunk, related, strict=True)]
    if len(subjects) > _CHUNK // 4:
        release_free_memory()  # a batch's traversal arrays: tens of MB a server need not keep
    return out


def _flag_assumed_periods(known: _Subjects, result: CheckResult) -> None:
    """A measure whose end rests on the policy's default period, not one the initiating department (or, for a
    black listing, the determining unit) fixed, says so: the approval officer sees the assumption behind the
    date."""
    items = result.measures + [w for w in result.warnings if "fact_id" in w]
    causes = [Cause.parse(i["cause"]) for i in items]
    ids = sorted({c.id for c in causes if c.kind == "record"})
    entry_ids = sorted({c.id for c in causes if c.kind == "list"})
    if not ids and not entry_ids:
        return
    records = known.cause_records(ids) if ids else {}
    entries = known.store.get_list_entries(entry_ids) if entry_ids else {}
    assumed = set()
    for item, cause in zip(items, causes, strict=True):
        record = records.get(cause.id) if cause.kind == "record" else None
        entry = entries.get(cause.id) if cause.kind == "list" else None
        item["period_assumed"] = ((record is not None and record.period_end is None)
                                  or (entry is not None and term_assumed(entry)))
        if item["period_assumed"] and item["cause"] not in assumed:
            assumed.add(item["cause"])
            result.warnings.append({"kind": "period_assumed", "cause": item["cause"], "message": _ASSUMED[cause.kind]})


_ASSUMED = {
    "record": "the record gives no punishment period; the policy's default period for its severity was used and "
              "its department notified",
    "list": "the black listing gives no term; the policy's default period for serious dishonesty was used and its "
            "determining unit notified",
}


def _decide(known: _Subjects, subject: str, matter: str, as_of: date, snap: PolicySnapshot,
            parties: list[RelatedParty], threshold: float, incentives: dict[str, list[Measure]]) -> CheckResult:
    kind = known.kind[subject]
    result = CheckResult(subject, kind, matter, as_of, "allow",
                         policy={"jurisdiction": snap.jurisdiction, "version": snap.version})
    if not known.registered(subject):
        # No registration data: nothing derived can apply; the decision says "unknown" unless a fact denies.
        result.warnings.append({"kind": "subject_not_registered", "subject": subject})
    binding: set[str] = set()
    adverse = bool(green_channel_barred_by(known.facts.get(subject, ()), as_of))
    for f in known.facts.get(subject, ()):
        status = f.status_on(as_of)
        if status not in ("active", "suspended"):
            continue
        fsnap = snap if f.jurisdiction == snap.jurisdiction else load_policy(f.jurisdiction).at(as_of)
        for m in fsnap.measures_for(f.consequence, kind):
            if m.kind != "punishment" or matter not in m.matters:
                continue
            item = {"code": m.code, "name": m.name_zh, "name_en": m.name_en, "binding": m.binding,
                    "status": status, "fact_id": f.fact_id, "cause": str(f.cause), "rule_id": f.rule_id,
                    "consequence": f.consequence, "target_role": f.target_role, "edge_id": f.edge_id,
                    "valid_from": f.valid_from.isoformat(),
                    "valid_to": f.valid_to.isoformat() if f.valid_to else None,
                    "basis": [str(b) for b in m.basis], "rule_basis": list(f.basis)}
            if status == "suspended":
                result.warnings.append({"kind": "suspended_during_objection", **item})
                continue
            result.measures.append(item)
            binding.add(m.binding)
    _flag_assumed_periods(known, result)
    if "mandatory" in binding:
        result.decision = "deny"
    elif "recommended" in binding:
        result.decision = "review"
    for p in parties:
        result.related.append({
            "subject": p.subject, "distance": p.distance, "score": p.score, "reasons": p.reasons,
            "path": [{"from": s.source, "to": s.target, "edge_id": s.edge_id, "role": s.role,
                      "valid_from": s.valid_from.isoformat(),
                      "valid_to": s.valid_to.isoformat() if s.valid_to else None, "ratio": s.ratio}
                     for s in p.path],
        })
    if result.decision == "allow" and any(p.score >= threshold for p in parties):
        result.decision = "review"
    if result.decision == "allow" and not known.registered(subject):
        result.decision = "unknown"
    if result.decision == "allow" and not adverse:
        basis = _green_channel(known, subject, as_of, snap)
        measures = incentives[kind]
        if basis and measures:
            result.decision = "green_channel"
            result.green_channel = {**basis, "measures": [
                {"code": m.code, "name": m.name_zh, "name_en": m.name_en, "binding": m.binding,
                 "basis": [str(b) for b in m.basis]} for m in measures]}
    return result
