"""Reading import files: CSV (UTF-8, BOM tolerated, ``.csv`` or ``.csv.gz``) or Parquet, one per kind,
into text columns with their source line numbers; a large roles CSV is spilled into parts on disk.
"""

from __future__ import annotations

import csv
import io as _io
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ..errors import DomainError
from .format import _ROLES_PART_BYTES, COLUMNS, KINDS, NUMERIC, RowError, _Source
from .validate import _mask_text, _resolve_distinct

# -- reading ---------------------------------------------------------------------------------------

def find_import_files(directory: Path) -> dict[str, Path]:
    """The import file of each kind in ``directory``; a DomainError naming ``source`` when there is none."""
    if not directory.is_dir():
        raise DomainError(f"{directory} is not a directory", field="source")
    found: dict[str, Path] = {}
    for kind in KINDS:
        candidates = [
            p for ext in (".csv", ".csv.gz", ".parquet") if (p := directory / f"{kind}{ext}").exists()
        ]
        if len(candidates) > 1:
            raise DomainError(f"more than one file for {kind}: {', '.join(p.name for p in candidates)}",
                              field="source")
        if candidates:
            found[kind] = candidates[0]
    if not found:
        raise DomainError(f"no import files in {directory} (expected e.g. organisations.csv)", field="source")
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
    records = np.arange(2, n_rows + len(bad_records) + 2)
    if len(bad_records):  # setdiff1d sorts: a tenth of a 10^6 roles import when nothing is skipped
        records = np.setdiff1d(records, bad_records)[:n_rows]
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
                # One take into part order (stable: file order within a part), then a slice per
                # part: a filter per part read the whole block once per part (150 parts at 10^7).
                order = np.argsort(part, kind="stable")
                batch = batch.take(pa.array(order))
                bounds = np.searchsorted(part[order], np.arange(self.n_parts + 1))
                for k in np.flatnonzero(np.diff(bounds)).tolist():
                    if k not in writers:
                        writers[k] = pa.ipc.new_stream(str(self._files[k]), batch.schema)
                    writers[k].write_batch(batch.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k])))
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
        trimmed = pc.utf8_trim_whitespace(arr)  # kept only if it removed something (else: as read)
        if pc.sum(pc.binary_length(trimmed)).as_py() != pc.sum(pc.binary_length(arr)).as_py():
            arr = trimmed
        out[name] = pd.Series(pd.arrays.ArrowExtensionArray(arr))
    df = pd.DataFrame(
        {k: (v if isinstance(v, np.ndarray) else v.array) for k, v in out.items()},
        index=pd.RangeIndex(len(frame)),
    )
    df["_line"] = np.asarray(lines, dtype=np.int64)
    return df
