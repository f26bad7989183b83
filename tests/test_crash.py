"""Crash safety: SIGKILL during a bulk import and during a stream of acknowledged record writes.

After every kill the store is reopened and checked:

* nothing acknowledged is lost (every record id the writer printed after ``put_records`` returned, or
  the server answered 201 for, is stored);
* nothing half-written is visible: the stored derived facts equal a full recomputation
  (``Engine.recompute_all`` on a copy changes nothing), and SQLite's integrity check passes;
* the service keeps working: the interrupted import re-runs to exactly the state of an uninterrupted
  one, and the writer (or the server) restarts and carries on.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graph_credit.engine import Engine
from graph_credit.model import DerivedFact
from graph_credit.store import SQLiteStore
from graph_credit.synth import write_synthetic
from tests.test_concurrency import serve

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
ORGS = 800
FAULTS: dict[str, int] = {}  # what was injected, printed for docs/reliability.md


# -- checks shared with the concurrency tests ----------------------------------------------------------
def backup(path: Path, to: Path) -> Path:
    """A consistent copy of a live SQLite database (WAL included), via SQLite's backup API, with the
    role segments it registers (immutable files beside it: copied after, as the copy names them)."""
    for old in to.parent.glob(to.name + "*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    src, dst = sqlite3.connect(path), sqlite3.connect(to)
    try:
        src.backup(dst)
        for (name,) in dst.execute("SELECT name FROM role_segments"):
            shutil.copytree(Path(f"{path}.roles") / name, Path(f"{to}.roles") / name)
    finally:
        dst.close()
        src.close()
    return to


def facts(path: Path) -> dict[str, DerivedFact]:
    store = SQLiteStore(path)
    try:
        return {f.fact_id: f for f in store.iter_facts()}
    finally:
        store.close()


def assert_consistent(path: Path, scratch: Path) -> dict[str, int]:
    """Every stored derived fact is exactly what its causes imply now: a full recomputation on a copy
    adds, changes and removes nothing. Returns the stored counts."""
    ok = sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0]
    assert ok == "ok", f"SQLite integrity check: {ok}"
    copy = backup(path, scratch / "recompute.sqlite")
    stored = facts(copy)
    store = SQLiteStore(copy)
    try:
        result = Engine(store).recompute_all()
        counts = store.counts()
    finally:
        store.close()
    missing = sorted(f.fact_id for f in result.added if f.fact_id not in stored)
    changed = sorted(f.fact_id for f in result.added if f.fact_id in stored)
    stale = sorted(f.fact_id for f in result.removed)
    assert not (missing or changed or stale), (
        f"derived facts out of step with their causes: {len(missing)} missing (e.g. {missing[:3]}), "
        f"{len(changed)} different, {len(stale)} stale"
    )
    assert facts(copy) == stored
    return counts


def stored_records(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT record_id FROM records")}
    finally:
        con.close()


def kill(proc: subprocess.Popen, what: str) -> bool:
    """SIGKILL ``proc``; True if it was still running (the fault landed mid-work)."""
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    FAULTS[what] = FAULTS.get(what, 0) + 1
    if alive:
        FAULTS[what + " (mid-work)"] = FAULTS.get(what + " (mid-work)", 0) + 1
    return alive


@pytest.fixture(scope="module", autouse=True)
def report_faults() -> Iterator[None]:
    yield
    print(f"\ncrash: faults injected: {FAULTS}")


# -- bulk import ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Synthetic data in the import format, and a store it was imported into without interruption."""
    base = tmp_path_factory.mktemp("crash-import")
    data = base / "data"
    write_synthetic(data, ORGS, seed=11)
    reference = base / "reference.sqlite"
    store = SQLiteStore(reference)
    try:
        report, derived = Engine(store).import_dir(data)
        assert report.ok and derived.added
    finally:
        store.close()
    return data, reference


