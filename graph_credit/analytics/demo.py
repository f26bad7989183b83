"""A store full of seeded synthetic demo data, for notebooks, examples and tests."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import NamedTuple

from ..engine import Engine
from ..io.importer import import_frames
from ..store import SQLiteStore, Store

__all__ = ["DEMO_AS_OF", "NotebookEnv", "demo_store", "notebook_setup"]

DEMO_AS_OF = date(2025, 6, 30)
"""A date at which the seed-7 demo city has records, bans, black and red list entries in force."""


def demo_store(path: str | Path = ":memory:", orgs: int = 2000, seed: int = 7, jurisdiction: str = "default") -> Store:
    """A SQLite store (``:memory:`` by default) loaded with ``graph_credit.synth.generate(orgs, seed)``
    and every consequence derived (``Engine.recompute_all``). An existing non-empty file is opened as
    it is, so a notebook re-run does not load it twice.

    >>> store = demo_store(orgs=150)
    >>> store.counts()["organisations"]
    150
    """
    from ..synth.generator import generate

    store = SQLiteStore(path)
    if store.counts()["organisations"]:
        return store
    import_frames(store, generate(orgs, seed=seed).frames, progress=False)
    Engine(store, jurisdiction).recompute_all()
    return store


class NotebookEnv(NamedTuple):
    store: Store
    figures: Path
    as_of: date
    store_path: Path


def notebook_setup(default_dir: str | Path = "out") -> NotebookEnv:
    """What every notebook starts with: the demo store, the figures directory and the analysis date.

    - ``GRAPH_CREDIT_DEMO_STORE``: a SQLite file to use (default ``<default_dir>/demo.sqlite``,
      generated on first use: 2,000 organisations, seed 7);
    - ``GRAPH_CREDIT_FIGURES``: where figures are saved as PNG (default ``<default_dir>/figures``);
    - ``GRAPH_CREDIT_AS_OF``: the analysis date (default ``DEMO_AS_OF``).
    """
    base = Path(default_dir)
    store_path = Path(os.environ.get("GRAPH_CREDIT_DEMO_STORE") or base / "demo.sqlite").resolve()
    figures = Path(os.environ.get("GRAPH_CREDIT_FIGURES") or base / "figures").resolve()
    store_path.parent.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    as_of = date.fromisoformat(os.environ["GRAPH_CREDIT_AS_OF"]) if os.environ.get("GRAPH_CREDIT_AS_OF") else DEMO_AS_OF
    return NotebookEnv(demo_store(store_path), figures, as_of, store_path)
