"""Role edges in immutable columnar segments beside the database (the base of an LSM shape).

A bulk load (``SQLiteStore.load_roles``) writes each batch as one segment: a directory
``<db>.roles/seg-<seq>/`` holding ``rows.arrow`` (an uncompressed Arrow IPC file, memory-mapped when
read; the roles table's columns, ``vt`` 0 for an open end, ``ratio``/``cap`` NaN when absent), fsynced
with its directory before it is registered in ``role_segments`` in the transaction that commits the
batch. A directory that is not registered (a load killed between the write and the commit) is
removed when the store opens. After a load the segments are merged into one, sorted by
organisation, with sorted lookup arrays (edge id, holder, organisation: fixed-width bytes and row
positions, ``.npy``) beside it, so reads are binary searches on mapped arrays.

The roles table is the delta: a row there, or an id in ``role_tombstones``, hides a segment's
version of that edge; so does a newer segment's version. What a reader sees is exactly: the table
rows, plus each segment's rows hidden by none of those.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import DomainError
from ..base import RoleColumns
from .schema import _CHUNK, _ROLES

_SCHEMA = pa.schema([
    ("eid", pa.large_string()), ("holder", pa.large_string()), ("role", pa.int8()), ("org", pa.large_string()),
    ("vf", pa.int32()), ("vt", pa.int32()), ("ratio", pa.float64()), ("cap", pa.float64()),
    ("title", pa.large_string()),
])
_ROLE_VALUES = pa.array([r.value for r in _ROLES], pa.string())
_LOOKUPS = ("eid", "holder", "org")
_TEXT = ("eid", "holder", "org", "title")  # a segment's string columns, in the order tuples reads them
# Up to this many merged segments, the rows newer ones hide are found pair by pair in their sorted id
# lookups (about n/2 searches per row for n segments); more are ordered together (visible_masks).
_PAIRWISE = 4


class SegmentError(DomainError):
    """A registered segment is missing or unreadable: the store cannot answer for its roles."""

    code, status = "store_corrupt", 500


def directory_of(db_path: str) -> Path:
    return Path(db_path + ".roles")


def copy_store(src: str | Path, dst: str | Path) -> None:
    """Copy a closed SQLite store: the database file and its role segments (the graph index beside
    it is a cache, rebuilt on first use)."""
    shutil.copyfile(src, dst)
    if directory_of(str(src)).is_dir():
        shutil.copytree(directory_of(str(src)), directory_of(str(dst)), dirs_exist_ok=True)


def db_file(con: sqlite3.Connection) -> str:
    """The main database file of ``con`` ('' for an in-memory database)."""
    return next(str(r[2]) for r in con.execute("PRAGMA database_list") if r[1] == "main")


def strings(column: Any) -> pa.Array:
    """A string column as one Arrow array, from a Python sequence or an Arrow (chunked) array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if not isinstance(column, pa.Array):
        column = pa.array(column, pa.large_string())
    return column.cast(pa.large_string())


def _arrow(column: Any) -> bool:
    return isinstance(column, pa.Array | pa.ChunkedArray)


def table_of(batch: RoleColumns) -> pa.Table:
    """A load batch as a segment's columns (role names to codes, open ends to 0), validated."""
    roles = strings(batch.role)
    code = pc.index_in(roles, value_set=_ROLE_VALUES)
    if code.null_count:
        bad = roles.filter(pc.is_null(code))[0].as_py()
        raise DomainError(f"unknown role {bad!r}", field="role")
    cols = [strings(batch.edge_id), strings(batch.holder), code.cast(pa.int8()), strings(batch.org),
            pa.array(np.asarray(batch.valid_from, dtype=np.int32)),
            pa.array(np.maximum(np.asarray(batch.valid_to, dtype=np.int64), 0).astype(np.int32)),
            pa.array(np.asarray(batch.ratio, dtype=np.float64)),
            pa.array(np.asarray(batch.subscribed_capital, dtype=np.float64)), strings(batch.title)]
    for name, col in zip(("eid", "holder", "org", "title"), (cols[0], cols[1], cols[3], cols[8]), strict=True):
        if col.null_count:
            raise DomainError("a value is missing", field=name)
    table = pa.Table.from_arrays(cols, schema=_SCHEMA)
    if pc.count_distinct(cols[0]).as_py() < len(table):  # an id repeated in the batch: the last one wins
        last = table.append_column("_i", pa.array(np.arange(len(table)))).group_by("eid").aggregate([("_i", "max")])
        table = table.take(np.sort(last.column("_i_max").to_numpy()))
    return table


