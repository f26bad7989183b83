"""Withdrawal notices. The engine journals a notice whenever a consequence is removed or ended early
(objection upheld, revocation, repair, exit, corrected registration data); ``address_notices`` addresses each
one to the departments whose case items (``graph_credit.cases``) reference the fact, or the same consequence
on the same target from the same cause, naming their measures. Natural expiry is not a write, so
``notices_due`` (and ``sweep``, with the expiry alerts) produce expiry notices as of a date. Each department
sees and acknowledges its own part.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, cast

from ..journal import Notice, NoticeView
from ..model import SCHEDULED_ENDS, Cause, DerivedFact, ListEntry, stable_id
from ..policy.schema import NoticePolicy
from ..store.base import NotFound, Store
from .subscriptions import _iso, _now

EARLY_ENDS = ("withdrawn", "repaired", "exited")

# -- withdrawal notices ---------------------------------------------------------------------------------
def _same_consequence(a: DerivedFact | None, b: DerivedFact | None) -> bool:
    return a is not None and b is not None and (a.target, a.consequence, a.object_id) == (
        b.target, b.consequence, b.object_id)


def _item_ref(item: dict[str, Any]) -> dict[str, Any]:
    return {"item_id": item["id"], "case_id": item["case_id"], "department": item["department"],
            "measure": item["measure"], "measure_name": item.get("measure_name"), "target": item["target"],
            "fact_id": item["fact_id"], "feedback": item.get("status")}


def address_notices(store: Store, notices: list[dict[str, Any]], facts: Iterable[DerivedFact] = ()) -> None:
    """Address notices (in place) to the departments that received the consequence through a case.

    A fact notice goes to the case items naming that fact, or the same consequence on the same target
    from the same cause (an item is opened once per measure, department and target, whichever edge
    carried it); a remedy (clarification, clawback) to every item of the cause's cases.
    ``still_applies_via`` lists facts of the cause that keep the same consequence in force.
    """
    known = {f.fact_id: f for f in facts}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in notices:
        n.setdefault("departments", [])
        n.setdefault("items", [])
        n.setdefault("acknowledged", {})
        groups[n["cause"]].append(n)
    for cause_text, group in groups.items():
        items = [it for case in store.query("cases", {"cause": cause_text})
                 for it in store.query("case_items", {"case_id": case["id"]})]
        if not items:
            continue
        lookup = dict(known)
        missing = sorted({it["fact_id"] for it in items} - set(lookup))
        if missing:
            lookup.update(store.get_facts(missing))
        current = store.facts_by_cause([Cause.parse(cause_text)])
        for n in group:
            if "fact_id" in n:
                fact = lookup.get(n["fact_id"])
                matched = [it for it in items
                           if it["fact_id"] == n["fact_id"] or _same_consequence(lookup.get(it["fact_id"]), fact)]
                n["still_applies_via"] = sorted(
                    f.fact_id for f in current
                    if f.fact_id != n["fact_id"] and _same_consequence(f, fact) and f.ended_by not in EARLY_ENDS)
            else:
                matched = items
            matched.sort(key=lambda it: (it["department"], it["measure"], it["id"]))
            n["items"] = [_item_ref(it) for it in matched]
            n["departments"] = sorted({it["department"] for it in matched})


def _scheduled_change(f: DerivedFact) -> str:
    """What a scheduled end did: a punishment period expired, a list entry's term ended (the subject exited)."""
    return "exited" if f.ended_by == "scheduled_exit" else "expired"


def _expiry_notice(f: DerivedFact) -> dict[str, Any]:
    # the same shape and id scheme as the engine's notices (graph_credit.engine._notice)
    change, reason = _scheduled_change(f), "expiry" if f.ended_by == "expired" else "scheduled_exit"
    return {"id": stable_id(f.fact_id, change, f.valid_to, reason), "fact_id": f.fact_id, "cause": str(f.cause),
            "target": f.target, "consequence": f.consequence, "rule_id": f.rule_id, "change": change,
            "reason": reason, "effective": _iso(f.valid_to)}


def exit_announcement(entry: ListEntry, reason: str, on: date, key: str, announcement: NoticePolicy) -> dict:
    """To the determining unit: announce the exit through the channel the listing was published on (an exit
    decision, or the listing's term reaching its end)."""
    return {
        "id": stable_id(entry.entry_id, "exit_announcement", key),
        "cause": str(Cause("list", entry.entry_id)), "target": entry.subject, "change": "exit_announcement",
        "reason": reason, "effective": on.isoformat(), "list": entry.list, "list_name": entry.name,
        "channel": "original publicity channel",
        "publicity": {"from": entry.publicity_from and entry.publicity_from.isoformat(),
                      "to": entry.publicity_to and entry.publicity_to.isoformat()},
        "departments": [entry.determining_unit], "items": [], "acknowledged": {},
        "basis": [str(b) for b in announcement.basis],
    }


