"""Ownership analytics (股权穿透) as DataFrames: effective stakes, ultimate controllers, beneficial
owners, and the stake held by dishonest or banned holders.

The algorithms live in ``graph_credit.graph`` (``ownership``, ``stake_through``); this module reads
the holders' credit status and shapes the answers for analysts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from ..graph.traversal import CONTROL, Holdings, ownership, stake_through
from ..model import Role
from ..rules.derive import subject_kind
from ..store.base import Store
from .status import ADVERSE_STATUSES, active_consequences, status_of, statuses_frame

__all__ = ["AdverseStake", "adverse_stake", "adverse_stakes_frame", "ownership_frame"]

FLAG_AT = 0.5


def _names(store: Store, keys: Sequence[str]) -> dict[str, str]:
    orgs = store.get_organisations([k for k in keys if subject_kind(k) == "organisation"])
    persons = store.get_persons([k for k in keys if subject_kind(k) == "person"])
    return {**{k: o.name for k, o in orgs.items()}, **{k: p.name for k, p in persons.items()}}


OWNERSHIP_COLUMNS = [
    "holder", "kind", "name", "direct", "effective_stake", "chains", "control_share", "controls", "ultimate",
    "ultimate_controller", "beneficial_owner", "status", "adverse",
]


def ownership_frame(store: Store, org: str, as_of: date, threshold: float = 0.25, max_depth: int = 10) -> pd.DataFrame:
    """Every direct and indirect holder of ``org`` on ``as_of``, one row each:

    - ``direct``: its own ratio in ``org`` (0 if it holds only indirectly);
    - ``effective_stake``: ratios multiplied along each chain, summed over chains (cycles walked once);
    - ``control_share``: the votes it commands at ``org`` counting in full the shares of organisations
      it controls (more than 50%); ``controls``: that share is above 50%;
    - ``ultimate``: nobody else controls it; ``ultimate_controller``: ultimate with a control share of
      at least ``threshold``; ``beneficial_owner``: a natural person with an effective stake of at
      least ``threshold`` (25% or more by default) or control;
    - ``status``/``adverse``: its credit status on the date.

    Sorted by effective stake. ``df.attrs["truncated"]`` says whether the chain limit was reached.

    >>> from graph_credit.analytics import demo_store
    >>> store = demo_store(orgs=150)
    >>> org = next(e.org for e in store.iter_roles() if e.role == "SHAREHOLDER")
    >>> df = ownership_frame(store, org, date(2025, 6, 30))
    >>> bool(df["effective_stake"].between(0, 1).all())
    True
    """
    own = ownership(store, org, as_of, max_depth)
    keys = sorted(set(own.stakes) | set(own.control))
    names = _names(store, keys)
    active = active_consequences(store.facts_of(keys), as_of)
    controllers = {c.holder for c in own.ultimate_controllers(threshold)}
    owners = {b.person for b in own.beneficial_owners(threshold)}
    direct = own.direct()
    rows = []
    for k in keys:
        status = status_of(active.get(k, ()))
        ctrl = own.control.get(k, 0.0)
        rows.append((k, subject_kind(k), names.get(k, ""), direct.get(k, 0.0), round(own.stakes.get(k, 0.0), 9),
                     own.chains.get(k, 0), round(ctrl, 9), ctrl > CONTROL + 1e-9, own.is_ultimate(k),
                     k in controllers, k in owners, status, status in ADVERSE_STATUSES))
    df = pd.DataFrame(rows, columns=OWNERSHIP_COLUMNS)
    df = df.sort_values(["effective_stake", "control_share", "holder"], ascending=[False, False, True])
    df = df.reset_index(drop=True)
    df.attrs["org"], df.attrs["as_of"], df.attrs["truncated"] = org, as_of, own.truncated
    return df


@dataclass(frozen=True)
class AdverseStake:
    """The part of an organisation's shares held by, or through, dishonest or banned holders."""

    org: str
    as_of: date
    stake: float  # each chain counted once, at the first adverse holder met going up
    flagged: bool  # stake >= flag_at (50% by default): dishonest or banned holders control the shares
    holders: dict[str, float] = field(default_factory=dict)  # adverse holder -> the part held by or through it
    statuses: dict[str, str] = field(default_factory=dict)  # adverse holder -> its status


