"""FastAPI application factory: settings, store and engine in the lifespan, errors as JSON."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from graph_credit.egress import EgressPolicy
from graph_credit.engine import Engine
from graph_credit.errors import DomainError
from graph_credit.monitor import Deliverer, DeliveryPolicy
from graph_credit.policy import available_jurisdictions, load_policy
from graph_credit.store import DEFAULT_STORE, Store, open_store
from graph_credit.store.base import Warms

from .routers import admin, analysis, checks, departments, investigate, monitoring, subjects, workbench
from .schemas import ErrorResponse
from .security import CostLimiter, RateLimiter, load_keys

log = logging.getLogger("graph_credit.api")

# Documented on every operation: the error body is always ErrorResponse (FastAPI's default 422 body,
# HTTPValidationError, is never sent, so it is not documented either).
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Bad request (e.g. a personal-data read without a purpose)"),
        (401, "No API key, or an unknown one"),
        (403, "The key's role or department may not do this"),
        (404, "No such subject, record, fact, edge or case item"),
        (409, "Conflicts with the stored state (lifecycle, black list)"),
        (413, "Request body too large"),
        (422, "Invalid input: the field at fault is named"),
        (429, "Rate limit or cost quota exceeded (see the Retry-After header)"),
    )
}


COST_PER_MINUTE = {"public": 2_000, "department": 8_000, "investigator": 8_000, "admin": 16_000}


@dataclass
class Settings:
    """Read from GRAPH_CREDIT_* environment variables."""

    store: str = DEFAULT_STORE
    jurisdiction: str = "default"
    demo: bool = False
    today: date | None = None
    public_rate_per_minute: int = 120
    max_body_bytes: int = 1_000_000
    auth_failures_per_minute: int = 60  # per client address: slows down guessing API keys
    # Webhook deliverer: seconds between rounds, 0 = no background thread (Settings() default; from_env: 10).
    webhook_interval: float = 0.0
    webhook_max_attempts: int = 8
    webhook_backoff: float = 30.0  # seconds before the first retry; doubles per failure, capped at an hour
    # Webhook receivers: https only, public addresses only, unless allowed (graph_credit.egress).
    webhook_receivers: EgressPolicy = field(default_factory=EgressPolicy)
    # Cost units (subjects x (depth + 1)) per key and minute, by role (api.security.CostLimiter).
    cost_per_minute: dict[str, int] = field(default_factory=lambda: dict(COST_PER_MINUTE))
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDRs); none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Server processes sharing the limits above (graph-credit serve --workers): each counts its share.
    workers: int = 1

    def delivery_policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(max_attempts=self.webhook_max_attempts, backoff=self.webhook_backoff,
                              egress_policy=self.webhook_receivers)

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
            auth_failures_per_minute=int(env("GRAPH_CREDIT_AUTH_FAILURES", str(cls.auth_failures_per_minute))),
            webhook_interval=float(env("GRAPH_CREDIT_WEBHOOK_INTERVAL", "10")),
            webhook_max_attempts=int(env("GRAPH_CREDIT_WEBHOOK_MAX_ATTEMPTS", str(cls.webhook_max_attempts))),
            webhook_backoff=float(env("GRAPH_CREDIT_WEBHOOK_BACKOFF", str(cls.webhook_backoff))),
            webhook_receivers=EgressPolicy.from_env(),
            cost_per_minute=COST_PER_MINUTE | {
                role: int(n) for role, n in (item.split("=", 1) for item in _listed(env("GRAPH_CREDIT_COST", "")))},
            trusted_proxies=_listed(env("GRAPH_CREDIT_TRUSTED_PROXIES", "")),
            workers=int(env("GRAPH_CREDIT_WORKERS", str(cls.workers))),
        )


def _share(per_minute: int, workers: int) -> int:
    """One process's part of a limit shared by ``workers`` processes (at least 1 of a limit that is not 0)."""
    return max(per_minute // max(workers, 1), min(per_minute, 1))


def _listed(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _error(status: int, code: str, message: str, field: str | None = None,
           headers: dict[str, str] | None = None, details: dict[str, object] | None = None) -> JSONResponse:
    body = {"code": code, "message": message, "field": field or None} | (details or {})
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not a Content-Length is sent
    (a chunked body is counted as it arrives and never buffered past the limit)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self.too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self.too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _error(413, "payload_too_large", f"request body exceeds {self.limit} bytes")(scope, receive, send)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Headers on every response: no MIME sniffing, no framing, no referrer; and ``Cache-Control:
    no-store`` unless the route set its own, since most answers carry personal data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        app.state.engine = Engine(store or open_store(settings.store), settings.jurisdiction)
        if own:  # a server's own store: pay the start-up costs before the first request does
            if isinstance(app.state.engine.store, Warms):
                app.state.engine.store.warm()  # the graph index: mapped from its saved files, or built once
            load_policy(settings.jurisdiction)
            for jurisdiction in available_jurisdictions():  # records are judged under their own: not on a request
                load_policy(jurisdiction)
            # What start-up loaded lives as long as the server: keep it out of the cyclic
            # collector's full passes, which otherwise walk it on every request's garbage.
            gc.collect()
            gc.freeze()
        app.state.engine.clock = lambda: settings.today or date.today()
        app.state.deliverer = None
        if settings.webhook_interval > 0:  # alerts are stored by the writes; this thread posts them
            app.state.deliverer = Deliverer(app.state.engine.store, settings.webhook_interval,
                                            app.state.engine.clock, policy=settings.delivery_policy(),
                                            jurisdiction=app.state.engine.jurisdiction)
            app.state.deliverer.start()
        yield
        if app.state.deliverer is not None:
            app.state.deliverer.stop()
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
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.keys = load_keys(settings.demo)
    # Each server process counts on its own, so each allows its share of every limit: the configured
    # totals hold across the processes (a client whose connections all reach one process gets its share).
    app.state.limiter = RateLimiter(_share(settings.public_rate_per_minute, settings.workers))
    app.state.auth_limiter = RateLimiter(_share(settings.auth_failures_per_minute, settings.workers))
    app.state.cost_limiter = CostLimiter({role: _share(n, settings.workers)
                                          for role, n in settings.cost_per_minute.items()})
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    if settings.trusted_proxies:  # the client address from X-Forwarded-For, only when a trusted proxy sent it
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request"}
        field: str | None = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path", "header"))
        message = str(first["msg"]).removeprefix("Value error, ")
        if first.get("type") == "json_invalid":  # loc is ("body", character position)
            field, message = "body", f"not valid JSON (at character {first['loc'][-1]})"
        elif not field and isinstance(cause := first.get("ctx", {}).get("error"), DomainError):
            field = cause.field  # a model-level check (api.schemas) names its field
        elif not field and tuple(first["loc"]) == ("body",):
            field = "body"
        return JSONResponse({"error": {"code": "invalid_request", "field": field or None, "message": message,
                                       "details": [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                                                   for e in errors][:20]}}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        detail: dict[str, object] = dict(exc.detail) if isinstance(exc.detail, dict) else {
            "code": codes.get(exc.status_code, "http_error"), "message": str(exc.detail)}
        detail.setdefault("field", None)
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def on_domain(_: Request, exc: DomainError) -> JSONResponse:
        # Only the domain's own errors are the client's to fix; anything else, a plain ValueError or a
        # PermissionError from the file system included, is a bug (500 below).
        return _error(exc.status, exc.code, str(exc), exc.field, details=exc.details)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: logged with its traceback, answered without internals.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # Raised past the middleware, so the security headers are added here.
        return _error(500, "internal_error", "internal error; it has been logged",
                      headers={n.decode(): v.decode() for n, v in SECURITY_HEADERS} | {"Cache-Control": "no-store"})

    default_openapi = app.openapi

    def openapi_with_json_errors() -> dict:
        """Errors are JSON on every route, HTML ones included: document them so (FastAPI files an extra
        response under the route's own media type)."""
        if app.openapi_schema is None:
            for ops in default_openapi()["paths"].values():
                for op in ops.values():
                    for status, response in op.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[:1] in "45" and "application/json" not in content:
                            for media in [m for m, c in content.items()
                                          if c.get("schema", {}).get("$ref", "").endswith("/ErrorResponse")]:
                                content["application/json"] = content.pop(media)
        return app.openapi_schema or default_openapi()

    app.openapi = openapi_with_json_errors  # type: ignore[method-assign]

    for router in (checks.router, subjects.router, investigate.router, departments.router, monitoring.router,
                   admin.router):
        app.include_router(router)
    app.include_router(analysis.router)
    app.include_router(workbench.router)  # the search endpoint and the investigator workbench page
    return app
