"""Bulk import (validation, row-level report, idempotence) and export (networkx, pandas, neo4j-admin)."""

from __future__ import annotations

import collections
import csv
import dataclasses
import json
import os
import random
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
import pytest
from stdnum.cn import ric, uscc

from graph_credit.ids import (
    InvalidIdentifier,
    birth_date,
    mask_id_number,
    normalise_id_number,
    normalise_uscc,
    person_key,
)
from graph_credit.io import (
    COLUMNS,
    KINDS,
    export_neo4j_admin,
    import_dir,
    import_frames,
    to_frames,
    to_networkx,
)
from graph_credit.io import importer as gio
from graph_credit.io import read as gread
from graph_credit.io import validate as gvalidate
from graph_credit.io.validate import _pseudonyms, _resolve
from graph_credit.model import Responsible, Role, RoleEdge
from graph_credit.store import JOURNAL_TABLES, SQLiteStore, WriteCounts
from graph_credit.synth import generate
from tests.helpers import make_id_number, make_uscc


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "db" / "store.sqlite")
    yield s
    s.close()


def _write(path: Path, header: tuple[str, ...] | list[str], rows: list[list[str]], bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _bad_check(code: str) -> str:
    """The same code with a wrong check character."""
    return code[:-1] + ("1" if code[-1] != "1" else "2")


# -- generated data ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    data = generate(1000, seed=7)
    out = tmp_path_factory.mktemp("gen")
    data.write(out / "csv", fmt="csv")
    data.write(out / "parquet", fmt="parquet")
    return out, data.frames


def _sizes(monkeypatch: pytest.MonkeyPatch, **values: int) -> None:
    """Set the import's part sizes in every io module that reads them."""
    for module in (gio, gread, gvalidate):
        for name, value in values.items():
            if hasattr(module, name):
                monkeypatch.setattr(module, name, value)


@pytest.fixture(params=["whole", "in parts", "in parts through disk"])
def role_parts(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validate the roles file whole, in parts of a few rows (as a big frame is, identifiers too
    resolved a few at a time), or split on disk into parts of a few hundred bytes (as a big CSV is)."""
    if request.param == "in parts":
        _sizes(monkeypatch, _ROLES_PART=3)
        _sizes(monkeypatch, _VALIDATE_CHUNK=2)
    if request.param == "in parts through disk":
        _sizes(monkeypatch, _ROLES_PART_BYTES=300)


@pytest.fixture(params=["whole", "in parts", "in parts through disk"])
def generated_parts(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """``role_parts`` at the scale of the generated roles file (7,000 rows, 600 kB): about 7 parts."""
    if request.param == "in parts":
        _sizes(monkeypatch, _ROLES_PART=1000)
        _sizes(monkeypatch, _VALIDATE_CHUNK=300)
    if request.param == "in parts through disk":
        _sizes(monkeypatch, _ROLES_PART_BYTES=100_000)


def test_generated_import_counts_and_idempotent_reimport(generated, store: SQLiteStore, generated_parts: None) -> None:
    out, frames = generated
    report = import_dir(store, out / "csv", progress=False)
    assert report.ok, report.summary()
    for kind in KINDS:
        assert report.counts[kind] == WriteCounts(inserted=len(frames[kind])), kind
        assert report.rows[kind] == len(frames[kind])
    counts = store.counts()
    assert {k: counts[k] for k in KINDS} == {k: len(v) for k, v in frames.items()}
    assert report.touched.orgs == set(frames["roles"]["org_code"])
    assert report.touched.records == set(frames["records"]["record_id"])
    assert report.touched.list_entries == set(frames["list_entries"]["entry_id"])

    again = import_dir(store, out / "csv", progress=False)
    assert again.ok
    for kind in KINDS:
        assert again.counts[kind] == WriteCounts(unchanged=len(frames[kind])), kind
    t = again.touched
    assert not (t.orgs or t.records or t.list_entries or t.honour_holders or t.role_holders)
    assert "unchanged" in again.summary()


def test_clear_id_numbers_are_never_stored(generated, tmp_path: Path) -> None:
    out, frames = generated
    db = tmp_path / "p.sqlite"
    s = SQLiteStore(db)
    import_dir(s, out / "csv", progress=False)
    person = next(iter(s.iter_persons()))
    s.close()
    files = [f for p in tmp_path.glob("p.sqlite*") for f in ([p] if p.is_file() else p.rglob("*"))]
    assert any(f.name == "rows.arrow" for f in files)  # the roles' segment files are searched too
    blob = b"".join(f.read_bytes() for f in files if f.is_file())
    sample = frames["persons"]["id_number"].tolist()[::50]
    assert not any(n.encode() in blob for n in sample)
    assert person.key.startswith("p") and "*" in person.masked_id


def _both_uscc_and_id_number() -> str:
    """An 18-digit value that is a valid USCC and a valid resident ID number at once."""
    base = make_id_number(1)[:14]
    for seq in range(1000):
        body = f"{base}{seq:03d}"
        if ric.calc_check_digit(body + "0") == uscc.calc_check_digit(body + "0"):
            return body + ric.calc_check_digit(body + "0")
    raise AssertionError("none found")


def test_a_holder_valid_as_both_is_the_known_organisation(tmp_path: Path, role_parts: None) -> None:
    """A USCC of an organisation in this import or in the store wins over an equal ID number."""
    both, org, other = _both_uscc_and_id_number(), make_uscc(801), make_uscc(802)
    org_row = ["", "x", "enterprise", "", "", "", ""]
    role_header = ("holder_id", "org_code", "role", "valid_from")
    s = SQLiteStore(tmp_path / "s.sqlite")
    # Known from this import.
    _write(tmp_path / "a" / "organisations.csv", COLUMNS["organisations"],
           [[both, *org_row[1:]], [org, *org_row[1:]]])
    _write(tmp_path / "a" / "roles.csv", role_header, [[both, org, "SHAREHOLDER", "2020-01-01"]])
    assert import_dir(s, tmp_path / "a", progress=False).ok
    assert [e.holder for e in s.roles_of([org], "in")] == [both]
    # Known from the store only.
    _write(tmp_path / "b" / "organisations.csv", COLUMNS["organisations"], [[other, *org_row[1:]]])
    _write(tmp_path / "b" / "roles.csv", role_header, [[both, other, "SHAREHOLDER", "2020-01-01"]])
    assert import_dir(s, tmp_path / "b", progress=False).ok
    assert [e.holder for e in s.roles_of([other], "in")] == [both]
    s.close()
    # No such organisation: the value names a person.
    t = SQLiteStore(tmp_path / "t.sqlite")
    _write(tmp_path / "c" / "organisations.csv", COLUMNS["organisations"], [[org, *org_row[1:]]])
    _write(tmp_path / "c" / "persons.csv", ["id_number", "name"], [[both, "某人"]])
    _write(tmp_path / "c" / "roles.csv", role_header, [[both, org, "LEGAL_REPRESENTATIVE", "2020-01-01"]])
    assert import_dir(t, tmp_path / "c", progress=False).ok
    assert [e.holder for e in t.roles_of([org], "in")] == [person_key(both)]
    t.close()


def test_roles_split_on_disk_report_the_same_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Multi-line values, records with the wrong number of fields and bad rows keep their
    physical line numbers when the roles file is split on disk, and the same edges load."""
    orgs = [make_uscc(900 + i) for i in range(6)]
    people = [make_id_number(900 + i) for i in range(6)]
    _write(tmp_path / "d" / "organisations.csv", ["code", "name"], [[o, "x"] for o in orgs])
    _write(tmp_path / "d" / "persons.csv", ["id_number", "name"], [[p, "y"] for p in people])
    header = "holder_id,org_code,role,valid_from,valid_to,ratio,subscribed_capital,title"
    lines = [
        f"{people[0]},{orgs[0]},DIRECTOR,2020-01-01,,,,\"董事\n长\"",  # lines 2-3
        f"{people[1]},{orgs[1]},DIRECTOR,2020-01-01,,,,x,extra",  # 4: too many fields
        f"{people[2]},{orgs[2]},DIRECTOR,2020-13-01,,,,",  # 5: not a date
        f"{people[3]},{orgs[0]},SHAREHOLDER,2020-01-01,,0.7,,",  # 6
        f"{people[4]},{orgs[0]},SHAREHOLDER,2020-01-01,,0.7,,",  # 7: shares sum to 1.4
        f"{people[5]},{orgs[3][:8]}-{orgs[3][8:]},DIRECTOR,2020-01-01,,,,\"a\n\nb\"",  # 8-10, spelt with a dash
        f"{people[5]},{orgs[3]},DIRECTOR,2020-01-01,,,,",  # 11: duplicate of line 8
        f"{people[0]},{orgs[5]},BOSS,2020-01-01,,,,",  # 12: unknown role
    ]
    (tmp_path / "d" / "roles.csv").write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    results = []
    for size in (1 << 30, 200):
        _sizes(monkeypatch, _ROLES_PART_BYTES=size)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / f"tmp{size}"))
        (tmp_path / f"tmp{size}").mkdir()
        s = SQLiteStore(tmp_path / f"{size}.sqlite")
        report = import_dir(s, tmp_path / "d", progress=False)
        edges = sorted(s.iter_roles(), key=lambda e: e.edge_id)
        results.append(([(e.file, e.line, e.field, e.reason) for e in report.errors], edges))
        s.close()
        assert not list((tmp_path / f"tmp{size}").iterdir())  # the parts are gone
    assert results[0] == results[1]
    got = [(line, fld) for f, line, fld, _ in results[0][0] if f == "roles.csv"]
    assert got == [(4, ""), (5, "valid_from"), (7, "ratio"), (11, "valid_from"), (12, "role")], got
    assert len(results[0][1]) == 3


