"""The import format (``docs/data-format.md``): one file per kind, its columns and the required ones, and
the report of an import run (rows written, rows rejected with file, line, field and reason).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..fields import IMPORTED
from ..model import (
    Role,
)
from ..store.base import WriteCounts

KINDS = tuple(k.name for k in IMPORTED)  # one file each, in the order they load
COLUMNS: dict[str, tuple[str, ...]] = {k.name: k.imported for k in IMPORTED}
REQUIRED: dict[str, tuple[str, ...]] = {
    "organisations": ("code", "name"),
    "persons": ("id_number", "name"),
    "roles": ("holder_id", "org_code", "role", "valid_from"),
    "records": ("record_id", "subject_id", "category", "severity", "decision_date"),
    "honours": ("honour_id", "holder_id", "title", "awarded_on"),
    "list_entries": ("entry_id", "subject_id", "list", "valid_from"),
}
NUMERIC = frozenset(f.imported for k in IMPORTED for f in k.fields if f.storage == "float" and f.imported)
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


class KeySet(MutableSet[str]):
    """A set of keys (organisation codes, person keys) held as one Arrow string array of distinct
    values: a province's import touches 30 M subjects, gigabytes as a Python set of str. ``update``
    takes an Arrow array without a Python object per value; what is added is deduplicated (Arrow's
    hash kernel) once it outgrows what is already held, so the work stays linear."""

    def __init__(self, items: Iterable[str] = ()) -> None:
        self._distinct = pa.array([], pa.large_string())
        self._pending: list[pa.Array] = []
        self._pending_rows = 0
        self.update(items)

    def update(self, items: Any) -> None:
        arr = items if isinstance(items, pa.Array | pa.ChunkedArray) else pa.array(list(items), pa.string())
        if len(arr):
            self._pending.append(arr.cast(pa.large_string()))
            self._pending_rows += len(arr)
        if self._pending_rows > max(len(self._distinct), 1 << 16):
            self._merged()

    def _merged(self) -> pa.Array:
        if self._pending:
            every = pa.chunked_array([self._distinct, *self._pending], pa.large_string())
            self._distinct = pc.unique(every)
            self._pending, self._pending_rows = [], 0
        return self._distinct

    def __contains__(self, key: object) -> bool:
        # A scan: membership is for small checks (an import's caller iterates the set).
        return isinstance(key, str) and pc.index(self._merged(), key).as_py() >= 0

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged().to_pylist())

    def __len__(self) -> int:
        return len(self._merged())

    def add(self, key: str) -> None:
        self.update([key])

    def discard(self, key: str) -> None:
        if key in self:
            self._distinct = self._distinct.filter(pc.not_equal(self._distinct, key))

    def __repr__(self) -> str:
        return f"KeySet({len(self)} keys)"


@dataclass
class Touched:
    """What an import changed, so the caller can re-derive its consequences."""

    records: set[str] = field(default_factory=set)  # record ids inserted or updated
    list_entries: set[str] = field(default_factory=set)  # list entry ids inserted or updated
    list_subjects: set[str] = field(default_factory=set)  # subjects of those list entries
    orgs: KeySet = field(default_factory=KeySet)  # organisations whose role edges were inserted or updated
    role_holders: KeySet = field(default_factory=KeySet)  # holders of those edges
    honour_holders: set[str] = field(default_factory=set)  # holders of honours inserted or updated


@dataclass
class ImportReport:
    """Row-level errors, write counts per kind, and what changed."""

    errors: list[RowError] = field(default_factory=list)
    counts: dict[str, WriteCounts] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # data rows read per kind
    files: dict[str, str] = field(default_factory=dict)
    touched: Touched = field(default_factory=Touched)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per kind, reading included
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # CPU time per kind, every thread of the process

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


@dataclass
class _Source:
    kind: str
    name: str  # file name used in the report
    frame: pd.DataFrame  # text columns as Arrow strings without nulls; "_line" with line numbers
    errors: list[RowError]
