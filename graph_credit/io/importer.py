"""Bulk import and export.

Import: one CSV (UTF-8, BOM tolerated, ``.csv`` or ``.csv.gz``) or Parquet file per kind, in the
column format of ``docs/data-format.md``. Rows are validated with vectorised checks (check
characters, enums, dates, intervals, shareholding sums, references, duplicate keys); a bad row is
reported with its file, line, field and reason and skipped, good rows load. Writes are idempotent
upserts keyed by natural ids, one ``store.transaction()`` per batch, so re-running an import changes
nothing and a failure never leaves half a batch behind. Clear resident ID numbers are pseudonymised
on the way in and never stored.

Export: ``to_networkx`` and ``to_frames`` for analysts, ``export_neo4j_admin`` for bulk loading Neo4j.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io as _io
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from .. import ids, pii
from ..ids import InvalidIdentifier, is_person_key, looks_like_id_number, normalise_id_number, normalise_uscc
from ..memory import collector_paused, release_free_memory
from ..model import (
    DATE_OUT_OF_RANGE,
    EARLIEST_DATE,
    ID_PATTERN,
    LATEST_DATE,
    LIST_STATUSES,
    LISTS,
    MAX_LENGTH,
    MAX_RESPONSIBLE,
    ORG_TYPES,
    SEVERITIES,
    DishonestyRecord,
    Honour,
    ListEntry,
    Organisation,
    Person,
    Responsible,
    Role,
    RoleEdge,
)
from ..policy.loader import available_jurisdictions, load_policy
from ..store.base import RoleColumns, Store, WriteCounts

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "COLUMNS",
    "KINDS",
    "REQUIRED",
    "ImportReport",
    "RowError",
    "Touched",
    "export_neo4j_admin",
    "import_dir",
    "import_frames",
    "read_file",
    "to_frames",
    "to_networkx",
]

KINDS = ("organisations", "persons", "roles", "records", "honours", "list_entries")
COLUMNS: dict[str, tuple[str, ...]] = {
    "organisations": ("code", "name", "org_type", "region", "industry", "registered_on", "deregistered_on"),
    "persons": ("id_number", "name", "region"),
    "roles": (
        "holder_id",
        "org_code",
        "role",
        "valid_from",
        "valid_to",
        "ratio",
        "subscribed_capital",
        "title",
    ),
    "records": (
        "record_id",
        "subject_id",
        "category",
        "severity",
        "act_date",
        "decision_date",
        "document_no",
        "department",
        "basis",
        "period_end",
        "responsible",
        "jurisdiction",
    ),
    "honours": ("honour_id", "holder_id", "title", "awarding_body", "awarded_on"),
    "list_entries": (
        "entry_id",
        "subject_id",
        "list",
        "name",
        "determining_unit",
        "basis",
        "valid_from",
        "valid_to",
        "publicity_from",
        "publicity_to",
        "status",
    ),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "organisations": ("code", "name"),
    "persons": ("id_number", "name"),
    "roles": ("holder_id", "org_code", "role", "valid_from"),
    "records": ("record_id", "subject_id", "category", "severity", "decision_date"),
    "honours": ("honour_id", "holder_id", "title", "awarded_on"),
    "list_entries": ("entry_id", "subject_id", "list", "valid_from"),
}
NUMERIC = frozenset({"ratio", "subscribed_capital"})
_PERSON_FIELDS = frozenset({"id_number", "holder_id", "subject_id", "responsible"})
_ROLES = {r.value: r for r in Role}
_OPEN = 10**8  # an open interval end, as a day ordinal
_EPS = 1e-9  # ratios are decimals: tolerate float rounding in sums
_ROLES_PART = 500_000  # role rows validated together: a bigger file goes in parts by organisation
_ROLES_PART_BYTES = 40 << 20  # a roles CSV bigger than this is split on disk into parts of about this size


# -- report --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RowError:
    """One problem with one row. ``line`` is the 1-based line in the file, the header being line 1
    (for Parquet files and DataFrames: row position + 2, as if there were a header line)."""

    file: str
    line: int
    field: str
    value: str
    reason: str


@dataclass
class Touched:
    """What an import changed, so the caller can re-derive its consequences."""

    records: set[str] = field(default_factory=set)  # record ids inserted or updated
    list_entries: set[str] = field(default_factory=set)  # list entry ids inserted or updated
    list_subjects: set[str] = field(default_factory=set)  # subjects of those list entries
    orgs: set[str] = field(default_factory=set)  # organisations whose role edges were inserted or updated
    role_holders: set[str] = field(default_factory=set)  # holders of those edges
    honour_holders: set[str] = field(default_factory=set)  # holders of honours inserted or updated


@dataclass
class ImportReport:
    """Row-level errors, write counts per kind, and what changed."""

    errors: list[RowError] = field(default_factory=list)
    counts: dict[str, WriteCounts] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # data rows read per kind
    files: dict[str, str] = field(default_factory=dict)
    touched: Touched = field(default_factory=Touched)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def rejected(self, kind: str) -> int:
        """Rows of ``kind`` that were skipped (a row with several problems counts once)."""
        name = self.files.get(kind)
        return len({e.line for e in self.errors if e.file == name})

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(e.file, e.line, e.field, e.value, e.reason) for e in self.errors],
            columns=["file", "line", "field", "value", "reason"],
        )

    def write_csv(self, path: str | Path) -> Path:
        """The row-level report as CSV (UTF-8 with BOM, so spreadsheet programs show Chinese text)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_frame().to_csv(path, index=False, encoding="utf-8-sig")
        return path

    def summary(self) -> str:
        lines = []
        for kind in KINDS:
            if kind not in self.rows:
                continue
            c = self.counts.get(kind, WriteCounts())
            lines.append(
                f"{kind:<14} {self.rows[kind]:>10,} rows: {c.inserted:,} inserted, {c.updated:,} updated, "
                f"{c.unchanged:,} unchanged, {self.rejected(kind):,} rejected"
                + (f" ({self.seconds[kind]:.1f} s)" if kind in self.seconds else "")
            )
        if self.errors:
            lines.append(f"{len(self.errors):,} problems; first ones:")
            lines += [f"  {e.file}:{e.line} {e.field}={e.value!r}: {e.reason}" for e in self.errors[:10]]
        else:
            lines.append("no problems")
        return "\n".join(lines)


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class _Source:
    kind: str
    name: str  # file name used in the report
    frame: pd.DataFrame  # text columns as Arrow strings without nulls; "_line" with line numbers
    errors: list[RowError]


def _find_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory")
    found: dict[str, Path] = {}
    for kind in KINDS:
        candidates = [
            p for ext in (".csv", ".csv.gz", ".parquet") if (p := directory / f"{kind}{ext}").exists()
        ]
        if len(candidates) > 1:
            raise ValueError(f"more than one file for {kind}: {', '.join(p.name for p in candidates)}")
        if candidates:
            found[kind] = candidates[0]
    if not found:
        raise FileNotFoundError(f"no import files in {directory} (expected e.g. organisations.csv)")
    return found


def _csv_header(path: Path) -> list[str]:
    with pa.input_stream(str(path), compression="detect") as f:
        head = f.read(1 << 20)
    text = head.decode("utf-8-sig", errors="replace")
    first = next(csv.reader(_io.StringIO(text)), [])
    return [c.strip() for c in first]


_CSV_BAD = list[tuple[int | None, str, int, int]]  # (record number, text, expected, actual fields)


def _csv_options(names: list[str], bad: _CSV_BAD, threads: bool, block_size: int | None = None) -> dict[str, Any]:
    """Every column as strings; rows with the wrong number of fields are collected in ``bad``."""
    import pyarrow.csv as pcsv

    def on_invalid(row: Any) -> str:
        bad.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    read = pcsv.ReadOptions(column_names=names, skip_rows=1, use_threads=threads)
    if block_size:
        read.block_size = block_size
    return {
        "read_options": read,
        "parse_options": pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        "convert_options": pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }


def _csv_names(path: Path) -> list[str]:
    names = _csv_header(path)
    if not names or names == [""]:
        raise pa.ArrowInvalid("empty file: no header line")
    return names


def _line_breaks(columns: Iterable[pa.Array | pa.ChunkedArray]) -> np.ndarray:
    """Line breaks inside each row's values (a quoted value may span lines)."""
    extra: np.ndarray | None = None
    for col in columns:
        if pc.any(pc.match_substring(col, "\n")).as_py():
            n = pc.count_substring(col, "\n").to_numpy(zero_copy_only=False)
            extra = n if extra is None else extra + n
    return extra if extra is not None else np.zeros(0, dtype=np.int64)


