"""What the import's building blocks cost on this machine, without any validation around them.

    .venv/bin/python bench/ceiling.py [--rows 1000000]

The import target (850,000 edges/s) needs about 1.2 microseconds per edge for everything. This
measures, on synthetic rows shaped like role edges, the parts the embedded store cannot skip:

* SQLite through Python's ``sqlite3``: ``executemany`` of the 9-column rows into the roles table
  with no index, then the three indexes built by sort, then the durable commit;
* the edge id: BLAKE2b of (holder, role, organisation, valid_from) per row (``model.stable_id``);
* the person pseudonym: HMAC-SHA256 of the resident ID number per person (``ids.person_key``).

``bench/run.py`` runs it as its ``ceiling`` phase; it prints one ``RESULT`` JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def measure(rows: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    holders = pa.array([f"p{x:024x}" for x in rng.integers(0, 2**62, rows // 3)])
    holder = holders.take(pa.array(rng.integers(0, len(holders), rows)))
    org = pa.array([f"91{x // 7:016d}" for x in range(rows)])
    role = pa.array(np.array(["DIRECTOR", "SHAREHOLDER", "SUPERVISOR"])[rng.integers(0, 3, rows)])
    vf_text = pa.array(np.array(["2010-01-01", "2015-06-30", "2020-03-01"])[rng.integers(0, 3, rows)])
    out: dict[str, float] = {"rows": rows}

    t = time.perf_counter()
    serial = pa.array([str(x) for x in range(rows)])  # makes every id distinct, as distinct edges are
    joined = pc.binary_join_element_wise(holder, role, org, vf_text, serial, "\x1f").cast(pa.binary()).to_pylist()
    ids = [hashlib.blake2b(k, digest_size=10).hexdigest() for k in joined]
    out["edge_ids_per_s"] = rows / (time.perf_counter() - t)

    key = b"bench-key"
    numbers = [f"11010519{x % 100:02d}0101{x % 1000:03d}X" for x in range(rows // 3)]
    t = time.perf_counter()
    for n in numbers:
        hmac.digest(key, n.encode(), "sha256").hex()
    out["pseudonyms_per_s"] = len(numbers) / (time.perf_counter() - t)

    tuples = list(zip(
        ids, holder.to_pylist(), rng.integers(0, 7, rows).tolist(), org.to_pylist(),
        rng.integers(733_000, 740_000, rows).tolist(), [None] * rows, [None] * rows, [None] * rows, [""] * rows,
        strict=True,
    ))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ceiling.sqlite"
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA cache_size=-65536")
        con.execute("CREATE TABLE roles (eid TEXT NOT NULL, holder TEXT NOT NULL, role INTEGER NOT NULL, "
                    "org TEXT NOT NULL, vf INTEGER NOT NULL, vt INTEGER, ratio REAL, cap REAL, title TEXT NOT NULL)")
        con.execute("BEGIN IMMEDIATE")
        t = time.perf_counter()
        for i in range(0, rows, 50_000):
            con.executemany("INSERT INTO roles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", tuples[i : i + 50_000])
        t_insert = time.perf_counter() - t
        t = time.perf_counter()
        con.execute("CREATE UNIQUE INDEX roles_eid ON roles(eid)")
        con.execute("CREATE INDEX roles_org ON roles(org)")
        con.execute("CREATE INDEX roles_holder ON roles(holder)")
        t_index = time.perf_counter() - t
        t = time.perf_counter()
        con.execute("COMMIT")
        t_commit = time.perf_counter() - t
        con.close()
    out["sqlite_insert_rows_per_s"] = rows / t_insert
    out["sqlite_index_rows_per_s"] = rows / t_index
    out["sqlite_commit_seconds"] = t_commit
    out["sqlite_rows_per_s"] = rows / (t_insert + t_index + t_commit)
    out["load_avg"] = os.getloadavg()[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    print("RESULT " + json.dumps({"phase": "ceiling", **measure(args.rows)}), flush=True)


if __name__ == "__main__":
    main()
