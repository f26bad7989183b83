"""The live-writes scenario of ``bench/run.py`` (phase ``live``): checks while registration data changes.

Side by side in one process, on the same store and the same write schedule:

* ``index``   -- the graph index (base + delta) on, 5 role changes and 1 serious record per second
                 (each through the engine, so consequences are re-derived), checks in a loop;
* ``sql``     -- the same with the graph index switched off (the control);
* ``leak``    -- the index on, 10 role changes per second, sampling open connections, file
                 descriptors, RSS and where it is (``_memory``); their slope per hour over the run's
                 second half.

As in the server (``api.app``), what start-up loaded is frozen out of the cyclic collector before
the timed part; the collector's passes during a run are reported (``gc``).

Each role write is followed, on the writer's thread, by one traversal from its organisation whose
edges followed must show the change (``visible``: the new edge followed, the ended or deleted one
not): a committed change is in the fast path before the next check.
Background CPU is the process's CPU time less that of the checking and writing threads (the index's
compaction thread and the rest), as a share of one core over the run's wall time.
"""

from __future__ import annotations

import ctypes
import gc
import os
import random
import threading
import time
from datetime import timedelta
from typing import Any

import numpy as np

from bench.phases import AS_OF, MATTER, emit, note, percentiles, rss, sample_orgs, warm_policies

