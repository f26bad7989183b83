"""Risk categories: every risk item on a subject as of a date, classed and graded.

Four categories:

- ``own``: the subject's own records in force, adverse consequences on it (active, or suspended while an
  objection is verified) and effective black list entries;
- ``surrounding``: adverse consequences carried by a related subject within ``depth`` hops, naming the
  carrier, the path of role edges to it and the dates the consequence runs (the scored related parties of
  ``risk.related_parties``), except those of the subject's own records and list entries (its legal
  representative's personal credit entry for the subject's own record is an own item already);
- ``historical``: own records, consequences and black list entries that expired, were repaired, exited or
  withdrawn by the date, kept for context;
- ``warning``: an objection under verification (overdue or not), a consequence or black listing expiring
  within ``window_days``, a black list proposal or publicity in progress, and a newly related party (a
  role edge on the path to a related subject started within ``window_days`` before the date).

A view as of a past date reads what was known on that date: an objection is overdue while unresolved past
its deadline, and a withdrawal, repair or exit after the date does not show (``known_on``).

Severity is ``high``, ``medium``, ``low`` or ``info``. Own consequences are graded by the legal weight of
the measures behind them (a mandatory punishment measure makes an item high) and the consequence weights
of ``scoring.yaml``; surrounding items by their related-party score against the review threshold;
historical items are ``info``. ``risk_items`` returns a ``RiskReport``; ``risk_items_frame`` the same as a
pandas DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

import pandas as pd

from .graph.traversal import Step, neighbourhood, related_parties, weights
from .model import Cause, DerivedFact, DishonestyRecord, ListEntry, RecordEvent
from .policy.loader import load_policy
from .rules.derive import derive, subject_kind
from .rules.governing import lifecycle_of, policy_for
from .store.base import Store

__all__ = ["CATEGORIES", "SEVERITIES", "RiskItem", "RiskReport", "known_on", "risk_items", "risk_items_frame", "shift"]

CATEGORIES = ("own", "surrounding", "warning", "historical")
SEVERITIES = ("high", "medium", "low", "info")
# Consequences that are a benefit, not a risk.
_BENEFITS = frozenset({"green_channel"})
_RECORD_SEVERITY = {"serious": "high", "general": "medium", "minor": "low"}


@dataclass(frozen=True)
class RiskItem:
    """One classed risk item. ``carrier`` is the subject the item sits on (the subject itself unless
    ``surrounding``, or a ``warning`` about a new related party); ``path`` leads from the subject to it.
    ``summary`` is for people and never contains a subject key (keys are masked field by field)."""

    category: str
    kind: str  # consequence | record | list_entry | objection_pending | upcoming_expiry | black_list_proposed
    #            | new_related_party
    severity: str
    subject: str
    carrier: str
    summary: str
    status: str | None = None
    since: date | None = None
    until: date | None = None
    consequence: str | None = None
    rule_id: str | None = None
    cause: str | None = None
    fact_id: str | None = None
    basis: tuple[str, ...] = ()
    path: tuple[Step, ...] = ()
    score: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "kind": self.kind, "severity": self.severity, "subject": self.subject,
                "carrier": self.carrier, "summary": self.summary, "status": self.status, "since": self.since,
                "until": self.until, "consequence": self.consequence, "rule_id": self.rule_id, "cause": self.cause,
                "fact_id": self.fact_id, "basis": list(self.basis), "score": self.score,
                "path": [{"from": s.source, "to": s.target, "edge_id": s.edge_id, "role": s.role,
                          "valid_from": s.valid_from, "valid_to": s.valid_to, "ratio": s.ratio} for s in self.path],
                "detail": self.detail}


@dataclass
class RiskReport:
    subject: str
    as_of: date
    depth: int
    window_days: int
    items: list[RiskItem]
    truncated: dict[str, int]  # hub nodes whose edges were not all followed, and how many were left out

    def counts(self) -> dict[str, dict[str, int]]:
        """Items per category and severity."""
        out = {c: dict.fromkeys(SEVERITIES, 0) for c in CATEGORIES}
        for i in self.items:
            out[i.category][i.severity] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "as_of": self.as_of, "depth": self.depth, "window_days": self.window_days,
                "counts": self.counts(), "items": [i.as_dict() for i in self.items], "truncated": self.truncated}

    def frame(self) -> pd.DataFrame:
        return _frame(self.items)


def shift(d: date, days: int) -> date:
    """``d`` moved by ``days``, clamped to the representable dates (as-of dates may be 0001-01-01 or 9999-12-31)."""
    try:
        return d + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


class _KnownOn:
    """A store as it stood on a date for derivation: lifecycle events after the date had not happened yet."""

    def __init__(self, store: Store, on: date) -> None:
        self._store, self._on = store, on

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def events_of(self, cause_ids: Sequence[str]) -> list[RecordEvent]:
        return [e for e in self._store.events_of(cause_ids) if e.on <= self._on]


def known_on(store: Store, facts: Iterable[DerivedFact], as_of: date) -> list[DerivedFact]:
    """The facts as they were known on ``as_of``. A fact ended early by a lifecycle event after the date
    (objection upheld, revocation, repair, exit) did not end that way yet: its cause is derived again from
    the events up to the date, so a past-dated view shows the end then in force, not the later withdrawal."""
    facts = list(facts)
    later = {f.cause: f.jurisdiction for f in facts
             if f.valid_to is not None and f.valid_to > as_of and f.ended_by not in (None, "expired")}
    if not later:
        return facts
    view = cast(Store, _KnownOn(store, as_of))
    then = {g.fact_id: g for c in sorted(later, key=str) for g in derive(view, c, policy=later[c])}
    return [then.get(f.fact_id, f) if f.cause in later else f for f in facts]


def _consequence_severity(f: DerivedFact, kind: str, on: date) -> str:
    """high when a mandatory punishment measure implements the consequence for the target, else by weight."""
    try:
        snap = load_policy(f.jurisdiction).at(on)
        measures = snap.measures_for(f.consequence, kind)
    except (KeyError, ValueError):
        measures = []
    if any(m.kind == "punishment" and m.binding == "mandatory" for m in measures):
        return "high"
    w = float(weights()["consequences"].get(f.consequence, 0.3))
    return "high" if w >= 0.8 else "medium" if w >= 0.5 else "low"


def _score_severity(score: float) -> str:
    threshold = float(weights()["review_threshold"])
    return "high" if score >= threshold else "medium" if score >= threshold / 2 else "low"


def _record_end(r: DishonestyRecord) -> date:
    snap = policy_for(r)
    return r.period_end or shift(r.decision_date, snap.punishment_period_days.get(r.severity, 1095))


def _own_records(store: Store, subject: str, as_of: date, window: int) -> list[RiskItem]:
    items: list[RiskItem] = []
    for r in sorted(store.records_of([subject]), key=lambda r: (r.decision_date, r.record_id)):
        if r.decision_date > as_of:
            continue
        end = _record_end(r)
        life = lifecycle_of(store, r)
        cause = f"record:{r.record_id}"
        base: dict[str, Any] = dict(subject=subject, carrier=subject, cause=cause, since=r.decision_date,
                    detail={"record_id": r.record_id, "category": r.category, "severity": r.severity,
                            "act_date": r.act_date, "document_no": r.document_no, "department": r.department})
        ended = [(d, why) for d, why in ((life.withdrawn_on, "withdrawn"), (life.repaired_on, "repaired"),
                                          (end, "expired")) if d is not None and d <= as_of]
        if ended:
            on, why = min(ended)
            items.append(RiskItem("historical", "record", "info", summary=f"{r.severity} record {r.record_id} "
                                  f"({r.category}) {why} on {on}", status=why, until=on, **base))
            continue
        items.append(RiskItem("own", "record", _RECORD_SEVERITY.get(r.severity, "low"),
                              summary=f"{r.severity} record {r.record_id} ({r.category}) until {end}",
                              status="in_force", until=end, **base))
        for o in life.objections:
            if o.pending_on(as_of):
                overdue = o.overdue_on(as_of)
                items.append(RiskItem(
                    "warning", "objection_pending", "high" if overdue else "medium",
                    summary=f"objection to {r.record_id} filed {o.filed_on}, verification due {o.deadline}"
                            + (" (overdue)" if overdue else ""),
                    status="overdue" if overdue else "pending", subject=subject, carrier=subject, cause=cause,
                    since=o.filed_on, until=o.deadline,
                    detail={"record_id": r.record_id, "filed_on": o.filed_on, "deadline": o.deadline,
                            "overdue": overdue}))
        if as_of < end <= shift(as_of, window):
            items.append(RiskItem("warning", "upcoming_expiry", "low",
                                  summary=f"punishment period of {r.record_id} ends {end}", status="expiring",
                                  until=end, **{**base, "since": as_of}))
    return items


def _own_facts(store: Store, subject: str, as_of: date, window: int) -> list[RiskItem]:
    kind = subject_kind(subject)
    items: list[RiskItem] = []
    for f in sorted(known_on(store, store.facts_of([subject]), as_of), key=lambda f: (f.valid_from, f.fact_id)):
        if f.consequence in _BENEFITS:
            continue
        status = f.status_on(as_of)
        if status == "pending":
            continue
        base: dict[str, Any] = dict(subject=subject, carrier=subject, consequence=f.consequence, rule_id=f.rule_id,
                    cause=str(f.cause), fact_id=f.fact_id, basis=f.basis, since=f.valid_from, until=f.valid_to,
                    status=status, detail={"target_role": f.target_role, "edge_id": f.edge_id,
                                           "object_id": f.object_id, "jurisdiction": f.jurisdiction})
        if status in ("active", "suspended"):
            severity = _consequence_severity(f, kind, as_of)
            if status == "suspended":  # not applied while the objection is verified
                severity = {"high": "medium", "medium": "low"}.get(severity, severity)
            items.append(RiskItem("own", "consequence", severity, summary=f"{f.consequence} ({f.rule_id}, "
                                  f"{f.cause}) {status}", **base))
            if f.valid_to is not None and f.valid_to <= shift(as_of, window):
                items.append(RiskItem("warning", "upcoming_expiry", "low",
                                      summary=f"{f.consequence} ({f.rule_id}) ends {f.valid_to} "
                                              f"({f.ended_by or 'expired'})", **base))
        else:
            items.append(RiskItem("historical", "consequence", "info",
                                  summary=f"{f.consequence} ({f.rule_id}, {f.cause}) {status} on {f.valid_to}",
                                  **base))
    return items


def _own_lists(store: Store, subject: str, as_of: date, window: int, jurisdiction: str) -> list[RiskItem]:
    items: list[RiskItem] = []
    for e in sorted(store.list_entries_of([subject]), key=lambda e: (e.valid_from, e.entry_id)):
        if e.list != "black":
            continue
        base: dict[str, Any] = dict(subject=subject, carrier=subject, cause=f"list:{e.entry_id}", since=e.valid_from,
                    until=e.valid_to, detail=_entry(e))
        if e.status in ("proposed", "publicity"):
            items.append(RiskItem("warning", "black_list_proposed", "medium", status=e.status,
                                  summary=f"black list {e.name} {e.status} ({e.determining_unit})",
                                  **base))
            continue
        if e.valid_from > as_of:
            continue
        life = lifecycle_of(store, e, jurisdiction)
        ends = [(d, why) for d, why in ((life.withdrawn_on, "withdrawn"), (life.exited_on, "exited"),
                                        (e.valid_to, "expired")) if d is not None]
        ended = [(d, why) for d, why in ends if d <= as_of]
        if e.status == "revoked" or ended:
            on, why = min(ended) if ended else (None, "revoked")
            items.append(RiskItem("historical", "list_entry", "info", status=why,
                                  summary=f"black list {e.name} {why}" + (f" on {on}" if on else ""),
                                  **base))
            continue
        items.append(RiskItem("own", "list_entry", "high", status="effective",
                              summary=f"on black list {e.name} since {e.valid_from}", **base))
        end = e.valid_to  # a withdrawal or exit after the date was not known on it
        if end is not None and end <= shift(as_of, window):
            items.append(RiskItem("warning", "upcoming_expiry", "low", status="expiring",
                                  summary=f"black list {e.name} ends {end}", **{**base, "until": end}))
    return items


def _entry(e: ListEntry) -> dict[str, Any]:
    return {"entry_id": e.entry_id, "list": e.list, "name": e.name, "determining_unit": e.determining_unit,
            "basis": e.basis, "status": e.status}


def risk_items(
    store: Store, subject: str, as_of: date, depth: int = 2, window_days: int = 90, max_fanout: int = 200,
    jurisdiction: str = "default",
) -> RiskReport:
    """Every risk item on ``subject`` as of the date, classed own, surrounding, historical or warning;
    list entries are judged under the deployment's ``jurisdiction`` (rules.governing).

    Items are ordered by category (own, surrounding, warning, historical), then severity, then date.
    """
    items = _own_records(store, subject, as_of, window_days)
    items += _own_facts(store, subject, as_of, window_days)
    items += _own_lists(store, subject, as_of, window_days, jurisdiction)
    hood = neighbourhood(store, subject, as_of, depth, max_fanout)
    parties, _ = related_parties(store, subject, as_of, depth, max_fanout, hood=hood)
    # The subject's own records and list entries are own items already: the consequences they put on its
    # people (a legal representative's personal credit entry) are not a risk around it.
    own = {str(Cause("record", r.record_id)) for r in store.records_of([subject])}
    own |= {str(Cause("list", e.entry_id)) for e in store.list_entries_of([subject])}
    around = [(p, reason) for p in parties for reason in p.reasons if reason["cause"] not in own]
    facts = {f.fact_id: f for f in known_on(store, store.get_facts([r["fact_id"] for _, r in around]).values(), as_of)}
    adverse: dict[str, float] = {}
    for p, reason in around:
        adverse[p.subject] = max(adverse.get(p.subject, 0.0), reason["score"])
        f = facts[reason["fact_id"]]
        until = f" until {f.valid_to}" if f.valid_to else ""
        items.append(RiskItem(
            "surrounding", "consequence", _score_severity(reason["score"]), subject=subject, carrier=p.subject,
            summary=f"related {subject_kind(p.subject)} at {p.distance} hop{'s' if p.distance > 1 else ''} carries "
                    f"{reason['consequence']} ({reason['rule_id']}, {reason['cause']}) since {f.valid_from}{until}",
            status="active", since=f.valid_from, until=f.valid_to, consequence=reason["consequence"],
            rule_id=reason["rule_id"], cause=reason["cause"], fact_id=reason["fact_id"], basis=tuple(reason["basis"]),
            path=p.path, score=reason["score"], detail={"distance": p.distance}))
    since = shift(as_of, -window_days)
    for node, path in sorted(hood.paths.items()):
        new = [s for s in path if since < s.valid_from <= as_of]
        if node == subject or not new:
            continue
        score = adverse.get(node)
        severity = ("high" if score >= float(weights()["review_threshold"]) else "medium") if score is not None \
            else "low"
        first = min(s.valid_from for s in new)
        items.append(RiskItem(
            "warning", "new_related_party", severity, subject=subject, carrier=node,
            summary=f"{subject_kind(node)} related since {first} via {', '.join(s.role for s in new)}"
                    + (f"; carries adverse consequences (score {score})" if score is not None else ""),
            status="new", since=first, path=path, score=score,
            detail={"distance": hood.distance[node], "new_edges": [s.edge_id for s in new]}))
    order = {c: i for i, c in enumerate(CATEGORIES)}
    grade = {s: i for i, s in enumerate(SEVERITIES)}
    items.sort(key=lambda i: (order[i.category], grade[i.severity], i.since or date.min, i.carrier, i.kind,
                              i.fact_id or i.cause or ""))
    return RiskReport(subject, as_of, depth, window_days, items, hood.truncated)


_COLUMNS = ["subject", "category", "kind", "severity", "carrier", "consequence", "rule_id", "cause", "fact_id",
            "status", "since", "until", "score", "distance", "path", "basis", "summary"]


def _frame(items: list[RiskItem]) -> pd.DataFrame:
    rows = [{"subject": i.subject, "category": i.category, "kind": i.kind, "severity": i.severity,
             "carrier": i.carrier, "consequence": i.consequence, "rule_id": i.rule_id, "cause": i.cause,
             "fact_id": i.fact_id, "status": i.status, "since": i.since, "until": i.until, "score": i.score,
             "distance": len(i.path), "path": " > ".join([i.subject] + [s.target for s in i.path]) if i.path else "",
             "basis": "; ".join(i.basis), "summary": i.summary} for i in items]
    return pd.DataFrame(rows, columns=_COLUMNS)


def risk_items_frame(
    store: Store, subjects: str | list[str], as_of: date, depth: int = 2, window_days: int = 90,
    max_fanout: int = 200, jurisdiction: str = "default",
) -> pd.DataFrame:
    """Risk items of one or several subjects as a DataFrame, one row per item.

    Columns: subject, category, kind, severity, carrier, consequence, rule_id, cause, fact_id, status,
    since, until, score, distance (hops to the carrier), path (keys from subject to carrier), basis, summary.

    >>> from graph_credit.store import SQLiteStore
    >>> store = SQLiteStore(":memory:")
    >>> risk_items_frame(store, "91110105000000001X", date(2021, 1, 1)).empty
    True
    """
    keys = [subjects] if isinstance(subjects, str) else list(subjects)
    items = [i for k in keys for i in risk_items(store, k, as_of, depth, window_days, max_fanout, jurisdiction).items]
    return _frame(items)
