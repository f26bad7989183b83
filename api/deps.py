"""Shared request plumbing: the engine, date parsing, and the masking/audit gate on every response."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import HTTPException, Request

from graph_credit import pii
from graph_credit.engine import Engine
from graph_credit.ids import InvalidIdentifier, person_key, persons_in, subject_key
from graph_credit.store.base import is_registered

from .security import Principal, audit_read, header_text, mask_for_public


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


def known(eng: Engine, key: str, field: str = "subject") -> str:
    """``key`` if the subject is stored (as the import requires of every reference), else a 422 naming the field."""
    if not is_registered(eng.store, key):
        raise InvalidIdentifier(field, key, "no such organisation or person is registered")
    return key


def respond(request: Request, who: Principal, purpose: str | None, what: str, payload: Any) -> Any:
    """Masks personal data for the public role; audits every read of personal data by anyone else,
    including personal data left in free text (rows stored before free text was masked on the way in)."""
    persons = persons_in(payload)
    eng = engine(request)
    if who.role == "public":  # always: free text may hold an ID number even when no person key is present
        found = eng.store.get_persons(sorted(persons)) if persons else {}
        masked = {k: (found[k].masked_id if k in found else "***") for k in persons}
        return mask_for_public(payload, masked)
    in_text = pii.free_text_findings(payload)
    if not persons and not in_text:
        return payload
    if purpose is not None and purpose == request.headers.get("x-purpose"):
        purpose = header_text(purpose)
    if not purpose or not purpose.strip():
        raise HTTPException(400, {"code": "purpose_required", "field": "X-Purpose",
                                  "message": "reading personal data needs a purpose (X-Purpose header or body)"})
    persons |= {person_key(n) for n in pii.person_ids(in_text)}
    audit_read(eng.store, who, purpose.strip(), what, persons, free_text=len(in_text))
    return payload
