"""Beyond the anchors: risk categories, evasion patterns, connections among many subjects, policy what-if."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from graph_credit.analytics import serial_failures
from graph_credit.evasion import evasion_flags, scan_region
from graph_credit.graph import connect
from graph_credit.risk_items import risk_items
from graph_credit.store.base import require_known
from graph_credit.whatif import PolicyChoice, what_if, what_if_region

from ..deps import engine, resolve, respond, today
from ..schemas import ConnectionsRequest, Day, WhatIfRequest
from ..security import Principal, principal, require

router = APIRouter(prefix="/v1", tags=["analysis"])
Purpose = Header(None, alias="X-Purpose", max_length=200)


@router.get("/subjects/{subject}/risk-items")
def get_risk_items(subject: str, request: Request, as_of: Day | None = None,
                   depth: int = Query(2, ge=0, le=3), window_days: int = Query(90, ge=1, le=3660),
                   max_fanout: int = Query(200, ge=1, le=2000),
                   purpose: str | None = Purpose, who: Principal = Depends(principal)) -> dict:
    """Every risk item on a subject, classed **own**, **surrounding** (carried by a named related subject,
    with the path), **historical** (expired, repaired, exited or withdrawn) or **warning** (objection under
    verification, expiry within `window_days`, black list proposal, party related within `window_days`),
    each with a severity (high, medium, low, info). The public role sees masked data and no withdrawn items."""
    eng = engine(request)
    key = resolve(subject)
    require_known(eng.store, key)
    report = risk_items(eng.store, key, as_of or today(request), depth, window_days, max_fanout, eng.jurisdiction)
    if who.role == "public":  # a record withdrawn as wrong is not shown to the public (Jiangyin (24))
        report.items = [i for i in report.items if i.status != "withdrawn"]
    return respond(request, who, purpose, "risk items", report.as_dict())


@router.get("/subjects/{subject}/evasion")
def get_evasion(subject: str, request: Request, as_of: Day | None = None, purpose: str | None = Purpose,
                who: Principal = Depends(require("investigator", "department"))) -> dict:
    """Evasion patterns flagged for review, each with the pattern's `title`, a `summary` sentence and its
    evidence: a legal representative, principal or controlling stake changed shortly before an act, a
    decision, a black listing or a deregistration; a stake cut to just under a threshold before a decision;
    a person moving from a dishonest firm to a firm in the same industry; the legal representative of a
    deregistered, dishonest or black-listed firm founding a new firm in the same industry (金蝉脱壳). One
    change is one flag, its `anchors` merged. Windows and thresholds are in `graph_credit/evasion.yaml`."""
    eng = engine(request)
    key = resolve(subject)
    require_known(eng.store, key)
    on = as_of or today(request)
    flags = evasion_flags(eng.store, key, on)
    return respond(request, who, purpose, "evasion", {"subject": key, "as_of": on,
                                                      "flags": [f.as_dict() for f in flags]})


@router.get("/evasion")
def get_region_evasion(request: Request, region: str = Query(pattern=r"^\d{2,6}$", examples=["320281"]),
                       as_of: Day | None = None, limit: int = Query(500, ge=1, le=5000),
                       purpose: str | None = Purpose, who: Principal = Depends(require("investigator"))) -> dict:
    """Evasion flags on every organisation of an administrative division (code or prefix) with a record, a
    black list entry or a deregistration, oldest anchor first, at most `limit`."""
    eng = engine(request)
    on = as_of or today(request)
    flags = scan_region(eng.store, region, on, limit=limit + 1)
    data = {"region": region, "as_of": on, "flags": [f.as_dict() for f in flags[:limit]],
            "truncated": len(flags) > limit}
    return respond(request, who, purpose, "evasion scan", data)


@router.get("/serial-failures")
def get_serial_failures(request: Request, region: str = Query(pattern=r"^\d{2,6}$", examples=["320281"]),
                        as_of: Day | None = None, flagged_only: bool = True, limit: int = Query(500, ge=1, le=5000),
                        purpose: str | None = Purpose, who: Principal = Depends(require("investigator"))) -> dict:
    """People behind failed (deregistered) or dishonest firms of an administrative division and the new firms
    they founded as those failed (金蝉脱壳), as `graph_credit.analytics.serial_failures` gives them: per
    person the firms, how many were dishonest, failed or founded, the first and last event and the events
    (`date firm kind;...`); flagged at two firms (two failures, or a failure and a firm founded on it).
    `flags` are the `serial_failure` evasion flags behind the founded firms, with their evidence."""
    eng = engine(request)
    on = as_of or today(request)
    df = serial_failures(eng.store, on, region=region)
    if flagged_only:
        df = df[df["flagged"]]
    rows = [{**r, **{k: int(r[k]) for k in ("firms", "dishonest", "failed", "founded")},
             "first": r["first"].date(), "last": r["last"].date(), "flagged": bool(r["flagged"])}
            for r in df.head(limit).to_dict("records")]
    shown = {r["person"] for r in rows}
    data = {"region": region, "as_of": on, "persons": rows, "truncated": len(df) > limit,
            "flags": [f.as_dict() for f in df.attrs["flags"] if f.subject in shown]}
    return respond(request, who, purpose, "serial failures", data)


@router.post("/connections")
def post_connections(body: ConnectionsRequest, request: Request, purpose: str | None = Purpose,
                     who: Principal = Depends(require("investigator"))) -> dict:
    """The subgraph connecting 2 to 50 subjects as of a date: for each pair joined within `max_depth` role
    edges, the shortest chain (direct, shared person, ownership chain); the persons holding roles in two or
    more of them; the subjects grouped into components. At most `max_fanout` edges are followed from any
    node (a direct edge between two of the subjects is always followed): truncated hubs are listed and
    `next_cursor` gives the next page, which follows the earlier pages' edges too (pages are cumulative).

    Example: `{"subjects": ["91110105000000001X", "91110105000000002X"], "as_of": "2021-01-01"}`
    """
    eng = engine(request)
    keys = [resolve(s, f"subjects.{i}") for i, s in enumerate(body.subjects)]
    result = connect(eng.store, keys, body.as_of or today(request), body.max_depth, body.max_fanout, body.cursor)
    return respond(request, who, body.purpose or purpose, "connections", result.as_dict())


@router.api_route("/connections", methods=["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"], include_in_schema=False)
def connections_other_methods() -> JSONResponse:
    """GET /v1/connections (two subjects) and POST (many) live in two routers: Starlette would answer another
    method with the first router's Allow header only, so the path answers it here with both."""
    return JSONResponse({"error": {"code": "method_not_allowed", "message": "Method Not Allowed", "field": None}},
                        status_code=405, headers={"Allow": "GET, POST"})


@router.post("/what-if")
def post_what_if(body: WhatIfRequest, request: Request, purpose: str | None = Purpose,
                 who: Principal = Depends(require("department", "investigator"))) -> dict:
    """Evaluate one subject or a whole region under two policies (two jurisdictions, or one policy at two
    effective dates) and report every consequence that differs, with the rule and clauses behind it. An
    omitted jurisdiction or date is the cause's own. Nothing is written.

    Example: `{"subject": "91110105000000001X", "a": {"jurisdiction": "default"}, "b": {"jurisdiction": "jiangyin"}}`
    """
    eng = engine(request)
    a = PolicyChoice(body.a.jurisdiction, body.a.on)
    b = PolicyChoice(body.b.jurisdiction, body.b.on)
    on = body.as_of or today(request)
    if body.subject is not None:
        key = resolve(body.subject)
        result = what_if(eng.store, key, a, b, on, eng.jurisdiction)
    else:
        assert body.region is not None
        result = what_if_region(eng.store, body.region, a, b, on, eng.jurisdiction)
    data = result.as_dict()
    data["truncated"] = len(result.differences) > body.limit
    data["differences"] = data["differences"][: body.limit]
    return respond(request, who, body.purpose or purpose, "what-if", data)