def _announcements_due(store: Store, as_of: date, jurisdiction: str,
                        stored: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Exit announcements for listings whose term ended on or before ``as_of`` with no exit decision before it,
    where the listing's policy requires one (Jiangyin (17)). One already ``stored`` is taken as stored: its
    listing's history is not read again on every sweep."""
    from ..rules.derive import list_end
    from ..rules.governing import lifecycle_of, policy_for

    out = []
    for entry in store.iter_list_entries():
        if entry.status != "effective":
            continue
        snap = policy_for(entry, jurisdiction)
        end = list_end(entry, snap)
        if end is None or end > as_of or snap.list_exit_announcement is None:
            continue
        notice = exit_announcement(entry, "scheduled_exit", end, f"scheduled:{end.isoformat()}",
                                   snap.list_exit_announcement)
        if notice["id"] in stored:
            out.append(stored[notice["id"]])
            continue
        life = lifecycle_of(store, entry, override=snap)
        if any(d is not None and d <= end for d in (life.exited_on, life.withdrawn_on)):
            continue  # an exit decision was announced when it was made; a withdrawn listing never stood
        out.append(notice)
    return out


def notices_due(store: Store, as_of: date, write: bool = True, jurisdiction: str = "default") -> list[dict[str, Any]]:
    """Expiry notices for consequences that departments received through a case and that reached their
    natural end on or before ``as_of``, and exit announcements for listings whose term ended; ids are
    deterministic, so running it again adds nothing. ``jurisdiction`` is the deployment's (list entries are
    judged under it)."""
    # A notice already stored is returned as stored: a daily sweep addresses and reads the history of only
    # what became due since, not of everything that ever expired.
    stored = {n["id"]: n for n in store.query("notices")}
    items = store.query("case_items")
    facts = store.get_facts(sorted({it["fact_id"] for it in items}))
    due = sorted((f for f in facts.values()
                  if f.valid_to is not None and f.valid_to <= as_of and f.ended_by in SCHEDULED_ENDS),
                 key=lambda f: (f.valid_to, f.fact_id))
    notices = [_expiry_notice(f) for f in due]
    new = [n for n in notices if n["id"] not in stored]
    address_notices(store, new, facts.values())
    notices = [stored.get(n["id"], n) for n in notices]
    notices += _announcements_due(store, as_of, jurisdiction, stored)
    if write and notices:
        store.append("notices", notices)
    return notices


def department_view(notice: Mapping[str, Any], department: str) -> NoticeView:
    """A notice as one addressee sees it: its own measures and its own acknowledgement."""
    out = {k: v for k, v in notice.items() if k not in ("items", "acknowledged", "departments")}
    out["department"] = department
    out["items"] = [it for it in notice.get("items", []) if it["department"] == department]
    out["acknowledged"] = (notice.get("acknowledged") or {}).get(department)
    return cast(NoticeView, out)


def notices_for(
    store: Store, department: str | None, acknowledged: bool | None = None, change: str | None = None,
    limit: int | None = None,
) -> list[Notice | NoticeView]:
    """Notices addressed to ``department`` (its view), or every notice when ``department`` is None."""
    rows = cast(list[Notice], store.query("notices", {"change": change} if change else None))
    out: list[Notice | NoticeView] = []
    for n in rows:
        shown: Notice | NoticeView = n
        if department is not None:
            if department not in (n.get("departments") or ()):
                continue
            view = department_view(n, department)
            acked, shown = view["acknowledged"] is not None, view
        else:
            acked = bool(n.get("acknowledged"))
        if acknowledged is not None and acked != acknowledged:
            continue
        out.append(shown)
    return out[-limit:] if limit else out


def acknowledge_notice(
    store: Store, notice_id: str, department: str, by: str, note: str = "", at: datetime | None = None,
) -> NoticeView:
    """The department confirms it has acted on the notice (lifted its measure); the first ack stands."""
    with store.transaction():
        found = store.query("notices", {"id": notice_id})
        if not found or department not in (found[0].get("departments") or ()):
            raise NotFound(f"no notice {notice_id!r} addressed to department {department!r}", field="notice_id")
        row = found[0]
        acks = dict(row.get("acknowledged") or {})
        if department not in acks:
            acks[department] = {"by": by, "at": (at or _now()).isoformat(), "note": note}
            row = store.update("notices", notice_id, {"acknowledged": acks})
    return department_view(row, department)
