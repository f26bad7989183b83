"""For departments: records and their lifecycle, registration corrections, list proposals, cases, feedback.

A department writes only its own records, list entries and case items (谁主管、谁认定、谁负责);
admins may act for any department. An objection or repair application a department receives for
another department's record is forwarded to the owner, who accepts or declines it
(graph_credit.applications). Personal data typed into free text is masked before it is stored
(graph_credit.pii).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response

from graph_credit import applications, pii, workflow
from graph_credit.cases import case_statistics, open_items, report_feedback
from graph_credit.journal import Case, CaseItem
from graph_credit.model import DishonestyRecord, ListEntry, Responsible, RoleEdge

from ..deps import engine, resolve, respond, today
from ..responses import (
    Application,
    ApplicationForwarded,
    Applications,
    CaseItems,
    EventFiled,
    ListEntryWritten,
    Objections,
    RecordWritten,
    RoleWritten,
    Statistics,
)
from ..schemas import CaseIn, Day, DeclineIn, EventIn, FeedbackIn, ListEntryIn, RecordIn, RoleIn
from ..security import Principal, require

router = APIRouter(prefix="/v1", tags=["departments"])
Purpose = Header(None, alias="X-Purpose", max_length=200)


def _department(who: Principal) -> str:
    if who.department:
        return who.department
    raise HTTPException(403, {"code": "forbidden", "message": "this key is not bound to a department"})


def _acting(who: Principal) -> str | None:
    """The department the caller acts as; None for an admin, who acts for every department."""
    return None if who.role == "admin" else _department(who)


@router.post("/records", response_model=RecordWritten, status_code=201,
             responses={200: {"model": RecordWritten, "description": "The record was stored already, unchanged: "
                                                                      "nothing was written"}})
def put_record(body: RecordIn, request: Request, response: Response,
               who: Principal = Depends(require("department"))) -> dict:
    """Write a dishonesty record (the caller is its initiating department); consequences derive at once.
    Sent again unchanged, it answers 200 with its consequences and writes nothing."""
    eng = engine(request)
    record = DishonestyRecord(
        record_id=body.record_id, subject=resolve(body.subject), category=body.category, severity=body.severity,
        decision_date=body.decision_date, act_date=body.act_date, document_no=body.document_no,
        department=_department(who), basis=body.basis, period_end=body.period_end,
        jurisdiction=body.jurisdiction or eng.jurisdiction,
        responsible=tuple(Responsible(resolve(r.id_number, f"responsible[{i}].id_number"), r.role)
                          for i, r in enumerate(body.responsible)))
    written = workflow.write_record(eng, record, _acting(who))
    if not written.created and not written.result.added and not written.result.removed:
        response.status_code = 200
    return {"record_id": record.record_id, "facts_added": len(written.result.added),
            "facts_removed": len(written.result.removed), "facts": written.facts,
            "personal_data_masked": written.masked}


@router.post("/records/{cause_id}/events", response_model=EventFiled | ApplicationForwarded, status_code=201,
             responses={202: {"model": ApplicationForwarded, "description":
                               "An objection or repair application on another department's record: received and "
                               "forwarded to the owning department (GET /v1/applications); nothing changes until "
                               "it accepts"}})
def add_event(cause_id: str, body: EventIn, request: Request, response: Response,
              who: Principal = Depends(require("department"))) -> dict:
    """Objection, verification result, credit repair, revocation or exit, on a record or list entry
    (`cause_id` as written, `R1`, or as answers give causes, `record:R1`).

    Only the owning department's events take effect. Another department may receive an objection or a
    repair application for the subject (`objection_filed`, `repair_applied`): it is forwarded (202)."""
    event, forwarded, result = workflow.file_event(engine(request), cause_id, body.kind, body.on, body.detail,
                                                   _acting(who), who.department or who.name)
    if forwarded is not None:
        response.status_code = 202
        return {"application_id": forwarded["id"], "status": forwarded["status"], "owner": forwarded["owner"],
                "facts_changed": 0, "facts_removed": 0}
    assert event is not None
    return {"event_id": event.event_id, "facts_changed": len(result.added), "facts_removed": len(result.removed)}


@router.get("/applications", response_model=Applications)
def get_applications(request: Request, status: str | None = Query(None, pattern="^(forwarded|accepted|declined)$"),
                     purpose: str | None = Purpose, who: Principal = Depends(require("department"))) -> dict:
    """Objections and repair applications forwarded to the caller's department, or received by it for
    another department; admins see all. They name their subjects, who may be persons: audited."""
    dept = None if who.role == "admin" else _department(who)
    rows = applications.visible_to(engine(request).store, dept, status)
    return respond(request, who, purpose, "applications", {"applications": rows[::-1]})


@router.post("/applications/{application_id}/accept", response_model=Application)
def accept_application(application_id: str, request: Request, purpose: str | None = Purpose,
                       who: Principal = Depends(require("department"))) -> dict:
    """The owning department takes a forwarded application into its workflow: the event is filed, dated
    the day it was received, with the effect the record's jurisdiction gives it."""
    dept = None if who.role == "admin" else _department(who)
    row, result = applications.accept(engine(request), application_id, dept, who.name or who.key_id)
    out = row | {"facts_changed": len(result.added), "facts_removed": len(result.removed)}
    return respond(request, who, purpose or "application decision", "application", out)


