"""The responsibility graph read as a graph: bounded traversal (neighbourhoods, paths), related-party
scoring (``scoring.yaml``), ownership penetration, connections between subjects and the explorer's pages
(``graph.explore``, not re-exported here: it reads subject status from :mod:`graph_credit.analytics`).
"""

from .connections import InvalidCursor, connect
from .traversal import (
    ADVERSE,
    CONTROL,
    Holdings,
    Neighbourhood,
    RelatedParty,
    Step,
    analyse_ownership,
    beneficial_owners,
    effective_ownership,
    neighbourhood,
    neighbourhoods,
    ownership,
    related_parties,
    score_related,
    shortest_connection,
    stake_through,
    ultimate_controllers,
    weights,
)

__all__ = [
    "ADVERSE", "CONTROL", "Holdings", "InvalidCursor", "Neighbourhood", "RelatedParty", "Step", "analyse_ownership",
    "beneficial_owners", "connect", "effective_ownership", "neighbourhood", "neighbourhoods", "ownership",
    "related_parties", "score_related", "shortest_connection", "stake_through",
    "ultimate_controllers", "weights",
]
