"""Bulk import. Rows are validated with vectorised checks (check characters, enums, dates, intervals,
shareholding sums, references, duplicate keys); a bad row is reported with its file, line, field and reason
and skipped, good rows load. Writes are idempotent upserts keyed by natural ids, one ``store.transaction()``
per batch, so re-running an import changes nothing and a failure never leaves half a batch behind. Clear
resident ID numbers are pseudonymised on the way in and never stored.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from .. import pii
from ..memory import collector_paused, release_free_memory
from ..model import (
    DATE_OUT_OF_RANGE,
    LIST_STATUSES,
    LISTS,
    MAX_RESPONSIBLE,
    ORG_TYPES,
    SEVERITIES,
    DishonestyRecord,
    Honour,
    ListEntry,
    Organisation,
    Person,
    Responsible,
    RoleEdge,
)
from ..store.base import RoleColumns, Store, Texts, WriteCounts, texts_of
from .blake import blake2b_hex
from .format import (
    _EPS,
    _OPEN,
    _ROLES,
    _ROLES_PART,
    _ROLES_PART_BYTES,
    KINDS,
    REQUIRED,
    ImportReport,
    RowError,
    _Source,
)
from .read import _csv_names, _csv_size, _normalise, _org_parts, _SpilledRoles, find_import_files, read_file
from .validate import (
    _bad_region,
    _categories,
    _check_text_limits,
    _codes,
    _Dates,
    _dates,
    _error_frame,
    _Ids,
    _InKeyOrder,
    _KnownKeys,
    _mask,
    _normalised_id,
    _numbers,
    _overflow,
    _raw,
    _refuse_control_characters,
    _reject,
    _resolve,
    _resolve_distinct,
    _Resolver,
    _row_errors,
    _Rows,
)

_T = TypeVar("_T")


def _ahead(items: Iterator[_T], depth: int = 2) -> Iterator[_T]:
    """``items``, produced on a thread of their own up to ``depth`` ahead of the consumer. An
    exception in the producer is raised here; a consumer that stops early stops the producer."""
    out: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                out.put(entry, timeout=0.1)
                return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((False, exc))

    worker = threading.Thread(target=produce, name="graph-credit-import", daemon=True)
    worker.start()
    try:
        while True:
            more, value = out.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        worker.join()


class _Checks(NamedTuple):
    """The columns the checks across rows read, for one write batch (positions ``pos`` in its part):
    keys, and integer codes of holder, role and organisation (equal codes for equal values)."""

    holder: np.ndarray
    role: np.ndarray
    org: np.ndarray
    hc: np.ndarray
    rc: np.ndarray
    oc: np.ndarray
    vf: np.ndarray
    vt: np.ndarray  # _OPEN for an open end
    ratio: np.ndarray
    pos: np.ndarray


class _Importer:
    def __init__(self, store: Store, report: ImportReport, progress: bool, batch_size: int) -> None:
        self.store = store
        self.report = report
        self.progress = progress
        self.batch = max(1, batch_size)
        self.known_orgs = _KnownKeys()  # subjects of this import (the store is asked about others)
        self.known_persons = _KnownKeys()

    # references ---------------------------------------------------------------------------------
    def _exist(self, keys: np.ndarray, person: np.ndarray) -> np.ndarray:
        """Whether each key names a subject in this import or already in the store."""
        codes, uniques = pd.factorize(keys)  # each distinct key once (a file names each many times)
        distinct = np.asarray(uniques, dtype=object).tolist()
        is_person_u = np.zeros(len(distinct), dtype=bool)
        is_person_u[codes[codes >= 0]] = person[codes >= 0]
        found_u = np.zeros(len(distinct), dtype=bool)
        for is_person, known, getter in (
            (False, self.known_orgs, self.store.get_organisations),
            (True, self.known_persons, self.store.get_persons),
        ):
            sel = np.flatnonzero(is_person_u == is_person)
            wanted = [distinct[i] for i in sel.tolist()]
            found_u[sel] = known.has(wanted)
            ask = sorted(sel[~found_u[sel]].tolist(), key=distinct.__getitem__)  # key order: B-tree pages in turn
            for i in range(0, len(ask), 10_000):
                chunk = [distinct[j] for j in ask[i : i + 10_000]]
                found = getter(chunk)
                found_u[ask[i : i + 10_000]] = [k in found for k in chunk]
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
        if res.exists is not None:
            exists = res.exists
        else:
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

        self.known_orgs.add(keys[good].tolist())
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

        self.known_persons.add(keys[good].tolist())
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

        resolve_holder = _Resolver("any", self._exist, self._known_orgs)

        def resolve_org(s: pd.Series) -> tuple[np.ndarray, _Ids]:
            # Not remembered across parts: the parts are split by organisation, so none recurs.
            codes, ids = _resolve_distinct(s, "org")
            valid = ids.reason == None  # noqa: E711 - elementwise on an object array
            ids.exists = np.zeros(len(ids.key), dtype=bool)
            ids.exists[valid] = self._exist(ids.key[valid], ids.person[valid])
            return codes, ids

        def batches(bar: Any) -> Iterator[tuple[_Rows, _Checks, RoleColumns]]:
            for rows in parts:
                at, orgs = resolve_org(rows.col("org_code"))
                hat, holders = resolve_holder(rows.col("holder_id"))
                yield from self._role_batches(rows, orgs.take(at), holders.take(hat), bar)

        with self._bar("roles", n_rows) as bar:
            if fresh:

                def checked() -> Iterator[tuple[RoleColumns, int]]:
                    for sub, part, cols in batches(bar):
                        yield cols.take(np.flatnonzero(self._edge_checks(sub, part, cols.edge_id, []))), len(part.pos)

                def loaded() -> Iterator[RoleColumns]:
                    nonlocal total
                    # Validation runs a batch or two ahead on its own thread while the store writes
                    # (SQLite, numpy, Arrow and the compiled hash let go of the GIL): both cores work.
                    # An in-memory SQLite store has one connection, under the writer's lock: no reading
                    # beside the write there.
                    ahead = getattr(self.store, "path", None) != ":memory:"
                    for batch, n in _ahead(checked()) if ahead else checked():
                        total += WriteCounts(inserted=len(batch))
                        touched.orgs.update(pc.unique(batch.org))
                        touched.role_holders.update(pc.unique(batch.holder))
                        yield batch
                        bar.update(n)

                self.store.load_roles(loaded())
            else:
                for sub, part, cols in batches(bar):
                    items = cols.edges()
                    with self.store.transaction():
                        stored = self.store.roles_of(sorted(set(part.org.tolist())), "in")
                        keep = self._edge_checks(sub, part, cols.edge_id, stored)
                        old = {e.edge_id: e for e in stored}
                        items = [e for e, k in zip(items, keep, strict=True) if k]
                        changed = [e for e in items if old.get(e.edge_id) != e]
                        changed.sort(key=lambda e: e.edge_id)  # primary-key order: sequential B-tree inserts
                        total += self.store.put_roles(changed) + WriteCounts(unchanged=len(items) - len(changed))
                    touched.orgs.update([e.org for e in changed])
                    touched.role_holders.update([e.holder for e in changed])
                    bar.update(len(part.pos))
        self.report.counts["roles"] = total

    def _role_batches(
        self, rows: _Rows, org: _Ids, holder: _Ids, bar: Any
    ) -> Iterator[tuple[_Rows, _Checks, RoleColumns]]:
        """Validate the rows of one part row by row, then yield its good rows in write batches of
        whole organisations: (the part, the batch's check frame, the batch's columns)."""
        role = self.enum(rows, "role", _ROLES, upper=True)
        rows.flag((org.reason != None) & ~rows.empty("org_code"), "org_code", org.reason)  # noqa: E711
        ok = ~rows.bad & (org.reason == None)  # noqa: E711
        rows.flag(ok & ~cast(np.ndarray, org.exists), "org_code", "organisation not in this import nor in the store")
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
        role_code = _codes(role)
        rows.duplicates(
            pd.DataFrame({"holder": holder.code, "role": role_code, "org": org_code, "vf": vf.ordinal}),
            "valid_from",
            "edge (same holder, role, organisation and valid_from)",
        )
        vt_open = np.where(vt.ordinal >= 0, vt.ordinal, _OPEN)
        # Checks against stored edges and the writes go organisation by organisation, so each batch
        # sees every edge of its organisations (rows of one organisation stay in file order).
        good_pos = np.flatnonzero(~rows.bad)
        good_pos = good_pos[np.argsort(org_code[good_pos], kind="stable")]
        orgs = org_code[good_pos]
        # Batch ends: every ``self.batch`` rows, moved forward to the next change of organisation.
        change = np.flatnonzero(orgs[1:] != orgs[:-1]) + 1
        ends = np.unique(change[np.minimum(np.searchsorted(change, np.arange(self.batch, len(orgs), self.batch)),
                                           len(change) - 1)]) if len(change) else np.zeros(0, dtype=np.int64)
        starts = [0, *[int(e) for e in ends if 0 < e < len(orgs)], len(good_pos)] if len(good_pos) else [0]

        vt_ord = np.where(vt.ordinal >= 0, vt.ordinal, 0)
        vf_text = pa.array(rows.col("valid_from"))
        titles = pa.array(rows.col("title"))

        def checks(pos: np.ndarray) -> _Checks:
            return _Checks(holder.key[pos], role[pos], org.key[pos], holder.code[pos], role_code[pos], org_code[pos],
                           vf.ordinal[pos], vt_open[pos], ratio[pos], pos)

        def columns(pos: np.ndarray) -> RoleColumns:
            take = pa.array(pos)
            hs, rs, os_ = (pa.array(k[pos], pa.string()) for k in (holder.key, role, org.key))
            # model.stable_id(holder, role, org, valid_from), on the ISO text already at hand.
            edge_id = blake2b_hex(pc.binary_join_element_wise(hs, rs, os_, vf_text.take(take), "\x1f"))
            return RoleColumns(
                edge_id=edge_id, holder=hs, role=rs, org=os_, valid_from=vf.ordinal[pos], valid_to=vt_ord[pos],
                ratio=ratio[pos], subscribed_capital=capital[pos], title=titles.take(take),
            )

        bar.update(len(rows.bad) - len(good_pos))  # rows refused here are done with
        for a, b in zip(starts, starts[1:], strict=False):
            yield rows, checks(good_pos[a:b]), columns(good_pos[a:b])

    def _edge_checks(self, rows: _Rows, part: _Checks, edge_ids: Texts, stored: list[RoleEdge]) -> np.ndarray:
        """Overlapping intervals for one (holder, role, organisation) and shareholding sums over 1,
        against this batch's rows and the stored edges they do not replace. Returns rows to keep.
        Both are sorted sweeps over the whole batch; only the few groups they flag are resolved
        one by one (which row to refuse, and why)."""
        n = len(part.pos)
        replaced = set(texts_of(edge_ids)) if stored else set()
        others = [e for e in stored if e.edge_id not in replaced]
        if others:
            def cat(mine: np.ndarray, theirs: list[Any], dtype: Any) -> np.ndarray:
                return np.concatenate([mine, np.array(theirs, dtype=dtype)])

            holder = cat(part.holder, [e.holder for e in others], object)
            role = cat(part.role, [e.role.value for e in others], object)
            org = cat(part.org, [e.org for e in others], object)
            hc, rc, oc = _codes(holder), _codes(role), _codes(org)
            vf = cat(part.vf, [e.valid_from.toordinal() for e in others], np.int64)
            vt = cat(part.vt, [e.valid_to.toordinal() if e.valid_to else _OPEN for e in others], np.int64)
            ratio = cat(part.ratio, [np.nan if e.ratio is None else e.ratio for e in others], float)
            posarr = cat(part.pos, [-1] * len(others), np.int64)  # row -> position in the file (-1: stored)
        else:
            holder, role, org, hc, rc, oc = part.holder, part.role, part.org, part.hc, part.rc, part.oc
            vf, vt, ratio, posarr = part.vf, part.vt, part.ratio, part.pos
        ok = np.ones(len(posarr), dtype=bool)  # file rows first, in the order of ``part``
        lines = rows.lines

        # Overlaps: sorted by (holder, role, organisation, valid_from), a row can clash only if it
        # starts before the latest end among the earlier rows of its group (a running maximum).
        order = np.lexsort((posarr, vf, oc, rc, hc))
        same = np.zeros(len(order), dtype=bool)
        same[1:] = (hc[order][1:] == hc[order][:-1]) & (rc[order][1:] == rc[order][:-1]) & (
            oc[order][1:] == oc[order][:-1])
        group = np.cumsum(~same) - 1
        lift = group * (_OPEN + 1)  # groups in ascending order: the maximum restarts at each group
        latest = np.maximum.accumulate(vt[order] + lift) - lift
        clash = same.copy()
        clash[1:] &= vf[order][1:] < latest[:-1]
        flagged = np.isin(group, group[clash])
        for grp in np.split(order[flagged], np.flatnonzero(np.diff(group[flagged])) + 1) if flagged.any() else []:
            kept: list[tuple[int, int, int]] = []  # (vf, vt, row) accepted so far
            for i in grp.tolist():
                f, t = int(vf[i]), int(vt[i])
                clash_with = next(((kf, kt, ki) for kf, kt, ki in kept if f < kt and kf < t), None)
                if clash_with is None:
                    kept.append((f, t, i))
                    continue
                victim, other = i, clash_with[2]
                if posarr[i] < 0:  # a stored edge stays: reject the file row it clashes with
                    victim, other = other, i
                    kept.remove(clash_with)
                    kept.append((f, t, i))
                other_pos = posarr[other]
                where = f"line {lines[other_pos]}" if other_pos >= 0 else "an edge already stored"
                _reject(rows, int(posarr[victim]), "valid_from",
                        f"overlaps the interval of {where} for the same holder, role and organisation")
                ok[victim] = False

        # Shareholding: the ratios in force on any day may not sum past 1. A sweep over the events
        # (start +ratio, end -ratio, ends first on a day) finds the organisations concerned; for
        # those (few) a greedy sweep rejects the latest entrant.
        sh = np.flatnonzero(ok & (role == "SHAREHOLDER") & ~np.isnan(ratio))
        if len(sh):
            sh = sh[np.bincount(oc[sh])[oc[sh]] > 1]
        if len(sh):
            ev_org = np.concatenate([oc[sh], oc[sh]])
            ev_day = np.concatenate([vf[sh], vt[sh]])
            ev_delta = np.concatenate([ratio[sh], -ratio[sh]])
            at = np.lexsort((ev_delta, ev_day, ev_org))
            ev_org, ev_delta = ev_org[at], ev_delta[at]
            running = np.cumsum(ev_delta)
            first = np.ones(len(at), dtype=bool)
            first[1:] = ev_org[1:] != ev_org[:-1]
            begin = np.flatnonzero(first)
            before = (running - ev_delta)[begin]  # the running sum where each organisation starts
            total = running - np.repeat(before, np.diff(np.append(begin, len(at))))
            for code in np.unique(ev_org[total > 1 + _EPS / 2]).tolist():  # below _overflow's bound: it decides
                mine = sh[oc[sh] == code]
                frame = pd.DataFrame({"vf": vf[mine], "vt": vt[mine], "ratio": ratio[mine], "pos": posarr[mine]},
                                     index=mine)
                org_code = org[mine[0]]
                for i, over, day in _overflow(frame, lines):
                    _reject(rows, int(posarr[i]), "ratio",
                            f"shareholding ratios of {org_code} would sum to {over:.6g} "
                            f"on {date.fromordinal(int(day)).isoformat()}")
                    ok[i] = False
        return ok[:n]

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
        jurisdiction = _categories(rows)
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

def import_dir(
    store: Store, path: str | Path, *, progress: bool = True, batch_size: int = 50_000
) -> ImportReport:
    """Import ``organisations``, ``persons``, ``roles``, ``records``, ``honours`` and ``list_entries``
    files (``.csv``, ``.csv.gz`` or ``.parquet``) from a directory, in dependency order."""
    files = find_import_files(Path(path))
    report = ImportReport()
    importer = _Importer(store, report, progress, batch_size)
    for kind in KINDS:
        if kind in files:
            with collector_paused():
                _import_file(importer, kind, files[kind])
            release_free_memory()  # the next file's working set reuses this one's pages
    return report


_SPILL = "graph-credit-roles-"


def _spill_dir() -> tempfile.TemporaryDirectory[str]:
    """The roles import's scratch directory, named with this process's id. Scratch that an import killed
    before it could clean up left behind (its process gone: about 500 MB at 10^6) is removed first."""
    for old in Path(tempfile.gettempdir()).glob(f"{_SPILL}*-*"):
        pid = old.name[len(_SPILL):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (PermissionError, OverflowError):  # another user's process, or no such number
            continue
    return tempfile.TemporaryDirectory(prefix=f"{_SPILL}{os.getpid()}-")


def _import_file(importer: _Importer, kind: str, path: Path) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    report = importer.report
    spill: _SpilledRoles | None = None
    with contextlib.ExitStack() as scope:
        try:
            plan = _spill_plan(path) if kind == "roles" else None
            if plan is not None:
                work = Path(scope.enter_context(_spill_dir()))
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
    report.cpu_seconds[kind] = time.process_time() - cpu


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
            started, cpu = time.perf_counter(), time.process_time()
            normal = _normalise(frame, kind, np.arange(len(frame), dtype=np.int64) + 2)
            with collector_paused():
                importer.run(_Source(kind, names.get(kind, f"{kind}.csv"), normal, []))
            report.seconds[kind] = time.perf_counter() - started
            report.cpu_seconds[kind] = time.process_time() - cpu
    return report