def _csv_lines(path: Path, n_rows: int, bad: _CSV_BAD, breaks: np.ndarray) -> tuple[np.ndarray, list[RowError]]:
    """The physical line of each row read, from the skipped records and the line breaks inside
    values (``breaks``: per row, or empty when there are none); the skipped records as errors."""
    # Record numbers (the header is record 1); skipped records leave gaps.
    bad_records = np.array(sorted(b[0] for b in bad if b[0] is not None), dtype=np.int64)
    records = np.setdiff1d(np.arange(2, n_rows + len(bad_records) + 2), bad_records)[:n_rows]
    # A quoted value spanning lines moves every later record down: count the line breaks.
    extra = np.zeros(n_rows + len(bad_records) + 2, dtype=np.int64)
    if len(breaks):
        extra[records] += breaks
    for number, text, *_ in bad:
        if number is not None:
            extra[number] += text.count("\n")
    shift = np.concatenate([[0], np.cumsum(extra)[:-1]])
    lines = records + shift[records]
    errors = [
        RowError(
            path.name,
            int(n + shift[n]) if n is not None else 0,
            "",
            _mask_text(text[:200]),
            f"expected {exp} fields, found {act}",
        )
        for n, text, exp, act in bad
    ]
    return lines, errors


def _read_csv(path: Path, kind: str) -> tuple[pa.Table, np.ndarray, list[RowError]]:
    """All columns as strings; rows with the wrong number of fields are reported, not fatal."""
    import pyarrow.csv as pcsv

    names = _csv_names(path)
    bad: _CSV_BAD = []
    table = pcsv.read_csv(path, **_csv_options(names, bad, threads=True))
    if bad:  # only a single-threaded read numbers the bad rows
        bad.clear()
        table = pcsv.read_csv(path, **_csv_options(names, bad, threads=False))
    lines, errors = _csv_lines(path, table.num_rows, bad, _line_breaks(table.columns))
    return table, lines, errors


