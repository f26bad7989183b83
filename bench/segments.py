"""Role segments against the roles table, side by side in one process (small and local, not `make bench`).

``python bench/segments.py N DIR``: ``load_roles`` of N synthetic edges (the shapes of the import's:
20-hex edge ids, 25-character person keys, 18-character USCCs) in batches of 100,000, first through
the table path (one row per edge, three B-tree indexes) and then into segments, each into a new
store under DIR; then roles_of / get_roles latency on each. Wall time with CPU time beside it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from graph_credit.store import SQLiteStore
from graph_credit.store.base import RoleColumns

ROLES = ["LEGAL_REPRESENTATIVE", "DIRECTOR", "SUPERVISOR", "SHAREHOLDER", "SENIOR_MANAGER"]


def batch(rng: np.random.Generator, n: int, ids: list[str], arrow: bool) -> RoleColumns:
    """One batch of synthetic edges with ``ids``, of the shapes a province has (``n`` edges in all)."""
    m = len(ids)
    holders = [f"p{h:024x}" for h in rng.integers(0, n // 3, m)]
    orgs = [f"91{o:016d}" for o in rng.integers(0, n // 7, m)]
    roles = [ROLES[r] for r in rng.integers(0, len(ROLES), m)]
    titles = ["" if t else "董事长" for t in rng.integers(0, 10, m)]
    vf = rng.integers(733_000, 739_000, m)
    vt = np.where(rng.random(m) < 0.3, vf + 400, 0)
    ratio = np.where(rng.random(m) < 0.2, rng.random(m), np.nan)
    cols: list[Any] = [ids, holders, roles, orgs, titles]
    if arrow:
        cols = [pa.array(c, pa.string()) for c in cols]
    return RoleColumns(cols[0], cols[1], cols[2], cols[3], vf, vt, ratio, np.full(m, np.nan), cols[4])


def batches(n: int, arrow: bool, step: int = 100_000) -> list[RoleColumns]:
    rng = np.random.default_rng(7)
    out = []
    for a in range(0, n, step):
        m = min(step, n - a)
        ids = [f"{x:020x}" for x in rng.integers(0, 2**63, m)]  # random, as hashed ids are
        out.append(batch(rng, n, ids, arrow))
    return out


def timed(f):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - w, time.process_time() - c


def latency(f, keys: list[str]) -> str:  # type: ignore[no-untyped-def]
    wall, cpu = [], []
    for k in keys:
        w, c = time.perf_counter(), time.thread_time()
        f(k)
        wall.append(time.perf_counter() - w)
        cpu.append(time.thread_time() - c)
    p = lambda xs, q: 1000 * float(np.percentile(xs, q))  # noqa: E731
    return f"p50 {p(wall, 50):.3f} / p99 {p(wall, 99):.3f} ms (CPU {p(cpu, 50):.3f} / {p(cpu, 99):.3f})"


def main() -> None:
    n, where = int(sys.argv[1]), Path(sys.argv[2])
    where.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}")
    stores = {}
    for name, arrow in (("table", False), ("segments", False), ("segments, Arrow columns", True)):
        data = batches(n, arrow)
        store = SQLiteStore(where / f"{name.split(',')[0]}-{int(arrow)}.sqlite")
        if name == "table":
            store._segments = None  # the table path every file store took before segments
        got, wall, cpu = timed(lambda s=store, d=data: s.load_roles(d))
        print(f"load_roles {name}: {got:,} edges in {wall:.2f} s (CPU {cpu:.2f} s): {got / wall:,.0f} edges/s; "
              f"load average {os.getloadavg()[0]:.1f}")
        stores[name] = store
        del data
    probe = batches(min(n, 100_000), False)[0]
    rng = np.random.default_rng(1)
    orgs = [probe.org[i] for i in rng.integers(0, len(probe), 2000)]
    holders = [probe.holder[i] for i in rng.integers(0, len(probe), 2000)]
    eids = [probe.edge_id[i] for i in rng.integers(0, len(probe), 2000)]
    for name in ("table", "segments"):
        s = stores[name]
        assert s.roles_of(orgs[:50], "in") == stores["segments"].roles_of(orgs[:50], "in")
        print(f"{name}: roles_of(org) {latency(lambda k, s=s: s.roles_of([k], 'in'), orgs)}")
        print(f"{name}: roles_of(holder) {latency(lambda k, s=s: s.roles_of([k], 'out'), holders)}")
        print(f"{name}: get_roles {latency(lambda k, s=s: s.get_roles([k]), eids)}")
    print(f"load average after: {os.getloadavg()}")
    for s in stores.values():
        s.close()


if __name__ == "__main__":
    main()
