"""The engine: writes that keep derived facts in step with their causes, and the questions asked of them.

Every write that can change a consequence finds the causes it may affect and re-derives exactly
those in the same transaction, so a reader never sees a record without its consequences or a fact
whose cause is gone. Facts that disappear or end are journalled as withdrawal notices.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from tqdm import tqdm

from .changes import Changes
from .errors import DomainError
from .model import (
    Cause,
    DerivedFact,
    DishonestyRecord,
    Honour,
    ListEntry,
    Organisation,
    Person,
    RecordEvent,
    RoleEdge,
    stable_id,
)
from .monitor import alerts as monitor
from .monitor.notices import exit_announcement
from .policy.loader import available_jurisdictions, load_policy
from .policy.schema import NoticePolicy
from .policy.snapshot import PolicySnapshot
from .rules.derive import derive, list_end, punishment_end, term_assumed
from .rules.governing import lifecycle_of, policy_for
from .rules.lifecycle import LifecycleError, validate_event
from .store.base import ImportsInBatches, NotFound, Store, WriteCounts, atomic

if TYPE_CHECKING:
    from .io.format import ImportReport, Touched

__all__ = ["Changes", "Engine"]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _atomic(method: Callable[Concatenate[Engine, _P], _R]) -> Callable[Concatenate[Engine, _P], _R]:
    """The write is one transaction, re-run whole if the store reports a transient failure (a
    deadlock or a leader change on Neo4j; ``store.base.atomic``). Each write is idempotent: upserts
    keyed by natural ids, then re-derivation from what is stored."""

    @functools.wraps(method)
    def run(self: Engine, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return atomic(self.store, lambda: method(self, *args, **kwargs))

    return run


class Engine:
    """Rules and lifecycle above any ``Store``; ``jurisdiction`` is the deployment's default policy."""

    def __init__(self, store: Store, jurisdiction: str = "default") -> None:
        self.store = store
        self.jurisdiction = jurisdiction
        load_policy(jurisdiction)  # fail at start-up, not at the first record, on a broken policy
        self.clock: Callable[[], date] = date.today  # "today" for monitoring (related parties as of it)
        self._watch = threading.local()

    @contextmanager
    def _write(self, reason: str) -> Iterator[Changes]:
        """The changes of the outermost write, which nested writes add to; when its work is done (before it
        commits) monitoring records them once: notices journalled, subscriptions alerted."""
        outer: Changes | None = getattr(self._watch, "changes", None)
        if outer is not None:
            yield outer
            return
        changes = self._watch.changes = Changes(reason)
        try:
            yield changes
            monitor.record_write(self.store, changes, self.clock())
        finally:
            del self._watch.changes

    # -- derivation ------------------------------------------------------------------------------
    @_atomic
    def refresh(self, causes: Iterable[Cause], reason: str = "recomputed") -> Changes:
        """Re-derive ``causes`` and store the result; a notice for what was withdrawn or changed."""
        with self.store.transaction(), self._write(reason) as changes:
            for cause in sorted(set(causes), key=str):
                prior = {f.fact_id: f for f in self.store.facts_by_cause([cause])}
                added, removed = self.store.replace_facts(cause, derive(self.store, cause, self._policy_of(cause)))
                changes.causes += 1
                changes.added += added
                changes.removed += removed
                changes.prior |= {k: f for k, f in prior.items() if k not in changes.prior}
                changes.notices += _fact_notices(prior, added, removed, reason)
        return changes

    def causes_of_orgs(self, orgs: Sequence[str]) -> list[Cause]:
        """Records on these organisations: their consequences depend on the organisations' edges."""
        return [Cause("record", r.record_id) for r in self.store.records_of(orgs)]

    def causes_of_subjects(self, subjects: Sequence[str]) -> list[Cause]:
        causes = self.causes_of_orgs(subjects)
        causes += [Cause("list", e.entry_id) for e in self.store.list_entries_of(subjects)]
        return causes

    def recompute_all(self, progress: bool = False) -> Changes:
        """Derive every consequence from scratch; stale facts of vanished causes are dropped."""
        causes = [Cause("record", r.record_id) for r in self.store.iter_records()]
        causes += [Cause("list", e.entry_id) for e in self.store.iter_list_entries()]
        stale = {f.cause for f in self.store.iter_facts()} - set(causes)
        result = Changes("recomputed")
        batch = 2_000
        for i in tqdm(range(0, len(causes), batch), disable=not progress, desc="recompute", unit="batch"):
            result += self.refresh(causes[i : i + batch])
        if stale:
            result += self.refresh(stale, reason="cause deleted")
        return result

    # -- writes ----------------------------------------------------------------------------------
    def import_dir(
        self, source: str | Path, *, progress: bool = False, batch_size: int = 50_000
    ) -> tuple[ImportReport, Changes]:
        """Import a directory of CSV/Parquet files and derive the consequences of what changed.

        On a store that can hold it (SQLite), all in ONE transaction: a crash (even ``kill -9``) leaves
        either nothing of the import or all of it with every consequence derived. (Imported and derived
        in separate transactions, a crash in between would leave records without consequences, and a
        re-run would not repair them: unchanged rows are not re-derived.)

        On a store that commits an import batch by batch (``store.import_in_batches``: Neo4j, where a
        province in one transaction is gigabytes of transaction state on the server), the run is
        journalled in ``imports`` first, so that a re-run completes it: the causes to re-derive are
        recorded once the rows are in, then derived a batch per commit with the progress kept in the
        same commit. A run interrupted while loading cannot say what it loaded, so the next run
        re-derives everything once its own rows are in."""
        from .io.importer import import_dir

        if not (isinstance(self.store, ImportsInBatches) and self.store.import_in_batches):
            with self.store.transaction():
                report = import_dir(self.store, source, progress=progress, batch_size=batch_size)
                return report, self.refresh(self.causes_of_import(report.touched), "import")
        refreshed = self.finish_imports()
        run_id = stable_id("import", str(source), time.time_ns())
        self.store.append("imports", [{"id": run_id, "source": str(source), "state": "loading"}])
        report = import_dir(self.store, source, progress=progress, batch_size=batch_size)
        causes = sorted({str(c) for c in self.causes_of_import(report.touched)})
        self.store.update("imports", run_id, {"state": "deriving", "causes": causes, "done": 0})
        refreshed += self.finish_imports()
        return report, refreshed

    def finish_imports(self, batch: int = 2_000) -> Changes:
        """Derive what interrupted batch-by-batch imports left underived (see ``import_dir``)."""
        result = Changes("import")
        for run in self.store.query("imports", {"state": "loading"}):  # what it loaded is unknown
            result += self.recompute_all()
            self.store.update("imports", run["id"], {"state": "done"})
        for run in self.store.query("imports", {"state": "deriving"}):
            causes, done = run["causes"], int(run["done"])
            while done < len(causes):
                part = [Cause.parse(c) for c in causes[done : done + batch]]
                done += len(part)
                result += self._refresh_and_mark(part, run["id"], done)
            self.store.update("imports", run["id"], {"state": "done", "causes": []})
        return result

    @_atomic
    def _refresh_and_mark(self, causes: list[Cause], run_id: str, done: int) -> Changes:
        result = self.refresh(causes, "import")
        self.store.update("imports", run_id, {"done": done})
        return result

    def causes_of_import(self, touched: Touched) -> list[Cause]:
        """Every cause whose consequences an import that changed ``touched`` may have changed."""
        causes = [Cause("record", r) for r in touched.records] + [Cause("list", e) for e in touched.list_entries]
        causes += self.causes_of_orgs(sorted(touched.orgs))
        causes += self.store.causes_touching(sorted(touched.honour_holders))
        causes += self.causes_of_subjects(sorted(touched.list_subjects))
        return causes

    @_atomic
    def put_subjects(self, orgs: Sequence[Organisation] = (), persons: Sequence[Person] = ()) -> WriteCounts:
        with self.store.transaction():
            return self.store.put_organisations(orgs) + self.store.put_persons(persons)

    @_atomic
    def put_roles(
        self, edges: Sequence[RoleEdge], reason: str = "registration data changed", check: bool = False
) -> Changes:
        """Add or correct role edges; consequences that depended on the organisations are re-derived.

        With ``check``, the edges are first validated against the stored ones (``DomainError`` naming
        the field, see ``check_roles``); the check and the write are one transaction."""
        with self.store.transaction(), self._write(reason) as changes:
            if check:
                check_roles(self.store, edges)
            before = self.store.get_roles([e.edge_id for e in edges])
            changes.roles += [(before.get(e.edge_id), e) for e in edges]
            self.store.put_roles(edges)
            return self.refresh(self.causes_of_orgs(sorted({e.org for e in edges})), reason)

    @_atomic
    def delete_roles(self, edge_ids: Sequence[str], reason: str = "registration data corrected") -> Changes:
        with self.store.transaction(), self._write(reason) as changes:
            found = self.store.get_roles(edge_ids)
            missing = sorted(set(edge_ids) - set(found))
            if missing:
                raise NotFound(f"unknown role edge(s) {', '.join(missing)}", field="edge_id")
            changes.roles_deleted += found.values()
            self.store.delete_roles(edge_ids)
            return self.refresh(self.causes_of_orgs(sorted({e.org for e in found.values()})), reason)

    @_atomic
    def put_records(self, records: Sequence[DishonestyRecord]) -> Changes:
        """Write records and derive their consequences. A record without a punishment period is judged on the
        policy's default period, an assumption its initiating department is told about (period_assumed)."""
        for r in records:
            check_category(r)
        with self.store.transaction(), self._write("record written") as changes:
            before = self.store.get_records([r.record_id for r in records])
            changes.records += [(before.get(r.record_id), r) for r in records]
            self.store.put_records(records)
            self.refresh([Cause("record", r.record_id) for r in records], "record written")
            changes.notices += [_period_assumed(r, policy_for(r)) for r in records if r.period_end is None]
            return changes

    @_atomic
    def put_honours(self, honours: Sequence[Honour]) -> Changes:
        """New honours may fall under an existing revocation: re-derive causes touching the holders. An honour
        awarded while its holder may not be commended is revoked at once, and its awarding body told."""
        with self.store.transaction(), self._write("honour written") as changes:
            self.store.put_honours(honours)
            self.refresh(self.store.causes_touching(sorted({h.holder for h in honours})), "honour written")
            new = {h.honour_id: h for h in honours}
            changes.notices += [_honour_flag(f, new[f.object_id]) for f in changes.added
                                if f.consequence == "honour_revocation" and f.object_id in new
                                and f.valid_from <= new[f.object_id].awarded_on]
            return changes

    @_atomic
    def put_list_entries(self, entries: Sequence[ListEntry]) -> Changes:
        """List entries interact per subject (P5), so every entry of each subject is re-derived. Where the
        entry's policy bars red listing of black-listed subjects (Jiangyin (6)), a red entry (from the proposal
        on) for a subject on an effective black list is refused (``BlackListConflict``), and nothing is written."""
        with self.store.transaction(), self._write("list entry written") as changes:
            for e in entries:
                self._check_red_listing(e)
            before = self.store.get_list_entries([e.entry_id for e in entries])
            changes.list_entries += [(before.get(e.entry_id), e) for e in entries]
            self.store.put_list_entries(entries)
            subjects = sorted({e.subject for e in entries})
            self.refresh([Cause("list", e.entry_id) for e in self.store.list_entries_of(subjects)],
                         "list entry written")
            for e in entries:
                if e.status == "effective" and term_assumed(e):
                    changes.notices.append(_listing_period_assumed(e, policy_for(e, self.jurisdiction)))
            return changes

    def _check_red_listing(self, entry: ListEntry) -> None:
        # Jiangyin (6) cross-checks the preliminary red list: a candidate is refused from the proposal on
        if entry.list != "red" or entry.status not in ("proposed", "publicity", "effective"):
            return
        snap = policy_for(entry, self.jurisdiction)
        bar = [r for r in snap.rules if r.consequence == "red_list_removal"]
        if not bar:
            return
        # key supervision is what every effective black listing derives (P8)
        blocking = [f for f in self.store.facts_of([entry.subject])
                    if f.consequence == "key_supervision" and f.cause.kind == "list"
                    and f.status_on(entry.valid_from) in ("active", "suspended")]
        if blocking:
            raise BlackListConflict(entry.subject, sorted(f.fact_id for f in blocking),
                                    [str(b) for r in bar for b in r.basis])

    @_atomic
    def add_event(self, event: RecordEvent) -> Changes:
        """Record a lifecycle event (objection, repair, revocation, exit) and re-derive its cause."""
        with self.store.transaction(), self._write(event.kind) as changes:
            cause, subject = self._cause_of(event.cause_id)
            days = self.policy_snapshot(cause).objection.verification_days
            validate_event(self.store.events_of([event.cause_id]), event, days)
            changes.events.append((event, cause, subject))
            self.store.put_events([event])
            if event.kind == "objection_filed":
                self.store.append("objections", [{"id": event.event_id, "cause": str(cause), "subject": subject,
                                                  "filed_on": event.on.isoformat(), "by": event.by}])
            causes = [cause]
            if cause.kind == "list":  # P5 links the subject's entries to one another
                causes = [Cause("list", e.entry_id) for e in self.store.list_entries_of([subject])]
            self.refresh(causes, event.kind)
            snap = self.policy_snapshot(cause)
            if event.kind == "objection_upheld":
                changes.notices.append(self._remedy(cause, subject, event, snap))
            if event.kind in ("objection_upheld", "objection_rejected") and snap.objection_feedback is not None:
                changes.notices.append(self._objection_result(cause, subject, event, snap.objection_feedback))
            if event.kind == "exit" and cause.kind == "list" and snap.list_exit_announcement is not None:
                entry = self.store.get_list_entries([cause.id])[cause.id]
                changes.notices.append(exit_announcement(entry, event.kind, event.on, event.event_id,
                                                         snap.list_exit_announcement))
            return changes

    def _remedy(self, cause: Cause, subject: str, event: RecordEvent, snap: PolicySnapshot) -> dict:
        """An upheld objection: the subject's reputation restored with a clarification (every document); where
        the jurisdiction's document says so, a written apology and compensation, and the benefits of a wrong
        red listing clawed back (Jiangyin (24))."""
        remedy = snap.objection_remedy
        red = cause.kind == "list" and self.store.get_list_entries([cause.id])[cause.id].list == "red"
        clawback = red and remedy is not None and remedy.clawback
        withdrawn = [f for f in self.store.facts_by_cause([cause]) if f.ended_by == "withdrawn"]
        return {
            "id": stable_id(str(cause), "remedy", event.event_id),
            "cause": str(cause), "target": subject, "change": "clawback" if clawback else "clarification",
            "reason": event.kind, "effective": event.on.isoformat(), "detail": event.detail,
            "facts": sorted(f.fact_id for f in withdrawn),
            # benefits granted while the wrong red listing stood, for the departments to recover
            "benefit_periods": [
                {"fact_id": f.fact_id, "from": f.valid_from.isoformat(), "to": (f.valid_to or event.on).isoformat()}
                for f in withdrawn if clawback and f.consequence == "green_channel"
            ],
            # owed to a subject wrongly punished, tracked until the departments acknowledge them
            "apology_required": bool(remedy and remedy.apology and not red),
            "compensation_where_harmed": bool(remedy and remedy.compensation and not red),
            "basis": [str(b) for b in (remedy.basis if remedy else snap.objection.basis)],
        }

    def _objection_result(self, cause: Cause, subject: str, event: RecordEvent, feedback: NoticePolicy) -> dict:
        """The verification result, back to whoever filed the objection (Tibet (18))."""
        filed = [e for e in self.store.events_of([cause.id]) if e.kind == "objection_filed" and e.on <= event.on]
        objector = max(filed, key=lambda e: e.on).by if filed else ""
        return {
            "id": stable_id(str(cause), "objection_result", event.event_id),
            "cause": str(cause), "target": subject, "change": "objection_result",
            "result": "upheld" if event.kind == "objection_upheld" else "rejected", "objector": objector,
            "departments": [objector] if objector else [], "items": [], "acknowledged": {},
            "reason": event.kind, "effective": event.on.isoformat(), "detail": event.detail,
            "basis": [str(b) for b in feedback.basis],
        }

    def _cause_of(self, cause_id: str) -> tuple[Cause, str]:
        record = self.store.get_records([cause_id]).get(cause_id)
        if record is not None:
            return Cause("record", cause_id), record.subject
        entry = self.store.get_list_entries([cause_id]).get(cause_id)
        if entry is not None:
            return Cause("list", cause_id), entry.subject
        raise NotFound(f"no record or list entry {cause_id!r}", field="cause_id")

    def _policy_of(self, cause: Cause) -> str | None:
        """A record carries its jurisdiction; a list entry is judged under the deployment's (rules.governing)."""
        return None if cause.kind == "record" else self.jurisdiction

    def _judged(self, cause: Cause) -> DishonestyRecord | ListEntry:
        if cause.kind == "record":
            return self.store.get_records([cause.id])[cause.id]
        return self.store.get_list_entries([cause.id])[cause.id]

    def policy_snapshot(self, cause: Cause) -> PolicySnapshot:
        return policy_for(self._judged(cause), self.jurisdiction)

    # -- reads -----------------------------------------------------------------------------------
    def facts_on(self, subject: str, as_of: date, include_ended: bool = False) -> list[tuple[DerivedFact, str]]:
        """The facts on ``subject`` with their status as of the date (pending facts are left out)."""
        out = []
        for f in self.store.facts_of([subject]):
            status = f.status_on(as_of)
            if status == "pending" or (not include_ended and status not in ("active", "suspended")):
                continue
            out.append((f, status))
        return out

    def objections(self, as_of: date) -> list[dict]:
        """Objections with their verification deadline and whether they are pending or overdue."""
        out = []
        for cause_text in sorted({o["cause"] for o in self.store.query("objections")}):
            cause = Cause.parse(cause_text)
            for o in lifecycle_of(self.store, self._judged(cause), self.jurisdiction).objections:
                out.append({"cause": cause_text, "filed_on": o.filed_on, "deadline": o.deadline,
                            "resolved_on": o.resolved_on, "upheld": o.upheld,
                            "pending": o.pending_on(as_of), "overdue": o.overdue_on(as_of)})
        return out


