"""``graph-credit serve --workers 2``: two server processes on one loopback port, one store.

Checks from several threads at once, each on its own keep-alive connection and each with a purpose of
its own, so the durable audit log can be compared request by request: every answered check that named
a person has exactly one audit entry, committed before the answer (the log is read after the server
is killed, so only what was committed counts), and no request got a 5xx. The failed-authentication
limit holds across the processes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from graph_credit.engine import Engine
from graph_credit.ids import persons_in
from graph_credit.store import SQLiteStore
from tests.helpers import wait_until_healthy
from tests.scenario import build
from tests.test_server import free_port

ROOT = Path(__file__).resolve().parents[1]
THREADS, PER_THREAD = 8, 30


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the server's workers)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return out


def _has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except OSError:
        return False


def test_two_workers_audit_every_check_once(tmp_path: Path) -> None:
    path = tmp_path / "served.sqlite"
    store = SQLiteStore(path)
    w = build(Engine(store))
    store.close()
    subjects = [w["org_a"], w["org_b"], w["org_c"]]
    port = free_port()
    env = {**os.environ, "GRAPH_CREDIT_DEMO": "1", "GRAPH_CREDIT_TODAY": "2021-01-01",
           "GRAPH_CREDIT_WEBHOOK_INTERVAL": "0", "GRAPH_CREDIT_AUTH_FAILURES": "4", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "graph_credit.cli", "serve", "--store", str(path), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    statuses: Counter[int] = Counter()
    persons: dict[str, int] = {}  # purpose -> persons the answer named
    lock = threading.Lock()
    try:
        wait_until_healthy(base, proc, 60, lambda: proc.stdout.read().decode() if proc.stdout else "server exited")
        # Two workers (beside multiprocessing's resource tracker), each with its own connection to the store.
        deadline = time.monotonic() + 60
        while len(workers := [pid for pid in _children(proc.pid) if _has_open(pid, path)]) < 2:
            assert time.monotonic() < deadline, f"workers with the store open: {workers}"
            time.sleep(0.2)
        assert len(workers) == 2, workers

        def client(t: int) -> None:
            with httpx.Client(base_url=base, timeout=30, headers={"X-API-Key": "demo-market"}) as c:
                for i in range(PER_THREAD):
                    purpose = f"worker test {t}-{i}"
                    r = c.post("/v1/checks", json={"subject": subjects[i % len(subjects)],
                                                   "matter": "government_procurement", "purpose": purpose})
                    with lock:
                        statuses[r.status_code] += 1
                        persons[purpose] = len(persons_in(r.json())) if r.status_code == 200 else 0

        threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        # The failed-authentication limit (4 a minute per address) holds across the two processes: each
        # allows its share, whichever process each new connection reaches.
        guesses = [httpx.get(f"{base}/v1/policy", timeout=10, headers={"X-API-Key": f"guess-{i}"}).status_code
                   for i in range(12)]
        assert guesses.count(401) <= 4 and guesses.count(401) + guesses.count(429) == 12, guesses
    finally:
        # Killed, so nothing is flushed on the way out: only what was committed counts.
        for pid in _children(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=15)

    assert statuses == Counter({200: THREADS * PER_THREAD}), statuses
    with sqlite3.connect(path) as con:
        docs = [json.loads(d) for (d,) in con.execute("SELECT doc FROM journal WHERE tbl = 'audit'")]
    audited = Counter(d["purpose"] for d in docs if d["purpose"].startswith("worker test "))
    # Every check named persons (org_a's and org_c's legal representatives, org_b's holders)...
    assert all(n > 0 for n in persons.values()), persons
    # ... and each was audited exactly once, with the check it was.
    assert audited == Counter({purpose: 1 for purpose in persons})
    assert {d["what"] for d in docs if d["purpose"].startswith("worker test ")} == {"check government_procurement"}


def test_serve_gives_a_worker_building_its_index_time_before_the_supervisor_kills_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's supervisor kills a worker that does not answer its health check in time (5 s by
    default) and starts another: a worker building its graph index on a loaded machine was killed
    over and over (25 restarts in one benchmark start at 10^5)."""
    import uvicorn
    from typer.testing import CliRunner

    from graph_credit.cli import app

    path = tmp_path / "s.sqlite"
    SQLiteStore(path).close()
    for name in ("GRAPH_CREDIT_STORE", "GRAPH_CREDIT_WORKERS"):  # serve sets them for its workers
        monkeypatch.setenv(name, "")
    called: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: called.update(kw))
    result = CliRunner().invoke(app, ["serve", "--store", str(path), "--workers", "2", "--no-access-log"])
    assert result.exit_code == 0, result.output
    assert called["workers"] == 2
    timeout = called["timeout_worker_healthcheck"]
    assert isinstance(timeout, int) and timeout >= 60
