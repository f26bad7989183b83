"""The Neo4j store without a server: what it sends, in which transactions, and what it makes of answers.

No Neo4j server runs here, so these tests put a FAKE driver under ``Neo4jStore``: it records every
statement (by its cypher/ file name) with its parameters and the kind of transaction it ran in,
and answers the few statements a test needs from Python stand-ins (``check_reads`` is answered
from a SQLite store, by a Python reading of what the statement returns). They prove the store's
side: which statements run, how many, in what order and transaction, how retries re-run a unit
of work, and that the check's answer rebuilt from one statement's rows equals SQLite's. They do
not prove that Neo4j executes the statements as intended: that is what ``NEO4J_URI=... make test``
(tests/test_store_conformance.py and the EXPLAIN of every file) is for.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from neo4j.exceptions import TransientError

from graph_credit import engine as engine_mod
from graph_credit.analytics.demo import DEMO_AS_OF, demo_store
from graph_credit.checks import check
from graph_credit.engine import Engine
from graph_credit.fields import EVENTS, FACTS, ORGANISATIONS, PERSONS, RECORDS, ROLES
from graph_credit.graph import neighbourhoods
from graph_credit.graph.traversal import _neighbourhood
from graph_credit.model import Cause, ListEntry, Role
from graph_credit.store import SQLiteStore, Store
from graph_credit.store.neo4j import store as neo
from graph_credit.store.neo4j.cypher import names, schema_statements, statement
from graph_credit.store.neo4j.store import lock_stripe
from tests.test_store_conformance import fact, org, record

Answer = Callable[[dict[str, Any]], list[dict[str, Any]]]
_BY_TEXT = {statement(n).text: n for n in names() if n != "schema"}


class _Record:
    def __init__(self, row: dict[str, Any]) -> None:
        self._row = row

    def data(self) -> dict[str, Any]:
        return dict(self._row)


class FakeDriver:
    """Records ``(statement name, params, how)``; ``how`` is query | write | explicit | stream."""

    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.answers = answers or {}
        self.runs: list[tuple[str, dict[str, Any], str]] = []
        self.fail_next: list[Exception] = []  # raised by the next statements run, one each
        self.execute_query_bookmark_manager = object()

    def names(self) -> list[str]:
        return [name for name, _, _ in self.runs]

    def run(self, text: str, params: dict[str, Any], how: str) -> list[_Record]:
        name = _BY_TEXT.get(text, text)
        self.runs.append((name, dict(params), how))
        if self.fail_next:
            raise self.fail_next.pop(0)
        default = [{"created": len(params.get("rows", []))}] if name == "journal_append" else []
        rows = self.answers[name](params) if name in self.answers else default
        return [_Record(r) for r in rows]

    def verify_connectivity(self) -> None: ...
    def close(self) -> None: ...

    def execute_query(self, text: str, params: dict[str, Any] | None = None, **_: Any) -> Any:
        return dataclasses.make_dataclass("Result", ["records"])(self.run(text, params or {}, "query"))

    def session(self, **_: Any) -> FakeSession:
        return FakeSession(self)


class FakeTx:
    def __init__(self, driver: FakeDriver, how: str) -> None:
        self.driver, self.how = driver, how

    def run(self, text: str, params: dict[str, Any]) -> list[_Record]:
        return self.driver.run(text, params, self.how)

    def commit(self) -> None:
        self.driver.runs.append(("COMMIT", {}, self.how))

    def rollback(self) -> None:
        self.driver.runs.append(("ROLLBACK", {}, self.how))


class FakeSession:
    def __init__(self, driver: FakeDriver) -> None:
        self.driver = driver

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None: ...
    def close(self) -> None: ...

    def execute_write(self, work: Callable[[FakeTx], Any]) -> Any:
        """The driver's documented contract: a retryable error re-runs ``work`` in a new transaction."""
        while True:
            try:
                out = work(FakeTx(self.driver, "write"))
            except TransientError:
                self.driver.runs.append(("ROLLBACK", {}, "write"))
                continue
            self.driver.runs.append(("COMMIT", {}, "write"))
            return out

    def begin_transaction(self) -> FakeTx:
        return FakeTx(self.driver, "explicit")

    def run(self, text: str, params: dict[str, Any]) -> Iterator[_Record]:
        return iter(self.driver.run(text, params, "stream"))


def fake_store(answers: dict[str, Answer] | None = None) -> tuple[neo.Neo4jStore, FakeDriver]:
    driver = FakeDriver(answers)
    return neo.Neo4jStore("neo4j://fake", driver=driver), driver  # type: ignore[arg-type]


