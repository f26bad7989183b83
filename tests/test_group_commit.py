"""Journal appends (the audit of every personal read) share durable commits: a caller returns only once
the transaction holding its entry has committed, and entries queued meanwhile join one commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from graph_credit.store import SQLiteStore


def committed(path: Path, entry_id: str) -> bool:
    con = sqlite3.connect(path)  # another connection: sees committed data only
    try:
        return con.execute("SELECT 1 FROM journal WHERE tbl = 'audit' AND id = ?", (entry_id,)).fetchone() is not None
    finally:
        con.close()


def test_concurrent_appends_share_commits_and_each_returns_after_its_commit(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    store = SQLiteStore(path)
    errors: list[str] = []

    def reader(i: int) -> None:
        for j in range(5):
            entry = f"e{i}-{j}"
            if store.append("audit", [{"id": entry, "who": "t"}]) != 1:
                errors.append(f"{entry}: not counted")
            if not committed(path, entry):
                errors.append(f"{entry}: answered before its commit")

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(16)]
    try:
        with store.transaction():  # every thread queues while another write holds the lock
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while len(store._appends._queue) < 15 and time.monotonic() < deadline:
                time.sleep(0.005)
        for t in threads:
            t.join(60)
        assert errors == []
        assert len(store.query("audit")) == 80
        assert store._appends.entries == 80
        assert store._appends.commits < 80  # the first 16 alone went in one commit
        assert store.append("audit", [{"id": "e0-0"}]) == 0  # a repeat is ignored, as before
    finally:
        store.close()


def test_one_failing_entry_fails_only_its_own_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "a.sqlite")
    write = store._appends._write

    def picky(payload: list[tuple[str, str, str]]) -> int:
        if any(row[1] == "bad" for row in payload):
            raise sqlite3.IntegrityError("bad entry")
        return write(payload)

    monkeypatch.setattr(store._appends, "_write", picky)
    results: dict[str, object] = {}

    def append(entry: str) -> None:
        try:
            results[entry] = store.append("audit", [{"id": entry}])
        except sqlite3.IntegrityError as exc:
            results[entry] = exc

    try:
        with store.transaction():
            threads = [threading.Thread(target=append, args=(e,)) for e in ("good1", "bad", "good2")]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while len(store._appends._queue) < 2 and time.monotonic() < deadline:
                time.sleep(0.005)
        for t in threads:
            t.join(60)
        assert results["good1"] == 1 and results["good2"] == 1
        assert isinstance(results["bad"], sqlite3.IntegrityError)
        assert sorted(r["id"] for r in store.query("audit")) == ["good1", "good2"]
    finally:
        store.close()
