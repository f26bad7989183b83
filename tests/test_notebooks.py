"""The notebooks in notebooks/ run on the demo data and save their figures.

Each notebook is executed with nbclient in its own temporary directory, on its own copy of one demo
store built once per session (graph_credit.synth, 2,000 organisations, seed 7), with
GRAPH_CREDIT_FIGURES pointing at a directory where the PNG figures must appear. Notebook 03 starts
the API with uvicorn on a loopback port; if it dies half-way, the server it started is stopped here.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

from graph_credit.analytics import demo_store
from graph_credit.store.sqlite.segments import copy_store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FIGURES = {
    "01_investigate_subject.ipynb": ["a_neighbourhood.png", "a_consequences.png"],
    "02_regional_analytics.ipynb": ["b_risk_heatmap.png", "b_risk_by_industry.png", "b_feedback.png", "b_trends.png"],
    "03_http_api.ipynb": ["c_decisions.png", "c_neighbourhood.png"],
}
CELL_TIMEOUT = 180  # seconds per cell; the whole set takes well under a minute and a half


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    store = demo_store(path, orgs=2000, seed=7)
    store.close()  # checkpoints the WAL: the file alone is the whole database
    return path


def test_every_notebook_is_tested_and_committed_with_its_outputs() -> None:
    """Committed executed (scripts/execute_notebooks.py), so they read on a code host without running."""
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(FIGURES)
    for name in found:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{name}: run scripts/execute_notebooks.py"
        assert not [o for c in code for o in c.outputs if o.output_type == "error"], f"{name}: saved with an error"
        assert any(o.get("data", {}).get("image/png") for c in code for o in c.outputs), f"{name}: no figure saved"


def _stop_leftover_server(workdir: Path) -> None:
    pid_file = workdir / "server.pid"
    if not pid_file.exists():
        return
    try:
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        pass


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_and_saves_its_figures(name: str, demo_db: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "run"
    figures = tmp_path / "figures"
    work.mkdir()
    copy_store(demo_db, work / "demo.sqlite")  # with its role segments
    # The kernel (and the server notebook 03 starts) inherit this environment.
    monkeypatch.setenv("GRAPH_CREDIT_DEMO_STORE", str(work / "demo.sqlite"))
    monkeypatch.setenv("GRAPH_CREDIT_FIGURES", str(figures))
    monkeypatch.delenv("GRAPH_CREDIT_AS_OF", raising=False)
    monkeypatch.delenv("GRAPH_CREDIT_SUBJECT", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    try:
        client.execute()
    finally:
        _stop_leftover_server(work)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    for fig in FIGURES[name]:
        path = figures / fig
        assert path.exists(), f"{name} did not save {fig}"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as img:
            assert img.width >= 400 and img.height >= 250
            assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10  # not a blank canvas
