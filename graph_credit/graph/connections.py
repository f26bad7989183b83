"""Connections among many subjects: the subgraph that links 2 to 50 subjects as of a date.

One breadth-first search runs from every subject at once (one ``Store.roles_of`` call per hop for the
whole frontier) to ``ceil(max_depth / 2)`` hops, so every pair joined by a chain of at most ``max_depth``
role edges meets in the middle. For each such pair the shortest chain is kept; the subgraph is the union of
those chains. Persons holding a role directly in two or more of the subjects are listed as shared persons,
and chains made only of shareholdings running one way are listed as ownership chains with their effective
stake.

Where two companies hold shares in each other, a chain is read the way its shareholdings run: the edge
between two nodes that continues the chain upwards (or downwards) is taken, whichever edge the search met
first, so a cross-holding does not hide an ownership chain or its stake.

Hubs (nominee persons or holding companies with thousands of edges) are paged, as in ``risk.neighbourhood``:
at most ``max_fanout`` edges are followed from any node, in a fixed order (legal representatives first, then
by edge id); a direct edge between two requested subjects is always followed, on top of the page. Every
truncated hub is reported with its edge count, and ``next_cursor`` continues with the next page of each
hub's edges. Pages are cumulative: page 2 follows the first two pages' edges, so it keeps every chain page
1 found. A cursor is bound to the request it came from.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from typing import Any

from ..errors import DomainError
from ..model import Role, RoleEdge
from ..rules.derive import subject_kind
from ..store.base import Store
from .traversal import Step

__all__ = ["MAX_SUBJECTS", "Connections", "InvalidCursor", "PairConnection", "connect"]

MAX_SUBJECTS = 50


class InvalidCursor(DomainError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"cursor: {reason}")


@dataclass(frozen=True)
class PairConnection:
    a: str
    b: str
    path: tuple[Step, ...]
    kind: str  # direct | shared_person | ownership_chain | chain
    effective_stake: float | None = None  # ownership chains: product of the ratios along the chain

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "length": len(self.path), "kind": self.kind,
                "effective_stake": self.effective_stake,
                "path": [{"from": s.source, "to": s.target, "edge_id": s.edge_id, "role": s.role,
                          "valid_from": s.valid_from, "valid_to": s.valid_to, "ratio": s.ratio} for s in self.path]}


@dataclass
class Connections:
    subjects: list[str]
    as_of: date
    max_depth: int
    max_fanout: int
    pairs: list[PairConnection]
    nodes: dict[str, dict[str, Any]]  # node -> {"subject": bool, "kind": ...}
    edges: dict[str, RoleEdge]
    shared_persons: list[dict[str, Any]]
    components: list[list[str]]  # subjects grouped by whether a chain within max_depth joins them
    truncated: dict[str, dict[str, int]] = field(default_factory=dict)  # hub -> {"edges", "offset", "followed"}
    next_cursor: str | None = None

    @property
    def unconnected(self) -> list[str]:
        return sorted(c[0] for c in self.components if len(c) == 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "subjects": self.subjects, "as_of": self.as_of, "max_depth": self.max_depth,
            "max_fanout": self.max_fanout, "connected": len(self.components) == 1,
            "components": self.components, "unconnected": self.unconnected,
            "pairs": [p.as_dict() for p in self.pairs],
            "ownership_chains": [p.as_dict() for p in self.pairs if p.kind == "ownership_chain"],
            "shared_persons": self.shared_persons,
            "nodes": [{"id": k, **v} for k, v in sorted(self.nodes.items())],
            "edges": [{"id": e.edge_id, "source": e.holder, "target": e.org, "role": e.role.value,
                       "valid_from": e.valid_from, "valid_to": e.valid_to, "ratio": e.ratio, "title": e.title}
                      for e in sorted(self.edges.values(), key=lambda e: e.edge_id)],
            "truncated": [{"node": k, **v} for k, v in sorted(self.truncated.items())],
            "next_cursor": self.next_cursor,
        }


def _fingerprint(subjects: Sequence[str], as_of: date, max_depth: int, max_fanout: int) -> str:
    text = json.dumps([sorted(subjects), as_of.isoformat(), max_depth, max_fanout])
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _encode(offsets: dict[str, int], fp: str) -> str:
    raw = json.dumps({"q": fp, "o": offsets}, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, fp: str) -> dict[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        offsets = data["o"]
        fingerprint = data["q"]
    except (ValueError, KeyError, TypeError):
        raise InvalidCursor("not a cursor this service issued") from None
    if fingerprint != fp:
        raise InvalidCursor("belongs to a different request (subjects, as_of, max_depth or max_fanout differ)")
    if not isinstance(offsets, dict) or not all(isinstance(k, str) and isinstance(v, int) and v >= 0
                                                for k, v in offsets.items()):
        raise InvalidCursor("malformed page offsets")
    return offsets


def _order(e: RoleEdge) -> tuple[bool, str]:
    return (e.role != "LEGAL_REPRESENTATIVE", e.edge_id)


def _flip(s: Step) -> Step:
    return Step(s.target, s.source, s.edge_id, s.role, s.holder, s.org, s.valid_from, s.valid_to, s.ratio)


def _ownership(path: tuple[Step, ...], between: Callable[[str, str], list[RoleEdge]]
               ) -> tuple[tuple[Step, ...], float] | None:
    """The path read as shareholdings all running one way (every step climbing from an organisation to its
    holder, or every step going down), with the stake multiplied along it, or None. Between two nodes the
    shareholding running the chain's way is taken, whichever edge the search followed: two companies holding
    shares in each other have one each way. Tranches of one holder in one organisation add up."""
    first = path[0]
    for up in dict.fromkeys((first.source == first.org, True, False)):  # the direction the search met first
        steps: list[Step] = []
        stake = 1.0
        for s in path:
            holder, org = (s.target, s.source) if up else (s.source, s.target)
            held = [e for e in between(s.source, s.target)
                    if e.role == Role.SHAREHOLDER and e.holder == holder and e.org == org]
            if not held:
                break
            e = held[0]
            steps.append(Step(s.source, s.target, e.edge_id, e.role.value, e.holder, e.org, e.valid_from,
                              e.valid_to, e.ratio))
            stake *= sum(x.ratio or 0.0 for x in held)
        else:
            return tuple(steps), round(stake, 6)
    return None


def _kind(path: tuple[Step, ...], between: Callable[[str, str], list[RoleEdge]]
          ) -> tuple[tuple[Step, ...], str, float | None]:
    owned = _ownership(path, between)
    if owned is not None:
        return owned[0], "ownership_chain", owned[1]
    if len(path) == 1:
        return path, "direct", None
    if len(path) == 2 and subject_kind(path[0].target) == "person":
        return path, "shared_person", None
    return path, "chain", None


def connect(
    store: Store, subjects: Sequence[str], as_of: date, max_depth: int = 4, max_fanout: int = 100,
    cursor: str | None = None,
) -> Connections:
    """The subgraph connecting ``subjects`` (2 to 50 keys) through role edges in force on ``as_of``.

    Returns a ``Connections``: for every pair joined within ``max_depth`` hops, the shortest chain with its
    kind (direct, shared_person, ownership_chain, chain); the union of those chains as nodes and edges;
    persons holding roles directly in two or more subjects; the subjects grouped into components; truncated
    hubs and a cursor for the next page of their edges.
    """
    terminals = list(dict.fromkeys(subjects))
    if not 2 <= len(terminals) <= MAX_SUBJECTS:
        raise DomainError(f"subjects: give 2 to {MAX_SUBJECTS} distinct subjects, not {len(terminals)}")
    if max_depth < 1 or max_fanout < 1:
        raise DomainError("max_depth: and max_fanout must be at least 1")
    fp = _fingerprint(terminals, as_of, max_depth, max_fanout)
    offsets = _decode(cursor, fp) if cursor else {}
    radius = (max_depth + 1) // 2
    index = {t: i for i, t in enumerate(terminals)}
    more: dict[str, int] = {}  # hub -> paged edges followed so far, for the next cursor
    # reach[t][node] = (distance, step into node); the origin has no step
    reach: dict[str, dict[str, tuple[int, Step | None]]] = {t: {t: (0, None)} for t in terminals}
    frontier: dict[str, list[str]] = {t: [t] for t in terminals}
    truncated: dict[str, dict[str, int]] = {}
    incident_cache: dict[str, list[RoleEdge]] = {}
    for hop in range(1, radius + 1):
        wanted = sorted({n for front in frontier.values() for n in front} - set(incident_cache))
        if wanted:
            by_node: dict[str, list[RoleEdge]] = {n: [] for n in wanted}
            for e in store.roles_of(wanted, "both", as_of):
                for n in {e.holder, e.org}:
                    if n in by_node:
                        by_node[n].append(e)
            for n, found in by_node.items():
                found.sort(key=_order)
                between_subjects = [e for e in found if e.holder in index and e.org in index]
                paged = [e for e in found if not (e.holder in index and e.org in index)]
                if len(paged) > max_fanout:
                    start = offsets.get(n, 0)  # paged edges earlier pages followed: followed again
                    end = min(start + max_fanout, len(paged))
                    truncated[n] = {"edges": len(found), "offset": start, "followed": len(between_subjects) + end}
                    if end < len(paged):
                        more[n] = end
                    paged = paged[:end]
                incident_cache[n] = between_subjects + paged
        nxt: dict[str, list[str]] = {}
        for t, front in frontier.items():
            seen = reach[t]
            out = []
            for node in front:
                for e in incident_cache[node]:
                    other = e.org if e.holder == node else e.holder
                    if other in seen:
                        continue
                    seen[other] = (hop, Step(node, other, e.edge_id, e.role.value, e.holder, e.org, e.valid_from,
                                             e.valid_to, e.ratio))
                    out.append(other)
            if out:
                nxt[t] = out
        frontier = nxt
        if not frontier:
            break

    def path_to(t: str, node: str) -> tuple[Step, ...]:
        steps: list[Step] = []
        while node != t:
            step = reach[t][node][1]
            assert step is not None
            steps.append(step)
            node = step.source
        return tuple(reversed(steps))

    # Meeting points: for each pair, the node minimising the summed distance (ties: smallest key).
    touching: dict[str, list[str]] = {}
    for t, seen in reach.items():
        for node in seen:
            touching.setdefault(node, []).append(t)
    best: dict[tuple[str, str], tuple[int, str]] = {}
    for node in sorted(touching):
        ts = sorted(touching[node], key=index.__getitem__)
        for a, b in combinations(ts, 2):
            d = reach[a][node][0] + reach[b][node][0]
            if d <= max_depth and ((a, b) not in best or d < best[(a, b)][0]):
                best[(a, b)] = (d, node)
    pairs: list[PairConnection] = []
    parent = {t: t for t in terminals}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    nodes: dict[str, dict[str, Any]] = {}
    wanted_edges: set[str] = set()
    def between(u: str, v: str) -> list[RoleEdge]:
        found = {e.edge_id: e for n in (u, v) for e in incident_cache.get(n, ()) if {e.holder, e.org} == {u, v}}
        return [found[k] for k in sorted(found)]

    for (a, b), (_, mid) in sorted(best.items(), key=lambda kv: (index[kv[0][0]], index[kv[0][1]])):
        path, kind, stake = _kind(path_to(a, mid) + tuple(_flip(s) for s in reversed(path_to(b, mid))), between)
        pairs.append(PairConnection(a, b, path, kind, stake))
        parent[root(a)] = root(b)
        for s in path:
            wanted_edges.add(s.edge_id)
            nodes.setdefault(s.source, {})
            nodes.setdefault(s.target, {})
    for t in terminals:
        nodes.setdefault(t, {})
    for n in nodes:
        nodes[n] = {"kind": subject_kind(n), "subject": n in index,
                    "distance": min(reach[t][n][0] for t in terminals if n in reach[t])}
    by_id = {e.edge_id: e for page in incident_cache.values() for e in page}
    edges: dict[str, RoleEdge] = {i: by_id[i] for i in sorted(wanted_edges) if i in by_id}
    shared: list[dict[str, Any]] = []
    for node in sorted(touching):
        if subject_kind(node) != "person" or node in index:
            continue
        direct = sorted((t for t in touching[node] if reach[t][node][0] == 1), key=index.__getitem__)
        if len(direct) < 2:
            continue
        held = {t: [e for e in incident_cache[t] if e.holder == node] for t in direct}
        shared.append({"person": node, "subjects": direct,
                       "roles": {t: sorted({e.role.value for e in es}) for t, es in held.items()}})
        nodes.setdefault(node, {"kind": "person", "subject": False, "distance": 1})
        for es in held.values():
            edges.update((e.edge_id, e) for e in es)
    groups: dict[str, list[str]] = {}
    for t in terminals:
        groups.setdefault(root(t), []).append(t)
    components = sorted(groups.values(), key=lambda g: (-len(g), index[g[0]]))
    return Connections(terminals, as_of, max_depth, max_fanout, pairs, nodes, edges, shared, components,
                       truncated, _encode(more, fp) if more else None)
