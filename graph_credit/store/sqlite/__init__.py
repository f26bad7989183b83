"""The embedded default store: SQLite in WAL mode on local disk, with an in-memory graph index.

``store`` holds ``SQLiteStore``; ``schema`` the tables; ``index`` the graph index; ``reach`` its
compiled traversal."""

from __future__ import annotations

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