class _SpilledRoles:
    """A roles CSV too big to hold whole, split by organisation into parts on disk in one streaming
    pass. Each part holds every row of its organisations in file order (all checks across rows are
    within one organisation) and is read back on its own, so the import holds one part at a time."""

    def __init__(self, path: Path, names: list[str], size: int, workdir: Path, progress: bool) -> None:
        import pyarrow.csv as pcsv

        self.name = path.name
        self.n_parts = max(1, -(-size // _ROLES_PART_BYTES))
        self._files = [workdir / f"part-{k}.arrow" for k in range(self.n_parts)]
        bad: _CSV_BAD = []
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        breaks: list[tuple[np.ndarray, np.ndarray]] = []  # (rows, line breaks) of rows with any
        n = 0
        bar = tqdm(desc="roles: split by organisation", unit="row", disable=not progress, leave=False)
        try:
            reader = pcsv.open_csv(path, **_csv_options(names, bad, threads=False, block_size=8 << 20))
            for batch in reader:
                extra = _line_breaks(batch.columns)
                if len(extra) and extra.any():
                    at = np.flatnonzero(extra)
                    breaks.append((at + n, extra[at]))
                part = _org_parts(pd.Series(pd.arrays.ArrowExtensionArray(batch.column("org_code"))), self.n_parts)
                batch = batch.append_column("_row", pa.array(np.arange(n, n + batch.num_rows)))
                for k in np.unique(part).tolist():
                    if k not in writers:
                        writers[k] = pa.ipc.new_stream(str(self._files[k]), batch.schema)
                    writers[k].write_batch(batch.filter(pa.array(part == k)))
                n += batch.num_rows
                bar.update(batch.num_rows)
        finally:
            bar.close()
            for w in writers.values():
                w.close()
        self._present = sorted(writers)
        self.rows = n
        per_row = np.zeros(n, dtype=np.int64)
        for at, count in breaks:
            per_row[at] = count
        self._lines, self.errors = _csv_lines(path, n, bad, per_row)

    def parts(self) -> Iterator[_Source]:
        """The parts in turn, each read from disk when asked for and deleted after."""
        for k in self._present:
            with pa.ipc.open_stream(str(self._files[k])) as f:
                table = f.read_all()
            self._files[k].unlink()
            lines = self._lines[table.column("_row").to_numpy()]
            frame = table.drop_columns(["_row"]).to_pandas(types_mapper=pd.ArrowDtype)
            del table
            yield _Source("roles", self.name, _normalise(frame, "roles", lines), [])


def _csv_size(path: Path) -> int:
    """The file's size as text (a gzip file's own record of it, modulo 4 GiB, or 4x its size)."""
    size = path.stat().st_size
    if path.suffix == ".gz":
        with open(path, "rb") as f:
            f.seek(-4, 2)
            size = max(int.from_bytes(f.read(4), "little"), 4 * size)
    return size


def _org_parts(org_code: pd.Series, n_parts: int) -> np.ndarray:
    """The part of each row, the same for every spelling of one organisation's code."""
    codes, distinct = _resolve_distinct(org_code.str.strip(), "org")
    valid = distinct.reason == None  # noqa: E711 - elementwise on an object array
    part_u = np.arange(len(valid), dtype=np.uint64) % n_parts  # invalid codes are refused row by row: any part
    if valid.any():
        part_u[valid] = pd.util.hash_array(distinct.key[valid], categorize=False) % n_parts
    return part_u.astype(np.int64)[codes]


def read_file(path: str | Path, kind: str | None = None) -> tuple[pd.DataFrame, list[RowError]]:
    """Read one import file into the normalised frame the validators work on (plus ``_line``)."""
    path = Path(path)
    kind = kind or path.name.split(".")[0]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
        lines = np.arange(len(frame), dtype=np.int64) + 2
        errors: list[RowError] = []
    else:
        table, lines, errors = _read_csv(path, kind)
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    return _normalise(frame, kind, lines), errors


def _to_text(s: pd.Series) -> pa.Array:
    """Any column as Arrow strings: dates as YYYY-MM-DD, integral floats without '.0', nulls ''."""
    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype):
        arr = pa.array(s)
        t = arr.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return arr.cast(pa.string())
        if pa.types.is_date(t):
            return arr.cast(pa.string())
        if pa.types.is_timestamp(t):
            return arr.cast(pa.date32(), safe=False).cast(pa.string())
        if pa.types.is_integer(t) or pa.types.is_boolean(t):
            return arr.cast(pa.string())
        s = pd.Series(arr.to_pylist(), dtype=object)
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        return pa.array(s).cast(pa.date32(), safe=False).cast(pa.string())
    elif pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return pa.array(s.astype(str).tolist(), type=pa.string())
    elif pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return pa.array(s.astype(object).where(s.notna(), None).tolist(), type=pa.string())
    return pa.array([_text(v) for v in s.tolist()], type=pa.string())


def _text(v: Any) -> str | None:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        if v != v:  # NaN
            return None
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    if isinstance(v, date):  # datetime is a date: keep the date part
        return v.isoformat()[:10]
    return str(v)


# Leading or trailing white space as utf8_trim_whitespace sees it (a superset is harmless).
_EDGE_SPACE = r"^[\s\pZ\x{0b}\x{1c}-\x{1f}\x{85}]|[\s\pZ\x{0b}\x{1c}-\x{1f}\x{85}]$"


def _normalise(frame: pd.DataFrame, kind: str, lines: np.ndarray) -> pd.DataFrame:
    """Text columns stripped, Arrow strings, '' for missing; numeric columns left as they are."""
    out: dict[str, Any] = {}
    for col in frame.columns:
        name = str(col).strip().lstrip("\ufeff")
        if name not in COLUMNS[kind]:
            continue  # extra columns are ignored (documented)
        s = frame[col]
        if name in NUMERIC and (
            pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
        ):
            out[name] = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
            continue
        arr = pc.fill_null(_to_text(s), "")
        if pc.any(pc.match_substring_regex(arr, _EDGE_SPACE)).as_py():  # else keep it as read: no copy
            arr = pc.utf8_trim_whitespace(arr)
        out[name] = pd.Series(pd.arrays.ArrowExtensionArray(arr))
    df = pd.DataFrame(
        {k: (v if isinstance(v, np.ndarray) else v.array) for k, v in out.items()},
        index=pd.RangeIndex(len(frame)),
    )
    df["_line"] = np.asarray(lines, dtype=np.int64)
    return df


# -- vectorised identifier checks --------------------------------------------------------------------
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_USCC_LUT = np.full(256, -1, dtype=np.int64)
_USCC_LUT[np.frombuffer(_USCC_ALPHABET.encode(), dtype=np.uint8)] = np.arange(31)
_RIC_W = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _matrix(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the 18-character ASCII values and their bytes as an (n, 18) matrix."""
    cand = np.fromiter((len(v) == 18 and v.isascii() for v in values), dtype=bool, count=len(values))
    pos = np.flatnonzero(cand)
    joined = "".join(values[i] for i in pos).encode("ascii")
    return pos, np.frombuffer(joined, dtype=np.uint8).reshape(-1, 18).astype(np.int64)


_VALIDATE_CHUNK = 1 << 18  # distinct values resolved per pass: bounds the (n, 18) matrices and text copies


def _uscc_valid(values: list[str]) -> np.ndarray:
    """GB 32100 as python-stdnum checks it: 8 digits, 10 alphabet characters, check character."""
    ok = np.zeros(len(values), dtype=bool)
    pos, m = _matrix(values)
    if len(pos):
        idx = _USCC_LUT[m]
        fmt = ((m[:, :8] >= 48) & (m[:, :8] <= 57)).all(axis=1) & (idx[:, 8:] >= 0).all(axis=1)
        check = (31 - (idx[:, :17] * _USCC_W).sum(axis=1) % 31) % 31
        ok[pos] = fmt & (check == idx[:, 17])
    return ok


_EPOCH = date(1970, 1, 1).toordinal()


def _ric_valid(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
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
    check = (1 - (np.clip(d[:, :17], 0, 9) * _RIC_W).sum(axis=1)) % 11
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

    def take(self, idx: np.ndarray) -> _Ids:
        return _Ids(self.key[idx], self.person[idx], self.reason[idx], self.code[idx], self.born[idx])


_KnownOrgs = Callable[[list[str]], np.ndarray]  # which of these organisation codes name a known organisation


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
    n = len(uniques)
    key = np.empty(n, dtype=object)
    person = np.zeros(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    born = np.full(n, -1, dtype=np.int64)
    # In slices: only the keys outlive a slice, not its text copies (millions of holders).
    for a in range(0, n, _VALIDATE_CHUNK):
        raw = [str(u) for u in np.asarray(uniques[a : a + _VALIDATE_CHUNK], dtype=object).tolist()]
        at = slice(a, a + len(raw))
        _resolve_values(raw, accept, known_orgs, key[at], person[at], reason[at], born[at])
    # Distinct inputs can normalise to one key (case, spaces): number the keys, not the inputs.
    key_code = pd.factorize(key)[0] if n else np.zeros(0, dtype=np.int64)
    return codes, _Ids(key, person, reason, key_code, born)


def _resolve_values(
    raw: list[str], accept: str, known_orgs: _KnownOrgs | None, key: np.ndarray, person: np.ndarray,
    reason: np.ndarray, born: np.ndarray
) -> None:
    """Fill ``key``, ``person``, ``reason`` and ``born`` (views, one slot per value) for distinct ``raw`` values."""
    n = len(raw)
    as_org = [v.replace(" ", "").replace("-", "").upper() for v in raw] if accept != "person" else raw
    as_person = [v.upper() for v in raw] if accept != "org" else raw
    org_ok = _uscc_valid(as_org) if accept != "person" else np.zeros(n, dtype=bool)
    person_ok, person_born = _ric_valid(as_person) if accept != "org" else (np.zeros(n, dtype=bool), born)
    if accept == "any":  # a USCC of a known organisation wins over an equal-looking ID number
        both = np.flatnonzero(org_ok & person_ok)
        if len(both) and known_orgs is not None:
            person_ok[both[known_orgs([as_org[i] for i in both])]] = False
        org_ok &= ~person_ok
    for i in np.flatnonzero(org_ok):
        key[i] = as_org[i]
    pi = np.flatnonzero(person_ok)
    key[pi] = _pseudonyms([as_person[i] for i in pi]) if len(pi) else []
    person[pi] = True
    born[pi] = person_born[pi]
    # Invalid values: ask python-stdnum (via graph_credit.ids) for the reason, and accept what
    # its own normalisation accepts, so the result is exactly that of the scalar validators.
    for i in np.flatnonzero(~org_ok & ~person_ok):
        v = raw[i]
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


def _take_columns(cols: RoleColumns, idx: np.ndarray) -> RoleColumns:
    """The rows ``idx`` of a column batch."""
    if len(idx) == len(cols):
        return cols
    at = idx.tolist()
    return RoleColumns(
        edge_id=[cols.edge_id[i] for i in at], holder=[cols.holder[i] for i in at], role=[cols.role[i] for i in at],
        org=[cols.org[i] for i in at], valid_from=cols.valid_from[idx], valid_to=cols.valid_to[idx],
        ratio=cols.ratio[idx], subscribed_capital=cols.subscribed_capital[idx], title=[cols.title[i] for i in at],
    )


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


class _Importer:
    def __init__(self, store: Store, report: ImportReport, progress: bool, batch_size: int) -> None:
        self.store = store
        self.report = report
        self.progress = progress
        self.batch = max(1, batch_size)
        self.known_orgs: set[str] = set()  # organisation codes known to exist (this import or the store)
        self.known_persons: set[str] = set()
        self.absent_orgs: set[str] = set()
        self.absent_persons: set[str] = set()

    # references ---------------------------------------------------------------------------------
    def _exist(self, keys: np.ndarray, person: np.ndarray) -> np.ndarray:
        """Whether each key names a subject in this import or already in the store."""
        codes, uniques = pd.factorize(keys)  # each distinct key once (a file names each many times)
        distinct = np.asarray(uniques, dtype=object).tolist()
        is_person_u = np.zeros(len(distinct), dtype=bool)
        is_person_u[codes[codes >= 0]] = person[codes >= 0]
        found_u = np.zeros(len(distinct), dtype=bool)
        for is_person, known, absent, getter in (
            (False, self.known_orgs, self.absent_orgs, self.store.get_organisations),
            (True, self.known_persons, self.absent_persons, self.store.get_persons),
        ):
            sel = np.flatnonzero(is_person_u == is_person).tolist()
            wanted = {distinct[i] for i in sel}
            ask = sorted(wanted - known - absent)
            for i in range(0, len(ask), 10_000):
                chunk = ask[i : i + 10_000]
                found = set(getter(chunk))
                known.update(found)
                absent.update(set(chunk) - found)
            found_u[sel] = [distinct[i] in known for i in sel]
        return np.where(codes >= 0, found_u[codes], False)

    def _known_orgs(self, codes: list[str]) -> np.ndarray:
        return self._exist(np.array(codes, dtype=object), np.zeros(len(codes), dtype=bool))

    def subjects(self, rows: _Rows, fld: str, accept: str = "any", resolved: _Ids | None = None) -> _Ids:
        """Resolve a subject column (unless ``resolved`` already is), flag invalid identifiers and
        references to unknown subjects."""
        res = resolved if resolved is not None else _resolve(rows.col(fld), accept, self._known_orgs)
        invalid = res.reason != None  # noqa: E711 - elementwise on an object array
        rows.flag(invalid & ~rows.empty(fld), fld, res.reason)
        ok = ~invalid & ~rows.bad
        exists = np.zeros(len(res.key), dtype=bool)
        exists[ok] = self._exist(res.key[ok], res.person[ok])
        missing = ok & ~exists
        if missing.any():  # reasons only for the rows reported (a column holds 10^7 rows)
            at = np.flatnonzero(missing)
            why = np.full(len(missing), None, dtype=object)
            why[at] = np.where(res.person[at], "person not in this import nor in the store",
                               "organisation not in this import nor in the store")
            rows.flag(missing, fld, why)
        return res

    def dates(self, rows: _Rows, fld: str) -> _Dates:
        d = _dates(rows.col(fld))
        rows.flag(d.bad, fld, "not a date (YYYY-MM-DD)")
        rows.flag(d.far, fld, DATE_OUT_OF_RANGE)
        return d

    def enum(
        self, rows: _Rows, fld: str, allowed: Iterable[str], default: str | None = None, upper: bool = False
    ) -> np.ndarray:
        codes, uniques = pd.factorize(rows.col(fld))
        cased = [str(u).upper() if upper else str(u).lower() for u in np.asarray(uniques, dtype=object)]
        norm = np.array([*cased, ""], dtype=object)
        values = norm[codes]  # code -1 (none here: no nulls) would pick the trailing ""
        if default is not None:
            values[values == ""] = default
        allowed = tuple(allowed)
        rows.flag(
            ~pd.Series(values, dtype=object).isin(allowed).to_numpy() & (values != ""),
            fld,
            f"must be one of {', '.join(allowed)}",
        )
        return values

    # writing ------------------------------------------------------------------------------------------
    def _bar(self, kind: str, total: int) -> Any:
        return tqdm(total=total, desc=kind, unit="row", disable=not self.progress, leave=False)

    def _write(
        self,
        kind: str,
        items: Sequence[Any],
        put: Callable[[Sequence[Any]], WriteCounts],
        existing: Callable[[list[Any]], Mapping[str, Any]] | None,
        key: Callable[[Any], str],
        touch: Callable[[list[Any]], None] | None = None,
    ) -> None:
        """Upsert in batches, each in one transaction. With ``existing``, compare first and send only
        new or changed rows (so ``touch`` sees exactly what changed)."""
        total = self.report.counts.get(kind, WriteCounts())
        # Key order (keys are unique: duplicates were rejected): batch after batch then touches a
        # narrow key range of the B-tree instead of every leaf page, which makes a commit write
        # (and the WAL checkpoint rewrite) a few pages rather than the whole table.
        if not isinstance(items, _InKeyOrder):
            items = sorted(items, key=key)
        with self._bar(kind, len(items)) as bar:
            for i in range(0, len(items), self.batch):
                chunk = items[i : i + self.batch]
                with self.store.transaction():
                    if existing is None:
                        counts = put(chunk)
                    else:
                        old = existing(chunk)
                        changed = [x for x in chunk if old.get(key(x)) != x]
                        counts = put(changed) + WriteCounts(unchanged=len(chunk) - len(changed))
                        if touch and changed:
                            touch(changed)
                total += counts
                bar.update(len(chunk))
        self.report.counts[kind] = total

    # kinds ---------------------------------------------------------------------------------------------
    def organisations(self, rows: _Rows) -> None:
        rows.required()
        code = _resolve(rows.col("code"), "org")
        rows.flag((code.reason != None) & ~rows.empty("code"), "code", code.reason)  # noqa: E711
        rows.duplicates(pd.Series(code.key), "code", "code")
        org_type = self.enum(rows, "org_type", ORG_TYPES, default="enterprise")
        rows.flag(_bad_region(rows), "region", "must be a 6-digit administrative division code")
        reg, dereg = self.dates(rows, "registered_on"), self.dates(rows, "deregistered_on")
        rows.flag(
            (dereg.ordinal >= 0) & (reg.ordinal >= 0) & (dereg.ordinal < reg.ordinal),
            "deregistered_on",
            "before registered_on",
        )
        good = np.flatnonzero(~rows.bad)
        keys = code.key
        def make(pos: np.ndarray) -> list[Organisation]:
            return [
                Organisation(k, n, t, r or (k[2:8] if k else ""), i, a, b)
                for k, n, t, r, i, a, b in zip(
                    keys[pos].tolist(), rows.take("name", pos), org_type[pos].tolist(), rows.take("region", pos),
                    rows.take("industry", pos), reg.value[pos].tolist(), dereg.value[pos].tolist(), strict=True,
                )
            ]

        self.known_orgs.update(keys[good].tolist())
        self._write("organisations", _InKeyOrder(keys, good, make), self.store.put_organisations, None,
                    lambda o: o.code)

    def persons(self, rows: _Rows) -> None:
        rows.required()
        res = _resolve(rows.col("id_number"), "person")
        rows.flag((res.reason != None) & ~rows.empty("id_number"), "id_number", res.reason)  # noqa: E711
        rows.duplicates(pd.Series(res.key), "id_number", "resident ID number")
        rows.flag(_bad_region(rows), "region", "must be a 6-digit administrative division code")
        good = np.flatnonzero(~rows.bad)
        keys = res.key

        def make(pos: np.ndarray) -> list[Person]:
            # Non-ASCII digits (full-width) name the same person: mask the normalised number, not the input.
            return [Person(k, _mask(c.upper() if c.isascii() else _normalised_id(c)), n, r) for k, c, n, r in zip(
                keys[pos].tolist(), rows.take("id_number", pos), rows.take("name", pos), rows.take("region", pos),
                strict=True)]

        self.known_persons.update(keys[good].tolist())
        self._write("persons", _InKeyOrder(keys, good, make), self.store.put_persons, None, lambda p: p.key)

    def roles(self, rows: _Rows) -> None:
        """Validate and write the role edges of a file read whole: a big one in parts, each
        holding every row of its organisations (all checks across rows are within one
        organisation), so the working arrays are those of one part, not of the whole file."""
        rows.required()
        n_parts = max(1, -(-len(rows.bad) // _ROLES_PART))

        def parts() -> Iterator[_Rows]:
            if n_parts == 1:
                yield rows
                return
            part_of = _org_parts(rows.col("org_code"), n_parts)
            for k in range(n_parts):
                idx = np.flatnonzero(part_of == k)
                sub = rows.subset(idx)
                yield sub
                rows.absorb(sub, idx)

        self._roles(parts(), len(rows.bad))

    def spilled_roles(self, spill: _SpilledRoles) -> None:
        """``run`` for a roles file split on disk: the parts are checked and written one by one."""
        self.report.rows["roles"], self.report.files["roles"] = spill.rows, spill.name
        errors: list[pd.DataFrame] = []

        def parts() -> Iterator[_Rows]:
            for src in spill.parts():
                rows = _Rows(src)
                _refuse_control_characters(rows)
                _check_text_limits(rows)
                rows.required()
                yield rows
                errors.extend(rows.errors)

        self._roles(parts(), spill.rows)
        self.report.errors.extend(_row_errors(spill.name, [_error_frame(spill.errors), *errors]))

    def _roles(self, parts: Iterable[_Rows], n_rows: int) -> None:
        # With no edge stored yet there is nothing to compare with or check against: the batches go
        # to the store's bulk path (rows appended, indexes built once at the end).
        fresh = next(iter(self.store.iter_roles()), None) is None
        total = self.report.counts.get("roles", WriteCounts())
        touched = self.report.touched

        def batches(bar: Any) -> Iterator[tuple[_Rows, pd.DataFrame, RoleColumns]]:
            for rows in parts:
                at, orgs = _resolve_distinct(rows.col("org_code"), "org")
                hat, holders = _resolve_distinct(rows.col("holder_id"), "any", self._known_orgs)
                yield from self._role_batches(rows, orgs.take(at), holders.take(hat), bar)

        with self._bar("roles", n_rows) as bar:
            if fresh:

                def loaded() -> Iterator[RoleColumns]:
                    nonlocal total
                    for sub, part, cols in batches(bar):
                        keep = self._edge_checks(sub, part, list(cols.edge_id), [])
                        batch = _take_columns(cols, np.flatnonzero(keep))
                        total += WriteCounts(inserted=len(batch))
                        touched.orgs.update(batch.org)
                        touched.role_holders.update(batch.holder)
                        yield batch
                        bar.update(len(part))

                self.store.load_roles(loaded())
            else:
                for sub, part, cols in batches(bar):
                    items = cols.edges()
                    with self.store.transaction():
                        stored = self.store.roles_of(sorted(set(part["org"])), "in")
                        keep = self._edge_checks(sub, part, list(cols.edge_id), stored)
                        old = {e.edge_id: e for e in stored}
                        items = [e for e, k in zip(items, keep, strict=True) if k]
                        changed = [e for e in items if old.get(e.edge_id) != e]
                        changed.sort(key=lambda e: e.edge_id)  # primary-key order: sequential B-tree inserts
                        total += self.store.put_roles(changed) + WriteCounts(unchanged=len(items) - len(changed))
                    touched.orgs.update(e.org for e in changed)
                    touched.role_holders.update(e.holder for e in changed)
                    bar.update(len(part))
        self.report.counts["roles"] = total

    def _role_batches(
        self, rows: _Rows, org: _Ids, holder: _Ids, bar: Any
    ) -> Iterator[tuple[_Rows, pd.DataFrame, RoleColumns]]:
        """Validate the rows of one part row by row, then yield its good rows in write batches of
        whole organisations: (the part, the batch's check frame, the batch's columns)."""
        role = self.enum(rows, "role", _ROLES, upper=True)
        rows.flag((org.reason != None) & ~rows.empty("org_code"), "org_code", org.reason)  # noqa: E711
        ok = ~rows.bad & (org.reason == None)  # noqa: E711
        exists = np.zeros(len(org.key), dtype=bool)
        exists[ok] = self._exist(org.key[ok], np.zeros(int(ok.sum()), dtype=bool))
        rows.flag(ok & ~exists, "org_code", "organisation not in this import nor in the store")
        self.subjects(rows, "holder_id", resolved=holder)
        vf, vt = self.dates(rows, "valid_from"), self.dates(rows, "valid_to")
        rows.flag(
            (vt.ordinal >= 0) & (vf.ordinal >= 0) & (vt.ordinal <= vf.ordinal),
            "valid_to",
            "not after valid_from (intervals are [valid_from, valid_to))",
        )
        rows.flag((vf.ordinal >= 0) & (holder.born > vf.ordinal), "valid_from",
                  "before the holder's birth date (in the ID number)")
        ratio, ratio_bad = _numbers(rows.df, "ratio")
        raw_ratio = _raw(rows, "ratio")
        rows.flag(ratio_bad, "ratio", "not a number", values=raw_ratio)
        has_ratio = ~np.isnan(ratio)
        rows.flag(
            has_ratio & ~ratio_bad & ((ratio <= 0) | (ratio > 1)),
            "ratio",
            "must be in (0, 1]",
            values=raw_ratio,
        )
        rows.flag(
            has_ratio & (role != "SHAREHOLDER"),
            "ratio",
            "only a SHAREHOLDER edge has a ratio",
            values=raw_ratio,
        )
        capital, cap_bad = _numbers(rows.df, "subscribed_capital")
        rows.flag(
            cap_bad | (capital < 0),
            "subscribed_capital",
            "must be a non-negative number",
            values=_raw(rows, "subscribed_capital"),
        )
        is_org_holder = ~holder.person & (holder.reason == None)  # noqa: E711
        rows.flag(
            is_org_holder & (role != "SHAREHOLDER") & (role != ""),
            "holder_id",
            "an organisation can only hold a SHAREHOLDER edge",
            only_good=True,
        )
        rows.flag(
            is_org_holder & (holder.key == org.key),
            "holder_id",
            "an organisation cannot hold itself",
            only_good=True,
        )
        org_code = org.code
        rows.duplicates(
            pd.DataFrame({"holder": holder.code, "role": _codes(role), "org": org_code, "vf": vf.ordinal}),
            "valid_from",
            "edge (same holder, role, organisation and valid_from)",
        )
        vt_open = np.where(vt.ordinal >= 0, vt.ordinal, _OPEN)
        # Checks against stored edges and the writes go organisation by organisation, so each batch
        # sees every edge of its organisations (rows of one organisation stay in file order).
        good_pos = np.flatnonzero(~rows.bad)
        good_pos = good_pos[np.argsort(org_code[good_pos], kind="stable")]
        orgs = org_code[good_pos]
        starts = [0]
        while starts[-1] < len(good_pos):
            nxt = min(starts[-1] + self.batch, len(good_pos))
            while 0 < nxt < len(good_pos) and orgs[nxt] == orgs[nxt - 1]:
                nxt += 1
            starts.append(nxt)
        del orgs, org_code

        def frame(pos: np.ndarray) -> pd.DataFrame:
            return pd.DataFrame({"holder": holder.key[pos], "role": role[pos], "org": org.key[pos],
                                 "vf": vf.ordinal[pos], "vt": vt_open[pos], "ratio": ratio[pos], "pos": pos})

        vt_ord = np.where(vt.ordinal >= 0, vt.ordinal, 0)
        vf_text = pa.array(rows.col("valid_from"))
        titles = pa.array(rows.col("title"))

        def columns(pos: np.ndarray) -> RoleColumns:
            take = pa.array(pos)
            hs, rs, os_ = holder.key[pos].tolist(), role[pos].tolist(), org.key[pos].tolist()
            # model.stable_id(holder, role, org, valid_from), on the ISO text already at hand.
            joined = pc.binary_join_element_wise(
                pa.array(hs, pa.string()), pa.array(rs, pa.string()), pa.array(os_, pa.string()),
                vf_text.take(take), "\x1f",
            ).cast(pa.binary()).to_pylist()
            blake = hashlib.blake2b
            return RoleColumns(
                edge_id=[blake(k, digest_size=10).hexdigest() for k in joined],
                holder=hs, role=rs, org=os_, valid_from=vf.ordinal[pos], valid_to=vt_ord[pos],
                ratio=ratio[pos], subscribed_capital=capital[pos], title=titles.take(take).to_pylist(),
            )

        bar.update(len(rows.bad) - len(good_pos))  # rows refused here are done with
        for a, b in zip(starts, starts[1:], strict=False):
            yield rows, frame(good_pos[a:b]), columns(good_pos[a:b])

    def _edge_checks(
        self, rows: _Rows, part: pd.DataFrame, edge_ids: list[str], stored: list[RoleEdge]
    ) -> np.ndarray:
        """Overlapping intervals for one (holder, role, organisation) and shareholding sums over 1,
        against this batch's rows and the stored edges they do not replace. Returns rows to keep."""
        replaced = set(edge_ids)
        others = [e for e in stored if e.edge_id not in replaced]
        file_rows = part[["holder", "role", "org", "vf", "vt", "ratio", "pos"]].reset_index(drop=True)
        st = pd.DataFrame(
            {
                "holder": [e.holder for e in others],
                "role": [e.role.value for e in others],
                "org": [e.org for e in others],
                "vf": [e.valid_from.toordinal() for e in others],
                "vt": [e.valid_to.toordinal() if e.valid_to else _OPEN for e in others],
                "ratio": [e.ratio if e.ratio is not None else np.nan for e in others],
                "pos": -1,
            }
        )
        both = pd.concat([file_rows, st], ignore_index=True) if len(st) else file_rows
        ok = np.ones(len(both), dtype=bool)  # file rows first, in the order of ``part``
        lines = rows.lines

        # Overlaps: only groups with more than one edge can overlap (few; a plain loop is fine).
        multi = both[both.duplicated(["holder", "role", "org"], keep=False)]
        posarr = both["pos"].to_numpy()  # row of ``both`` -> position in the file (-1: stored)
        if len(multi):
            multi = multi.sort_values(["holder", "role", "org", "vf", "pos"], kind="stable")
            for _, grp in multi.groupby(["holder", "role", "org"], sort=False):
                kept: list[tuple[int, int, int]] = []  # (vf, vt, row in ``both``) accepted so far
                for f, t, i in zip(grp["vf"], grp["vt"], grp.index, strict=True):
                    clash = next(((kf, kt, ki) for kf, kt, ki in kept if f < kt and kf < t), None)
                    if clash is None:
                        kept.append((f, t, i))
                        continue
                    victim, other = i, clash[2]
                    if posarr[i] < 0:  # a stored edge stays: reject the file row it clashes with
                        victim, other = other, i
                        kept.remove(clash)
                        kept.append((f, t, i))
                    other_pos = posarr[other]
                    where = f"line {lines[other_pos]}" if other_pos >= 0 else "an edge already stored"
                    self._reject(
                        rows,
                        int(posarr[victim]),
                        "valid_from",
                        f"overlaps the interval of {where} for the same holder, role and organisation",
                    )
                    ok[victim] = False

        # Shareholding: the ratios in force on any day may not sum past 1. A vectorised sweep finds
        # the organisations concerned; for those (few) a greedy sweep rejects the latest entrant.
        sh = both[ok & (both["role"] == "SHAREHOLDER").to_numpy() & both["ratio"].notna().to_numpy()]
        sh = sh[sh.groupby("org")["ratio"].transform("size") > 1] if len(sh) else sh
        if len(sh):
            ev = pd.concat(
                [
                    pd.DataFrame({"org": sh["org"], "day": sh["vf"], "delta": sh["ratio"]}),
                    pd.DataFrame({"org": sh["org"], "day": sh["vt"], "delta": -sh["ratio"]}),
                ]
            ).sort_values(["org", "day", "delta"], kind="stable")  # ends before starts on the same day
            ev["sum"] = ev.groupby("org")["delta"].cumsum()
            for org_code in ev.loc[ev["sum"] > 1 + _EPS, "org"].unique():
                for i, total, day in self._overflow(sh[sh["org"] == org_code], lines):
                    self._reject(
                        rows,
                        int(posarr[i]),
                        "ratio",
                        f"shareholding ratios of {org_code} would sum to {total:.6g} "
                        f"on {date.fromordinal(int(day)).isoformat()}",
                    )
                    ok[i] = False
        return ok[: len(part)]

    @staticmethod
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

    @staticmethod
    def _reject(rows: _Rows, pos: int, fld: str, reason: str) -> None:
        mask = np.zeros(len(rows.bad), dtype=bool)
        mask[pos] = True
        rows.flag(mask, fld, reason, values=_raw(rows, "ratio") if fld == "ratio" else None)

    def records(self, rows: _Rows) -> None:
        rows.required()
        rows.duplicates(rows.col("record_id"), "record_id", "record_id")
        subject = self.subjects(rows, "subject_id")
        severity = self.enum(rows, "severity", SEVERITIES)
        act, decision, end = (self.dates(rows, f) for f in ("act_date", "decision_date", "period_end"))
        rows.flag(
            (act.ordinal >= 0) & (decision.ordinal >= 0) & (act.ordinal > decision.ordinal),
            "act_date",
            "after decision_date",
        )
        rows.flag(
            (end.ordinal >= 0) & (decision.ordinal >= 0) & (end.ordinal < decision.ordinal),
            "period_end",
            "before decision_date",
        )
        responsible = self._responsible(rows)
        jurisdiction = self._categories(rows)
        good = np.flatnonzero(~rows.bad)
        t = {
            f: rows.text(f)[good].tolist()
            for f in ("record_id", "category", "document_no", "department", "basis")
        }
        for f in ("document_no", "basis"):  # free text: personal data in it is masked before it is stored
            t[f] = [pii.mask(v) for v in t[f]]
        items = [
            DishonestyRecord(
                record_id=i,
                subject=s,
                category=c,
                severity=sv,
                decision_date=dd,
                act_date=ad,
                document_no=dn,
                department=dp,
                basis=bs,
                period_end=pe,
                responsible=rs,
                jurisdiction=j,
            )
            for i, s, c, sv, dd, ad, dn, dp, bs, pe, rs, j in zip(
                t["record_id"],
                subject.key[good].tolist(),
                t["category"],
                severity[good].tolist(),
                decision.value[good].tolist(),
                act.value[good].tolist(),
                t["document_no"],
                t["department"],
                t["basis"],
                end.value[good].tolist(),
                [responsible.get(int(g), ()) for g in good],
                jurisdiction[good].tolist(),
                strict=True,
            )
        ]

        def touch(changed: list[DishonestyRecord]) -> None:
            self.report.touched.records.update(r.record_id for r in changed)

        self._write(
            "records",
            items,
            self.store.put_records,
            lambda chunk: self.store.get_records([r.record_id for r in chunk]),
            lambda r: r.record_id,
            touch,
        )

    @staticmethod
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

    def _responsible(self, rows: _Rows) -> dict[int, tuple[Responsible, ...]]:
        """Parse ``id_number:ROLE;id_number`` items; a bad item rejects its row."""
        text = rows.text("responsible")
        out: dict[int, tuple[Responsible, ...]] = {}
        nonempty = np.flatnonzero((text != "") & ~rows.bad)
        if not len(nonempty):
            return out
        pos, ids_, roles_, crowded = [], [], [], np.zeros(len(rows.bad), dtype=bool)
        for p in nonempty:
            listed = [item.strip() for item in str(text[p]).split(";") if item.strip()]
            if len(listed) > MAX_RESPONSIBLE:
                crowded[p] = True
                continue
            for item in listed:
                ident, _, r = item.partition(":")
                pos.append(p)
                ids_.append(ident.strip())
                roles_.append(r.strip().upper())
        rows.flag(crowded, "responsible", f"names more than {MAX_RESPONSIBLE} persons",
                  values=np.full(len(crowded), "", dtype=object))
        if not pos:
            return out
        items = pd.DataFrame({"pos": pos, "id": ids_, "role": roles_})
        res = _resolve(
            pd.Series(pd.arrays.ArrowExtensionArray(pa.array(ids_, type=pa.string()))),
            "person",
        )
        problem = np.full(len(items), None, dtype=object)
        problem[res.reason != None] = res.reason[res.reason != None]  # noqa: E711
        bad_role = (items["role"] != "") & ~items["role"].isin(list(_ROLES))
        problem[bad_role.to_numpy() & (problem == None)] = "unknown role"  # noqa: E711
        fine = problem == None  # noqa: E711
        exists = np.zeros(len(items), dtype=bool)
        exists[fine] = self._exist(res.key[fine], np.ones(int(fine.sum()), dtype=bool))
        problem[fine & ~exists] = "person not in this import nor in the store"
        for p, ident, r, why in zip(items["pos"], items["id"], items["role"], problem, strict=True):
            if why is not None:
                mask = np.zeros(len(rows.bad), dtype=bool)
                mask[p] = True
                rows.flag(
                    mask,
                    "responsible",
                    f"{why}",
                    values=np.array([f"{ident}:{r}" if r else ident] * len(mask), dtype=object),
                )
        for at, grp in items.assign(key=res.key).groupby("pos", sort=False):
            named = tuple(
                dict.fromkeys(
                    Responsible(k, _ROLES[r] if r else None)
                    for k, r in zip(grp["key"], grp["role"], strict=True)
                )
            )
            out[cast(int, at)] = named
        return out

    def honours(self, rows: _Rows) -> None:
        rows.required()
        rows.duplicates(rows.col("honour_id"), "honour_id", "honour_id")
        holder = self.subjects(rows, "holder_id")
        awarded = self.dates(rows, "awarded_on")
        good = np.flatnonzero(~rows.bad)
        items = [
            Honour(*a)
            for a in zip(
                rows.text("honour_id")[good].tolist(),
                holder.key[good].tolist(),
                rows.text("title")[good].tolist(),
                rows.text("awarding_body")[good].tolist(),
                awarded.value[good].tolist(),
                strict=True,
            )
        ]

        def existing(chunk: list[Honour]) -> dict[str, Honour]:
            return {h.honour_id: h for h in self.store.honours_of(sorted({h.holder for h in chunk}))}

        def touch(changed: list[Honour]) -> None:
            self.report.touched.honour_holders.update(h.holder for h in changed)

        self._write("honours", items, self.store.put_honours, existing, lambda h: h.honour_id, touch)

    def list_entries(self, rows: _Rows) -> None:
        rows.required()
        rows.duplicates(rows.col("entry_id"), "entry_id", "entry_id")
        subject = self.subjects(rows, "subject_id")
        which = self.enum(rows, "list", LISTS)
        status = self.enum(rows, "status", LIST_STATUSES, default="effective")
        vf, vt, pf, pt = (
            self.dates(rows, f) for f in ("valid_from", "valid_to", "publicity_from", "publicity_to")
        )
        rows.flag(
            (vt.ordinal >= 0) & (vf.ordinal >= 0) & (vt.ordinal <= vf.ordinal),
            "valid_to",
            "not after valid_from",
        )
        rows.flag(
            (pt.ordinal >= 0) & (pf.ordinal >= 0) & (pt.ordinal < pf.ordinal),
            "publicity_to",
            "before publicity_from",
        )
        good = np.flatnonzero(~rows.bad)
        t = {f: rows.text(f)[good].tolist() for f in ("entry_id", "name", "determining_unit", "basis")}
        t["basis"] = [pii.mask(v) for v in t["basis"]]
        items = [
            ListEntry(*a)
            for a in zip(
                t["entry_id"],
                subject.key[good].tolist(),
                which[good].tolist(),
                t["name"],
                t["determining_unit"],
                t["basis"],
                vf.value[good].tolist(),
                vt.value[good].tolist(),
                pf.value[good].tolist(),
                pt.value[good].tolist(),
                status[good].tolist(),
                strict=True,
            )
        ]

        def touch(changed: list[ListEntry]) -> None:
            self.report.touched.list_entries.update(e.entry_id for e in changed)
            self.report.touched.list_subjects.update(e.subject for e in changed)

        self._write(
            "list_entries",
            items,
            self.store.put_list_entries,
            lambda chunk: self.store.get_list_entries([e.entry_id for e in chunk]),
            lambda e: e.entry_id,
            touch,
        )

    def run(self, src: _Source) -> None:
        rows = _Rows(src)
        self.report.rows[src.kind] = len(src.frame)
        self.report.files[src.kind] = src.name
        missing = [c for c in REQUIRED[src.kind] if c not in src.frame.columns]
        if missing:
            rows.errors = [
                pd.DataFrame(
                    {
                        "line": 1,
                        "field": missing,
                        "value": "",
                        "reason": "required column missing from the header",
                    }
                )
            ]
            self.report.counts[src.kind] = WriteCounts()
        else:
            _refuse_control_characters(rows)
            _check_text_limits(rows)
            getattr(self, src.kind)(rows)
        self.report.errors.extend(rows.report())


# Refused in every text field, as the API refuses them: control characters other than tab and line
# breaks (NUL...), bidirectional marks, embeddings, overrides and isolates, the BOM and non-characters.
_BAD_TEXT_RE2 = (
    r"[\x{0}-\x{8}\x{b}\x{c}\x{e}-\x{1f}\x{7f}-\x{9f}\x{61c}\x{200e}\x{200f}\x{202a}-\x{202e}"
    r"\x{2066}-\x{2069}\x{feff}\x{fffe}\x{ffff}]"
)
_BAD_TEXT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)


def _refuse_control_characters(rows: _Rows) -> None:
    """Flag rows with a refused character in any text column (one vectorised RE2 scan per column)."""
    for col in rows.df.columns:
        s = rows.df[col]
        if col == "_line" or not isinstance(s.dtype, pd.ArrowDtype):
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


def import_dir(
    store: Store, path: str | Path, *, progress: bool = True, batch_size: int = 50_000
) -> ImportReport:
    """Import ``organisations``, ``persons``, ``roles``, ``records``, ``honours`` and ``list_entries``
    files (``.csv``, ``.csv.gz`` or ``.parquet``) from a directory, in dependency order."""
    files = _find_files(Path(path))
    report = ImportReport()
    importer = _Importer(store, report, progress, batch_size)
    for kind in KINDS:
        if kind in files:
            with collector_paused():
                _import_file(importer, kind, files[kind])
            release_free_memory()  # the next file's working set reuses this one's pages
    return report


def _import_file(importer: _Importer, kind: str, path: Path) -> None:
    started = time.perf_counter()
    report = importer.report
    spill: _SpilledRoles | None = None
    with contextlib.ExitStack() as scope:
        try:
            plan = _spill_plan(path) if kind == "roles" else None
            if plan is not None:
                work = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="graph-credit-roles-")))
                spill = _SpilledRoles(path, *plan, work, importer.progress)
            else:
                frame, errors = read_file(path, kind)
        except (pa.ArrowInvalid, OSError, UnicodeError) as exc:  # not UTF-8, not Parquet, truncated, ...
            report.rows[kind], report.files[kind], report.counts[kind] = 0, path.name, WriteCounts()
            report.errors.append(RowError(path.name, 1, "", "", f"cannot read the file: {exc}"))
            return
        if spill is not None:
            importer.spilled_roles(spill)
        else:
            importer.run(_Source(kind, path.name, frame, errors))
    report.seconds[kind] = time.perf_counter() - started  # reading the file included