def fixed_width(column: Any, width: int | None = None) -> np.ndarray:
    """Arrow strings as numpy fixed-width bytes (binary search needs a fixed width), without a
    Python object per value: the bytes are scattered into an (n, width) array."""
    arr = strings(column)
    if not len(arr):
        return np.zeros(0, dtype=f"S{max(width or 1, 1)}")
    if pc.all(pc.string_is_ascii(arr)).as_py():  # pad with NUL bytes in Arrow: one buffer, viewed in place
        w = max(int(pc.max(pc.utf8_length(arr)).as_py()), width or 1, 1)
        padded = pc.utf8_rpad(arr, w, padding="\x00").cast(pa.large_binary())
        start = int(np.frombuffer(padded.buffers()[1], dtype=np.int64)[padded.offset])
        return np.frombuffer(padded.buffers()[2], dtype=f"S{w}", count=len(arr), offset=start)
    arr = arr.cast(pa.large_binary())
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    lengths = np.diff(offsets)
    w = max(int(lengths.max()) if n else 1, width or 1, 1)
    out = np.zeros((n, w), dtype=np.uint8)
    total = int(offsets[-1] - offsets[0]) if n else 0
    if total:
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        row = np.repeat(np.arange(n, dtype=np.int64), lengths)
        col = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1] - offsets[0], lengths)
        out[row, col] = data
    return out.view(f"S{w}").reshape(n)


