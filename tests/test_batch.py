"""Batches answer exactly what one subject at a time answers.

``check_many`` and ``risk.neighbourhoods`` read once for a whole batch, and on the SQLite store the
graph index traverses from every origin in one pass and names only the nodes that carry facts.
Each answer is compared, field by field, with the generic path (``graph_index=False``: one
subject at a time over ``roles_of``) on the seeded demo city.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import date
from pathlib import Path

import pytest

from graph_credit import graph as risk
from graph_credit.analytics.demo import demo_store
from graph_credit.checks import check, check_many
from graph_credit.store import SQLiteStore
from tests.helpers import make_uscc

DATES = (date(2019, 6, 1), date(2023, 3, 15), date(2025, 6, 30))


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "city.sqlite"
    demo_store(path, orgs=500, seed=11).close()
    return path


@pytest.fixture(scope="module")
def stores(city: Path) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    fast, plain = SQLiteStore(city), SQLiteStore(city, graph_index=False)
    fast.warm()
    yield fast, plain
    fast.close()
    plain.close()


def subjects(store: SQLiteStore) -> list[str]:
    """Organisations and persons, the hub persons among them, an unknown code, and a repeat."""
    orgs = sorted(o.code for o in store.iter_organisations())
    busy = sorted({e.holder for e in store.iter_roles()}, key=lambda h: -len(store.roles_of([h], "out")))
    people = sorted(p.key for p in store.iter_persons())
    chosen = orgs[::2] + busy[:5] + people[::40] + [make_uscc(999_999)]
    return [*chosen, chosen[0]]


@pytest.mark.parametrize("on", DATES)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_check_many_equals_one_check_at_a_time_on_the_generic_path(
    stores: tuple[SQLiteStore, SQLiteStore], on: date, depth: int
) -> None:
    fast, plain = stores
    who = subjects(fast)
    batch = check_many(fast, who, "government_procurement", on, depth=depth)
    single = [check(plain, s, "government_procurement", on, depth=depth) for s in who]
    assert [asdict(r) for r in batch] == [asdict(r) for r in single]


def test_the_comparison_covers_every_decision_and_related_parties(stores: tuple[SQLiteStore, SQLiteStore]) -> None:
    fast, _ = stores
    results = [r for on in DATES for r in check_many(fast, subjects(fast), "government_procurement", on)]
    assert {r.decision for r in results} == {"deny", "review", "allow", "green_channel"}
    assert sum(len(r.related) for r in results) > 20
    assert any(r.warnings for r in results)


def test_check_many_under_a_jurisdiction_overlay(stores: tuple[SQLiteStore, SQLiteStore]) -> None:
    fast, plain = stores
    who = subjects(fast)[:60]
    on = DATES[-1]
    batch = check_many(fast, who, "government_procurement", on, "jiangyin")
    assert [asdict(r) for r in batch] == [asdict(check(plain, s, "government_procurement", on, "jiangyin"))
                                          for s in who]


@pytest.mark.parametrize(("depth", "fanout"), [(2, 200), (3, 4), (1, 1)])
def test_neighbourhoods_of_a_batch_equal_each_generic_neighbourhood(
    stores: tuple[SQLiteStore, SQLiteStore], depth: int, fanout: int
) -> None:
    fast, plain = stores
    who = subjects(fast)
    on = DATES[1]
    targets = {f.target for f in fast.iter_facts()}
    hoods = risk.neighbourhoods(fast, who, on, depth, fanout)
    assert len(hoods) == len(who)
    for origin, a in zip(who, hoods, strict=True):
        b = risk.neighbourhood(plain, origin, on, depth, fanout)
        assert a.origin == origin
        assert dict(a.distance) == dict(b.distance) and list(a.distance) == list(b.distance)
        assert dict(a.paths) == dict(b.paths)
        assert dict(a.edges) == dict(b.edges)
        assert a.truncated == b.truncated
        # The index names exactly the reached nodes that carry facts, in discovery order.
        assert a.candidates == [n for n in b.distance if n != origin and n in targets]
        assert b.candidates is None and b.others() == [n for n in b.distance if n != origin]
    assert any(h.truncated for h in hoods) or fanout > 100


def test_the_fact_flags_follow_new_facts(tmp_path: Path) -> None:
    """A node that gains its first fact becomes a candidate at the next read."""
    from graph_credit.engine import Engine
    from graph_credit.model import DishonestyRecord

    path = tmp_path / "c.sqlite"
    demo_store(path, orgs=150, seed=3).close()
    store = SQLiteStore(path)
    try:
        store.warm()
        have = {f.target for f in store.iter_facts()}
        on = DATES[-1]
        origin, fresh = next((e.holder, e.org) for e in store.roles_of(
            [o.code for o in store.iter_organisations()], "in", on)
            if e.org not in have and e.holder not in have)
        before = risk.neighbourhood(store, origin, on, 1)
        assert fresh not in (before.candidates or [])
        Engine(store).put_records([DishonestyRecord(
            record_id="BATCH-1", subject=fresh, category="tax_evasion", severity="serious",
            decision_date=date(2025, 1, 10), act_date=date(2024, 1, 10), document_no="B-1", department="tax",
            basis="test")])
        after = risk.neighbourhood(store, origin, on, 1)
        assert fresh in (after.candidates or [])
        assert fresh in [p["subject"] for p in check(store, origin, "government_procurement", on).related]
    finally:
        store.close()


def test_the_index_follows_edges_in_id_order_whatever_the_ids_look_like(tmp_path: Path) -> None:
    """Ids that are not 20 hex digits (kept aside by the index) still sort as strings do."""
    from dataclasses import replace

    from tests.test_store_conformance import random_edges

    edges = random_edges(40, 30, 500, seed=9)
    edges = [replace(e, edge_id=f"E-{i:03d}" if i % 3 else "Z" + e.edge_id) for i, e in enumerate(edges)]
    path = tmp_path / "odd.sqlite"
    fast, plain = SQLiteStore(path), SQLiteStore(path, graph_index=False)
    try:
        fast.put_roles(edges)
        fast.warm()
        origins = sorted({e.org for e in edges})[:25]
        on = date(2020, 1, 1)
        for depth, fanout in ((2, 200), (3, 3)):
            hoods = risk.neighbourhoods(fast, origins, on, depth, fanout)
            assert fast.traverse(origins, on, depth, fanout) is not None
            for origin, a in zip(origins, hoods, strict=True):
                b = risk.neighbourhood(plain, origin, on, depth, fanout)
                assert list(a.distance) == list(b.distance) and dict(a.paths) == dict(b.paths)
                assert dict(a.edges) == dict(b.edges) and a.truncated == b.truncated
    finally:
        fast.close()
        plain.close()


def test_a_batch_larger_than_one_pass_is_answered_in_passes_with_the_same_answers(
    stores: tuple[SQLiteStore, SQLiteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    import graph_credit.checks as checks

    fast, _ = stores
    who = subjects(fast)
    on = DATES[-1]
    whole = [asdict(r) for r in check_many(fast, who, "government_procurement", on)]
    monkeypatch.setattr(checks, "_CHUNK", 7)
    assert [asdict(r) for r in check_many(fast, who, "government_procurement", on)] == whole
