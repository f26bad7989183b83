"""Derivation: the consequences of one cause (a record or a list entry) under the policy in force.

``derive_record`` and ``derive_list_entry`` are the only places rules are applied. They read the
graph through the store interface and return facts; they never write. The same function serves
incremental updates and full recomputation, which is why the two always agree.
"""

from __future__ import annotations

from datetime import date, timedelta

from ..model import Cause, DerivedFact, DishonestyRecord, ListEntry, RoleEdge
from ..policy.schema import Affect, Rule
from ..policy.snapshot import PolicySnapshot
from ..store.base import Store
from .governing import lifecycle_of, policy_for
from .lifecycle import Lifecycle

__all__ = ["derive", "derive_list_entry", "derive_record", "list_end", "punishment_end", "subject_kind", "term_assumed"]


def subject_kind(key: str) -> str:
    from ..ids import is_person_key

    return "person" if is_person_key(key) else "organisation"


def derive(store: Store, cause: Cause, policy: PolicySnapshot | str | None = None) -> list[DerivedFact]:
    """All facts that ``cause`` implies now; empty if the cause no longer exists.

    ``policy`` overrides the policy the cause is judged under, without writing anything (policy what-if):
    ``None`` uses the cause's own (the record's jurisdiction at its decision date); a jurisdiction name
    uses that jurisdiction at the cause's own date; a ``PolicySnapshot`` is used as it is.
    """
    if cause.kind == "record":
        record = store.get_records([cause.id]).get(cause.id)
        return derive_record(store, record, policy) if record else []
    if cause.kind == "list":
        entry = store.get_list_entries([cause.id]).get(cause.id)
        return derive_list_entry(store, entry, policy=policy) if entry else []
    raise ValueError(f"unknown cause kind {cause.kind!r}")


def _end(rule: Rule, life: Lifecycle, natural_end: date | None,
         scheduled_exit: date | None = None) -> tuple[date | None, str | None]:
    """The earliest lifting event the rule allows, and its name. The scheduled end of a list entry (its
    ``valid_to``) lifts like an exit event but is named apart: nothing is written the day it comes, so the
    expiry sweep announces it (graph_credit.model.SCHEDULED_ENDS)."""
    ends: list[tuple[date, str]] = []
    if "expiry" in rule.lifted_by and natural_end is not None:
        ends.append((natural_end, "expired"))
    if "exit" in rule.lifted_by and scheduled_exit is not None:
        ends.append((scheduled_exit, "scheduled_exit"))
    if "repair" in rule.lifted_by and life.repaired_on is not None:
        ends.append((life.repaired_on, "repaired"))
    if "exit" in rule.lifted_by and life.exited_on is not None:
        ends.append((life.exited_on, "exited"))
    if life.withdrawn_on is not None:  # an upheld objection or revocation withdraws everything
        ends.append((life.withdrawn_on, "withdrawn"))
    if not ends:
        return None, None
    return min(ends)


def _subject(store: Store, subject: str) -> tuple[str, str | None, list[RoleEdge]]:
    """What a trigger and its affects read of a subject: its kind, organisation type and role edges."""
    if subject_kind(subject) != "organisation":
        return "person", None, []
    org = store.get_organisations([subject]).get(subject)
    return "organisation", org.org_type if org else None, store.roles_of([subject], "in")


def _targets(
    affect: Affect, subject: str, on: date, edges: list[RoleEdge], record: DishonestyRecord | None = None
) -> list[tuple[str, str, RoleEdge | None]]:
    """(target, target_role, edge) for one affect line, from the roles held on ``on`` (the act date of a
    record, the listing date of a list entry). Only a record names persons as directly responsible."""
    if affect.target == "subject":
        return [(subject, "subject", None)]
    held = [e for e in edges if e.active_on(on) and (affect.role in (None, "*") or e.role == affect.role)]
    if affect.by == "position":
        return [(e.holder, e.role.value, e) for e in held]
    out: list[tuple[str, str, RoleEdge | None]] = []
    for named in record.responsible if record is not None else ():
        if affect.role not in (None, "*") and named.role is not None and named.role != affect.role:
            continue
        mine = [e for e in held if e.holder == named.person and (named.role is None or e.role == named.role)]
        if mine:
            out.extend((named.person, "directly_responsible", e) for e in mine)
        elif affect.role in (None, "*") and not any(e.holder == named.person for e in edges):
            # Named staff with no registered role in the organisation: the record itself is the link.
            out.append((named.person, "directly_responsible", None))
    return out


