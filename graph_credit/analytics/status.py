"""A subject's credit status on a date, read from its derived facts, for colouring and counting.

One subject may carry several consequences at once; ``status_of`` picks the most severe as the
subject's single ``status`` (for a colour) and ``statuses`` keeps them all (for counting).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import pandas as pd

from ..model import DerivedFact
from ..store.base import Store

__all__ = [
    "ADVERSE_STATUSES",
    "CONSEQUENCE_STATUS",
    "STATUSES",
    "STATUS_COLOURS",
    "STATUS_LABELS",
    "active_consequences",
    "status_of",
    "statuses_frame",
    "statuses_over_time",
]

# Most severe first: the first one a subject has is its status.
STATUSES = ("banned", "black_listed", "dishonest", "restricted", "monitored", "red_listed", "clean")
CONSEQUENCE_STATUS: dict[str, str] = {
    "market_ban": "banned",  # 市场和行业禁入 (P2)
    "high_consumption_restriction": "banned",  # 限制高消费 (P6)
    "exit_restriction": "banned",  # 失信被执行人限制出境 (Jiangyin P6e)
    "public_institution_lr_bar": "banned",  # 不得担任事业单位法定代表人 (P4)
    "key_supervision": "black_listed",  # black list entry in force: key supervision object (P8)
    "joint_punishment": "dishonest",  # subject of a serious dishonesty record (P0)
    "personal_credit_entry": "dishonest",  # entry in a person's credit record (P1)
    "responsible_person_punishment": "dishonest",  # measures on the responsible persons (P1b)
    "commendation_ineligible": "restricted",  # 取消评先评优资格 (P3)
    "honour_revocation": "restricted",
    "red_list_removal": "restricted",
    "key_monitoring": "monitored",  # after exit from a black list: key monitoring object (Jiangyin (17))
    "green_channel": "red_listed",  # red list (诚信典型): green channel (P7)
}
ADVERSE_STATUSES = frozenset({"banned", "black_listed", "dishonest"})
"""The statuses that make a holder "dishonest or banned" for the ownership and network analytics."""

STATUS_COLOURS = {
    "banned": "#c0392b",
    "black_listed": "#2c2c2c",
    "dishonest": "#e67e22",
    "restricted": "#f4c542",
    "monitored": "#8e6bbf",
    "red_listed": "#27ae60",
    "clean": "#a9cce3",
}
STATUS_LABELS = {
    "banned": "banned (禁入/限制)",
    "black_listed": "black list (黑名单)",
    "dishonest": "dishonest (失信)",
    "restricted": "restricted (评优受限)",
    "monitored": "monitored (重点监测)",
    "red_listed": "red list (诚信典型)",
    "clean": "clean",
}


def status_of(consequences: Iterable[str]) -> str:
    """The most severe status among consequences in force; ``clean`` if none.

    >>> status_of(["green_channel", "market_ban"])
    'banned'
    >>> status_of([])
    'clean'
    """
    found = {CONSEQUENCE_STATUS.get(c, "restricted") for c in consequences}
    return next((s for s in STATUSES if s in found), "clean")


def active_consequences(facts: Iterable[DerivedFact], as_of: date) -> dict[str, set[str]]:
    """``subject -> consequences in force on the date`` (suspended and pending ones left out)."""
    out: dict[str, set[str]] = {}
    for f in facts:
        if f.status_on(as_of) == "active":
            out.setdefault(f.target, set()).add(f.consequence)
    return out


def statuses_frame(store: Store, as_of: date, subjects: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per subject with a consequence in force on ``as_of``: ``subject``, ``status`` (the most
    severe), ``statuses`` (all, ``;``-joined), ``consequences`` (``;``-joined) and ``adverse``
    (dishonest, banned or black-listed). Subjects without any are clean and not listed; with
    ``subjects``, every one of them is listed, clean ones included.

    Example (the demo store is built from ``graph_credit.synth``)::

        >>> from graph_credit.analytics import demo_store
        >>> df = statuses_frame(demo_store(orgs=150), date(2025, 6, 30))
        >>> list(df.columns)
        ['subject', 'status', 'statuses', 'consequences', 'adverse']
    """
    facts = store.facts_of(list(subjects)) if subjects is not None else store.iter_facts()
    active = active_consequences(facts, as_of)
    keys = list(dict.fromkeys(subjects)) if subjects is not None else sorted(active)
    rows = []
    for k in keys:
        cons = active.get(k, set())
        sts = sorted({CONSEQUENCE_STATUS.get(c, "restricted") for c in cons}, key=STATUSES.index)
        rows.append((k, status_of(cons), ";".join(sts), ";".join(sorted(cons)), bool(ADVERSE_STATUSES & set(sts))))
    return pd.DataFrame(rows, columns=["subject", "status", "statuses", "consequences", "adverse"])


def statuses_over_time(store: Store, dates: Sequence[date], kind: str | None = None) -> pd.DataFrame:
    """How many subjects had each status (their most severe) on each date: one row per date, one
    column per status except ``clean``. ``kind`` restricts to ``organisation`` or ``person``."""
    from ..rules.derive import subject_kind

    facts = [f for f in store.iter_facts() if kind is None or subject_kind(f.target) == kind]
    rows = []
    for on in dates:
        counts = dict.fromkeys(STATUSES[:-1], 0)
        for cons in active_consequences(facts, on).values():
            counts[status_of(cons)] += 1
        rows.append({"date": pd.Timestamp(on), **counts})
    return pd.DataFrame(rows, columns=["date", *STATUSES[:-1]]).set_index("date")
