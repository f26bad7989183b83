"""Store backends for the conformance suite.

``store`` is parametrised over every backend: a SQLite file, SQLite in memory, and Neo4j. The
Neo4j run needs a server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD, optionally
NEO4J_DATABASE). Its database is WIPED before each test, so point it at a test database.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Test modules import each other as ``tests.*`` (tests.helpers, tests.scenario): make the
# repository root importable however pytest is started (``pytest`` or ``python -m pytest``).
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# One pseudonym key for the whole session, set before anything derives a person key, so test
# processes and the subprocesses they start agree on every key.
os.environ.setdefault("GRAPH_CREDIT_PSEUDONYM_KEY", "test-key")

from graph_credit.store import SQLiteStore, Store  # noqa: E402

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from tests.scenario import World

NEO4J_SKIP = "NEO4J_URI not set: Neo4j conformance run skipped"

BACKENDS = [
    pytest.param("sqlite-file", id="sqlite-file"),
    pytest.param("sqlite-memory", id="sqlite-memory"),
    pytest.param(
        "neo4j",
        id="neo4j",
        marks=[pytest.mark.neo4j, pytest.mark.skipif(not os.environ.get("NEO4J_URI"), reason=NEO4J_SKIP)],
    ),
]


def open_neo4j() -> Store:
    from graph_credit.store.neo4j import Neo4jStore

    return Neo4jStore(
        os.environ["NEO4J_URI"],
        os.environ.get("NEO4J_USER", "neo4j"),
        os.environ.get("NEO4J_PASSWORD", ""),
        database=os.environ.get("NEO4J_DATABASE") or None,
    )


def wipe_neo4j(store: Store) -> None:
    from graph_credit.store.neo4j import Neo4jStore
    from graph_credit.store.neo4j.cypher import statement

    assert isinstance(store, Neo4jStore)
    store.driver.execute_query(statement("wipe_database").text, database_=store.database)
    if not _NEO4J_SCHEMA:  # what `graph-credit init-schema` does, once per run (the store never does it)
        store.apply_schema()
        _NEO4J_SCHEMA.append(True)


_NEO4J_SCHEMA: list[bool] = []


@dataclass
class Backend:
    """One backend under test; ``reopen()`` opens another store on the same data (None: can't)."""

    kind: str
    connect: Callable[[], Store]
    persistent: bool
    opened: list[Store] = field(default_factory=list)

    def open(self) -> Store:
        store = self.connect()
        self.opened.append(store)
        return store

    def reopen(self) -> Store:
        if not self.persistent:
            pytest.skip(f"{self.kind} keeps nothing once closed")
        return self.open()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from make_backend(request.param, tmp_path)


def make_backend(kind: str, tmp_path: Path) -> Iterator[Backend]:
    if kind == "sqlite-file":
        path = tmp_path / "store.sqlite"
        b = Backend(kind, lambda: SQLiteStore(path), persistent=True)
    elif kind == "sqlite-segments":  # every role write arrives through load_roles: roles live in segments
        from tests.segmented import SegmentedStore

        path = tmp_path / "store.sqlite"
        b = Backend(kind, lambda: SegmentedStore(path), persistent=True)
    elif kind == "sqlite-memory":
        b = Backend(kind, lambda: SQLiteStore(":memory:"), persistent=False)
    else:
        b = Backend(kind, open_neo4j, persistent=True)
        first = open_neo4j()
        try:
            wipe_neo4j(first)
        finally:
            first.close()
    yield b
    for store in b.opened:
        try:
            store.close()
        except Exception:  # already closed by the test
            pass


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


def _fresh_neo4j() -> Store:
    store = open_neo4j()
    wipe_neo4j(store)
    return store


# The engine suites (rules, properties) run on every backend, Neo4j when NEO4J_URI is set.
@pytest.fixture(params=BACKENDS)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A factory of empty stores of one backend; everything it opened is closed afterwards."""
    opened: list[Store] = []
    counter = iter(range(1_000_000))

    def make() -> Store:
        if request.param == "neo4j":
            store = _fresh_neo4j()
        elif request.param == "sqlite-memory":
            store = SQLiteStore(":memory:")
        else:
            store = SQLiteStore(tmp_path / f"engine-{next(counter)}.sqlite")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


# -- the API ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def serve() -> Iterator[Callable[..., TestClient]]:
    """A factory of test clients of the API over a given store, started (lifespan run) and stopped at the
    end of the module: demo keys on, today 2021-01-01 and a generous public rate unless told otherwise."""
    from fastapi.testclient import TestClient

    from api.app import Settings, create_app

    started: list[TestClient] = []

    def make(store: Store, **settings: Any) -> TestClient:
        settings = {"demo": True, "today": date(2021, 1, 1), "public_rate_per_minute": 100_000} | settings
        client = TestClient(create_app(Settings(**settings), store=store))
        started.append(client.__enter__())
        return client

    yield make
    for client in reversed(started):
        client.__exit__(None, None, None)


@pytest.fixture
def api(tmp_path: Path, serve: Callable[..., TestClient]) -> Iterator[tuple[TestClient, World]]:
    """The API over the scenario world (tests.scenario) in a SQLite file of its own."""
    from graph_credit.engine import Engine
    from tests.scenario import build

    store = SQLiteStore(tmp_path / "api.sqlite")
    world = build(Engine(store))
    yield serve(store), world
    store.close()