def test_parquet_import_equals_csv_import(generated, tmp_path: Path) -> None:
    out, _ = generated
    a, b = SQLiteStore(tmp_path / "a.sqlite"), SQLiteStore(tmp_path / "b.sqlite")
    ra = import_dir(a, out / "csv", progress=False)
    rb = import_dir(b, out / "parquet", progress=False)
    assert ra.ok and rb.ok and ra.counts == rb.counts
    fa, fb = to_frames(a), to_frames(b)
    for kind in fa:
        pd.testing.assert_frame_equal(fa[kind], fb[kind], check_dtype=False)
    a.close()
    b.close()


def test_changes_are_touched(store: SQLiteStore) -> None:
    data = generate(300, seed=2)
    import_frames(store, data.frames)
    roles = data.roles.copy()
    i = roles.index[roles["valid_to"].isna()][0]
    roles.loc[i, "valid_to"] = "2026-01-01"
    records = data.records.copy()
    records.loc[0, "period_end"] = "2030-01-01"
    report = import_frames(store, {"roles": roles, "records": records})
    assert report.counts["roles"] == WriteCounts(updated=1, unchanged=len(roles) - 1)
    assert report.touched.orgs == {roles.loc[i, "org_code"]}
    assert report.touched.records == {records.loc[0, "record_id"]}


