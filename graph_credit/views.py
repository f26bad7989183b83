"""Read models shared by the API, the CLI and notebooks: profile, timeline, graph JSON."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any

from .graph.traversal import Neighbourhood, Step
from .model import DerivedFact, DishonestyRecord
from .policy.loader import load_policy
from .rules.derive import subject_kind
from .rules.governing import lifecycle_of
from .store.base import NotFound, Store, require_known

__all__ = ["explain", "fact_dict", "graph_json", "profile", "record_dict", "step_dict", "subject_dict", "timeline"]


def _plain(obj: object) -> dict:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: (v.value if hasattr(v, "value") else v) for k, v in asdict(obj).items()}
    raise TypeError(type(obj))


def fact_dict(f: DerivedFact, status: str | None = None) -> dict:
    d = _plain(f)
    d["cause"] = str(f.cause)
    d["target_kind"] = subject_kind(f.target)
    if status is not None:
        d["status"] = status
    return d


def record_dict(r: DishonestyRecord) -> dict:
    d = _plain(r)
    d["responsible"] = [{"person": x.person, "role": x.role.value if x.role else None} for x in r.responsible]
    return d


def subject_dict(store: Store, key: str) -> dict[str, Any]:
    if subject_kind(key) == "person":
        p = store.get_persons([key]).get(key)
        if p is None:
            return {"key": key, "kind": "person", "known": False}
        return {"key": p.key, "kind": "person", "name": p.name, "masked_id": p.masked_id, "region": p.region}
    o = store.get_organisations([key]).get(key)
    if o is None:
        return {"key": key, "kind": "organisation", "known": False}
    d = asdict(o)
    d["key"] = d.pop("code")
    return {"kind": "organisation", **d}


def step_dict(s: Step) -> dict[str, Any]:
    return {"from": s.source, "to": s.target, "edge_id": s.edge_id, "role": s.role, "valid_from": s.valid_from,
            "valid_to": s.valid_to, "ratio": s.ratio}


def profile(store: Store, key: str, as_of: date) -> dict[str, Any]:
    """Own records with lifecycle, derived facts with status and provenance, honours, list entries."""
    require_known(store, key)
    subject = subject_dict(store, key)
    facts = store.facts_of([key])
    records = []
    for r in store.records_of([key]):
        life = lifecycle_of(store, r)  # under the record's own policy, as /v1/objections shows it
        records.append({**record_dict(r), "withdrawn_on": life.withdrawn_on, "repaired_on": life.repaired_on,
                        "objections": [asdict(o) for o in life.objections]})
    revoked = {f.object_id: f for f in facts if f.consequence == "honour_revocation"}
    honours = []
    for h in store.honours_of([key]):
        f = revoked.get(h.honour_id)
        status = "active"
        if h.awarded_on > as_of:
            status = "not_yet_awarded"
        elif f is not None and f.status_on(as_of) == "active":
            status = "revoked"
        honours.append({**asdict(h), "status": status, "revoked_by": f.fact_id if f and status == "revoked" else None})
    lists = []
    removed = {f.object_id: f for f in facts if f.consequence == "red_list_removal" and f.status_on(as_of) == "active"}
    for e in store.list_entries_of([key]):
        d = asdict(e)
        if e.entry_id in removed:
            d["status"] = "removed_by_black_list"
            d["removed_by"] = removed[e.entry_id].fact_id
        lists.append(d)
    fact_rows = [fact_dict(f, f.status_on(as_of)) for f in facts]
    active = {f["consequence"] for f in fact_rows if f["status"] == "active"}
    monitoring = ("key_supervision" if "key_supervision" in active
                  else "key_monitoring" if "key_monitoring" in active else None)
    return {"subject": subject, "as_of": as_of, "records": records, "derived": fact_rows, "honours": honours,
            "list_entries": lists, "monitoring": monitoring,
            "active_consequences": sorted(active)}


def timeline(store: Store, key: str) -> list[dict[str, Any]]:
    """Dated events of a subject: roles taken and left, records, lifecycle events, list entries, facts."""
    items: list[dict[str, Any]] = []
    for e in store.roles_of([key], "both"):
        other = e.org if e.holder == key else e.holder
        items.append({"on": e.valid_from, "kind": "role_start", "role": e.role.value, "with": other,
                      "edge_id": e.edge_id})
        if e.valid_to:
            items.append({"on": e.valid_to, "kind": "role_end", "role": e.role.value, "with": other,
                          "edge_id": e.edge_id})
    records = store.records_of([key])
    for r in records:
        if r.act_date:
            items.append({"on": r.act_date, "kind": "act", "record_id": r.record_id, "category": r.category})
        items.append({"on": r.decision_date, "kind": "record", "record_id": r.record_id, "severity": r.severity})
    entries = store.list_entries_of([key])
    for ev in store.events_of([r.record_id for r in records] + [e.entry_id for e in entries]):
        items.append({"on": ev.on, "kind": ev.kind, "cause_id": ev.cause_id, "detail": ev.detail})
    for le in entries:
        items.append({"on": le.valid_from, "kind": f"{le.list}_list", "entry_id": le.entry_id, "name": le.name})
    for f in store.facts_of([key]):
        items.append({"on": f.valid_from, "kind": "consequence", "consequence": f.consequence,
                      "rule_id": f.rule_id, "fact_id": f.fact_id})
        if f.valid_to:
            items.append({"on": f.valid_to, "kind": f"consequence_{f.ended_by or 'ended'}",
                          "consequence": f.consequence, "fact_id": f.fact_id})
    return sorted(items, key=lambda i: (i["on"], i["kind"]))


def graph_json(store: Store, hood: Neighbourhood) -> dict[str, Any]:
    """Nodes and edges a graph viewer can draw, with each node's adverse status as of the date."""
    keys = sorted(hood.distance)
    orgs = store.get_organisations([k for k in keys if subject_kind(k) == "organisation"])
    persons = store.get_persons([k for k in keys if subject_kind(k) == "person"])
    status: dict[str, set[str]] = {}
    for f in store.facts_of(keys):
        if f.status_on(hood.as_of) == "active":
            status.setdefault(f.target, set()).add(f.consequence)
    nodes = []
    for k in keys:
        kind = subject_kind(k)
        name = orgs[k].name if k in orgs else persons[k].name if k in persons else ""
        nodes.append({"id": k, "kind": kind, "name": name, "distance": hood.distance[k],
                      "consequences": sorted(status.get(k, ())),
                      "truncated_edges": hood.truncated.get(k, 0)})
    edges = [{"id": e.edge_id, "source": e.holder, "target": e.org, "role": e.role.value,
              "valid_from": e.valid_from, "valid_to": e.valid_to, "ratio": e.ratio, "title": e.title}
             for e in sorted(hood.edges.values(), key=lambda e: e.edge_id)]
    return {"origin": hood.origin, "as_of": hood.as_of, "depth": hood.depth, "nodes": nodes, "edges": edges,
            "truncated": hood.truncated}