class Segment:
    """One registered segment, memory-mapped; its lookups mapped from disk or, for a batch segment
    not merged yet, sorted in memory on first use. A merged segment holds one record batch per
    organisation range of its merge: rows are read chunk by chunk, never concatenated."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        try:
            self.table = pa.ipc.open_file(pa.memory_map(str(path / "rows.arrow"))).read_all()
            if self.table.schema != _SCHEMA:
                raise ValueError("unexpected columns")
        except (OSError, ValueError, pa.ArrowInvalid) as exc:
            raise SegmentError(f"role segment {path / 'rows.arrow'} is missing or unreadable ({exc}); "
                               "restore it from a backup or re-import the roles") from exc
        self.rows = self.table.num_rows
        self.batches = self.table.to_batches()
        self.starts = np.cumsum([0] + [b.num_rows for b in self.batches]).astype(np.int64)
        self.merged = (path / "eid.keys.npy").exists()
        self._lookups: dict[str, Lookup] = {}
        self._cols: dict[str, list[Any]] | None = None
        self._texts = [b.select(list(_TEXT)) for b in self.batches]  # the string columns, per chunk
        self._shadowed: dict[tuple[str, ...], np.ndarray] = {}  # see shadowed

    def shadowed(self, newer: list[Segment]) -> np.ndarray:
        """The rows (ascending) of this merged segment whose id one of the ``newer`` merged segments
        holds, kept per list of newer segments (segments never change). Each newer segment's sorted
        ids are read into memory one at a time and this segment's searched in them a slice at a time:
        read, not mapped, so the pages do not stay resident in this process."""
        names = tuple(seg.name for seg in newer)
        found = self._shadowed.get(names)
        if found is None:
            parts = []
            for seg in newer:
                theirs = np.load(seg.path / "eid.keys.npy")
                if not len(theirs):
                    continue
                width = f"S{max(theirs.itemsize, self.lookup('eid').keys.itemsize)}"
                theirs = theirs.astype(width, copy=False)
                at = 0
                for mine in _npy_slices(self.path / "eid.keys.npy"):
                    probe = mine.astype(width, copy=False)
                    k = np.minimum(np.searchsorted(theirs, probe), len(theirs) - 1)
                    parts.append(np.flatnonzero(theirs[k] == probe) + at)
                    at += len(mine)
                del theirs
            pos = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
            rows = self.lookup("eid").rows
            found = np.sort(np.asarray(rows[pos], dtype=np.int64)) if rows is not None else pos.astype(np.int64)
            self._shadowed = {names: found}  # only the newest list of newer segments is asked again
        return found

    def shadowed_known(self, newer: list[Segment]) -> np.ndarray | None:
        """``shadowed(newer)`` when a reader has already found it (else None: the caller probes)."""
        return self._shadowed.get(tuple(seg.name for seg in newer)) if newer else np.zeros(0, dtype=np.int64)

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def lookup(self, kind: str) -> Lookup:
        """The lookup of column ``kind``: mapped from the merged segment's files or, for a batch
        segment not merged yet, built in memory on first use."""
        found = self._lookups.get(kind)
        if found is None:
            try:
                arrays = {part: np.load(self.path / f"{kind}.{part}.npy", mmap_mode="r").view(np.ndarray)
                          for part in ("keys", "ptr", "rows") if (self.path / f"{kind}.{part}.npy").exists()}
            except (OSError, ValueError) as exc:
                raise SegmentError(f"role segment lookup {self.path / kind}.*.npy is unreadable ({exc})") from exc
            found = Lookup(arrays["keys"], arrays.get("ptr"), arrays.get("rows")) if arrays else \
                Lookup.of(self.column(kind))
            self._lookups[kind] = found
        return found

    def find(self, kind: str, keys: Sequence[str] | np.ndarray) -> np.ndarray:
        """Rows whose ``kind`` column is one of ``keys`` (strings, or fixed-width bytes), ascending."""
        look = self.lookup(kind)
        if not len(look.keys) or not len(keys):
            return np.zeros(0, dtype=np.int64)
        return look.rows_of(keys if isinstance(keys, np.ndarray) else _encoded(keys))

    def find_fixed(self, kind: str, wanted: np.ndarray) -> np.ndarray:
        return self.lookup(kind).rows_of(wanted)

    def eids(self, rows: np.ndarray) -> list[str]:
        return self.texts("eid", rows)

    def texts(self, kind: str, rows: np.ndarray) -> list[Any]:
        """The values of string column ``kind`` at ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        return self._take_text(self._columns()[kind], self._split(rows), len(rows))

    def in_force(self, rows: np.ndarray, day: int) -> np.ndarray:
        """Those of ``rows`` whose edge is in force on day ordinal ``day`` (``vt`` 0: open)."""
        parts = self._split(rows)
        cols = self._columns()
        vf, vt = self._take_numbers(cols["vf"], parts, len(rows)), self._take_numbers(cols["vt"], parts, len(rows))
        return rows[(vf <= day) & ((vt == 0) | (vt > day))]

    def _split(self, rows: np.ndarray) -> list[tuple[int, np.ndarray | None, np.ndarray]]:
        """(chunk, positions in ``rows`` or None for all of them, rows within the chunk) for each
        chunk ``rows`` touch: computed once per read, used for every column."""
        if len(self.batches) == 1:
            return [(0, None, rows)]
        if not len(rows):
            return [(0, None, rows)]
        chunk = np.searchsorted(self.starts, rows, side="right") - 1
        if (chunk == chunk[0]).all():
            return [(int(chunk[0]), None, rows - self.starts[chunk[0]])]
        out: list[tuple[int, np.ndarray | None, np.ndarray]] = []
        for c in np.unique(chunk).tolist():
            at = np.flatnonzero(chunk == c)
            out.append((c, at, rows[at] - self.starts[c]))
        return out

    @staticmethod
    def _take_text(chunks: list[Any], parts: list[tuple[int, np.ndarray | None, np.ndarray]], n: int) -> list[Any]:
        """Strings at the rows of ``parts``: a run of consecutive rows (an organisation's edges in a
        merged segment) as one slice, else an Arrow ``take``."""
        res: list[Any] = [None] * n
        for c, at, local in parts:
            if not len(local):
                continue
            if len(local) == 1 or (np.diff(local) == 1).all():
                values = chunks[c].slice(int(local[0]), len(local)).to_pylist()
            else:
                values = chunks[c].take(pa.array(local, pa.int64())).to_pylist()
            if at is None:
                return values
            for i, v in zip(at.tolist(), values, strict=True):
                res[i] = v
        return res

    @staticmethod
    def _take_numbers(chunks: list[np.ndarray], parts: list[tuple[int, np.ndarray | None, np.ndarray]],
                      n: int) -> np.ndarray:
        if len(parts) == 1 and parts[0][1] is None:
            return chunks[parts[0][0]][parts[0][2]]
        out = np.empty(n, dtype=chunks[0].dtype)
        for c, at, local in parts:
            out[at] = chunks[c][local]
        return out

    def tuples(self, rows: np.ndarray, eids: list[str] | None = None) -> list[tuple[Any, ...]]:
        """Rows in the roles table's layout (``vt`` None for open, ``ratio``/``cap`` None if absent);
        ``eids``: their edge ids when the caller has read them. Numbers come from the mapped columns
        as numpy views; the strings of a chunk in one Arrow call (a slice for consecutive rows, else
        one ``take`` of the four string columns)."""
        cols = self._columns()
        rows = np.asarray(rows, dtype=np.int64)
        n = len(rows)
        parts = self._split(rows)
        text: list[list[Any]] = [[None] * n for _ in _TEXT]
        for c, at, local in parts:
            if not len(local):
                continue
            strs = self._texts[c]
            if len(local) == 1 or (np.diff(local) == 1).all():
                got = strs.slice(int(local[0]), len(local))
            else:
                got = strs.take(pa.array(local, pa.int64()))
            for k in range(len(_TEXT)):
                if k == 0 and eids is not None:
                    continue
                values = got.column(k).to_pylist()
                if at is None:
                    text[k] = values
                else:
                    for i, v in zip(at.tolist(), values, strict=True):
                        text[k][i] = v
        num = {k: self._take_numbers(cols[k], parts, n).tolist() for k in ("role", "vf", "vt", "ratio", "cap")}
        vt = [v or None for v in num["vt"]]
        ratio = [None if q != q else q for q in num["ratio"]]
        cap = [None if c != c else c for c in num["cap"]]
        return list(zip(text[0] if eids is None else eids, text[1], num["role"], text[2], num["vf"], vt, ratio, cap,
                        text[3], strict=True))

    def _columns(self) -> dict[str, list[Any]]:
        found = self._cols
        if found is None:
            found = {name: [b.column(name) for b in self.batches] for name in ("eid", "holder", "org", "title")}
            found |= {name: [np.asarray(b.column(name).to_numpy(zero_copy_only=False)) for b in self.batches]
                      for name in ("role", "vf", "vt", "ratio", "cap")}
            self._cols = found
        return found