def _spill_plan(path: Path) -> tuple[list[str], int] | None:
    """(header, size as text) when a roles file is read in parts through disk: a CSV bigger than one
    part, with every required column (else it is read whole, and refused whole)."""
    if path.suffix not in (".csv", ".gz") or (size := _csv_size(path)) <= _ROLES_PART_BYTES:
        return None
    names = _csv_names(path)
    return (names, size) if all(c in names for c in REQUIRED["roles"]) else None


def import_frames(
    store: Store,
    frames: Mapping[str, pd.DataFrame],
    source_names: Mapping[str, str] | None = None,
    *,
    progress: bool = False,
    batch_size: int = 50_000,
) -> ImportReport:
    """Import DataFrames in the file format (keys are kinds); ``source_names`` name them in the report."""
    unknown = set(frames) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds: {', '.join(sorted(unknown))}")
    report = ImportReport()
    importer = _Importer(store, report, progress, batch_size)
    names = source_names or {}
    for kind in KINDS:
        if kind in frames:
            frame = frames[kind]
            started = time.perf_counter()
            normal = _normalise(frame, kind, np.arange(len(frame), dtype=np.int64) + 2)
            with collector_paused():
                importer.run(_Source(kind, names.get(kind, f"{kind}.csv"), normal, []))
            report.seconds[kind] = time.perf_counter() - started
    return report