IMPORT = textwrap.dedent("""
    import sys
    from graph_credit.engine import Engine
    from graph_credit.store import SQLiteStore

    class Marking(SQLiteStore):  # announces each kind of write on stdout, so the parent can kill mid-step
        def _mark(self, step):
            if step not in seen:
                seen.add(step)
                print(step, flush=True)

    seen = set()
    for step in ("put_organisations", "put_persons", "put_roles", "put_records", "put_honours",
                 "put_list_entries", "replace_facts"):
        def wrapped(self, *args, _step=step, **kwargs):
            self._mark(_step)
            return getattr(SQLiteStore, _step)(self, *args, **kwargs)
        setattr(Marking, step, wrapped)

    engine = Engine(Marking(sys.argv[2]))
    report, derived = engine.import_dir(sys.argv[1])
    print("done", len(derived.added), flush=True)
""")


def _comparable(path: Path) -> tuple[dict[str, int], dict[str, DerivedFact]]:
    store = SQLiteStore(path)
    try:
        counts = {k: v for k, v in store.counts().items() if k != "notices"}
        return counts, {f.fact_id: f for f in store.iter_facts()}
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("step", ["put_persons", "put_records", "replace_facts"])
def test_sigkill_during_import_leaves_all_or_nothing(synthetic, tmp_path: Path, step: str) -> None:  # type: ignore[no-untyped-def]
    """Killed while writing persons or records, or while deriving consequences (the window in which
    records would otherwise be stored without them)."""
    data, reference = synthetic
    db = tmp_path / "store.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", IMPORT, str(data), str(db)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    while (line := proc.stdout.readline().strip()) != step:
        assert line and not line.startswith("done"), f"no {step} step: {proc.stderr.read() if proc.stderr else ''}"
    assert kill(proc, "import: SIGKILL"), "the import finished before the kill: nothing was tested"

    # One transaction: nothing of the interrupted import is visible.
    counts = assert_consistent(db, tmp_path)
    assert sum(counts.values()) == 0, counts

    # Restart (in this process, to save a start-up): the same import runs to the state of an uninterrupted one.
    store = SQLiteStore(db)
    try:
        report, derived = Engine(store).import_dir(data)
        assert report.ok and derived.added
    finally:
        store.close()
    assert_consistent(db, tmp_path)
    assert _comparable(db) == _comparable(reference)


