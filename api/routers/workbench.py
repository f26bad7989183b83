"""The investigator workbench: subject search, a subject's role edges page by page, and the page itself.

The page (``/workbench``) is static: one HTML, one script, one stylesheet and Cytoscape.js, served from
the package (``api/workbench/``), with no inline script and nothing fetched from elsewhere. It asks for an
API key and a purpose and calls the same endpoints as any client, so keys, roles, masking and the audit
of personal-data reads apply to it unchanged.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response

from graph_credit.fonts import cjk_font_file
from graph_credit.graph.explore import roles_page, search

from ..deps import engine, resolve, respond, today
from ..schemas import Day
from ..security import Principal, principal, require

router = APIRouter(tags=["workbench"])
Purpose = Header(None, alias="X-Purpose", max_length=200)
_PAGE = resources.files("api") / "workbench"
_ASSETS = {  # everything the page loads, by the name it uses: nothing else is served from the package
    "workbench.js": "text/javascript", "workbench.css": "text/css", "cytoscape.min.js": "text/javascript",
    "cytoscape.LICENSE.txt": "text/plain",
}
# The page needs nothing but its own origin (a CSP that allows same-origin scripts only, no framing);
# images are drawn into data: and blob: URLs by the PNG/SVG export.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY", "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer",
}


@router.get("/v1/subjects")
def get_search(request: Request,
               q: str = Query("", max_length=100, description="A USCC or its prefix, part of a name (Chinese "
                              "included), part of a masked ID number, or a whole resident ID number"),
               region: str = Query("", pattern=r"^(\d{2,6})?$", description="administrative division code "
                                   "or prefix", examples=["3202"]),
               industry: str = Query("", pattern=r"^([A-T]\d{0,4})?$", description="industry code (GB/T 4754)"),
               kind: Literal["organisation", "person"] | None = None, as_of: Day | None = None,
               limit: int = Query(20, ge=1, le=100), offset: int = Query(0, ge=0, le=10_000),
               purpose: str | None = Purpose, who: Principal = Depends(principal)) -> dict:
    """Find subjects: organisations whose code starts with `q` or whose name contains it, persons whose name
    or masked ID number contains it, narrowed by `region` (prefix), `industry` and `kind`; ordered by key,
    `limit` from `offset` (`next_offset` is null on the last page). Each comes with its status on `as_of`
    (default today) and the consequences in force. The public role sees persons masked; other roles
    reading persons give a purpose (X-Purpose), and the read is audited."""
    text = q.strip()
    if not (text or region or industry):
        raise HTTPException(422, {"code": "invalid_request", "field": "q",
                                  "message": "q: give a name, code or ID fragment (or a region or industry)"})
    data = search(engine(request).store, text, region, industry, kind, as_of or today(request), limit, offset)
    return respond(request, who, purpose, "subject search", data)


@router.get("/v1/subjects/{subject}/roles")
def get_roles(subject: str, request: Request, as_of: Day | None = None,
              offset: int = Query(0, ge=0, le=1_000_000), limit: int = Query(25, ge=1, le=200),
              purpose: str | None = Purpose, who: Principal = Depends(require("investigator"))) -> dict:
    """A subject's role edges in force on `as_of` (held in it and by it), `limit` from `offset`, with the
    subjects at their other ends (status and causes on the date): a hub expands page by page. `changes`
    lists every date on which one of its edges or consequences began or ended."""
    eng = engine(request)
    data = roles_page(eng.store, resolve(subject), as_of or today(request), offset, limit)
    return respond(request, who, purpose, "roles", data)


@router.get("/workbench", include_in_schema=False)
def get_page() -> Response:
    return Response((_PAGE / "index.html").read_bytes(), media_type="text/html; charset=utf-8",
                    headers=_PAGE_HEADERS)


@router.get("/workbench/font", include_in_schema=False)
def get_font() -> FileResponse:
    """The CJK font the pictures use, so the page draws Chinese names on a machine without one."""
    return FileResponse(cjk_font_file(), media_type="font/otf", headers={"Cache-Control": "max-age=86400"})


@router.get("/workbench/{name}", include_in_schema=False)
def get_asset(name: str) -> Response:
    if name not in _ASSETS:
        raise HTTPException(404, {"code": "not_found", "message": f"no workbench file {name!r}"})
    return Response((_PAGE / name).read_bytes(), media_type=_ASSETS[name], headers={"Cache-Control": "no-cache"})
