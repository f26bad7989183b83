"""The rules and measures × jurisdictions table a legal reviewer checks line by line against the texts.

Built only from the policy data: for every rule and measure, under every jurisdiction, the periods in which
it is in force there, the version, the bases it carries there (clause and quote), and how it ends, each end
with its own basis. ``docs/jurisdictions.md`` is this table; a test fails when the file is stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta

from .loader import available_jurisdictions, load_policy
from .schema import Basis, Measure, Rule
from .snapshot import Policy, PolicySnapshot

__all__ = ["jurisdiction_table"]

_LIFTING = {
    "expiry": "the punishment period ends",
    "repair": "an approved credit repair",
    "exit": "exit from the list (or the end of its validity)",
    "objection_upheld": "an upheld objection",
}


def _clauses(basis: Iterable[Basis]) -> str:
    return "<br>".join(f"**{b}** {b.quote}" for b in basis)


def _ends(rule: Rule, snap: PolicySnapshot) -> str:
    lines = []
    for how in ("expiry", "repair", "exit", "objection_upheld"):
        if how not in rule.lifted_by:
            continue
        basis = {"expiry": snap.punishment_period.basis, "repair": snap.repair.basis,
                 "objection_upheld": snap.objection.basis}.get(how, rule.basis)
        lines.append(f"{_LIFTING[how]} ({', '.join(dict.fromkeys(str(b) for b in basis))})")
        if how == "exit" and "black" in (rule.trigger.lists or ()):
            cited = ", ".join(str(b) for b in snap.punishment_period.basis)
            lines.append(f"a black listing without a term: {snap.punishment_period_days['serious']} days after it "
                         f"takes effect, the default period ({cited})")
    if rule.permanent is not None:
        lines.append(f"permanent otherwise ({', '.join(str(b) for b in rule.permanent.basis)})")
    if rule.aftercare is not None:
        care = rule.aftercare
        lines.append(f"then {care.consequence} for {care.duration_days} days after "
                     f"{', '.join(sorted(care.on))} ({', '.join(str(b) for b in care.basis)})")
    return "<br>".join(lines)


def _periods(policy: Policy, find: Callable[[PolicySnapshot], Rule | Measure | None]
             ) -> list[tuple[date, date | None, Rule | Measure, PolicySnapshot]]:
    """Consecutive periods in which the same entry (same version and bases) is in force and, for a rule,
    ends the same way (the lifecycle settings change when the jurisdiction's document is issued)."""
    starts = policy.snapshot_dates()
    out: list[tuple[date, date | None, Rule | Measure, PolicySnapshot]] = []
    for i, start in enumerate(starts):
        snap = policy.at(start)
        item = find(snap)
        end = starts[i + 1] if i + 1 < len(starts) else None
        if item is None:
            continue
        if out and out[-1][1] == start and out[-1][2] == item and (
                not isinstance(item, Rule) or _ends(item, out[-1][3]) == _ends(item, snap)):
            out[-1] = (out[-1][0], end, item, out[-1][3])
        else:
            out.append((start, end, item, snap))
    return out


_DAY = timedelta(days=1)


def _span(start: date, end: date | None) -> str:
    return f"{start} – {end - _DAY if end else ''}".rstrip()


def _rule(rule_id: str) -> Callable[[PolicySnapshot], Rule | Measure | None]:
    return lambda snap: next((r for r in snap.rules if r.id == rule_id), None)


def _measure(code: str) -> Callable[[PolicySnapshot], Rule | Measure | None]:
    return lambda snap: next((m for m in snap.measures if m.code == code), None)


def jurisdiction_table() -> str:
    """Markdown: one section per rule and per measure, one row per jurisdiction and period in force."""
    policies = [load_policy(j) for j in available_jurisdictions()]
    rule_ids = sorted({r.id for p in policies for d in p.snapshot_dates() for r in p.at(d).rules},
                      key=lambda x: (len(x.rstrip("abcdefghijklmnopqrstuvwxyz")), x))
    codes = sorted({m.code for p in policies for d in p.snapshot_dates() for m in p.at(d).measures})
    lines = [
        "# Rules and measures × jurisdictions",
        "",
        "Generated from `graph_credit/policy/data` by `graph-credit policy-table`; do not edit by hand (a test",
        "fails when this file is stale). Each jurisdiction is its own law: an entry is in force under a",
        "jurisdiction only where one of its bases is that jurisdiction's document (from its date) or Guo Fa 33",
        "(`default`, the national layer), and it carries only those bases. A jurisdiction missing from an",
        "entry's table does not apply it on any date. Dates are inclusive.",
        "",
        "| jurisdiction | document | removes (reason) |",
        "|---|---|---|",
    ]
    for p in policies:
        removed = "<br>".join(f"{r.rule or r.measure}: {r.note}" for r in p.removed) or "—"
        lines.append(f"| {p.id} | {p.document} ({p.issued}) | {removed} |")
    lines += ["", "## Rules", ""]
    for rule_id in rule_ids:
        title = next(r.title for p in policies for d in p.snapshot_dates() for r in p.at(d).rules if r.id == rule_id)
        lines += [f"### {rule_id} {title}", "",
                  "| jurisdiction | in force | version | trigger → who | consequence | basis | ends |",
                  "|---|---|---|---|---|---|---|"]
        for p in policies:
            for start, end, item, snap in _periods(p, _rule(rule_id)):
                assert isinstance(item, Rule)
                t = item.trigger
                trigger = t.event + "".join(
                    f" {k}={','.join(sorted(v))}" for k, v in (
                        ("severity", t.severities), ("category", t.categories), ("list", t.lists),
                        ("kind", t.subject_kinds), ("org", t.org_types)) if v)
                who = ", ".join(a.target if a.target == "subject" else f"{a.role} ({a.by})" for a in item.affects)
                lines.append(f"| {p.id} | {_span(start, end)} | {item.version} | {trigger} → {who} | "
                             f"{item.consequence} | {_clauses(item.basis)} | {_ends(item, snap)} |")
        lines.append("")
    lines += ["## Measures", ""]
    for code in codes:
        name = next(m.name_zh for p in policies for d in p.snapshot_dates() for m in p.at(d).measures
                    if m.code == code)
        lines += [f"### {code} {name}", "",
                  "| jurisdiction | in force | consequence | binding | targets | matters | basis |",
                  "|---|---|---|---|---|---|---|"]
        for p in policies:
            for start, end, item, _ in _periods(p, _measure(code)):
                assert isinstance(item, Measure)
                lines.append(f"| {p.id} | {_span(start, end)} | {item.consequence} | {item.binding} | "
                             f"{', '.join(sorted(item.targets))} | {', '.join(sorted(item.matters))} | "
                             f"{_clauses(item.basis)} |")
        lines.append("")
    return "\n".join(lines)
