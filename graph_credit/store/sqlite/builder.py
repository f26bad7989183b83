"""A new base of the graph index, built in a child process: ``python -m graph_credit.store.sqlite.builder
DATABASE SIDECAR`` reads one snapshot of the committed roles, saves the base under ``SIDECAR`` and
prints its roles generation.

Why a child: a build allocates several times the base's size in short-lived arrays and Python
objects (150 MiB above the process at 10^5 edges' worth of 720,000); in the server that memory stays
resident as fragmented heap after the build (``malloc_trim`` cannot return it), and the build holds
the GIL against checks for seconds. In a child, the memory goes back to the system when it exits;
the server only maps the saved files (shared, clean pages of the page cache), and the child runs at
a lower priority, so checks get the cores first.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .index import _GraphIndex

_NICE = 5  # below the server's checks and writes


def build_committed(database: str) -> _GraphIndex:
    """A base of the committed roles in ``database``, from one snapshot on a connection of its own (a
    builder must not leave a reader behind)."""
    con = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        con.execute("BEGIN")
        gen = int(con.execute("SELECT v FROM meta WHERE k = 'roles_gen'").fetchone()[0])
        base = _GraphIndex.build(con, gen)
        con.execute("COMMIT")
    finally:
        con.close()
    return base


def build_saved(database: str, sidecar: Path) -> int:
    """Build the base of the committed roles in ``database`` and save it under ``sidecar``; its generation."""
    base = build_committed(database)
    base.save(sidecar)
    return base.gen


@contextmanager
def build_lock(sidecar: Path) -> Iterator[None]:
    """Hold the base build of ``sidecar`` against every other process and thread (an advisory lock on
    ``SIDECAR.lock``, released when the holder exits, however it exits)."""
    with open(str(sidecar) + ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_apart(database: str, sidecar: Path) -> _GraphIndex:
    """A base built by a child process (``build_saved``), mapped from the files it saved."""
    done = subprocess.run([sys.executable, "-m", __name__, database, str(sidecar)],  # noqa: S603 - our module
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"graph index: the base build for {database} failed in its child process "
                           f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    gen = int(done.stdout.split()[-1])
    base = _GraphIndex.load(sidecar, gen)
    if base is None:
        raise RuntimeError(f"graph index: the base of generation {gen} saved under {sidecar} cannot be read")
    return base


if __name__ == "__main__":
    os.nice(_NICE)
    print(build_saved(sys.argv[1], Path(sys.argv[2])))
