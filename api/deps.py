"""Shared request plumbing: the engine, date parsing, and the masking/audit gate on every response."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from graph_credit import pii
from graph_credit.engine import Engine
from graph_credit.ids import person_key, persons_in, subject_key
from graph_credit.store.base import AppendsLater

from .security import Principal, audit_entry, header_text, mask_for_public


def engine(request: Request) -> Engine:
    eng: Engine = request.app.state.engine
    return eng


def today(request: Request) -> date:
    """The service's notion of today (overridable for reproducible demos and tests)."""
    fixed = request.app.state.settings.today
    return fixed or date.today()


def resolve(value: str, field: str = "subject") -> str:
    """A USCC, a resident ID number or a person key (``p`` and 24 hex digits) to a graph key."""
    return subject_key(value, field)


def screen(request: Request, who: Principal, purpose: str | None, what: str, payload: Any
           ) -> tuple[Any, dict[str, Any] | None]:
    """What may be sent, and the audit entry it needs: masks personal data for the public role; every
    read of personal data by anyone else is audited, including personal data left in free text (rows
    stored before free text was masked on the way in). The entry is None when nothing is to be audited."""
    persons = persons_in(payload)
    eng = engine(request)
    if who.role == "public":  # always: free text may hold an ID number even when no person key is present
        found = eng.store.get_persons(sorted(persons)) if persons else {}
        masked = {k: (found[k].masked_id if k in found else "***") for k in persons}
        return mask_for_public(payload, masked), None
    in_text = pii.free_text_findings(payload)
    if not persons and not in_text:
        return payload, None
    if purpose is not None and purpose == request.headers.get("x-purpose"):
        purpose = header_text(purpose)
    if not purpose or not purpose.strip():
        raise HTTPException(400, {"code": "purpose_required", "field": "X-Purpose",
                                  "message": "reading personal data needs a purpose (X-Purpose header or body)"})
    persons |= {person_key(n) for n in pii.person_ids(in_text)}
    return payload, audit_entry(who, purpose.strip(), what, persons, free_text=len(in_text))


def respond(request: Request, who: Principal, purpose: str | None, what: str, payload: Any) -> Any:
    """The payload to send (``screen``), once its audit entry is committed durably."""
    payload, entry = screen(request, who, purpose, what, payload)
    if entry is not None:
        engine(request).store.append("audit", [entry])
    return payload


async def respond_async(request: Request, who: Principal, purpose: str | None, what: str, payload: Any) -> Any:
    """``respond`` for a coroutine route: the event loop waits for the audit's commit without a thread
    blocked on it where the store commits in groups (AppendsLater)."""
    payload, entry = screen(request, who, purpose, what, payload)
    if entry is not None:
        store = engine(request).store
        if isinstance(store, AppendsLater):
            await asyncio.wrap_future(store.append_later("audit", [entry]))
        else:
            await run_in_threadpool(store.append, "audit", [entry])
    return payload
