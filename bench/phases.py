"""The measured phases of ``bench/run.py``; each runs in its own process so its peak RSS is its own.

A phase prints one line ``RESULT {json}`` on stdout; progress bars and notes go to stderr.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AS_OF = date(2026, 6, 1)  # the synthetic data runs to 2026-06-30
MATTER = "government_procurement"
os.environ.setdefault("GRAPH_CREDIT_PSEUDONYM_KEY", "bench-key")


# -- measuring ----------------------------------------------------------------------------------------
def peak_rss() -> int:
    """Peak resident set of this process, bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss() -> int:
    """Current resident set, bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def disk(path: Path) -> int:
    """Bytes of a file with its -wal/-shm companions, or of a directory tree."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def percentiles(seconds: list[float], cpu: list[float] | None = None) -> dict[str, float]:
    """p50, p99, mean and max in milliseconds, of wall time and (when given) of this thread's CPU
    time: on a shared machine the wall-time tail also holds time spent waiting for a core."""
    a = np.sort(np.asarray(seconds, dtype=float)) * 1e3
    if not len(a):
        return {"n": 0}
    out = {
        "n": len(a),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "mean_ms": float(a.mean()),
        "max_ms": float(a[-1]),
    }
    if cpu:
        c = np.sort(np.asarray(cpu, dtype=float)) * 1e3
        out |= {"cpu_p50_ms": float(np.percentile(c, 50)), "cpu_p99_ms": float(np.percentile(c, 99)),
                "cpu_mean_ms": float(c.mean())}
    return out


def timed(fn: Callable[[Any], Any], items: Iterable[Any]) -> tuple[list[float], list[Any], list[float]]:
    """Wall and thread-CPU seconds of ``fn`` on each item, and its results."""
    lat, out, cpu = [], [], []
    for x in items:
        t = time.perf_counter()
        c = time.thread_time()
        out.append(fn(x))
        cpu.append(time.thread_time() - c)
        lat.append(time.perf_counter() - t)
    return lat, out, cpu


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    result["peak_rss"] = peak_rss()
    result["load_avg_end"] = os.getloadavg()[0]
    result["cpu_seconds"] = time.process_time()
    print("RESULT " + json.dumps(result, default=str), flush=True)


def sample_orgs(data: Path, n: int, seed: int) -> list[str]:
    """``n`` organisation codes drawn without replacement (the same list in every phase)."""
    import pyarrow.csv as pcsv

    codes = pcsv.read_csv(data / "organisations.csv", convert_options=pcsv.ConvertOptions(include_columns=["code"]))
    col = codes.column("code").to_pylist()
    rng = random.Random(seed)
    return rng.sample(col, min(n, len(col)))


# -- generation ------------------------------------------------------------------------------------------
def phase_generate(args: Any) -> None:
    from graph_credit.synth import write_synthetic

    t = time.perf_counter()
    rows = write_synthetic(args.data, args.size, seed=args.seed, fmt="csv", chunk_orgs=min(args.size, 1_000_000))
    emit({"phase": "generate", "rows": rows, "seconds": time.perf_counter() - t, "csv_bytes": disk(args.data)})


# -- the embedded store: import ------------------------------------------------------------------------
def phase_import(args: Any) -> None:
    from graph_credit.io import import_dir
    from graph_credit.store import SQLiteStore

    db: Path = args.db
    for p in db.parent.glob(db.name + "*"):  # the database, its WAL and its saved graph index
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    base = rss()
    store = SQLiteStore(db)
    load_start = os.getloadavg()[0]
    t = time.perf_counter()
    report = import_dir(store, args.data, progress=True, batch_size=args.import_batch)
    secs = time.perf_counter() - t
    counts = store.counts()
    store.close()
    if report.errors:
        note(report.summary())
    edges = counts["roles"]
    emit({
        "phase": "import",
        "seconds": secs,
        "seconds_by_kind": report.seconds,
        "cpu_seconds_by_kind": report.cpu_seconds,
        "load_avg_start": load_start,
        "rows": report.rows,
        "rows_total": sum(report.rows.values()),
        "errors": len(report.errors),
        "edges": edges,
        "edges_per_s_roles_phase": edges / report.seconds["roles"],
        "edges_per_cpu_s_roles_phase": edges / report.cpu_seconds["roles"],
        "edges_per_s_overall": edges / secs,
        "disk_bytes": disk(db),
        "disk_bytes_per_edge": disk(db) / max(edges, 1),
        "rss_base": base,
        "counts": counts,
    })


