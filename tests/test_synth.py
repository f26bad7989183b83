"""The synthetic generator: reproducible, valid identifiers, consistent intervals and shareholdings,
and the structures the engine must handle."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from stdnum.cn import ric, uscc

from graph_credit.io import COLUMNS, KINDS
from graph_credit.synth import SyntheticData, generate, write_synthetic


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate(3000, seed=11)


def test_same_seed_same_frames() -> None:
    a, b = generate(400, seed=5), generate(400, seed=5)
    for kind in KINDS:
        pd.testing.assert_frame_equal(a.frames[kind], b.frames[kind])
    c = generate(400, seed=6)
    assert not a.organisations["code"].equals(c.organisations["code"])
    assert not a.roles["holder_id"].equals(c.roles["holder_id"])


def test_columns_are_the_import_format(data: SyntheticData) -> None:
    for kind in KINDS:
        assert tuple(data.frames[kind].columns) == COLUMNS[kind]
    assert len(data.organisations) == 3000
    assert len(data.persons) == 6000
    assert 6.0 <= len(data.roles) / 3000 <= 8.5


def test_every_identifier_is_valid_and_unique(data: SyntheticData) -> None:
    codes = data.organisations["code"].tolist()
    numbers = data.persons["id_number"].tolist()
    assert all(uscc.is_valid(c) for c in codes)
    assert all(ric.is_valid(n) for n in numbers)
    assert len(set(codes)) == len(codes) and len(set(numbers)) == len(numbers)
    # USCC characters 3-8 are the region; persons' regions are division codes.
    assert (data.organisations["code"].str.slice(2, 8) == data.organisations["region"]).all()
    assert data.persons["region"].str.fullmatch(r"\d{6}").all()
    subjects = set(codes) | set(numbers)
    assert set(data.roles["org_code"]) <= set(codes)
    assert set(data.roles["holder_id"]) <= subjects
    assert set(data.records["subject_id"]) <= subjects
    assert set(data.honours["holder_id"]) <= subjects
    assert set(data.list_entries["subject_id"]) <= subjects
    named = {item.split(":")[0] for text in data.records["responsible"].dropna() for item in text.split(";")}
    assert named and named <= set(numbers)


def test_intervals_are_half_open_and_never_overlap(data: SyntheticData) -> None:
    r = data.roles
    closed = r["valid_to"].notna()
    assert (r.loc[closed, "valid_to"] > r.loc[closed, "valid_from"]).all()
    key = ["holder_id", "role", "org_code"]
    multi = r[r.duplicated(key, keep=False)].sort_values([*key, "valid_from"])
    for _, g in multi.groupby(key):
        ends = g["valid_to"].fillna("9999-12-31").tolist()
        starts = g["valid_from"].tolist()
        assert all(starts[i + 1] >= ends[i] for i in range(len(starts) - 1))


def test_shareholding_ratios_sum_to_at_most_one_on_every_day(data: SyntheticData) -> None:
    sh = data.roles[data.roles["role"] == "SHAREHOLDER"]
    assert sh["ratio"].between(0, 1, inclusive="right").all()
    assert sh["subscribed_capital"].ge(0).all()
    ev = pd.concat(
        [
            pd.DataFrame({"org": sh["org_code"], "day": sh["valid_from"], "d": sh["ratio"]}),
            pd.DataFrame(
                {"org": sh["org_code"], "day": sh["valid_to"].fillna("9999-12-31"), "d": -sh["ratio"]}
            ),
        ]
    ).sort_values(["org", "day", "d"])
    assert ev.groupby("org")["d"].cumsum().max() <= 1 + 1e-9
    assert (data.roles.loc[data.roles["role"] != "SHAREHOLDER", "ratio"].isna()).all()


def test_structures(data: SyntheticData) -> None:
    r, codes = data.roles, set(data.organisations["code"])
    # Ownership chains: an organisation held by an organisation that is itself held by one.
    org_held = r[r["holder_id"].isin(codes)]
    assert len(org_held) > 50 and (org_held["role"] == "SHAREHOLDER").all()
    parents = dict(zip(org_held["org_code"], org_held["holder_id"], strict=False))
    assert any(parents.get(p) in codes for p in parents.values())
    # Legal representatives replaced: the old edge ends the day the new one starts.
    lr = r[r["role"] == "LEGAL_REPRESENTATIVE"]
    ended = lr[lr["valid_to"].notna()]
    successor = ended.merge(lr, left_on=["org_code", "valid_to"], right_on=["org_code", "valid_from"])
    assert len(successor) >= 0.9 * len(ended) > 100
    assert (successor["holder_id_x"] != successor["holder_id_y"]).all()
    # People with roles in several companies; nominee hubs with about 5% of all roles.
    per_person = r.groupby("holder_id")["org_code"].nunique()
    assert (per_person >= 3).sum() > 100
    hubs = set(data.persons["id_number"].iloc[-3:])  # 3000 organisations: 3 hubs, the last persons
    assert 0.03 < r["holder_id"].isin(hubs).mean() < 0.07
    # Cross-directorships: a person directing two companies that share a director.
    directors = r[r["role"] == "DIRECTOR"]
    assert (directors.groupby("holder_id")["org_code"].nunique() >= 2).sum() > 20


def test_records_honours_lists(data: SyntheticData) -> None:
    rec = data.records
    codes = set(data.organisations["code"])
    serious_orgs = rec[(rec["severity"] == "serious") & rec["subject_id"].isin(codes)]
    assert len(serious_orgs) == 30  # 1% of organisations
    assert set(rec["severity"]) == {"serious", "general", "minor"}
    assert (rec.loc[~rec["subject_id"].isin(codes), "category"] == "judgment_defaulter").all()
    assert (~rec["subject_id"].isin(codes)).sum() > 0
    known = rec["act_date"].notna()
    assert (rec.loc[known, "decision_date"] >= rec.loc[known, "act_date"]).all()
    has_end = rec["period_end"].notna()
    assert (rec.loc[has_end, "period_end"] > rec.loc[has_end, "decision_date"]).all()
    # Named persons held a role in the organisation on the act date (or decision date).
    named = serious_orgs.dropna(subset=["responsible"])
    assert len(named) > 5
    r = data.roles
    for _, row in named.iterrows():
        on = row["act_date"] if isinstance(row["act_date"], str) else row["decision_date"]
        for item in row["responsible"].split(";"):
            person, _, role = item.partition(":")
            held = r[
                (r["holder_id"] == person)
                & (r["org_code"] == row["subject_id"])
                & (r["valid_from"] <= on)
                & (r["valid_to"].isna() | (r["valid_to"] > on))
            ]
            assert len(held) and (not role or role in set(held["role"]))
    assert set(data.honours["holder_id"]) & codes and set(data.honours["holder_id"]) - codes
    lists = data.list_entries
    assert set(lists["list"]) == {"red", "black"}
    assert set(lists["status"]) <= {"proposed", "publicity", "effective", "exited", "revoked"}
    closed = lists["valid_to"].notna()
    assert (lists.loc[closed, "valid_to"] > lists.loc[closed, "valid_from"]).all()
    assert (lists["publicity_to"] >= lists["publicity_from"]).all()
    assert data.organisations["name"].str.contains("有限公司").mean() > 0.5


def test_chunks_refer_back_and_stream_to_the_same_files(tmp_path) -> None:
    whole = generate(1200, seed=3, chunk_orgs=400)
    codes, numbers = set(whole.organisations["code"]), set(whole.persons["id_number"])
    assert len(codes) == 1200 and len(numbers) == 2400
    assert set(whole.roles["holder_id"]) <= codes | numbers
    later = whole.roles.iloc[len(generate(400, seed=3).roles) :]
    first_codes = set(whole.organisations["code"].iloc[:400])
    assert later["holder_id"].isin(first_codes | set(whole.persons["id_number"].iloc[:800])).any()
    rows = write_synthetic(tmp_path, 1200, seed=3, fmt="parquet", chunk_orgs=400)
    assert rows == {k: len(v) for k, v in whole.frames.items()}
    back = pd.read_parquet(tmp_path / "roles.parquet")
    assert back["holder_id"].tolist() == whole.roles["holder_id"].tolist()


def test_write_csv_and_parquet(tmp_path) -> None:
    d = generate(200, seed=2, start=date(2015, 1, 1), end=date(2025, 12, 31))
    for fmt in ("csv", "parquet"):
        paths = d.write(tmp_path / fmt, fmt=fmt)
        assert sorted(p.name for p in paths.values()) == sorted(f"{k}.{fmt}" for k in KINDS)
        back = pd.read_csv(paths["roles"], dtype=str) if fmt == "csv" else pd.read_parquet(paths["roles"])
        assert list(back.columns) == list(COLUMNS["roles"])
        assert len(back) == len(d.roles)
    assert d.roles["valid_from"].min() >= "2015-01-01"
    assert d.roles["valid_from"].max() < "2026-01-01"
    first = open(tmp_path / "csv" / "organisations.csv", encoding="utf-8").readline().strip()
    assert first.replace('"', "") == ",".join(COLUMNS["organisations"])


def test_small_and_invalid_sizes() -> None:
    tiny = generate(10)
    assert len(tiny.organisations) == 10 and len(tiny.roles) > 10
    with pytest.raises(ValueError):
        generate(0)
    assert np.isfinite(tiny.roles["ratio"].dropna()).all()
