"""Related-party risk (关联风险), neighbourhoods, connections and ownership penetration, as of a date.

Traversal uses only ``Store.roles_of``, one call per hop for the whole frontier, so it behaves the
same on every backend. Hub nodes (nominee persons holding thousands of roles) are paged: at most
``max_fanout`` edges are followed from any node and the truncation is reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any, cast

import numpy as np
import yaml

from ..ids import is_person_key
from ..model import DerivedFact, Role, RoleEdge, fact_status
from ..store.base import FactSpan, ReachesRows, Store, TraversedEdge, Traverses, implements

__all__ = ["BeneficialOwner", "Controller", "Holdings", "Neighbourhood", "Ownership", "RelatedParty",
           "analyse_ownership", "beneficial_owners", "control_relation", "effective_ownership", "neighbourhood",
           "neighbourhoods", "ownership", "related_of_origins", "related_parties", "score_related", "shareholdings",
           "shortest_connection", "stake_through", "ultimate_controllers", "weights"]

ADVERSE = frozenset({
    "joint_punishment", "market_ban", "key_supervision", "personal_credit_entry", "responsible_person_punishment",
    "high_consumption_restriction", "exit_restriction", "public_institution_lr_bar", "commendation_ineligible",
    "honour_revocation", "key_monitoring",
})


@lru_cache(maxsize=1)
def weights() -> dict[str, Any]:
    return yaml.safe_load(resources.files("graph_credit.graph").joinpath("scoring.yaml").read_text(encoding="utf-8"))


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
    distance: Mapping[str, int]
    paths: Mapping[str, tuple[Step, ...]]
    edges: Mapping[str, RoleEdge]
    truncated: dict[str, int] = field(default_factory=dict)  # node -> edges not followed
    # The nodes that may carry facts (the origin aside), when the store knows them; else every node.
    candidates: list[str] | None = None

    def others(self) -> list[str]:
        """The nodes whose facts related-party risk reads: the candidates, or all but the origin."""
        if self.candidates is not None:
            return self.candidates
        return [n for n in self.distance if n != self.origin]


class _Paths(Mapping[str, tuple[Step, ...]]):
    """Paths rebuilt on demand from parent pointers (a backend's own traversal, ``store.traverse``)."""

    def __init__(
        self, origin: str, parent: Mapping[str, tuple[str, int]], edge: Callable[[int], TraversedEdge]
    ) -> None:
        self._origin = origin
        self._parent = parent
        self._edge = edge
        self._done: dict[str, tuple[Step, ...]] = {origin: ()}

    def __getitem__(self, node: str) -> tuple[Step, ...]:
        found = self._done.get(node)
        if found is None:
            src, handle = self._parent[node]
            e = self._edge(handle)
            found = self._done[node] = (*self[src], Step(src, node, e.edge_id, e.role, e.holder, e.org,
                                                         e.valid_from, e.valid_to, e.ratio))
        return found

    def __iter__(self) -> Iterator[str]:
        yield self._origin
        yield from self._parent

    def __len__(self) -> int:
        return 1 + len(self._parent)


def neighbourhood(store: Store, origin: str, as_of: date, depth: int = 2, max_fanout: int = 200) -> Neighbourhood:
    """Breadth-first over role edges in both directions, as of the date, to ``depth`` hops."""
    return neighbourhoods(store, [origin], as_of, depth, max_fanout)[0]


def neighbourhoods(
    store: Store, origins: Sequence[str], as_of: date, depth: int = 2, max_fanout: int = 200
) -> list[Neighbourhood]:
    """``neighbourhood`` of each origin; a backend's own graph index answers them all in one pass."""
    # per class: isinstance of a protocol is slow
    fast = (cast(Traverses, store).traverse(origins, as_of, depth, max_fanout)
            if implements(store, Traverses) and origins else None)
    if fast is not None:  # the same result, paths and edges built only when read
        return [Neighbourhood(o, as_of, depth, t.distance, _Paths(o, t.parent, t.edge), t.edges, t.truncated,
                              t.candidates) for o, t in zip(origins, fast, strict=True)]
    return [_neighbourhood(store, o, as_of, depth, max_fanout) for o in origins]


def _neighbourhood(store: Store, origin: str, as_of: date, depth: int, max_fanout: int) -> Neighbourhood:
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
    return score_related(store, [hood])[0], hood


def _adverse_on(f: DerivedFact | FactSpan, on: date) -> bool:
    """The fact (or its span) is an adverse consequence in force on the date: what related-party risk counts."""
    return f.consequence in ADVERSE and fact_status(f.valid_from, f.valid_to, f.ended_by, f.suspended, on) == "active"


class _Adverse:
    """The adverse consequences on each node active on a date, with the weight each carries: the facts
    of every node read at once, each node judged once per date (hubs recur across a batch)."""

    def __init__(self, store: Store, nodes: Sequence[str]) -> None:
        self.by_target: dict[str, list[DerivedFact]] = defaultdict(list)
        for f in store.facts_of(nodes):
            self.by_target[f.target].append(f)
        self._cw = weights()["consequences"]
        self._judged: dict[tuple[str, date], list[tuple[float, dict[str, Any]]]] = {}

    def __call__(self, node: str, on: date) -> list[tuple[float, dict[str, Any]]]:
        found = self._judged.get((node, on))
        if found is None:
            cw = self._cw
            found = self._judged[(node, on)] = [
                (float(cw.get(f.consequence, 0.3)),
                 {"fact_id": f.fact_id, "consequence": f.consequence, "rule_id": f.rule_id, "cause": str(f.cause),
                  "basis": list(f.basis)})
                for f in self.by_target.get(node, ()) if _adverse_on(f, on)]
        return found


def _party(node: str, distance: int, weight: float, facts: list[tuple[float, dict[str, Any]]],
           path: tuple[Step, ...]) -> RelatedParty:
    reasons = [{**reason, "score": round(w * weight, 4)} for w, reason in facts]
    return RelatedParty(node, distance, max(r["score"] for r in reasons), reasons, path)


def _ranked(parties: list[RelatedParty]) -> list[RelatedParty]:
    return sorted(parties, key=lambda p: (-p.score, p.distance, p.subject))


def score_related(store: Store, hoods: Sequence[Neighbourhood]) -> list[list[RelatedParty]]:
    """The related parties of each neighbourhood (see ``related_parties``), reading the facts of
    all of them at once and judging each node's facts once per date (hubs recur across a batch)."""
    adverse = _Adverse(store, list(dict.fromkeys(n for h in hoods for n in h.others())))
    out = []
    for hood in hoods:
        parties = []
        for node in hood.others():
            facts = adverse(node, hood.as_of) if node in adverse.by_target else None
            if facts:
                path = hood.paths[node]
                parties.append(_party(node, hood.distance[node], path_weight(path), facts, path))
        out.append(_ranked(parties))
    return out


def related_of_origins(
    store: Store, origins: Sequence[str], as_of: date, depth: int = 2, max_fanout: int = 200
) -> list[list[RelatedParty]]:
    """``score_related`` of each origin's neighbourhood. From a backend's arrays (``ReachesRows``),
    names, paths, weights and reasons are made only for the nodes with adverse facts: a batch costs
    about its traversal and the facts it reads, not a Python object per node reached."""
    arrays = implements(store, ReachesRows) and bool(origins)  # per class: isinstance of a protocol is slow
    rows = cast(ReachesRows, store).reach_rows(origins, as_of, depth, max_fanout) if arrays else None
    if rows is None:
        return score_related(store, neighbourhoods(store, origins, as_of, depth, max_fanout))
    wanted = (np.flatnonzero(rows.dist > 0) if rows.candidate is None else np.flatnonzero(rows.candidate)).tolist()
    keys = rows.node[wanted].tolist()
    nodes = list(dict.fromkeys(keys))  # each once (a dict, not np.unique: a single check has a handful)
    names = rows.names(np.array(nodes, dtype=np.int64))
    spans = rows.spans(names) if rows.spans is not None else None
    # Judged over the backend's compact spans first: whole facts are read only where one is in force.
    adverse = _Adverse(store, names if spans is None else
                       [n for n, ss in zip(names, spans, strict=True) if any(_adverse_on(x, as_of) for x in ss)])
    name_of = dict(zip(nodes, names, strict=True))
    hit = {k for k, n in name_of.items() if n in adverse.by_target and adverse(n, as_of)}
    chosen = [r for r, k in zip(wanted, keys, strict=True) if k in hit]

    def name(r: int) -> str:
        k = int(rows.node[r])
        found = name_of.get(k)
        if found is None:  # a node on a path that carries no facts
            found = name_of[k] = rows.names(rows.node[r : r + 1])[0]
        return found

    out: list[list[RelatedParty]] = [[] for _ in origins]
    for i, r in zip(np.searchsorted(rows.bounds, chosen, side="right").tolist(), chosen, strict=True):
        steps: list[Step] = []
        row = r
        while (up := int(rows.parent[row])) >= 0:  # from the row up to the origin
            e = rows.step(row)
            steps.append(Step(origins[i - 1] if rows.parent[up] < 0 else name(up), name(row), e.edge_id, e.role,
                              e.holder, e.org, e.valid_from, e.valid_to, e.ratio))
            row = up
        path = tuple(reversed(steps))
        node = name(r)
        out[i - 1].append(_party(node, int(rows.dist[r]), path_weight(path), adverse(node, as_of), path))
    return [_ranked(p) for p in out]


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


# -- ownership penetration (股权穿透) --------------------------------------------------------------
Holdings = dict[str, dict[str, float]]
"""``org -> {holder: ratio}``: the shareholder edges above an organisation on one date."""

CONTROL = 0.5  # more than half of the shares, held directly or through controlled organisations
_EPS = 1e-9  # ratios are decimals: tolerate float rounding when comparing with a threshold


def shareholdings(store: Store, org: str, as_of: date, max_depth: int = 10) -> Holdings:
    """The shareholder graph above ``org`` on ``as_of``, ``max_depth`` levels up, read with one
    ``roles_of`` call per level for the whole frontier. Persons end a chain (they have no
    shareholders), and so does an organisation with no shareholder recorded.

    Two edges from the same holder into the same organisation (two tranches) are added up."""
    holdings: Holdings = {}
    frontier = [org]
    for _ in range(max_depth):
        orgs = sorted({n for n in frontier if not is_person_key(n) and n not in holdings})
        if not orgs:
            break
        for n in orgs:
            holdings[n] = {}
        for e in store.roles_of(orgs, "in", as_of):
            if e.role == Role.SHAREHOLDER and e.ratio and e.org in holdings:
                row = holdings[e.org]
                row[e.holder] = row.get(e.holder, 0.0) + e.ratio
        frontier = [h for n in orgs for h in holdings[n]]
    return holdings


class _Chains:
    """Simple chains of holdings above an organisation, each with the product of its ratios.

    A chain never revisits a node, so an ownership cycle (A holds B, B holds A) is walked once
    and cannot inflate a stake; it ends at ``max_depth`` edges, at a node in ``stop``, or when
    ``max_paths`` chains have been produced (``truncated`` is then set)."""

    def __init__(self, max_depth: int, max_paths: int) -> None:
        self.max_depth, self.max_paths = max_depth, max_paths
        self.truncated = False

    def walk(self, holdings: Holdings, org: str, stop: Collection[str] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
        stack: list[tuple[tuple[str, ...], float]] = [((org,), 1.0)]
        produced = 0
        while stack:
            path, share = stack.pop()
            for holder, ratio in sorted(holdings.get(path[-1], {}).items()):
                if holder in path:
                    continue
                if produced >= self.max_paths:
                    self.truncated = True
                    return
                produced += 1
                chain = (*path, holder)
                yield chain, share * ratio
                if holder not in stop and len(chain) <= self.max_depth:
                    stack.append((chain, share * ratio))


def control_relation(holdings: Holdings) -> dict[str, set[str]]:
    """``x -> organisations x controls``: x controls y when the shares of y held by x itself or by
    organisations x controls add up to more than half (the least fixed point, so control through
    ownership cycles is found and the computation ends)."""
    controls: dict[str, set[str]] = defaultdict(set)
    controllers: dict[str, set[str]] = defaultdict(set)
    changed = True
    while changed:
        changed = False
        for y in sorted(holdings):
            holders = holdings[y]
            candidates = set(holders).union(*(controllers[h] for h in holders)) if holders else set()
            for x in sorted(candidates):
                if x == y or y in controls[x]:
                    continue
                if sum(r for h, r in holders.items() if h == x or h in controls[x]) > CONTROL + _EPS:
                    controls[x].add(y)
                    controllers[y].add(x)
                    changed = True
    return {x: ys for x, ys in controls.items() if ys}


@dataclass(frozen=True, slots=True)
class Controller:
    holder: str
    control_share: float  # the votes it commands at the organisation: own shares + shares of organisations it controls
    effective_stake: float
    controls: bool  # control_share > 50%


@dataclass(frozen=True, slots=True)
class BeneficialOwner:
    person: str
    effective_stake: float
    control_share: float
    criteria: tuple[str, ...]  # ownership, votes (each >= threshold), control (> 50% of votes), management


@dataclass
class Ownership:
    """Ownership penetration of one organisation: effective stakes, control and who is ultimate.

    ``stakes``: every direct and indirect holder's effective stake, multiplied along each chain and
    summed across chains (A holds 60% of B, B 50% of C, A 10% of C directly: A's stake in C is 0.4).
    ``control``: the share of the organisation's votes each node commands, counting in full the
    shares of organisations it controls (A above commands 0.5 + 0.1 = 0.6 of C, so A controls C).
    ``controlled_by``: who controls each node. ``truncated``: the chain limit was reached.
    """

    org: str
    holdings: Holdings
    stakes: dict[str, float]
    chains: dict[str, int]
    control: dict[str, float]
    controlled_by: dict[str, set[str]]
    truncated: bool = False

    def direct(self) -> dict[str, float]:
        return dict(self.holdings.get(self.org, {}))

    def is_ultimate(self, node: str) -> bool:
        """Nobody controls it, except nodes it controls in turn (a mutual-control loop)."""
        return not (self.controlled_by.get(node, set()) - self._controls_of(node) - {node})

    def _controls_of(self, node: str) -> set[str]:
        return {y for y, xs in self.controlled_by.items() if node in xs}

    def ultimate_controllers(self, threshold: float = 0.25) -> list[Controller]:
        """Ultimate holders (not controlled by anyone else) commanding at least ``threshold`` of the
        votes; ``controls`` marks the one with a majority, if any."""
        out = [Controller(x, round(c, 9), round(self.stakes.get(x, 0.0), 9), c > CONTROL + _EPS)
               for x, c in self.control.items() if c + _EPS >= threshold and self.is_ultimate(x)]
        return sorted(out, key=lambda c: (-c.control_share, -c.effective_stake, c.holder))

    def beneficial_owners(self, threshold: float = 0.25) -> list[BeneficialOwner]:
        """Natural persons who ultimately own at least ``threshold`` of the shares (25% or more,
        multiplied along chains and summed: ``ownership``), command at least ``threshold`` of the
        votes through organisations they control (``votes``), or control it (``control``)."""
        out = []
        for p in sorted(set(self.stakes) | set(self.control)):
            if not is_person_key(p):
                continue
            stake, ctrl = self.stakes.get(p, 0.0), self.control.get(p, 0.0)
            criteria = tuple(c for c, ok in (("ownership", stake + _EPS >= threshold),
                                             ("votes", ctrl + _EPS >= threshold),
                                             ("control", ctrl > CONTROL + _EPS)) if ok)
            if criteria:
                out.append(BeneficialOwner(p, round(stake, 9), round(ctrl, 9), criteria))
        return sorted(out, key=lambda b: (-b.effective_stake, -b.control_share, b.person))

    def stake_through(self, flagged: Collection[str]) -> dict[str, float]:
        """See ``stake_through``."""
        return stake_through(self.holdings, self.org, flagged)


def stake_through(holdings: Holdings, org: str, flagged: Collection[str]) -> dict[str, float]:
    """The part of ``org``'s shares held by, or through, ``flagged`` holders, per flagged holder.
    Each chain counts once, at the first flagged holder met going up, so a flagged organisation held
    by a flagged person is not counted twice: the sum never exceeds the shares recorded.

    >>> stake_through({"C": {"A": 0.1, "B": 0.5, "X": 0.4}, "B": {"A": 0.6}}, "C", {"A", "B"})
    {'B': 0.5, 'A': 0.1}
    """
    flagged = set(flagged)
    out: dict[str, float] = {}
    for chain, share in _Chains(10**6, 10**6).walk(holdings, org, stop=flagged):
        if chain[-1] in flagged:
            out[chain[-1]] = out.get(chain[-1], 0.0) + share
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def analyse_ownership(holdings: Holdings, org: str, max_depth: int = 10, max_paths: int = 200_000) -> Ownership:
    """Effective stakes, control shares and control relation of ``org`` from a holdings map.

    >>> own = analyse_ownership({"C": {"A": 0.1, "B": 0.5, "X": 0.4}, "B": {"A": 0.6}}, "C")
    >>> {h: round(s, 6) for h, s in own.stakes.items()}
    {'B': 0.5, 'A': 0.4, 'X': 0.4}
    >>> [(c.holder, c.control_share, c.controls) for c in own.ultimate_controllers()]
    [('A', 0.6, True), ('X', 0.4, False)]
    >>> own.stake_through({"A"})  # B's 50% is 60% A's: 0.3, plus A's own 0.1
    {'A': 0.4}
    """
    walker = _Chains(max_depth, max_paths)
    stakes: dict[str, float] = {}
    chains: dict[str, int] = {}
    for chain, share in walker.walk(holdings, org):
        holder = chain[-1]
        stakes[holder] = stakes.get(holder, 0.0) + share
        chains[holder] = chains.get(holder, 0) + 1
    relation = control_relation(holdings)
    controlled_by: dict[str, set[str]] = defaultdict(set)
    for x, ys in relation.items():
        for y in ys:
            controlled_by[y].add(x)
    direct = holdings.get(org, {})
    nodes = set(stakes) | set(relation)
    control = {}
    for x in nodes:
        c = sum(r for h, r in direct.items() if h == x or h in relation.get(x, ()))
        if c > 0 and x != org:
            control[x] = c
    ordered = dict(sorted(stakes.items(), key=lambda kv: (-kv[1], kv[0])))
    return Ownership(org, holdings, ordered, chains, control, dict(controlled_by), walker.truncated)


def ownership(store: Store, org: str, as_of: date, max_depth: int = 10, max_paths: int = 200_000) -> Ownership:
    """Ownership penetration of ``org`` as of a date (see ``Ownership``)."""
    return analyse_ownership(shareholdings(store, org, as_of, max_depth), org, max_depth, max_paths)


def effective_ownership(store: Store, org: str, as_of: date, max_depth: int = 10) -> dict[str, float]:
    """Effective stakes of every direct and indirect holder of ``org``: multiplied along each chain,
    summed across chains (EU AMLR art. 52 style). A chain stops where it would revisit a node, so
    ownership cycles cannot inflate stakes."""
    return ownership(store, org, as_of, max_depth).stakes


def ultimate_controllers(store: Store, org: str, as_of: date, threshold: float = 0.25,
                         max_depth: int = 10) -> list[Controller]:
    """Holders at the top of the control chains of ``org`` commanding at least ``threshold`` of its
    votes as of the date (see ``Ownership.ultimate_controllers``)."""
    return ownership(store, org, as_of, max_depth).ultimate_controllers(threshold)


def beneficial_owners(store: Store, org: str, as_of: date, threshold: float = 0.25, max_depth: int = 10,
                      management_fallback: bool = True) -> list[BeneficialOwner]:
    """Natural persons owning 25% or more (``threshold``) of ``org``, directly or indirectly, or
    commanding 25% or more of its votes, or controlling it, as of the date. With
    ``management_fallback``, when nobody qualifies the person in charge of day-to-day management (the
    principal, else the legal representative) is reported with the criterion ``management``, as the
    2024 PBOC measures on beneficial owner information require."""
    found = ownership(store, org, as_of, max_depth).beneficial_owners(threshold)
    if found or not management_fallback:
        return found
    held = store.roles_of([org], "in", as_of)
    for role in (Role.PRINCIPAL, Role.LEGAL_REPRESENTATIVE):
        people = sorted({e.holder for e in held if e.role == role and is_person_key(e.holder)})
        if people:
            return [BeneficialOwner(p, 0.0, 0.0, ("management",)) for p in people]
    return []