# -- export ------------------------------------------------------------------------------------------
def _node_attrs(store: Store, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    keys = list(dict.fromkeys(keys))
    persons = [k for k in keys if is_person_key(k)]
    orgs = [k for k in keys if not is_person_key(k)]
    out: dict[str, dict[str, Any]] = {}
    for o in store.get_organisations(orgs).values():
        out[o.code] = _org_attrs(o)
    for p in store.get_persons(persons).values():
        out[p.key] = _person_attrs(p)
    return out


def _org_attrs(o: Organisation) -> dict[str, Any]:
    return {
        "kind": "organisation",
        "name": o.name,
        "org_type": o.org_type,
        "region": o.region,
        "industry": o.industry,
        "registered_on": o.registered_on,
        "deregistered_on": o.deregistered_on,
    }


def _person_attrs(p: Person) -> dict[str, Any]:
    return {"kind": "person", "name": p.name, "masked": p.masked_id, "region": p.region}


def _add_edge(g: nx.MultiDiGraph, e: RoleEdge) -> None:
    g.add_edge(
        e.holder,
        e.org,
        key=e.edge_id,
        role=e.role.value,
        valid_from=e.valid_from,
        valid_to=e.valid_to,
        ratio=e.ratio,
        subscribed_capital=e.subscribed_capital,
        title=e.title,
    )


def to_networkx(
    store: Store, nodes: Sequence[str] | None = None, as_of: date | None = None, depth: int = 1
) -> nx.MultiDiGraph:
    """The responsibility graph as a networkx MultiDiGraph: holder -> organisation edges keyed by
    ``edge_id`` (role, valid_from, valid_to, ratio, subscribed_capital, title); nodes carry ``kind``,
    ``name`` and, for persons, only the ``masked`` ID number. With ``nodes`` (USCCs, ID numbers or
    person keys), the ``depth``-hop neighbourhood; with ``as_of``, only edges in force that day."""
    import networkx as nx

    g = nx.MultiDiGraph()
    if nodes is None:
        for o in store.iter_organisations():
            g.add_node(o.code, **_org_attrs(o))
        for p in store.iter_persons():
            g.add_node(p.key, **_person_attrs(p))
        for e in store.iter_roles():
            if as_of is None or e.active_on(as_of):
                _add_edge(g, e)
        return g
    seen = {ids.subject_key(n) for n in nodes}
    frontier = set(seen)
    for _ in range(max(0, depth)):
        if not frontier:
            break
        nxt: set[str] = set()
        for e in store.roles_of(sorted(frontier), "both", as_of):
            _add_edge(g, e)
            nxt.update((e.holder, e.org))
        frontier = nxt - seen
        seen |= nxt
    for key, attrs in _node_attrs(store, seen).items():
        g.add_node(key, **attrs)
    g.add_nodes_from(seen)  # keys not stored stay as bare nodes
    return g


def _date_series(values: list[date | None]) -> pd.Series:
    # datetime64[s] holds any ISO date (years 1-9999), unlike the default nanosecond unit.
    arr = np.array(
        [np.datetime64(v, "D") if v is not None else np.datetime64("NaT") for v in values],
        dtype="datetime64[D]",
    )
    return pd.Series(arr.astype("datetime64[s]"))


def _frame(
    rows: list[tuple[Any, ...]], columns: Sequence[str], date_cols: Iterable[str] = ()
) -> pd.DataFrame:
    df = (
        pd.DataFrame.from_records(rows, columns=list(columns))
        if rows
        else pd.DataFrame(columns=list(columns))
    )
    for c in date_cols:
        df[c] = _date_series(df[c].tolist()) if len(df) else pd.Series([], dtype="datetime64[s]")
    return df


def to_frames(store: Store, as_of: date | None = None) -> dict[str, pd.DataFrame]:
    """Everything stored, as DataFrames with date columns as ``datetime64[s]``. Persons carry only the
    pseudonymous key and the masked ID number. With ``as_of``: role edges, list entries and facts in
    force that day, records decided and honours awarded on or before it."""

    def in_force(a: date | None, b: date | None) -> bool:
        return as_of is None or ((a is None or a <= as_of) and (b is None or as_of < b))

    out = {
        "organisations": _frame(
            [
                (o.code, o.name, o.org_type, o.region, o.industry, o.registered_on, o.deregistered_on)
                for o in store.iter_organisations()
            ],
            COLUMNS["organisations"],
            ("registered_on", "deregistered_on"),
        ),
        "persons": _frame(
            [(p.key, p.masked_id, p.name, p.region) for p in store.iter_persons()],
            ("key", "masked_id", "name", "region"),
        ),
        "roles": _frame(
            [
                (
                    e.edge_id,
                    e.holder,
                    "person" if is_person_key(e.holder) else "organisation",
                    e.role.value,
                    e.org,
                    e.valid_from,
                    e.valid_to,
                    e.ratio,
                    e.subscribed_capital,
                    e.title,
                )
                for e in store.iter_roles()
                if in_force(e.valid_from, e.valid_to)
            ],
            (
                "edge_id",
                "holder",
                "holder_kind",
                "role",
                "org",
                "valid_from",
                "valid_to",
                "ratio",
                "subscribed_capital",
                "title",
            ),
            ("valid_from", "valid_to"),
        ),
        "records": _frame(
            [
                (
                    r.record_id,
                    r.subject,
                    r.category,
                    r.severity,
                    r.act_date,
                    r.decision_date,
                    r.document_no,
                    r.department,
                    r.basis,
                    r.period_end,
                    ";".join(f"{x.person}:{x.role.value}" if x.role else x.person for x in r.responsible),
                    r.jurisdiction,
                )
                for r in store.iter_records()
                if as_of is None or r.decision_date <= as_of
            ],
            (
                "record_id",
                "subject",
                "category",
                "severity",
                "act_date",
                "decision_date",
                "document_no",
                "department",
                "basis",
                "period_end",
                "responsible",
                "jurisdiction",
            ),
            ("act_date", "decision_date", "period_end"),
        ),
        "honours": _frame(
            [
                (h.honour_id, h.holder, h.title, h.awarding_body, h.awarded_on)
                for h in store.iter_honours()
                if as_of is None or h.awarded_on <= as_of
            ],
            ("honour_id", "holder", "title", "awarding_body", "awarded_on"),
            ("awarded_on",),
        ),
        "list_entries": _frame(
            [
                (
                    e.entry_id,
                    e.subject,
                    e.list,
                    e.name,
                    e.determining_unit,
                    e.basis,
                    e.valid_from,
                    e.valid_to,
                    e.publicity_from,
                    e.publicity_to,
                    e.status,
                )
                for e in store.iter_list_entries()
                if in_force(e.valid_from, e.valid_to)
            ],
            (
                "entry_id",
                "subject",
                "list",
                "name",
                "determining_unit",
                "basis",
                "valid_from",
                "valid_to",
                "publicity_from",
                "publicity_to",
                "status",
            ),
            ("valid_from", "valid_to", "publicity_from", "publicity_to"),
        ),
        "facts": _frame(
            [
                (
                    f.fact_id,
                    str(f.cause),
                    f.rule_id,
                    f.rule_version,
                    f.consequence,
                    f.target,
                    f.target_role,
                    f.valid_from,
                    f.valid_to,
                    ";".join(f.basis),
                    f.edge_id,
                    f.edge_from,
                    f.edge_to,
                    f.object_id,
                    f.ended_by,
                    f.jurisdiction,
                )
                for f in store.iter_facts()
                if in_force(f.valid_from, f.valid_to)
            ],
            (
                "fact_id",
                "cause",
                "rule_id",
                "rule_version",
                "consequence",
                "target",
                "target_role",
                "valid_from",
                "valid_to",
                "basis",
                "edge_id",
                "edge_from",
                "edge_to",
                "object_id",
                "ended_by",
                "jurisdiction",
            ),
            ("valid_from", "valid_to", "edge_from", "edge_to"),
        ),
    }
    return out


# neo4j-admin files: (file, labels given on the command line or None for a :LABEL column, header).
# Property names are the ones the Neo4j store writes (graph_credit.store.neo4j); every value is a
# string as the store keeps it (ISO dates, JSON text) but ratio / subscribed_capital (float) and a
# journal row's seq (long). The :ID columns put every subject in one ID space, Subject, so a role
# edge's ends are found whether a person or an organisation holds it.
_NEO4J_ID = {"Subject": "id:ID(Subject)"}


def _neo4j_field(v: Any) -> str:
    """One CSV field as neo4j-admin reads it: None is an empty unquoted field (no property); every
    string, the empty one too, is quoted (an empty string stays an empty string, since the import
    runs with --ignore-empty-strings=false); a quote inside is doubled."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return '"' + str(v).replace('"', '""') + '"'


def export_neo4j_admin(store: Store, out_dir: str | Path, database: str = "neo4j") -> dict[str, int]:
    """Write ``neo4j-admin database import full`` CSV files that load into the graph the Neo4j store
    reads (graph_credit.store.neo4j): ``:Subject:Organisation`` and ``:Subject:Person`` nodes with an
    ``id`` property, ``:Placeholder`` subjects for role ends with no subject stored (so no
    relationship dangles and none is skipped), one relationship type per role, and every other kind
    (records, events, honours, list entries, derived facts, the journal) as the nodes the store
    keeps them in. Values are the store's own (ISO date strings, JSON text), empty strings kept apart
    from missing values. Persons are exported by pseudonymous key and masked ID number only: no
    name, no region. ``import.sh`` holds the command; ``graph-credit init-schema`` then adds the
    constraints and indexes. Returns the rows written per file."""
    import json

    from ..store.base import JOURNAL_TABLES
    from ..store.neo4j import store as shape  # the property names and values the Neo4j store writes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    multiline = False
    nodes: list[str] = []

    def write(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], labels: str | None = None) -> None:
        nonlocal multiline
        n = 0
        with open(out / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
            fh.write(",".join(header) + "\n")
            for row in rows:
                cells = [_neo4j_field(v) for v in row]
                multiline = multiline or any("\n" in c or "\r" in c for c in cells)
                fh.write(",".join(cells) + "\n")
                n += 1
        counts[name] = n
        if labels is not None:
            nodes.append(f"--nodes={labels}={name}.csv" if labels else f"--nodes={name}.csv")

    def typed(column: str) -> str:
        return f"{column}:float" if column in ("ratio", "subscribed_capital") else column

    subjects: set[str] = set()

    def orgs() -> Iterator[list[Any]]:
        for o in store.iter_organisations():
            subjects.add(o.code)
            props = shape._org_props(o)
            yield [o.code, *(props[c] for c in shape.ORG_COLUMNS)]

    def persons() -> Iterator[list[Any]]:
        for p in store.iter_persons():
            subjects.add(p.key)
            yield [p.key, p.key, p.masked_id]

    write("organisations", [_NEO4J_ID["Subject"], *shape.ORG_COLUMNS], orgs(), "Subject:Organisation")
    write("persons", [_NEO4J_ID["Subject"], "key", "masked_id"], persons(), "Subject:Person")

    placeholders: dict[str, None] = {}

    def roles() -> Iterator[list[Any]]:
        for e in store.iter_roles():
            for end in (e.holder, e.org):
                if end not in subjects:
                    placeholders[end] = None
            flat = shape._role_flat(e)
            yield [e.holder, e.org, flat["role"], *(flat[c] for c in shape.ROLE_COLUMNS)]

    write("roles", [":START_ID(Subject)", ":END_ID(Subject)", ":TYPE", *map(typed, shape.ROLE_COLUMNS)], roles())
    # As subjects_ensure makes them: labelled by the shape of the key, holding it as key or code.
    write(
        "placeholders",
        [_NEO4J_ID["Subject"], ":LABEL", "key", "code"],
        (
            [k, "Subject;Person;Placeholder", k, None] if is_person_key(k) else
            [k, "Subject;Organisation;Placeholder", None, k]
            for k in placeholders
        ),
        "",
    )
    records = list(store.iter_records())
    entries = list(store.iter_list_entries())
    kinds: list[tuple[str, str, Sequence[str], Iterable[dict[str, Any]]]] = [
        ("records", "DishonestyRecord", shape.RECORD_COLUMNS, map(shape._record_props, records)),
        ("honours", "Honour", shape.HONOUR_COLUMNS, map(shape._honour_props, store.iter_honours())),
        ("list_entries", "ListEntry", shape.LIST_COLUMNS, map(shape._list_props, entries)),
        ("facts", "DerivedFact", shape.FACT_COLUMNS, map(shape._fact_props, store.iter_facts())),
    ]
    causes = [r.record_id for r in records] + [e.entry_id for e in entries]
    events = (e for i in range(0, len(causes), 10_000) for e in store.events_of(causes[i : i + 10_000]))
    kinds.insert(1, ("events", "RecordEvent", shape.EVENT_COLUMNS, map(shape._event_props, events)))
    for name, label, columns, rows in kinds:
        header = [f"{columns[0]}:ID({label})", *columns[1:]]
        write(name, header, ([row[c] for c in columns] for row in rows), label)

    def journal() -> Iterator[list[Any]]:
        for table in JOURNAL_TABLES:
            for seq, row in enumerate(store.query(table), start=1):  # oldest first, as the store orders them
                doc = json.dumps(row, ensure_ascii=False, default=str)
                yield [f"{table}/{row['id']}", table, str(row["id"]), seq, doc]

    write("journal", [":ID(Journal)", "tbl", "id", "seq:long", "doc"], journal(), "Journal")
    args = ['"$DATABASE"', "--id-type=string", "--ignore-empty-strings=false", *nodes, "--relationships=roles.csv"]
    if multiline:
        args.append("--multiline-fields=true")
    script = (
        "#!/bin/sh\n"
        "# Generated by graph-credit: load these files into a new, empty Neo4j database.\n"
        "# Stop the database first; add --overwrite-destination to replace an existing one. Then start\n"
        "# it and run `graph-credit init-schema --store neo4j://...` once for its constraints and indexes.\n"
        "set -eu\n"
        'cd "$(dirname "$0")"\n'
        f'DATABASE="${{1:-{database}}}"\n'
        '"${NEO4J_HOME:+$NEO4J_HOME/bin/}neo4j-admin" database import full \\\n  '
        + " \\\n  ".join(args)
        + "\n"
    )
    path = out / "import.sh"
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)
    return counts