# -- the embedded store: derivation -----------------------------------------------------------------------
def phase_derive(args: Any) -> None:
    from graph_credit.engine import Engine
    from graph_credit.model import Cause
    from graph_credit.store import SQLiteStore

    warm_policies()
    store = SQLiteStore(args.db)
    engine = Engine(store)
    t = time.perf_counter()
    full = engine.recompute_all(progress=True)
    full_s = time.perf_counter() - t
    facts = store.counts()["facts"]
    serious = [Cause("record", r.record_id) for r in store.iter_records() if r.severity == "serious"]
    t = time.perf_counter()
    again = engine.refresh(serious, "benchmark")
    serious_s = time.perf_counter() - t
    store.close()
    emit({
        "phase": "derive",
        "full_seconds": full_s,
        "full_causes": full.causes,
        "facts": facts,
        "serious_records": len(serious),
        "serious_seconds": serious_s,
        "serious_changed": len(again.added) + len(again.removed),
        "disk_bytes": disk(args.db),
    })


# -- the embedded store: queries and propagation ------------------------------------------------------------
def two_hop_store(store: Any, subject: str, on: date) -> int:
    """The bare traversal behind a check through ``Store.roles_of`` (SQL): nodes within two hops
    over role edges in force on ``on``."""
    seen = {subject}
    frontier = [subject]
    for _ in range(2):
        nxt = []
        for e in store.roles_of(frontier, "both", on):
            for n in (e.holder, e.org):
                if n not in seen:
                    seen.add(n)
                    nxt.append(n)
        frontier = nxt
    return len(seen) - 1


def two_hop_index(store: Any, subject: str, on: date) -> int:
    """The same traversal on the store's graph index (no fan-out limit)."""
    found = store.traverse([subject], on, 2, 1 << 30)[0]
    return len(found.distance) - 1


def warm_policies() -> None:
    """Parse every policy file once and freeze what was loaded, as a server does at start-up (not part of
    any timing): a record is judged under its own jurisdiction, whose first parse (0.1-0.7 s) otherwise
    lands in some check's time."""
    import gc

    from graph_credit.policy import available_jurisdictions, load_policy

    for name in available_jurisdictions():
        try:
            load_policy(name)
        except Exception as exc:  # noqa: BLE001 - a broken overlay shows in the checks that need it
            note(f"policy {name}: {exc}")
    gc.collect()
    gc.freeze()


def phase_index(args: Any) -> None:
    """Build the graph index from the committed roles and save it next to the database, as the
    first start of a server after an import does (later starts map the saved files)."""
    from graph_credit.store import SQLiteStore

    sidecar = Path(str(args.db) + ".graph")
    shutil.rmtree(sidecar, ignore_errors=True)
    base = rss()
    store = SQLiteStore(args.db)
    t = time.perf_counter()
    store.warm()
    secs = time.perf_counter() - t
    nbytes = store.graph_index_bytes()
    edges = store.counts()["roles"]
    store.close()
    emit({"phase": "index", "seconds": secs, "edges": edges, "index_bytes": nbytes,
          "index_bytes_per_edge": nbytes / max(edges, 1), "disk_bytes": disk(sidecar), "rss_base": base})


