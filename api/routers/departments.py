"""For departments: records and their lifecycle, registration corrections, list proposals, cases, feedback.

A department writes only its own records, list entries and case items (谁主管、谁认定、谁负责);
admins may act for any department. An objection or repair application a department receives for
another department's record is forwarded to the owner, who accepts or declines it
(graph_credit.applications). Personal data typed into free text is masked before it is stored
(graph_credit.pii).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response

from graph_credit import applications, pii
from graph_credit.cases import case_statistics, open_case, open_items, report_feedback
from graph_credit.changes import Changes
from graph_credit.engine import BlackListConflict, Engine
from graph_credit.model import Cause, DishonestyRecord, ListEntry, RecordEvent, Responsible, RoleEdge
from graph_credit.policy import available_jurisdictions, load_policy
from graph_credit.store.base import atomic

from ..deps import engine, known, resolve, respond, today
from ..schemas import CaseIn, Day, DeclineIn, EventIn, FeedbackIn, ListEntryIn, RecordIn, RoleIn
from ..security import Principal, require

router = APIRouter(prefix="/v1", tags=["departments"])
REGISTRATION_DEPARTMENT = "market_regulation"
Purpose = Header(None, alias="X-Purpose", max_length=200)


def _names(eng: Engine, keys: list[str]) -> list[str]:
    """Names of the persons among ``keys``: found in free text about them, they are masked."""
    return [p.name for p in eng.store.get_persons(keys).values()]


def _masked(fields: dict[str, str], names: list[str]) -> tuple[dict[str, str], list[str]]:
    """Free-text fields with personal data masked, and the fields that changed."""
    out = {k: pii.mask(v, names) for k, v in fields.items()}
    return out, sorted(k for k in fields if out[k] != fields[k])


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
    subject = resolve(body.subject)
    responsible = tuple(Responsible(resolve(r.id_number, f"responsible[{i}].id_number"), r.role)
                        for i, r in enumerate(body.responsible))
    text, masked = _masked({"basis": body.basis, "document_no": body.document_no},
                           _names(eng, [subject, *(r.person for r in responsible)]))
    record = DishonestyRecord(
        record_id=body.record_id, subject=subject, category=body.category, severity=body.severity,
        decision_date=body.decision_date, act_date=body.act_date, document_no=text["document_no"], department=dept,
        basis=text["basis"], period_end=body.period_end, jurisdiction=body.jurisdiction or eng.jurisdiction,
        responsible=responsible,
    )
    if record.jurisdiction not in available_jurisdictions():
        raise HTTPException(422, {"code": "invalid_value", "field": "jurisdiction",
                                  "message": f"unknown jurisdiction {record.jurisdiction!r}; available: "
                                             f"{', '.join(available_jurisdictions())}"})
    categories = sorted(load_policy(record.jurisdiction).categories)
    if record.category not in categories:  # the category's rules would silently never fire
        raise HTTPException(422, {"code": "invalid_value", "field": "category",
                                  "message": f"{record.category!r} is not a category of the {record.jurisdiction} "
                                             f"policy; allowed: {', '.join(categories)}"})
    known(eng, record.subject)
    for i, r in enumerate(record.responsible):
        known(eng, r.person, f"responsible[{i}].id_number")
    # The ownership check and the write are one transaction: no other department can slip in between
    # (atomic: re-run whole if the store reports a transient failure).
    def write() -> Changes:
        existing = eng.store.get_records([body.record_id]).get(body.record_id)
        if existing is not None:
            _own(who, existing.department, f"record {body.record_id}")
        return eng.put_records([record])

    result = atomic(eng.store, write)
    return {"record_id": record.record_id, "facts_added": len(result.added), "facts_removed": len(result.removed),
            "facts": [f.fact_id for f in result.added], "personal_data_masked": masked}


@router.post("/records/{cause_id}/events", status_code=201, responses={202: {
    "description": "An objection or repair application on another department's record: received and "
                   "forwarded to the owning department (GET /v1/applications); nothing changes until it accepts"}})
def add_event(cause_id: str, body: EventIn, request: Request, response: Response,
              who: Principal = Depends(require("department"))) -> dict:
    """Objection, verification result, credit repair, revocation or exit, on a record or list entry.

    Only the owning department's events take effect. Another department may receive an objection or a
    repair application for the subject (`objection_filed`, `repair_applied`): it is forwarded (202)."""
    eng = engine(request)
    record = eng.store.get_records([cause_id]).get(cause_id)
    entry = None if record else eng.store.get_list_entries([cause_id]).get(cause_id)
    if record is None and entry is None:
        raise HTTPException(404, {"code": "not_found", "field": "cause_id", "message": f"no record {cause_id!r}"})
    owner = record.department if record else entry.determining_unit  # type: ignore[union-attr]
    subject = record.subject if record else entry.subject  # type: ignore[union-attr]
    people = [subject, *(r.person for r in record.responsible)] if record else [subject]
    detail = pii.mask(body.detail, _names(eng, people))
    if who.role != "admin" and who.department != owner:
        if body.kind not in applications.KINDS:
            _own(who, owner, cause_id)
        cause = Cause("record", cause_id) if record else Cause("list", cause_id)
        row = applications.receive(eng.store, cause, subject, owner, body.kind, body.on, detail, _department(who))
        response.status_code = 202
        return {"application_id": row["id"], "status": row["status"], "owner": owner, "facts_changed": 0,
                "facts_removed": 0}
    event = RecordEvent(cause_id=cause_id, kind=body.kind, on=body.on, by=who.department or who.name, detail=detail)
    result = eng.add_event(event)
    return {"event_id": event.event_id, "facts_changed": len(result.added), "facts_removed": len(result.removed)}


@router.get("/applications")
def get_applications(request: Request, status: str | None = Query(None, pattern="^(forwarded|accepted|declined)$"),
                     purpose: str | None = Purpose, who: Principal = Depends(require("department"))) -> dict:
    """Objections and repair applications forwarded to the caller's department, or received by it for
    another department; admins see all. They name their subjects, who may be persons: audited."""
    dept = None if who.role == "admin" else _department(who)
    rows = applications.visible_to(engine(request).store, dept, status)
    return respond(request, who, purpose, "applications", {"applications": rows[::-1]})


@router.post("/applications/{application_id}/accept")
def accept_application(application_id: str, request: Request, purpose: str | None = Purpose,
                       who: Principal = Depends(require("department"))) -> dict:
    """The owning department takes a forwarded application into its workflow: the event is filed, dated
    the day it was received, with the effect the record's jurisdiction gives it."""
    dept = None if who.role == "admin" else _department(who)
    row, result = applications.accept(engine(request), application_id, dept, who.name or who.key_id)
    out = row | {"facts_changed": len(result.added), "facts_removed": len(result.removed)}
    return respond(request, who, purpose or "application decision", "application", out)