_INDEX_STATE = ("delta_edges", "bases_built", "gen", "base_gen")
_KEPT = 200_000  # check latencies kept for the percentiles (the last ones of a long run)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class _Pauses:
    """The cyclic collector's passes during a run (a ``gc.callbacks`` entry): how many, and their
    wall time, per generation (a pass holds the GIL: every thread waits for it)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.seen: dict[int, list[float]] = {0: [], 1: [], 2: []}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.seen[info["generation"]].append(time.perf_counter() - self.started)

    def summary(self) -> dict[str, Any]:
        return {f"gen{g}": {"passes": len(p), "seconds": sum(p), "max_ms": 1e3 * max(p, default=0.0)}
                for g, p in self.seen.items()}


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def _memory() -> dict[str, int]:
    """Where the resident set is, bytes: per kind of mapping (the saved base's mapped arrays, SQLite's
    shared WAL index, the heap and other anonymous memory, libraries), SQLite's own allocations (its
    page caches are on the heap), and glibc's heap in use and free (``mallinfo2``, all arenas; free
    bytes there are resident until trimmed)."""
    out = {"anon": 0, "index_maps": 0, "sqlite_maps": 0, "libs": 0, "other_file": 0, "heap_in_use": 0,
           "heap_free": 0, "heap_mmapped": 0}
    kind = "other_file"
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 6)
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                path = head[5].strip() if len(head) > 5 else ""
                kind = ("index_maps" if path.endswith(".npy") else "sqlite_maps" if ".sqlite" in path
                        else "libs" if ".so" in path else "anon" if not path or path.startswith("[") else "other_file")
            elif head[0] == "Rss:":
                out[kind] += int(head[1]) * 1024
    try:  # all of SQLite's allocations in this process: page caches, statements, schema
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        out["sqlite_memory"] = int(lib.sqlite3_memory_used())
    except (OSError, AttributeError):  # SQLite linked statically
        pass
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        mi = libc.mallinfo2()
        out |= {"heap_in_use": mi.uordblks, "heap_free": mi.fordblks, "heap_mmapped": mi.hblkhd}
    except (OSError, AttributeError):  # no glibc >= 2.33
        pass
    return out


class _Writer(threading.Thread):
    """Role changes (add an edge, end it, delete it, in turn) at ``per_s``, one serious record per
    ``record_every`` role changes, each followed by a traversal that must see it."""

    def __init__(self, engine: Any, orgs: list[str], persons: list[str], per_s: float, record_every: int,
                 seed: int, tag: str) -> None:
        super().__init__(name=f"writer-{tag}", daemon=True)
        self.engine, self.orgs, self.persons = engine, orgs, persons
        self.per_s, self.record_every, self.tag = per_s, record_every, tag
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.writes = self.records = self.visible = self.checked = 0
        self.write_lat: list[float] = []
        self.cpu = 0.0

    def run(self) -> None:
        from graph_credit.model import DishonestyRecord, Responsible, Role, RoleEdge

        store = self.engine.store
        c0 = time.thread_time()
        pending: list[RoleEdge] = []
        i = 0
        next_at = time.perf_counter()
        while not self.stop.is_set():
            next_at += 1 / self.per_s
            org = self.rng.choice(self.orgs)
            t = time.perf_counter()
            if i % 3 == 0 or not pending:  # a new director
                e = RoleEdge(self.rng.choice(self.persons), Role.DIRECTOR, org, AS_OF - timedelta(days=30))
                self.engine.put_roles([e], "bench: new director")
                pending.append(e)
                want = (e.org, e.edge_id, True)
            elif i % 3 == 1:  # the director leaves
                e = pending[-1]
                ended = RoleEdge(e.holder, e.role, e.org, e.valid_from, AS_OF - timedelta(days=1), edge_id=e.edge_id)
                self.engine.put_roles([ended], "bench: director left")
                want = (e.org, e.edge_id, False)
            else:  # the entry was a mistake
                e = pending.pop()
                self.engine.delete_roles([e.edge_id], "bench: corrected")
                want = (e.org, e.edge_id, False)
            self.write_lat.append(time.perf_counter() - t)
            self.writes += 1
            hood = store.traverse([want[0]], AS_OF, 1, 1 << 30)
            if hood is not None:
                self.checked += 1
                self.visible += (want[1] in hood[0].edges) == want[2]  # the edge itself: followed or not
            if self.record_every and i % self.record_every == self.record_every - 1:
                holders = [x.holder for x in store.roles_of([org], "in", AS_OF) if x.role is Role.LEGAL_REPRESENTATIVE]
                self.engine.put_records([DishonestyRecord(
                    record_id=f"LIVE-{self.tag}-{i}", subject=org, category="tax_evasion", severity="serious",
                    decision_date=AS_OF - timedelta(days=10), act_date=AS_OF - timedelta(days=400),
                    document_no=f"LIVE-{i}", department="tax", basis="bench",
                    responsible=tuple(Responsible(h) for h in holders[:1]))])
                self.records += 1
            i += 1
            self.stop.wait(max(0.0, next_at - time.perf_counter()))
        self.cpu = time.thread_time() - c0


def _run(db: Any, subjects: list[str], persons: list[str], seconds: float, index: bool, per_s: float,
         record_every: int, seed: int, tag: str, sample_every: float = 0.0) -> dict[str, Any]:
    from graph_credit.checks import check
    from graph_credit.engine import Engine
    from graph_credit.store import SQLiteStore

    store = SQLiteStore(db, graph_index=index)
    engine = Engine(store)
    store.warm()
    for s in subjects[:100]:  # fault in the pages every later check touches; not timed
        check(store, s, MATTER, AS_OF)
    gc.collect()  # as the server does after its start-up (api.app's lifespan)
    gc.freeze()
    pauses = _Pauses()
    gc.callbacks.append(pauses)
    writer = _Writer(engine, subjects, persons, per_s, record_every, seed, tag)
    before = store.index_stats() if index else {}
    samples: list[tuple[float, int, int, int]] = []
    memory: list[dict[str, int]] = []  # per sample: where the resident set is, and the index's state
    # The latest _KEPT latencies, in arrays allocated up front: the leak run's RSS is the store's, not
    # a list of a million floats growing with the run.
    lat, cpu = np.zeros(_KEPT), np.zeros(_KEPT)
    t0, p0, c0 = time.perf_counter(), time.process_time(), time.thread_time()
    writer.start()
    next_sample = 0.0
    n = 0
    while (now := time.perf_counter() - t0) < seconds:
        if sample_every and now >= next_sample:
            samples.append((now, len(store._readers) + 1, _fds(), rss()))
            memory.append(_memory() | {k: v for k, v in store.index_stats().items() if k in _INDEX_STATE}
                          | {"building": int(store._building)})
            next_sample += sample_every
        s = subjects[n % len(subjects)]
        t, c = time.perf_counter(), time.thread_time()
        check(store, s, MATTER, AS_OF)
        cpu[n % _KEPT] = time.thread_time() - c
        lat[n % _KEPT] = time.perf_counter() - t
        n += 1
    kept = min(n, _KEPT)
    main_cpu = time.thread_time() - c0
    writer.stop.set()
    writer.join(60)
    wall, proc_cpu = time.perf_counter() - t0, time.process_time() - p0
    out: dict[str, Any] = {
        "seconds": wall, "checks": n, "checks_per_s": n / wall,
        "check": percentiles(list(lat[:kept]), list(cpu[:kept])) | {"of_the_last": kept},
        "role_writes": writer.writes, "records": writer.records, "write": percentiles(writer.write_lat),
        "visible": writer.visible, "visibility_checked": writer.checked,
        "background_cpu_share": max(0.0, proc_cpu - main_cpu - writer.cpu) / wall,
        "checker_cpu_share": main_cpu / wall, "writer_cpu_share": writer.cpu / wall,
        "load_avg": os.getloadavg()[0],
    }
    if index:
        after = store.index_stats()
        answered = after["index"] - before["index"]
        out["fast_path_share"] = answered / max(answered + after["sql"] - before["sql"], 1)
        out["bases_built"] = after["bases_built"] - before["bases_built"]
        out["delta_edges_end"] = after["delta_edges"]
    if samples:
        out["leak"] = _slopes(samples, memory)
    gc.callbacks.remove(pauses)
    gc.unfreeze()
    out["gc"] = pauses.summary()
    store.close()
    return out


def _slopes(samples: list[tuple[float, int, int, int]], memory: list[dict[str, int]]) -> dict[str, Any]:
    """First and last samples, and slopes per hour fitted over the run's second half. While a new base
    is built, its thread's reader and the child process's pipes are open (closed when it ends):
    connections and descriptors are fitted over the samples taken between builds, so the slope says
    whether they accumulate; RSS over all of them."""
    a = np.array(samples, dtype=float)
    half = a[len(a) // 2 :]
    idle = half[[not m["building"] for m in memory[len(a) // 2 :]]]

    def fit(rows: np.ndarray, values: np.ndarray) -> float | None:
        return float(np.polyfit(rows[:, 0] / 3600, values, 1)[0]) if len(rows) > 2 else None

    anon = np.array([m["anon"] for m in memory[len(a) // 2 :]], dtype=float)
    return {"samples": len(a), "connections": [int(a[0, 1]), int(a[-1, 1])], "fds": [int(a[0, 2]), int(a[-1, 2])],
            "rss": [int(a[0, 3]), int(a[-1, 3])], "connections_per_hour": fit(idle, idle[:, 1]),
            "fds_per_hour": fit(idle, idle[:, 2]), "rss_bytes_per_hour": fit(half, half[:, 3]),
            "anon_bytes_per_hour": fit(half, anon), "samples_during_builds": sum(m["building"] for m in memory),
            "series": [[round(t, 1), int(c), int(f), int(m)] for t, c, f, m in samples], "memory": memory}


def phase_live(args: Any) -> None:
    from graph_credit.ids import is_person_key
    from graph_credit.store import SQLiteStore

    warm_policies()
    subjects = sample_orgs(args.data, 3_000, args.seed + 3)
    store = SQLiteStore(args.db, graph_index=False)
    persons = sorted({e.holder for e in store.roles_of(subjects[:300], "in") if is_person_key(e.holder)})
    store.close()
    out: dict[str, Any] = {"phase": "live", "per_s": 5, "records_per_s": 1}
    for tag, index in (("index", True), ("sql", False)):
        note(f"live: {tag}, {args.live_seconds} s")
        out[tag] = _run(args.db, subjects, persons, args.live_seconds, index, 5, 5, args.seed, tag)
    note(f"live: leak run, {args.leak_seconds} s at 10 writes/s")
    out["leak_run"] = _run(args.db, subjects, persons, args.leak_seconds, True, 10, 0, args.seed + 1, "leak",
                           sample_every=max(args.leak_seconds / 60, 1.0))
    emit(out)
