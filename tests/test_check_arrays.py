"""Checks scored from the graph index's arrays answer exactly what the generic path answers.

On the SQLite store ``check_many`` scores related parties from the traversal's arrays
(``SQLiteStore.reach_rows``): path weights over the rows, names, paths and reasons only for the
parties reported. Over random stores (shareholdings with ratios of every kind, hubs, edges changed
after the index was built, facts of every consequence, some suspended or ended) and random batches,
the answers must equal one check at a time and the same store read with the index switched off,
down to the bytes of the API's JSON.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import asdict, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_credit.checks import check, check_many
from graph_credit.graph import ADVERSE
from graph_credit.graph.traversal import related_of_origins, score_related
from graph_credit.ids import person_key
from graph_credit.model import Cause, DerivedFact, Role, RoleEdge
from graph_credit.store import SQLiteStore
from tests.helpers import make_id_number, make_uscc

ORGS = [make_uscc(i) for i in range(10)]
PEOPLE = [person_key(make_id_number(i)) for i in range(6)]
NODES = ORGS + PEOPLE
START = date(2015, 1, 1)
MATTER = "government_procurement"
# A third and 0.1234567 are not whole millionths: the index keeps them aside (odd ratios).
RATIOS = (None, 0.0, 0.1, 0.25, 1 / 3, 0.1234567, 0.9)
CONSEQUENCES = sorted(ADVERSE) + ["green_channel", "bar_bidding"]

edge = st.builds(
    lambda h, role, o, start, days, ratio: RoleEdge(
        h, role, o, START + timedelta(days=start), START + timedelta(days=start + days) if days else None,
        ratio=ratio if role is Role.SHAREHOLDER else None),
    st.sampled_from(NODES), st.sampled_from(list(Role)), st.sampled_from(ORGS), st.integers(0, 3000),
    st.one_of(st.just(0), st.integers(1, 3000)), st.sampled_from(RATIOS),
).filter(lambda e: e.holder != e.org)
fact = st.tuples(st.sampled_from(NODES), st.sampled_from(CONSEQUENCES), st.integers(0, 4000),
                 st.one_of(st.none(), st.integers(1, 3000)), st.booleans(), st.integers(0, 3))
scenario = st.fixed_dictionaries({
    "base": st.lists(edge, min_size=1, max_size=40),
    "later": st.lists(edge, max_size=8),  # written after the index was built: its delta
    "facts": st.lists(fact, max_size=25),
    "subjects": st.lists(st.sampled_from([*NODES, make_uscc(999)]), min_size=1, max_size=12),
    "on": st.integers(0, 4500),
    "depth": st.integers(1, 3),
    # Written once the fact spans are in memory: each first fact kept, ended, suspended or dropped,
    # new facts (some with the id of one there, another interval), and a write rolled back.
    "changes": st.lists(st.sampled_from(["keep", "end", "suspend", "drop"]), max_size=25),
    "facts_later": st.lists(fact, max_size=8),
    "rolled_back": st.booleans(),
})


def _facts(drawn: list[tuple[str, str, int, int | None, bool, int]]) -> list[DerivedFact]:
    out = []
    for i, (target, consequence, start, days, suspended, rule) in enumerate(drawn):
        begin = START + timedelta(days=start)
        out.append(DerivedFact(
            cause=Cause("record", f"R{i % 4}"), rule_id=f"R{rule}", rule_version="1", consequence=consequence,
            target=target, target_role="subject", valid_from=begin,
            valid_to=begin + timedelta(days=days) if days else None, basis=("《意见》第十条",),
            ended_by="lifted" if days and i % 2 else None,
            suspended=((begin, begin + timedelta(days=400)),) if suspended else ()))
    return out


def _change_facts(store: SQLiteStore, facts: list[DerivedFact], s: dict[str, Any], on: date) -> None:
    """Facts ended, suspended, dropped and added after the spans were read, and a write rolled back."""
    changed = []
    for f, what in zip(facts, [*s["changes"], *["keep"] * len(facts)], strict=False):
        if what == "end":
            f = replace(f, valid_to=max(on, f.valid_from + timedelta(days=1)), ended_by="lifted")
        elif what == "suspend":
            f = replace(f, suspended=((on - timedelta(days=10), on + timedelta(days=10)),))
        if what != "drop":
            changed.append(f)
    changed += _facts(s["facts_later"])
    for cause in sorted({f.cause for f in [*facts, *changed]}, key=str):
        store.replace_facts(cause, [f for f in changed if f.cause == cause])
    if s["rolled_back"] and changed:
        with contextlib.suppress(RuntimeError), store.transaction():
            store.replace_facts(changed[0].cause, [replace(f, valid_from=on, suspended=()) for f in changed])
            raise RuntimeError("rolled back")


def _json(results: list[Any]) -> str:
    return json.dumps([asdict(r) for r in results], ensure_ascii=False, default=str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_check_many_from_arrays_equals_one_check_at_a_time_and_the_index_switched_off(s: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite"
        fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
        try:
            fast.put_roles(s["base"])
            facts = _facts(s["facts"])
            for cause in sorted({f.cause for f in facts}, key=str):
                fast.replace_facts(cause, [f for f in facts if f.cause == cause])
            fast.warm()
            if s["later"]:
                fast.put_roles(s["later"])
            on, depth, who = START + timedelta(days=s["on"]), s["depth"], s["subjects"]
            for later in (False, True):
                if later:
                    _change_facts(fast, facts, s, on)
                answered = fast.index_stats()["index"]
                rows = fast.reach_rows(who, on, depth, 200)
                assert rows is not None  # the array path answers, base and delta
                assert rows.spans is not None  # and candidates are judged over the facts' spans
                batch = check_many(fast, who, MATTER, on, depth=depth)
                assert fast.index_stats()["index"] > answered
                one_by_one = [check(fast, x, MATTER, on, depth=depth) for x in who]
                generic = [check(plain, x, MATTER, on, depth=depth) for x in who]
                assert _json(batch) == _json(one_by_one) == _json(generic)
                assert [asdict(r) for r in batch] == [asdict(r) for r in generic]
        finally:
            fast.close()
            plain.close()


def test_the_array_path_scores_as_the_generic_one_at_every_fan_out(tmp_path: Path) -> None:
    """Hubs cut by the fan-out limit, shareholder weights from ratios, parties at every distance."""
    from graph_credit import graph as risk

    hub = PEOPLE[0]
    edges = [RoleEdge(hub, Role.DIRECTOR, o, START) for o in ORGS]
    edges += [RoleEdge(ORGS[i], Role.SHAREHOLDER, ORGS[i + 1], START, ratio=RATIOS[i % len(RATIOS)])
              for i in range(len(ORGS) - 1)]
    edges += [RoleEdge(PEOPLE[1 + i % 5], Role.LEGAL_REPRESENTATIVE, o, START) for i, o in enumerate(ORGS)]
    facts = _facts([(n, CONSEQUENCES[i % len(CONSEQUENCES)], 0, None, False, i) for i, n in enumerate(NODES)])
    path = tmp_path / "h.sqlite"
    fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
    try:
        fast.put_roles(edges)
        for cause in sorted({f.cause for f in facts}, key=str):
            fast.replace_facts(cause, [f for f in facts if f.cause == cause])
        fast.warm()
        on = date(2024, 1, 1)
        for later in ([], [RoleEdge(ORGS[9], Role.SHAREHOLDER, ORGS[0], START, ratio=0.9),  # in the delta
                           RoleEdge(PEOPLE[5], Role.SHAREHOLDER, ORGS[4], START, ratio=1 / 3)]):
            fast.put_roles(later)
            for depth, fanout in ((1, 200), (2, 200), (3, 3), (2, 1)):
                arrays = related_of_origins(fast, NODES, on, depth, fanout)
                assert arrays == score_related(plain, [risk.neighbourhood(plain, n, on, depth, fanout)
                                                       for n in NODES])
        assert fast.index_stats()["delta_edges"] == 2
        assert any(len(p) > 3 for p in related_of_origins(fast, NODES, on, 3, 200))
        assert any(p.path and p.path[-1].role == "SHAREHOLDER" and p.path[-1].ratio
                   for ps in related_of_origins(fast, NODES, on, 2, 200) for p in ps)
    finally:
        fast.close()
        plain.close()


def test_a_check_on_a_store_without_role_edges_takes_the_array_path(tmp_path: Path) -> None:
    """No edge at all: the index has no node, and the subject is in no index (was an IndexError)."""
    path = tmp_path / "e.sqlite"
    fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
    try:
        facts = _facts([(ORGS[0], "market_ban", 0, None, False, 0)])
        fast.replace_facts(facts[0].cause, facts)
        on = date(2024, 1, 1)
        assert fast.reach_rows([ORGS[0]], on, 2, 200) is not None
        assert _json(check_many(fast, [ORGS[0], ORGS[1]], MATTER, on)) == _json(
            [check(plain, s, MATTER, on) for s in ORGS[:2]])
    finally:
        fast.close()
        plain.close()


def test_a_party_lifted_suspended_or_rolled_back_after_the_spans_were_read(tmp_path: Path) -> None:
    """The fact spans are read once and then follow this process's writes: a fact lifted leaves the
    answer, a suspension too, a rolled-back write (whose spans stay, a superset) changes nothing."""
    path = tmp_path / "f.sqlite"
    fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
    on = date(2024, 1, 1)

    def parties() -> list[str]:
        got = check_many(fast, [ORGS[0]], MATTER, on)
        assert _json(got) == _json([check(plain, ORGS[0], MATTER, on)])
        return [p["subject"] for p in got[0].related]

    try:
        fast.put_roles([RoleEdge(PEOPLE[0], Role.DIRECTOR, o, START) for o in ORGS[:3]])
        ban, bar = _facts([(ORGS[1], "market_ban", 0, None, False, 0), (ORGS[2], "market_ban", 0, None, False, 1)])
        fast.replace_facts(ban.cause, [ban])
        fast.warm()
        assert parties() == [ORGS[1]]  # the spans are now in memory
        fast.replace_facts(bar.cause, [bar])
        assert sorted(parties()) == [ORGS[1], ORGS[2]]
        fast.replace_facts(ban.cause, [replace(ban, valid_to=on, ended_by="lifted")])  # same fact id
        assert parties() == [ORGS[2]]
        fast.replace_facts(bar.cause, [replace(bar, suspended=((START, None),))])
        assert parties() == []
        with contextlib.suppress(RuntimeError), fast.transaction():
            fast.replace_facts(ban.cause, [ban])
            raise RuntimeError("rolled back")
        assert parties() == []
        fast.replace_facts(bar.cause, [bar])
        assert parties() == [ORGS[2]]
    finally:
        fast.close()
        plain.close()


def test_the_facts_of_parties_in_force_are_read_once_with_their_spans(tmp_path: Path) -> None:
    """The candidates' whole fact rows come with their spans: the parties in force are decoded from them,
    not read again (the subject's own facts and the candidates' are the two reads by target)."""
    path = tmp_path / "r.sqlite"
    fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
    on = date(2024, 1, 1)
    try:
        fast.put_roles([RoleEdge(p, Role.DIRECTOR, ORGS[0], START) for p in PEOPLE[:5]])
        facts = _facts([(p, "joint_punishment", 0, None, False, i) for i, p in enumerate(PEOPLE[:5])])
        for cause in sorted({f.cause for f in facts}, key=str):
            fast.replace_facts(cause, [f for f in facts if f.cause == cause])
        fast.warm()
        statements: list[str] = []
        fast._con().set_trace_callback(statements.append)  # this thread's reader
        got = check_many(fast, [ORGS[0]], MATTER, on)
        fast._con().set_trace_callback(None)
        assert sorted(p["subject"] for p in got[0].related) == sorted(PEOPLE[:5])
        assert _json(got) == _json([check(plain, ORGS[0], MATTER, on)])
        assert sum("FROM facts WHERE target IN" in s for s in statements) == 2
    finally:
        fast.close()
        plain.close()