class BlackListConflict(DomainError):
    """A red listing of a subject on an effective black list, where the policy bars it (Jiangyin (6))."""

    code, status = "black_list_conflict", 409

    def __init__(self, subject: str, facts: list[str], basis: list[str]) -> None:
        self.subject = subject
        super().__init__(f"{subject} is on an effective black list and may not be red-listed ({', '.join(basis)})",
                         field="subject", facts=facts, basis=basis)


def check_category(record: DishonestyRecord) -> None:
    """A record's jurisdiction must exist and define its category: otherwise the category's rules would silently
    never fire, or rules of another document would be read into it."""
    if record.jurisdiction not in available_jurisdictions():
        raise DomainError(f"unknown jurisdiction {record.jurisdiction!r}; available: "
                          f"{', '.join(available_jurisdictions())}", field="jurisdiction")
    categories = sorted(load_policy(record.jurisdiction).categories)
    if record.category not in categories:
        raise DomainError(f"{record.category!r} is not a category of the {record.jurisdiction} policy; "
                          f"allowed: {', '.join(categories)}", field="category")


def _period_assumed(record: DishonestyRecord, snap: PolicySnapshot) -> dict:
    """To the initiating department: the record gave no punishment period, so the policy's default was used."""
    end = punishment_end(record, snap)
    return {
        "id": stable_id(record.record_id, "period_assumed", end),
        "cause": str(Cause("record", record.record_id)), "target": record.subject, "change": "period_assumed",
        "reason": "record written without period_end", "effective": record.decision_date.isoformat(),
        "assumed_period_end": end.isoformat(), "severity": record.severity,
        "departments": [record.department] if record.department else [], "items": [], "acknowledged": {},
        "basis": [str(b) for b in snap.punishment_period.basis],
    }


