"""Policy what-if: the consequences of one subject's or a region's causes under two policies, compared.

A policy choice is a jurisdiction and an effective date, either of which may be left to the cause: no
jurisdiction means the record's own (for list entries, the deployment's), no date means the cause's own
date (the record's decision date, the entry's first day). So two jurisdictions on the causes' own dates,
or one jurisdiction at two effective dates, are both a pair of choices.

Every cause is derived twice with ``derive(store, cause, policy=...)``, which reads the graph and writes
nothing. Facts are matched by identity (cause, rule, consequence, target, edge, object acted on) and every
difference is reported with the rule version and the clauses behind it on each side:

- ``only_a`` / ``only_b``: a consequence one policy derives and the other does not, with why the other does
  not (the rule is not in force there, or its trigger or affected roles differ);
- ``changed``: the same consequence with a different end, suspension, rule version or basis; a suspension
  that differs cites the objection clauses, an end that differs the rule's lifting events and the
  punishment period clauses;
- ``measures``: the same consequence implemented by different measures of the catalogue (a measure only
  one side has, or one mandatory on one side and recommended on the other), with each measure's basis;
- ``objection``: a cause with objections judged under two verification deadlines (15 days against 20): each
  objection's deadline on each side, whether it was verified late and, with ``as_of``, whether it is overdue
  on that date, with the objection clauses. The suspension intervals may be the same on both sides: they
  run from filing to resolution whatever the deadline.

With ``as_of``, each side also gives the status of the consequence on that date (active, suspended, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .model import Cause, DerivedFact
from .policy.loader import available_jurisdictions, load_policy
from .policy.schema import Measure
from .policy.snapshot import PolicySnapshot
from .rules.derive import derive, subject_kind
from .rules.lifecycle import Objection, read_lifecycle
from .store.base import Store, require_known

__all__ = ["PolicyChoice", "WhatIf", "what_if", "what_if_region"]


@dataclass(frozen=True)
class PolicyChoice:
    """A jurisdiction and an effective date; ``None`` leaves either to the cause."""

    jurisdiction: str | None = None
    on: date | None = None

    def __post_init__(self) -> None:
        if self.jurisdiction is not None and self.jurisdiction not in available_jurisdictions():
            raise ValueError(f"jurisdiction: unknown jurisdiction {self.jurisdiction!r}; "
                             f"available: {', '.join(available_jurisdictions())}")

    def snapshot(self, jurisdiction: str, on: date) -> PolicySnapshot:
        """The policy a cause with its own ``jurisdiction`` and ``on`` date is judged under."""
        return load_policy(self.jurisdiction or jurisdiction).at(self.on or on)

    def as_dict(self) -> dict[str, Any]:
        return {"jurisdiction": self.jurisdiction, "on": self.on}


@dataclass
class WhatIf:
    scope: dict[str, str]  # {"subject": key} or {"region": code}
    a: PolicyChoice
    b: PolicyChoice
    as_of: date | None
    causes: int
    facts_a: int
    facts_b: int
    differences: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(("only_a", "only_b", "changed", "measures", "objection"), 0)
        for d in self.differences:
            out[d["change"]] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {**self.scope, "a": self.a.as_dict(), "b": self.b.as_dict(), "as_of": self.as_of,
                "causes": self.causes, "facts_a": self.facts_a, "facts_b": self.facts_b, "counts": self.counts(),
                "differences": self.differences}


def _natural(store: Store, cause: Cause, jurisdiction: str) -> tuple[str, date] | None:
    if cause.kind == "record":
        r = store.get_records([cause.id]).get(cause.id)
        return (r.jurisdiction, r.decision_date) if r else None
    e = store.get_list_entries([cause.id]).get(cause.id)
    return (jurisdiction, e.valid_from) if e else None


def _key(f: DerivedFact) -> str:
    return f.fact_id  # cause, rule, consequence, target, edge and object: the same under any policy


def _rule_ref(snap: PolicySnapshot, rule_id: str) -> dict[str, Any] | None:
    try:
        rule = snap.rule(rule_id)
    except KeyError:
        return None
    return {"id": rule.id, "version": rule.version, "title": rule.title,
            "effective_from": rule.effective_from, "effective_to": rule.effective_to,
            "clauses": [str(b) for b in rule.basis], "quotes": [b.quote for b in rule.basis]}


def _side(snap: PolicySnapshot) -> dict[str, Any]:
    return {"jurisdiction": snap.jurisdiction, "policy_on": snap.on, "version": snap.version}


def _why_missing(f: DerivedFact, other: PolicySnapshot) -> str:
    ref = _rule_ref(other, f.rule_id)
    if ref is None:
        return f"rule {f.rule_id} is not in force in {other.jurisdiction} on {other.on}"
    if ref["version"] != f.rule_version:
        return (f"rule {f.rule_id} is version {ref['version']} in {other.jurisdiction} on {other.on} "
                f"(here {f.rule_version}): its trigger or affected roles differ")
    return f"rule {f.rule_id} does not reach this target under {other.jurisdiction} on {other.on}"


def _fact(f: DerivedFact, as_of: date | None) -> dict[str, Any]:
    d = {"fact_id": f.fact_id, "cause": str(f.cause), "rule_id": f.rule_id, "rule_version": f.rule_version,
         "consequence": f.consequence, "target": f.target, "target_role": f.target_role,
         "valid_from": f.valid_from, "valid_to": f.valid_to, "ended_by": f.ended_by,
         "suspended": [list(s) for s in f.suspended], "basis": list(f.basis), "jurisdiction": f.jurisdiction,
         "edge_id": f.edge_id, "object_id": f.object_id}
    if as_of is not None:
        d["status"] = f.status_on(as_of)
    return d


def _measures(snap: PolicySnapshot, f: DerivedFact) -> dict[str, Measure]:
    kind = subject_kind(f.target)
    return {m.code: m for m in snap.measures_for(f.consequence, kind)}


def _measure_ref(m: Measure) -> dict[str, Any]:
    return {"code": m.code, "name": m.name_zh, "name_en": m.name_en, "binding": m.binding, "kind": m.kind,
            "matters": sorted(m.matters), "clauses": [str(b) for b in m.basis]}


def _compare(fa: DerivedFact, fb: DerivedFact, sa: PolicySnapshot, sb: PolicySnapshot, as_of: date | None
             ) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    head = {"fact_id": fa.fact_id, "cause": str(fa.cause), "target": fa.target, "consequence": fa.consequence,
            "rule_id": fa.rule_id, "target_role": fa.target_role}
    fields: dict[str, dict[str, Any]] = {}
    clauses: dict[str, list[str]] = {"a": [], "b": []}
    if fa.suspended != fb.suspended:
        fields["suspended"] = {"a": [list(s) for s in fa.suspended], "b": [list(s) for s in fb.suspended]}
        fields["suspends_measures"] = {"a": sa.objection.suspends_measures, "b": sb.objection.suspends_measures}
        clauses["a"] += [str(b) for b in sa.objection.basis]
        clauses["b"] += [str(b) for b in sb.objection.basis]
    if (fa.valid_to, fa.ended_by) != (fb.valid_to, fb.ended_by):
        fields["valid_to"] = {"a": fa.valid_to, "b": fb.valid_to}
        fields["ended_by"] = {"a": fa.ended_by, "b": fb.ended_by}
        for side, snap, f in (("a", sa, fa), ("b", sb, fb)):
            ref = _rule_ref(snap, f.rule_id)
            clauses[side] += ref["clauses"] if ref else list(f.basis)
            clauses[side] += [str(b) for b in snap.punishment_period.basis]
    if fa.rule_version != fb.rule_version or fa.basis != fb.basis:
        fields["rule_version"] = {"a": fa.rule_version, "b": fb.rule_version}
        fields["basis"] = {"a": list(fa.basis), "b": list(fb.basis)}
        clauses["a"] += list(fa.basis)
        clauses["b"] += list(fb.basis)
    if as_of is not None and fa.status_on(as_of) != fb.status_on(as_of):
        fields["status"] = {"a": fa.status_on(as_of), "b": fb.status_on(as_of)}
    if fields:
        out.append({"change": "changed", **head, "fields": fields, "policy": {"a": _side(sa), "b": _side(sb)},
                    "rule": {"a": _rule_ref(sa, fa.rule_id), "b": _rule_ref(sb, fb.rule_id)},
                    "clauses": {k: list(dict.fromkeys(v)) for k, v in clauses.items()},
                    "a": _fact(fa, as_of), "b": _fact(fb, as_of)})
    ma, mb = _measures(sa, fa), _measures(sb, fb)
    only_a = sorted(set(ma) - set(mb))
    only_b = sorted(set(mb) - set(ma))
    binding = sorted(c for c in set(ma) & set(mb) if ma[c].binding != mb[c].binding)
    if only_a or only_b or binding:
        out.append({"change": "measures", **head, "policy": {"a": _side(sa), "b": _side(sb)},
                    "measures": {"only_a": [_measure_ref(ma[c]) for c in only_a],
                                 "only_b": [_measure_ref(mb[c]) for c in only_b],
                                 "binding": [{"code": c, "a": _measure_ref(ma[c]), "b": _measure_ref(mb[c])}
                                             for c in binding]},
                    "clauses": {"a": sorted({str(b) for c in only_a + binding for b in ma[c].basis}),
                                "b": sorted({str(b) for c in only_b + binding for b in mb[c].basis})}})
    return out


def _deadlines(store: Store, cause: Cause, sa: PolicySnapshot, sb: PolicySnapshot, as_of: date | None
               ) -> list[dict[str, Any]]:
    """The cause's objections against each side's verification deadline, if the deadlines differ."""
    days = {"a": sa.objection.verification_days, "b": sb.objection.verification_days}
    if days["a"] == days["b"]:
        return []
    events = store.events_of([cause.id])
    sides = {k: read_lifecycle(events, d).objections for k, d in days.items()}
    if not sides["a"]:
        return []

    def late(o: Objection) -> bool:
        return o.resolved_on is not None and o.resolved_on > o.deadline

    rows = []
    for oa, ob in zip(sides["a"], sides["b"], strict=True):
        row: dict[str, Any] = {"filed_on": oa.filed_on, "resolved_on": oa.resolved_on,
                               "deadline": {"a": oa.deadline, "b": ob.deadline},
                               "verified_late": {"a": late(oa), "b": late(ob)}}
        if as_of is not None:
            row["overdue"] = {"a": oa.overdue_on(as_of), "b": ob.overdue_on(as_of)}
        rows.append(row)
    return [{"change": "objection", "cause": str(cause), "fields": {"verification_days": days},
             "objections": rows, "policy": {"a": _side(sa), "b": _side(sb)},
             "clauses": {"a": [str(b) for b in sa.objection.basis], "b": [str(b) for b in sb.objection.basis]}}]


def _run(store: Store, causes: Iterable[Cause], a: PolicyChoice, b: PolicyChoice, jurisdiction: str,
         as_of: date | None, keep: set[str] | None, scope: dict[str, str]) -> WhatIf:
    result = WhatIf(scope, a, b, as_of, 0, 0, 0)
    for cause in sorted(set(causes), key=str):
        natural = _natural(store, cause, jurisdiction)
        if natural is None:
            continue
        result.causes += 1
        sa, sb = a.snapshot(*natural), b.snapshot(*natural)
        fa = {_key(f): f for f in derive(store, cause, policy=sa) if keep is None or f.target in keep}
        fb = {_key(f): f for f in derive(store, cause, policy=sb) if keep is None or f.target in keep}
        result.facts_a += len(fa)
        result.facts_b += len(fb)
        if fa or fb:
            result.differences += _deadlines(store, cause, sa, sb, as_of)
        for k in sorted(fa.keys() | fb.keys()):
            x, y = fa.get(k), fb.get(k)
            if x is not None and y is not None:
                result.differences += _compare(x, y, sa, sb, as_of)
                continue
            f, change = (x, "only_a") if x is not None else (y, "only_b")
            assert f is not None
            here, there = ("a", "b") if change == "only_a" else ("b", "a")
            snaps = {"a": sa, "b": sb}
            rules = {side: _rule_ref(snap, f.rule_id) for side, snap in snaps.items()}
            other_rule = rules[there]
            clauses = {here: list(f.basis), there: other_rule["clauses"] if other_rule else []}
            result.differences.append({
                "change": change, "fact_id": f.fact_id, "cause": str(f.cause), "target": f.target,
                "consequence": f.consequence, "rule_id": f.rule_id, "target_role": f.target_role,
                "policy": {side: _side(snap) for side, snap in snaps.items()}, "rule": rules, "clauses": clauses,
                "reason": _why_missing(f, snaps[there]), "fact": _fact(f, as_of),
            })
    return result


def _subject_causes(store: Store, subject: str) -> list[Cause]:
    """Causes whose consequences can reach ``subject`` under some policy: its own records and list entries,
    records on the organisations where it holds a role, and causes with a stored fact on it."""
    causes = [Cause("record", r.record_id) for r in store.records_of([subject])]
    causes += [Cause("list", e.entry_id) for e in store.list_entries_of([subject])]
    orgs = sorted({e.org for e in store.roles_of([subject], "out")})
    if orgs:
        causes += [Cause("record", r.record_id) for r in store.records_of(orgs)]
    causes += store.causes_touching([subject])
    return causes


def what_if(store: Store, subject: str, a: PolicyChoice, b: PolicyChoice, as_of: date | None = None,
            jurisdiction: str = "default") -> WhatIf:
    """Every consequence on ``subject`` that differs between policy choices ``a`` and ``b``.

    ``jurisdiction`` is the deployment's policy, used for list entries when a choice names none.
    """
    require_known(store, subject)
    causes = _subject_causes(store, subject)
    return _run(store, causes, a, b, jurisdiction, as_of, {subject}, {"subject": subject})


def what_if_region(store: Store, region: str, a: PolicyChoice, b: PolicyChoice, as_of: date | None = None,
                   jurisdiction: str = "default") -> WhatIf:
    """Every consequence of the records and list entries on subjects registered in ``region`` (a division
    code or its prefix) that differs between ``a`` and ``b``, whoever it reaches."""
    subjects = sorted(o.code for o in store.iter_organisations() if o.region.startswith(region))
    subjects += sorted(p.key for p in store.iter_persons() if p.region.startswith(region))
    causes: list[Cause] = []
    for i in range(0, len(subjects), 1000):
        chunk = subjects[i : i + 1000]
        causes += [Cause("record", r.record_id) for r in store.records_of(chunk)]
        causes += [Cause("list", e.entry_id) for e in store.list_entries_of(chunk)]
    return _run(store, causes, a, b, jurisdiction, as_of, None, {"region": region})