@pytest.mark.slow
def test_sigkill_during_cli_import_leaves_consistent_state(synthetic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data, reference = synthetic
    db = tmp_path / "cli.sqlite"
    proc = subprocess.Popen([str(ROOT / ".venv/bin/graph-credit"), "import", str(data), "--store", str(db)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    seen = 0
    while proc.poll() is None and time.monotonic() < deadline:  # kill as soon as records are committed
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            seen = con.execute("SELECT count(*) FROM records").fetchone()[0]
            con.close()
        except sqlite3.Error:
            seen = 0
        if seen:
            break
        time.sleep(0.002)
    kill(proc, "CLI import: SIGKILL")
    assert_consistent(db, tmp_path)
    out = subprocess.run([str(ROOT / ".venv/bin/graph-credit"), "import", str(data), "--store", str(db)],
                         env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert_consistent(db, tmp_path)
    assert _comparable(db)[1] == _comparable(reference)[1]


# -- a stream of record writes ----------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys
    from datetime import date
    from graph_credit.engine import Engine
    from graph_credit.model import DishonestyRecord
    from graph_credit.store import SQLiteStore
    store = SQLiteStore(sys.argv[1])
    engine = Engine(store)
    orgs = sorted(o.code for o in store.iter_organisations())
    for i in range(int(sys.argv[2]), 10**6):
        rec = DishonestyRecord(
            record_id=f"W{i:05d}", subject=orgs[(i * 7919) % len(orgs)], category="tax_evasion",
            severity="serious" if i % 3 else "general", decision_date=date(2020, 9, 1), act_date=date(2019, 5, 1),
            document_no=f"doc {i}", department="finance", period_end=date(2023, 9, 1))
        engine.put_records([rec])
        print(rec.record_id, flush=True)  # acknowledged: put_records has returned
""")


@pytest.fixture
def world_db(synthetic, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    return backup(synthetic[1], tmp_path / "stream.sqlite")


# (acks to wait for, extra delay in seconds before the kill): straight after an ack the writer is
# inside its next transaction; the delays land the kill elsewhere in the loop.
ROUNDS = [(5, 0.0), (1, 0.0), (12, 0.003), (3, 0.011), (20, 0.007)]


@pytest.mark.slow
def test_sigkill_during_record_stream_loses_no_acknowledged_write(world_db: Path, tmp_path: Path) -> None:
    acknowledged: list[str] = []
    next_index = 0
    for acks, delay in ROUNDS:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(world_db), str(next_index)], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        got: list[str] = []
        while len(got) < acks:
            line = proc.stdout.readline()
            assert line, f"writer died: {proc.stderr.read() if proc.stderr else ''}"
            got.append(line.strip())
        time.sleep(delay)
        assert kill(proc, "record stream: SIGKILL")
        got += [x.strip() for x in proc.stdout.read().splitlines() if x.strip()]  # acks already written
        acknowledged += got
        stored = stored_records(world_db)
        lost = [r for r in acknowledged if r not in stored]
        assert not lost, f"acknowledged but lost after kill -9: {lost}"
        assert_consistent(world_db, tmp_path)
        next_index = int(acknowledged[-1][1:]) + 1
    FAULTS["record stream: acknowledged writes"] = FAULTS.get("record stream: acknowledged writes", 0) + len(
        acknowledged)
    assert len(acknowledged) >= sum(a for a, _ in ROUNDS)


def _post_records(base: str, prefix: str, orgs: list[str], acks: int, acknowledged: list[str],
                  enough: threading.Event) -> None:
    """Post records one after another until the server is gone; set ``enough`` after ``acks`` 201s."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for i in range(10_000):
            rid = f"{prefix}{i:04d}"
            try:
                r = client.post("/v1/records", headers={"X-API-Key": "demo-finance"}, json={
                    "record_id": rid, "subject": orgs[i % len(orgs)], "category": "tax_evasion",
                    "severity": "serious", "act_date": "2019-05-01", "decision_date": "2020-09-01",
                    "period_end": "2023-09-01"})
            except httpx.TransportError:
                break  # the server is gone
            if r.status_code != 201:
                break
            acknowledged.append(rid)
            if i + 1 >= acks:
                enough.set()
    enough.set()


@pytest.mark.slow
def test_sigkill_of_the_server_during_writes(world_db: Path, tmp_path: Path) -> None:
    """The same through HTTP: a 201 is an acknowledgement. uvicorn is killed while a client keeps
    posting records (the next request in flight), then restarted on the same store."""
    store = SQLiteStore(world_db)
    orgs = sorted(o.code for o in store.iter_organisations())[:50]
    store.close()
    acknowledged: list[str] = []
    for round_no, acks in enumerate((20,)):
        with serve(world_db, kill_at_exit=True) as (base, proc):
            enough = threading.Event()
            client = threading.Thread(target=_post_records,
                                      args=(base, f"H{round_no}-", orgs, acks, acknowledged, enough))
            client.start()
            assert enough.wait(60)
            kill(proc, "server: SIGKILL")
            client.join(30)
        stored = stored_records(world_db)
        assert [r for r in acknowledged if r not in stored] == []
        assert_consistent(world_db, tmp_path)
    assert len(acknowledged) >= 20
    with serve(world_db) as (base, _proc):  # restarted: it answers from what was acknowledged, and takes writes
        r = httpx.post(f"{base}/v1/checks", headers={"X-API-Key": "demo-finance"}, timeout=10,
                       json={"subject": orgs[0], "matter": "government_procurement", "purpose": "crash test"})
        assert r.status_code == 200 and r.json()["decision"] == "deny", r.text
        r = httpx.post(f"{base}/v1/records", headers={"X-API-Key": "demo-finance"}, timeout=10, json={
            "record_id": "AFTER-RESTART", "subject": orgs[1], "category": "tax_evasion", "severity": "serious",
            "act_date": "2019-05-01", "decision_date": "2020-09-01", "period_end": "2023-09-01"})
        assert r.status_code == 201, r.text
    assert "AFTER-RESTART" in stored_records(world_db)
    assert_consistent(world_db, tmp_path)