class Lookup:
    """Rows by the value of one column: the distinct values sorted (fixed-width bytes), the rows of
    value ``i`` at ``ptr[i]:ptr[i+1]`` of ``rows`` (``ptr`` None: one row per value; ``rows`` None:
    the rows are in value order)."""

    __slots__ = ("keys", "ptr", "rows")

    def __init__(self, keys: np.ndarray, ptr: np.ndarray | None, rows: np.ndarray | None) -> None:
        self.keys, self.ptr, self.rows = keys, ptr, rows

    @classmethod
    def of(cls, column: Any) -> Lookup:
        """Built with Arrow's hash and sort kernels and an integer sort: no Python object per row."""
        values = strings(column)
        distinct = pc.unique(values)
        distinct = distinct.take(pc.sort_indices(distinct))
        rank = np.asarray(pc.index_in(values, value_set=distinct).to_numpy(), dtype=np.int64)
        ptr = np.zeros(len(distinct) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rank, minlength=len(distinct)), out=ptr[1:])
        rows = np.argsort(rank, kind="stable")
        ordered = bool((rows == np.arange(len(rows))).all())
        return cls(fixed_width(distinct), None if len(distinct) == len(values) else ptr, None if ordered else rows)

    def save(self, path: Path, kind: str) -> list[Path]:
        out = []
        for part in ("keys", "ptr", "rows"):
            value = getattr(self, part)
            if value is not None:
                out.append(path / f"{kind}.{part}.npy")
                np.save(out[-1], value, allow_pickle=False)
        return out

    def holds(self, wanted: np.ndarray) -> np.ndarray:
        """Per value of ``wanted`` (fixed-width bytes): whether it is a key."""
        keys = self.keys
        if not len(keys) or not len(wanted):
            return np.zeros(len(wanted), dtype=bool)
        fits = np.char.str_len(wanted) <= keys.itemsize if wanted.itemsize > keys.itemsize else None
        probe = wanted.astype(keys.dtype)
        at = np.minimum(np.searchsorted(keys, probe), len(keys) - 1)
        out = np.asarray(keys[at] == probe)
        return out if fits is None else out & fits

    def rows_of(self, wanted: np.ndarray) -> np.ndarray:
        """Rows whose value is one of ``wanted`` (fixed-width bytes), ascending."""
        keys = self.keys
        if not len(keys) or not len(wanted):
            return np.zeros(0, dtype=np.int64)
        if wanted.itemsize > keys.itemsize:  # longer values cannot be there
            wanted = wanted[np.char.str_len(wanted) <= keys.itemsize]
        wanted = wanted.astype(keys.dtype)
        if len(wanted) == 1:  # one key (an organisation's roles): scalar steps, a handful of numpy calls
            k = min(int(keys.searchsorted(wanted[0])), len(keys) - 1)
            if keys[k] != wanted[0]:
                return np.zeros(0, dtype=np.int64)
            first, end = (k, k + 1) if self.ptr is None else (int(self.ptr[k]), int(self.ptr[k + 1]))
            return np.arange(first, end, dtype=np.int64) if self.rows is None else np.sort(self.rows[first:end])
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        at = at[keys[at] == wanted]
        if self.ptr is None:
            lo, n = at, np.ones(len(at), dtype=np.int64)
        else:
            lo = np.asarray(self.ptr[at], dtype=np.int64)
            n = np.asarray(self.ptr[at + 1], dtype=np.int64) - lo
        if not n.any():
            return np.zeros(0, dtype=np.int64)
        pos = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        out = pos if self.rows is None else np.asarray(self.rows[pos], dtype=np.int64)
        return np.unique(out)


