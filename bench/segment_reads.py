"""Reads of the roles on columnar segments, for one store (run it with one code base, then another, on
copies of the same store): the bare two-hop traversal by SQL (``Store.roles_of``), one check and a
``check_many`` (what the query phase touches stays resident), related-party risk to depth 3,
propagation of one new serious record (written into the store: use a copy), and where the resident
bytes go (RSS split by mapping, from /proc/self/smaps).

    python bench/segment_reads.py DB CSV_DIR [--n 500] [--propagations 100] [--tag main]
    SEGMENT_READS_CODE=/path/to/other/checkout python bench/segment_reads.py ...   # that checkout's code

Prints one ``RESULT {json}`` line; latencies in ms, wall and thread CPU time.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phases import AS_OF, MATTER, percentiles, rss, sample_orgs, timed, two_hop_store, warm_policies  # noqa: E402


def rss_split() -> dict[str, int]:
    """Resident bytes by what is mapped: anonymous, role segment files, graph index files, other files."""
    out: dict[str, int] = defaultdict(int)
    name = "anonymous"
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                path = head[5] if len(head) > 5 else ""
                name = ("segment " + Path(path).name if ".roles/" in path else "graph index" if ".graph/" in path
                        else "anonymous" if not path.startswith("/") else "other files")
            elif head[0] == "Rss:":
                out[name] += int(head[1]) * 1024
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("data", type=Path)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--propagations", type=int, default=100)
    ap.add_argument("--batch", type=int, default=2000, help="checks in one check_many (what it touches stays resident)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()

    import pyarrow as pa

    from graph_credit.checks import check, check_many
    from graph_credit.engine import Engine
    from graph_credit.graph import related_parties
    from graph_credit.memory import release_free_memory
    from graph_credit.model import DishonestyRecord, Responsible
    from graph_credit.store import SQLiteStore

    subjects = sample_orgs(args.data, args.n, args.seed)
    extra = sample_orgs(args.data, args.n + args.batch, args.seed + 2)[args.n :]
    warm_policies()
    gc.collect()
    pa.default_memory_pool().release_unused()  # the CSV read for the samples: not the store's
    release_free_memory()
    import graph_credit

    out: dict[str, Any] = {"tag": args.tag, "code": graph_credit.__file__, "load_avg_start": os.getloadavg()[0]}
    base = rss()
    out["rss_split_base"] = rss_split()
    store = SQLiteStore(args.db)
    engine = Engine(store)
    edges = store.counts()["roles"]
    out["edges"] = edges
    out["rss_split_after_counts"] = rss_split()
    for s in subjects[:50]:  # fault in the pages every later measurement touches anyway; not timed
        two_hop_store(store, s, AS_OF)
    gc.collect()
    gc.freeze()
    c = time.process_time()
    lat, sizes, cpu = timed(lambda s: two_hop_store(store, s, AS_OF), subjects)
    out["two_hop_sql"] = percentiles(lat, cpu) | {"nodes": sum(sizes)}
    out["rss_after_two_hop"] = rss() - base
    out["rss_split_after_two_hop"] = rss_split()
    store.warm()
    out["rss_after_warm"] = rss() - base
    lat, _, cpu = timed(lambda s: check(store, s, MATTER, AS_OF), subjects)
    out["check"] = percentiles(lat, cpu)
    check_many(store, extra, MATTER, AS_OF)
    lat, found, cpu = timed(lambda s: related_parties(store, s, AS_OF, 3)[0], subjects)
    out["related_depth3"] = percentiles(lat, cpu) | {"parties": sum(len(f) for f in found)}
    out["rss_after_reads"] = rss() - base
    out["resident_bytes_per_edge"] = out["rss_after_reads"] / max(edges, 1)
    out["rss_split"] = rss_split()
    release_free_memory()
    out["rss_split_trimmed"] = rss_split()  # freed heap handed back: what the reads still hold

    run = hashlib.blake2b(f"{time.time_ns()}-{args.tag}".encode(), digest_size=4).hexdigest()
    lat, cpu, facts = [], [], 0
    for i, org in enumerate(subjects[: args.propagations]):
        holders = [e.holder for e in store.roles_of([org], "in", AS_OF) if e.role.value == "LEGAL_REPRESENTATIVE"]
        rec = DishonestyRecord(
            record_id=f"SEGREADS-{run}-{i}", subject=org, category="tax_evasion", severity="serious",
            decision_date=AS_OF - timedelta(days=10), act_date=AS_OF - timedelta(days=400),
            document_no=f"SEGREADS-{i}", department="tax", basis="bench",
            responsible=tuple(Responsible(h) for h in holders[:1]))
        t = time.perf_counter()
        c = time.thread_time()
        res = engine.put_records([rec])
        cpu.append(time.thread_time() - c)
        lat.append(time.perf_counter() - t)
        facts += len(res.added)
    out["propagation"] = percentiles(lat, cpu) | {"facts": facts}
    out["process_cpu_s"] = time.process_time()
    out["load_avg_end"] = os.getloadavg()[0]
    store.close()
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    if os.environ.get("SEGMENT_READS_CODE"):  # another checkout's graph_credit (main's, side by side)
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        sys.path.insert(0, os.environ["SEGMENT_READS_CODE"])
    main()
