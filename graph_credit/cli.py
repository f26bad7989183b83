"""The ``graph-credit`` command: serve, import, generate, recompute, check, export, monitoring, drawing.

Exit codes: 0 done; 1 the input was refused (one line on stderr names the problem: a bad identifier, an
unknown matter, a missing store, a directory without import files...); 2 a usage error (click's);
3 an import that loaded its good rows but rejected others (the report names them).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from .engine import Engine
from .errors import DomainError
from .store import DEFAULT_STORE, Store, open_store

EXIT_REFUSED = 1
EXIT_REJECTED_ROWS = 3


class _Commands(TyperGroup):
    """Every command answers a refused input with one line naming it, not a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_REFUSED) from None


app = typer.Typer(help="graph-credit: joint incentive and joint punishment over a responsibility graph.",
                  no_args_is_help=True, cls=_Commands)

StoreOpt = typer.Option(None, "--store", envvar="GRAPH_CREDIT_STORE",
                        help=f"SQLite path or neo4j:// URL (default {DEFAULT_STORE}, the store `make serve` fills)")


def existing_store(url: str | None) -> Store:
    """Open a store that must exist already: opening a mistyped SQLite path would create an empty store, and
    every check against it would find nothing."""
    url = url or DEFAULT_STORE
    path = url.removeprefix("sqlite://")
    if "://" not in path and path != ":memory:" and not Path(path).is_file():
        raise DomainError(f"no store at {path}; load one with `graph-credit import DIR --store {path}` "
                          "(or `make serve` for the demo store)", field="--store")
    return open_store(url)


def _day(value: str | None, option: str = "--as-of") -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{value!r} is not a date written YYYY-MM-DD", field=option) from None


def load_data(store_url: str | None, source: Path, jurisdiction: str = "default", progress: bool = True) -> dict:
    """Import a directory of CSV/Parquet files and derive the consequences of what changed, in one
    transaction (Engine.import_dir): a crash leaves all of it or none of it. A directory without import
    files is refused before the store is opened (so no empty store is created)."""
    from .io import find_import_files

    find_import_files(source)
    store = open_store(store_url)
    try:
        report, refreshed = Engine(store, jurisdiction).import_dir(source, progress=progress)
        return {"report": report, "causes": refreshed.causes, "facts_added": len(refreshed.added),
                "facts_removed": len(refreshed.removed), "counts": store.counts()}
    finally:
        store.close()


@app.command("import")
def import_cmd(source: Path = typer.Argument(..., exists=True, file_okay=False, help="directory of CSV/Parquet"),
               store: str | None = StoreOpt,
               report_csv: Path | None = typer.Option(None, help="write the bad rows here (rewritten on every "
                                                               "run: only a header when none were rejected)"),
               jurisdiction: str = typer.Option("default")) -> None:
    """Import organisations, persons, roles, records, honours and list entries; bad rows are reported and
    skipped, good rows load; exit code 3 when any row was rejected."""
    out = load_data(store, source, jurisdiction)
    report = out["report"]
    typer.echo(report.summary())
    if report_csv:  # always: a report left over from an earlier run must not speak for this one
        report.write_csv(report_csv)
        typer.echo(f"row-level report: {report_csv}")
    typer.echo(f"derived: {out['causes']} causes, {out['facts_added']} facts added, "
               f"{out['facts_removed']} removed")
    typer.echo("stored: " + ", ".join(f"{k}={v}" for k, v in out["counts"].items()))
    if report.errors:
        typer.echo(f"error: {len(report.errors):,} rows rejected (see above"
                   f"{f' and {report_csv}' if report_csv else '; --report-csv writes them all'})", err=True)
        raise typer.Exit(EXIT_REJECTED_ROWS)


@app.command()
def generate(orgs: int = typer.Argument(1000, min=10), out: Path = typer.Argument(Path("data/synthetic")),
             seed: int = 7, fmt: str = typer.Option("csv", help="csv or parquet")) -> None:
    """Write a seeded synthetic dataset in the import format."""
    from .synth.generator import generate as gen

    data = gen(orgs, seed=seed)
    data.write(out, fmt=fmt)
    typer.echo(f"wrote {orgs} organisations (seed {seed}) to {out}")


