"""The ``graph-credit`` command as a newcomer meets it (issue 15, stumbles 1, 2, 3 and 8)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from graph_credit.cli import EXIT_REFUSED, EXIT_REJECTED_ROWS, app
from graph_credit.engine import Engine
from graph_credit.store import DEFAULT_STORE, SQLiteStore
from tests.helpers import make_uscc
from tests.scenario import World, build

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
BAD_USCC = make_uscc(1)[:-1] + ("0" if make_uscc(1)[-1] != "0" else "1")  # a wrong check character


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = SQLiteStore(tmp_path / "city.sqlite")
    yield build(Engine(store))
    store.close()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without the demo store, and no GRAPH_CREDIT_STORE."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("GRAPH_CREDIT_STORE", raising=False)
    return cwd


def one_line_error(result: object, *words: str) -> str:
    """The command failed with one line naming the problem (no traceback)."""
    out = result.output.strip()  # type: ignore[attr-defined]
    assert result.exit_code == EXIT_REFUSED, out  # type: ignore[attr-defined]
    assert "Traceback" not in out and len(out.splitlines()) == 1 and out.startswith("error: "), out
    assert all(w in out for w in words), out
    return out


# -- 1: a reading command refuses a store that is not there ---------------------------------------------------
def test_check_refuses_a_missing_store_instead_of_allowing_a_black_listed_company(
        world: World, tmp_path: Path, elsewhere: Path) -> None:
    good = str(tmp_path / "city.sqlite")
    r = runner.invoke(app, ["check", world["org_a"], "government_procurement", "--as-of", "2021-01-01",
                            "--store", good])
    assert r.exit_code == 0 and '"decision": "deny"' in r.output, r.output
    typo = str(tmp_path / "cty.sqlite")
    one_line_error(runner.invoke(app, ["check", world["org_a"], "government_procurement", "--store", typo]),
                   "--store", typo)
    assert not Path(typo).exists()  # no empty store left behind
    one_line_error(runner.invoke(app, ["check", world["org_a"], "government_procurement"]), DEFAULT_STORE)
    assert not (elsewhere / DEFAULT_STORE).exists()
    for command in (["recompute"], ["notices"], ["deliver"], ["render", world["org_a"], "--out", "x.png"],
                    ["export-neo4j", "out"], ["serve"]):
        one_line_error(runner.invoke(app, [*command, "--store", typo]), "no store at")


def test_the_default_store_is_the_one_make_serve_fills() -> None:
    assert DEFAULT_STORE == "data/demo.sqlite"
    assert f"--store {DEFAULT_STORE}" in (ROOT / "Makefile").read_text()


def test_check_of_an_unregistered_subject_answers_unknown(world: World, tmp_path: Path) -> None:
    r = runner.invoke(app, ["check", make_uscc(999), "licensing", "--store", str(tmp_path / "city.sqlite")])
    assert r.exit_code == 0 and '"decision": "unknown"' in r.output, r.output


# -- 3: one line naming the problem, not a traceback ------------------------------------------------------------
def test_bad_input_is_one_line_naming_the_problem(world: World, tmp_path: Path) -> None:
    store = str(tmp_path / "city.sqlite")
    one_line_error(runner.invoke(app, ["check", BAD_USCC, "licensing", "--store", store]),
                   "subject", "check character")
    one_line_error(runner.invoke(app, ["check", world["org_a"], "no_such_matter", "--store", store]),
                   "matter", "no_such_matter")
    one_line_error(runner.invoke(app, ["check", world["org_a"], "licensing", "--as-of", "1.1.2021",
                                       "--store", store]), "--as-of")
    empty = tmp_path / "empty"
    empty.mkdir()
    fresh = tmp_path / "fresh.sqlite"
    one_line_error(runner.invoke(app, ["import", str(empty), "--store", str(fresh)]), "source", "no import files")
    assert not fresh.exists()  # refused before a store was created


# -- 2: rejected rows fail the import; the report is always written ---------------------------------------------
def write_organisations(directory: Path, codes: list[str]) -> None:
    directory.mkdir(exist_ok=True)
    with (directory / "organisations.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["code", "name", "org_type", "region", "industry", "registered_on"])
        for i, code in enumerate(codes):
            out.writerow([code, f"公司{i}", "enterprise", "110105", "C", "2015-01-01"])


def test_import_exits_non_zero_on_rejected_rows_and_always_rewrites_its_report(tmp_path: Path) -> None:
    data, store, report = tmp_path / "data", str(tmp_path / "imp.sqlite"), tmp_path / "bad-rows.csv"
    write_organisations(data, [make_uscc(1), BAD_USCC])
    r = runner.invoke(app, ["import", str(data), "--store", store, "--report-csv", str(report)])
    assert r.exit_code == EXIT_REJECTED_ROWS, r.output
    assert "1 rows rejected" in r.output and "Traceback" not in r.output
    assert len(list(csv.DictReader(report.open(encoding="utf-8-sig")))) == 1
    write_organisations(data, [make_uscc(1), make_uscc(2)])
    r = runner.invoke(app, ["import", str(data), "--store", store, "--report-csv", str(report)])
    assert r.exit_code == 0, r.output
    assert list(csv.DictReader(report.open(encoding="utf-8-sig"))) == []  # the stale report is gone
    assert SQLiteStore(store).counts()["organisations"] == 2


def test_exit_codes_are_documented() -> None:
    doc = (ROOT / "graph_credit" / "cli.py").read_text(encoding="utf-8").split('"""')[1]
    assert f"{EXIT_REFUSED} the input was refused" in doc and f"{EXIT_REJECTED_ROWS} an import" in doc
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`{EXIT_REJECTED_ROWS}`" in readme and f"`{EXIT_REFUSED}`" in readme


# -- 8: every command is in the README ------------------------------------------------------------------------
def command_table() -> str:
    """The README's command table, as `graph-credit --help` lists the commands."""
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    rows = ["| command | what |", "|---|---|"]
    for name in group.list_commands(ctx):  # type: ignore[attr-defined]
        command = group.get_command(ctx, name)  # type: ignore[attr-defined]
        rows.append(f"| `{name}` | {command.get_short_help_str(limit=200)} |")
    return "\n".join(rows)


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- commands -->\n(.*?)\n<!-- /commands -->", readme, re.S)
    assert block is not None, "README.md lacks the <!-- commands --> block"
    assert block.group(1) == command_table(), "README's command table is stale; paste:\n" + command_table()
