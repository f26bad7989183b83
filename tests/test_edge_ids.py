"""The compiled BLAKE2b that computes a bulk import's edge ids gives ``hashlib``'s digests (so
``model.stable_id``'s ids) on any input: stores imported before keep their ids."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_credit.io.blake import blake2b_hex
from graph_credit.model import stable_id

# Lengths around the 128-byte block edges, empty values, any unicode (multi-byte UTF-8, NUL, separators).
values = st.one_of(
    st.text(max_size=300),
    st.integers(0, 400).map(lambda n: "é" * (n // 2) + "x" * (n % 2)),
    st.sampled_from(["", "x" * 127, "x" * 128, "x" * 129, "x" * 256, "x" * 257]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=40), st.integers(1, 64), st.integers(0, 3))
def test_digests_equal_hashlib(texts: list[str], size: int, skip: int) -> None:
    arr = pa.array(texts, pa.string()).slice(min(skip, len(texts)))  # a slice: the array's offset counts
    expected = [hashlib.blake2b(t.encode(), digest_size=size).hexdigest() for t in texts[skip:]]
    assert blake2b_hex(arr, size).to_pylist() == expected
    assert blake2b_hex(arr.cast(pa.large_binary()), size).to_pylist() == expected
    chunked = pa.chunked_array([arr.slice(0, len(arr) // 2), arr.slice(len(arr) // 2)], pa.string())
    assert blake2b_hex(chunked, size).to_pylist() == expected  # as a column read in parts is


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40), st.text(max_size=12), st.text(max_size=40)), max_size=20))
def test_edge_ids_are_stable_ids(rows: list[tuple[str, str, str]]) -> None:
    holder, role, org = (pa.array(list(c), pa.string()) for c in zip(*rows, strict=True)) if rows else (
        pa.array([], pa.string()),) * 3
    joined = pc.binary_join_element_wise(holder, role, org, pa.array(["2001-02-03"] * len(rows), pa.string()), "\x1f")
    assert blake2b_hex(joined).to_pylist() == [stable_id(h, r, o, "2001-02-03") for h, r, o in rows]


def test_refuses_nulls_and_other_types() -> None:
    with pytest.raises(ValueError, match="null"):
        blake2b_hex(pa.array(["a", None]))
    with pytest.raises(TypeError):
        blake2b_hex(pa.array([1, 2]))
