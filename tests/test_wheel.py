"""The installed product: a wheel built from this checkout, installed into a fresh venv, serving the demo from a
directory outside the checkout. Catches package data left out of the wheel (policy YAML, scoring, fonts, the
Cypher statements, the workbench page) and any path found relative to the source tree."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_packages_listed() -> None:
    """pyproject.toml lists the packages (one is mapped from cypher/): every package directory is listed."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("graph_credit", "api")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"


@pytest.mark.slow
def test_installed_wheel_serves_the_demo(tmp_path: Path) -> None:
    # Built from a copy of what the wheel is made of: setuptools writes build/ next to the sources.
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("graph_credit", "api", "cypher"):
        shutil.copytree(ROOT / part, src / part, ignore=skip)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, src / part)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
                   check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("graph_credit-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    # The dependencies come from the project venv (a path line, so its editable-install hook is not run):
    # no network, and the product itself only from the wheel.
    site = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "project_deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    subprocess.run([str(vpy), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)

    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_CREDIT_", "PYTHON"))}
    where = subprocess.run(
        [str(vpy), "-c", "import graph_credit, api; from graph_credit.store.neo4j.cypher import names; "
                         "print(graph_credit.__file__, api.__file__, len(names()))"],
        check=True, capture_output=True, text=True, cwd=away, env=env).stdout.split()
    assert not any(Path(p).is_relative_to(ROOT) for p in where[:2]), where
    assert int(where[2]) > 40  # the Cypher statements are in the wheel

    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "graph-credit"), "serve", "--demo", "--demo-orgs", "50",
             "--store", str(away / "demo.sqlite"), "--host", "127.0.0.1", "--port", str(port)],
            cwd=away, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, proc, 180, lambda: log.read_text(encoding="utf-8", errors="replace"))
        subject = subprocess.run(
            [str(vpy), "-c", "import sys; from graph_credit.store import SQLiteStore; "
                             "print(next(iter(SQLiteStore(sys.argv[1]).iter_organisations())).code)",
             str(away / "demo.sqlite")],
            check=True, capture_output=True, text=True, cwd=away, env=env).stdout.strip()
        r = httpx.post(f"{base}/v1/checks", headers={"X-API-Key": "demo-market"}, timeout=30,
                       json={"subject": subject, "matter": "government_procurement", "purpose": "wheel test"})
        assert r.status_code == 200, r.text
        assert r.json()["subject"] == subject and r.json()["decision"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