@router.post("/applications/{application_id}/decline", response_model=Application)
def decline_application(application_id: str, body: DeclineIn, request: Request, purpose: str | None = Purpose,
                        who: Principal = Depends(require("department"))) -> dict:
    """The owning department declines a forwarded application, with its reason."""
    dept = None if who.role == "admin" else _department(who)
    row = applications.decline(engine(request).store, application_id, dept, who.name or who.key_id,
                               pii.mask(body.reason))
    return respond(request, who, purpose or "application decision", "application", row)


@router.post("/roles", response_model=RoleWritten, status_code=201)
def put_role(body: RoleIn, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Register or correct a role edge (registration authority only); dependent consequences re-derive."""
    workflow.require_owner(_acting(who), workflow.REGISTRATION_DEPARTMENT, "registration data")
    eng = engine(request)
    edge = RoleEdge(holder=workflow.known(eng.store, resolve(body.holder, "holder"), "holder"), role=body.role,
                    org=workflow.known(eng.store, resolve(body.org, "org"), "org"),
                    valid_from=body.valid_from, valid_to=body.valid_to, ratio=body.ratio,
                    subscribed_capital=body.subscribed_capital, title=body.title)
    result = eng.put_roles([edge], check=True)
    return {"edge_id": edge.edge_id, "facts_changed": len(result.added), "facts_removed": len(result.removed)}


@router.delete("/roles/{edge_id}", response_model=RoleWritten)
def delete_role(edge_id: str, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Delete a wrongly registered role edge; consequences that travelled along it are withdrawn."""
    workflow.require_owner(_acting(who), workflow.REGISTRATION_DEPARTMENT, "registration data")
    result = engine(request).delete_roles([edge_id])
    return {"edge_id": edge_id, "facts_changed": len(result.added), "facts_removed": len(result.removed)}


@router.post("/list-entries", response_model=ListEntryWritten, status_code=201)
def put_list_entry(body: ListEntryIn, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Propose, publicise or make effective a red or black list entry, with the P5 cross-check (409 naming
    the blocking facts)."""
    entry = ListEntry(entry_id=body.entry_id, subject=resolve(body.subject), list=body.list, name=body.name,
                      determining_unit=_department(who), basis=body.basis, valid_from=body.valid_from,
                      valid_to=body.valid_to, publicity_from=body.publicity_from, publicity_to=body.publicity_to,
                      status=body.status)
    result = workflow.write_list_entry(engine(request), entry, _acting(who))
    return {"entry_id": entry.entry_id, "status": entry.status, "facts_changed": len(result.added),
            "facts_removed": len(result.removed)}


@router.post("/cases", response_model=Case, status_code=201)
def post_case(body: CaseIn, request: Request, who: Principal = Depends(require("department"))) -> dict:
    """Open a joint punishment (record) or joint incentive (red list entry) case and fan it out; only the
    department that decided the record (or determined the entry) initiates it. `cause_id` as written
    (`R1`) or as answers give causes (`record:R1`, `list:L1`)."""
    case = workflow.open_case_for(engine(request), body.cause_id, _department(who),
                                  body.opened_on or today(request), body.due_days, acting_for_all=who.role == "admin")
    return dict(case)


@router.get("/cases/items", response_model=CaseItems)
def get_items(request: Request, department: str | None = Query(None, max_length=64), as_of: Day | None = None,
              purpose: str | None = Purpose, who: Principal = Depends(require("department"))) -> dict:
    """Open items (pending feedback), with overdue flags; a department sees its own. Items name their
    targets, who may be persons: the read needs a purpose and is audited."""
    dept = department if who.role == "admin" else _department(who)
    items = open_items(engine(request).store, as_of or today(request), dept)
    return respond(request, who, purpose, "case items", {"items": items})


@router.post("/cases/items/{item_id}/feedback", response_model=CaseItem)
def post_feedback(item_id: str, body: FeedbackIn, request: Request, purpose: str | None = Purpose,
                  who: Principal = Depends(require("department"))) -> dict:
    """Report applied, not applicable, or refused (with reason) on one of the department's items."""
    dept = _department(who)
    item = report_feedback(engine(request).store, item_id, dept, body.status, body.reported_on or today(request),
                           pii.mask(body.reason))
    return respond(request, who, purpose or "case feedback", "case item feedback", item)


@router.get("/cases/statistics", response_model=Statistics)
def get_statistics(request: Request, as_of: Day | None = None,
                   who: Principal = Depends(require("department", "investigator"))) -> dict:
    """Completion per department and measure (跟踪问效)."""
    return {"statistics": case_statistics(engine(request).store, as_of or today(request))}


@router.get("/objections", response_model=Objections)
def get_objections(request: Request, as_of: Day | None = None, overdue_only: bool = Query(False),
                   purpose: str | None = Purpose,
                   who: Principal = Depends(require("department", "investigator"))) -> dict:
    """Objections with their verification deadline, pending and overdue flags, as known on `as_of`: one filed
    later is left out, one resolved later shows no result yet; overdue means unresolved on that date and past
    its deadline. A department sees those on its own records and list entries (investigators and admins all).
    Each names its subject and owner; a subject may be a person, so the read then needs a purpose and is
    audited."""
    department = None if who.role == "admin" or who.department is None else who.department
    rows = workflow.objections(engine(request), as_of or today(request), department, overdue_only)
    return respond(request, who, purpose, "objections", {"objections": rows})