# -- identifiers --------------------------------------------------------------------------------------
def test_pseudonyms_and_masks_match_the_scalar_functions() -> None:
    numbers = [make_id_number(n) for n in range(0, 5000, 97)]
    assert _pseudonyms(numbers) == [person_key(n) for n in numbers]
    data = generate(50, seed=1)
    for n in data.persons["id_number"]:
        assert mask_id_number(n) == n[:3] + "*" * 11 + n[-4:]


def test_vectorised_validators_agree_with_the_scalar_validators() -> None:
    """The import's vectorised checks accept exactly what graph_credit.ids accepts, with the same birth dates."""
    rnd = random.Random(4)
    data = generate(200, seed=9)
    seeds = data.persons["id_number"].tolist()[:150] + data.organisations["code"].tolist()[:150]
    values: list[str] = []
    for v in seeds:
        values.append(v)
        chars = list(v)
        chars[rnd.randrange(18)] = rnd.choice("0123456789XABCDY")
        values.append("".join(chars))
        values.append(v.lower())
        values.append(v[:17])
    values += [
        "",
        "   ",
        "91110000600037341L",
        "11010519491231002X",
        "110105194912310021",
        "９１１１０",
        "91 1100 00600037341L",
        "11010519490230002X",
        "999999194912310021",
    ]
    for region, born in (("320281", "19650101"), ("320223", "19650101"), ("469024", "19700101"),
                         ("110105", "20900101"), ("110105", "18991231"), ("320200", "19800229")):
        body = f"{region}{born}123"
        values.append(body + ric.calc_check_digit(body + "0"))
    series = pd.Series(values, dtype="string[pyarrow]").fillna("")
    for accept, scalar in (("org", normalise_uscc), ("person", normalise_id_number)):
        res = _resolve(series, accept, set())
        for v, key, reason, born in zip(values, res.key, res.reason, res.born, strict=True):
            try:
                clear = scalar(v)
            except InvalidIdentifier as exc:
                assert reason is not None and reason.endswith(exc.reason), (v, reason)
                continue
            assert reason is None, (v, reason)
            assert key == (clear if accept == "org" else person_key(clear))
            assert born == (birth_date(clear).toordinal() if accept == "person" else -1), v  # type: ignore[union-attr]


# -- bad rows -------------------------------------------------------------------------------------------
ORG_A, P1 = make_uscc(1), make_id_number(1)
ORG2, ORG4 = make_uscc(2), make_uscc(4)
P2, P5 = make_id_number(2), make_id_number(5)
PX = next(make_id_number(n) for n in range(10, 10_000) if make_id_number(n).endswith("X"))
CYPHER = "恒达\"}) MATCH (n) DETACH DELETE n //'; DROP TABLE organisations; --"


@pytest.fixture
def seeded(store: SQLiteStore, tmp_path: Path) -> SQLiteStore:
    """A store that already holds organisation A and person P1."""
    base = tmp_path / "base"
    _write(
        base / "organisations.csv",
        COLUMNS["organisations"],
        [[ORG_A, "孝义市已存公司", "enterprise", "", "C", "2012-01-01", ""]],
    )
    _write(base / "persons.csv", COLUMNS["persons"], [[P1, "王芳", "141181"]])
    assert import_dir(store, base, progress=False).ok
    return store


