"""Seeded synthetic data in the import format (``docs/data-format.md``).

``generate(n_orgs, seed)`` returns six pandas DataFrames, one per import file, with the structures
the engine has to handle: ownership chains and pyramids (organisations holding shares in
organisations, a few levels deep), cross-directorships, people with roles in many companies,
nominee hubs (1 per 1,000 organisations, holding about 5% of all roles), role changes over time
(the old edge gets ``valid_to``, the new one starts that day), serious dishonesty records naming
directly responsible persons, judgment defaulters, honours and red/black list entries.

Everything is vectorised numpy/pyarrow. Identity (USCC, organisation type, region, registration
date; resident ID numbers) is a pure function of ``(seed, global index)``, so chunks can refer to
organisations and persons of earlier chunks without keeping them in memory: that is what makes
10^7 organisations feasible with ``write_synthetic(..., chunk_orgs=10**6)``. Every other attribute
comes from a ``numpy.random.Generator`` seeded with ``(seed, chunk number)``, so the same seed and
chunk size give the same frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..io.format import COLUMNS, KINDS, NUMERIC
from .arrays import _ascii, _choice, _date, _days, _Identity, _join, _vocab
from .records import _Records
from .roles import _RoleGraph
from .vocab import (
    _BRANDS,
    _FEMALE,
    _IND_SHOPS,
    _INDUSTRY_WORDS,
    _MALE,
    _PUB_NAMES,
    _REGION_P,
    _SOC_NAMES,
    _SURNAMES,
    _TIBETAN,
    ENT,
    IND,
    ORG_TYPES,
    PUB,
    REGIONS,
    SOC,
)

__all__ = ["COLUMNS", "KINDS", "SyntheticData", "generate", "generate_chunks", "write_synthetic"]

class _Chunk(_RoleGraph, _Records):
    """A chunk's tables: organisations, persons, roles, records, honours and list entries."""

    def organisations(self) -> pa.Table:
        rng, n, t = self.rng, self.n, self.type
        short = _vocab([r[2] for r in REGIONS], self.region)
        place = _vocab([r[1] for r in REGIONS], self.region)
        brand = _join(
            _vocab(_BRANDS, rng.integers(0, len(_BRANDS), n)),
            _vocab(_BRANDS, rng.integers(0, len(_BRANDS), n)),
        )
        words = np.empty(n, dtype=object)
        for code, ws in _INDUSTRY_WORDS.items():
            sel = np.flatnonzero(self.industry == code)
            words[sel] = np.array(ws, dtype=object)[rng.integers(0, len(ws), len(sel))]
        words[words == None] = "实业"  # noqa: E711 - elementwise comparison on an object array
        holdco = self.ident.holdco(self.g)
        suffix = np.where(holdco, "控股集团有限公司", np.where(self.board, "股份有限公司", "有限公司"))
        ent_name = _join(short, brand, pa.array(words.tolist(), type=pa.string()), pa.array(suffix.tolist()))
        shop = _join(
            short,
            _vocab(_SURNAMES, rng.integers(0, len(_SURNAMES), n)),
            "记",
            _vocab(_IND_SHOPS, rng.integers(0, len(_IND_SHOPS), n)),
        )
        # Public institutions and social organisations: named after what they do, not a brand.
        other = np.full(n, "", dtype=object)
        for code, templates in _PUB_NAMES.items():
            sel = np.flatnonzero((t == PUB) & (self.industry == code))
            picks = np.array(templates, dtype=object)[rng.integers(0, len(templates), len(sel))]
            nums = rng.integers(1, 9, len(sel))
            other[sel] = [tpl.format(n=k) for tpl, k in zip(picks.tolist(), nums.tolist(), strict=True)]
        sel = np.flatnonzero(t == SOC)
        picks = np.array(_SOC_NAMES, dtype=object)[rng.integers(0, len(_SOC_NAMES), len(sel))]
        brands = brand.take(pa.array(sel)).to_pylist()
        other[sel] = [tpl.format(b=b) for tpl, b in zip(picks.tolist(), brands, strict=True)]
        name = pc.if_else(
            pa.array(t == ENT),
            ent_name,
            pc.if_else(pa.array(t == IND), shop, _join(place, pa.array(other.tolist(), type=pa.string()))),
        )
        return pa.table(
            {
                "code": _ascii(self.codes),
                "name": name,
                "org_type": _vocab(ORG_TYPES, t),
                "region": _vocab([r[0] for r in REGIONS], self.region),
                "industry": pa.array(self.industry.tolist(), type=pa.string()),
                "registered_on": _date(self.reg),
                "deregistered_on": _date(self.dereg),
            }
        )

    def persons(self) -> pa.Table:
        rng, k = self.rng, self.np_
        male = (np.frombuffer(self.person_ids.tobytes(), dtype=np.uint8).reshape(-1, 18)[:, 16] - 48) % 2 == 1
        # Residence: mostly where the companies are, otherwise the birthplace.
        birthplace = _ascii(self.person_ids)
        residence = _vocab([r[0] for r in REGIONS], _choice(rng, _REGION_P, k))
        region = pc.if_else(
            pa.array(rng.random(k) < 0.75), residence, pc.utf8_slice_codeunits(birthplace, 0, 6)
        )
        surname = _vocab(_SURNAMES, np.minimum((rng.pareto(1.2, k) * 3).astype(np.int64), len(_SURNAMES) - 1))
        given_m = _vocab(_MALE, rng.integers(0, len(_MALE), k))
        given_f = _vocab(_FEMALE, rng.integers(0, len(_FEMALE), k))
        han = _join(surname, pc.if_else(pa.array(male), given_m, given_f))
        tib = _join(
            _vocab(_TIBETAN, rng.integers(0, len(_TIBETAN), k)),
            _vocab(_TIBETAN, rng.integers(0, len(_TIBETAN), k)),
        )
        in_tibet = pc.starts_with(region, "54")
        name = pc.if_else(pc.and_(in_tibet, pa.array(rng.random(k) < 0.7)), tib, han)
        return pa.table({"id_number": birthplace, "name": name, "region": region})


    def tables(self) -> dict[str, pa.Table]:
        orgs = self.organisations()
        edges = self.roles()
        persons = self.persons()
        roles = self.role_table(edges)
        records, honours, lists = self.records_honours_lists(edges)
        return {
            "organisations": orgs,
            "persons": persons,
            "roles": roles,
            "records": records,
            "honours": honours,
            "list_entries": lists,
        }



