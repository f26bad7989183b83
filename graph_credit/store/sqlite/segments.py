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
from collections.abc import Iterator, Sequence
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


def _encode(keys: Sequence[str], like: np.ndarray) -> np.ndarray:
    """``keys`` in ``like``'s fixed width; a key too long for it is left out (it cannot be there)."""
    raw = [k.encode() for k in keys]
    return np.array([r for r in raw if len(r) <= like.itemsize], dtype=like.dtype)


class Segment:
    """One registered segment, memory-mapped; its lookups mapped from disk or, for a batch segment
    not merged yet, sorted in memory on first use."""

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
        self._lookups: dict[str, Lookup] = {}
        self._cols: dict[str, Any] | None = None

    def column(self, name: str) -> Any:
        col = self.table.column(name)
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()

    def numbers(self, name: str) -> np.ndarray:
        return np.asarray(self.column(name).to_numpy(zero_copy_only=False))

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

    def find(self, kind: str, keys: Sequence[str]) -> np.ndarray:
        """Rows whose ``kind`` column is one of ``keys``, ascending."""
        look = self.lookup(kind)
        if not len(look.keys) or not keys:
            return np.zeros(0, dtype=np.int64)
        return look.rows_of(_encode(keys, look.keys))

    def find_fixed(self, kind: str, wanted: np.ndarray) -> np.ndarray:
        return self.lookup(kind).rows_of(wanted)

    def eids(self, rows: np.ndarray) -> list[str]:
        return self.column("eid").take(pa.array(rows)).to_pylist()

    def tuples(self, rows: np.ndarray) -> list[tuple[Any, ...]]:
        """Rows in the roles table's layout (``vt`` None for open, ``ratio``/``cap`` None if absent).
        Numbers come from the mapped columns as numpy views; a few rows' strings one by one (an Arrow
        ``take`` costs more than that for a handful), many rows' by ``take``."""
        cols = self._columns()
        text = {}
        for k in ("eid", "holder", "org", "title"):
            col = cols[k]
            text[k] = [col[i].as_py() for i in rows.tolist()] if len(rows) <= 16 else \
                col.take(pa.array(rows, pa.int64())).to_pylist()
        num = {k: cols[k][rows].tolist() for k in ("role", "vf", "vt", "ratio", "cap")}
        vt = [v or None for v in num["vt"]]
        ratio = [None if q != q else q for q in num["ratio"]]
        cap = [None if c != c else c for c in num["cap"]]
        return list(zip(text["eid"], text["holder"], num["role"], text["org"], num["vf"], vt, ratio, cap,
                        text["title"], strict=True))

    def _columns(self) -> dict[str, Any]:
        found = self._cols
        if found is None:
            found = {name: self.column(name) for name in ("eid", "holder", "org", "title")}
            found |= {name: self.numbers(name) for name in ("role", "vf", "vt", "ratio", "cap")}
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
    def of(cls, column: Any, distinct_values: bool = False) -> Lookup:
        """Built with Arrow's hash and sort kernels and an integer sort: no Python object per row
        (values known to be distinct, as a merged segment's edge ids: one sort of the fixed-width bytes)."""
        values = strings(column)
        if distinct_values:
            fixed = fixed_width(values)
            order = np.argsort(fixed, kind="stable")
            return cls(fixed[order], None, order)
        distinct = pc.unique(values)
        distinct = distinct.take(pc.sort_indices(distinct))
        rank = np.asarray(pc.index_in(values, value_set=distinct).to_numpy(), dtype=np.int64)
        ptr = np.zeros(len(distinct) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rank, minlength=len(distinct)), out=ptr[1:])
        rows = np.argsort(rank, kind="stable")
        ordered = bool((rows == np.arange(len(rows))).all())
        return cls(fixed_width(distinct), None if len(distinct) == len(values) else ptr, None if ordered else rows)

    @classmethod
    def of_sorted(cls, column: Any) -> Lookup:
        """For a column already in value order (a merged segment's organisations): the runs."""
        fixed = fixed_width(column)
        starts = np.flatnonzero(np.concatenate([[True], fixed[1:] != fixed[:-1]])) if len(fixed) else \
            np.zeros(0, dtype=np.int64)
        return cls(fixed[starts], np.append(starts, len(fixed)).astype(np.int64), None)

    def save(self, path: Path, kind: str) -> list[Path]:
        out = []
        for part in ("keys", "ptr", "rows"):
            value = getattr(self, part)
            if value is not None:
                out.append(path / f"{kind}.{part}.npy")
                np.save(out[-1], value, allow_pickle=False)
        return out

    def rows_of(self, wanted: np.ndarray) -> np.ndarray:
        """Rows whose value is one of ``wanted`` (fixed-width bytes), ascending."""
        keys = self.keys
        if not len(keys) or not len(wanted):
            return np.zeros(0, dtype=np.int64)
        if wanted.itemsize > keys.itemsize:  # longer values cannot be there
            wanted = wanted[np.char.str_len(wanted) <= keys.itemsize]
        wanted = wanted.astype(keys.dtype)
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

    def registered(self, con: sqlite3.Connection) -> list[Segment]:
        """The segments registered in ``con``'s snapshot, oldest first."""
        names = [r[0] for r in con.execute("SELECT name FROM role_segments ORDER BY seq")]
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
        return out

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

    def write(self, con: sqlite3.Connection, table: pa.Table, lookups: bool) -> Path:
        """Inside a write transaction: write ``table`` as the next segment, durably, and register it
        (the caller's commit makes it part of the store); ``lookups``: a merged segment, sorted by
        organisation, written with its lookup arrays."""
        seq = int(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM role_segments").fetchone()[0])
        name = f"seg-{seq:010d}"
        path = self.directory / name
        if path.exists():  # left by a rolled-back transaction of this process
            shutil.rmtree(path)
        path.mkdir(parents=True)
        table = table.combine_chunks()
        files = [path / "rows.arrow"]
        with pa.OSFile(str(files[0]), "wb") as sink, pa.ipc.new_file(sink, _SCHEMA) as writer:
            writer.write_table(table, max_chunksize=max(table.num_rows, 1))
        if lookups:
            for kind in _LOOKUPS:
                column = table.column(kind)
                look = Lookup.of_sorted(column) if kind == "org" else Lookup.of(column, distinct_values=kind == "eid")
                files += look.save(path, kind)
        for f in files:
            _fsync(f)
        _fsync(path)
        _fsync(self.directory)
        size = sum(f.stat().st_size for f in files)
        con.execute("INSERT INTO role_segments (seq, name, rows, bytes) VALUES (?, ?, ?, ?)",
                    (seq, name, table.num_rows, size))
        return path


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


def lookup(con: sqlite3.Connection, segs: list[Segment], kind: str, keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """Visible segment rows whose ``kind`` column is one of ``keys`` (roles-table layout)."""
    out: list[tuple[Any, ...]] = []
    keys = list(keys)
    for i, seg in enumerate(segs):
        rows = seg.find(kind, keys)
        if not len(rows):
            continue
        found = seg.tuples(rows)
        eids = [r[0] for r in found]
        hidden = _in_table(con, eids)
        for newer in segs[i + 1 :]:
            hidden.update(newer.eids(newer.find("eid", eids)))
        out += [r for r in found if r[0] not in hidden]
    return out


def present(segs: list[Segment], eids: Sequence[str]) -> set[str]:
    """Those of ``eids`` that some segment holds (visible or not)."""
    out: set[str] = set()
    for seg in segs:
        out.update(seg.eids(seg.find("eid", eids)))
    return out


def visible_masks(con: sqlite3.Connection, segs: list[Segment]) -> list[np.ndarray]:
    """Per segment, which of its rows readers see: not hidden by the table, a tombstone, a newer
    segment or a later row of the same batch. Vectorised: the hiding ids are binary-searched in each
    segment's id lookup; several segments (or a batch not merged yet, which may repeat an id) are
    sorted together by id once, and of equal ids the last in (segment, row) order is kept."""
    masks = [np.ones(seg.rows, dtype=bool) for seg in segs]
    if not segs:
        return masks
    table_ids = [r[0] for r in con.execute("SELECT eid FROM roles UNION SELECT eid FROM role_tombstones")]
    if table_ids:
        hiding = fixed_width(pa.array(table_ids, pa.large_string()))
        for mask, seg in zip(masks, segs, strict=True):
            mask[seg.find_fixed("eid", hiding)] = False
    if len(segs) > 1 or not (segs[0].path / "eid.keys.npy").exists():
        ids = pa.concat_arrays([seg.column("eid") for seg in segs])
        order = np.argsort(fixed_width(ids), kind="stable")
        ids_sorted = fixed_width(ids.take(pa.array(order)))
        shadowed = order[:-1][ids_sorted[:-1] == ids_sorted[1:]]  # an equal id follows: a later version
        every = np.concatenate(masks)
        every[shadowed] = False
        masks = np.split(every, np.cumsum([seg.rows for seg in segs])[:-1])
    return masks


def visible_count(con: sqlite3.Connection, segs: list[Segment]) -> int:
    return int(sum(int(m.sum()) for m in visible_masks(con, segs)))


def merged(con: sqlite3.Connection, segs: list[Segment], with_table: bool) -> pa.Table:
    """The visible rows of ``segs`` (and of the roles table, when folding it in) as one table
    sorted by organisation."""
    parts = [seg.table.filter(pa.array(mask)) for seg, mask in zip(segs, visible_masks(con, segs), strict=True)]
    if with_table:
        parts += list(_table_rows(con))
    whole = (pa.concat_tables(parts) if parts else _SCHEMA.empty_table()).combine_chunks()
    orgs = whole.column("org")
    distinct = pc.unique(orgs)
    rank = pc.index_in(orgs, value_set=distinct.take(pc.sort_indices(distinct))).to_numpy()
    return whole.take(pa.array(np.argsort(rank, kind="stable")))


def _table_rows(con: sqlite3.Connection) -> Iterator[pa.Table]:
    cur = con.execute("SELECT eid, holder, role, org, vf, coalesce(vt, 0), ratio, cap, title FROM roles")
    while rows := cur.fetchmany(200_000):
        cols = list(zip(*rows, strict=True))
        yield pa.Table.from_arrays([
            pa.array(cols[0], pa.large_string()), pa.array(cols[1], pa.large_string()),
            pa.array(cols[2], pa.int8()), pa.array(cols[3], pa.large_string()), pa.array(cols[4], pa.int32()),
            pa.array(cols[5], pa.int32()), pa.array(np.array(cols[6], dtype=np.float64)),
            pa.array(np.array(cols[7], dtype=np.float64)), pa.array(cols[8], pa.large_string())], schema=_SCHEMA)
