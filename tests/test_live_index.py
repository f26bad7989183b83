"""The SQLite graph index follows writes: an immutable base plus a delta of the edges changed since.

Every answer of the fast path is compared with the same store read with the index switched off
(``graph_index=False``: SQL only), after random interleavings of role writes and checks; one edge
changed never rebuilds the base; compaction replaces the base and drops the log; background
builds leave no connection or file descriptor behind.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_credit import graph as risk
from graph_credit.ids import person_key
from graph_credit.model import Role, RoleEdge
from graph_credit.store import SQLiteStore
from graph_credit.store.sqlite import index as index_module
from graph_credit.store.sqlite import store as store_module
from tests.helpers import make_id_number, make_uscc

ORGS = [make_uscc(i) for i in range(12)]
NEW_ORGS = [make_uscc(100 + i) for i in range(3)]  # no edge in the base: they enter through the delta
PEOPLE = [person_key(make_id_number(i)) for i in range(8)]
START = date(2015, 1, 1)
DATES = (date(2016, 6, 1), date(2021, 3, 1), date(2025, 6, 1))


def seed_edges() -> list[RoleEdge]:
    out = []
    for i, org in enumerate(ORGS):
        out.append(RoleEdge(PEOPLE[i % 3], Role.LEGAL_REPRESENTATIVE, org, START))
        out.append(RoleEdge(PEOPLE[0], Role.DIRECTOR, org, START + timedelta(days=30 * i)))  # a hub
        out.append(RoleEdge(ORGS[(i + 1) % len(ORGS)], Role.SHAREHOLDER, org, START, ratio=0.25))
    return out


def same_answers(fast: SQLiteStore, plain: SQLiteStore, origin: str, on: date, depth: int, fanout: int) -> None:
    a = risk.neighbourhood(fast, origin, on, depth, fanout)
    b = risk.neighbourhood(plain, origin, on, depth, fanout)
    assert a.distance == b.distance
    assert dict(a.paths) == dict(b.paths)
    assert dict(a.edges) == dict(b.edges)
    assert a.truncated == b.truncated


def open_pair(path: Path) -> tuple[SQLiteStore, SQLiteStore]:
    fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
    fast.put_roles(seed_edges())
    fast.warm()
    return fast, plain


nodes = st.sampled_from(ORGS + NEW_ORGS + PEOPLE)
orgs = st.sampled_from(ORGS + NEW_ORGS)
new_edge = st.builds(
    lambda holder, role, org, start, end, odd_id: RoleEdge(
        holder, role, org, START + timedelta(days=start), START + timedelta(days=start + end) if end else None,
        ratio=0.3 if role is Role.SHAREHOLDER else None, edge_id=f"x{start}" if odd_id else "",
    ),
    nodes, st.sampled_from(list(Role)), orgs, st.integers(0, 3000), st.one_of(st.none(), st.integers(1, 3000)),
    st.booleans(),
).filter(lambda e: e.holder != e.org)  # an organisation cannot hold itself (the import rejects it)
op = st.one_of(
    st.tuples(st.just("put"), new_edge),
    st.tuples(st.just("end"), st.integers(0, 10**6), st.integers(0, 4000)),  # end an existing edge
    st.tuples(st.just("delete"), st.integers(0, 10**6)),
    st.tuples(st.just("check"), nodes, st.sampled_from(DATES), st.integers(1, 3), st.sampled_from([2, 200])),
)


def run_ops(fast: SQLiteStore, plain: SQLiteStore, ops: list[tuple[Any, ...]], checks: int = 1) -> None:
    """Apply the writes, comparing each check (``checks`` times over) with the index switched off."""
    for o in ops:
        stored = sorted(fast.iter_roles(), key=lambda e: e.edge_id)
        if o[0] == "put":
            fast.put_roles([o[1]])
        elif o[0] == "end" and stored:
            e = stored[o[1] % len(stored)]
            fast.put_roles([RoleEdge(e.holder, e.role, e.org, e.valid_from, e.valid_from + timedelta(days=1 + o[2]),
                                     e.ratio, e.subscribed_capital, e.title, e.edge_id)])
        elif o[0] == "delete" and stored:
            fast.delete_roles([stored[o[1] % len(stored)].edge_id])
        elif o[0] == "check":
            for _ in range(checks):
                before = fast.index_stats()["index"]
                same_answers(fast, plain, *o[1:])
                assert fast.index_stats()["index"] == before + 1  # the fast path answered
    for origin in ORGS[:3] + PEOPLE[:2]:  # and after the last write
        for _ in range(checks):
            same_answers(fast, plain, origin, DATES[-1], 2, 200)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25))
def test_random_interleavings_of_role_writes_and_checks_answer_as_committed_data(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fast, plain = open_pair(Path(tmp) / "g.sqlite")
        try:
            base_gen = fast.index_stats()["base_gen"]
            run_ops(fast, plain, ops)
            # Every change went into the delta: the base built at the start is still the one in use.
            assert fast.index_stats()["base_gen"] == base_gen
            assert fast.index_stats()["bases_built"] == 1
        finally:
            fast.close()
            plain.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25), st.booleans())
def test_hubs_answer_from_the_copies_of_their_edges_as_committed_data(ops: list[tuple[Any, ...]], lazy: bool) -> None:
    """Every node of three edges or more a hub: traversals read its base edges from a copy in the order
    followed (``reach.fill_hub``), made at start-up or, ``lazy``, at the first traversal through it;
    writes kill base edges at hubs and add delta edges to them."""
    with mock.patch.object(index_module, "HUB_DEGREE", 3), tempfile.TemporaryDirectory() as tmp:
        fast, plain = open_pair(Path(tmp) / "g.sqlite")
        try:
            assert fast._index is not None
            copied = fast._index.base.hubs[3]
            assert (copied >= 0).all()  # warm() copied every hub: PEOPLE[0] and the organisations at least
            assert len(copied) >= 3
            if lazy:
                copied[:] = -1
            run_ops(fast, plain, ops, checks=2)
        finally:
            fast.close()
            plain.close()


def test_a_committed_change_is_in_the_fast_path_at_the_next_check(tmp_path: Path) -> None:
    fast, plain = open_pair(tmp_path / "g.sqlite")
    try:
        newcomer = NEW_ORGS[0]
        assert newcomer not in risk.neighbourhood(fast, PEOPLE[5], DATES[-1], 1).distance
        fast.put_roles([RoleEdge(PEOPLE[5], Role.SUPERVISOR, newcomer, START)])
        hood = risk.neighbourhood(fast, PEOPLE[5], DATES[-1], 1)
        assert hood.distance[newcomer] == 1
        assert fast.index_stats()["delta_edges"] == 1 and fast.index_stats()["bases_built"] == 1
        (edge,) = hood.edges.values()
        fast.delete_roles([edge.edge_id])
        assert newcomer not in risk.neighbourhood(fast, PEOPLE[5], DATES[-1], 1).distance
        same_answers(fast, plain, PEOPLE[0], DATES[-1], 2, 200)
    finally:
        fast.close()
        plain.close()


def is_mapped(a: Any) -> bool:
    """The array's memory is a mapped file (not the process's heap)."""
    while a is not None and not isinstance(a, mmap.mmap):
        a = getattr(a, "base", None)
    return a is not None


def wait_for_builds(store: SQLiteStore) -> None:
    deadline = time.monotonic() + 60
    while store._building:
        assert time.monotonic() < deadline, "the background build did not finish"
        time.sleep(0.01)


def test_compaction_replaces_the_base_in_the_background_and_drops_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_COMPACT_MIN", 3)
    fast, plain = open_pair(tmp_path / "g.sqlite")
    try:
        first = fast.index_stats()["base_gen"]
        for i in range(6):
            fast.put_roles([RoleEdge(PEOPLE[6], Role.DIRECTOR, ORGS[i], START)])
            same_answers(fast, plain, PEOPLE[6], DATES[-1], 2, 200)
        wait_for_builds(fast)
        stats = fast.index_stats()
        assert stats["bases_built"] >= 2 and stats["base_gen"] > first
        log = fast._read("SELECT count(*), min(gen) FROM role_log")[0]
        assert log[0] < 6 and (log[1] is None or log[1] > stats["base_gen"])
        same_answers(fast, plain, PEOPLE[6], DATES[-1], 2, 200)
    finally:
        fast.close()
        plain.close()


def test_a_large_base_is_built_in_a_child_process_and_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The build's memory and GIL time stay out of the serving process: it only maps the saved files,
    # and a base no view uses any more is unmapped (its descriptors closed).
    monkeypatch.setattr(store_module, "_COMPACT_MIN", 3)
    fast, plain = open_pair(tmp_path / "g.sqlite")
    try:
        fast._save_min = 0  # every table counts as large

        def not_here(*_: Any) -> None:
            raise AssertionError("a large base was built in the serving process")

        monkeypatch.setattr(store_module._GraphIndex, "build", not_here)
        fds: list[int] = []
        for round_ in range(2):
            first = fast.index_stats()["base_gen"]
            for i in range(5):
                fast.put_roles([RoleEdge(PEOPLE[6 + round_], Role.DIRECTOR, ORGS[i], START)])
                same_answers(fast, plain, PEOPLE[6 + round_], DATES[-1], 2, 200)
            wait_for_builds(fast)
            fast.traverse([PEOPLE[0]], DATES[-1], 1, 10)  # the new base and its delta in use
            stats = fast.index_stats()
            assert stats["bases_built_apart"] == round_ + 1 and stats["base_gen"] > first
            assert fast._index is not None and is_mapped(fast._index.base.holder)
            assert (tmp_path / "g.sqlite.graph" / f"gen-{stats['base_gen']}").is_dir()
            fds.append(open_fds())
        assert fds[1] <= fds[0] + 1  # the first mapped base was released (+ SQLite's deferred descriptor)
        before = fast.index_stats()["index"]
        origins = ORGS[:6] + PEOPLE[:8]
        for origin in origins:
            for on in DATES:
                same_answers(fast, plain, origin, on, 2, 200)
        assert fast.index_stats()["index"] == before + len(origins) * len(DATES)  # all on the fast path
    finally:
        fast.close()
        plain.close()


def test_a_bulk_load_makes_the_next_check_use_a_new_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.segmented import role_columns

    fast, plain = open_pair(tmp_path / "g.sqlite")
    try:
        fast.load_roles([role_columns([RoleEdge(PEOPLE[7], Role.DIRECTOR, o, START) for o in ORGS[:4]])])
        same_answers(fast, plain, PEOPLE[7], DATES[-1], 2, 200)
        assert fast.index_stats()["delta_edges"] == 4 and fast.index_stats()["bases_built"] == 1  # logged
        monkeypatch.setattr(store_module, "_LOG_BATCH", 5)  # a batch past it is not logged edge by edge
        fast.load_roles([role_columns([RoleEdge(PEOPLE[7], Role.DIRECTOR, o, START) for o in ORGS])])
        same_answers(fast, plain, PEOPLE[7], DATES[-1], 2, 200)
        assert fast.index_stats()["delta_edges"] == 0 and fast.index_stats()["bases_built"] == 2
    finally:
        fast.close()
        plain.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_connections_and_file_descriptors_stay_flat_over_many_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every base built in the background, and one after every other write: the old code left one
    # reader connection (and its file descriptors) behind per build.
    monkeypatch.setattr(store_module, "_SYNC_BUILD_ROWS", 0)
    monkeypatch.setattr(store_module, "_COMPACT_MIN", 1)
    fast, plain = open_pair(tmp_path / "g.sqlite")
    fast._save_min = 10**9  # built in this process: a child per build is covered below, and slow 40 times over
    try:
        def write_and_check(i: int) -> None:
            fast.put_roles([RoleEdge(PEOPLE[6], Role.DIRECTOR, ORGS[i % len(ORGS)], START + timedelta(days=i))])
            fast.traverse([PEOPLE[6]], DATES[-1], 2, 200)
            wait_for_builds(fast)

        for i in range(4):  # SQLite keeps the descriptor of a closed connection for reuse: count after
            write_and_check(i)
        readers, fds = len(fast._readers), open_fds()
        for i in range(4, 44):
            write_and_check(i)
        assert fast.index_stats()["bases_built"] >= 20
        same_answers(fast, plain, PEOPLE[6], DATES[-1], 2, 200)
        assert len(fast._readers) <= readers
        assert open_fds() <= fds + 1  # + SQLite's one deferred descriptor (POSIX locks), not one per build
        saved = list((tmp_path / "g.sqlite.graph").iterdir()) if (tmp_path / "g.sqlite.graph").exists() else []
        assert len(saved) <= 1  # one base on disk, not one per generation
    finally:
        fast.close()
        plain.close()


def test_a_facts_write_keeps_the_decoded_facts_of_subjects_it_did_not_touch(tmp_path: Path) -> None:
    from graph_credit.model import Cause
    from tests.test_store_conformance import fact

    store = SQLiteStore(tmp_path / "f.sqlite")
    try:
        keys = ORGS[:6]
        for i, k in enumerate(keys):
            store.replace_facts(Cause("record", f"R{i}"), [fact(Cause("record", f"R{i}"), k)])
        store.facts_of(keys)
        assert set(store._decoded[1]) == set(keys)
        changed = fact(Cause("record", "R0"), keys[0], "bar_financing")
        store.replace_facts(Cause("record", "R0"), [changed])
        assert set(store._decoded[1]) == set(keys[1:])  # the untouched subjects stay decoded
        assert [f for f in store.facts_of(keys) if f.target == keys[0]] == [changed]
        with pytest.raises(RuntimeError), store.transaction():  # rolled back: nothing changes
            store.replace_facts(Cause("record", "R1"), [])
            raise RuntimeError("roll back")
        assert len(store.facts_of(keys)) == 6
        assert [f.fact_id for f in store.facts_of(keys)] == [f.fact_id for f in SQLiteStore(
            tmp_path / "f.sqlite", graph_index=False).facts_by_cause([Cause("record", f"R{i}") for i in range(6)])]
    finally:
        store.close()


def test_processes_that_find_the_base_stale_at_once_build_it_once(tmp_path: Path) -> None:
    # Each server worker opens the store itself: after an import they all find the saved base stale. One
    # builds (a child process and its memory); the others wait for it and map what it saved.
    from concurrent.futures import ThreadPoolExecutor

    path = str(tmp_path / "g.sqlite")
    stores = [SQLiteStore(path), SQLiteStore(path)]
    try:
        stores[0].put_roles([RoleEdge(p, Role.DIRECTOR, o, START) for p, o in zip(PEOPLE, ORGS, strict=False)])
        for s in stores:
            s._save_min = 0
        with ThreadPoolExecutor(2) as pool:
            bases = list(pool.map(lambda s: s._build_base(), stores))
        assert sum(s.index_stats()["bases_built_apart"] for s in stores) == 1
        assert bases[0].gen == bases[1].gen == stores[1]._gen("roles_gen")
        stores[1].put_roles([RoleEdge(PEOPLE[0], Role.SUPERVISOR, ORGS[1], START)])
        assert stores[0]._build_base().gen == bases[0].gen + 1  # a stale saved base is not taken
    finally:
        for s in stores:
            s.close()


def test_facts_another_process_writes_are_followed_from_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server worker must not reread every subject with facts (10^6 of them in a province) and re-flag
    # every node each time another worker derives a record: it follows the fact log.
    from graph_credit.model import Cause
    from tests.test_store_conformance import fact

    fast, plain = open_pair(tmp_path / "g.sqlite")
    other = SQLiteStore(tmp_path / "g.sqlite")
    try:
        cause = Cause("record", "R1")
        other.replace_facts(Cause("record", "R0"), [fact(Cause("record", "R0"), ORGS[0])])
        assert len(fast.facts_of(ORGS[:4])) == 1  # targets loaded, facts decoded
        index = fast._index
        assert index is not None
        flags = fast._flagged(index, fast._fact_targets())
        assert flags is not None and flags[index.nids([ORGS[0]])[0]]
        monkeypatch.setattr(fast, "_load_fact_targets", lambda: pytest.fail("reloaded every target"))
        other.replace_facts(cause, [fact(cause, ORGS[2]), fact(cause, ORGS[3], "bar_financing")])
        assert {f.target for f in fast.facts_of(ORGS[:4])} == {ORGS[0], ORGS[2], ORGS[3]}
        flags = fast._flagged(index, fast._fact_targets())
        assert flags is not None and flags[index.nids([ORGS[2], ORGS[3]])].all()
        known = fast._fact_targets()
        assert known is not None and fast._spans(known[1], ORGS[:4])[2]  # ORGS[2]'s spans and rows kept
        other.replace_facts(cause, [fact(cause, ORGS[3], "bar_financing")])  # ORGS[2]'s fact withdrawn
        assert {f.target for f in fast.facts_of(ORGS[:4])} == {ORGS[0], ORGS[3]}
        known = fast._fact_targets()
        assert known is not None and fast._spans(known[1], ORGS[:4])[2] == ()
        assert fast.facts_of(ORGS[:4]) == plain.facts_of(ORGS[:4])
        monkeypatch.undo()  # the log pruned past the reader's generation: it reloads every target
        gen = other._gen("facts_gen")
        with other.transaction():
            other._writer.execute("UPDATE meta SET v = ? WHERE k = 'facts_log_from'", (gen + 1,))
            other.replace_facts(cause, [])
        assert {f.target for f in fast.facts_of(ORGS[:4])} == {ORGS[0]}
    finally:
        for s in (fast, plain, other):
            s.close()
