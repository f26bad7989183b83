"""Approval checks (应查必查): one subject or a batch, for one matter, as of a date."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request

from graph_credit.checks import DECISIONS, check, check_many

from ..deps import engine, resolve, respond, today
from ..responses import BatchCheckResponse
from ..schemas import BatchCheckRequest, CheckRequest, CheckResponse
from ..security import Principal, charge, principal

router = APIRouter(prefix="/v1/checks", tags=["approval checks"])


@router.post("", response_model=CheckResponse)
def run_check(body: CheckRequest, request: Request, who: Principal = Depends(principal)) -> dict:
    """Decide **deny**, **review**, **allow** or **green_channel** for a subject and an approval matter;
    **unknown** when the subject is not registered (an empty graph is no clean record).

    Example: `{"subject": "91320281MA1MXXXX0Q", "matter": "government_procurement", "purpose": "采购资格审查"}`
    """
    eng = engine(request)
    key = resolve(body.subject)
    charge(request, who, 1, body.depth)
    result = check(eng.store, key, body.matter, body.as_of or today(request), eng.jurisdiction, body.depth)
    return respond(request, who, body.purpose, f"check {body.matter}", asdict(result))


@router.post("/batch", response_model=BatchCheckResponse)
def run_batch(body: BatchCheckRequest, request: Request, who: Principal = Depends(principal)) -> dict:
    """Check many subjects for one matter in one call (up to 1,000); results in request order."""
    eng = engine(request)
    on = body.as_of or today(request)
    keys = [resolve(s, f"subjects[{i}]") for i, s in enumerate(body.subjects)]
    charge(request, who, len(keys), body.depth)
    results = [asdict(r) for r in check_many(eng.store, keys, body.matter, on, eng.jurisdiction, body.depth)]
    payload = {"as_of": on, "matter": body.matter, "results": results,
               "decisions": {d: sum(r["decision"] == d for r in results)
                             for d in DECISIONS}}
    return respond(request, who, body.purpose, f"batch check {body.matter}", payload)