def derive_record(
    store: Store, record: DishonestyRecord, policy: PolicySnapshot | str | None = None
) -> list[DerivedFact]:
    snap = policy_for(record, override=policy)
    life = lifecycle_of(store, record, override=snap)
    kind, org_type, edges = _subject(store, record.subject)
    natural_end = punishment_end(record, snap)
    suspended = life.suspensions() if snap.objection.suspends_measures else ()
    cause = Cause("record", record.record_id)
    facts: dict[str, DerivedFact] = {}
    honours_cache: dict[str, list] = {}
    rules = [r for r in snap.rules if r.trigger.matches("dishonesty_record", kind, severity=record.severity,
                                                        category=record.category, org_type=org_type)]
    # Honours must not be granted while the commendation bar lasts: one awarded in it is revoked too.
    bar_end = max((_end(r, life, natural_end)[0] or date.max for r in rules
                   if r.consequence == "commendation_ineligible"), default=record.decision_date)
    for rule in rules:
        end, ended_by = _end(rule, life, natural_end)
        for affect in rule.affects:
            for target, target_role, edge in _targets(affect, record.subject, record.responsibility_date, edges,
                                                      record):
                if not snap.measures_for(rule.consequence, subject_kind(target)):
                    continue  # no measure reaches this kind of target (a personal credit entry for a company)
                base = dict(
                    cause=cause, rule_id=rule.id, rule_version=rule.version, consequence=rule.consequence,
                    target=target, target_role=target_role, valid_from=record.decision_date, valid_to=end,
                    ended_by=ended_by, basis=tuple(str(b) for b in rule.basis), suspended=suspended,
                    jurisdiction=snap.jurisdiction, edge_id=edge.edge_id if edge else None,
                    edge_from=edge.valid_from if edge else None, edge_to=edge.valid_to if edge else None,
                )
                if rule.consequence == "honour_revocation":
                    if target not in honours_cache:
                        honours_cache[target] = store.honours_of([target])
                    for honour in honours_cache[target]:
                        if honour.awarded_on <= record.decision_date or honour.awarded_on < bar_end:
                            start = max(record.decision_date, honour.awarded_on)
                            f = DerivedFact(**{**base, "valid_from": start},
                                            object_id=honour.honour_id)
                            facts.setdefault(f.fact_id, f)
                else:
                    f = DerivedFact(**base)  # type: ignore[arg-type]
                    facts.setdefault(f.fact_id, f)
    return sorted(facts.values(), key=lambda f: f.fact_id)


# fact.ended_by -> lifted_by
_LIFTING_EVENT = {"exited": "exit", "scheduled_exit": "exit", "repaired": "repair", "expired": "expiry"}


def punishment_end(record: DishonestyRecord, snap: PolicySnapshot) -> date:
    """The end of the record's punishment period: the one the initiating department fixed, else the policy's
    default for the severity (an assumption the department is told about, see ``period_assumed``)."""
    if record.period_end is not None:
        return record.period_end
    return record.decision_date + timedelta(days=snap.punishment_period_days[record.severity])


def term_assumed(entry: ListEntry) -> bool:
    """A black listing that gives no term: its end is the policy's default period (``list_end``)."""
    return entry.list == "black" and entry.valid_to is None


def list_end(entry: ListEntry, snap: PolicySnapshot) -> date | None:
    """The scheduled end of a listing: its ``valid_to``; for a black listing without one, the policy's default
    period for serious dishonesty from its start (every document requires the determining unit to fix the
    period: a restriction never runs without an end). Its determining unit is told (``period_assumed``)."""
    if not term_assumed(entry):
        return entry.valid_to
    return entry.valid_from + timedelta(days=snap.punishment_period_days["serious"])


