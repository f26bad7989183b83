"""The initiate-respond-implement-feedback loop (发起-响应-实施-反馈).

An initiating department opens a case on a record (joint punishment) or a red list entry (joint
incentive). The case fans out one item per (measure, implementing department, target) that the
catalogue names for the cause's active consequences. Each department reports feedback on its own
items only; open and overdue items and completion statistics are read from the journal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import cast

from .errors import DomainError
from .journal import Case, CaseItem, CaseStatistics
from .model import Cause, stable_id
from .policy.loader import load_policy
from .rules.derive import subject_kind
from .store.base import NotFound, Store

__all__ = ["FEEDBACK", "CaseError", "case_statistics", "open_case", "open_items", "report_feedback"]

FEEDBACK = ("applied", "not_applicable", "refused")


class CaseError(DomainError):
    pass


def open_case(
    store: Store, cause: Cause, department: str, opened_on: date, due_days: int = 30, jurisdiction: str = "default"
) -> Case:
    """Open a case and push its items to the implementing departments; idempotent per cause."""
    snap = load_policy(jurisdiction).at(opened_on)
    if department not in snap.departments:
        raise CaseError(f"department: unknown department {department!r}")
    facts = [f for f in store.facts_by_cause([cause]) if f.status_on(opened_on) == "active"]
    if not facts:
        raise CaseError(f"cause: {cause} has no consequence in force on {opened_on}")
    incentive = all(f.consequence == "green_channel" for f in facts)
    kind = "incentive" if incentive else "punishment"
    case_id = stable_id("case", cause)
    items = []
    for f in facts:
        fsnap = load_policy(f.jurisdiction).at(opened_on)
        for m in fsnap.measures_for(f.consequence, subject_kind(f.target)):
            if m.kind != kind:
                continue
            for dept in m.departments:
                items.append({
                    "id": stable_id(case_id, m.code, dept, f.target, f.object_id),
                    "case_id": case_id, "department": dept, "measure": m.code, "measure_name": m.name_zh,
                    "binding": m.binding, "target": f.target, "fact_id": f.fact_id, "status": "pending",
                    "reason": "", "due": (opened_on + timedelta(days=due_days)).isoformat(), "reported_on": None,
                })
    case: Case = {"id": case_id, "cause": str(cause), "kind": "incentive" if incentive else "punishment",
                  "initiating_department": department, "opened_on": opened_on.isoformat(), "items": len(items)}
    with store.transaction():
        store.append("cases", [dict(case)])
        store.append("case_items", items)
    return case


def report_feedback(
    store: Store, item_id: str, department: str, status: str, reported_on: date, reason: str = ""
) -> CaseItem:
    """A department reports on one of its own items; refusing needs a reason."""
    if status not in FEEDBACK:
        raise CaseError(f"status: must be one of {', '.join(FEEDBACK)}")
    if status == "refused" and not reason.strip():
        raise CaseError("reason: a refusal must give its reason")
    found = store.query("case_items", {"id": item_id})
    if not found:
        raise NotFound(f"item_id: no case item {item_id!r}")
    if found[0]["department"] != department:
        raise PermissionError(f"item {item_id} belongs to department {found[0]['department']!r}")
    return cast(CaseItem, store.update("case_items", item_id, {"status": status, "reason": reason,
                                                               "reported_on": reported_on.isoformat()}))


def open_items(store: Store, as_of: date, department: str | None = None) -> list[CaseItem]:
    where = {"status": "pending"} | ({"department": department} if department else {})
    items = cast(list[CaseItem], store.query("case_items", where))
    for it in items:
        it["overdue"] = as_of > date.fromisoformat(it["due"])
    return items


def case_statistics(store: Store, as_of: date) -> list[CaseStatistics]:
    """Completion per (department, measure): counts by status, overdue count and completion rate."""
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for it in store.query("case_items"):
        c = groups[(it["department"], it["measure"])]
        c[it["status"]] += 1
        if it["status"] == "pending" and as_of > date.fromisoformat(it["due"]):
            c["overdue"] += 1
    out: list[CaseStatistics] = []
    for (dept, measure), c in sorted(groups.items()):
        total = sum(c[s] for s in ("pending", *FEEDBACK))
        out.append({"department": dept, "measure": measure, "total": total, "pending": c["pending"],
                    "applied": c["applied"], "not_applicable": c["not_applicable"], "refused": c["refused"],
                    "overdue": c["overdue"], "completion": round((total - c["pending"]) / total, 4) if total else 1.0})
    return out
