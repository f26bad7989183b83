"""A SQLite store whose role writes all arrive through ``load_roles``, so its roles live in columnar
segments (store/sqlite/segments.py): the conformance suite runs on it as the flavour ``sqlite-segments``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graph_credit.model import RoleEdge
from graph_credit.store import SQLiteStore
from graph_credit.store.base import RoleColumns, WriteCounts


def role_columns(edges: Sequence[RoleEdge]) -> RoleColumns:
    return RoleColumns(
        edge_id=[e.edge_id for e in edges],
        holder=[e.holder for e in edges],
        role=[e.role.value for e in edges],
        org=[e.org for e in edges],
        valid_from=np.array([e.valid_from.toordinal() for e in edges], dtype=np.int64),
        valid_to=np.array([e.valid_to.toordinal() if e.valid_to else 0 for e in edges], dtype=np.int64),
        ratio=np.array([e.ratio if e.ratio is not None else np.nan for e in edges], dtype=float),
        subscribed_capital=np.array(
            [e.subscribed_capital if e.subscribed_capital is not None else np.nan for e in edges], dtype=float),
        title=[e.title for e in edges],
    )


class SegmentedStore(SQLiteStore):
    """Every load batch becomes a segment (none goes to the table), and ``put_roles`` loads the
    changed edges as a batch; its counts are worked out here from what the store returns."""

    def __init__(self, path: str | Path, graph_index: bool = True) -> None:
        super().__init__(path, graph_index)
        self._table_max = 0

    def put_roles(self, rows: Sequence[RoleEdge]) -> WriteCounts:
        with self.transaction():
            latest = {e.edge_id: e for e in rows}
            before = self.get_roles(list(latest))
            changed = [e for k, e in latest.items() if before.get(k) != e]
            if changed:
                self.load_roles([role_columns(changed)])
            new = sum(1 for e in changed if e.edge_id not in before)
            return WriteCounts(new, len(changed) - new, len(latest) - len(changed))
