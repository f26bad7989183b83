"""pandas DataFrames and networkx graphs for analysts.

``graph_credit.io.to_frames`` and ``graph_credit.io.to_networkx`` give the stored data as it is;
this module adds what analysts ask of it on a date: the status of every derived fact, subjects with
their credit status, records with their lifecycle, the measures catalogue in force, and the case
feedback journal (发起-响应-实施-反馈). Date columns are ``datetime64[s]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..cases import case_statistics
from ..io.export import dated_frame, to_frames, to_networkx
from ..policy.loader import available_jurisdictions, load_policy
from ..rules.derive import subject_kind
from ..rules.governing import lifecycle_of, policy_for
from ..store.base import Store
from .status import ADVERSE_STATUSES, active_consequences, status_of, statuses_frame

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "case_items_frame",
    "cases_frame",
    "facts_frame",
    "feedback_by_department",
    "frames",
    "measures_frame",
    "records_frame",
    "subgraph",
    "subjects_frame",
]

FACT_COLUMNS = (
    "fact_id", "cause", "cause_kind", "cause_id", "rule_id", "rule_version", "consequence", "target", "target_kind",
    "target_role", "status", "valid_from", "valid_to", "ended_by", "suspensions", "edge_id", "edge_from", "edge_to",
    "object_id", "basis", "jurisdiction",
)


def facts_frame(
    store: Store, as_of: date | None = None, subjects: Sequence[str] | None = None, include_ended: bool = False
) -> pd.DataFrame:
    """Derived facts (consequences with provenance) and their ``status`` on ``as_of`` (default today):
    ``active``, ``suspended`` (objection under verification), or, with ``include_ended``, why they
    ended (``expired``, ``repaired``, ``withdrawn``, ``exited``) and ``pending`` ones not yet in force.
    ``subjects`` limits the rows to facts on those targets.

    >>> from graph_credit.analytics import demo_store
    >>> df = facts_frame(demo_store(orgs=150), date(2025, 6, 30))
    >>> sorted(set(df["status"]) - {"active", "suspended"})
    []
    """
    on = as_of or date.today()
    facts = store.facts_of(list(subjects)) if subjects is not None else store.iter_facts()
    rows = []
    for f in facts:
        status = f.status_on(on)
        if not include_ended and status not in ("active", "suspended"):
            continue
        rows.append((
            f.fact_id, str(f.cause), f.cause.kind, f.cause.id, f.rule_id, f.rule_version, f.consequence, f.target,
            subject_kind(f.target), f.target_role, status, f.valid_from, f.valid_to, f.ended_by, len(f.suspended),
            f.edge_id, f.edge_from, f.edge_to, f.object_id, ";".join(f.basis), f.jurisdiction,
        ))
    rows.sort(key=lambda r: (r[7], r[1], r[4], r[0]))
    return dated_frame(rows, FACT_COLUMNS, ("valid_from", "valid_to", "edge_from", "edge_to"))


SUBJECT_COLUMNS = (
    "key", "kind", "name", "masked_id", "org_type", "region", "industry", "registered_on", "deregistered_on",
    "in_business", "status", "statuses", "consequences", "adverse",
)


def subjects_frame(store: Store, as_of: date | None = None) -> pd.DataFrame:
    """Organisations and persons in one table with their credit status on ``as_of`` (default today):
    ``status`` is the most severe (``banned``, ``black_listed``, ``dishonest``, ``restricted``,
    ``monitored``, ``red_listed`` or ``clean``), ``statuses`` and ``consequences`` list them all,
    ``adverse`` is true for dishonest, banned or black-listed subjects, ``in_business`` for an
    organisation registered on or before the date and not deregistered. Persons carry only their
    pseudonymous key and masked ID number.

    >>> from graph_credit.analytics import demo_store
    >>> df = subjects_frame(demo_store(orgs=150), date(2025, 6, 30))
    >>> df.groupby("kind").size().to_dict()
    {'organisation': 150, 'person': 300}
    """
    on = as_of or date.today()
    st = statuses_frame(store, on).set_index("subject")
    rows: list[tuple[Any, ...]] = []
    for o in store.iter_organisations():
        alive = (o.registered_on is None or o.registered_on <= on) and (o.deregistered_on is None
                                                                        or on < o.deregistered_on)
        rows.append((o.code, "organisation", o.name, None, o.org_type, o.region, o.industry, o.registered_on,
                     o.deregistered_on, alive))
    for p in store.iter_persons():
        rows.append((p.key, "person", p.name, p.masked_id, None, p.region, None, None, None, None))
    df = dated_frame(rows, SUBJECT_COLUMNS[:10], ("registered_on", "deregistered_on"))
    df["in_business"] = df["in_business"].astype("boolean")  # <NA> for persons
    df["status"] = df["key"].map(st["status"]).fillna("clean")
    df["statuses"] = df["key"].map(st["statuses"]).fillna("")
    df["consequences"] = df["key"].map(st["consequences"]).fillna("")
    df["adverse"] = df["key"].map(st["adverse"]).fillna(False).astype(bool)
    return df


RECORD_COLUMNS = (
    "record_id", "subject", "subject_kind", "region", "industry", "category", "severity", "act_date",
    "decision_date", "period_end", "department", "jurisdiction", "document_no", "responsible", "withdrawn_on",
    "repaired_on", "state", "year",
)


def records_frame(store: Store, as_of: date | None = None) -> pd.DataFrame:
    """Dishonesty records decided on or before ``as_of`` (all if None) with their subject's region and
    industry and their lifecycle: ``withdrawn_on`` (objection upheld or revoked), ``repaired_on``
    (credit repair approved) and ``state`` on ``as_of`` (default today): ``active``, ``withdrawn``,
    ``repaired`` or ``expired`` (the punishment period, ``period_end`` or the policy default, is over).
    ``responsible`` counts the persons named directly responsible.

    >>> from graph_credit.analytics import demo_store
    >>> df = records_frame(demo_store(orgs=150), date(2025, 6, 30))
    >>> set(df["state"]) <= {"active", "withdrawn", "repaired", "expired"}
    True
    """
    from datetime import timedelta

    on = as_of or date.today()
    records = [r for r in store.iter_records() if as_of is None or r.decision_date <= as_of]
    events: dict[str, list] = {}
    ids = [r.record_id for r in records]
    for i in range(0, len(ids), 500):
        for ev in store.events_of(ids[i:i + 500]):
            events.setdefault(ev.cause_id, []).append(ev)
    orgs = store.get_organisations(sorted({r.subject for r in records if subject_kind(r.subject) == "organisation"}))
    rows = []
    for r in records:
        life = lifecycle_of(store, r, events=events.get(r.record_id, []))
        periods = policy_for(r).punishment_period_days
        end = r.period_end or r.decision_date + timedelta(days=periods.get(r.severity, 1095))
        withdrawn = life.withdrawn_on if life.withdrawn_on and life.withdrawn_on <= on else None
        repaired = life.repaired_on if life.repaired_on and life.repaired_on <= on else None
        state = "withdrawn" if withdrawn else "repaired" if repaired else "expired" if on >= end else "active"
        o = orgs.get(r.subject)
        rows.append((
            r.record_id, r.subject, subject_kind(r.subject), o.region if o else None, o.industry if o else None,
            r.category, r.severity, r.act_date, r.decision_date, r.period_end, r.department, r.jurisdiction,
            r.document_no, len(r.responsible), withdrawn, repaired, state, r.decision_date.year,
        ))
    rows.sort(key=lambda x: (x[8], x[0]))
    return dated_frame(rows, RECORD_COLUMNS, ("act_date", "decision_date", "period_end", "withdrawn_on", "repaired_on"))


MEASURE_COLUMNS = (
    "jurisdiction", "code", "name_zh", "name_en", "kind", "category", "binding", "consequence", "targets",
    "departments", "matters", "basis", "default_duration_days", "effective_from", "effective_to", "origin",
)


def measures_frame(jurisdiction: str | None = "default", as_of: date | None = None) -> pd.DataFrame:
    """The measures catalogue (措施清单) in force on ``as_of`` (default today) for one jurisdiction, or
    for every jurisdiction with ``jurisdiction=None``: code, names, punishment or incentive,
    ``binding`` (mandatory 强制性 / recommended 推荐性), the consequence it implements, targets,
    implementing departments, approval matters and legal basis (lists ``;``-joined).

    >>> df = measures_frame("jiangyin", date(2025, 6, 30))
    >>> set(df["binding"]) == {"mandatory", "recommended"}
    True
    """
    on = as_of or date.today()
    rows = []
    for j in [jurisdiction] if jurisdiction else available_jurisdictions():
        snap = load_policy(j).at(on)
        for m in snap.measures:
            rows.append((
                snap.jurisdiction, m.code, m.name_zh, m.name_en, m.kind, m.category, m.binding, m.consequence,
                ";".join(sorted(m.targets)), ";".join(m.departments), ";".join(sorted(m.matters)),
                "; ".join(str(b) for b in m.basis), m.default_duration_days, m.effective_from, m.effective_to,
                m.origin,
            ))
    return dated_frame(rows, MEASURE_COLUMNS, ("effective_from", "effective_to"))


def cases_frame(store: Store) -> pd.DataFrame:
    """Cases opened on records (joint punishment) or red list entries (joint incentive), from the journal."""
    df = pd.DataFrame(store.query("cases"), columns=["id", "cause", "kind", "initiating_department", "opened_on",
                                                     "items"])
    df["opened_on"] = pd.to_datetime(df["opened_on"]).astype("datetime64[s]")
    return df


ITEM_COLUMNS = (
    "id", "case_id", "cause", "kind", "initiating_department", "opened_on", "department", "measure", "measure_name",
    "binding", "target", "target_kind", "fact_id", "status", "reason", "due", "reported_on", "overdue",
    "days_to_feedback",
)


def case_items_frame(store: Store, as_of: date | None = None, department: str | None = None) -> pd.DataFrame:
    """Case feedback items (one per measure, implementing department and target) with their case and
    their state on ``as_of`` (default today): ``status`` (pending, applied, not_applicable, refused),
    ``overdue`` (still pending after ``due``) and ``days_to_feedback`` (opening to report)."""
    on = pd.Timestamp(as_of or date.today())
    cases = {c["id"]: c for c in store.query("cases")}
    items = store.query("case_items", {"department": department} if department else None)
    rows = []
    for it in items:
        c = cases.get(it["case_id"], {})
        rows.append((
            it["id"], it["case_id"], c.get("cause"), c.get("kind"), c.get("initiating_department"),
            c.get("opened_on"), it["department"], it["measure"], it.get("measure_name"), it.get("binding"),
            it["target"], subject_kind(it["target"]), it.get("fact_id"), it["status"], it.get("reason", ""),
            it["due"], it.get("reported_on"),
        ))
    df = pd.DataFrame(rows, columns=list(ITEM_COLUMNS[:-2]))
    for col in ("opened_on", "due", "reported_on"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[s]")
    df["overdue"] = (df["status"] == "pending") & (df["due"] < on)
    df["days_to_feedback"] = (df["reported_on"] - df["opened_on"]).dt.days
    return df


def feedback_by_department(store: Store, as_of: date | None = None) -> pd.DataFrame:
    """Feedback completion per implementing department (跟踪问效): items, counts by status, overdue,
    ``completion`` (share of items reported on), ``applied_rate`` and the median days from opening to
    feedback. Counts come from ``graph_credit.cases.case_statistics``."""
    on = as_of or date.today()
    columns = ["items", "pending", "applied", "not_applicable", "refused", "overdue", "completion", "applied_rate",
               "median_days_to_feedback"]
    stats = pd.DataFrame(case_statistics(store, on))
    if stats.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="department"))
    df = stats.groupby("department")[["total", "pending", "applied", "not_applicable", "refused", "overdue"]].sum()
    df = df.rename(columns={"total": "items"})
    df["completion"] = ((df["items"] - df["pending"]) / df["items"]).round(4)
    df["applied_rate"] = (df["applied"] / df["items"]).round(4)
    items = case_items_frame(store, on)
    df["median_days_to_feedback"] = items.groupby("department")["days_to_feedback"].median()
    return df[columns].sort_values(["completion", "items"], ascending=[True, False])


def subgraph(
    store: Store, nodes: Sequence[str] | None = None, as_of: date | None = None, depth: int = 1
) -> nx.MultiDiGraph:
    """``graph_credit.io.to_networkx`` (the whole graph, or the ``depth``-hop neighbourhood of ``nodes``,
    with only the edges in force on ``as_of`` when given) with each node's credit status on ``as_of``
    (default today) as node attributes ``status``, ``consequences`` and ``adverse``.

    >>> from graph_credit.analytics import demo_store
    >>> store = demo_store(orgs=150)
    >>> org = next(store.iter_organisations()).code
    >>> g = subgraph(store, [org], date(2025, 6, 30), depth=2)
    >>> g.nodes[org]["kind"], "status" in g.nodes[org]
    ('organisation', True)
    """
    g = to_networkx(store, nodes, as_of, depth)
    active = active_consequences(store.facts_of(list(g.nodes)), as_of or date.today())
    for n, attrs in g.nodes(data=True):
        cons = active.get(n, set())
        attrs["status"] = status_of(cons)
        attrs["consequences"] = sorted(cons)
        attrs["adverse"] = attrs["status"] in ADVERSE_STATUSES
    return g


def frames(store: Store, as_of: date | None = None, jurisdiction: str = "default") -> dict[str, pd.DataFrame]:
    """Every table at once: ``to_frames`` (organisations, persons, roles, records, honours, list
    entries: those in force on ``as_of`` when given), with ``facts`` carrying their status on the
    date, plus ``subjects`` (with status), ``record_lifecycle``, ``measures``, ``cases`` and
    ``case_items``. Without ``as_of``, facts of every status are kept and statuses are as of today.

    >>> from graph_credit.analytics import demo_store
    >>> sorted(frames(demo_store(orgs=150), date(2025, 6, 30)))  # doctest: +NORMALIZE_WHITESPACE
    ['case_items', 'cases', 'facts', 'honours', 'list_entries', 'measures', 'organisations', 'persons',
     'record_lifecycle', 'records', 'roles', 'subjects']
    """
    out = to_frames(store, as_of)
    out["facts"] = facts_frame(store, as_of, include_ended=as_of is None)
    out["subjects"] = subjects_frame(store, as_of)
    out["record_lifecycle"] = records_frame(store, as_of)
    out["measures"] = measures_frame(jurisdiction, as_of)
    out["cases"] = cases_frame(store)
    out["case_items"] = case_items_frame(store, as_of)
    return out
