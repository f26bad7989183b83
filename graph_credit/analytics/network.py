"""Network analytics for investigators and analysts.

- ``company_groups``: organisations tied together by the persons they share (关联企业群);
- ``blacklist_connectors``: persons who sit across several black-listed or dishonest firms, with
  their centrality in the network of those firms;
- ``serial_failures``: one person running a series of failed or dishonest firms, and the new firms founded
  as they failed (金蝉脱壳);
- ``risk_by_region_industry`` and ``records_over_time``: where and when the risk is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, timedelta

import networkx as nx
import pandas as pd

from ..model import Role, RoleEdge
from ..rules.derive import subject_kind
from ..store.base import Store
from .frames import records_frame, subjects_frame
from .status import ADVERSE_STATUSES, STATUSES, statuses_frame

__all__ = [
    "MANAGEMENT",
    "blacklist_connectors",
    "company_groups",
    "records_over_time",
    "risk_by_region_industry",
    "serial_failures",
]

MANAGEMENT = (Role.LEGAL_REPRESENTATIVE, Role.PRINCIPAL, Role.SENIOR_MANAGER, Role.DIRECTOR)
"""The roles that run a firm, for ``serial_failures``."""


def _person_edges(store: Store, as_of: date | None, roles: Collection[str] | None, current: bool) -> list[RoleEdge]:
    """Person-held edges: in force on ``as_of`` (``current``) or started on or before it (history)."""
    out = []
    for e in store.iter_roles():
        if subject_kind(e.holder) != "person" or (roles is not None and e.role not in roles):
            continue
        if as_of is None or (e.active_on(as_of) if current else e.valid_from <= as_of):
            out.append(e)
    return out


def company_groups(
    store: Store, as_of: date, roles: Collection[str] | None = None, max_person_firms: int = 50, min_size: int = 2,
    max_group: int | None = 200, seed: int = 7,
) -> pd.DataFrame:
    """Groups of organisations tied by persons holding roles in more than one of them on ``as_of``.

    Two organisations are tied when a person holds a role (any of ``roles``; default every role) in
    both; a ``component`` is a connected set of tied organisations. Persons holding roles in more
    than ``max_person_firms`` organisations (nominee hubs, agents) tie nothing: they are listed in
    ``df.attrs["hubs"]``. Real registers percolate into one giant component, so a component larger
    than ``max_group`` is split into its communities (Louvain on the ties weighted by the number of
    shared persons, seeded); smaller components are one group each.

    One row per organisation in a group of at least ``min_size``: ``group`` (0 is the largest),
    ``component``, ``org``, ``name``, ``region``, ``industry``, ``status``, ``group_size``,
    ``group_adverse`` (how many of the group are dishonest, banned or black-listed) and ``persons``
    (the shared persons tying this organisation, ``;``-joined).
    """
    firms_of: dict[str, set[str]] = defaultdict(set)
    for e in _person_edges(store, as_of, roles, current=True):
        firms_of[e.holder].add(e.org)
    hubs = sorted(p for p, fs in firms_of.items() if len(fs) > max_person_firms)
    ties = nx.Graph()
    shared_by: dict[str, set[str]] = defaultdict(set)
    for p, fs in firms_of.items():
        if len(fs) < 2 or len(fs) > max_person_firms:
            continue
        firms = sorted(fs)
        for i, a in enumerate(firms):
            shared_by[a].add(p)
            for b in firms[i + 1:]:
                w = ties.get_edge_data(a, b, {"weight": 0})["weight"]
                ties.add_edge(a, b, weight=w + 1)
    groups: list[tuple[int, list[str]]] = []
    components = sorted((sorted(c) for c in nx.connected_components(ties)), key=lambda c: (-len(c), c[0]))
    for ci, comp in enumerate(components):
        if max_group is not None and len(comp) > max_group:
            parts = nx.community.louvain_communities(ties.subgraph(comp), weight="weight", seed=seed)
            groups.extend((ci, sorted(part)) for part in parts)
        else:
            groups.append((ci, comp))
    groups = sorted((g for g in groups if len(g[1]) >= min_size), key=lambda g: (-len(g[1]), g[1][0]))
    members = [o for _, g in groups for o in g]
    orgs = store.get_organisations(members)
    st = statuses_frame(store, as_of, members).set_index("subject")
    rows = []
    for gi, (ci, group) in enumerate(groups):
        adverse = int(st.loc[group, "adverse"].sum())
        for o in group:
            info = orgs.get(o)
            rows.append((gi, ci, o, info.name if info else "", info.region if info else "",
                         info.industry if info else "", st.at[o, "status"], len(group), adverse,
                         ";".join(sorted(shared_by[o]))))
    df = pd.DataFrame(rows, columns=["group", "component", "org", "name", "region", "industry", "status",
                                     "group_size", "group_adverse", "persons"])
    df.attrs["hubs"] = hubs
    return df


def blacklist_connectors(
    store: Store, as_of: date, statuses: Collection[str] = ADVERSE_STATUSES, min_firms: int = 2,
    current: bool = False, roles: Collection[str] | None = None,
) -> pd.DataFrame:
    """Persons central across black-listed or dishonest firms: the organisations whose status on
    ``as_of`` is one of ``statuses`` (default dishonest, banned, black-listed), and every person who
    held a role in at least ``min_firms`` of them, at any time up to ``as_of`` (``current=False``)
    or on that day (``current=True``).

    One row per person: ``person``, ``name``, ``masked_id``, ``firms`` (how many such firms),
    ``roles`` (``firm:ROLE;...``), ``degree`` (normalised degree) and ``betweenness`` (normalised
    betweenness centrality) in the graph of those firms and all their persons; most firms first.
    """
    st = statuses_frame(store, as_of)
    firms = set(st.loc[(st["status"].isin(list(statuses))) & (st["subject"].map(subject_kind) == "organisation"),
                       "subject"])
    g = nx.Graph()
    g.add_nodes_from(firms)
    held: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for e in _person_edges(store, as_of, roles, current):
        if e.org in firms:
            g.add_edge(e.holder, e.org)
            held[e.holder].add((e.org, e.role.value))
    columns = ["person", "name", "masked_id", "firms", "roles", "degree", "betweenness"]
    candidates = [p for p, hs in held.items() if len({o for o, _ in hs}) >= min_firms]
    if not candidates:
        return pd.DataFrame(columns=columns)
    degree = nx.degree_centrality(g)
    between = nx.betweenness_centrality(g, normalized=True)
    people = store.get_persons(candidates)
    rows = []
    for p in candidates:
        info = people.get(p)
        rows.append((p, info.name if info else "", info.masked_id if info else "", len({o for o, _ in held[p]}),
                     ";".join(f"{o}:{r}" for o, r in sorted(held[p])), round(degree.get(p, 0.0), 6),
                     round(between.get(p, 0.0), 6)))
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values(["firms", "betweenness", "person"], ascending=[False, False, True]).reset_index(drop=True)


def serial_failures(
    store: Store, as_of: date, roles: Collection[str] = MANAGEMENT, min_firms: int = 2, window_days: int = 365,
    severities: Collection[str] = ("serious",), region: str | None = None,
) -> pd.DataFrame:
    """One person behind failed or dishonest firms and the new firms founded as they failed (逃废债, 金蝉脱壳).
    A firm counts for a person when, up to ``as_of``:

    - it got a dishonesty record of one of ``severities`` (not withdrawn) and the person held one of
      ``roles`` at the act date (the decision date if the act date is unknown), or was named directly
      responsible in it: ``dishonest``;
    - it was deregistered and the person held one of ``roles`` in the ``window_days`` before the
      deregistration: ``failed``;
    - the person, legal representative of one of those firms, founded it in the same industry around the
      failure: ``founded`` (the evasion pattern ``serial_failure`` of ``graph_credit.evasion``; its windows
      and roles are in ``evasion.yaml``).

    ``region`` limits the failed and dishonest firms to an administrative division (code prefix); the new
    firms may be anywhere. One row per person with such a firm: ``person``, ``name``, ``masked_id``,
    ``firms``, ``dishonest``, ``failed``, ``founded``, ``first``, ``last`` (dates of the first and last
    event), ``detail`` (``date firm kind;...`` in date order) and ``flagged`` (``firms >= min_firms``: by
    default two failures, or one and a firm founded on it); flagged first. ``df.attrs["flags"]`` holds the
    ``serial_failure`` evasion flags behind the founded firms, with their evidence.
    """
    from ..evasion import serial_failure_flags

    recs = records_frame(store, as_of)
    recs = recs[(recs["severity"].isin(list(severities))) & (recs["state"] != "withdrawn")
                & (recs["subject_kind"] == "organisation")]
    if region is not None:
        recs = recs[recs["region"].fillna("").str.startswith(region)]
    records = store.get_records(list(recs["record_id"]))
    orgs = {o.code: o for o in store.iter_organisations() if region is None or o.region.startswith(region)}
    failed = {c: o.deregistered_on for c, o in orgs.items() if o.deregistered_on and o.deregistered_on <= as_of}
    wanted = sorted({r.subject for r in records.values()} | set(failed))
    edges_in: dict[str, list[RoleEdge]] = defaultdict(list)
    for i in range(0, len(wanted), 500):
        for e in store.roles_of(wanted[i:i + 500], "in"):
            if e.role in roles and subject_kind(e.holder) == "person":
                edges_in[e.org].append(e)
    events: dict[str, dict[str, tuple[date, str]]] = defaultdict(dict)  # person -> firm -> (date, kind)
    rank = {"dishonest": 0, "failed": 1, "founded": 2}  # a founded firm that failed in turn counts as failed

    def note(person: str, firm: str, on: date, kind: str) -> None:
        prev = events[person].get(firm)
        if prev is None or rank[kind] < rank[prev[1]]:
            events[person][firm] = (on, kind)

    for r in records.values():
        on = r.responsibility_date
        for e in edges_in.get(r.subject, ()):
            if e.active_on(on):
                note(e.holder, r.subject, on, "dishonest")
        for named in r.responsible:
            if subject_kind(named.person) == "person":
                note(named.person, r.subject, on, "dishonest")
    for firm, dereg in failed.items():
        start = dereg - timedelta(days=window_days)
        for e in edges_in.get(firm, ()):
            if e.valid_from < dereg and (e.valid_to is None or e.valid_to > start):
                note(e.holder, firm, dereg, "failed")
    flags = [f for f in serial_failure_flags(store, wanted, as_of) if f.subject in events]
    for f in flags:
        note(f.subject, f.detail["new_org"], f.change_date, "founded")
    columns = ["person", "name", "masked_id", "firms", "dishonest", "failed", "founded", "first", "last", "detail",
               "flagged"]
    people = store.get_persons(sorted(events))
    rows = []
    for p, firms in events.items():
        seq = sorted((on, firm, kind) for firm, (on, kind) in firms.items())
        kinds = [k for _, _, k in seq]
        info = people.get(p)
        rows.append((p, info.name if info else "", info.masked_id if info else "", len(seq),
                     kinds.count("dishonest"), kinds.count("failed"), kinds.count("founded"), pd.Timestamp(seq[0][0]),
                     pd.Timestamp(seq[-1][0]), ";".join(f"{on} {firm} {kind}" for on, firm, kind in seq),
                     len(seq) >= min_firms))
    df = pd.DataFrame(rows, columns=columns)
    df = df.sort_values(["flagged", "firms", "person"], ascending=[False, False, True]).reset_index(drop=True)
    df.attrs["flags"] = flags
    return df


def risk_by_region_industry(store: Store, as_of: date, by: Sequence[str] = ("region", "industry")) -> pd.DataFrame:
    """Risk per region and industry on ``as_of``, over organisations in business that day:

    ``orgs``; how many have each status (``banned``, ``black_listed``, ``dishonest``, ``restricted``,
    ``monitored``, ``red_listed``); ``adverse`` (dishonest, banned or black-listed) and
    ``adverse_rate``; ``exposed`` (not adverse themselves, but a person holding a role in them that
    day is) and ``exposed_rate``; ``records`` (serious records decided in the last year, not
    withdrawn). ``by`` may be ``("region",)``, ``("industry",)``, ``("org_type",)`` or a combination.
    """
    subjects = subjects_frame(store, as_of)
    orgs = subjects[(subjects["kind"] == "organisation") & (subjects["in_business"].fillna(False).astype(bool))]
    adverse_people = sorted(subjects.loc[(subjects["kind"] == "person") & subjects["adverse"], "key"])
    exposed_orgs = {e.org for e in store.roles_of(adverse_people, "out", as_of)} if adverse_people else set()
    orgs = orgs.assign(exposed=orgs["key"].isin(exposed_orgs) & ~orgs["adverse"])
    recs = records_frame(store, as_of)
    recent = recs[(recs["severity"] == "serious") & (recs["state"] != "withdrawn")
                  & (recs["decision_date"] > pd.Timestamp(as_of - timedelta(days=365)))]
    orgs = orgs.assign(records=orgs["key"].map(recent.groupby("subject").size()).fillna(0).astype(int))
    for s in STATUSES[:-1]:
        orgs[s] = orgs["statuses"].str.split(";").apply(lambda xs, s=s: s in xs)
    keys = list(by)
    agg = orgs.groupby(keys).agg(orgs=("key", "size"), **{s: (s, "sum") for s in STATUSES[:-1]},
                                 adverse=("adverse", "sum"), exposed=("exposed", "sum"), records=("records", "sum"))
    agg["adverse_rate"] = (agg["adverse"] / agg["orgs"]).round(4)
    agg["exposed_rate"] = (agg["exposed"] / agg["orgs"]).round(4)
    return agg.sort_values(["adverse_rate", "orgs"], ascending=[False, False])


def records_over_time(store: Store, by: str | None = "severity", freq: str = "YE", as_of: date | None = None,
                      serious_only: bool = False) -> pd.DataFrame:
    """Records decided per period (``freq``: ``YE`` years, ``QE`` quarters, ``ME`` months), one column
    per value of ``by`` (``severity``, ``category``, ``region``, ``industry``, ``department``,
    ``jurisdiction``; None: one ``records`` column), up to ``as_of`` (default: all)."""
    recs = records_frame(store, as_of)
    if serious_only:
        recs = recs[recs["severity"] == "serious"]
    if recs.empty:
        return pd.DataFrame()
    grouper = pd.Grouper(key="decision_date", freq=freq)
    if by is None:
        return recs.groupby(grouper).size().to_frame("records")
    return recs.groupby([grouper, by]).size().unstack(by, fill_value=0)