# -- the registry ------------------------------------------------------------------------------------
class Segments:
    """The segments of one database file; opened segments kept by name (they never change)."""

    def __init__(self, db_path: str) -> None:
        self.directory = directory_of(db_path)
        self._open: dict[str, Segment] = {}
        self._last: tuple[tuple[str, ...], tuple[Segment, ...]] = ((), ())  # the last registry read
        self.pass_rows = 1_000_000  # a merge's rows per organisation range: its memory, about 0.25 GB (2 M
        # put the 10^6 roles import 230 MiB over 2 GiB, for no CPU saved: 80.4 against 79.1 s)

    def registered(self, con: sqlite3.Connection) -> list[Segment]:
        """The segments registered in ``con``'s snapshot, oldest first."""
        return self.opened(tuple(r[0] for r in con.execute("SELECT name FROM role_segments ORDER BY seq")))

    def opened(self, names: tuple[str, ...]) -> list[Segment]:
        """The segments of these registered names, opened (each once per process: they never change)."""
        if names == self._last[0]:
            return list(self._last[1])
        out = []
        for name in names:
            seg = self._open.get(name)
            if seg is None:
                seg = self._open[name] = Segment(self.directory / name)
            out.append(seg)
        if len(self._open) > len(names):  # merged away: kept mapped while its files exist (an older snapshot)
            for gone in set(self._open) - set(names):
                if not (self.directory / gone).exists():
                    self._open.pop(gone, None)
        self._last = (names, tuple(out))
        return out

    def forget(self, paths: list[Path]) -> None:
        """Drop opened segments whose directories a rolled-back transaction wrote (their names may be
        written again with other rows)."""
        for path in paths:
            self._open.pop(path.name, None)
        self._last = ((), ())

    def remove_unregistered(self, con: sqlite3.Connection) -> list[str]:
        """Inside a write transaction: delete segment directories no commit registered (a load killed
        before its commit); a registered one that is missing is an error naming it."""
        names = {r[0] for r in con.execute("SELECT name FROM role_segments")}
        for name in sorted(names):
            if not (self.directory / name / "rows.arrow").is_file():
                raise SegmentError(f"role segment {self.directory / name / 'rows.arrow'} is registered but missing; "
                                   "restore it from a backup or re-import the roles")
        removed = []
        if self.directory.is_dir():
            for p in self.directory.iterdir():
                if p.name not in names:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                    removed.append(p.name)
        return removed

    def _new(self, con: sqlite3.Connection) -> tuple[int, str, Path]:
        seq = int(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM role_segments").fetchone()[0])
        name = f"seg-{seq:010d}"
        path = self.directory / name
        if path.exists():  # left by a rolled-back transaction of this process
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return seq, name, path

    def _register(self, con: sqlite3.Connection, seq: int, name: str, path: Path, rows: int,
                  files: list[Path]) -> None:
        for f in files:
            _fsync(f)
        _fsync(path)
        _fsync(self.directory)
        size = sum(f.stat().st_size for f in files)
        con.execute("INSERT INTO role_segments (seq, name, rows, bytes) VALUES (?, ?, ?, ?)",
                    (seq, name, rows, size))

    def write(self, con: sqlite3.Connection, table: pa.Table) -> Path:
        """Inside a write transaction: write ``table`` (a load batch) as the next segment, durably,
        and register it (the caller's commit makes it part of the store)."""
        seq, name, path = self._new(con)
        table = table.combine_chunks()
        files = [path / "rows.arrow"]
        with pa.OSFile(str(files[0]), "wb") as sink, pa.ipc.new_file(sink, _SCHEMA) as writer:
            writer.write_table(table, max_chunksize=max(table.num_rows, 1))
        self._register(con, seq, name, path, table.num_rows, files)
        return path

    def merge(self, con: sqlite3.Connection, segs: list[Segment], with_table: bool,
              progress: Callable[[str], None] | None = None) -> tuple[Path, int]:
        """Inside a write transaction: the visible rows of ``segs`` (and of the roles table, when
        folding it in) as the next segment, sorted by organisation, with its lookup arrays, durably
        registered. Memory-bounded: one pass per organisation range of about ``self.pass_rows`` rows
        gathers that range from every input, sorts it and appends it as one record batch; the
        lookups are built from fixed-width columns (about 60 bytes a row), never from the rows."""
        masks = visible_masks(con, segs)
        total = sum(int(m.sum()) for m in masks)
        table_rows = int(con.execute("SELECT count(*) FROM roles").fetchone()[0]) if with_table else 0
        bounds = _org_bounds(con, segs, masks, table_rows, (total + table_rows) // self.pass_rows + 1)
        width = {k: _width(con, segs, k, with_table) for k in _LOOKUPS}
        if progress:
            progress(f"writing one segment of {total + table_rows:,} edges with its lookups "
                     f"({len(bounds) + 1} organisation ranges)")
        seq, name, path = self._new(con)
        files = [path / "rows.arrow"]
        # The id and holder columns at fixed width, in files (written pass by pass, sorted at the end).
        rows = total + table_rows
        scratch = {k: np.lib.format.open_memmap(path / f"{k}.scratch.npy", mode="w+", dtype=f"S{width[k]}",
                                                shape=(rows,)) for k in ("eid", "holder")}
        org_keys: list[np.ndarray] = []
        org_starts: list[np.ndarray] = []
        written = 0
        with pa.OSFile(str(files[0]), "wb") as sink, pa.ipc.new_file(sink, _SCHEMA) as writer:
            for lo, hi in zip([None, *bounds], [*bounds, None], strict=True):
                parts = [_in_range(b, masks[i][int(seg.starts[j]) : int(seg.starts[j + 1])], lo, hi)
                         for i, seg in enumerate(segs) for j, b in enumerate(seg.batches)]
                tables = [pa.Table.from_batches([p]) for p in parts if p.num_rows]
                if with_table:
                    tables += list(_table_rows(con, lo, hi))
                if not tables:
                    continue
                part = pa.concat_tables(tables).combine_chunks()
                del tables, parts
                # By organisation: an integer sort of the fixed-width bytes (half of Arrow's string sort).
                org = fixed_width(part.column("org"), width["org"])
                order = order_fixed(org)
                part, org = part.take(order), org[order]
                writer.write_table(part, max_chunksize=max(part.num_rows, 1))
                starts = np.flatnonzero(np.concatenate([[True], org[1:] != org[:-1]]))
                org_keys.append(org[starts])
                org_starts.append(starts + written)
                for k in scratch:
                    scratch[k][written : written + part.num_rows] = fixed_width(part.column(k), width[k])
                written += part.num_rows
                del part, org
        org_look = Lookup(np.concatenate(org_keys) if org_keys else np.zeros(0, dtype=f"S{width['org']}"),
                          np.append(np.concatenate(org_starts) if org_starts else [], written).astype(np.int64), None)
        files += org_look.save(path, "org")
        del org_keys, org_starts, org_look
        if written != rows:
            raise RuntimeError(f"role segment merge: {written} rows written, {rows} expected")
        for kind, fixed in scratch.items():
            fixed.flush()
            files += _save_sorted(path, kind, fixed, order_fixed(fixed), runs=kind == "holder")
            del fixed
            (path / f"{kind}.scratch.npy").unlink()
        del scratch
        self._register(con, seq, name, path, written, files)
        return path, written


def _save_sorted(path: Path, kind: str, fixed: np.ndarray, order: np.ndarray, runs: bool,
                 step: int = 1 << 22) -> list[Path]:
    """A lookup's files from a column's fixed-width values and their sorted order, the sorted keys
    written a slice at a time (never a second copy of the column); ``runs``: values repeat, so the
    keys are the distinct values and ``ptr`` their first positions."""
    files = [path / f"{kind}.keys.npy", path / f"{kind}.rows.npy"]
    np.save(files[1], order, allow_pickle=False)
    if not runs:
        keys = np.lib.format.open_memmap(files[0], mode="w+", dtype=fixed.dtype, shape=(len(fixed),))
        for a in range(0, len(fixed), step):
            keys[a : a + step] = fixed[order[a : a + step]]
        keys.flush()
        del keys
        return files
    distinct: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    last = None
    for a in range(0, len(fixed), step):
        part = fixed[order[a : a + step]]
        new = np.concatenate([[last is None or part[0] != last], part[1:] != part[:-1]])
        at = np.flatnonzero(new)
        distinct.append(part[at])
        starts.append(at + a)
        last = part[-1]
    np.save(files[0], np.concatenate(distinct) if distinct else fixed[:0], allow_pickle=False)
    ptr = np.append(np.concatenate(starts) if starts else np.zeros(0, np.int64), len(fixed)).astype(np.int64)
    files.append(path / f"{kind}.ptr.npy")
    np.save(files[2], ptr, allow_pickle=False)
    return files


def _org_bounds(con: sqlite3.Connection, segs: list[Segment], masks: list[np.ndarray], table_rows: int,
                passes: int) -> list[str]:
    """Organisations splitting the visible rows into about ``passes`` ranges of equal size: the
    quantiles of a sample (every k-th visible row of each segment and of the table)."""
    if passes <= 1:
        return []
    step = max(1, (sum(int(m.sum()) for m in masks) + table_rows) // (passes * 64))
    sample: list[str] = []
    for seg, mask in zip(segs, masks, strict=True):
        rows = np.flatnonzero(mask)[::step]
        sample += seg.texts("org", rows)
    if table_rows:
        sample += [r[0] for r in con.execute("SELECT org FROM roles WHERE rowid % ? = 0", (step,))]
    sample.sort()
    return sorted({sample[len(sample) * k // passes] for k in range(1, passes)} - {sample[0]}) if sample else []


def _width(con: sqlite3.Connection, segs: list[Segment], kind: str, with_table: bool) -> int:
    """The longest value of column ``kind`` in bytes (a merged segment's fixed width)."""
    out = 1
    for seg in segs:
        for b in seg.batches:
            if b.num_rows:
                out = max(out, int(pc.max(pc.binary_length(b.column(kind))).as_py()))
    if with_table:
        got = con.execute(f"SELECT max(length(CAST({kind} AS BLOB))) FROM roles").fetchone()[0]  # noqa: S608
        out = max(out, int(got or 1))
    return out


def _in_range(batch: pa.RecordBatch, mask: np.ndarray, lo: str | None, hi: str | None) -> pa.RecordBatch:
    """The rows of ``batch`` that ``mask`` keeps whose organisation is in [lo, hi)."""
    keep = pa.array(mask)
    org = batch.column("org")
    if lo is not None:
        keep = pc.and_(keep, pc.greater_equal(org, pa.scalar(lo, org.type)))
    if hi is not None:
        keep = pc.and_(keep, pc.less(org, pa.scalar(hi, org.type)))
    return batch.filter(keep)


def _npy_slices(path: Path, step: int = 1 << 20) -> Iterator[np.ndarray]:
    """A one-dimensional ``.npy`` array read a slice at a time (by ``read``, not mapped)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                           else np.lib.format.read_array_header_2_0(f))
        left = int(shape[0]) if shape else 0
        while left:
            part = np.fromfile(f, dtype=dtype, count=min(step, left))
            left -= len(part)
            yield part


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- what readers see --------------------------------------------------------------------------------
def _in_table(con: sqlite3.Connection, eids: list[str]) -> set[str]:
    """Those of ``eids`` with a row in the roles table or a tombstone (both hide a segment's row)."""
    out: set[str] = set()
    for i in range(0, len(eids), _CHUNK):
        chunk = eids[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in con.execute(
            f"SELECT eid FROM roles WHERE eid IN ({marks}) UNION "  # noqa: S608 - placeholders only
            f"SELECT eid FROM role_tombstones WHERE eid IN ({marks})", [*chunk, *chunk]))
    return out


def lookup(con: sqlite3.Connection, segs: list[Segment], kinds: str | tuple[str, ...], keys: Sequence[str],
           day: int | None = None, hiding: frozenset[str] | None = None) -> list[tuple[Any, ...]]:
    """Visible segment rows whose column (``kinds``: one or several of eid, holder, org) is one of
    ``keys``, in force on day ordinal ``day`` when given (roles-table layout). A row found is hidden
    by the table or a tombstone (``hiding``: their ids in the caller's snapshot when it has them,
    else one query for every row found) or by a newer segment that holds its id (a segment holds an
    id once)."""
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    if not segs or not keys:
        return []
    wanted = _encoded(keys)
    found: list[tuple[int, list[tuple[Any, ...]]]] = []
    for i, seg in enumerate(segs):
        hits = [seg.find(kind, wanted) for kind in kinds]
        at = hits[0] if len(hits) == 1 else np.unique(np.concatenate(hits))
        if day is not None and len(at):
            at = seg.in_force(at, day)
        if len(at) and (known := seg.shadowed_known(segs[i + 1 :])) is not None:
            at = at[~np.isin(at, known)] if len(known) else at
        if len(at):
            found.append((i, seg.tuples(at)))  # a hidden row is rare: its tuple is dropped below
    if not found:
        return []
    if hiding is None:
        hiding = frozenset(_in_table(con, [r[0] for _, rows in found for r in rows]))
    out: list[tuple[Any, ...]] = []
    for i, rows in found:
        if hiding:
            rows = [r for r in rows if r[0] not in hiding]
        if i + 1 < len(segs) and rows and segs[i].shadowed_known(segs[i + 1 :]) is None:  # a newer version hides it
            fixed = _encoded([r[0] for r in rows])
            newer = np.zeros(len(rows), dtype=bool)
            for seg in segs[i + 1 :]:
                newer |= seg.lookup("eid").holds(fixed)
            if newer.any():
                rows = [r for r, h in zip(rows, newer.tolist(), strict=True) if not h]
        out += rows
    return out


def _encoded(keys: Sequence[str]) -> np.ndarray:
    """``keys`` as fixed-width bytes (the widest one's width; each lookup narrows them to its own)."""
    return np.array([k.encode() for k in keys], dtype=bytes)


def present(segs: list[Segment], eids: Sequence[str]) -> set[str]:
    """Those of ``eids`` that some segment holds (visible or not)."""
    out: set[str] = set()
    for seg in segs:
        out.update(seg.eids(seg.find("eid", eids)))
    return out


def find_hidden(segs: list[Segment]) -> bool:
    """Find (or recall) the rows newer segments hide, when ``segs`` are at most ``_PAIRWISE``
    merged segments (each holds an id once, so only newer ones hide its rows); False otherwise."""
    if len(segs) > _PAIRWISE or not all(seg.merged for seg in segs):
        return False
    for i, seg in enumerate(segs):
        seg.shadowed(segs[i + 1 :])
    return True


def visible_masks(con: sqlite3.Connection, segs: list[Segment]) -> list[np.ndarray]:
    """Per segment, which of its rows readers see: not hidden by the table, a tombstone, a newer
    segment or a later row of the same batch. Vectorised: the hiding ids are binary-searched in each
    segment's id lookup; several segments (or a batch not merged yet, which may repeat an id) are
    ordered together by an integer of their ids' first bytes, equal integers confirmed by the
    whole id, and of equal ids the last in (segment, row) order is kept."""
    masks = [np.ones(seg.rows, dtype=bool) for seg in segs]
    if not segs:
        return masks
    table_ids = [r[0] for r in con.execute("SELECT eid FROM roles UNION SELECT eid FROM role_tombstones")]
    if table_ids:
        hiding = fixed_width(pa.array(table_ids, pa.large_string()))
        for mask, seg in zip(masks, segs, strict=True):
            mask[seg.find_fixed("eid", hiding)] = False
    if find_hidden(segs):
        for i, (mask, seg) in enumerate(zip(masks, segs, strict=True)):
            mask[seg.shadowed(segs[i + 1 :])] = False
        return masks
    if len(segs) > 1 or not segs[0].merged:
        keys = [_first_key(fixed_width(b.column("eid"))) for seg in segs for b in seg.batches]
        if any(covered != 16 and len(k) for k, covered in keys):  # one kind of integer for every id
            keys = [_first_key(fixed_width(b.column("eid")), hex_digits=False) for seg in segs for b in seg.batches]
        first = np.concatenate([k for k, _ in keys]) if keys else np.zeros(0, dtype=np.uint64)
        del keys
        order = np.argsort(first, kind="stable")
        same = first[order[1:]] == first[order[:-1]]
        del first
        if same.any():  # the rows whose prefix another shares: ordered by their whole id, stably
            member = np.zeros(len(order), dtype=bool)
            member[1:] |= same
            member[:-1] |= same
            pos = np.flatnonzero(member)
            rows = order[pos]
            ids = _ids_at(segs, rows)
            within = order_fixed(ids)
            rows, ids = rows[within], ids[within]
            shadowed = rows[:-1][ids[:-1] == ids[1:]]  # an equal id follows: a later version
            every = np.concatenate(masks)
            every[shadowed] = False
            masks = np.split(every, np.cumsum([seg.rows for seg in segs])[:-1])
    return masks


def _ids_at(segs: list[Segment], rows: np.ndarray) -> np.ndarray:
    """The edge ids at global rows (segments one after the other) as fixed-width bytes, gathered
    chunk by chunk with Arrow's take (no Python object per id)."""
    starts = np.cumsum([0] + [seg.rows for seg in segs])
    which = np.searchsorted(starts, rows, side="right") - 1
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for i in np.unique(which).tolist():
        at = np.flatnonzero(which == i)
        seg = segs[i]
        for c, sub, local in seg._split(rows[at] - starts[i]):
            sub = slice(None) if sub is None else sub
            taken = seg.batches[c].column("eid").take(pa.array(local, pa.int64()))
            parts.append((at[sub], fixed_width(taken)))
    width = max((f.itemsize for _, f in parts), default=1)
    out = np.zeros(len(rows), dtype=f"S{width}")
    for at, f in parts:
        out[at] = f
    return out


_NIBBLE = np.full(256, 16, dtype=np.uint8)  # lowercase hex digits to their values, anything else 16
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def _first_key(fixed: np.ndarray, hex_digits: bool = True) -> tuple[np.ndarray, int]:
    """An integer per value whose order is the values' byte order on their first bytes, and how
    many bytes it covers: 16 lowercase hex digits as 64 bits when every value starts with them (the
    edge ids are hex digests), else the first eight bytes."""
    n, w = len(fixed), fixed.itemsize
    if hex_digits and w >= 16 and n:
        nib = _NIBBLE[fixed.view(np.uint8).reshape(n, w)[:, :16]]
        if not (nib > 15).any():
            key = np.zeros(n, dtype=np.uint64)
            for j in range(16):
                key <<= np.uint64(4)
                key |= nib[:, j]
            return key, 16
    return _word(fixed, 0), 8


def _word(fixed: np.ndarray, j: int) -> np.ndarray:
    """Bytes ``8j .. 8j+8`` of each fixed-width value as a big-endian integer (NUL-padded), so
    integer order is byte order."""
    n, w = len(fixed), fixed.itemsize
    raw = fixed.view(np.uint8).reshape(n, w)[:, 8 * j : 8 * j + 8]
    if raw.shape[1] < 8:
        raw = np.concatenate([raw, np.zeros((n, 8 - raw.shape[1]), dtype=np.uint8)], axis=1)
    return np.ascontiguousarray(raw).view(">u8").reshape(n).astype(np.uint64)


def order_fixed(fixed: np.ndarray) -> np.ndarray:
    """A stable sort of fixed-width byte strings without comparing strings: by an integer of their
    first bytes (``_first_key``), then, round by round, only the rows still tied by their next eight."""
    word, covered = _first_key(fixed)
    order = np.argsort(word, kind="stable")
    same = word[order[1:]] == word[order[:-1]]  # adjacent rows equal in every word so far
    for j in range(covered // 8, (fixed.itemsize + 7) // 8):
        if not same.any():
            break
        member = np.zeros(len(order), dtype=bool)
        member[1:] |= same
        member[:-1] |= same
        pos = np.flatnonzero(member)
        run = np.cumsum(np.concatenate([[True], ~same]))[pos]
        sub = order[pos]
        word = _word(fixed[sub], j)
        within = np.lexsort((word, run))
        order[pos] = sub[within]
        aligned = np.zeros(len(order), dtype=np.uint64)
        aligned[pos] = word[within]
        same &= aligned[1:] == aligned[:-1]
    return order


def visible_count(con: sqlite3.Connection, segs: list[Segment]) -> int:
    return int(sum(int(m.sum()) for m in visible_masks(con, segs)))


def _table_rows(con: sqlite3.Connection, lo: str | None, hi: str | None) -> Iterator[pa.Table]:
    """The roles table's rows whose organisation is in [lo, hi) (None: open)."""
    where = " AND ".join(c for c, v in (("org >= ?", lo), ("org < ?", hi)) if v is not None) or "1"
    cur = con.execute("SELECT eid, holder, role, org, vf, coalesce(vt, 0), ratio, cap, title FROM roles "  # noqa: S608
                      f"WHERE {where}", [v for v in (lo, hi) if v is not None])
    while rows := cur.fetchmany(200_000):
        cols = list(zip(*rows, strict=True))
        yield pa.Table.from_arrays([
            pa.array(cols[0], pa.large_string()), pa.array(cols[1], pa.large_string()),
            pa.array(cols[2], pa.int8()), pa.array(cols[3], pa.large_string()), pa.array(cols[4], pa.int32()),
            pa.array(cols[5], pa.int32()), pa.array(np.array(cols[6], dtype=np.float64)),
            pa.array(np.array(cols[7], dtype=np.float64)), pa.array(cols[8], pa.large_string())], schema=_SCHEMA)
