"""Alerts. Every engine write collects what it changed (records, list entries, role edges, lifecycle events,
and derived facts: added, ended, withdrawn, suspended, resumed, removed) in a ``Changes``; before the write
commits, it hands them to ``record_write`` once, which journals the write's notices and matches the changes
against the active subscriptions, appending one alert per subscription in the same transaction. The alert id
is a hash of the subscription and the changes, so replaying a write cannot produce a second alert. With no
active subscription monitoring costs one journal query per write. Natural expiry is not a write: ``alerts_due``
produces expiry alerts as of a date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, cast

from ..changes import Changes
from ..graph.traversal import Step, neighbourhood
from ..journal import Alert
from ..model import SCHEDULED_ENDS, DerivedFact, RoleEdge, stable_id
from ..store.base import Direction, Store
from .notices import _scheduled_change, address_notices, notices_due
from .subscriptions import MAX_FANOUT, _iso, _key, _now


# -- change collection and alerts ---------------------------------------------------------------------
def _fact_item(f: DerivedFact, change: str, today: date) -> dict[str, Any]:
    return {"kind": "measure", "change": change, "subjects": [f.target], "subject": f.target,
            "fact_id": f.fact_id, "cause": str(f.cause), "consequence": f.consequence, "rule_id": f.rule_id,
            "target_role": f.target_role, "valid_from": _iso(f.valid_from), "valid_to": _iso(f.valid_to),
            **f.ends_on(today), "object_id": f.object_id, "status": f.status_on(today)}


def _fact_change(old: DerivedFact | None, new: DerivedFact) -> str:
    if old is None:
        return "added"
    if new.ended_by is not None and new.ended_by != old.ended_by:
        return "withdrawn" if new.ended_by == "withdrawn" else "ended"
    was_open = any(b is None for _, b in old.suspended)
    is_open = any(b is None for _, b in new.suspended)
    if is_open and not was_open:
        return "suspended"
    if was_open and not is_open:
        return "resumed"
    return "changed"


def _items(changes: Changes, today: date) -> list[dict[str, Any]]:
    """The alert items of one write: each stored item that changed, each lifecycle event, each fact."""
    items: list[dict[str, Any]] = []

    def add(item: dict[str, Any]) -> None:
        item["item_id"] = _key({k: v for k, v in item.items() if k != "status"})
        items.append(item)

    for old, r in changes.records:
        if old != r:
            add({"kind": "record", "change": "added" if old is None else "changed",
                 "subjects": sorted({r.subject} | ({old.subject} if old else set())), "subject": r.subject,
                 "record_id": r.record_id, "category": r.category, "severity": r.severity,
                 "decision_date": _iso(r.decision_date), "act_date": _iso(r.act_date),
                 "period_end": _iso(r.period_end), "department": r.department})
    for old_entry, e in changes.list_entries:
        if old_entry != e:
            add({"kind": "list_entry", "change": "added" if old_entry is None else "changed",
                 "subjects": sorted({e.subject} | ({old_entry.subject} if old_entry else set())),
                 "subject": e.subject, "entry_id": e.entry_id, "list": e.list, "name": e.name, "status": e.status,
                 "previous_status": old_entry.status if old_entry else None, "valid_from": _iso(e.valid_from),
                 "valid_to": _iso(e.valid_to), "determining_unit": e.determining_unit})
    roles = [(edge, "added" if old_edge is None else "ended" if old_edge.valid_to is None and edge.valid_to is not None
              else "changed") for old_edge, edge in changes.roles if old_edge != edge]
    for edge, change in [*roles, *((edge, "deleted") for edge in changes.roles_deleted)]:
        add({"kind": "role", "change": change, "subjects": sorted({edge.holder, edge.org}), "subject": edge.org,
             "edge_id": edge.edge_id, "holder": edge.holder, "role": edge.role.value, "org": edge.org,
             "valid_from": _iso(edge.valid_from), "valid_to": _iso(edge.valid_to), "ratio": edge.ratio})
    for event, cause, subject in changes.events:
        kind, id_field = ("record", "record_id") if cause.kind == "record" else ("list_entry", "entry_id")
        add({"kind": kind, "change": event.kind, "subjects": [subject], "subject": subject,
             id_field: cause.id, "event_id": event.event_id, "on": _iso(event.on), "detail": event.detail})
    for f in changes.added:
        add(_fact_item(f, _fact_change(changes.prior.get(f.fact_id), f), today))
    for f in changes.removed:
        add(_fact_item(f, "removed", today))
    return items


class _Restored:
    """The store's role edges as they were before ``deleted`` were deleted, for the generic traversal (it has
    no ``traverse``, so ``neighbourhood`` reads ``roles_of``): who was in a watched network before."""

    def __init__(self, store: Store, deleted: Sequence[RoleEdge]) -> None:
        self._store, self._deleted = store, deleted

    def roles_of(self, nodes: Sequence[str], direction: Direction = "both", as_of: date | None = None
                 ) -> list[RoleEdge]:
        wanted = set(nodes)
        back = [e for e in self._deleted if (as_of is None or e.active_on(as_of))
                and ((direction != "out" and e.org in wanted) or (direction != "in" and e.holder in wanted))]
        return [*self._store.roles_of(nodes, direction, as_of), *back]


def _via(steps: Iterable[Step]) -> list[dict[str, Any]]:
    return [{"edge_id": s.edge_id, "holder": s.holder, "role": s.role, "org": s.org,
             "valid_from": _iso(s.valid_from), "valid_to": _iso(s.valid_to)} for s in steps]


Match = tuple[dict[str, Any], int, list[dict[str, Any]]]  # item, distance, path from the watched subject


def _match(
    store: Store, subs: list[dict[str, Any]], items: list[dict[str, Any]], as_of: date, max_fanout: int
) -> dict[str, list[Match]]:
    """For each subscription, the items touching a subject within its depth (shortest path)."""
    by_subject: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        for s in item["subjects"]:
            by_subject[s].append(i)
    reach: dict[tuple[str, str], tuple[int, list[dict[str, Any]]]] = {
        (sub["subject"], sub["subject"]): (0, []) for sub in subs if sub["subject"] in by_subject}
    deep: dict[str, int] = {}
    for sub in subs:
        if sub["depth"] > 0:
            deep[sub["subject"]] = max(deep.get(sub["subject"], 0), int(sub["depth"]))
    changed = sorted(by_subject)
    if deep and len(deep) <= len(changed):  # walk out from the watched subjects
        for s, depth in sorted(deep.items()):
            hood = neighbourhood(store, s, as_of, depth, max_fanout)
            for x in changed:
                if x != s and x in hood.distance:
                    reach[(s, x)] = (hood.distance[x], _via(hood.paths[x]))
    elif deep:  # fewer changed subjects than watched ones: walk out from the changes
        top = max(deep.values())
        for x in changed:
            hood = neighbourhood(store, x, as_of, top, max_fanout)
            for s in deep:
                if s != x and s in hood.distance:
                    reach[(s, x)] = (hood.distance[s], _via(reversed(hood.paths[s])))
    out: dict[str, list[Match]] = {}
    for sub in subs:
        best: dict[int, tuple[int, list[dict[str, Any]]]] = {}
        for x, indices in by_subject.items():
            found = reach.get((sub["subject"], x))
            if found is None or found[0] > sub["depth"]:
                continue
            for i in indices:
                if i not in best or found[0] < best[i][0]:
                    best[i] = found
        if best:
            out[sub["id"]] = [(items[i], d, via) for i, (d, via) in sorted(best.items())]
    return out


def _left_network(store: Store, changes: Changes, items: list[dict[str, Any]], sub: dict[str, Any],
                  matched: list[Match], today: date, max_fanout: int) -> list[Match]:
    """A role deletion names the related parties it took out of the watched network (no longer within the
    subscription's depth) and the measures in force on them: those still stored, and those the deletion
    removed (a personal credit entry derived through the deleted edge)."""
    restored = cast(Store, _Restored(store, changes.roles_deleted))
    before = neighbourhood(restored, sub["subject"], today, int(sub["depth"]), MAX_FANOUT).distance
    after = neighbourhood(store, sub["subject"], today, int(sub["depth"]), max_fanout).distance
    gone = sorted(set(before) - set(after))
    measures: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    removed = [i for i in items if i["kind"] == "measure" and i["change"] == "removed" and i["subject"] in gone]
    for item in [*(_fact_item(f, "in_force", today) for f in store.facts_of(gone)), *removed]:
        if item["status"] in ("active", "suspended"):
            measures[item["subject"]][item["fact_id"]] = {k: item[k] for k in (
                "fact_id", "cause", "consequence", "rule_id", "status", "valid_from", "valid_to")} | {
                "removed": item["change"] == "removed"}
    left = [{"subject": n, "distance": before[n], "measures": [m for _, m in sorted(measures[n].items())]}
            for n in gone]
    return [({**item, "left_network": left} if (item["kind"], item["change"]) == ("role", "deleted") else item, d, via)
            for item, d, via in matched]


def _alert_row(sub: dict[str, Any], matched: list[Match], trigger: str, as_of: date) -> Alert:
    items = sorted(({**item, "distance": d, "via": via} for item, d, via in matched), key=lambda i: i["item_id"])
    now = _now().isoformat()
    webhook = bool(sub.get("webhook_url"))
    return cast(Alert, {
        "id": stable_id("alert", sub["id"], *(i["item_id"] for i in items)),
        "subscription_id": sub["id"], "subject": sub["subject"], "depth": sub["depth"],
        "department": sub.get("department"), "owner_key": sub.get("owner_key"), "trigger": trigger,
        "as_of": as_of.isoformat(), "created_at": now, "items": items,
        "delivery_state": "pending" if webhook else "none", "attempts": 0, "last_status": None,
        "last_error": None, "next_attempt_at": now if webhook else None, "delivered_at": None, "history": [],
    })


def record_write(store: Store, changes: Changes, today: date, max_fanout: int = MAX_FANOUT) -> list[Alert]:
    """What monitoring does with one write, called once by the write path before it commits: journal the
    write's notices (those naming no department to the departments holding case items on them), and append
    one alert per active subscription the changes concern."""
    if changes.notices:
        unaddressed = [n for n in changes.notices if "departments" not in n]
        if unaddressed:
            address_notices(store, unaddressed, [*changes.added, *changes.removed])
        store.append("notices", changes.notices)
    subs = store.query("subscriptions", {"status": "active"})
    items = _items(changes, today) if subs else []
    if not items:
        return []
    matches = _match(store, subs, items, today, max_fanout)
    if changes.roles_deleted:
        for sub in subs:
            if sub["id"] in matches and sub["depth"] > 0:
                matches[sub["id"]] = _left_network(store, changes, items, sub, matches[sub["id"]], today, max_fanout)
    alerts = [_alert_row(sub, matches[sub["id"]], changes.reason, today)
              for sub in sorted(subs, key=lambda s: s["id"]) if sub["id"] in matches]
    if alerts:
        store.append("alerts", cast(list[dict[str, Any]], alerts))
    return alerts


def alerts_due(store: Store, as_of: date, max_fanout: int = MAX_FANOUT) -> list[Alert]:
    """Expiry alerts: measures on watched subjects that ended by their natural end date, from the
    subscription's start to ``as_of``; one alert per subscription and end date, deterministic ids."""
    out: list[Alert] = []
    for sub in sorted(store.query("subscriptions", {"status": "active"}), key=lambda s: s["id"]):
        since = date.fromisoformat(sub["since"])
        if as_of < since:
            continue
        if sub["depth"] > 0:
            hood = neighbourhood(store, sub["subject"], as_of, int(sub["depth"]), max_fanout)
            distance, paths = hood.distance, hood.paths
        else:
            distance, paths = {sub["subject"]: 0}, {sub["subject"]: ()}
        by_end: dict[date, list[Match]] = defaultdict(list)
        for f in store.facts_of(sorted(distance)):
            if f.valid_to is None or not since <= f.valid_to <= as_of or f.ended_by not in SCHEDULED_ENDS:
                continue
            item = _fact_item(f, _scheduled_change(f), as_of)
            item["item_id"] = _key({k: v for k, v in item.items() if k != "status"})
            by_end[f.valid_to].append((item, distance[f.target], _via(paths[f.target])))
        out += [_alert_row(sub, matched, "expiry", as_of) for _, matched in sorted(by_end.items())]
    return out


def sweep(store: Store, as_of: date, max_fanout: int = MAX_FANOUT, jurisdiction: str = "default") -> dict[str, Any]:
    """The time-driven part: expiry notices, exit announcements and expiry alerts as of a date, under the
    deployment's ``jurisdiction``. Idempotent."""
    notices = notices_due(store, as_of, write=False, jurisdiction=jurisdiction)
    alerts = alerts_due(store, as_of, max_fanout)
    with store.transaction():
        new_notices = store.append("notices", notices) if notices else 0
        new_alerts = store.append("alerts", cast(list[dict[str, Any]], alerts)) if alerts else 0
    return {"as_of": as_of.isoformat(), "notices_due": len(notices), "notices_new": new_notices,
            "alerts_due": len(alerts), "alerts_new": new_alerts}
