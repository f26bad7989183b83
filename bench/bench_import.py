"""Import alone, for profiling: generate N organisations, write CSV, import into a fresh SQLite file.

    .venv/bin/python bench/bench_import.py [N] [--reimport] [--profile] [--keep DIR]

The benchmark proper (every scenario, the comparison, RESULTS.md) is ``bench/run.py``; this script
is the quick loop for working on ``graph_credit.io`` and the store's bulk path.

Prints rows, seconds, edges/s, peak RSS and bytes on disk per edge. ``--reimport`` also times a
second import of the same files (every row unchanged); ``--profile`` writes a cProfile of the
import next to the database and prints the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph_credit.io import import_dir  # noqa: E402
from graph_credit.store import SQLiteStore  # noqa: E402
from graph_credit.synth import write_synthetic  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))  # with -wal and -shm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", nargs="?", type=int, default=100_000, help="organisations (default 10^5)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--reimport", action="store_true", help="time a second, no-change import too")
    ap.add_argument("--profile", action="store_true", help="profile the first import")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep the files")
    args = ap.parse_args()
    os.environ.setdefault("GRAPH_CREDIT_PSEUDONYM_KEY", "bench-key")

    tmp = tempfile.TemporaryDirectory() if args.keep is None else None
    work = Path(tmp.name) if tmp else args.keep
    work.mkdir(parents=True, exist_ok=True)
    data, db = work / "csv", work / "bench.sqlite"
    for p in db.parent.glob(db.name + "*"):  # the database, its WAL, its role segments
        shutil.rmtree(p) if p.is_dir() else p.unlink()

    t0 = time.perf_counter()
    rows = write_synthetic(data, args.n, seed=args.seed, fmt="csv")
    gen = time.perf_counter() - t0
    csv_bytes = sum(p.stat().st_size for p in data.iterdir())
    print(
        f"generated {args.n:,} organisations in {gen:.1f} s: "
        + ", ".join(f"{k}={v:,}" for k, v in rows.items())
        + f"; CSV {csv_bytes / 1e6:.0f} MB"
    )

    store = SQLiteStore(db)
    profiler = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    report = import_dir(store, data, progress=False, batch_size=args.batch)
    if profiler:
        profiler.disable()
    secs = time.perf_counter() - t0
    edges = report.counts["roles"].inserted
    total_rows = sum(report.rows.values())
    print(report.summary())
    print(
        f"import: {total_rows:,} rows in {secs:.1f} s = {total_rows / secs:,.0f} rows/s; "
        f"{edges:,} edges, {edges / report.seconds['roles']:,.0f} edges/s in the roles phase, "
        f"{edges / secs:,.0f} edges/s overall"
    )
    store.close()
    size = _disk(db)
    print(f"database {size / 1e6:.0f} MB = {size / max(edges, 1):,.0f} bytes per edge (all tables included)")

    if profiler:
        out = db.with_suffix(".prof")
        profiler.dump_stats(out)
        pstats.Stats(str(out)).sort_stats("tottime").print_stats(20)

    if args.reimport:
        store = SQLiteStore(db)
        t0 = time.perf_counter()
        again = import_dir(store, data, progress=False, batch_size=args.batch)
        secs = time.perf_counter() - t0
        store.close()
        changed = sum(c.inserted + c.updated for c in again.counts.values())
        print(
            f"re-import: {secs:.1f} s, {changed} rows changed, "
            f"{again.counts['roles'].unchanged / again.seconds['roles']:,.0f} edges/s checked"
        )
    print(f"peak RSS {_rss_mb():,.0f} MB")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