@router.post("/applications/{application_id}/decline")
def decline_application(application_id: str, body: DeclineIn, request: Request, purpose: str | None = Purpose,
                        who: Principal = Depends(require("department"))) -> dict:
    """The owning department declines a forwarded application, with its reason."""
    dept = None if who.role == "admin" else _department(who)
    row = applications.decline(engine(request).store, application_id, dept, who.name or who.key_id,
                               pii.mask(body.reason))
    return respond(request, who, purpose or "application decision", "application", row)


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
    entry = ListEntry(entry_id=body.entry_id, subject=key, list=body.list, name=body.name, determining_unit=dept,
                      basis=pii.mask(body.basis, _names(eng, [key])), valid_from=body.valid_from,
                      valid_to=body.valid_to, publicity_from=body.publicity_from, publicity_to=body.publicity_to,
                      status=body.status)
    try:
        result = eng.put_list_entries([entry])
    except BlackListConflict as e:
        raise HTTPException(409, {"code": "black_list_conflict", "field": "subject", "message": str(e),
                                  "facts": e.facts, "basis": e.basis}) from None
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
    return dict(open_case(eng.store, cause, dept, body.opened_on or today(request), body.due_days, eng.jurisdiction))


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
                           pii.mask(body.reason))
    return respond(request, who, purpose or "case feedback", "case item feedback", item)


@router.get("/cases/statistics")
def get_statistics(request: Request, as_of: Day | None = None,
                   who: Principal = Depends(require("department", "investigator"))) -> dict:
    """Completion per department and measure (跟踪问效)."""
    return {"statistics": case_statistics(engine(request).store, as_of or today(request))}


@router.get("/objections")
def get_objections(request: Request, as_of: Day | None = None, overdue_only: bool = Query(False),
                   purpose: str | None = Purpose,
                   who: Principal = Depends(require("department", "investigator"))) -> dict:
    """Objections with their verification deadline, pending and overdue flags, as known on `as_of`: one filed
    later is left out, one resolved later shows no result yet; overdue means unresolved on that date and past
    its deadline. A department sees those on its own records and list entries (investigators and admins all).
    Each names its subject and owner; a subject may be a person, so the read then needs a purpose and is
    audited."""
    eng = engine(request)
    on = as_of or today(request)
    rows = [r if r["resolved_on"] is None or r["resolved_on"] <= on else {**r, "resolved_on": None, "upheld": None}
            for r in eng.objections(on) if r["filed_on"] <= on]
    rows = [r for r in rows if r["overdue"] or not overdue_only]
    causes = [Cause.parse(r["cause"]) for r in rows]
    records = eng.store.get_records([c.id for c in causes if c.kind == "record"])
    entries = eng.store.get_list_entries([c.id for c in causes if c.kind == "list"])
    out = []
    for r, c in zip(rows, causes, strict=True):
        found = records.get(c.id) if c.kind == "record" else entries.get(c.id)
        if found is None:
            continue
        owner = found.department if isinstance(found, DishonestyRecord) else found.determining_unit
        if who.department is None or who.role == "admin" or who.department == owner:
            out.append(r | {"subject": found.subject, "owner": owner})
    return respond(request, who, purpose, "objections", {"objections": out})
