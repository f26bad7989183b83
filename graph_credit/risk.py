"""Related-party risk (关联风险), neighbourhoods, connections and ownership penetration, as of a date.

Traversal uses only ``Store.roles_of``, one call per hop for the whole frontier, so it behaves the
same on every backend. Hub nodes (nominee persons holding thousands of roles) are paged: at most
``max_fanout`` edges are followed from any node and the truncation is reported.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .model import RoleEdge
from .store.base import Store

__all__ = ["Neighbourhood", "RelatedParty", "effective_ownership", "neighbourhood", "related_parties",
           "shortest_connection", "weights"]

ADVERSE = frozenset({
    "joint_punishment", "market_ban", "key_supervision", "personal_credit_entry", "high_consumption_restriction",
    "public_institution_lr_bar", "commendation_ineligible", "honour_revocation", "key_monitoring",
})


@lru_cache(maxsize=1)
def weights() -> dict[str, Any]:
    return yaml.safe_load(resources.files("graph_credit").joinpath("scoring.yaml").read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Step:
    source: str  # the node the step leaves from
    target: str
    edge_id: str
    role: str
    holder: str
    org: str
    valid_from: date
    valid_to: date | None
    ratio: float | None


@dataclass
class Neighbourhood:
    origin: str
    as_of: date
    depth: int
    distance: dict[str, int]
    paths: dict[str, tuple[Step, ...]]
    edges: dict[str, RoleEdge]
    truncated: dict[str, int] = field(default_factory=dict)  # node -> edges not followed


def neighbourhood(store: Store, origin: str, as_of: date, depth: int = 2, max_fanout: int = 200) -> Neighbourhood:
    """Breadth-first over role edges in both directions, as of the date, to ``depth`` hops."""
    distance = {origin: 0}
    paths: dict[str, tuple[Step, ...]] = {origin: ()}
    edges: dict[str, RoleEdge] = {}
    truncated: dict[str, int] = {}
    frontier = [origin]
    for hop in range(1, depth + 1):
        if not frontier:
            break
        by_node: dict[str, list[RoleEdge]] = {n: [] for n in frontier}
        for e in store.roles_of(frontier, "both", as_of):
            for n in (e.holder, e.org):
                if n in by_node:
                    by_node[n].append(e)
        nxt = []
        for node in frontier:
            incident = sorted(by_node[node], key=lambda e: (e.role != "LEGAL_REPRESENTATIVE", e.edge_id))
            if len(incident) > max_fanout:
                truncated[node] = len(incident) - max_fanout
                incident = incident[:max_fanout]
            for e in incident:
                edges[e.edge_id] = e
                other = e.org if e.holder == node else e.holder
                if other not in distance:
                    distance[other] = hop
                    paths[other] = (*paths[node], Step(node, other, e.edge_id, e.role.value, e.holder, e.org,
                                                       e.valid_from, e.valid_to, e.ratio))
                    nxt.append(other)
        frontier = nxt
    return Neighbourhood(origin, as_of, depth, distance, paths, edges, truncated)


def _role_weight(step: Step) -> float:
    w = weights()
    base = float(w["roles"].get(step.role, 0.3))
    if step.role == "SHAREHOLDER" and step.ratio:
        base += float(w["shareholder_ratio_weight"]) * step.ratio
    return min(base, 1.0)


def path_weight(path: tuple[Step, ...]) -> float:
    score = 1.0
    for s in path:
        score *= _role_weight(s)
    return score * float(weights()["hop_decay"]) ** max(len(path) - 1, 0)


@dataclass
class RelatedParty:
    subject: str
    distance: int
    score: float
    reasons: list[dict[str, Any]]
    path: tuple[Step, ...]


def related_parties(
    store: Store, subject: str, as_of: date, depth: int = 2, max_fanout: int = 200, hood: Neighbourhood | None = None
) -> tuple[list[RelatedParty], Neighbourhood]:
    """Parties within ``depth`` hops carrying an adverse consequence active on ``as_of``, scored."""
    hood = hood or neighbourhood(store, subject, as_of, depth, max_fanout)
    others = [n for n in hood.distance if n != subject]
    found: dict[str, RelatedParty] = {}
    cw = weights()["consequences"]
    for f in store.facts_of(others):
        if f.consequence not in ADVERSE or f.status_on(as_of) != "active":
            continue
        path = hood.paths[f.target]
        score = round(float(cw.get(f.consequence, 0.3)) * path_weight(path), 4)
        party = found.setdefault(f.target, RelatedParty(f.target, hood.distance[f.target], 0.0, [], path))
        party.score = max(party.score, score)
        party.reasons.append({"fact_id": f.fact_id, "consequence": f.consequence, "rule_id": f.rule_id,
                              "cause": str(f.cause), "basis": list(f.basis), "score": score})
    ranked = sorted(found.values(), key=lambda p: (-p.score, p.distance, p.subject))
    return ranked, hood


def shortest_connection(
    store: Store, a: str, b: str, as_of: date, max_depth: int = 6, max_fanout: int = 500
) -> tuple[Step, ...] | None:
    """The shortest chain of role edges linking two subjects as of the date (bidirectional BFS)."""
    if a == b:
        return ()
    sides: list[dict[str, tuple[Step, ...]]] = [{a: ()}, {b: ()}]
    frontiers = [[a], [b]]
    for _ in range(max_depth):
        i = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
        seen, other = sides[i], sides[1 - i]
        nxt = []
        counts: dict[str, int] = {}
        for e in store.roles_of(frontiers[i], "both", as_of):
            for node, far in ((e.holder, e.org), (e.org, e.holder)):
                if node not in seen or far in seen or counts.get(node, 0) >= max_fanout:
                    continue
                counts[node] = counts.get(node, 0) + 1
                seen[far] = (*seen[node], Step(node, far, e.edge_id, e.role.value, e.holder, e.org,
                                               e.valid_from, e.valid_to, e.ratio))
                nxt.append(far)
                if far in other:
                    left, right = sides[0][far], sides[1][far]
                    back = tuple(Step(s.target, s.source, s.edge_id, s.role, s.holder, s.org, s.valid_from,
                                      s.valid_to, s.ratio) for s in reversed(right))
                    return (*left, *back)
        if not nxt:
            return None
        frontiers[i] = nxt
    return None


def effective_ownership(store: Store, org: str, as_of: date, max_depth: int = 10) -> dict[str, float]:
    """Effective stakes of every direct and indirect holder of ``org``: multiplied along each chain,
    summed across chains (EU AMLR art. 52 style). A chain stops where it would revisit a node, so
    ownership cycles cannot inflate stakes."""
    stakes: dict[str, float] = {}
    queue: deque[tuple[str, float, frozenset[str]]] = deque([(org, 1.0, frozenset({org}))])
    while queue:
        node, share, seen = queue.popleft()
        if len(seen) > max_depth:
            continue
        for e in store.roles_of([node], "in", as_of):
            if e.role != "SHAREHOLDER" or not e.ratio or e.holder in seen:
                continue
            stake = share * e.ratio
            stakes[e.holder] = stakes.get(e.holder, 0.0) + stake
            queue.append((e.holder, stake, seen | {e.holder}))
    return dict(sorted(stakes.items(), key=lambda kv: -kv[1]))
