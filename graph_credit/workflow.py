"""The department workflow's rules: who owns a record or a list entry (谁主管、谁认定、谁负责), and the writes
that check ownership and the policy in the same transaction as they write.

``department`` is the acting department; ``None`` acts for every department (an administrator). A
department writes only its own records, list entries and cases; an objection or a repair application it
receives for another department's record is forwarded to the owner (graph_credit.applications). Free text
is masked before it is stored (graph_credit.pii). The API's routers call these and hold no rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from . import applications, pii
from .cases import open_case
from .changes import Changes
from .engine import Engine, check_category
from .errors import DomainError
from .ids import InvalidIdentifier
from .journal import Case
from .model import Cause, DishonestyRecord, ListEntry, RecordEvent
from .store.base import NotFound, Store, atomic, is_registered

__all__ = ["REGISTRATION_DEPARTMENT", "Owned", "RecordWrite", "file_event", "find_cause", "known", "objections",
           "open_case_for", "require_owner", "write_list_entry", "write_record"]

REGISTRATION_DEPARTMENT = "market_regulation"  # corrects registration data (role edges): the registry's


@dataclass(frozen=True)
class Owned:
    """A record or a list entry, with the department that owns it and the persons its free text may name."""

    cause: Cause
    subject: str
    owner: str
    persons: tuple[str, ...]


def find_cause(store: Store, cause_id: str, field: str = "cause_id") -> Owned:
    """A record or list entry by its id, written bare (``R1``) or as the API returns causes (``record:R1``,
    ``list:L1``)."""
    kind, sep, ident = cause_id.partition(":")
    if not (sep and kind in ("record", "list")):
        kind, ident = "", cause_id
    if kind in ("", "record") and (record := store.get_records([ident]).get(ident)) is not None:
        return Owned(Cause("record", ident), record.subject, record.department,
                     (record.subject, *(r.person for r in record.responsible)))
    if kind in ("", "list") and (entry := store.get_list_entries([ident]).get(ident)) is not None:
        return Owned(Cause("list", ident), entry.subject, entry.determining_unit, (entry.subject,))
    raise NotFound(f"no record or list entry {cause_id!r}", field=field)


def require_owner(department: str | None, owner: str, what: str) -> None:
    if department is not None and department != owner:
        raise DomainError(f"{what} belongs to department {owner!r}", code="forbidden", status=403)


def known(store: Store, key: str, field: str = "subject") -> str:
    """``key`` if the subject is registered (as the import requires of every reference)."""
    if not is_registered(store, key):
        raise InvalidIdentifier(field, key, "no such organisation or person is registered")
    return key


def _names(store: Store, keys: list[str]) -> list[str]:
    """Names of the persons among ``keys``: found in free text about them, they are masked."""
    return [p.name for p in store.get_persons(keys).values()]


@dataclass(frozen=True)
class RecordWrite:
    record: DishonestyRecord
    created: bool  # False: the record was stored already (identical, or corrected)
    result: Changes
    facts: list[str]  # the record's consequences, whether or not this write changed them
    masked: list[str]  # free-text fields in which personal data was masked


def write_record(engine: Engine, record: DishonestyRecord, department: str | None) -> RecordWrite:
    """Write a record for ``department`` (its initiating department when new; only the owner may correct it)
    and derive its consequences; a record sent again unchanged changes nothing and answers its facts."""
    check_category(record)
    store = engine.store
    known(store, record.subject)
    for i, r in enumerate(record.responsible):
        known(store, r.person, f"responsible[{i}].id_number")
    names = _names(store, [record.subject, *(r.person for r in record.responsible)])
    basis, document_no = pii.mask(record.basis, names), pii.mask(record.document_no, names)
    masked = [k for k, changed in (("basis", basis != record.basis), ("document_no", document_no != record.document_no))
              if changed]
    record = replace(record, basis=basis, document_no=document_no)

    def write() -> RecordWrite:  # the ownership check and the write see one state (atomic: re-run whole)
        existing = store.get_records([record.record_id]).get(record.record_id)
        if existing is not None:
            require_owner(department, existing.department, f"record {record.record_id}")
            record_ = replace(record, department=existing.department)
        else:
            record_ = record
        result = Changes() if existing == record_ else engine.put_records([record_])
        facts = [f.fact_id for f in store.facts_by_cause([Cause("record", record.record_id)])]
        return RecordWrite(record_, existing is None, result, facts, masked)

    return atomic(store, write)


def file_event(engine: Engine, cause_id: str, kind: str, on: date, detail: str, department: str | None,
               by: str) -> tuple[RecordEvent | None, dict[str, Any] | None, Changes]:
    """File a lifecycle event on a record or list entry. The owner's (or an administrator's) takes effect; an
    objection or repair application another department receives is forwarded to the owner instead:
    (None, the application, nothing changed)."""
    owned = find_cause(engine.store, cause_id)
    detail = pii.mask(detail, _names(engine.store, list(owned.persons)))
    if department is not None and department != owned.owner:
        if kind not in applications.KINDS:
            require_owner(department, owned.owner, owned.cause.id)
        row = applications.receive(engine.store, owned.cause, owned.subject, owned.owner, kind, on, detail,
                                   department)
        return None, row, Changes()
    event = RecordEvent(cause_id=owned.cause.id, kind=kind, on=on, by=by, detail=detail)
    return event, None, engine.add_event(event)


def write_list_entry(engine: Engine, entry: ListEntry, department: str | None) -> Changes:
    """Propose, publicise or make effective a red or black list entry determined by ``entry.determining_unit``;
    only its determining unit changes it afterwards. The P5 cross-check (BlackListConflict) is the engine's."""
    store = engine.store
    known(store, entry.subject)
    entry = replace(entry, basis=pii.mask(entry.basis, _names(store, [entry.subject])))

    def write() -> Changes:  # ownership check, P5 check and write see one state
        existing = store.get_list_entries([entry.entry_id]).get(entry.entry_id)
        if existing is not None:
            require_owner(department, existing.determining_unit, f"list entry {entry.entry_id}")
        return engine.put_list_entries([entry])

    return atomic(store, write)


