"""Analytics for Jupyter: pandas DataFrames, networkx graphs, ownership and network analytics.

Start from a store (``graph_credit.store.open_store(path)``, or the seeded demo city)::

    >>> from datetime import date
    >>> from graph_credit import analytics as ga
    >>> store = ga.demo_store(orgs=150)          # graph_credit.synth, consequences derived
    >>> on = date(2025, 6, 30)
    >>> subjects = ga.subjects_frame(store, on)   # organisations and persons with their status
    >>> facts = ga.facts_frame(store, on)         # consequences in force, with provenance
    >>> g = ga.subgraph(store, [subjects.key[0]], on, depth=2)   # networkx, nodes carry status
    >>> risk = ga.risk_by_region_industry(store, on)
    >>> int(risk["orgs"].sum()) == int(subjects["in_business"].fillna(False).astype(bool).sum())
    True

Tables: ``frames`` (everything), ``subjects_frame``, ``facts_frame``, ``records_frame``,
``measures_frame``, ``cases_frame``, ``case_items_frame``, ``feedback_by_department``,
``statuses_frame``, ``statuses_over_time``; graphs: ``subgraph`` (and ``graph_credit.io.to_networkx``).
Ownership: ``ownership_frame``, ``adverse_stake``, ``adverse_stakes_frame`` (and
``graph_credit.graph.ownership``, ``ultimate_controllers``, ``beneficial_owners``). Network:
``company_groups``, ``blacklist_connectors``, ``serial_failures``, ``risk_by_region_industry``,
``records_over_time``.
"""

from __future__ import annotations

from ..graph.traversal import beneficial_owners, effective_ownership, ownership, ultimate_controllers
from ..io.export import to_frames, to_networkx
from .demo import DEMO_AS_OF, demo_store, notebook_setup
from .frames import (
    case_items_frame,
    cases_frame,
    facts_frame,
    feedback_by_department,
    frames,
    measures_frame,
    records_frame,
    subgraph,
    subjects_frame,
)
from .network import (
    MANAGEMENT,
    blacklist_connectors,
    company_groups,
    records_over_time,
    risk_by_region_industry,
    serial_failures,
)
from .shareholding import AdverseStake, adverse_stake, adverse_stakes_frame, ownership_frame
from .status import (
    ADVERSE_STATUSES,
    CONSEQUENCE_STATUS,
    STATUS_COLOURS,
    STATUS_LABELS,
    STATUSES,
    active_consequences,
    status_of,
    statuses_frame,
    statuses_over_time,
)

__all__ = [
    "ADVERSE_STATUSES",
    "CONSEQUENCE_STATUS",
    "DEMO_AS_OF",
    "MANAGEMENT",
    "STATUSES",
    "STATUS_COLOURS",
    "STATUS_LABELS",
    "AdverseStake",
    "active_consequences",
    "adverse_stake",
    "adverse_stakes_frame",
    "beneficial_owners",
    "blacklist_connectors",
    "case_items_frame",
    "cases_frame",
    "company_groups",
    "demo_store",
    "effective_ownership",
    "facts_frame",
    "feedback_by_department",
    "frames",
    "measures_frame",
    "notebook_setup",
    "ownership",
    "ownership_frame",
    "records_frame",
    "records_over_time",
    "risk_by_region_industry",
    "serial_failures",
    "status_of",
    "statuses_frame",
    "statuses_over_time",
    "subgraph",
    "subjects_frame",
    "to_frames",
    "to_networkx",
    "ultimate_controllers",
]