def _schema(kind: str) -> pa.Schema:
    return pa.schema([(c, pa.float64() if c in NUMERIC else pa.string()) for c in COLUMNS[kind]])


def _to_frame(table: pa.Table) -> pd.DataFrame:
    # Arrow-backed strings: a 10^6-organisation dataset has ~10^7 strings; Python objects would
    # cost several GB.
    return table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if t == pa.string() else None)


@dataclass
class SyntheticData:
    """Six DataFrames in the import column format, one per file kind."""

    organisations: pd.DataFrame
    persons: pd.DataFrame
    roles: pd.DataFrame
    records: pd.DataFrame
    honours: pd.DataFrame
    list_entries: pd.DataFrame
    seed: int = 7

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        return {k: getattr(self, k) for k in KINDS}

    def write(self, directory: str | Path, fmt: str = "csv") -> dict[str, Path]:
        """Write one file per kind (``organisations.csv`` ... or ``.parquet``); return the paths."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for kind, frame in self.frames.items():
            table = pa.Table.from_pandas(frame, schema=_schema(kind), preserve_index=False)
            paths[kind] = _write_table(table, out / f"{kind}.{_ext(fmt)}", fmt)
        return paths


def _ext(fmt: str) -> str:
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    return fmt


def _write_table(table: pa.Table, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    return path


def _chunk_tables(
    n_orgs: int, seed: int, start: date, end: date, chunk_orgs: int
) -> Iterator[dict[str, pa.Table]]:
    if n_orgs < 1:
        raise ValueError("n_orgs must be at least 1")
    if not 1 <= chunk_orgs <= 1 << 24:
        raise ValueError("chunk_orgs must be between 1 and 2**24")
    if (end - start).days < 730:
        raise ValueError("the date range must span at least two years")
    ident = _Identity(seed, _days(start), _days(end))
    for no, o0 in enumerate(range(0, n_orgs, chunk_orgs)):
        tables = _Chunk(ident, no, o0, min(chunk_orgs, n_orgs - o0)).tables()
        yield {k: tables[k].cast(_schema(k)) for k in KINDS}


def generate_chunks(
    n_orgs: int,
    seed: int = 7,
    start: date = date(2010, 1, 1),
    end: date = date(2026, 6, 30),
    chunk_orgs: int = 1_000_000,
) -> Iterator[SyntheticData]:
    """The dataset of ``generate`` in pieces of ``chunk_orgs`` organisations (bounded memory).

    Later chunks refer to organisations and persons of earlier ones (shareholders, role holders).
    """
    for tables in _chunk_tables(n_orgs, seed, start, end, chunk_orgs):
        yield SyntheticData(**{k: _to_frame(t) for k, t in tables.items()}, seed=seed)


def generate(
    n_orgs: int,
    seed: int = 7,
    start: date = date(2010, 1, 1),
    end: date = date(2026, 6, 30),
    chunk_orgs: int = 1_000_000,
) -> SyntheticData:
    """A reproducible synthetic dataset of ``n_orgs`` organisations (about 2 persons and 7 role
    edges per organisation). The same arguments always give equal frames.

    >>> data = generate(200, seed=1)
    >>> len(data.organisations), len(data.persons)
    (200, 400)
    """
    parts = list(_chunk_tables(n_orgs, seed, start, end, chunk_orgs))
    return SyntheticData(**{k: _to_frame(pa.concat_tables([p[k] for p in parts])) for k in KINDS}, seed=seed)


def write_synthetic(
    directory: str | Path,
    n_orgs: int,
    seed: int = 7,
    fmt: str = "csv",
    start: date = date(2010, 1, 1),
    end: date = date(2026, 6, 30),
    chunk_orgs: int = 1_000_000,
) -> dict[str, int]:
    """Generate and write chunk by chunk (for 10^7 organisations); return rows written per kind."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pcsv.CSVWriter | pq.ParquetWriter] = {}
    rows = dict.fromkeys(KINDS, 0)
    try:
        for tables in _chunk_tables(n_orgs, seed, start, end, chunk_orgs):
            for kind, table in tables.items():
                if kind not in writers:
                    path = out / f"{kind}.{_ext(fmt)}"
                    schema = _schema(kind)
                    writers[kind] = (
                        pcsv.CSVWriter(path, schema) if fmt == "csv" else pq.ParquetWriter(path, schema)
                    )
                writers[kind].write_table(table)
                rows[kind] += table.num_rows
    finally:
        for w in writers.values():
            w.close()
    return rows