def ensure_demo(store_url: str, orgs: int = 2000, seed: int = 7) -> None:
    """Load the synthetic demo dataset into an empty store."""
    store = open_store(store_url)
    try:
        empty = store.counts()["organisations"] == 0
    finally:
        store.close()
    if not empty:
        return
    from .synth.generator import generate as gen

    with tempfile.TemporaryDirectory() as tmp:
        gen(orgs, seed=seed).write(Path(tmp), fmt="csv")
        out = load_data(store_url, Path(tmp))
    typer.echo(out["report"].summary())


# Seconds a worker may take to answer the supervisor's health check before it is killed and restarted.
# uvicorn's default, 5 s, kills a worker that is building its graph index at start-up (the build holds
# the interpreter for longer on a loaded machine), and its replacement the same way, over and over.
WORKER_HEALTHCHECK_S = 120


@app.command()
def serve(store: str | None = StoreOpt, host: str = "127.0.0.1", port: int = 8000,
          demo: bool = typer.Option(False, help="load demo data into an empty store; enable demo API keys"),
          demo_orgs: int = 2000,
          workers: int = typer.Option(
              0, min=0, help="server processes on the one port (0: one per CPU core this process may use)"),
          access_log: bool = typer.Option(True, help="log every request (ID and phone numbers masked)")) -> None:
    """Run the HTTP API with uvicorn, in --workers processes sharing the port.

    Each process opens the store and maps the saved graph index itself (SQLite's WAL lets them read at
    once and queues their writes) and group-commits its own audit entries: a request is answered only
    after the commit holding its entry. Each process enforces its share of every rate limit and quota."""
    import uvicorn

    url = store or DEFAULT_STORE
    if demo:
        ensure_demo(url, demo_orgs)
        os.environ["GRAPH_CREDIT_DEMO"] = "1"
    else:
        existing_store(url).close()
    workers = workers or len(os.sched_getaffinity(0))
    os.environ["GRAPH_CREDIT_STORE"] = url  # the workers read their settings from the environment
    os.environ["GRAPH_CREDIT_WORKERS"] = str(workers)  # each process enforces its share of the rate limits
    # uvicorn's own proxy-header handling is off: it would believe X-Forwarded-For from 127.0.0.1, so any
    # local client could pick its address (and dodge the failed-authentication limit). The app applies
    # forwarded headers itself, only from GRAPH_CREDIT_TRUSTED_PROXIES.
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port,
                workers=workers, proxy_headers=False, access_log=access_log,
                log_config=log_config(), timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)


