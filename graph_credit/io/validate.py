"""Vectorised row checks: check characters of USCCs and resident ID numbers, pseudonyms, dates, numbers,
control characters and text limits, over whole columns at once.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import ids
from ..ids import (
    RIC_WEIGHTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
    InvalidIdentifier,
    looks_like_id_number,
    normalise_id_number,
    normalise_uscc,
)
from ..model import (
    EARLIEST_DATE,
    ID_PATTERN,
    LATEST_DATE,
    MAX_LENGTH,
)
from ..policy.loader import available_jurisdictions, load_policy
from .format import _EPS, _OPEN, _PERSON_FIELDS, NUMERIC, REQUIRED, RowError, _Source

# -- vectorised identifier checks --------------------------------------------------------------------
_USCC_LUT = np.full(256, -1, dtype=np.int64)
_USCC_LUT[np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)] = np.arange(31)
_DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _matrix(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the 18-character ASCII values and their bytes as an (n, 18) matrix (Arrow-side:
    no Python string per value)."""
    cand = pc.and_(pc.equal(pc.binary_length(values), 18), pc.string_is_ascii(values))
    pos = np.flatnonzero(pc.fill_null(cand, False).to_numpy(zero_copy_only=False))
    if not len(pos):
        return pos, np.zeros((0, 18), dtype=np.int64)
    fixed = _fixed(values.take(pa.array(pos)), 18)
    return pos, np.ascontiguousarray(fixed).view(np.uint8).reshape(-1, 18).astype(np.int64)


_VALIDATE_CHUNK = 1 << 18  # distinct values resolved per pass: bounds the (n, 18) matrices and text copies


def _uscc_valid(values: pa.Array) -> np.ndarray:
    """GB 32100 as python-stdnum checks it: 8 digits, 10 alphabet characters, check character."""
    ok = np.zeros(len(values), dtype=bool)
    pos, m = _matrix(values)
    if len(pos):
        idx = _USCC_LUT[m]
        fmt = ((m[:, :8] >= 48) & (m[:, :8] <= 57)).all(axis=1) & (idx[:, 8:] >= 0).all(axis=1)
        check = (31 - (idx[:, :17] * USCC_WEIGHTS).sum(axis=1) % 31) % 31
        ok[pos] = fmt & (check == idx[:, 17])
    return ok


_EPOCH = date(1970, 1, 1).toordinal()


