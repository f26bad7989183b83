"""Vectorised building blocks: seeded hashing, the identity of organisations and persons as a pure function
of (seed, global index), pyarrow column helpers and the role-edge arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..ids import RIC_CHECKS, RIC_WEIGHTS, USCC_ALPHABET, USCC_WEIGHTS
from .vocab import _BIRTH_LAST, _REGION_P, _TYPE_P, BIRTHPLACES, ENT, EPOCH, OPEN, REGIONS, SOC


# -- stateless identity ------------------------------------------------------------------------
def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 (wrap-around is intended)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _hash_uniform(seed: int, salt: int, idx: np.ndarray) -> np.ndarray:
    """A uniform [0, 1) per index, a pure function of (seed, salt, index)."""
    key = _mix(np.array([(seed & 0xFFFFFFFF) << 20 | salt], dtype=np.uint64))
    return (_mix(idx.astype(np.uint64) ^ key) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _days(d: date) -> int:
    return (d - EPOCH).days


def _coprime_near(m: int, target: int) -> int:
    a = max(3, target)
    while math.gcd(a, m) != 1:
        a += 1
    return a


@dataclass(frozen=True)
class _Identity:
    """Stateless identity for organisation index g and person index g under one seed and date range."""

    seed: int
    start: int  # days since 1970
    end: int

    def org_type(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.cumsum(_TYPE_P)[:-1], _hash_uniform(self.seed, 1, g), side="right")

    def org_region(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.cumsum(_REGION_P)[:-1], _hash_uniform(self.seed, 2, g), side="right")

    def registered(self, g: np.ndarray) -> np.ndarray:
        span = self.end - 365 - self.start
        return self.start + (_hash_uniform(self.seed, 3, g) * span).astype(np.int64)

    def holdco(self, g: np.ndarray) -> np.ndarray:
        """Group holding companies: the tops of pyramids (about 1.5% of enterprises)."""
        return (_hash_uniform(self.seed, 4, g) < 0.015) & (self.org_type(g) == ENT)

    def uscc(self, g: np.ndarray) -> np.ndarray:
        """GB 32100 codes: registration authority + type, region, GB 11714 organisation code, check."""
        g = np.asarray(g, dtype=np.int64)
        n = len(g)
        t = self.org_type(g)
        prefixes = np.array([[9, 1], [9, 2], [1, 2], [5, 1]], dtype=np.int64)[t]
        social = t == SOC  # 51 social group, 52 private non-enterprise unit, 53 foundation
        prefixes[social, 1] = 1 + (_hash_uniform(self.seed, 5, g[social]) * 3).astype(np.int64)
        region = np.array([[int(c) for c in r[0]] for r in REGIONS], dtype=np.int64)[self.org_region(g)]
        # Organisation code body: an affine bijection of the index mod 10^8, so codes never repeat.
        body = (61_803_399 * g + 1_000_003 * (self.seed % 97)) % 100_000_000
        body_digits = (body[:, None] // 10 ** np.arange(7, -1, -1)) % 10
        s = (body_digits * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1) % 11
        oc_check = np.where(s == 0, 0, 11 - s)  # 10 -> 'X', 11 -> '0'
        values = np.empty((n, 18), dtype=np.int64)
        values[:, 0:2] = prefixes
        values[:, 2:8] = region
        values[:, 8:16] = body_digits
        values[:, 16] = np.where(oc_check == 10, USCC_ALPHABET.index("X"), oc_check)
        total = (values[:, :17] * USCC_WEIGHTS).sum(axis=1)
        values[:, 17] = (31 - total % 31) % 31
        return _USCC_BYTES[values].view("S18").ravel()

    def _person_space(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
        firsts = np.array([_days(date(y, 1, 1)) for _, y in BIRTHPLACES], dtype=np.int64)
        sizes = (_days(_BIRTH_LAST) - firsts + 1) * 999
        cum = np.concatenate([[0], np.cumsum(sizes)])
        m = int(cum[-1])
        a = _coprime_near(m, int(m * 0.6180339887))  # Weyl step: consecutive people land far apart
        b = (self.seed * 2_654_435_761) % m
        return firsts, sizes, cum, m, a, b

    def id_number(self, g: np.ndarray) -> np.ndarray:
        """GB 11643 numbers: an affine bijection of the person index over (birthplace, birth date,
        sequence number), so numbers never repeat."""
        g = np.asarray(g, dtype=np.int64)
        firsts, _sizes, cum, m, a, b = self._person_space()
        if len(g) and g.max() >= m:
            raise ValueError("too many persons for the synthetic ID number space")
        h = (a * g + b) % m
        r = np.searchsorted(cum, h, side="right") - 1
        off = h - cum[r]
        birth = (firsts[r] + off // 999).astype("datetime64[D]")
        seq = off % 999 + 1
        year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
        month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
        day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
        place = np.array([[int(c) for c in p] for p, _ in BIRTHPLACES], dtype=np.int64)[r]
        d = np.empty((len(g), 18), dtype=np.int64)
        d[:, 0:6] = place
        d[:, 6:10] = (year[:, None] // np.array([1000, 100, 10, 1])) % 10
        d[:, 10:12] = (month[:, None] // np.array([10, 1])) % 10
        d[:, 12:14] = (day[:, None] // np.array([10, 1])) % 10
        d[:, 14:17] = (seq[:, None] // np.array([100, 10, 1])) % 10
        d[:, 17] = (1 - (d[:, :17] * RIC_WEIGHTS).sum(axis=1)) % 11
        return _RIC_BYTES[d].view("S18").ravel()


_USCC_BYTES = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_RIC_BYTES = np.frombuffer(RIC_CHECKS.encode(), dtype=np.uint8)


# -- string helpers (pyarrow: vectorised and cheap on memory) --------------------------------------
def _vocab(words: tuple[str, ...] | list[str], idx: np.ndarray) -> pa.Array:
    return pa.array(list(words), type=pa.string()).take(pa.array(idx))


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _ascii(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _num(values: np.ndarray, width: int = 0) -> pa.Array:
    s = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    return pc.utf8_lpad(s, width, padding="0") if width else s


def _date(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    if missing is None:
        missing = days == OPEN
    safe = np.where(missing, 0, days).astype("datetime64[D]")
    return pa.array(safe, mask=missing).cast(pa.string())


def _choice(rng: np.random.Generator, weights: np.ndarray | list[float], size: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(w / w.sum())[:-1], rng.random(size), side="right")


# -- edges -------------------------------------------------------------------------------------------
@dataclass
class _Edges:
    hkind: np.ndarray  # 0 person, 1 organisation
    holder: np.ndarray  # global index
    org: np.ndarray  # local index
    role: np.ndarray
    vf: np.ndarray
    vt: np.ndarray  # OPEN when open-ended
    ratio: np.ndarray
    cap: np.ndarray
    title: np.ndarray

    @classmethod
    def make(
        cls,
        org: np.ndarray,
        role: int,
        holder: np.ndarray,
        vf: np.ndarray,
        vt: np.ndarray,
        title: np.ndarray | int = 0,
        hkind: int = 0,
    ) -> _Edges:
        n = len(org)
        return cls(
            np.full(n, hkind, dtype=np.int8),
            holder.astype(np.int64),
            org.astype(np.int64),
            np.full(n, role, dtype=np.int8),
            vf.astype(np.int64),
            vt.astype(np.int64),
            np.full(n, np.nan),
            np.full(n, np.nan),
            np.broadcast_to(np.asarray(title, dtype=np.int16), (n,)).copy(),
        )

    @classmethod
    def concat(cls, parts: list[_Edges]) -> _Edges:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))

    def take(self, idx: np.ndarray) -> _Edges:
        return _Edges(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.org)