def log_config() -> dict:
    """uvicorn's logging configuration, with ID and phone numbers masked in every line (access log paths
    and query strings, error messages, tracebacks) and the service's own loggers on the same handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"personal_data": {"()": "graph_credit.pii.LogFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["personal_data"]
    config["loggers"]["graph_credit"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config


@app.command()
def recompute(store: str | None = StoreOpt, jurisdiction: str = "default") -> None:
    """Derive every consequence from scratch and report what changed."""
    s = existing_store(store)
    try:
        result = Engine(s, jurisdiction).recompute_all(progress=True)
        typer.echo(f"recomputed {result.causes} causes: {len(result.added)} facts added or changed, "
                   f"{len(result.removed)} removed")
    finally:
        s.close()


@app.command()
def check(subject: str, matter: str, as_of: str | None = None, store: str | None = StoreOpt,
          jurisdiction: str = "default") -> None:
    """Run one approval check and print the JSON answer."""
    from dataclasses import asdict

    from .checks import check as run
    from .ids import subject_key

    on, key = _day(as_of), subject_key(subject)
    s = existing_store(store)
    try:
        typer.echo(json.dumps(asdict(run(s, key, matter, on, jurisdiction)), default=str,
                              ensure_ascii=False, indent=2))
    finally:
        s.close()


@app.command("policy-table")
def policy_table(out: Path = typer.Option(Path("docs/jurisdictions.md"), help="where to write the table")) -> None:
    """Write the rules and measures × jurisdictions table (applies or not, basis, end) for legal review."""
    from .policy.table import jurisdiction_table

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(jurisdiction_table() + "\n", encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command("export-neo4j")
def export_neo4j(out: Path, store: str | None = StoreOpt) -> None:
    """Write neo4j-admin import CSV files of every kind stored (persons by pseudonymous key and masked ID
    only) and import.sh with the `neo4j-admin database import full` command; then run init-schema."""
    from .io.export import export_neo4j_admin

    s = existing_store(store)
    try:
        counts = export_neo4j_admin(s, out)
        typer.echo(", ".join(f"{k}={v}" for k, v in counts.items()))
    finally:
        s.close()


@app.command()
def compact(store: str | None = StoreOpt) -> None:
    """Fold the SQLite store's role edges kept row by row (a store written before columnar segments,
    or the edits since the last load) and its segments into one columnar segment."""
    from .store import SQLiteStore

    s = existing_store(store)
    try:
        if not isinstance(s, SQLiteStore):
            raise DomainError("compact is for a SQLite store", field="--store")
        started = time.monotonic()
        rows, merged, total = s.compact_roles(progress=lambda step: typer.echo(step, err=True))
        typer.echo(f"compacted: {rows:,} table rows and {merged} segments folded into one segment of "
                   f"{total:,} edges in {time.monotonic() - started:.1f} s")
    finally:
        s.close()


@app.command("init-schema")
def init_schema(store: str = typer.Option(..., "--store", envvar="GRAPH_CREDIT_STORE", help="neo4j:// URL"),
                timeout: int = typer.Option(600, help="seconds to wait for the indexes to come online")) -> None:
    """Create the Neo4j constraints and indexes (cypher/schema.cypher) and wait until they are online.
    Run once per database by an operator with schema privileges (after a neo4j-admin import too); the
    service connects without them."""
    from .store.neo4j import Neo4jStore

    if not store.startswith(("neo4j", "bolt")):
        raise typer.BadParameter("init-schema is for a Neo4j store (neo4j://, bolt://...)", param_hint="--store")
    s = open_store(store)
    try:
        assert isinstance(s, Neo4jStore)
        s.apply_schema(timeout)
        typer.echo("schema applied")
    finally:
        s.close()


@app.command()
def deliver(store: str | None = StoreOpt,
            max_attempts: int = typer.Option(8, envvar="GRAPH_CREDIT_WEBHOOK_MAX_ATTEMPTS", min=1),
            backoff: float = typer.Option(30.0, envvar="GRAPH_CREDIT_WEBHOOK_BACKOFF", min=0,
                                          help="seconds before the first retry; doubles per failure")) -> None:
    """Post due pending alerts to their webhooks once (retry state is kept on each alert)."""
    from .egress import EgressPolicy
    from .monitor.delivery import DeliveryPolicy, deliver_pending

    s = existing_store(store)
    try:
        policy = DeliveryPolicy(max_attempts=max_attempts, backoff=backoff, egress_policy=EgressPolicy.from_env())
        report = deliver_pending(s, policy=policy)
        typer.echo(json.dumps(report, indent=2))
    finally:
        s.close()


@app.command()
def notices(as_of: str | None = typer.Option(None, help="YYYY-MM-DD, default today"),
            store: str | None = StoreOpt,
            jurisdiction: str = typer.Option("default", help="the deployment's (list entries are judged under it)")
            ) -> None:
    """Sweep for expiries: notices to departments and alerts to subscribers for consequences that reached their
    natural end by the date (idempotent)."""
    from .monitor.alerts import sweep

    on = _day(as_of)
    s = existing_store(store)
    try:
        typer.echo(json.dumps(sweep(s, on, jurisdiction=jurisdiction), indent=2))
    finally:
        s.close()


@app.command()
def render(subject: str = typer.Argument(..., help="USCC, resident ID number or person key"),
           out: Path = typer.Option(..., "--out", help="the file to write: .png, .svg or .html"),
           as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD, default today"),
           depth: int = typer.Option(1, min=1, max=3, help="hops around the subject"),
           max_fanout: int = typer.Option(30, min=1, help="edges drawn per node; the rest are counted"),
           store: str | None = StoreOpt) -> None:
    """Draw a subject's neighbourhood as of a date for investigators: nodes coloured by credit status,
    edges labelled with role and dates (PNG or SVG picture, or a standalone HTML page with tables)."""
    from .ids import subject_key
    from .render import FORMATS, render_neighbourhood

    if out.suffix.lower() not in FORMATS:
        raise typer.BadParameter(f"must end in {', '.join(FORMATS)}", param_hint="--out")
    on, key = _day(as_of), subject_key(subject)
    s = existing_store(store)
    try:
        path = render_neighbourhood(s, key, on, out, depth, max_fanout)
        typer.echo(f"wrote {path}")
    finally:
        s.close()


if __name__ == "__main__":
    app()
