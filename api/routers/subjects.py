"""Subject profile, related-party risk and ownership penetration."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query, Request

from graph_credit.graph import beneficial_owners, ownership, related_parties
from graph_credit.views import profile, step_dict, subject_dict

from ..deps import engine, resolve, respond, today
from ..schemas import Day
from ..security import Principal, charge, principal

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])
Purpose = Header(None, alias="X-Purpose", max_length=200)


@router.get("/{subject}")
def get_profile(subject: str, request: Request, as_of: Day | None = None,
                purpose: str | None = Purpose, who: Principal = Depends(principal)) -> dict:
    """Own records with lifecycle, derived consequences with status and provenance, honours, lists.
    The public role sees no record withdrawn as wrong and no consequence withdrawn with it (Jiangyin (24))."""
    eng = engine(request)
    key = resolve(subject)
    data = profile(eng.store, key, as_of or today(request))
    if who.role == "public":
        data = without_withdrawn(data)
    return respond(request, who, purpose, "profile", data)


def without_withdrawn(data: dict) -> dict:
    """A profile less the records withdrawn by an upheld objection or a revocation, and the withdrawn facts."""
    records = [r for r in data["records"] if r["withdrawn_on"] is None]
    facts = [f for f in data["derived"] if f.get("ended_by") != "withdrawn" and f.get("status") != "withdrawn"]
    return data | {"records": records, "derived": facts}


@router.get("/{subject}/related")
def get_related(subject: str, request: Request, as_of: Day | None = None,
                depth: int = Query(2, ge=1, le=3), max_fanout: int = Query(200, ge=1, le=2000),
                purpose: str | None = Purpose, who: Principal = Depends(principal)) -> dict:
    """Scored related parties up to `depth` hops (roles, shareholding up and down, shared persons)."""
    eng = engine(request)
    key = resolve(subject)
    on = as_of or today(request)
    charge(request, who, 1, depth)
    parties, hood = related_parties(eng.store, key, on, depth, max_fanout)
    data = {"subject": key, "as_of": on, "depth": depth, "truncated": hood.truncated,
            "related": [{"subject": subject_dict(eng.store, p.subject), "distance": p.distance, "score": p.score,
                         "reasons": p.reasons, "path": [step_dict(s) for s in p.path]} for p in parties]}
    return respond(request, who, purpose, "related", data)


@router.get("/{subject}/ownership")
def get_ownership(subject: str, request: Request, as_of: Day | None = None,
                  threshold: float = Query(0.25, gt=0, le=1),
                  purpose: str | None = Purpose, who: Principal = Depends(principal)) -> dict:
    """Ownership penetration as `graph_credit.graph` computes it: every direct and indirect holder with its
    direct ratio, effective stake (multiplied along chains, summed) and control share (votes it commands,
    counting organisations it controls in full); the beneficial owners are natural persons owning or
    commanding at least `threshold` (25% or more by default) or controlling the organisation, else the
    person in charge of its management (`risk.beneficial_owners`)."""
    eng = engine(request)
    key = resolve(subject)
    on = as_of or today(request)
    own = ownership(eng.store, key, on)
    owners = beneficial_owners(eng.store, key, on, threshold)
    flagged = {b.person for b in owners}
    direct = own.direct()
    holders = [{"holder": h, "direct": direct.get(h, 0.0), "effective_stake": round(own.stakes.get(h, 0.0), 6),
                "control_share": round(own.control.get(h, 0.0), 6), "beneficial_owner": h in flagged}
               for h in dict.fromkeys([*own.stakes, *own.control])]
    data = {"subject": key, "as_of": on, "threshold": threshold, "holders": holders,
            "beneficial_owners": [{"person": b.person, "effective_stake": b.effective_stake,
                                   "control_share": b.control_share, "criteria": list(b.criteria)} for b in owners],
            "truncated": own.truncated}
    return respond(request, who, purpose, "ownership", data)
