"""One chunk of organisations and their persons: the attributes every generated table reads.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .arrays import _ascii, _choice, _Identity
from .vocab import ENT, IND, INDUSTRIES, OPEN


class _ChunkState:
    """One chunk of organisations [o0, o0 + n) and their persons [2*o0, 2*(o0 + n))."""

    def __init__(self, ident: _Identity, chunk_no: int, o0: int, n: int) -> None:
        self.ident = ident
        self.no = chunk_no
        self.o0, self.n = o0, n
        self.p0, self.np_ = 2 * o0, 2 * n
        self.hubs = max(1, round(n / 1000))  # nominee hubs: the last persons of the chunk
        self.rng = np.random.default_rng([ident.seed, chunk_no])
        self.start, self.end = ident.start, ident.end
        g = np.arange(o0, o0 + n, dtype=np.int64)
        self.g = g
        self.type = ident.org_type(g)
        self.region = ident.org_region(g)
        self.reg = ident.registered(g)
        rng = self.rng
        dereg = (
            (rng.random(n) < 0.04) & ((self.type == ENT) | (self.type == IND)) & (self.end - self.reg > 800)
        )
        self.dereg = np.where(
            dereg, self.reg + 400 + (rng.random(n) * (self.end - self.reg - 400)).astype(np.int64), OPEN
        )
        self.industry = np.empty(n, dtype=object)
        for t, table in INDUSTRIES.items():
            sel = np.flatnonzero(self.type == t)
            codes = [c for c, _ in table]
            self.industry[sel] = np.array(codes, dtype=object)[_choice(rng, [w for _, w in table], len(sel))]
        self.capital = np.maximum(1e4, np.round(np.exp(rng.normal(13.8, 1.6, n)) / 1e4) * 1e4)
        self.board = (self.type == ENT) & (rng.random(n) < 0.2)  # limited companies with a board
        self.codes = ident.uscc(g)
        self._person_ids: np.ndarray | None = None

    @property
    def person_ids(self) -> np.ndarray:
        if self._person_ids is None:
            self._person_ids = self.ident.id_number(np.arange(self.p0, self.p0 + self.np_, dtype=np.int64))
        return self._person_ids

    # persons ---------------------------------------------------------------------------------------
    def pick(self, k: int) -> np.ndarray:
        """Role holders: mostly local, skewed so some people hold roles in many companies."""
        rng = self.rng
        base = self.np_ - self.hubs
        u = rng.random(k)
        uniform = rng.integers(0, base, k)
        # Serial entrepreneurs and professional directors: the first 5% of persons, ~20 roles each.
        serial = (max(1, base // 20) * rng.random(k)).astype(np.int64)
        out = np.where(u < 0.7, uniform, serial) + self.p0
        if self.p0 > 0:  # some people also hold roles in earlier chunks' companies
            cross = u > 0.97
            out[cross] = rng.integers(0, self.p0, int(cross.sum()))
        return out

    def endeff(self, local: np.ndarray) -> np.ndarray:
        return self.dereg[local]

    # role edges ------------------------------------------------------------------------------------

    def _subject_ids(self, kind: np.ndarray, idx: np.ndarray) -> pa.Array:
        """ID numbers (kind 0) or USCCs (kind 1) for global indices: this chunk's from the cached
        arrays, earlier chunks' recomputed from the stateless identity."""
        out = np.empty(len(idx), dtype="S18")
        for k, fn, base, local in (
            (0, self.ident.id_number, self.p0, self.person_ids),
            (1, self.ident.uscc, self.o0, self.codes),
        ):
            sel = kind == k
            here = sel & (idx >= base) & (idx < base + len(local))
            out[here] = local[idx[here] - base]
            far = sel & ~here
            if far.any():
                uniq, inv = np.unique(idx[far], return_inverse=True)
                out[far] = fn(uniq)[inv]
        return _ascii(out)

    def _persons_ids(self, idx: np.ndarray) -> pa.Array:
        return self._subject_ids(np.zeros(len(idx), dtype=np.int8), idx)