def _bad_dir(path: Path) -> Path:
    bad_org = _bad_check(make_uscc(3))
    _write(
        path / "organisations.csv",
        COLUMNS["organisations"],
        [
            [ORG2, "江阴市恒达机械有限公司", "enterprise", "", "C", "2015-03-01", ""],  # 2 good
            [bad_org, "坏码公司", "enterprise", "", "C", "2015-03-01", ""],  # 3 check character
            [ORG4, CYPHER, "enterprise", "320281", "F", "2016-01-01", ""],  # 4 good, stored verbatim
            [make_uscc(5), "某某协会", "association", "", "S", "", ""],  # 5 unknown org_type
            [ORG2, "重复公司", "enterprise", "", "C", "2015-03-01", ""],  # 6 duplicate code
            [make_uscc(6), "日期错公司", "enterprise", "", "C", "2015-02-30", ""],  # 7 bad date
            [ORG_A, "孝义市已存公司", "enterprise", "", "C", "2012-01-01", ""],  # 8 already stored, unchanged
        ],
        bom=True,
    )
    _write(
        path / "persons.csv",
        COLUMNS["persons"],
        [
            [P2, "张伟", "320281"],  # 2 good
            [_bad_check(make_id_number(3)), "李娜", "320281"],  # 3 check character
            [P2, "张伟", "320281"],  # 4 duplicate
            [PX.lower(), "Zhāng Ōu", ""],  # 5 good: lower-case x accepted
            [P5, "扎西次仁", "540102"],  # 6 good
            [make_id_number(7), "", "320281"],  # 7 missing name
        ],
    )
    r = COLUMNS["roles"]
    _write(
        path / "roles.csv",
        r,
        [
            [P2, ORG2, "LEGAL_REPRESENTATIVE", "2015-03-01", "", "", "", ""],  # 2 good
            [P2, ORG2, "CEO", "2015-03-01", "", "", "", ""],  # 3 unknown role
            [P2, ORG2, "DIRECTOR", "2015-03-01", "2015-03-01", "", "", ""],  # 4 empty interval
            [ORG_A, ORG2, "SHAREHOLDER", "2015-03-01", "", "1.5", "", ""],  # 5 ratio out of range
            [P2, ORG2, "SHAREHOLDER", "2015-03-01", "", "0.6", "600000", ""],  # 6 good
            [P5, ORG2, "SHAREHOLDER", "2016-01-01", "", "0.5", "", ""],  # 7 sum 1.4 from 2016-01-01
            [P2, ORG2, "LEGAL_REPRESENTATIVE", "2016-01-01", "", "", "", ""],  # 8 overlaps line 2
            [make_id_number(99), ORG2, "DIRECTOR", "2015-03-01", "", "", "", ""],  # 9 unknown person
            [P2, ORG2, "LEGAL_REPRESENTATIVE", "2015-03-01", "", "", "", ""],  # 10 duplicate of line 2
            [P1, ORG_A, "SUPERVISOR", "2014-01-01", "", "", "", "监事"],  # 11 good, both already stored
            [P2, bad_org, "DIRECTOR", "2015-03-01", "", "", "", ""],  # 12 bad org code
            [P2, ORG_A, "DIRECTOR", "2020/01/01", "", "", "", ""],  # 13 bad date
            [ORG_A, ORG2, "SHAREHOLDER", "2015-03-01", "", "0.3", "", ""],  # 14 good: 0.6 + 0.3
            [P2, ORG_A, "PRACTITIONER", "", "", "", "", ""],  # 15 missing valid_from
            [
                ORG_A,
                ORG2,
                "LEGAL_REPRESENTATIVE",
                "2015-03-01",
                "",
                "",
                "",
                "",
            ],  # 16 organisation as legal rep
            [P2, ORG4, "DIRECTOR", "2016-01-01", "", "0.2", "", ""],  # 17 ratio on a director
        ],
    )
    _write(
        path / "records.csv",
        COLUMNS["records"],
        [
            [
                "R1",
                ORG2,
                "environment",
                "serious",
                "2016-05-01",
                "2016-08-01",
                "澄环罚〔2016〕1号",
                "environment",
                "环境保护法",
                "2019-08-01",
                f"{P2}:LEGAL_REPRESENTATIVE; {P5}",
                "",
            ],  # 2 good
            ["R2", ORG2, "environment", "grave", "", "2016-08-01", "", "", "", "", "", ""],  # 3 severity
            [
                "R3",
                ORG2,
                "contract_fraud",
                "general",
                "2017-05-01",
                "2016-08-01",
                "",
                "",
                "",
                "",
                "",
                "",
            ],  # 4 act after
            [
                "R4",
                ORG2,
                "contract_fraud",
                "serious",
                "",
                "2016-08-01",
                "",
                "",
                "",
                "",
                f"{_bad_check(make_id_number(3))}:DIRECTOR",
                "",
            ],  # 5 bad responsible item
            [
                "R5",
                make_uscc(77),
                "contract_fraud",
                "serious",
                "",
                "2016-08-01",
                "",
                "",
                "",
                "",
                "",
                "",
            ],  # 6 unknown subject
            [
                "R1",
                ORG2,
                "environment",
                "serious",
                "",
                "2016-08-01",
                "",
                "",
                "",
                "",
                "",
                "",
            ],  # 7 duplicate id
            [
                "R6",
                P1,
                "judgment_defaulter",
                "serious",
                "",
                "2020-01-01",
                "(2020)晋1181执1号",
                "孝义市人民法院",
                "",
                "",
                "",
                "xiaoyi",
            ],  # 8 good: a person subject
        ],
    )
    _write(
        path / "honours.csv",
        COLUMNS["honours"],
        [
            ["H1", ORG2, "守合同重信用企业", "江阴市市场监督管理局", "2015-06-01"],  # 2 good
            ["H2", _bad_check(P2), "劳动模范", "江阴市人民政府", "2015-06-01"],  # 3 bad holder
            ["H3", ORG2, "文明单位", "江阴市文明委", ""],  # 4 missing date
        ],
    )
    _write(
        path / "list_entries.csv",
        COLUMNS["list_entries"],
        [
            [
                "L1",
                ORG2,
                "black",
                "严重失信主体名单",
                "environment",
                "环境保护法",
                "2016-09-01",
                "2019-08-01",
                "2016-08-15",
                "2016-08-22",
                "effective",
            ],  # 2 good
            ["L2", ORG2, "grey", "", "", "", "2016-09-01", "", "", "", ""],  # 3 unknown list
            [
                "L3",
                ORG2,
                "red",
                "",
                "",
                "",
                "2016-09-01",
                "2016-01-01",
                "",
                "",
                "",
            ],  # 4 ends before it starts
            ["L4", ORG2, "red", "", "", "", "2016-09-01", "", "", "", "done"],  # 5 unknown status
        ],
    )
    return path


EXPECTED = {
    ("organisations.csv", 3, "code"),
    ("organisations.csv", 5, "org_type"),
    ("organisations.csv", 6, "code"),
    ("organisations.csv", 7, "registered_on"),
    ("persons.csv", 3, "id_number"),
    ("persons.csv", 4, "id_number"),
    ("persons.csv", 7, "name"),
    ("roles.csv", 3, "role"),
    ("roles.csv", 4, "valid_to"),
    ("roles.csv", 5, "ratio"),
    ("roles.csv", 7, "ratio"),
    ("roles.csv", 8, "valid_from"),
    ("roles.csv", 9, "holder_id"),
    ("roles.csv", 10, "valid_from"),
    ("roles.csv", 12, "org_code"),
    ("roles.csv", 13, "valid_from"),
    ("roles.csv", 15, "valid_from"),
    ("roles.csv", 16, "holder_id"),
    ("roles.csv", 17, "ratio"),
    ("records.csv", 3, "severity"),
    ("records.csv", 4, "act_date"),
    ("records.csv", 5, "responsible"),
    ("records.csv", 6, "subject_id"),
    ("records.csv", 7, "record_id"),
    ("honours.csv", 3, "holder_id"),
    ("honours.csv", 4, "awarded_on"),
    ("list_entries.csv", 3, "list"),
    ("list_entries.csv", 4, "valid_to"),
    ("list_entries.csv", 5, "status"),
}


