"""Shared request plumbing: the engine, date parsing, and the masking/audit gate on every response."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import HTTPException, Request

from graph_credit.engine import Engine
from graph_credit.ids import subject_key

from .security import Principal, audit_read, mask_for_public, persons_in


def engine(request: Request) -> Engine:
    eng: Engine = request.app.state.engine
    return eng


def today(request: Request) -> date:
    """The service's notion of today (overridable for reproducible demos and tests)."""
    fixed = request.app.state.settings.today
    return fixed or date.today()


def resolve(value: str, field: str = "subject") -> str:
    return subject_key(value, field)


def respond(request: Request, who: Principal, purpose: str | None, what: str, payload: Any) -> Any:
    """Masks personal data for the public role; audits every read of personal data by anyone else."""
    persons = persons_in(payload)
    if not persons:
        return payload
    eng = engine(request)
    if who.role == "public":
        found = eng.store.get_persons(sorted(persons))
        masked = {k: (found[k].masked_id if k in found else "***") for k in persons}
        return mask_for_public(payload, masked)
    if not purpose or not purpose.strip():
        raise HTTPException(400, {"code": "purpose_required", "field": "X-Purpose",
                                  "message": "reading personal data needs a purpose (X-Purpose header or body)"})
    audit_read(eng.store, who, purpose.strip(), what, persons)
    return payload
