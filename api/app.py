"""FastAPI application factory: settings, store and engine in the lifespan, errors as JSON."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from graph_credit.cases import CaseError
from graph_credit.checks import UnknownMatter
from graph_credit.engine import Engine
from graph_credit.ids import InvalidIdentifier
from graph_credit.lifecycle import LifecycleError
from graph_credit.store import NotFound, Store, open_store

from .routers import admin, checks, departments, investigate, subjects
from .security import RateLimiter, load_keys


@dataclass
class Settings:
    """Read from GRAPH_CREDIT_* environment variables."""

    store: str = "data/graph-credit.sqlite"
    jurisdiction: str = "default"
    demo: bool = False
    today: date | None = None
    public_rate_per_minute: int = 120
    max_body_bytes: int = 1_000_000

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            store=env("GRAPH_CREDIT_STORE", cls.store),
            jurisdiction=env("GRAPH_CREDIT_JURISDICTION", cls.jurisdiction),
            demo=env("GRAPH_CREDIT_DEMO", "0") == "1",
            today=date.fromisoformat(today) if (today := env("GRAPH_CREDIT_TODAY")) else None,
            public_rate_per_minute=int(env("GRAPH_CREDIT_PUBLIC_RATE", str(cls.public_rate_per_minute))),
            max_body_bytes=int(env("GRAPH_CREDIT_MAX_BODY", str(cls.max_body_bytes))),
        )


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        app.state.engine = Engine(store or open_store(settings.store), settings.jurisdiction)
        yield
        if own:
            app.state.engine.store.close()

    app = FastAPI(
        title="graph-credit",
        version="0.1.0",
        summary="Joint incentive and joint punishment (守信联合激励和失信联合惩戒) over a responsibility graph",
        description=(
            "Approval checks (应查必查), subject profiles with provenance, related-party risk, network "
            "exploration for investigators, and the department workflow: records, cases and feedback, "
            "objections, credit repair and red/black list proposals. Authenticate with `X-API-Key` or "
            "`Authorization: Bearer <key>`. Reads of personal data need a purpose (`X-Purpose`) and are audited."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keys = load_keys(settings.demo)
    app.state.limiter = RateLimiter(settings.public_rate_per_minute)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return _error(413, "payload_too_large", f"request body exceeds {settings.max_body_bytes} bytes")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path", "header"))
        return JSONResponse({"error": {"code": "invalid_request", "field": field, "message": first["msg"],
                                       "details": [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                                                   for e in exc.errors()][:20]}}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"code": "http_error", "message": str(exc.detail)}
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(InvalidIdentifier)
    async def on_identifier(_: Request, exc: InvalidIdentifier) -> JSONResponse:
        return _error(422, "invalid_identifier", str(exc), exc.field)

    @app.exception_handler(UnknownMatter)
    async def on_matter(_: Request, exc: UnknownMatter) -> JSONResponse:
        return _error(422, "unknown_matter", str(exc), "matter")

    @app.exception_handler(NotFound)
    async def on_not_found(_: Request, exc: NotFound) -> JSONResponse:
        message = str(exc.args[0]) if exc.args else "not found"
        return _error(404, "not_found", message, message.split(":", 1)[0] if ":" in message else None)

    @app.exception_handler(LifecycleError)
    async def on_lifecycle(_: Request, exc: LifecycleError) -> JSONResponse:
        return _error(409, "invalid_state", str(exc))

    @app.exception_handler(CaseError)
    async def on_case(_: Request, exc: CaseError) -> JSONResponse:
        message = str(exc)
        return _error(422, "invalid_case", message, message.split(":", 1)[0] if ":" in message else None)

    @app.exception_handler(PermissionError)
    async def on_permission(_: Request, exc: PermissionError) -> JSONResponse:
        return _error(403, "forbidden", str(exc))

    @app.exception_handler(ValueError)
    async def on_value(_: Request, exc: ValueError) -> JSONResponse:
        message = str(exc)
        return _error(422, "invalid_value", message, message.split(":", 1)[0] if ":" in message else None)

    for router in (checks.router, subjects.router, investigate.router, departments.router, admin.router):
        app.include_router(router)
    return app
