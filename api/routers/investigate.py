"""For investigators: neighbourhood subgraph, shortest connection, timeline, explanation of a fact."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, Response

from graph_credit.graph import neighbourhood, shortest_connection
from graph_credit.store.base import NotFound
from graph_credit.views import explain as explain_fact
from graph_credit.views import graph_json, step_dict, timeline

from ..deps import engine, resolve, respond, today
from ..schemas import Day
from ..security import Principal, charge, principal, require

router = APIRouter(prefix="/v1", tags=["investigation"])
Purpose = Header(None, alias="X-Purpose", max_length=200)


@router.get("/subjects/{subject}/neighbourhood")
def get_neighbourhood(subject: str, request: Request, as_of: Day | None = None,
                      depth: int = Query(1, ge=1, le=3), max_fanout: int = Query(200, ge=1, le=2000),
                      purpose: str | None = Purpose, who: Principal = Depends(require("investigator"))) -> dict:
    """Nodes and edges (JSON a graph viewer can draw) around a subject as of a date; hubs paged."""
    eng = engine(request)
    charge(request, who, 1, depth)
    hood = neighbourhood(eng.store, resolve(subject), as_of or today(request), depth, max_fanout)
    return respond(request, who, purpose, "neighbourhood", graph_json(eng.store, hood))


_NO_STORE = {"Cache-Control": "no-store"}  # pictures carry personal data: no shared caches
PICTURE_WEIGHT = 10  # drawing costs about ten times the traversal it draws (a depth-3 PNG: 7 s)


def _picture(request: Request, subject: str, as_of: date | None, depth: int, max_fanout: int,
             purpose: str | None, who: Principal, what: str) -> dict:
    from graph_credit.render import neighbourhood_graph

    eng = engine(request)
    charge(request, who, 1, depth, weight=PICTURE_WEIGHT)
    data = neighbourhood_graph(eng.store, resolve(subject), as_of or today(request), depth, max_fanout)
    return respond(request, who, purpose, what, data)  # audited like the JSON neighbourhood


@router.get("/subjects/{subject}/neighbourhood.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "the picture"}})
def get_neighbourhood_png(subject: str, request: Request, as_of: Day | None = None,
                          depth: int = Query(1, ge=1, le=3), max_fanout: int = Query(30, ge=1, le=200),
                          purpose: str | None = Purpose, who: Principal = Depends(require("investigator"))) -> Response:
    """The neighbourhood drawn as a PNG: nodes coloured by credit status, edges labelled with role and dates."""
    from graph_credit.render import render_png

    data = _picture(request, subject, as_of, depth, max_fanout, purpose, who, "neighbourhood.png")
    return Response(render_png(data), media_type="image/png", headers=_NO_STORE)


@router.get("/subjects/{subject}/neighbourhood.html", response_class=HTMLResponse)
def get_neighbourhood_html(subject: str, request: Request, as_of: Day | None = None,
                           depth: int = Query(1, ge=1, le=3), max_fanout: int = Query(30, ge=1, le=200),
                           purpose: str | None = Purpose,
                           who: Principal = Depends(require("investigator"))) -> HTMLResponse:
    """A standalone HTML page: the picture (inline SVG), a legend and tables of subjects and role edges."""
    from graph_credit.render import render_html

    data = _picture(request, subject, as_of, depth, max_fanout, purpose, who, "neighbourhood.html")
    return HTMLResponse(render_html(data), headers=_NO_STORE)

@router.get("/connections")
def get_connection(a: str, b: str, request: Request, as_of: Day | None = None,
                   max_depth: int = Query(6, ge=1, le=8), purpose: str | None = Purpose,
                   who: Principal = Depends(require("investigator"))) -> dict:
    """The shortest chain of role edges between two subjects as of a date (null if none within max_depth)."""
    eng = engine(request)
    path = shortest_connection(eng.store, resolve(a, "a"), resolve(b, "b"), as_of or today(request), max_depth)
    data = {"a": resolve(a, "a"), "b": resolve(b, "b"),
            "path": None if path is None else [step_dict(s) for s in path]}
    return respond(request, who, purpose, "connection", data)


@router.get("/subjects/{subject}/timeline")
def get_timeline(subject: str, request: Request, purpose: str | None = Purpose,
                 who: Principal = Depends(require("investigator", "department"))) -> dict:
    """Roles taken and left, acts, records, lifecycle events, list entries and consequences, by date."""
    eng = engine(request)
    key = resolve(subject)
    return respond(request, who, purpose, "timeline", {"subject": key, "events": timeline(eng.store, key)})


@router.get("/facts/{fact_id}/explain")
def explain(fact_id: str, request: Request, purpose: str | None = Purpose,
            who: Principal = Depends(principal)) -> dict:
    """Why a consequence applies: the record or list entry, the edge and its interval, the rule, the basis.
    A consequence withdrawn as wrong does not exist for the public role (Jiangyin (24))."""
    chain = explain_fact(engine(request).store, fact_id)
    if who.role == "public" and chain["fact"]["ended_by"] == "withdrawn":
        raise NotFound(f"fact_id: no derived fact {fact_id!r}")
    return respond(request, who, purpose, "explain", chain)