def _listing_period_assumed(entry: ListEntry, snap: PolicySnapshot) -> dict:
    """To the determining unit: the black listing gave no term, so the policy's default period was used."""
    end = list_end(entry, snap)
    assert end is not None
    return {
        "id": stable_id(entry.entry_id, "period_assumed", end),
        "cause": str(Cause("list", entry.entry_id)), "target": entry.subject, "change": "period_assumed",
        "reason": "black listing written without valid_to", "effective": entry.valid_from.isoformat(),
        "assumed_period_end": end.isoformat(), "severity": "serious",
        "departments": [entry.determining_unit] if entry.determining_unit else [], "items": [], "acknowledged": {},
        "basis": [str(b) for b in snap.punishment_period.basis],
    }


def _honour_flag(fact: DerivedFact, honour: Honour) -> dict:
    """To the awarding body: an honour granted while its holder was barred from commendations, revoked."""
    return {
        "id": stable_id(fact.fact_id, "honour_awarded_during_bar"),
        "fact_id": fact.fact_id, "cause": str(fact.cause), "target": fact.target, "consequence": fact.consequence,
        "rule_id": fact.rule_id, "change": "honour_awarded_during_bar", "reason": "honour written",
        "effective": honour.awarded_on.isoformat(), "honour": honour.honour_id, "title": honour.title,
        "awarding_body": honour.awarding_body, "departments": [honour.awarding_body], "items": [],
        "acknowledged": {}, "basis": list(fact.basis),
    }