def test_bad_rows_are_reported_and_good_rows_load(seeded: SQLiteStore, tmp_path: Path, role_parts: None) -> None:
    store = seeded
    before_org, before_person = store.get_organisations([ORG_A])[ORG_A], store.get_persons([person_key(P1)])
    report = import_dir(store, _bad_dir(tmp_path / "bad"), progress=False)
    got = {(e.file, e.line, e.field) for e in report.errors}
    assert got == EXPECTED, report.summary()
    why = {(e.file, e.line): e.reason for e in report.errors}
    assert "wrong check character" in why["organisations.csv", 3]
    assert "first on line 2" in why["organisations.csv", 6]
    assert "first on line 2" in why["persons.csv", 4]
    assert "must be one of" in why["roles.csv", 3]
    assert "not after valid_from" in why["roles.csv", 4]
    assert "(0, 1]" in why["roles.csv", 5]
    assert "sum to 1.4 on 2016-01-01" in why["roles.csv", 7]
    assert "overlaps the interval of line 2" in why["roles.csv", 8]
    assert "not in this import nor in the store" in why["roles.csv", 9]
    assert "only hold a SHAREHOLDER" in why["roles.csv", 16]
    assert "after decision_date" in why["records.csv", 4]
    assert "not a date" in why["roles.csv", 13]
    # Clear ID numbers do not travel into the report.
    text = report.to_frame().to_string()
    assert P2 not in text and make_id_number(99) not in text
    assert any(
        e.value.startswith(P2[:3] + "*") for e in report.errors if e.file == "roles.csv" and e.line == 9
    ) or any("*" * 11 in e.value for e in report.errors if e.line == 9)

    assert report.counts["organisations"] == WriteCounts(inserted=2, unchanged=1)
    assert report.counts["persons"] == WriteCounts(inserted=3)
    assert report.counts["roles"] == WriteCounts(inserted=4)
    assert report.counts["records"] == WriteCounts(inserted=2)
    assert report.counts["honours"] == WriteCounts(inserted=1)
    assert report.counts["list_entries"] == WriteCounts(inserted=1)
    assert report.rejected("roles") == 12

    # What loaded is right, verbatim, and what was stored before is untouched.
    assert store.get_organisations([ORG4])[ORG4].name == CYPHER
    assert store.get_organisations([ORG2])[ORG2].region == ORG2[2:8]  # from the code
    assert store.get_organisations([ORG_A])[ORG_A] == before_org
    assert store.get_persons([person_key(P1)]) == before_person
    tib = store.get_persons([person_key(P5)])[person_key(P5)]
    assert tib.name == "扎西次仁" and tib.masked_id == mask_id_number(P5)
    assert store.get_persons([person_key(PX)])[person_key(PX)].name == "Zhāng Ōu"
    edges = store.roles_of([ORG2], "in")
    assert {(e.role, e.ratio) for e in edges} == {
        (Role.LEGAL_REPRESENTATIVE, None),
        (Role.SHAREHOLDER, 0.6),
        (Role.SHAREHOLDER, 0.3),
    }
    r1 = store.get_records(["R1"])["R1"]
    assert r1.responsible == (
        Responsible(person_key(P2), Role.LEGAL_REPRESENTATIVE),
        Responsible(person_key(P5)),
    )
    assert r1.jurisdiction == "default" and r1.act_date == date(2016, 5, 1)
    assert store.get_records(["R6"])["R6"].subject == person_key(P1)
    t = report.touched
    assert t.records == {"R1", "R6"} and t.list_entries == {"L1"} and t.list_subjects == {ORG2}
    assert t.orgs == {ORG2, ORG_A} and t.honour_holders == {ORG2}

    # The row-level report as CSV, and a second run changes nothing and reports the same rows.
    out = report.write_csv(tmp_path / "report.csv")
    back = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(back.columns) == ["file", "line", "field", "value", "reason"] and len(back) == len(
        report.errors
    )
    again = import_dir(store, tmp_path / "bad", progress=False)
    assert {(e.file, e.line, e.field) for e in again.errors} == EXPECTED
    assert all(c.inserted == c.updated == 0 for c in again.counts.values())