def _ric_valid(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``ids.id_number_problem`` vectorised for ASCII values: which are valid, and their birth dates
    as day ordinals (-1 where invalid). Invalid values are handed to ``ids`` for the reason."""
    ok = np.zeros(len(values), dtype=bool)
    born = np.full(len(values), -1, dtype=np.int64)
    pos, m = _matrix(values)
    if not len(pos):
        return ok, born
    d = m - 48
    digits = ((d[:, :17] >= 0) & (d[:, :17] <= 9)).all(axis=1)
    last = np.where(m[:, 17] == ord("X"), 10, d[:, 17])
    last_ok = (last >= 0) & (last <= 10)
    check = (1 - (np.clip(d[:, :17], 0, 9) * RIC_WEIGHTS).sum(axis=1)) % 11
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    month = d[:, 10] * 10 + d[:, 11]
    day = d[:, 12] * 10 + d[:, 13]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    dim = _DIM[np.clip(month - 1, 0, 11)] + ((month == 2) & leap)
    good = digits & last_ok & (check == last) & (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= dim)
    ordinal = np.full(len(pos), -1, dtype=np.int64)
    g = np.flatnonzero(good)
    months = (year[g] - 1970) * 12 + month[g] - 1  # datetime64 arithmetic: years 1-9999 fit
    ordinal[g] = (months.astype("datetime64[M]").astype("datetime64[D]") + (day[g] - 1)).astype(np.int64) + _EPOCH
    good &= ordinal <= date.today().toordinal()
    # The region code once per distinct code: numbers share few of those.
    g = np.flatnonzero(good)
    region = (d[g, :6] * np.array([100_000, 10_000, 1_000, 100, 10, 1])).sum(axis=1)
    codes, inverse = np.unique(region, return_inverse=True)
    exists = np.array([ids.region_code_exists(f"{int(c):06d}") for c in codes], dtype=bool)
    good[g] = exists[inverse.ravel()]
    ok[pos] = good
    born[pos] = np.where(good, ordinal, -1)
    return ok, born


def _pseudonyms(clear: Sequence[str]) -> list[str]:
    """``ids.person_key`` for numbers already validated here (same key and HMAC; tested equal).
    Recomputed per file rather than kept: 450,000 a second on one core, and a province's map of
    clear numbers to keys would hold hundreds of MB through the whole import."""
    key = ids._key()
    prefix = ids.PERSON_PREFIX
    digest = hmac.digest  # one-shot HMAC in C: several times faster than an hmac.new object per number
    return [prefix + digest(key, c.encode(), "sha256").hex()[:24] for c in clear]


def _normalised_id(value: str) -> str:
    try:
        return normalise_id_number(value)
    except InvalidIdentifier:
        return value.upper()


def _mask(clear: str) -> str:
    return clear[:3] + "*" * 11 + clear[-4:]


_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(\d{3})\d{11}(\d{3}[0-9Xx])(?![0-9A-Za-z])")


def _mask_text(text: str) -> str:
    """Mask anything that looks like a resident ID number: the report may travel further than the file."""
    return _ID_LIKE.sub(lambda m: m.group(1) + "*" * 11 + m.group(2), text)


@dataclass
class _Ids:
    """Per-row identifier resolution: ``key`` is the graph key (USCC or person key), ``person``
    whether it is a person, ``reason`` why it is invalid (None when valid)."""

    key: np.ndarray
    person: np.ndarray
    reason: np.ndarray
    code: np.ndarray  # equal codes for equal keys (-1 where invalid): for grouping without hashing keys
    born: np.ndarray  # a person's birth date (from the ID number) as a day ordinal, -1 when none
    exists: np.ndarray | None = None  # whether a valid key names a known subject, when already asked

    def take(self, idx: np.ndarray) -> _Ids:
        return _Ids(self.key[idx], self.person[idx], self.reason[idx], self.code[idx], self.born[idx],
                    None if self.exists is None else self.exists[idx])


_KnownOrgs = Callable[[list[str]], np.ndarray]  # which of these organisation codes name a known organisation
_Exist = Callable[[np.ndarray, np.ndarray], np.ndarray]  # which of these keys (persons where True) are known


def _resolve(s: pd.Series, accept: str, known_orgs: _KnownOrgs | None = None) -> _Ids:
    """Validate a column of USCCs (``accept='org'``), ID numbers (``'person'``) or either (``'any'``:
    then ``known_orgs`` decides a value that is both a valid USCC and a valid ID number)."""
    codes, distinct = _resolve_distinct(s, accept, known_orgs)
    return distinct.take(codes)


def _resolve_distinct(
    s: pd.Series, accept: str, known_orgs: _KnownOrgs | None = None
) -> tuple[np.ndarray, _Ids]:
    """``_resolve`` of each distinct value, and which distinct value each row holds."""
    codes, uniques = pd.factorize(s.array if isinstance(s.dtype, pd.ArrowDtype) else s)
    return codes, _resolve_array(_strings(uniques), accept, known_orgs)


def _strings(uniques: Any) -> pa.Array:
    """Distinct values of a factorised column as an Arrow string array."""
    if isinstance(uniques, pd.arrays.ArrowExtensionArray):
        return pa.array(uniques).cast(pa.string())
    return pa.array([str(u) for u in np.asarray(uniques, dtype=object).tolist()], pa.string())


def _resolve_array(values: pa.Array, accept: str, known_orgs: _KnownOrgs | None = None) -> _Ids:
    """``_resolve`` of each of ``values`` (distinct)."""
    n = len(values)
    key = np.empty(n, dtype=object)
    person = np.zeros(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    born = np.full(n, -1, dtype=np.int64)
    # In slices: only the keys outlive a slice, not its text copies (millions of holders).
    for a in range(0, n, _VALIDATE_CHUNK):
        raw = values.slice(a, _VALIDATE_CHUNK)
        at = slice(a, a + len(raw))
        _resolve_values(raw, accept, known_orgs, key[at], person[at], reason[at], born[at])
    # Distinct inputs can normalise to one key (case, spaces): number the keys, not the inputs.
    key_code = pd.factorize(key)[0] if n else np.zeros(0, dtype=np.int64)
    return _Ids(key, person, reason, key_code, born)


_CACHED_WIDTH = 40  # longer values (never valid identifiers) are resolved each time, not remembered


def _fixed(values: pa.Array | list[str], width: int | None = None) -> np.ndarray:
    """Strings as numpy fixed-width bytes (NUL-padded), for sorting and binary search."""
    from ..store.sqlite.segments import fixed_width

    arr = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    return fixed_width(arr, width)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _hash64(fixed: np.ndarray) -> np.ndarray:
    """A 64-bit hash of fixed-width values without NUL bytes, the same at any width: their 8-byte
    words mixed in turn, the all-NUL words of the padding skipped."""
    n, w = len(fixed), fixed.itemsize
    words = -(-w // 8)
    raw = np.zeros((n, words * 8), dtype=np.uint8)
    raw[:, :w] = np.ascontiguousarray(fixed).view(np.uint8).reshape(n, w)
    cols = raw.view(np.uint64).reshape(n, words)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(words):
        word = cols[:, j]
        h = np.where(word != 0, (h ^ word) * _MIX, h)
    return h ^ (h >> np.uint64(31))


class _SortedRuns:
    """A map from byte strings (without NUL) to integers as runs sorted by a 64-bit hash of the
    bytes (the bytes kept beside it, so a hit is confirmed and the map is exact), each new run
    merged into the ones before it while it is at least half their size (an LSM shape): every key
    is re-merged O(log n) times, and a lookup is an integer binary search per run. ``pc.index_in``
    against every value seen rebuilt a hash of all of them for each part of a big file."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (sorted hashes, keys, values)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key, -1 when absent."""
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(keys) or not self.runs:
            return out
        hashes = _hash64(keys)
        order = np.argsort(hashes)  # queries in order: the searches walk each run once
        qh, qk = hashes[order], keys[order]
        for rh, rk, rv in self.runs:
            at = np.minimum(np.searchsorted(rh, qh), len(rh) - 1)
            hit = np.flatnonzero(rh[at] == qh)
            width = max(rk.itemsize, qk.itemsize)
            same = rk[at[hit]].astype(f"S{width}") == qk[hit].astype(f"S{width}")
            hit = hit[same & (out[order[hit]] < 0)]
            out[order[hit]] = rv[at[hit]]
        return out

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        hashes = _hash64(keys)
        order = np.argsort(hashes, kind="stable")
        self.runs.append((hashes[order], keys[order], values[order]))
        while len(self.runs) > 1 and 2 * len(self.runs[-1][0]) >= len(self.runs[-2][0]):
            (ah, ak, av), (bh, bk, bv) = self.runs[-2], self.runs.pop()
            width = max(ak.itemsize, bk.itemsize)
            at = np.searchsorted(ah, bh, side="right") + np.arange(len(bh))  # b's places in the merged run
            rest = np.ones(len(ah) + len(bh), dtype=bool)
            rest[at] = False
            mh = np.empty(len(rest), dtype=np.uint64)
            mk = np.empty(len(rest), dtype=f"S{width}")
            mv = np.empty(len(rest), dtype=np.int64)
            mh[at], mk[at], mv[at] = bh, bk, bv
            mh[rest], mk[rest], mv[rest] = ah, ak, av
            self.runs[-1] = (mh, mk, mv)


class _KnownKeys:
    """Keys of the subjects of one kind imported so far in this run, as sorted fixed-width bytes
    (binary search): a Python set of 30 M strings was gigabytes of a province's import."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype="S1")

    def add(self, keys: list[str]) -> None:
        new = _fixed(keys)
        width = max(new.itemsize, self.keys.itemsize)
        self.keys = np.union1d(self.keys.astype(f"S{width}"), new.astype(f"S{width}"))

    def has(self, keys: list[str]) -> np.ndarray:
        if not len(self.keys) or not keys:
            return np.zeros(len(keys), dtype=bool)
        wanted = _fixed(keys)
        k = wanted if wanted.itemsize <= self.keys.itemsize else wanted.astype(self.keys.dtype)  # cut: confirmed
        at = np.minimum(np.searchsorted(self.keys, k), len(self.keys) - 1)
        return cast(np.ndarray, self.keys[at] == wanted)


class _Resolver:
    """``_resolve_distinct`` that resolves each distinct value once per roles import, not once per
    part: a person holds roles in several parts, and the check characters and the HMAC pseudonym
    were recomputed in each. The values seen so far are ``_SortedRuns`` of their bytes; only values
    not seen before are resolved, and ``exist`` (which valid keys name a known subject) asked about
    them once. What is remembered is numpy (keys as fixed-width bytes), not a Python string per
    value: 30 M of those were most of a province's peak. ``known_orgs`` and ``exist`` must not
    change while it is in use (the subjects are all imported before roles)."""

    def __init__(self, accept: str, exist: _Exist, known_orgs: _KnownOrgs | None = None) -> None:
        self.accept, self.exist, self.known_orgs = accept, exist, known_orgs
        self.seen = _SortedRuns()
        self.n = 0
        # Per value seen, at its slot (grown by doubling): the resolved key's bytes ('' when invalid),
        # whether it is a person, why it is invalid, the birth date, whether it names a known subject.
        self.cols: dict[str, np.ndarray] = {
            "key": np.zeros(0, dtype="S1"), "person": np.zeros(0, dtype=bool), "reason": np.empty(0, dtype=object),
            "born": np.zeros(0, dtype=np.int32), "exists": np.zeros(0, dtype=bool)}

    def _remember(self, new: dict[str, np.ndarray]) -> None:
        end = self.n + len(new["key"])
        for name, values in new.items():
            col = self.cols[name]
            if values.dtype.kind == "S" and values.itemsize > col.itemsize:
                col = self.cols[name] = col.astype(values.dtype)
            if end > len(col):
                grown = np.zeros(max(end, 2 * len(col)), dtype=col.dtype)
                grown[: self.n] = col[: self.n]
                col = self.cols[name] = grown
            col[self.n : end] = values
        self.n = end

    def __call__(self, s: pd.Series) -> tuple[np.ndarray, _Ids]:
        codes, uniques = pd.factorize(s.array if isinstance(s.dtype, pd.ArrowDtype) else s)
        values = (pa.array(uniques).cast(pa.string()) if isinstance(uniques, pd.arrays.ArrowExtensionArray)
                  else pa.array([str(u) for u in np.asarray(uniques, dtype=object).tolist()], pa.string()))
        # Remembered and looked up: values without a NUL (the padding) and short enough for a fixed width.
        cacheable = ~pc.match_substring(values, "\x00").to_numpy(zero_copy_only=False) & (
            pc.binary_length(values).to_numpy(zero_copy_only=False) <= _CACHED_WIDTH)
        fixed = _fixed(values.filter(pa.array(cacheable)))
        at = np.full(len(values), -1, dtype=np.int64)
        if self.n:
            at[cacheable] = self.seen.find(fixed)
        slot_of = np.full(len(values), -1, dtype=np.int64)
        slot_of[cacheable] = np.arange(len(fixed))  # each value's row in ``fixed``
        new = np.flatnonzero(at < 0)
        fresh_ids = None
        if len(new):
            fresh = values.take(pa.array(new))
            got = _resolve_array(fresh, self.accept, self.known_orgs)
            valid = got.reason == None  # noqa: E711 - elementwise on an object array
            got.exists = np.zeros(len(new), dtype=bool)
            got.exists[valid] = self.exist(got.key[valid], got.person[valid])
            fresh_ids = got
            kept = np.flatnonzero(cacheable[new])
            if len(kept):
                self.seen.add(fixed[slot_of[new[kept]]], self.n + np.arange(len(kept)))
                self._remember({"key": _fixed(np.where(valid[kept], got.key[kept], "").tolist()),
                                "person": got.person[kept], "reason": got.reason[kept],
                                "born": got.born[kept].astype(np.int32), "exists": got.exists[kept]})
        old = np.flatnonzero(at >= 0)
        n = len(values)
        distinct = _Ids(np.empty(n, dtype=object), np.zeros(n, dtype=bool), np.full(n, None, dtype=object),
                        np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool))
        if len(old):
            slot, c = at[old], self.cols
            keys = pa.array(c["key"][slot]).cast(pa.string()).to_numpy(zero_copy_only=False)
            distinct.key[old] = np.where(c["reason"][slot] == None, keys, None)  # noqa: E711
            distinct.person[old], distinct.reason[old] = c["person"][slot], c["reason"][slot]
            distinct.born[old] = c["born"][slot]
            cast(np.ndarray, distinct.exists)[old] = c["exists"][slot]
        if fresh_ids is not None:
            distinct.key[new], distinct.person[new], distinct.reason[new] = (
                fresh_ids.key, fresh_ids.person, fresh_ids.reason)
            distinct.born[new] = fresh_ids.born
            cast(np.ndarray, distinct.exists)[new] = fresh_ids.exists
        # Equal codes for equal keys within this part (distinct inputs can normalise to one key).
        distinct.code = pd.factorize(distinct.key)[0] if n else np.zeros(0, dtype=np.int64)
        return codes, distinct


def _upper(raw: pa.Array, drop_separators: bool) -> pa.Array:
    """``v.upper()`` (after removing spaces and hyphens, ``drop_separators``) of each value: Arrow's
    ASCII kernels, and Python's own for the rare non-ASCII values (its case mapping is the reference)."""
    out = raw
    if drop_separators:
        out = pc.replace_substring(pc.replace_substring(out, " ", ""), "-", "")
    out = pc.ascii_upper(out)
    other = pc.invert(pc.string_is_ascii(raw))
    if pc.any(other).as_py():
        texts = [v.replace(" ", "").replace("-", "") if drop_separators else v for v in raw.filter(other).to_pylist()]
        out = pc.replace_with_mask(out, other, pa.array([v.upper() for v in texts], pa.string()))
    return out


def _take(values: pa.Array, idx: np.ndarray) -> list[str]:
    return cast(list[str], values.take(pa.array(idx, pa.int64())).to_pylist()) if len(idx) else []


def _resolve_values(
    raw: pa.Array, accept: str, known_orgs: _KnownOrgs | None, key: np.ndarray, person: np.ndarray,
    reason: np.ndarray, born: np.ndarray
) -> None:
    """Fill ``key``, ``person``, ``reason`` and ``born`` (views, one slot per value) for distinct
    ``raw`` values: the check characters over byte matrices, Python only for the keys of valid
    values (the HMAC) and the reasons of invalid ones."""
    n = len(raw)
    as_org = _upper(raw, True) if accept != "person" else raw
    as_person = _upper(raw, False) if accept != "org" else raw
    org_ok = _uscc_valid(as_org) if accept != "person" else np.zeros(n, dtype=bool)
    person_ok, person_born = _ric_valid(as_person) if accept != "org" else (np.zeros(n, dtype=bool), born)
    if accept == "any":  # a USCC of a known organisation wins over an equal-looking ID number
        both = np.flatnonzero(org_ok & person_ok)
        if len(both) and known_orgs is not None:
            person_ok[both[known_orgs(_take(as_org, both))]] = False
        org_ok &= ~person_ok
    oi = np.flatnonzero(org_ok)
    if len(oi):
        key[oi] = as_org.take(pa.array(oi)).to_numpy(zero_copy_only=False)
    pi = np.flatnonzero(person_ok)
    key[pi] = _pseudonyms(_take(as_person, pi)) if len(pi) else []
    person[pi] = True
    born[pi] = person_born[pi]
    # Invalid values: ask python-stdnum (via graph_credit.ids) for the reason, and accept what
    # its own normalisation accepts, so the result is exactly that of the scalar validators.
    bad = np.flatnonzero(~org_ok & ~person_ok)
    for i, v in zip(bad.tolist(), _take(raw, bad), strict=True):
        if not v:
            reason[i] = "missing"
            continue
        looks_personal = accept == "person" or (accept == "any" and looks_like_id_number(v))
        try:
            if looks_personal:
                clear = normalise_id_number(v)
                key[i], person[i] = _pseudonyms([clear])[0], True
                born[i] = cast(date, ids.birth_date(clear)).toordinal()
            else:
                key[i] = normalise_uscc(v)
        except InvalidIdentifier as exc:
            what = "resident ID number" if looks_personal else "USCC"
            reason[i] = f"invalid {what}: {exc.reason}"


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BAD = object()


@dataclass
class _Dates:
    value: np.ndarray  # date or None
    ordinal: np.ndarray  # day ordinal, -1 when missing
    bad: np.ndarray  # not a date
    far: np.ndarray  # a date outside EARLIEST_DATE..LATEST_DATE


def _dates(s: pd.Series) -> _Dates:
    codes, uniques = pd.factorize(s)
    objs: list[Any] = []
    for u in np.asarray(uniques, dtype=object).tolist():
        u = str(u)
        if not u:
            objs.append(None)
        elif _DATE_RE.fullmatch(u):
            try:
                objs.append(date.fromisoformat(u))
            except ValueError:
                objs.append(_BAD)
        else:
            objs.append(_BAD)
    arr = np.empty(len(objs), dtype=object)
    arr[:] = objs
    bad_u = np.fromiter((o is _BAD for o in objs), dtype=bool, count=len(objs))
    far_u = np.fromiter((isinstance(o, date) and not EARLIEST_DATE <= o <= LATEST_DATE for o in objs), dtype=bool,
                        count=len(objs))
    ords = np.fromiter(
        (o.toordinal() if isinstance(o, date) else -1 for o in objs), dtype=np.int64, count=len(objs)
    )
    value = arr[codes]
    bad, far = bad_u[codes], far_u[codes]
    value[bad | far] = None
    ordinal = ords[codes]
    ordinal[far] = -1
    return _Dates(value, ordinal, bad, far)


def _numbers(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """(float values with NaN when empty, mask of values that are not numbers)."""
    if col not in df:
        return np.full(len(df), np.nan), np.zeros(len(df), dtype=bool)
    s = df[col]
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
        v = s.to_numpy(dtype=float)
        return v, ~np.isfinite(v) & ~np.isnan(v)
    # Parse each distinct text once (a column of 10^7 rows holds far fewer distinct values).
    codes, uniques = pd.factorize(s)
    text = np.asarray(uniques, dtype=object)
    parsed = pd.to_numeric(pd.Series(text, dtype=object).replace("", np.nan), errors="coerce").to_numpy(dtype=float)
    bad_u = (text != "") & ~np.isfinite(parsed)
    return parsed[codes], bad_u[codes]


class _LazyRaw:
    """A column's values as given, for the report, materialised only at the rows reported."""

    def __init__(self, rows: _Rows, col: str) -> None:
        self._rows = rows
        self._col = col

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        df = self._rows.df
        if self._col not in df:
            return np.full(len(np.atleast_1d(idx)), "", dtype=object)
        return np.asarray(df[self._col].iloc[idx].astype(object).to_numpy(), dtype=object)


def _raw(rows: _Rows, col: str) -> _LazyRaw:
    """A column's values as given, for the report."""
    return _LazyRaw(rows, col)


def _codes(values: np.ndarray) -> np.ndarray:
    """Integer codes of the distinct values (for grouping without hashing strings again and again)."""
    return pd.factorize(values)[0]


# -- import machinery ----------------------------------------------------------------------------------
class _Rows:
    """One file's rows, the bad-row mask and the errors found so far."""

    def __init__(self, src: _Source) -> None:
        self.kind = src.kind
        self.file = src.name
        self.df = src.frame
        self.lines = src.frame["_line"].to_numpy()
        self.bad = np.zeros(len(src.frame), dtype=bool)
        self.errors: list[pd.DataFrame] = [_error_frame(src.errors)] if src.errors else []

    def subset(self, idx: np.ndarray) -> _Rows:
        """The rows at ``idx`` (in file order) as rows of their own, flags so far included."""
        sub = _Rows(_Source(self.kind, self.file, self.df.iloc[idx].reset_index(drop=True), []))
        sub.bad |= self.bad[idx]
        return sub

    def absorb(self, sub: _Rows, idx: np.ndarray) -> None:
        """Take back the flags and errors of ``subset(idx)``."""
        self.bad[idx] |= sub.bad
        self.errors += sub.errors

    def col(self, name: str) -> pd.Series:
        if name in self.df:
            return self.df[name]
        return pd.Series(pd.arrays.ArrowExtensionArray(pa.array([""] * len(self.df), type=pa.string())))

    def empty(self, name: str) -> np.ndarray:
        """Rows where the column is empty (Arrow-side: no Python strings for big files)."""
        return (self.col(name).str.len() == 0).to_numpy(dtype=bool)

    def take(self, name: str, pos: np.ndarray) -> list[Any]:
        """Values at ``pos`` as Python objects, without materialising the whole column."""
        if not len(pos):
            return []
        col = self.col(name)
        if isinstance(col.dtype, pd.ArrowDtype):  # Arrow-side: pandas would box each value on its own
            return cast(list[Any], pa.array(col).take(pa.array(pos)).to_pylist())
        return col.iloc[pos].tolist()

    def text(self, name: str) -> np.ndarray:
        return np.array(self.col(name).astype(object).to_numpy(), dtype=object)  # a writable copy

    def flag(
        self,
        mask: np.ndarray,
        fld: str,
        reason: str | np.ndarray,
        values: np.ndarray | _LazyRaw | None = None,
        only_good: bool = False,
    ) -> None:
        mask = np.asarray(mask, dtype=bool)
        if only_good:
            mask = mask & ~self.bad
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        given = values[idx] if values is not None else self.take(fld, idx)
        vals = ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in given]
        if fld in _PERSON_FIELDS:
            vals = [_mask_text(v) for v in vals]
        reasons = (
            [reason] * len(idx) if isinstance(reason, str) else [str(r) for r in np.asarray(reason)[idx]]
        )
        self.errors.append(
            pd.DataFrame({"line": self.lines[idx], "field": fld, "value": vals, "reason": reasons})
        )
        self.bad |= mask

    def required(self) -> None:
        for fld in REQUIRED[self.kind]:
            if fld not in NUMERIC:
                self.flag(self.empty(fld), fld, "missing")

    def duplicates(self, keys: pd.DataFrame | pd.Series, fld: str, what: str) -> None:
        """Flag the second and later rows with the same key among rows still good."""
        good = ~self.bad
        k = keys[good] if isinstance(keys, pd.Series) else keys.loc[good]
        dup = k.duplicated(keep="first").to_numpy()
        if not dup.any():
            return
        first_line = (
            pd.Series(self.lines[good], index=k.index)
            .groupby([k[c] for c in k.columns] if isinstance(k, pd.DataFrame) else k, sort=False)
            .transform("first")
            .to_numpy()
        )
        mask = np.zeros(len(self.df), dtype=bool)
        reason = np.full(len(self.df), None, dtype=object)
        idx = np.flatnonzero(good)[dup]
        mask[idx] = True
        reason[idx] = [f"duplicate {what} (first on line {n})" for n in first_line[dup]]
        self.flag(mask, fld, reason)

    def report(self) -> list[RowError]:
        return _row_errors(self.file, self.errors)


def _error_frame(errors: list[RowError]) -> pd.DataFrame:
    return pd.DataFrame(
        [(e.line, e.field, e.value, e.reason) for e in errors], columns=["line", "field", "value", "reason"]
    )


def _row_errors(file: str, frames: list[pd.DataFrame]) -> list[RowError]:
    """The errors of one file in line order."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return []
    df = pd.concat(frames, ignore_index=True).sort_values("line", kind="stable")
    cols = (df[c].tolist() for c in ("line", "field", "value", "reason"))
    return [RowError(file, int(n), str(f), str(v), str(r)) for n, f, v, r in zip(*cols, strict=True)]


def _bad_region(rows: _Rows) -> np.ndarray:
    return ~rows.empty("region") & ~rows.col("region").str.fullmatch(r"\d{6}").to_numpy(dtype=bool)


class _InKeyOrder(Sequence[Any]):
    """The rows ``good`` as items in key order, each slice made when it is written: a file of
    millions of rows is never held as millions of objects at once."""

    def __init__(self, keys: np.ndarray, good: np.ndarray, make: Callable[[np.ndarray], list[Any]]) -> None:
        at = pc.sort_indices(pa.array(keys[good].tolist(), pa.string())).to_numpy() if len(good) else good
        self._pos = good[at]
        self._make = make

    def __len__(self) -> int:
        return len(self._pos)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return self._make(self._pos[i])
        return self._make(self._pos[i : i + 1 or None])[0]



# Refused in every text field, as the API refuses them: control characters other than tab and line
# breaks (NUL...), bidirectional marks, embeddings, overrides and isolates, the BOM and non-characters.
_BAD_TEXT_RE2 = (
    r"[\x{0}-\x{8}\x{b}\x{c}\x{e}-\x{1f}\x{7f}-\x{9f}\x{61c}\x{200e}\x{200f}\x{202a}-\x{202e}"
    r"\x{2066}-\x{2069}\x{feff}\x{fffe}\x{ffff}]"
)
_BAD_TEXT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)


# The refused characters that are ASCII (C0 controls but tab and line breaks, DEL): an ASCII
# column is clean when none of its bytes is one of these.
_BAD_ASCII = np.zeros(256, dtype=bool)
_BAD_ASCII[[*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]] = True


def _clean_ascii(s: pd.Series) -> bool:
    """Whether a column is ASCII without a refused character: a byte lookup over its data buffers,
    a quarter of the RE2 scan's time (most columns of a roles file are identifiers and dates)."""
    arr = pa.array(s)
    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        if not len(chunk):
            continue
        if chunk.null_count or not pa.types.is_string(chunk.type) or not pc.all(pc.string_is_ascii(chunk)).as_py():
            return False
        off = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
        lo, hi = int(off[chunk.offset]), int(off[chunk.offset + len(chunk)])
        if hi > lo and _BAD_ASCII[np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[lo:hi]].any():
            return False
    return True


def _refuse_control_characters(rows: _Rows) -> None:
    """Flag rows with a refused character in any text column (one vectorised RE2 scan per column
    that is not plain ASCII without one)."""
    for col in rows.df.columns:
        s = rows.df[col]
        if col == "_line" or not isinstance(s.dtype, pd.ArrowDtype) or _clean_ascii(s):
            continue
        mask = s.str.contains(_BAD_TEXT_RE2, regex=True).to_numpy(dtype=bool, na_value=False)
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        values = np.full(len(mask), "", dtype=object)
        reasons = np.full(len(mask), None, dtype=object)
        for i, v in zip(idx, s.iloc[idx].tolist(), strict=True):
            m = _BAD_TEXT.search(v)
            at = m.start() if m else 0
            reasons[i] = f"contains U+{ord(v[at]):04X} at position {at}: control and bidirectional characters refused"
            values[i] = v.encode("unicode_escape").decode("ascii")
        rows.flag(mask, str(col), reasons, values=values)


def _check_text_limits(rows: _Rows) -> None:
    """Flag text longer than its field's limit and malformed ids: the limits the API schemas enforce."""
    for col, limit in MAX_LENGTH.items():
        if col in rows.df:
            rows.flag((rows.col(col).str.len() > limit).to_numpy(dtype=bool), col,
                      f"longer than {limit} characters", values=_Clipped(rows, col))
    for col in ("record_id", "entry_id", "honour_id"):
        if col in rows.df:
            malformed = ~rows.empty(col) & ~rows.col(col).str.fullmatch(ID_PATTERN).to_numpy(dtype=bool)
            rows.flag(malformed, col, "may hold only letters, digits, '_', '.' and '-'")


class _Clipped(_LazyRaw):
    """A column's values for the report, cut to their first 40 characters (a 10,000-character name
    need not be copied into the report whole)."""

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return np.array([v if len(v) <= 40 else v[:40] + "…" for v in super().__getitem__(idx)], dtype=object)


def _overflow(sh: pd.DataFrame, lines: np.ndarray) -> list[tuple[int, float, int]]:
    """Sweep one organisation's shareholder edges by date; whenever the ratios in force exceed 1,
    drop the file row that entered last. Stored edges are never dropped. Returns (row, sum, day)."""
    index = [int(i) for i in sh.index]
    vf = dict(zip(index, sh["vf"].astype(int).tolist(), strict=True))
    vt = dict(zip(index, sh["vt"].astype(int).tolist(), strict=True))
    ratio = dict(zip(index, sh["ratio"].astype(float).tolist(), strict=True))
    pos = dict(zip(index, sh["pos"].astype(int).tolist(), strict=True))
    events: list[tuple[int, int, int, int, int]] = []
    for i in index:
        r0, r1 = (0, 0) if pos[i] < 0 else (1, int(lines[pos[i]]))
        events.append((vf[i], 1, r0, r1, i))
        if vt[i] < _OPEN:
            events.append((vt[i], 0, r0, r1, i))  # ends sort before starts on the same day
    active: dict[int, tuple[int, int, int]] = {}
    total, out, dropped = 0.0, [], set()
    for day, start, r0, r1, i in sorted(events):
        if i in dropped:
            continue
        if not start:
            if active.pop(i, None) is not None:
                total -= ratio[i]
            continue
        active[i] = (vf[i], r0, r1)
        total += ratio[i]
        while total > 1 + _EPS:
            mine = [j for j in active if pos[j] >= 0]
            if not mine:
                break
            j = max(mine, key=lambda j: active[j])
            out.append((j, total, day))
            total -= ratio[j]
            del active[j]
            dropped.add(j)
    return out


def _reject(rows: _Rows, pos: int, fld: str, reason: str) -> None:
    mask = np.zeros(len(rows.bad), dtype=bool)
    mask[pos] = True
    rows.flag(mask, fld, reason, values=_raw(rows, "ratio") if fld == "ratio" else None)


def _categories(rows: _Rows) -> np.ndarray:
    """Flag unknown jurisdictions, and categories their policy does not define (its rules would never
    fire); return each row's jurisdiction (``default`` when empty)."""
    jurisdiction = rows.text("jurisdiction")
    jurisdiction[jurisdiction == ""] = "default"
    known = available_jurisdictions()
    unknown = ~pd.Series(jurisdiction).isin(known).to_numpy()
    rows.flag(unknown, "jurisdiction", f"unknown jurisdiction; available: {', '.join(known)}")
    category = rows.text("category")
    for j in sorted(set(jurisdiction[~unknown].tolist())):
        allowed = sorted(load_policy(j).categories)
        stray = (jurisdiction == j) & (category != "") & ~pd.Series(category).isin(allowed).to_numpy()
        rows.flag(stray, "category", f"not a category of the {j} policy; allowed: {', '.join(allowed)}")
    return jurisdiction
