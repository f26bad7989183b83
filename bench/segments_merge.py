"""The memory and time of role segment merges at scale (small and local, not `make bench`).

``python bench/segments_merge.py N DIR TIER_ROWS``: ``load_roles`` of N synthetic edges (the shapes
of bench/segments.py, drawn as Arrow columns in batches of 500,000: no CSV, so 10^7 fits in
minutes) into a new store under DIR, merging batch segments every TIER_ROWS edges; each merge is
reported with its wall and CPU time and its peak memory (VmHWM reset before it, and the anonymous
and file-backed resident sizes sampled every 0.1 s: mapped segment pages are the page cache's).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from segments import batch  # bench/segments.py: the same synthetic shapes

from graph_credit.store import SQLiteStore
from graph_credit.store.base import RoleColumns

PEAK = {"RssAnon": 0.0, "RssFile": 0.0}


def mib(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field))


def sample() -> None:
    while True:
        for k in PEAK:
            PEAK[k] = max(PEAK[k], mib(k))
        time.sleep(0.1)


def edges(n: int, step: int = 500_000) -> Iterator[RoleColumns]:
    rng = np.random.default_rng(7)
    for a in range(0, n, step):
        m = min(step, n - a)
        ids = [f"{x:020x}" for x in rng.integers(0, 2**63, m) * 2 + rng.integers(0, 2, m)]
        yield batch(rng, n, ids, arrow=True)


def main() -> None:
    n, where, tier = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    where.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(where / "s.sqlite")
    store._tier_rows = tier
    merge = store._merge_segments

    def timed(*args: Any, **kw: Any) -> tuple[int, int]:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM
        PEAK.update(RssAnon=0.0, RssFile=0.0)
        before = mib("VmRSS")
        w, c = time.perf_counter(), time.process_time()
        out = merge(*args, **kw)
        print(f"merge of {out[0]} segments, {out[1]:,} rows: {time.perf_counter() - w:.1f} s wall, CPU "
              f"{time.process_time() - c:.1f} s; RSS before {before:.0f} MiB, peak {mib('VmHWM'):.0f} MiB "
              f"(anonymous {PEAK['RssAnon']:.0f}, file-backed {PEAK['RssFile']:.0f}); "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        return out

    store._merge_segments = timed  # type: ignore[method-assign]
    threading.Thread(target=sample, daemon=True).start()
    print(f"load average {os.getloadavg()}", flush=True)
    w, c = time.perf_counter(), time.process_time()
    got = store.load_roles(edges(n))
    segs = store._read("SELECT count(*) FROM role_segments")[0][0]
    print(f"load_roles {got:,} edges: {time.perf_counter() - w:.1f} s wall, CPU {time.process_time() - c:.1f} s, "
          f"{segs} segments, {store.counts()['roles']:,} visible; load average {os.getloadavg()[0]:.1f}")
    store.close()


if __name__ == "__main__":
    main()