def test_line_numbers_count_physical_lines(store: SQLiteStore, tmp_path: Path) -> None:
    path = tmp_path / "d" / "organisations.csv"
    path.parent.mkdir()
    rows = [
        f'{make_uscc(10)},"多行\n名称\n公司",enterprise,,C,2015-01-01,',  # lines 2-4
        f"{make_uscc(11)},好公司,enterprise,,C,2015-01-01,,extra",  # line 5: too many fields
        f"{_bad_check(make_uscc(12))},坏公司,enterprise,,C,2015-01-01,",  # line 6
        f"{make_uscc(13)},好公司,enterprise,,C,2015-13-01,",  # line 7
    ]
    path.write_text(",".join(COLUMNS["organisations"]) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    report = import_dir(store, path.parent, progress=False)
    assert [(e.line, e.field) for e in report.errors] == [(5, ""), (6, "code"), (7, "registered_on")]
    assert "expected 7 fields, found 8" in report.errors[0].reason
    assert store.get_organisations([make_uscc(10)])[make_uscc(10)].name == "多行\n名称\n公司"


def test_missing_required_column(store: SQLiteStore, tmp_path: Path) -> None:
    _write(tmp_path / "m" / "persons.csv", ["id_number", "region"], [[P2, "320281"]])
    report = import_dir(store, tmp_path / "m", progress=False)
    assert [(e.line, e.field) for e in report.errors] == [(1, "name")]
    assert store.counts()["persons"] == 0


def test_unreadable_files_are_reported(store: SQLiteStore, tmp_path: Path) -> None:
    d = tmp_path / "u"
    d.mkdir()
    (d / "organisations.csv").write_bytes(b"code,name\n" + make_uscc(1).encode() + b",\xff\xfe bad\n")
    (d / "persons.csv").write_bytes(b"")
    report = import_dir(store, d, progress=False)
    assert [(e.file, e.line) for e in report.errors] == [("organisations.csv", 1), ("persons.csv", 1)]
    assert all("cannot read" in e.reason for e in report.errors)


def test_import_frames_accepts_python_types(store: SQLiteStore) -> None:
    orgs = pd.DataFrame(
        {
            "code": [ORG2, ORG4],
            "name": ["甲公司", "乙公司"],
            "region": [320281, None],
            "registered_on": [date(2015, 3, 1), pd.NaT],
        }
    )
    roles = pd.DataFrame(
        {
            "holder_id": [ORG2],
            "org_code": [ORG4],
            "role": ["shareholder"],
            "valid_from": [pd.Timestamp("2016-01-01")],
            "valid_to": [None],
            "ratio": [0.25],
        }
    )
    report = import_frames(store, {"organisations": orgs, "roles": roles}, {"roles": "roles-frame"})
    assert report.ok, report.summary()
    o = store.get_organisations([ORG2, ORG4])
    assert o[ORG2].region == "320281" and o[ORG2].registered_on == date(2015, 3, 1)
    assert o[ORG4].region == ORG4[2:8] and o[ORG4].registered_on is None
    (edge,) = store.roles_of([ORG4], "in")
    assert edge == RoleEdge(ORG2, Role.SHAREHOLDER, ORG4, date(2016, 1, 1), ratio=0.25)
    bad = import_frames(store, {"roles": roles.assign(ratio=[0.0])}, {"roles": "roles-frame"})
    assert [(e.file, e.line, e.field) for e in bad.errors] == [("roles-frame", 2, "ratio")]
    with pytest.raises(ValueError):
        import_frames(store, {"people": orgs})


# -- export -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path_factory.mktemp("loaded") / "s.sqlite")
    assert import_frames(s, generate(300, seed=4).frames).ok
    yield s
    s.close()


def test_to_networkx(loaded: SQLiteStore) -> None:
    g = to_networkx(loaded)
    counts = loaded.counts()
    assert isinstance(g, nx.MultiDiGraph)
    assert g.number_of_edges() == counts["roles"]
    assert g.number_of_nodes() == counts["organisations"] + counts["persons"]
    holder, org, key, attrs = next(iter(g.edges(keys=True, data=True)))
    assert attrs["role"] in {r.value for r in Role} and isinstance(attrs["valid_from"], date)
    assert loaded.get_roles([key])[key].holder == holder
    person = next(n for n, d in g.nodes(data=True) if d["kind"] == "person")
    assert set(g.nodes[person]) == {"kind", "name", "masked", "region"}
    # A one-hop neighbourhood as of a date, asked for by USCC.
    hub_org = max((n for n, d in g.nodes(data=True) if d["kind"] == "organisation"), key=g.in_degree)
    on = date(2024, 1, 1)
    sub = to_networkx(loaded, [hub_org], as_of=on, depth=1)
    assert hub_org in sub and sub.nodes[hub_org]["kind"] == "organisation"
    assert all(
        d["valid_from"] <= on and (d["valid_to"] is None or on < d["valid_to"])
        for _, _, d in sub.edges(data=True)
    )
    assert {e.edge_id for e in loaded.roles_of([hub_org], "both", on)} <= {
        k for _, _, k in sub.edges(keys=True)
    }
    two = to_networkx(loaded, [hub_org], depth=2)
    assert two.number_of_edges() >= to_networkx(loaded, [hub_org], depth=1).number_of_edges()


def test_to_frames(loaded: SQLiteStore) -> None:
    frames = to_frames(loaded)
    assert set(frames) == {"organisations", "persons", "roles", "records", "honours", "list_entries", "facts"}
    assert list(frames["persons"].columns) == ["key", "masked_id", "name", "region"]
    assert frames["persons"]["masked_id"].str.contains(r"\*{11}").all()
    assert str(frames["roles"]["valid_from"].dtype) == "datetime64[s]"
    assert len(frames["roles"]) == loaded.counts()["roles"]
    assert set(frames["roles"]["holder_kind"]) == {"person", "organisation"}
    on = date(2020, 6, 1)
    now = to_frames(loaded, as_of=on)["roles"]
    ts = pd.Timestamp(on)
    assert len(now) < len(frames["roles"])
    assert ((now["valid_from"] <= ts) & (now["valid_to"].isna() | (now["valid_to"] > ts))).all()


def _neo4j_admin_rows(path: Path) -> tuple[list[str], list[list[str | None]]]:
    """A neo4j-admin CSV file read as neo4j-admin reads it (default quote and delimiter): a quoted
    field is a string, the empty one included; an empty unquoted field is no value (None)."""
    text = path.read_text(encoding="utf-8")
    rows: list[list[str | None]] = []
    row: list[str | None] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            j, buf = i + 1, []
            while True:
                k = text.index('"', j)
                buf.append(text[j:k])
                if text[k + 1 : k + 2] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                break
            row.append("".join(buf))
            i = k + 1
        else:
            k = min(x for x in (text.find(",", i), text.find("\n", i), len(text)) if x >= 0)
            row.append(text[i:k] or None)
            i = k
        if i < len(text) and text[i] == ",":
            i += 1
            if i == len(text) or text[i] == "\n":
                row.append(None)
        if i < len(text) and text[i] == "\n":
            rows.append(row)
            row = []
            i += 1
    header = [str(c) for c in rows[0]]
    return header, rows[1:]


def test_export_neo4j_admin_loads_into_the_graph_the_store_reads(tmp_path: Path) -> None:
    """The demo store, plus an organisation with empty-string fields, a role held by a key with no
    subject stored and a journal row, exported: every file's header names the labels, ID space and
    properties the Neo4j store's statements read, and the values, read as neo4j-admin reads them and
    fed to the store's own converters, give back what SQLite holds."""
    from graph_credit.analytics.demo import demo_store
    from graph_credit.fields import EVENTS, FACTS, HONOURS, LIST_ENTRIES, ORGANISATIONS, PERSONS, RECORDS
    from graph_credit.model import Organisation
    from graph_credit.store.neo4j import store as shape

    store = demo_store(orgs=150)
    odd = Organisation("91110000MA00000001", 'Quote "and" comma, Ltd', region="", industry="")
    store.put_organisations([odd])
    ghost = "91110000MA0000000X"  # refers to no stored subject
    store.put_roles([RoleEdge(ghost, Role.SHAREHOLDER, odd.code, date(2020, 1, 1), ratio=0.5)])
    store.append("audit", [{"id": "a1", "who": "t", "persons": []}])
    counts = export_neo4j_admin(store, tmp_path / "neo")
    stored = store.counts()

    def read(name: str) -> tuple[list[str], list[dict[str, str | None]]]:
        header, rows = _neo4j_admin_rows(tmp_path / "neo" / f"{name}.csv")
        return header, [dict(zip(header, r, strict=True)) for r in rows]

    # subjects: :Subject:Organisation / :Subject:Person with an id property, in one ID space
    script = (tmp_path / "neo" / "import.sh").read_text()
    for part in ("--nodes=Subject:Organisation=organisations.csv", "--nodes=Subject:Person=persons.csv",
                 "--nodes=placeholders.csv", "--nodes=DishonestyRecord=records.csv", "--nodes=RecordEvent=events.csv",
                 "--nodes=Honour=honours.csv", "--nodes=ListEntry=list_entries.csv", "--nodes=DerivedFact=facts.csv",
                 "--nodes=Journal=journal.csv", "--relationships=roles.csv", "--id-type=string",
                 "--ignore-empty-strings=false"):
        assert part in script
    assert "--skip-bad-relationships" not in script  # nothing dangles: placeholders stand for unknown ends
    assert os.access(tmp_path / "neo" / "import.sh", os.X_OK)
    header, orgs = read("organisations")
    assert header == ["id:ID(Subject)", *ORGANISATIONS.columns]  # strings: dates stay ISO text, as compared
    by_code = {r["id:ID(Subject)"]: r for r in orgs}
    assert len(orgs) == counts["organisations"] == stored["organisations"]
    for o in store.iter_organisations():
        row = by_code[o.code]
        assert row["code"] == o.code and ORGANISATIONS.from_row({c: row[c] for c in ORGANISATIONS.columns}) == o
    assert by_code[odd.code]["industry"] == "" and by_code[odd.code]["region"] == ""  # empty, not missing
    assert any(r["deregistered_on"] is None for r in orgs)  # missing: no property
    header, persons = read("persons")
    assert header == ["id:ID(Subject)", "key", "masked_id"]  # no name, no region
    clear = {p.name for p in store.iter_persons()}
    for name in ("persons", "roles", "records", "facts"):
        text = (tmp_path / "neo" / f"{name}.csv").read_text(encoding="utf-8")
        assert not any(n and n in text for n in clear), name
    assert {PERSONS.from_row(r) for r in persons} == {
        dataclasses.replace(p, name="", region="") for p in store.iter_persons()}
    # roles: one relationship type per role, ends in the Subject ID space, a placeholder for the ghost
    header, roles = read("roles")
    assert header == [":START_ID(Subject)", ":END_ID(Subject)", ":TYPE", "edge_id", "valid_from", "valid_to",
                      "ratio:float", "subscribed_capital:float", "title"]
    assert len(roles) == stored["roles"]
    _, holders = read("placeholders")
    assert holders == [{"id:ID(Subject)": ghost, ":LABEL": "Subject;Organisation;Placeholder", "key": None,
                        "code": ghost}]
    known = set(by_code) | {r["id:ID(Subject)"] for r in persons} | {ghost}
    assert all(r[":START_ID(Subject)"] in known and r[":END_ID(Subject)"] in known for r in roles)
    edges = {e.edge_id: e for e in store.iter_roles()}
    for r in roles:
        props: dict[str, Any] = {c: r[c] for c in ("edge_id", "valid_from", "valid_to", "title")}
        props |= {c: None if r[f"{c}:float"] is None else float(str(r[f"{c}:float"]))
                  for c in ("ratio", "subscribed_capital")}
        flat = {"holder": r[":START_ID(Subject)"], "role": r[":TYPE"], "org": r[":END_ID(Subject)"], "props": props}
        assert shape._role(flat) == edges[str(r["edge_id"])]
    # every other kind, as the store's nodes, read back through the store's converters
    kinds = {"records": (RECORDS, store.iter_records()), "honours": (HONOURS, store.iter_honours()),
             "list_entries": (LIST_ENTRIES, store.iter_list_entries()), "facts": (FACTS, store.iter_facts())}
    for name, (kind, stored_rows) in kinds.items():
        label, convert = kind.label, kind.from_row
        columns = [kind.key, *(c for c in kind.columns if c != kind.key)]
        header, rows = read(name)
        assert header == [f"{columns[0]}:ID({label})", *columns[1:]], name
        want = list(stored_rows)
        assert len(want) == counts[name] == stored[name] > 0, name
        got = [convert({c: r[h] for c, h in zip(columns, header, strict=True)}) for r in rows]
        assert sorted(got, key=repr) == sorted(want, key=repr), name
    header, events = read("events")
    assert header == ["event_id:ID(RecordEvent)", *EVENTS.columns[1:]] and len(events) == stored["events"]
    header, journal = read("journal")
    assert header == [":ID(Journal)", "tbl", "id", "seq:long", "doc"]
    audit = [r for r in journal if r["tbl"] == "audit"]
    assert [json.loads(str(r["doc"])) for r in audit] == store.query("audit")
    assert len(journal) == sum(stored[t] for t in JOURNAL_TABLES)
    store.close()




def test_the_bulk_check_schemes_are_stdnums() -> None:
    """The vectorised checks (importer, generator) use the alphabet and weights declared once in ids,
    with stdnum's alphabet: their check characters are stdnum's for every body."""
    from graph_credit.ids import RIC_CHECKS, RIC_WEIGHTS, USCC_ALPHABET, USCC_WEIGHTS

    for n in range(0, 10**6, 7919):
        body = f"91110105{n:09d}"
        total = sum(USCC_ALPHABET.index(c) * int(w) for c, w in zip(body, USCC_WEIGHTS, strict=True))
        assert USCC_ALPHABET[(31 - total % 31) % 31] == uscc.calc_check_digit(body + "0")
        rbody = f"1101051970{n % 10**7:07d}"
        assert RIC_CHECKS[(1 - sum(int(c) * int(w) for c, w in zip(rbody, RIC_WEIGHTS, strict=True))) % 11] == (
            ric.calc_check_digit(rbody + "0"))


def test_each_holder_is_pseudonymised_once_per_roles_import(
    generated, store: SQLiteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person holds roles in several parts of a big roles file: the check characters and the HMAC
    pseudonym of the number are computed once for the whole file, not once per part."""
    out, frames = generated
    src = tmp_path / "csv"
    src.mkdir()
    for kind in ("organisations", "persons", "roles"):  # no other kind names persons
        (src / f"{kind}.csv").symlink_to(out / "csv" / f"{kind}.csv")
    _sizes(monkeypatch, _ROLES_PART=1000)
    counted: list[str] = []
    real = gvalidate._pseudonyms

    def counting(clear: list[str]) -> list[str]:
        counted.extend(clear)
        return real(clear)

    monkeypatch.setattr(gvalidate, "_pseudonyms", counting)
    report = import_dir(store, src, progress=False)
    assert report.ok, report.summary()
    roles = frames["roles"]
    person_holders = set(roles["holder_id"]) & set(frames["persons"]["id_number"])
    assert len(person_holders) > 100
    # The persons file once, and each distinct person holder of the roles file once.
    assert len(counted) == len(frames["persons"]) + len(person_holders)


def test_each_reference_is_checked_once_per_roles_import(
    generated, store: SQLiteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a holder or an organisation exists is asked once per distinct key of the roles file,
    not again in every part its rows fall in (and the answers still refuse unknown references)."""
    out, frames = generated
    roles = frames["roles"]
    src = tmp_path / "csv"
    src.mkdir()
    for kind in ("organisations", "persons"):
        (src / f"{kind}.csv").symlink_to(out / "csv" / f"{kind}.csv")
    stray = make_uscc(990_001)  # a valid code that names no organisation
    roles.assign(org_code=[stray, *roles["org_code"][1:]]).to_csv(src / "roles.csv", index=False)
    _sizes(monkeypatch, _ROLES_PART=1000)
    asked: list[str] = []
    real = gio._Importer._exist

    def counting(self: Any, keys: Any, person: Any) -> Any:
        asked.extend(keys.tolist())
        return real(self, keys, person)

    monkeypatch.setattr(gio._Importer, "_exist", counting)
    report = import_dir(store, src, progress=False)
    assert [(e.line, e.field) for e in report.errors] == [(2, "org_code")]
    assert "organisation not in this import nor in the store" in report.errors[0].reason
    # An organisation holding shares is asked about as a holder and as an organisation; the 18-digit
    # values valid both as a USCC and as an ID number once more, to decide which they are.
    assert len(asked) <= len(set(roles["org_code"])) + 1 + 2 * len(set(roles["holder_id"]))
    assert max(collections.Counter(asked).values()) <= 2


def test_a_killed_imports_scratch_is_removed_by_the_next_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess
    import sys

    from graph_credit.io.importer import _spill_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()  # a process that has exited
    dead = tmp_path / f"graph-credit-roles-{gone}-x1"
    alive = tmp_path / f"graph-credit-roles-{os.getpid()}-x2"
    other = tmp_path / "graph-credit-roles-abc"  # not named by a process: left alone
    for d in (dead, alive, other):
        d.mkdir()
        (d / "part-0.arrow").write_bytes(b"x")
    with _spill_dir() as work:
        assert Path(work).name.startswith(f"graph-credit-roles-{os.getpid()}-")
        assert not dead.exists() and alive.exists() and other.exists()
    assert not Path(work).exists()
