"""For departments: records and their lifecycle, registration corrections, list proposals, cases, feedback.

A department writes only its own records, list entries and case items (谁主管、谁认定、谁负责);
admins may act for any department.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request

from graph_credit.cases import case_statistics, open_case, open_items, report_feedback
from graph_credit.engine import Engine, RefreshResult
from graph_credit.model import Cause, DishonestyRecord, ListEntry, RecordEvent, Responsible, RoleEdge
from graph_credit.policy import available_jurisdictions
from graph_credit.store.base import atomic

from ..deps import engine, known, resolve, respond, today
from ..schemas import CaseIn, Day, EventIn, FeedbackIn, ListEntryIn, RecordIn, RoleIn
from ..security import Principal, require

router = APIRouter(prefix="/v1", tags=["departments"])
REGISTRATION_DEPARTMENT = "market_regulation"
# Events a front desk may register for the subject; the rest are decisions of the issuing department.
SUBJECT_EVENTS = {"objection_filed", "repair_applied"}
Purpose = Header(None, alias="X-Purpose", max_length=200)


def _own(who: Principal, owner: str, what: str) -> None:
    if who.role != "admin" and who.department != owner:
        raise HTTPException(403, {"code": "forbidden", "message": f"{what} belongs to department {owner!r}"})


def _department(who: Principal) -> str:
    if who.department:
        return who.department
    raise HTTPException(403, {"code": "forbidden", "message": "this key is not bound to a department"})


@router.post("/records", status_code=201)
def put_record(body: RecordIn, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Write a dishonesty record (the caller is its initiating department); consequences derive at once."""
    eng = engine(request)
    dept = _department(who)
    record = DishonestyRecord(
        record_id=body.record_id, subject=resolve(body.subject), category=body.category, severity=body.severity,
        decision_date=body.decision_date, act_date=body.act_date, document_no=body.document_no, department=dept,
        basis=body.basis, period_end=body.period_end, jurisdiction=body.jurisdiction or eng.jurisdiction,
        responsible=tuple(Responsible(resolve(r.id_number, f"responsible[{i}].id_number"), r.role)
                          for i, r in enumerate(body.responsible)),
    )
    if record.jurisdiction not in available_jurisdictions():
        raise HTTPException(422, {"code": "invalid_value", "field": "jurisdiction",
                                  "message": f"unknown jurisdiction {record.jurisdiction!r}"})
    known(eng, record.subject)
    for i, r in enumerate(record.responsible):
        known(eng, r.person, f"responsible[{i}].id_number")
    # The ownership check and the write are one transaction: no other department can slip in between
    # (atomic: re-run whole if the store reports a transient failure).
    def write() -> RefreshResult:
        existing = eng.store.get_records([body.record_id]).get(body.record_id)
        if existing is not None:
            _own(who, existing.department, f"record {body.record_id}")
        return eng.put_records([record])

    result = atomic(eng.store, write)
    return {"record_id": record.record_id, "facts_added": len(result.added), "facts_removed": len(result.removed),
            "facts": [f.fact_id for f in result.added]}