def phase_query(args: Any) -> None:
    from graph_credit.checks import check, check_many
    from graph_credit.engine import Engine
    from graph_credit.graph import neighbourhood, related_parties
    from graph_credit.model import DishonestyRecord, Responsible
    from graph_credit.store import SQLiteStore

    subjects = sample_orgs(args.data, args.checks + args.batch, args.seed)
    single, batch = subjects[: args.checks], subjects[args.checks :]
    warm_policies()
    gc.collect()
    base = rss()
    store = SQLiteStore(args.db)
    engine = Engine(store)
    edges = store.counts()["roles"]
    sidecar = Path(str(args.db) + ".graph")
    had_saved = sidecar.exists() and any(sidecar.iterdir())
    t = time.perf_counter()
    store.warm()
    warm_s = time.perf_counter() - t
    out: dict[str, Any] = {"phase": "query", "edges": edges, "warm_seconds": warm_s, "index_was_saved": had_saved,
                           "index_bytes": store.graph_index_bytes(), "load_avg_start": os.getloadavg()[0]}
    out["rss_after_warm"] = rss()
    # One pass to fault in what every later measurement touches anyway; not timed.
    for s in single[:200]:
        check(store, s, MATTER, AS_OF)
    gc.collect()
    gc.freeze()  # as the API server does after start-up (api/app.py)

    lat, sizes, cpu = timed(lambda s: two_hop_index(store, s, AS_OF), single)
    out["two_hop"] = percentiles(lat, cpu) | {"nodes_mean": float(np.mean(sizes))}
    out["two_hop_sizes"] = sizes
    lat, sql_sizes, cpu = timed(lambda s: two_hop_store(store, s, AS_OF), single[: args.related])
    out["two_hop_sql"] = percentiles(lat, cpu)
    out["two_hop_index_equals_sql"] = sql_sizes == sizes[: len(sql_sizes)]
    lat, _, cpu = timed(lambda s: neighbourhood(store, s, AS_OF, 2), single)
    out["neighbourhood"] = percentiles(lat, cpu)

    lat, results, cpu = timed(lambda s: check(store, s, MATTER, AS_OF), single)
    out["check"] = percentiles(lat, cpu)
    decisions: dict[str, int] = {}
    for r in results:
        decisions[r.decision] = decisions.get(r.decision, 0) + 1
    out["check_decisions"] = decisions

    t = time.perf_counter()
    c = time.process_time()
    batch_results = check_many(store, batch, MATTER, AS_OF)
    secs, cpu_s = time.perf_counter() - t, time.process_time() - c
    out["batch"] = {"checks": len(batch), "seconds": secs, "checks_per_s": len(batch) / secs,
                    "cpu_seconds": cpu_s, "checks_per_cpu_s": len(batch) / cpu_s}
    # The batch path must answer what one check at a time answers: compare a sample.
    sample = range(0, len(batch), max(len(batch) // 500, 1))
    out["batch_equals_single"] = all(asdict(batch_results[i]) == asdict(check(store, batch[i], MATTER, AS_OF))
                                     for i in sample)
    del batch_results  # answered and sent, as a server does: not resident memory of the store

    lat, found, cpu = timed(lambda s: related_parties(store, s, AS_OF, 3)[0], single[: args.related])
    out["related_depth3"] = percentiles(lat, cpu) | {"parties_mean": float(np.mean([len(f) for f in found]))}
    out["rss_after_reads"] = rss()
    out["rss_base"] = base

    # Propagation: one new serious record at a time, each its own durable transaction.
    rng = random.Random(args.seed + 1)
    targets = rng.sample(single, min(args.propagations, len(single)))
    lat, cpu = [], []
    facts_added = []
    for i, org in enumerate(targets):
        holders = [e.holder for e in store.roles_of([org], "in", AS_OF) if e.role.value == "LEGAL_REPRESENTATIVE"]
        rec = DishonestyRecord(
            record_id=f"BENCH-{args.seed}-{i}", subject=org, category="tax_evasion", severity="serious",
            decision_date=AS_OF - timedelta(days=10), act_date=AS_OF - timedelta(days=400),
            document_no=f"BENCH-{i}", department="tax", basis="bench",
            responsible=tuple(Responsible(h) for h in holders[:1]),
        )
        t = time.perf_counter()
        c = time.thread_time()
        res = engine.put_records([rec])
        cpu.append(time.thread_time() - c)
        lat.append(time.perf_counter() - t)
        facts_added.append(len(res.added))
    out["propagation"] = percentiles(lat, cpu) | {"facts_mean": float(np.mean(facts_added))}
    out["rss_end"] = rss()
    out["resident_bytes_per_edge"] = (out["rss_after_reads"] - base) / max(edges, 1)
    store.close()
    out["disk_bytes"] = disk(args.db)
    out["disk_bytes_per_edge"] = out["disk_bytes"] / max(edges, 1)
    out["index_disk_bytes"] = disk(sidecar) if sidecar.exists() else 0
    emit(out)


# -- HTTP ---------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of process ``pid`` and of each of its children (the server's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (a server worker that has opened the store)."""
    try:
        return any(os.readlink(fd) == str(path.resolve()) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # gone, or not ours to read
        return False


def phase_http(args: Any) -> None:
    """The server started as a deployment would (``graph-credit serve --workers N``); one client, then
    ``--http-clients`` at once. The clients are lean (one keep-alive ``http.client`` connection per
    thread, bodies encoded beforehand) and run in this process, so this process's CPU is the clients'
    and the server's is read from /proc: both are reported per check."""
    subjects = sample_orgs(args.data, args.http, args.seed + 2)
    port = _free_port()
    key = "bench-department-key"
    env = dict(os.environ)
    env["GRAPH_CREDIT_API_KEYS"] = json.dumps({key: {"role": "department", "department": "finance",
                                                    "name": "bench"}})
    env["GRAPH_CREDIT_TODAY"] = AS_OF.isoformat()
    env["GRAPH_CREDIT_WEBHOOK_INTERVAL"] = "0"  # no alerts are written here
    env["GRAPH_CREDIT_COST"] = "department=100000000"  # the default quota (2,666 checks a minute) would refuse
    cmd = [sys.executable, "-m", "graph_credit.cli", "serve", "--store", str(args.db), "--host", "127.0.0.1",
           "--port", str(port), "--no-access-log"]
    if args.http_workers:
        cmd += ["--workers", str(args.http_workers)]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    headers = {"X-API-Key": key, "X-Purpose": "benchmark", "Content-Type": "application/json"}
    body = {"matter": MATTER, "as_of": AS_OF.isoformat(), "purpose": "benchmark"}
    bodies = [json.dumps(body | {"subject": s}).encode() for s in subjects]
    try:
        deadline = time.time() + 600
        while True:
            try:
                _post(port, "/v1/health", None, {}, "GET")
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        workers = args.http_workers or len(os.sched_getaffinity(0))  # serve's default
        while len([p for p in _tree_cpu(server.pid) if _has_open(p, args.db)]) < workers:  # all started
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("the server's workers did not start") from None
            time.sleep(0.2)
        # Warm every worker: new connections land on any of them.
        _http_clients(port, headers, bodies[:400], max(args.http_clients, 8), server.pid, args.db)
        one = _http_clients(port, headers, bodies, 1, server.pid, args.db)
        many = _http_clients(port, headers, bodies, args.http_clients, server.pid, args.db)
        emit({"phase": "http", "workers": workers, "check": one["check"],
              "statuses": one["statuses"], "one_client": one, "clients": many})
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _post(port: int, path: str, body: bytes | None, headers: dict[str, str], method: str = "POST") -> int:
    import http.client

    con = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        con.request(method, path, body=body, headers=headers)
        r = con.getresponse()
        r.read()
        return r.status
    finally:
        con.close()


def _audit_entries(db: Path) -> int:
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM journal WHERE tbl = 'audit'").fetchone()[0])
    finally:
        con.close()


def _http_clients(port: int, headers: dict[str, str], bodies: list[bytes], clients: int,
                  server_pid: int, db: Path) -> dict[str, Any]:
    """``clients`` threads, each with its own keep-alive connection, sending checks at once. An answer
    that names persons is audited durably before it is sent: the audit entries the run committed are
    counted in the store afterwards, beside the answers that named persons (neither is timed)."""
    import http.client
    import threading

    from graph_credit.ids import persons_in

    lat: list[float] = []
    codes: dict[str, int] = {}
    answers: list[bytes] = []
    lock = threading.Lock()

    def client(part: list[bytes]) -> None:
        mine, seen, read = [], [], []
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for b in part:
            t = time.perf_counter()
            con.request("POST", "/v1/checks", body=b, headers=headers)
            r = con.getresponse()
            read.append(r.read())
            mine.append(time.perf_counter() - t)
            seen.append(str(r.status))
        con.close()
        with lock:
            lat.extend(mine)
            answers.extend(read)
            for code in seen:
                codes[code] = codes.get(code, 0) + 1

    threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
    audited = _audit_entries(db)
    load = os.getloadavg()[0]
    server_cpu, client_cpu, t = _tree_cpu(server_pid), time.process_time(), time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    secs = time.perf_counter() - t
    client_cpu = time.process_time() - client_cpu
    per_process = sorted((v - server_cpu.get(p, 0.0) for p, v in _tree_cpu(server_pid).items()), reverse=True)
    n = max(len(lat), 1)
    if set(codes) != {"200"}:
        raise RuntimeError(f"the server answered {codes}")
    audited = _audit_entries(db) - audited
    naming = sum(bool(persons_in(json.loads(a))) for a in answers)
    if audited < naming:
        raise RuntimeError(f"{naming} answers named persons, {audited} audit entries were committed")
    return {"clients": clients, "checks": len(lat), "seconds": secs, "checks_per_s": len(lat) / secs,
            "answers_naming_persons": naming, "audit_entries": audited,
            "check": percentiles(lat), "statuses": codes, "server_cpu_ms_per_check": sum(per_process) / n * 1e3,
            "server_cpu_s_by_process": [round(c, 2) for c in per_process if c > 0.005],
            "client_cpu_ms_per_check": client_cpu / n * 1e3, "load_average": [load, os.getloadavg()[0]]}


# -- networkx ---------------------------------------------------------------------------------------------
def _edge_columns(data: Path) -> dict[str, np.ndarray]:
    """holder, org (as given in the file), valid_from/valid_to as day ordinals (valid_to open = max)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    t = pcsv.read_csv(
        data / "roles.csv",
        convert_options=pcsv.ConvertOptions(
            include_columns=["holder_id", "org_code", "role", "valid_from", "valid_to"],
            column_types={"valid_from": pa.date32(), "valid_to": pa.date32()},
        ),
    )
    epoch = date(1970, 1, 1).toordinal()
    vf = pc.cast(t.column("valid_from"), pa.int32()).to_numpy() + epoch
    vt = pc.fill_null(pc.cast(t.column("valid_to"), pa.int32()), 10**8 - epoch).to_numpy() + epoch
    return {"holder": t.column("holder_id"), "org": t.column("org_code"), "role": t.column("role"),
            "vf": vf, "vt": vt}


def phase_networkx(args: Any) -> None:
    import networkx as nx

    subjects = sample_orgs(args.data, args.checks, args.seed)
    gc.collect()
    base = rss()
    t = time.perf_counter()
    cols = _edge_columns(args.data)
    read_s = time.perf_counter() - t
    g = nx.MultiGraph()
    n = len(cols["vf"])
    step = 500_000
    for i in range(0, n, step):
        h = cols["holder"].slice(i, step).to_pylist()
        o = cols["org"].slice(i, step).to_pylist()
        r = cols["role"].slice(i, step).to_pylist()
        vf = cols["vf"][i : i + step].tolist()
        vt = cols["vt"][i : i + step].tolist()
        g.add_edges_from(
            (a, b, {"role": rr, "vf": f, "vt": tt}) for a, b, rr, f, tt in zip(h, o, r, vf, vt, strict=True)
        )
    del cols
    gc.collect()
    load_s = time.perf_counter() - t
    resident = rss() - base
    day = AS_OF.toordinal()

    def two_hop(subject: str) -> int:
        seen = {subject}
        frontier = [subject]
        for _ in range(2):
            nxt = []
            for node in frontier:
                for other, keyed in g[node].items():
                    if other in seen:
                        continue
                    if any(a["vf"] <= day < a["vt"] for a in keyed.values()):
                        seen.add(other)
                        nxt.append(other)
            frontier = nxt
        return len(seen) - 1

    for s in subjects[:200]:
        two_hop(s)
    lat, sizes, cpu = timed(two_hop, subjects)
    emit({"phase": "networkx", "edges": n, "read_seconds": read_s, "load_seconds": load_s,
          "edges_per_s": n / load_s, "resident_bytes_per_edge": resident / n, "two_hop": percentiles(lat, cpu),
          "two_hop_sizes": sizes})


# -- LadybugDB ----------------------------------------------------------------------------------------------
def phase_ladybug(args: Any) -> None:
    import ladybug as lb
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    subjects = sample_orgs(args.data, args.checks, args.seed)
    work: Path = args.ladybug_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # COPY wants one node file per table and one relationship file per (from, to) pair: split the
    # roles file by holder kind. Not timed as loading: it is file preparation.
    t = time.perf_counter()
    orgs = pcsv.read_csv(args.data / "organisations.csv",
                         convert_options=pcsv.ConvertOptions(include_columns=["code"]))
    persons = pcsv.read_csv(args.data / "persons.csv",
                            convert_options=pcsv.ConvertOptions(include_columns=["id_number"]))
    roles = pcsv.read_csv(
        args.data / "roles.csv",
        convert_options=pcsv.ConvertOptions(
            include_columns=["holder_id", "org_code", "role", "valid_from", "valid_to", "ratio"],
            column_types={"valid_from": pa.date32(), "valid_to": pa.date32(), "ratio": pa.float64()},
        ),
    )
    by_org = pc.is_in(roles.column("holder_id"), value_set=orgs.column("code"))
    write = pcsv.WriteOptions(include_header=False)
    pcsv.write_csv(orgs, work / "org.csv", write)
    pcsv.write_csv(persons, work / "person.csv", write)
    pcsv.write_csv(roles.filter(pc.invert(by_org)), work / "person_org.csv", write)
    pcsv.write_csv(roles.filter(by_org), work / "org_org.csv", write)
    prep_s = time.perf_counter() - t
    n = roles.num_rows
    del roles, orgs, persons, by_org
    gc.collect()

    base = rss()
    db = lb.Database(str(work / "graph.lbug"), buffer_pool_size=args.ladybug_pool << 20)
    con = lb.Connection(db)
    con.execute("CREATE NODE TABLE Org(id STRING PRIMARY KEY)")
    con.execute("CREATE NODE TABLE Person(id STRING PRIMARY KEY)")
    con.execute("CREATE REL TABLE Holds(FROM Person TO Org, FROM Org TO Org, role STRING, vf DATE, vt DATE, "
                "ratio DOUBLE)")
    t = time.perf_counter()
    con.execute(f"COPY Org FROM '{work / 'org.csv'}' (header=false)")
    con.execute(f"COPY Person FROM '{work / 'person.csv'}' (header=false)")
    nodes_s = time.perf_counter() - t
    t = time.perf_counter()
    con.execute(f"COPY Holds FROM '{work / 'person_org.csv'}' (header=false, from='Person', to='Org')")
    con.execute(f"COPY Holds FROM '{work / 'org_org.csv'}' (header=false, from='Org', to='Org')")
    rels_s = time.perf_counter() - t
    query = (
        "MATCH (a:Org {id: $k})-[e1:Holds]-(b) WHERE e1.vf <= $d AND (e1.vt IS NULL OR e1.vt > $d) "
        "WITH a, collect(DISTINCT b) AS hop1 UNWIND hop1 AS b "
        "OPTIONAL MATCH (b)-[e2:Holds]-(c) WHERE e2.vf <= $d AND (e2.vt IS NULL OR e2.vt > $d) AND c <> a "
        "WITH hop1, collect(DISTINCT c) AS hop2 "
        "RETURN size(list_distinct(list_concat(hop1, hop2)))"
    )
    stmt = con.prepare(query)

    def two_hop(subject: str) -> int:
        res = con.execute(stmt, {"k": subject, "d": AS_OF})
        assert not isinstance(res, list)
        rows = res.get_all()
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    for s in subjects[:200]:
        two_hop(s)
    lat, sizes, cpu = timed(two_hop, subjects)
    resident = rss() - base
    con.close()
    db.close()
    emit({"phase": "ladybug", "edges": n, "prepare_seconds": prep_s, "copy_nodes_seconds": nodes_s,
          "copy_rels_seconds": rels_s, "edges_per_s": n / rels_s, "edges_per_s_with_nodes": n / (rels_s + nodes_s),
          "disk_bytes": disk(work / "graph.lbug"), "disk_bytes_per_edge": disk(work / "graph.lbug") / n,
          "resident_bytes_per_edge": resident / n, "two_hop": percentiles(lat, cpu), "two_hop_sizes": sizes})


# -- DuckDB ---------------------------------------------------------------------------------------------------
def phase_duckdb(args: Any) -> None:
    """DuckDB's CSV reader (parallel, typed) loading roles.csv into a table: the same file and
    columns as the import's roles phase, without validation, references or edge ids."""
    import duckdb

    work: Path = args.db.parent / "duckdb"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    con = duckdb.connect(str(work / "roles.duckdb"))
    load = os.getloadavg()[0]
    t, cpu = time.perf_counter(), time.process_time()
    con.execute(
        "CREATE TABLE roles AS SELECT * FROM read_csv(?, header = true, columns = {"
        "'holder_id': 'VARCHAR', 'org_code': 'VARCHAR', 'role': 'VARCHAR', 'valid_from': 'DATE', "
        "'valid_to': 'DATE', 'ratio': 'DOUBLE', 'subscribed_capital': 'DOUBLE', 'title': 'VARCHAR'})",
        [str(args.data / "roles.csv")],
    )
    con.execute("CHECKPOINT")  # durable on disk, as the store's commits are
    secs, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    row = con.execute("SELECT count(*) FROM roles").fetchone()
    n = int(row[0]) if row else 0
    con.close()
    emit({"phase": "duckdb", "edges": n, "seconds": secs, "cpu_seconds_load": cpu_s, "edges_per_s": n / secs,
          "edges_per_cpu_s": n / cpu_s, "load_avg_start": load, "threads": os.cpu_count(),
          "disk_bytes": disk(work / "roles.duckdb")})


def phase_ceiling(args: Any) -> None:
    """The import's building blocks alone on this machine (``bench/ceiling.py``), one million rows."""
    from bench.ceiling import measure

    emit({"phase": "ceiling", **measure(1_000_000)})


def phase_live(args: Any) -> None:
    from bench.live import phase_live as run

    run(args)


PHASES: dict[str, Callable[[Any], None]] = {
    "ceiling": phase_ceiling,
    "generate": phase_generate,
    "import": phase_import,
    "derive": phase_derive,
    "index": phase_index,
    "query": phase_query,
    "live": phase_live,
    "http": phase_http,
    "networkx": phase_networkx,
    "ladybug": phase_ladybug,
    "duckdb": phase_duckdb,
}
