"""Stores: the embedded SQLite default and Neo4j, behind one interface (``Store``)."""

from __future__ import annotations

import os

from .base import JOURNAL_TABLES, Direction, JournalTable, NotFound, Store, WriteCounts
from .sqlite import SQLiteStore

__all__ = [
    "JOURNAL_TABLES",
    "DEFAULT_STORE",
    "Direction",
    "JournalTable",
    "NotFound",
    "SQLiteStore",
    "Store",
    "WriteCounts",
    "open_store",
]

# The store `make serve` fills with the demo data: every command and the API default to it.
DEFAULT_STORE = "data/demo.sqlite"


def open_store(url: str | None = None) -> Store:
    """Open a store from a URL: ``neo4j://``, ``neo4j+s://``, ``bolt://`` (credentials from
    NEO4J_USER / NEO4J_PASSWORD, database from NEO4J_DATABASE) or a SQLite file path
    (``sqlite:///path`` or a plain path; ``:memory:`` for a throwaway store)."""
    url = url or os.environ.get("GRAPH_CREDIT_STORE") or DEFAULT_STORE
    if url.split("://", 1)[0] in {"neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc"}:
        from .neo4j import Neo4jStore

        return Neo4jStore(
            url,
            user=os.environ.get("NEO4J_USER", "neo4j"),
            password=os.environ.get("NEO4J_PASSWORD", ""),
            database=os.environ.get("NEO4J_DATABASE") or None,
        )
    return SQLiteStore(url.removeprefix("sqlite://"))
