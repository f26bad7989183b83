"""The real server: uvicorn in a subprocess on loopback, called over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from graph_credit.engine import Engine
from graph_credit.store import SQLiteStore
from tests.helpers import wait_until_healthy
from tests.scenario import build

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_uvicorn_on_loopback_answers_checks(tmp_path: Path) -> None:
    path = tmp_path / "served.sqlite"
    store = SQLiteStore(path)
    w = build(Engine(store))
    store.close()
    port = free_port()
    env = {**os.environ, "GRAPH_CREDIT_STORE": str(path), "GRAPH_CREDIT_DEMO": "1",
           "GRAPH_CREDIT_TODAY": "2021-01-01"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, proc, 60, lambda: proc.stdout.read().decode() if proc.stdout else "server exited")
        r = httpx.post(f"{base}/v1/checks", headers={"X-API-Key": "demo-market"}, timeout=10,
                       json={"subject": w["org_a"], "matter": "government_procurement", "purpose": "loopback test"})
        assert r.status_code == 200 and r.json()["decision"] == "deny"
        r = httpx.post(f"{base}/v1/checks", headers={"X-API-Key": "demo-market"}, timeout=10,
                       json={"subject": "bad", "matter": "licensing", "purpose": "x"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "subject"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