def open_case_for(engine: Engine, cause_id: str, department: str, opened_on: date, due_days: int,
                  acting_for_all: bool = False) -> Case:
    """Open the case of a record (joint punishment) or red list entry (joint incentive): only the department
    that decided it initiates it, unless ``acting_for_all`` (an administrator)."""
    owned = find_cause(engine.store, cause_id)
    require_owner(None if acting_for_all else department, owned.owner, owned.cause.id)
    return open_case(engine.store, owned.cause, department, opened_on, due_days, engine.jurisdiction)


def objections(engine: Engine, as_of: date, department: str | None, overdue_only: bool = False
               ) -> list[dict[str, Any]]:
    """Objections as known on ``as_of`` (one filed later left out, one resolved later shown unresolved), with
    their subject and owner; a department's own only unless ``department`` is None."""
    rows = [r if r["resolved_on"] is None or r["resolved_on"] <= as_of else {**r, "resolved_on": None, "upheld": None}
            for r in engine.objections(as_of) if r["filed_on"] <= as_of]
    rows = [r for r in rows if r["overdue"] or not overdue_only]
    causes = [Cause.parse(r["cause"]) for r in rows]
    records = engine.store.get_records([c.id for c in causes if c.kind == "record"])
    entries = engine.store.get_list_entries([c.id for c in causes if c.kind == "list"])
    out = []
    for r, c in zip(rows, causes, strict=True):
        found = records.get(c.id) if c.kind == "record" else entries.get(c.id)
        if found is None:
            continue
        owner = found.department if isinstance(found, DishonestyRecord) else found.determining_unit
        if department is None or department == owner:
            out.append(r | {"subject": found.subject, "owner": owner})
    return out
