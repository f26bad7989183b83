"""The journal tables as ``(:Journal {tbl, id, seq, doc})`` nodes: the filter semantics of SQLite's
``json_extract`` (which the journal's queries must match exactly), and the sequence clock. The table and
field-name checks both stores make are in ``store.base``.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date, datetime
from typing import Any

# The journal filter matches SQLiteStore's ``json_extract(doc, '$.key') = ?`` exactly: JSON true /
# false read as 1 / 0, arrays and objects as their compact JSON text, a missing field or null
# matches nothing (SQL NULL), and text never equals a number.


def _sql_json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _sql_param(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bytes):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, datetime):
        return value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"unsupported filter value type {type(value).__name__}")


def _sql_equal(field: Any, value: Any) -> bool:
    if field is None or value is None:
        return False
    if isinstance(field, str | bytes) or isinstance(value, str | bytes):
        return type(field) is type(value) and field == value
    return bool(field == value)


class _SeqClock:
    """Journal sequence numbers: the wall clock in nanoseconds, never going back within a process.
    Rows appended by different API processes interleave by time; no shared counter node is written
    (one would serialise every audited read of the whole deployment)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> int:
        with self._lock:
            base = max(time.time_ns(), self._last + 1)
            self._last = base + n - 1
            return base


_SEQ = _SeqClock()
