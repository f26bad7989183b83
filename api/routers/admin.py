"""Policy and catalogue read-out (everyone), audit log and maintenance (admins)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Header, Query, Request

from graph_credit.errors import DomainError
from graph_credit.policy import available_jurisdictions, load_policy

from ..deps import engine, resolve, respond, today
from ..responses import AuditPage, Catalogue, Health, PolicyAnswer
from ..schemas import Day
from ..security import Principal, header_text, optional_principal, principal, require

router = APIRouter(prefix="/v1", tags=["policy and administration"])


@router.get("/policy", response_model=PolicyAnswer)
def get_policy(request: Request, as_of: Day | None = None, jurisdiction: str | None = Query(None, max_length=32),
               who: Principal = Depends(principal)) -> dict:
    """The rules in force on a date, with their legal basis, and the objection/repair settings."""
    jur = jurisdiction or engine(request).jurisdiction
    if jur not in available_jurisdictions():
        raise DomainError(f"unknown jurisdiction {jur!r}", field="jurisdiction")
    snap = load_policy(jur).at(as_of or today(request))
    return {"jurisdiction": snap.jurisdiction, "version": snap.version, "on": snap.on,
            "rules": [r.model_dump() if hasattr(r, "model_dump") else r for r in snap.rules],
            "objection": snap.objection, "repair": snap.repair, "green_channel": snap.green_channel,
            "punishment_period_days": snap.punishment_period_days, "jurisdictions": available_jurisdictions()}


@router.get("/catalogue", response_model=Catalogue)
def get_catalogue(request: Request, as_of: Day | None = None, matter: str | None = Query(None, max_length=64),
                  who: Principal = Depends(principal)) -> dict:
    """The measures catalogue (措施清单) in force, optionally only the measures bearing on one matter."""
    snap = load_policy(engine(request).jurisdiction).at(as_of or today(request))
    measures = [m for m in snap.measures if matter is None or matter in m.matters]
    return {"version": snap.version, "measures": measures, "matters": list(snap.matters.values()),
            "departments": list(snap.departments.values())}


def _instant(value: str | None, field: str) -> str | None:
    """An ISO date or date-time as the audit log writes them (UTC), for comparing as text."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DomainError("not an ISO date or date-time (2021-01-01 or 2021-01-01T08:00:00+00:00)",
                          field=field) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"audit|{seq}".encode()).decode()


def _after_cursor(cursor: str) -> int:
    try:
        kind, _, seq = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        if kind != "audit":
            raise ValueError(kind)
        return int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise DomainError("not a cursor this endpoint returned", field="cursor") from None


# Entries are read from the log in the order they were committed; one whose clock reading is this much older
# than ``since`` ends the walk (a request's entry is committed within its request, far inside this margin).
_COMMIT_SKEW = timedelta(minutes=10)


@router.get("/audit", response_model=AuditPage)
def get_audit(request: Request, key_id: str | None = Query(None, max_length=64),
              who_: str | None = Query(None, alias="who", max_length=200,
                                       description="The reader: key name or key id"),
              person: str | None = Query(None, min_length=18, max_length=25,
                                         description="Reads of this person (resident ID number or person key)"),
              purpose_: str | None = Query(None, alias="purpose", max_length=200,
                                           description="Entries whose purpose contains this text"),
              since: str | None = Query(None, max_length=40, description="From this date or date-time (UTC)"),
              until: str | None = Query(None, max_length=40, description="Before this date or date-time (UTC)"),
              cursor: str | None = Query(None, max_length=400, description="next_cursor of the previous page"),
              limit: int = Query(1000, ge=1, le=10000), purpose: str | None = Header(None, alias="X-Purpose",
                                                                                    max_length=200),
              who: Principal = Depends(require("admin"))) -> dict:
    """Who read whose personal data, when and why (admins only), newest first (in the order the entries were
    committed), `limit` per page with `next_cursor` for the next. The log names persons: reading it is itself
    a read of personal data, with a purpose, and audited."""
    store = engine(request).store
    start, end = _instant(since, "since"), _instant(until, "until")
    stop = (datetime.fromisoformat(start) - _COMMIT_SKEW).isoformat() if start else None
    key = resolve(person, "person") if person else None
    before = _after_cursor(cursor) if cursor else None
    out: list[tuple[int, dict]] = []
    chunk = min(limit + 1, 1000) * 4  # most pages are filled from one read even when filters drop entries
    while len(out) <= limit:
        rows = store.journal_page("audit", before, chunk)
        for seq, e in rows:
            if stop and e["at"] < stop:
                rows = []
                break
            if (start and e["at"] < start) or (end and e["at"] >= end):
                continue
            if key_id and e.get("key_id") != key_id:
                continue
            if who_ and who_ not in (e.get("who"), e.get("key_id")):
                continue
            if key and key not in e.get("persons", ()):
                continue
            if purpose_ and header_text(purpose_) not in (e.get("purpose") or ""):
                continue
            out.append((seq, e))
            if len(out) > limit:
                break
        if len(rows) < chunk:
            break
        before = rows[-1][0]
    page = {"entries": [e for _, e in out[:limit]],
            "next_cursor": _cursor(out[limit - 1][0]) if len(out) > limit else None}
    return respond(request, who, purpose, "audit log", page)


@router.get("/health", response_model=Health, response_model_exclude_none=True)
def health(request: Request, who: Principal | None = Depends(optional_principal)) -> dict:
    """Liveness; with an API key, also the stored counts."""
    eng = engine(request)
    if who is None:
        return {"status": "ok"}
    return {"status": "ok", "store": eng.store.name, "counts": eng.store.counts()}
