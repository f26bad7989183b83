"""Policy and catalogue read-out (everyone), audit log and maintenance (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Request

from graph_credit.policy import available_jurisdictions, load_policy

from ..deps import engine, respond, today
from ..schemas import Day
from ..security import Principal, principal, require

router = APIRouter(prefix="/v1", tags=["policy and administration"])


@router.get("/policy")
def get_policy(request: Request, as_of: Day | None = None, jurisdiction: str | None = Query(None, max_length=32),
               who: Principal = Depends(principal)) -> dict:
    """The rules in force on a date, with their legal basis, and the objection/repair settings."""
    jur = jurisdiction or engine(request).jurisdiction
    if jur not in available_jurisdictions():
        raise ValueError(f"jurisdiction: unknown jurisdiction {jur!r}")
    snap = load_policy(jur).at(as_of or today(request))
    return {"jurisdiction": snap.jurisdiction, "version": snap.version, "on": snap.on,
            "rules": [r.model_dump() if hasattr(r, "model_dump") else r for r in snap.rules],
            "objection": snap.objection, "repair": snap.repair, "green_channel": snap.green_channel,
            "punishment_period_days": snap.punishment_period_days, "jurisdictions": available_jurisdictions()}


@router.get("/catalogue")
def get_catalogue(request: Request, as_of: Day | None = None, matter: str | None = Query(None, max_length=64),
                  who: Principal = Depends(principal)) -> dict:
    """The measures catalogue (措施清单) in force, optionally only the measures bearing on one matter."""
    snap = load_policy(engine(request).jurisdiction).at(as_of or today(request))
    measures = [m for m in snap.measures if matter is None or matter in m.matters]
    return {"version": snap.version, "measures": measures, "matters": list(snap.matters.values()),
            "departments": list(snap.departments.values())}


@router.get("/audit")
def get_audit(request: Request, key_id: str | None = Query(None, max_length=64),
              limit: int = Query(1000, ge=1, le=10000), purpose: str | None = Header(None, alias="X-Purpose",
                                                                                    max_length=200),
              who: Principal = Depends(require("admin"))) -> dict:
    """Who read whose personal data, when and why (admins only). The log names persons: reading it is
    itself a read of personal data, with a purpose, and audited."""
    where = {"key_id": key_id} if key_id else None
    return respond(request, who, purpose, "audit log", {"entries": engine(request).store.query("audit", where, limit)})


@router.get("/health")
def health(request: Request) -> dict:
    """Liveness and stored counts."""
    eng = engine(request)
    return {"status": "ok", "store": eng.store.name, "counts": eng.store.counts()}
