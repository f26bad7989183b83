"""Single checks and one ``check_many`` of 10^4 from a given code tree, for before/after runs side by side.

    python bench/compare_checks.py CODE_DIR STORE CSV_DIR

CODE_DIR is a checkout (``git archive <commit> | tar -x -C dir``) whose ``graph_credit`` is measured;
STORE a copy of a bench store (never the one under /tmp/graph-credit-bench). Prints one JSON line:
p50/p99 of 2,000 single checks after 200 to warm (wall and this thread's CPU, ms), the batch's
checks per second and per CPU second, the load average, and hashes of the answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any


def main(code: str, store_path: str, csv: str) -> None:
    sys.path.insert(0, code)
    os.chdir(code)
    os.environ.setdefault("GRAPH_CREDIT_PSEUDONYM_KEY", "bench-key")
    from bench.phases import sample_orgs, warm_policies
    from graph_credit.checks import check, check_many
    from graph_credit.store import SQLiteStore

    warm_policies()
    on, matter = date(2026, 6, 1), "government_procurement"
    store = SQLiteStore(store_path)
    store.warm()
    subjects = sample_orgs(Path(csv), 12_200, 7)

    def digest(results: list[Any]) -> str:
        text = json.dumps([asdict(r) for r in results], default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    class Digest:
        """``digest`` of answers added one by one: the single checks' answers are not kept, for the cyclic
        collector would walk them and show in the very tail measured."""

        def __init__(self) -> None:
            self.sha, self.sep = hashlib.sha256(b"["), b""

        def add(self, result: Any) -> None:
            self.sha.update(self.sep + json.dumps(asdict(result), default=str, ensure_ascii=False).encode())
            self.sep = b", "

        def hexdigest(self) -> str:
            done = self.sha.copy()
            done.update(b"]")
            return done.hexdigest()[:12]

    def q(xs: list[float], p: float) -> float:
        return round(sorted(xs)[int(p * (len(xs) - 1))] * 1000, 3)

    for s in subjects[:200]:
        check(store, s, matter, on)
    wall, cpu, single = [], [], Digest()
    for s in subjects[200:2200]:
        t, c = time.perf_counter(), time.thread_time()
        answer = check(store, s, matter, on)
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
        single.add(answer)
    load = os.getloadavg()[0]
    t, c = time.perf_counter(), time.process_time()
    batch = check_many(store, subjects[2200:], matter, on)
    bw, bc = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({
        "code": code, "store": store_path, "p50": q(wall, 0.5), "p99": q(wall, 0.99), "p50cpu": q(cpu, 0.5),
        "p99cpu": q(cpu, 0.99), "many_per_s": round(len(batch) / bw), "many_per_cpu_s": round(len(batch) / bc),
        "load": [load, os.getloadavg()[0]], "single_hash": single.hexdigest(), "batch_hash": digest(batch)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