def transient() -> TransientError:
    return TransientError("Neo.TransientError.Transaction.DeadlockDetected", "deadlock")


def test_connecting_applies_no_schema_and_init_schema_applies_all_of_it() -> None:
    store, driver = fake_store()
    assert driver.runs == []  # no schema privileges needed, no awaitIndexes after a large import
    store.apply_schema(5)
    assert [n.split(" IF ")[0] for n, _, _ in driver.runs[:-1]] == [
        s.split(" IF ")[0] for s in schema_statements()]
    assert driver.runs[-1] == ("await_indexes", {"timeout_seconds": 5}, "query")


# -- the check: one statement, the same answer as SQLite -----------------------------------------------


def check_reads_from(sq: SQLiteStore) -> Answer:
    """What cypher/check_reads.cypher returns, computed from a SQLite store (a stand-in for the server)."""

    def edge_rec(e: Any) -> dict[str, Any]:
        flat = ROLES.to_row(e)
        return {"holder": e.holder, "role": e.role.value, "org": e.org, "props": {c: flat[c] for c in neo.ROLE_PROPS}}

    def answer(p: dict[str, Any]) -> list[dict[str, Any]]:
        as_of, cap, depth = date.fromisoformat(p["as_of"]), p["cap"], p["depth"]

        def incident(node: str) -> tuple[list[dict[str, Any]], int]:
            found = sorted(sq.roles_of([node], "both", as_of), key=lambda e: (e.role != p["lead_role"], e.edge_id))
            return [edge_rec(e) for e in found[:cap]], len(found)

        rows = []
        for sid in p["subjects"]:
            near_edges, near_total = incident(sid) if depth > 0 else ([], 0)
            near = [e["org"] if e["holder"] == sid else e["holder"] for e in near_edges]
            far = []
            for nid in dict.fromkeys(near) if depth > 1 else ():
                edges, total = incident(nid)
                far.append({"node": nid, "edges": edges, "total": total})
            reached = [sid, *near, *(n for hop in far for e in hop["edges"] for n in (e["holder"], e["org"]))]
            o, person = sq.get_organisations([sid]).get(sid), sq.get_persons([sid]).get(sid)
            records = sq.records_of([sid])
            rows.append({
                "subject": sid,
                "node": ORGANISATIONS.to_row(o) if o else PERSONS.to_row(person) if person else None,
                "organisation": o is not None,
                "near_edges": near_edges, "near_total": near_total, "far": far,
                "facts": [FACTS.to_row(f) for f in sq.facts_of(list(dict.fromkeys(reached)))],
                "records": [RECORDS.to_row(r) for r in records],
                "events": [EVENTS.to_row(e) for e in sq.events_of([r.record_id for r in records])],
                "cause_records": [RECORDS.to_row(r) for r in sq.get_records(sorted(
                    {f.cause.id for f in sq.facts_of([sid]) if f.cause.kind == "record"})).values()],
            })
        return rows

    return answer


@pytest.fixture(scope="module")
def demo() -> Iterator[SQLiteStore]:
    store = demo_store(orgs=300)
    assert isinstance(store, SQLiteStore)
    yield store
    store.close()