def adverse_stake(
    store: Store, org: str, as_of: date, flag_at: float = FLAG_AT,
    statuses: Collection[str] = ADVERSE_STATUSES, max_depth: int = 10,
) -> AdverseStake:
    """The aggregate stake in ``org`` held by holders (direct or indirect) whose status on ``as_of``
    is one of ``statuses`` (default: dishonest, banned, black-listed), flagged at ``flag_at`` or more.

    A holds 60% of B and 10% of C, B holds 50% of C; A is dishonest: A's part of C is
    0.6 x 0.5 + 0.1 = 0.4, not flagged. If B is banned too, B's 50% counts once, at B: 0.5 + 0.1 = 0.6,
    flagged.
    """
    own = ownership(store, org, as_of, max_depth)
    nodes = sorted(set(own.stakes))
    active = active_consequences(store.facts_of(nodes), as_of)
    status = {k: status_of(active.get(k, ())) for k in nodes}
    bad = {k for k, s in status.items() if s in statuses}
    held = own.stake_through(bad)
    total = round(sum(held.values()), 9)
    return AdverseStake(org, as_of, total, total + 1e-9 >= flag_at, {k: round(v, 9) for k, v in held.items()},
                        {k: status[k] for k in held})


def _all_holdings(store: Store, as_of: date) -> Holdings:
    holdings: Holdings = {}
    for e in store.iter_roles():
        if e.role == Role.SHAREHOLDER and e.ratio and e.active_on(as_of):
            row = holdings.setdefault(e.org, {})
            row[e.holder] = row.get(e.holder, 0.0) + e.ratio
    return holdings


def adverse_stakes_frame(
    store: Store, as_of: date, flag_at: float = FLAG_AT, statuses: Collection[str] = ADVERSE_STATUSES
) -> pd.DataFrame:
    """``adverse_stake`` for every organisation with at least one dishonest or banned holder above it
    on ``as_of`` (the shareholdings are read once): ``org``, ``name``, ``region``, ``industry``,
    ``adverse_stake``, ``flagged``, ``adverse_holders`` (how many) and ``holders``
    (``key:part;...``), most exposed first."""
    holdings = _all_holdings(store, as_of)
    st = statuses_frame(store, as_of)
    bad = set(st.loc[st["status"].isin(list(statuses)), "subject"])
    held_by: dict[str, set[str]] = {}
    for o, row in holdings.items():
        for h in row:
            held_by.setdefault(h, set()).add(o)
    exposed: set[str] = set()  # organisations below an adverse holder
    frontier = list(bad)
    while frontier:
        nxt = []
        for n in frontier:
            for o in held_by.get(n, ()):
                if o not in exposed:
                    exposed.add(o)
                    nxt.append(o)
        frontier = nxt
    orgs = store.get_organisations(sorted(exposed))
    rows = []
    for o in sorted(exposed):
        held = stake_through(holdings, o, bad - {o})
        if not held:
            continue
        total = round(sum(held.values()), 9)
        info = orgs.get(o)
        rows.append((o, info.name if info else "", info.region if info else "", info.industry if info else "",
                     total, total + 1e-9 >= flag_at, len(held), ";".join(f"{k}:{v:.4f}" for k, v in held.items())))
    df = pd.DataFrame(rows, columns=["org", "name", "region", "industry", "adverse_stake", "flagged",
                                     "adverse_holders", "holders"])
    return df.sort_values(["adverse_stake", "org"], ascending=[False, True]).reset_index(drop=True)
