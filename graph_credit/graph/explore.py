"""What the investigator workbench reads: subjects found by a search, and one subject's role edges in force
on a date, page by page, each subject with its status on the date and the causes behind it.

Both are plain read models (JSON-ready dicts); masking and the audit of personal data are the API's job.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import date
from typing import Any

from stdnum.cn import ric

from ..analytics.status import ADVERSE_STATUSES, status_of
from ..ids import is_person_key, person_key
from ..model import Organisation, Person, Role
from ..rules.derive import subject_kind
from ..store.base import Store, SubjectKind, require_known

__all__ = ["ROLE_ORDER", "roles_page", "search", "subject_views"]

ROLE_ORDER = {r.value: i for i, r in enumerate(Role)}  # the model's order: legal representative first


def _identity(s: Organisation | Person) -> dict[str, Any]:
    if isinstance(s, Person):
        return {"key": s.key, "kind": "person", "name": s.name, "masked_id": s.masked_id, "region": s.region}
    d = asdict(s)
    return {"key": d.pop("code"), "kind": "organisation", **d}


def subject_views(store: Store, keys: list[str], on: date, exposure: bool = False) -> dict[str, dict[str, Any]]:
    """Each subject as the workbench draws it: who it is, its status on the date (the most severe
    consequence in force) and, for the hover text, each consequence in force with its rule and cause; for
    an organisation, with ``exposure``, the holders of its roles on the date whose own status is adverse
    (a firm run by a banned person is not drawn as clean; it names persons, so a search leaves it out)."""
    orgs = store.get_organisations([k for k in keys if not is_person_key(k)])
    persons = store.get_persons([k for k in keys if is_person_key(k)])
    causes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in store.facts_of(keys):
        if f.status_on(on) == "active":
            causes[f.target].append({"fact_id": f.fact_id, "consequence": f.consequence, "rule_id": f.rule_id,
                                     "cause": str(f.cause), "valid_from": f.valid_from, "valid_to": f.valid_to})
    exposed = _exposure(store, list(orgs), on) if exposure else {}
    out = {}
    for k in keys:
        found = orgs.get(k) or persons.get(k)
        view = _identity(found) if found else {"key": k, "kind": subject_kind(k), "name": "", "known": False}
        mine = sorted(causes.get(k, ()), key=lambda c: (c["consequence"], c["fact_id"]))
        consequences = sorted({c["consequence"] for c in mine})
        view.update(consequences=consequences, status=status_of(consequences))
        view["causes"] = mine
        if exposure:
            view["exposure"] = exposed.get(k, [])
        out[k] = view
    return out


def _exposure(store: Store, orgs: list[str], on: date) -> dict[str, list[dict[str, Any]]]:
    """``org -> [{holder, role, status}]`` for the holders of its roles in force on ``on`` whose status is
    adverse (banned, black-listed, dishonest)."""
    edges = store.roles_of(orgs, "in", as_of=on) if orgs else []
    held: dict[str, set[str]] = defaultdict(set)
    for f in store.facts_of(sorted({e.holder for e in edges})):
        if f.status_on(on) == "active":
            held[f.target].add(f.consequence)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(edges, key=lambda e: (ROLE_ORDER[e.role.value], e.holder)):
        status = status_of(held.get(e.holder, ()))
        if status in ADVERSE_STATUSES:
            out[e.org].append({"holder": e.holder, "role": e.role.value, "status": status})
    return out


def search(store: Store, text: str, region: str, industry: str, kind: SubjectKind | None, on: date,
           limit: int, offset: int) -> dict[str, Any]:
    """Subjects by code prefix, name or masked ID fragment, region prefix and industry (``Store.search_subjects``);
    a whole resident ID number or person key finds that person (the store keeps only its pseudonym)."""
    text = text.strip()
    if (len(text) == 18 and ric.is_valid(text.upper())) or is_person_key(text):
        key = text if is_person_key(text) else person_key(text.upper(), "q")
        found: list[Organisation | Person] = []
        if kind != "organisation" and not industry:
            found = [p for p in store.get_persons([key]).values() if p.region.startswith(region)]
        page, more = found[offset:offset + limit], False
    else:
        hits = store.search_subjects(text, region, industry, kind, limit + 1, offset)
        page, more = hits[:limit], len(hits) > limit
    keys = [s.code if isinstance(s, Organisation) else s.key for s in page]
    views = subject_views(store, keys, on)
    return {"q": text, "region": region or None, "industry": industry or None, "kind": kind, "as_of": on,
            "offset": offset, "limit": limit, "next_offset": offset + limit if more else None,
            "subjects": [views[k] for k in keys]}


def roles_page(store: Store, key: str, on: date, offset: int, limit: int) -> dict[str, Any]:
    """The role edges of ``key`` in force on ``on`` (held in it and held by it), ``limit`` of them from
    ``offset``, with the subjects at their other ends; and ``changes``, every date on which one of its
    edges began or ended or one of its consequences came into force or ended (the workbench's time axis)."""
    require_known(store, key)
    edges = store.roles_of([key], "both")
    facts = store.facts_of([key])
    changes = {e.valid_from for e in edges} | {e.valid_to for e in edges if e.valid_to}
    changes |= {f.valid_from for f in facts} | {f.valid_to for f in facts if f.valid_to}
    current = sorted((e for e in edges if e.active_on(on)),
                     key=lambda e: (ROLE_ORDER[e.role.value], -(e.ratio or 0.0), e.edge_id))
    page = current[offset:offset + limit]
    ends = [e.org if e.holder == key else e.holder for e in page]
    views = subject_views(store, list(dict.fromkeys([key, *ends])), on, exposure=True)
    return {
        "subject": views[key], "as_of": on, "total": len(current), "offset": offset, "limit": limit,
        "next_offset": offset + limit if offset + limit < len(current) else None,
        "edges": [{"id": e.edge_id, "source": e.holder, "target": e.org, "role": e.role.value,
                   "valid_from": e.valid_from, "valid_to": e.valid_to, "ratio": e.ratio, "title": e.title}
                  for e in page],
        "nodes": [views[k] for k in dict.fromkeys(ends)],
        "changes": sorted(changes),
    }
