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


def refuse_bad_entries(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the group commit fail any group that holds an entry with id "bad"."""
    write = store._appends._write

    def picky(payload: list[tuple[str, str, str]]) -> int:
        if any(row[1] == "bad" for row in payload):
            raise sqlite3.IntegrityError("bad entry")
        return write(payload)

    monkeypatch.setattr(store._appends, "_write", picky)


def test_one_failing_entry_fails_only_its_own_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "a.sqlite")
    refuse_bad_entries(store, monkeypatch)
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


def test_append_later_completes_each_future_after_the_commit_holding_its_entry(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    store = SQLiteStore(path)
    try:
        with store.transaction():  # every entry queues while another write holds the lock
            futures = {f"later{i}": store.append_later("audit", [{"id": f"later{i}"}]) for i in range(20)}
            time.sleep(0.05)
            assert not any(f.done() for f in futures.values())  # nothing answered before its commit
            assert not futures["later0"].cancel()  # a caller that gives up does not take its entry back
        for entry, future in futures.items():
            assert future.result(30) == 1
            assert committed(path, entry)
        assert store._appends.commits < 20  # they were committed together, not one by one
        # A blocking append and a queued one are served by the same commits.
        later = store.append_later("audit", [{"id": "mixed-later"}])
        assert store.append("audit", [{"id": "mixed-now"}]) == 1
        assert later.result(30) == 1 and committed(path, "mixed-later")
    finally:
        store.close()
    assert not [t for t in threading.enumerate() if t.name == "group-commit"]  # the committer stopped


def test_append_later_hands_a_failing_entry_its_error_and_close_commits_what_is_queued(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.sqlite"
    store = SQLiteStore(path)
    refuse_bad_entries(store, monkeypatch)
    with store.transaction():
        good, bad = store.append_later("audit", [{"id": "good"}]), store.append_later("audit", [{"id": "bad"}])
        last = store.append_later("audit", [{"id": "last"}])
    assert good.result(30) == 1
    assert isinstance(bad.exception(30), sqlite3.IntegrityError)
    store.close()  # waits for what was queued
    assert last.done() and last.result() == 1 and committed(path, "last")
    with pytest.raises(RuntimeError, match="closed"):
        store.append_later("audit", [{"id": "after"}])
