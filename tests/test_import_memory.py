"""What the roles import remembers across the parts of a big file is numpy, not a Python object per
value, and answers exactly as resolving every part afresh would: the holder resolver (sorted runs of
fixed-width bytes instead of a hash rebuilt from every value seen, once per part), the subjects of
this import (``_KnownKeys``) and what the import touched (``KeySet``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from graph_credit.io.format import KeySet
from graph_credit.io.validate import (
    _BAD_TEXT_RE2,
    _clean_ascii,
    _fixed,
    _KnownKeys,
    _resolve_distinct,
    _Resolver,
    _SortedRuns,
)
from tests.helpers import make_id_number, make_uscc

keys = st.binary(min_size=0, max_size=12).filter(lambda b: not b.endswith(b"\x00"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(keys, max_size=20), max_size=12), st.lists(keys, max_size=30))
def test_sorted_runs_map_like_a_dict(batches: list[list[bytes]], probes: list[bytes]) -> None:
    runs, expected = _SortedRuns(), {}
    for batch in batches:
        new = list(dict.fromkeys(k for k in batch if k not in expected))
        if new:
            base = len(expected)
            runs.add(np.array(new, dtype=f"S{max(1, *map(len, new))}"), base + np.arange(len(new)))
            expected.update((k, base + i) for i, k in enumerate(new))
        wanted = [*probes, *batch]
        if wanted:
            got = runs.find(np.array(wanted, dtype=f"S{max(1, *map(len, wanted))}"))
            assert got.tolist() == [expected.get(k, -1) for k in wanted]
    assert len(runs.runs) <= max(1, len(expected)).bit_length() + 1  # merged: O(log n) runs


VALUES = [make_id_number(i) for i in range(1, 40)] + [make_uscc(i) for i in range(1, 30)] + [
    "", "x", "123", "ABC\x00", "ABC", make_id_number(2) + "\x00", make_uscc(3).lower(), " " + make_id_number(2),
    "Z" * 60, make_id_number(5)[:-1] + "0", "９" * 18]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(VALUES), min_size=1, max_size=25), min_size=1, max_size=8))
@example([[make_id_number(2) + "\x00", "Z" * 60], [make_id_number(2), "Z" * 60]])  # NUL padding, too long
@example([[make_id_number(2)], [make_id_number(2) + "\x00"]])  # a NUL-padded value is not the one remembered
def test_the_resolver_answers_as_each_part_resolved_afresh(parts: list[list[str]]) -> None:
    known_orgs = {make_uscc(i) for i in range(1, 30, 2)}

    def known(codes: list[str]) -> np.ndarray:
        return np.array([c in known_orgs for c in codes], dtype=bool)

    def exist(ks: np.ndarray, person: np.ndarray) -> np.ndarray:
        return np.array([(not p and k in known_orgs) or (p and k[-1] in "02468") for k, p in
                         zip(ks.tolist(), person.tolist(), strict=True)], dtype=bool)

    resolver = _Resolver("any", exist, known)
    for part in parts:
        s = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(part, pa.string())))
        codes, got = resolver(s)
        want_codes, want = _resolve_distinct(s, "any", known)
        valid = want.reason == None  # noqa: E711
        assert codes.tolist() == want_codes.tolist()
        assert got.key.tolist() == want.key.tolist()
        assert got.person.tolist() == want.person.tolist() and got.born.tolist() == want.born.tolist()
        assert got.reason.tolist() == want.reason.tolist()
        assert got.exists is not None
        assert got.exists[valid].tolist() == exist(want.key[valid], want.person[valid]).tolist()
        assert pd.factorize(got.key)[0].tolist() == got.code.tolist()
    # Remembered as numpy: no Python string per value (the reasons of invalid values aside).
    assert all(col.dtype != object for name, col in resolver.cols.items() if name != "reason")


def test_known_keys_answer_membership() -> None:
    known = _KnownKeys()
    known.add([make_uscc(i) for i in range(0, 100, 2)])
    known.add([make_uscc(i) for i in range(50, 120, 5)])
    asked = [make_uscc(i) for i in range(130)] + ["", "p" + "0" * 30]
    members = {make_uscc(i) for i in [*range(0, 100, 2), *range(50, 120, 5)]}
    assert known.has(asked).tolist() == [a in members for a in asked]
    assert known.keys.dtype.kind == "S" and len(known.keys) == len(members)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="abcXYZ019", max_size=6), max_size=15), max_size=10),
       st.lists(st.text(alphabet="abcXYZ019", max_size=7), max_size=10))
def test_a_key_set_is_a_set(batches: list[list[str]], probes: list[str]) -> None:
    ks, expected = KeySet(), set()
    for i, batch in enumerate(batches):
        ks.update(pa.array(batch, pa.string()) if i % 2 else batch)
        expected.update(batch)
    assert ks == expected and set(ks) == expected and len(ks) == len(expected)
    assert sorted(ks) == sorted(expected)
    assert [p in ks for p in probes] == [p in expected for p in probes]
    assert _fixed(list(expected)).dtype.kind == "S"


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(max_codepoint=0xA0), max_size=5), max_size=12), st.integers(0, 3))
def test_the_ascii_byte_check_agrees_with_the_control_character_scan(values: list[str], start: int) -> None:
    """An ASCII column passes the byte check exactly when the RE2 scan finds no refused character."""
    s = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, pa.string()))).iloc[start:]
    refused = bool(s.str.contains(_BAD_TEXT_RE2, regex=True).to_numpy(dtype=bool, na_value=False).any())
    if all(v.isascii() for v in s.tolist()):
        assert _clean_ascii(s) == (not refused)
    else:
        assert not _clean_ascii(s)
