"""Approval checks (应查必查): one subject or a batch, for one matter, as of a date."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request, Response
from pydantic_core import to_json

from graph_credit.checks import DECISIONS, check, check_many

from ..deps import engine, resolve, respond, respond_async, today
from ..responses import BatchCheckResponse
from ..schemas import BatchCheckRequest, CheckRequest, CheckResponse
from ..security import Principal, charge, principal

router = APIRouter(prefix="/v1/checks", tags=["approval checks"])


@router.post("", response_model=CheckResponse)
async def run_check(body: CheckRequest, request: Request, who: Principal = Depends(principal)) -> Response:
    """Decide **deny**, **review**, **allow** or **green_channel** for a subject and an approval matter;
    **unknown** when the subject is not registered (an empty graph is no clean record).

    Example: `{"subject": "91320281MA1MXXXX0Q", "matter": "government_procurement", "purpose": "采购资格审查"}`
    """
    # The busiest route, so a coroutine: the check runs in the event loop (under a millisecond of CPU,
    # less than the hand-off to the thread pool and back costs), the audit's commit is awaited without a
    # thread, and the answer is encoded once, straight from the result (CheckResponse documents it).
    eng = engine(request)
    key = resolve(body.subject)
    charge(request, who, 1, body.depth)
    result = check(eng.store, key, body.matter, body.as_of or today(request), eng.jurisdiction, body.depth)
    payload = await respond_async(request, who, body.purpose, f"check {body.matter}", dict(vars(result)))
    return Response(to_json(payload), media_type="application/json")


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