_RATIO_EPS = 1e-9  # ratios are decimals: tolerate float rounding in sums (as the import does)


def check_roles(store: Store, edges: Sequence[RoleEdge]) -> None:
    """Raise a ``DomainError`` naming the field if an edge ends before it starts, has a ratio outside
    (0, 1], or would make the shareholding ratios of an organisation in force on some day sum past 1
    together with the stored edges it does not replace (as the import checks).

    Unlike the import, an interval overlapping a stored one of the same holder, role and organisation
    is accepted: the API registers corrections that way (tests/test_api.py)."""
    new = {e.edge_id: e for e in edges}
    for org in sorted({e.org for e in edges}):
        mine = [e for e in new.values() if e.org == org]
        for e in mine:
            if e.valid_to is not None and e.valid_to <= e.valid_from:
                raise DomainError(f"must be after valid_from ({e.valid_from})", field="valid_to")
            if e.ratio is not None and not 0 < e.ratio <= 1:
                raise DomainError(f"must be in (0, 1], not {e.ratio}", field="ratio")
        edges_of_org = {e.edge_id: e for e in store.roles_of([org], "in")} | {e.edge_id: e for e in mine}
        events: list[tuple[date, int, float]] = []  # (day, 0 end / 1 start, delta): ends first on a day
        for e in edges_of_org.values():
            if e.role.value == "SHAREHOLDER" and e.ratio is not None:
                events.append((e.valid_from, 1, e.ratio))
                if e.valid_to is not None:
                    events.append((e.valid_to, 0, -e.ratio))
        total = 0.0
        for day, _, delta in sorted(events):
            total += delta
            if total > 1 + _RATIO_EPS:
                raise DomainError(f"shareholding ratios of {org} would sum to {total:.6g} on {day}", field="ratio")


def _fact_notices(
    prior: dict[str, DerivedFact], added: list[DerivedFact], removed: list[DerivedFact], reason: str
) -> list[dict]:
    """A notice for every fact removed, or newly ended early, for the departments that acted on it.

    Only transitions count: a fact first derived already ended (history loaded by an import) is no news.
    """
    notices = [_notice(f, "removed", reason) for f in removed]
    for f in added:
        newly_ended = f.fact_id in prior and prior[f.fact_id].ended_by != f.ended_by
        if newly_ended and f.ended_by in ("withdrawn", "repaired", "exited"):
            notices.append(_notice(f, f.ended_by, reason))
    return notices


def _notice(f: DerivedFact, change: str, reason: str) -> dict:
    return {
        "id": stable_id(f.fact_id, change, f.valid_to, reason),
        "fact_id": f.fact_id, "cause": str(f.cause), "target": f.target, "consequence": f.consequence,
        "rule_id": f.rule_id, "change": change, "reason": reason,
        "effective": (f.valid_to or f.valid_from).isoformat(),
    }


__all__ += ["BlackListConflict", "LifecycleError", "check_roles"]