@router.post("/records/{cause_id}/events", status_code=201)
def add_event(cause_id: str, body: EventIn, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Objection, verification result, credit repair, revocation or exit, on a record or list entry."""
    eng = engine(request)
    record = eng.store.get_records([cause_id]).get(cause_id)
    entry = None if record else eng.store.get_list_entries([cause_id]).get(cause_id)
    if record is None and entry is None:
        raise HTTPException(404, {"code": "not_found", "field": "cause_id", "message": f"no record {cause_id!r}"})
    owner = record.department if record else entry.determining_unit  # type: ignore[union-attr]
    if body.kind not in SUBJECT_EVENTS:
        _own(who, owner, cause_id)
    event = RecordEvent(cause_id=cause_id, kind=body.kind, on=body.on, by=who.department or who.name,
                        detail=body.detail)
    result = eng.add_event(event)
    return {"event_id": event.event_id, "facts_changed": len(result.added), "facts_removed": len(result.removed)}


@router.post("/roles", status_code=201)
def put_role(body: RoleIn, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Register or correct a role edge (registration authority only); dependent consequences re-derive."""
    _own(who, REGISTRATION_DEPARTMENT, "registration data")
    eng = engine(request)
    edge = RoleEdge(holder=known(eng, resolve(body.holder, "holder"), "holder"), role=body.role,
                    org=known(eng, resolve(body.org, "org"), "org"),
                    valid_from=body.valid_from, valid_to=body.valid_to, ratio=body.ratio,
                    subscribed_capital=body.subscribed_capital, title=body.title)
    result = eng.put_roles([edge], check=True)
    return {"edge_id": edge.edge_id, "facts_changed": len(result.added), "facts_removed": len(result.removed)}


@router.delete("/roles/{edge_id}")
def delete_role(edge_id: str, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Delete a wrongly registered role edge; consequences that travelled along it are withdrawn."""
    _own(who, REGISTRATION_DEPARTMENT, "registration data")
    result = engine(request).delete_roles([edge_id])
    return {"edge_id": edge_id, "facts_changed": len(result.added), "facts_removed": len(result.removed)}


@router.post("/list-entries", status_code=201)
def put_list_entry(body: ListEntryIn, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Propose, publicise or make effective a red or black list entry, with the P5 cross-check."""
    eng = engine(request)
    dept = _department(who)
    key = known(eng, resolve(body.subject))
    # ownership check, P5 check and write see one state (re-run whole on a transient failure)
    return atomic(eng.store, lambda: _put_list_entry(eng, body, who, dept, key))


def _put_list_entry(eng: Engine, body: ListEntryIn, who: Principal, dept: str, key: str) -> dict:
    existing = eng.store.get_list_entries([body.entry_id]).get(body.entry_id)
    if existing is not None:
        _own(who, existing.determining_unit, f"list entry {body.entry_id}")
    if body.list == "red":
        on = body.valid_from
        blocking = [f for f in eng.store.facts_of([key])
                    if f.consequence == "key_supervision" and f.status_on(on) in ("active", "suspended")]
        if blocking:
            raise HTTPException(409, {"code": "black_list_conflict", "field": "subject",
                                      "message": "subject is on an effective black list (P5, Jiangyin (6))",
                                      "facts": [f.fact_id for f in blocking]})
    entry = ListEntry(entry_id=body.entry_id, subject=key, list=body.list, name=body.name, determining_unit=dept,
                      basis=body.basis, valid_from=body.valid_from, valid_to=body.valid_to,
                      publicity_from=body.publicity_from, publicity_to=body.publicity_to, status=body.status)
    result = eng.put_list_entries([entry])
    return {"entry_id": entry.entry_id, "status": entry.status, "facts_changed": len(result.added),
            "facts_removed": len(result.removed)}


@router.post("/cases", status_code=201)
def post_case(body: CaseIn, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Open a joint punishment (record) or joint incentive (red list entry) case and fan it out."""
    eng = engine(request)
    dept = _department(who)
    record = eng.store.get_records([body.cause_id]).get(body.cause_id)
    entry = None if record else eng.store.get_list_entries([body.cause_id]).get(body.cause_id)
    if record is None and entry is None:
        raise HTTPException(404, {"code": "not_found", "field": "cause_id",
                                  "message": f"no record or list entry {body.cause_id!r}"})
    # Only the department that decided the record (or determined the list entry) initiates its case.
    _own(who, record.department if record else entry.determining_unit, body.cause_id)  # type: ignore[union-attr]
    cause = Cause("record", body.cause_id) if record else Cause("list", body.cause_id)
    return open_case(eng.store, cause, dept, body.opened_on or today(request), body.due_days, eng.jurisdiction)


@router.get("/cases/items")
def get_items(request: Request, department: str | None = Query(None, max_length=64), as_of: Day | None = None,
              purpose: str | None = Purpose, who: Principal = Depends(require("department"))) -> dict:
    """Open items (pending feedback), with overdue flags; a department sees its own. Items name their
    targets, who may be persons: the read needs a purpose and is audited."""
    dept = department if who.role == "admin" else _department(who)
    items = open_items(engine(request).store, as_of or today(request), dept)
    return respond(request, who, purpose, "case items", {"items": items})


@router.post("/cases/items/{item_id}/feedback")
def post_feedback(item_id: str, body: FeedbackIn, request: Request, purpose: str | None = Purpose,
                  who: Principal = Depends(require("department"))) -> dict:
    """Report applied, not applicable, or refused (with reason) on one of the department's items."""
    dept = _department(who)
    item = report_feedback(engine(request).store, item_id, dept, body.status, body.reported_on or today(request),
                           body.reason)
    return respond(request, who, purpose or "case feedback", "case item feedback", item)


@router.get("/cases/statistics")
def get_statistics(request: Request, as_of: Day | None = None,
                   who: Principal = Depends(require("department", "investigator"))) -> dict:
    """Completion per department and measure (跟踪问效)."""
    return {"statistics": case_statistics(engine(request).store, as_of or today(request))}


@router.get("/objections")
def get_objections(request: Request, as_of: Day | None = None, overdue_only: bool = Query(False),
                   who: Principal = Depends(require("department", "investigator"))) -> dict:
    """Objections with their verification deadline, pending and overdue flags."""
    rows = engine(request).objections(as_of or today(request))
    return {"objections": [r for r in rows if r["overdue"] or not overdue_only]}
