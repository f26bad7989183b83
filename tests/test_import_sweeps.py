"""The roles import's checks across rows (overlapping intervals of one holder, role and organisation;
shareholding ratios summing past 1) are sorted sweeps over a whole batch that send only the groups
they flag to the precise per-group logic. Against the precise logic applied to every group, on
random files: the same rows are refused, on first import and on re-import (stored edges)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_credit.io import import_frames
from graph_credit.io.format import _OPEN, COLUMNS
from graph_credit.io.validate import _overflow
from graph_credit.store import SQLiteStore, WriteCounts
from tests.helpers import make_id_number, make_uscc

HOLDERS = [make_id_number(i) for i in range(1, 4)]
ORGS = [make_uscc(i) for i in range(1, 3)]
DAY0 = date(2015, 1, 1).toordinal()

row = st.tuples(
    st.integers(0, len(HOLDERS) - 1),
    st.integers(0, len(ORGS) - 1),
    st.sampled_from(["DIRECTOR", "SHAREHOLDER"]),
    st.integers(0, 30),  # valid_from, days after DAY0
    st.one_of(st.none(), st.integers(1, 20)),  # length; None: open
    st.sampled_from([0.2, 0.3, 0.5, 0.6, 0.9]),
)


def _expected(rows: list[tuple[int, int, str, int, int | None, float]]) -> set[int]:
    """Lines refused by the precise logic applied to every group (2 is the first data line)."""
    refused: set[int] = set()
    seen: set[tuple[int, int, str, int]] = set()
    for line, (h, o, r, f, _, _) in enumerate(rows, start=2):
        if (h, o, r, f) in seen:  # duplicate edge: the first stays
            refused.add(line)
        seen.add((h, o, r, f))
    live = [(line, x) for line, x in enumerate(rows, start=2) if line not in refused]
    for key in {(h, o, r) for _, (h, o, r, *_) in live}:
        kept: list[tuple[int, int]] = []
        group = sorted(((ln, x) for ln, x in live if x[:3] == key), key=lambda t: (t[1][3], t[0]))
        for line, (_, _, _, f, n, _) in group:
            t = f + n if n is not None else _OPEN
            if any(f < kt and kf < t for kf, kt in kept):
                refused.add(line)
            else:
                kept.append((f, t))
    for o in range(len(ORGS)):
        sh = [(ln, x) for ln, x in live if ln not in refused and x[1] == o and x[2] == "SHAREHOLDER"]
        frame = pd.DataFrame(
            {"vf": [DAY0 + x[3] for _, x in sh], "vt": [DAY0 + x[3] + x[4] if x[4] else _OPEN for _, x in sh],
             "ratio": [x[5] for _, x in sh], "pos": [ln - 2 for ln, _ in sh]},
        )
        lines = pd.Series(range(2, len(rows) + 2)).to_numpy()
        refused.update(int(lines[int(frame.loc[i, "pos"])]) for i, _, _ in _overflow(frame, lines))
    return refused


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(row, min_size=1, max_size=40))
def test_sweeps_refuse_what_the_precise_logic_refuses(rows: list[tuple[int, int, str, int, int | None, float]]) -> None:
    def day(n: int) -> str:
        return date.fromordinal(DAY0 + n).isoformat()

    frames = {
        "organisations": pd.DataFrame({"code": ORGS, "name": ["a", "b"]}),
        "persons": pd.DataFrame({"id_number": HOLDERS, "name": ["x", "y", "z"]}),
        "roles": pd.DataFrame(
            [[HOLDERS[h], ORGS[o], r, day(f), day(f + n) if n else "", str(q) if r == "SHAREHOLDER" else "", "", ""]
             for h, o, r, f, n, q in rows],
            columns=list(COLUMNS["roles"]),
        ),
    }
    expected = _expected(rows)
    store = SQLiteStore(":memory:")
    try:
        first = import_frames(store, frames)
        refused = {e.line for e in first.errors if e.file == "roles.csv"}
        assert refused == expected, [e for e in first.errors if e.file == "roles.csv"]
        assert store.counts()["roles"] == len(rows) - len(expected)
        again = import_frames(store, {"roles": frames["roles"]})  # every edge stored: the non-fresh path
        assert {e.line for e in again.errors} == expected
        assert again.counts["roles"] == WriteCounts(unchanged=len(rows) - len(expected))
    finally:
        store.close()


def test_validation_ahead_hands_over_the_producers_error_and_stops_with_the_consumer() -> None:
    from graph_credit.io.importer import _ahead

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("bad part")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad part"):
        got.extend(_ahead(failing()))
    assert got == [1]
    produced: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    stream = _ahead(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # the consumer stops: the producer thread ends, a few items ahead at most
    assert len(produced) <= 3 + 2 + 1
