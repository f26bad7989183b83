"""Execute notebooks/*.ipynb on the demo data and save them with their outputs (so they read on a code host).

    .venv/bin/python scripts/execute_notebooks.py

The same set-up as tests/test_notebooks.py: one demo store (2,000 organisations, seed 7), each notebook
run in its own temporary directory on a copy of it; notebook 03's server is stopped afterwards.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph_credit.analytics import demo_store  # noqa: E402
from graph_credit.store.sqlite.segments import copy_store  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        demo_store(base / "demo.sqlite", orgs=2000, seed=7).close()
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            work = base / path.stem
            work.mkdir()
            copy_store(base / "demo.sqlite", work / "demo.sqlite")  # with its role segments
            os.environ["GRAPH_CREDIT_DEMO_STORE"] = str(work / "demo.sqlite")
            os.environ["GRAPH_CREDIT_FIGURES"] = str(work / "figures")
            nb = nbformat.read(path, as_version=4)
            try:
                NotebookClient(nb, timeout=180, kernel_name="python3",
                               resources={"metadata": {"path": str(work)}}).execute()
            finally:
                pid = work / "server.pid"
                if pid.exists():
                    try:
                        os.kill(int(pid.read_text()), signal.SIGTERM)
                    except (ProcessLookupError, ValueError):
                        pass
            nbformat.write(nb, path)
            print(f"{path.relative_to(ROOT)}: executed, outputs saved")


if __name__ == "__main__":
    main()