def explain(store: Store, fact_id: str) -> dict[str, Any]:
    """The provenance chain of one fact: cause (record or list entry), edge, rule, basis, lifecycle."""
    for f in store.get_facts([fact_id]).values():
        chain: dict = {"fact": fact_dict(f)}
        if f.cause.kind == "record":
            rec = store.get_records([f.cause.id]).get(f.cause.id)
            chain["record"] = record_dict(rec) if rec else None
        else:
            entry = store.get_list_entries([f.cause.id]).get(f.cause.id)
            chain["list_entry"] = entry and _plain(entry)
        if f.edge_id:
            edge = store.get_roles([f.edge_id]).get(f.edge_id)
            chain["edge"] = _plain(edge) if edge else {"edge_id": f.edge_id, "deleted": True}
        snap = load_policy(f.jurisdiction)
        try:
            rule = snap.at(f.valid_from).rule(f.rule_id)
            chain["rule"] = {"id": rule.id, "version": rule.version, "title": rule.title,
                             "basis": [b.model_dump() if hasattr(b, "model_dump") else _plain(b)
                                       for b in rule.basis]}
        except KeyError:
            chain["rule"] = {"id": f.rule_id, "version": f.rule_version, "basis": list(f.basis)}
        chain["events"] = [_plain(e) for e in store.events_of([f.cause.id])]
        return chain
    raise NotFound(f"fact_id: no derived fact {fact_id!r}")