def _sample(sq: SQLiteStore, n: int = 40) -> list[str]:
    """Subjects with facts, with related parties, persons and organisations, and one unknown key."""
    with_facts = sorted({f.target for f in sq.iter_facts()})
    orgs = [o.code for o in sq.iter_organisations()]
    return [*with_facts[: n // 2], *orgs[: n // 2], "91110000000000000X"]


def test_a_check_reads_everything_in_one_statement_with_sqlites_answer(demo: SQLiteStore) -> None:
    store, driver = fake_store({"check_reads": check_reads_from(demo)})
    assert isinstance(store.check_reads(["x"], DEMO_AS_OF, depth=3), type(None))  # depth 3: generic path
    compared = related = 0
    for subject in _sample(demo):
        for matter in ("bidding", "commendation"):
            driver.runs.clear()
            got = check(store, subject, matter, DEMO_AS_OF)
            assert driver.names() == ["check_reads"], driver.names()  # one statement per check
            want = check(demo, subject, matter, DEMO_AS_OF)
            assert dataclasses.asdict(got) == dataclasses.asdict(want), subject
            compared += 1
            related += bool(want.related)
    assert compared >= 40 and related >= 3
    # the audit write a check may cause is one more statement, with no shared counter node
    driver.runs.clear()
    store.append("audit", [{"id": "a1", "who": "t"}])
    assert driver.names() == ["journal_append", "COMMIT"]


def test_the_fan_out_cap_applied_on_the_server_gives_the_generic_traversal(demo: SQLiteStore) -> None:
    """A tight cap (2 edges per node) makes truncation everywhere: the replayed traversal must keep
    the same nodes, distances, paths and truncation counts as ``risk._neighbourhood``."""
    store, driver = fake_store({"check_reads": check_reads_from(demo)})
    subjects = _sample(demo, 30)
    view = store.check_reads(subjects, DEMO_AS_OF, depth=2, max_fanout=2)
    assert view is not None
    truncated = 0
    for subject, hood in zip(subjects, neighbourhoods(view, subjects, DEMO_AS_OF, 2, 2), strict=True):
        want = _neighbourhood(demo, subject, DEMO_AS_OF, 2, 2)
        assert dict(hood.distance) == want.distance
        assert hood.truncated == want.truncated
        assert {n: hood.paths[n] for n in want.paths} == want.paths
        assert dict(hood.edges) == want.edges
        truncated += len(want.truncated)
    assert truncated > 5
    assert driver.names() == ["check_reads"]
    assert driver.runs[0][1]["cap"] == 2  # the cap travels to the server


# -- check-then-write: locks taken before the reads a write decides on --------------------------------


def test_reads_in_a_transaction_lock_what_they_read_and_writes_take_the_same_locks() -> None:
    store, driver = fake_store()
    a = org(1).code
    store.get_records(["R1"])  # outside a transaction: nothing to hold a lock for
    assert driver.names() == ["records_by_id"]
    driver.runs.clear()
    with store.transaction():
        store.get_records(["R1"])  # the API's "does it exist, who owns it"
        store.put_records([record("R1", a, "2024-01-01")])
    assert driver.runs[0] == ("locks_take", {"keys": [lock_stripe("record:R1")]}, "explicit")
    assert driver.names() == ["locks_take", "records_by_id", "locks_take", "records_by_id", "records_merge", "COMMIT"]
    assert driver.runs[2][1] == {"keys": [lock_stripe("record:R1")]}


def test_the_red_black_check_and_a_black_listing_serialise_on_the_subject() -> None:
    store, driver = fake_store()
    s = org(2).code
    with store.transaction():
        store.facts_of([s])  # P5: is the subject on an effective black list?
    with store.transaction():
        store.put_list_entries([ListEntry("L1", s, "black", "n", "u", "b", date(2024, 1, 1))])
    locks = [p["keys"] for name, p, _ in driver.runs if name == "locks_take"]
    assert locks == [[lock_stripe(f"subject:{s}")], [lock_stripe("list:L1")], [lock_stripe(f"subject:{s}")]]


def test_locks_are_striped_so_lock_nodes_stay_bounded() -> None:
    """A province writes tens of millions of keys; the Lock nodes they take stay within the stripes."""
    store, driver = fake_store()
    with store.transaction():
        store.get_records([f"R{i}" for i in range(5_000)])
    taken = [k for name, p, _ in driver.runs if name == "locks_take" for k in p["keys"]]
    assert taken == sorted(set(taken)) and all(0 <= k < 1 << 16 for k in taken)
    assert len(taken) > 4_500  # distinct keys mostly land on distinct stripes
    assert lock_stripe("record:R1") == lock_stripe("record:R1") != lock_stripe("record:R2")


def test_replace_facts_locks_its_cause_before_reading_the_old_facts() -> None:
    store, driver = fake_store()
    cause = Cause("record", "R1")
    store.replace_facts(cause, [fact(cause, org(3).code)])
    assert driver.names()[:2] == ["locks_take", "facts_of_causes"]
    assert driver.runs[0][1] == {"keys": [lock_stripe("cause:record:R1")]}
    assert driver.names()[-2:] == ["facts_merge", "COMMIT"]


def test_put_roles_locks_the_organisations_whose_ratios_were_checked() -> None:
    from tests.test_store_conformance import edge, pkey

    store, driver = fake_store()
    b, c = org(4).code, org(5).code
    store.put_roles([edge(pkey(1), Role.SHAREHOLDER, c, "2020-01-01", ratio=0.5),
                     edge(pkey(2), Role.SHAREHOLDER, b, "2020-01-01", ratio=0.5)])
    assert driver.runs[0] == ("locks_take", {"keys": sorted({lock_stripe(f"subject:{x}") for x in (b, c)})}, "write")
    assert driver.names()[1] == "roles_by_edge_id"


# -- retries ----------------------------------------------------------------------------------------------


def test_atomic_re_runs_the_whole_unit_after_a_transient_error() -> None:
    store, driver = fake_store()
    a = org(6).code
    driver.fail_next = [transient()]
    calls = []

    def work() -> None:
        calls.append(1)
        with store.transaction():  # joins the managed transaction
            store.put_records([record("R9", a, "2024-01-01")])
            store.append("notices", [{"id": "n1"}])

    store.atomic(work)
    assert len(calls) == 2
    assert driver.names() == ["locks_take", "ROLLBACK", "locks_take", "records_by_id", "records_merge",
                              "journal_append", "COMMIT"]
    assert {how for _, _, how in driver.runs} == {"write"}  # never an explicit, unretriable transaction


def test_an_explicit_transaction_is_not_retried() -> None:
    """Why engine writes go through ``atomic``: the block of ``transaction()`` cannot be re-run."""
    store, driver = fake_store()
    driver.fail_next = [transient()]
    with pytest.raises(TransientError), store.transaction():
        store.get_records(["R1"])
    assert driver.names() == ["locks_take", "ROLLBACK"]


class _Counting(SQLiteStore):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.units = self.depth = 0

    def atomic(self, work: Callable[[], Any]) -> Any:
        """Counts the outermost units (nested ones join them, as in Neo4jStore.atomic)."""
        self.units += self.depth == 0
        self.depth += 1
        try:
            with self.transaction():
                return work()
        finally:
            self.depth -= 1


def test_every_engine_write_is_one_atomic_unit(tmp_path: Path) -> None:
    store = _Counting(str(tmp_path / "s.sqlite"))
    eng = Engine(store)
    a = org(7)
    eng.put_subjects([a])
    eng.put_records([record("R1", a.code, "2024-01-01")])
    assert store.units == 2  # put_records' own refresh joined its unit
    assert {n for n, v in vars(Engine).items() if getattr(v, "__wrapped__", None)} >= {
        "refresh", "put_subjects", "put_roles", "delete_roles", "put_records", "put_honours",
        "put_list_entries", "add_event"}
    store.close()


# -- the import, batch by batch ----------------------------------------------------------------------------


class _Batched(SQLiteStore):
    import_in_batches = True


@contextmanager
def _crash_after(n: int) -> Iterator[None]:
    """The n+1-th derivation batch of an import dies (as a killed process would)."""
    real = engine_mod.Engine._refresh_and_mark
    calls = [0]

    def failing(self: Engine, *args: Any) -> Any:
        calls[0] += 1
        if calls[0] > n:
            raise SystemExit("killed")
        return real(self, *args)

    engine_mod.Engine._refresh_and_mark = failing  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        engine_mod.Engine._refresh_and_mark = real  # type: ignore[method-assign]


def _facts(store: Store) -> list[Any]:
    return sorted(dataclasses.astuple(f) for f in store.iter_facts())


def test_a_batched_import_interrupted_while_deriving_is_completed_by_the_re_run(tmp_path: Path) -> None:
    from graph_credit.synth import generate

    data = generate(120, seed=3)
    data.write(tmp_path / "in")
    reference = SQLiteStore(str(tmp_path / "ref.sqlite"))
    Engine(reference).import_dir(tmp_path / "in")  # one transaction
    batched = _Batched(str(tmp_path / "b.sqlite"))
    eng = Engine(batched)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(Engine, "finish_imports", functools.partialmethod(Engine.finish_imports, batch=2))
    with _crash_after(1), pytest.raises(SystemExit):
        eng.import_dir(tmp_path / "in")
    runs = batched.query("imports")
    assert [r["state"] for r in runs] == ["deriving"] and runs[0]["done"] == 2 < len(runs[0]["causes"])
    assert batched.counts()["records"] == reference.counts()["records"]  # rows committed batch by batch
    assert _facts(batched) != _facts(reference)  # consequences half derived
    eng.import_dir(tmp_path / "in")  # the re-run: nothing new to load, the marker finishes the derivation
    monkey.undo()
    assert [r["state"] for r in batched.query("imports")] == ["done", "done"]
    assert _facts(batched) == _facts(reference)
    reference.close()
    batched.close()


def test_a_batched_import_interrupted_while_loading_is_re_derived_whole(tmp_path: Path) -> None:
    from graph_credit.synth import generate

    generate(60, seed=4).write(tmp_path / "in")
    reference = SQLiteStore(str(tmp_path / "ref.sqlite"))
    Engine(reference).import_dir(tmp_path / "in")
    batched = _Batched(str(tmp_path / "b.sqlite"))
    batched.append("imports", [{"id": "crashed", "source": "x", "state": "loading"}])  # as a killed load leaves it
    from graph_credit.io import import_dir

    import_dir(batched, tmp_path / "in", progress=False)  # its rows made it, their consequences did not
    assert batched.counts()["facts"] == 0
    Engine(batched).import_dir(tmp_path / "in")
    assert _facts(batched) == _facts(reference)
    reference.close()
    batched.close()