def derive_list_entry(
    store: Store, entry: ListEntry, jurisdiction: str = "default", policy: PolicySnapshot | str | None = None
) -> list[DerivedFact]:
    if entry.status not in ("effective", "exited"):
        return []  # proposed and in-publicity entries have no consequences yet
    snap = policy_for(entry, jurisdiction, policy)
    life = lifecycle_of(store, entry, override=snap)
    suspended = life.suspensions() if snap.objection.suspends_measures else ()
    cause = Cause("list", entry.entry_id)
    facts: dict[str, DerivedFact] = {}

    def add(rule_id: str, version: str, consequence: str, start: date, end: date | None, ended_by: str | None,
            basis: tuple[str, ...], object_id: str | None = None, target: str = entry.subject,
            target_role: str = "subject", edge: RoleEdge | None = None) -> None:
        if life.withdrawn_on is not None and (end is None or life.withdrawn_on < end):
            end, ended_by = life.withdrawn_on, "withdrawn"
        f = DerivedFact(
            cause=cause, rule_id=rule_id, rule_version=version, consequence=consequence, target=target,
            target_role=target_role, valid_from=start, valid_to=end, ended_by=ended_by, basis=basis,
            suspended=suspended, object_id=object_id, jurisdiction=snap.jurisdiction,
            edge_id=edge.edge_id if edge else None, edge_from=edge.valid_from if edge else None,
            edge_to=edge.valid_to if edge else None,
        )
        facts[f.fact_id] = f

    kind, org_type, edges = _subject(store, entry.subject)
    for rule in snap.rules:
        if not rule.trigger.matches("list_entry", kind, list_name=entry.list, org_type=org_type):
            continue
        basis = tuple(str(b) for b in rule.basis)
        end, ended_by = _end(rule, life, None, list_end(entry, snap))
        if rule.consequence == "red_list_removal":
            # P5: every red entry of the subject still in force once the black entry takes effect; the bar
            # on red listing lasts as long as the black listing.
            for red in store.list_entries_of([entry.subject]):
                if red.list != "red" or red.status not in ("effective", "exited"):
                    continue
                if red.valid_to is not None and red.valid_to <= entry.valid_from:
                    continue
                start = max(red.valid_from, entry.valid_from)
                if end is None or start < end:  # a red listing after the black one ended is untouched
                    add(rule.id, rule.version, rule.consequence, start, end, ended_by, basis, object_id=red.entry_id)
            continue
        if entry.list == "red":
            removed = _red_removed_on(store, entry, jurisdiction, policy)
            if removed is not None and (end is None or removed < end):
                end, ended_by = removed, "removed"
        for affect in rule.affects:
            for target, target_role, edge in _targets(affect, entry.subject, entry.valid_from, edges):
                if not snap.measures_for(rule.consequence, subject_kind(target)):
                    continue
                if rule.consequence == "honour_revocation":
                    for honour in store.honours_of([target]):
                        if honour.awarded_on <= entry.valid_from:
                            add(rule.id, rule.version, rule.consequence, entry.valid_from, end, ended_by, basis,
                                object_id=honour.honour_id, target=target, target_role=target_role, edge=edge)
                    continue
                add(rule.id, rule.version, rule.consequence, entry.valid_from, end, ended_by, basis,
                    target=target, target_role=target_role, edge=edge)
        care = rule.aftercare
        if care is not None and end is not None and _LIFTING_EVENT.get(ended_by or "") in care.on:
            add(rule.id, rule.version, care.consequence, end, end + timedelta(days=care.duration_days),
                "expired", tuple(str(b) for b in care.basis))
    return sorted(facts.values(), key=lambda f: f.fact_id)


def _red_removed_on(
    store: Store, red: ListEntry, jurisdiction: str, policy: PolicySnapshot | str | None = None
) -> date | None:
    """P5 seen from the red entry: the first date a black entry of the subject, in force and under a policy
    with the cross-check, overlaps the red listing. A black entry withdrawn on objection removes nothing."""
    red_end = red.valid_to
    dates = []
    for black in store.list_entries_of([red.subject]):
        if black.list != "black" or black.status not in ("effective", "exited"):
            continue
        snap = policy_for(black, jurisdiction, policy)
        if not any(r.consequence == "red_list_removal" and r.trigger.event == "list_entry"
                   and (r.trigger.lists is None or "black" in r.trigger.lists) for r in snap.rules):
            continue
        life = lifecycle_of(store, black, override=snap)
        if life.withdrawn_on is not None:
            continue
        black_end = min((d for d in (list_end(black, snap), life.exited_on) if d is not None), default=None)
        start = max(red.valid_from, black.valid_from)
        if (red_end is None or start < red_end) and (black_end is None or start < black_end):
            dates.append(start)
    return min(dates, default=None)
