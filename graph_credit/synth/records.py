"""Records (with the persons they name as directly responsible), honours and red/black list entries of a
chunk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import _ascii, _choice, _date, _Edges, _join, _num, _vocab
from .state import _ChunkState
from .vocab import (
    _BLACK_NAMES,
    _CAT_P,
    _MINOR_CATEGORIES,
    _ORG_HONOURS,
    _PERSON_HONOURS,
    _PROVINCE_ABBR,
    _RED_LISTS,
    CATEGORIES,
    DIRECTOR,
    JUDGMENT_DEFAULT,
    LR,
    OPEN,
    PRACTITIONER,
    REGIONS,
    ROLES,
    SHAREHOLDER,
    SM,
)


class _Records(_ChunkState):

    # records, honours, lists ------------------------------------------------------------------
    def records_honours_lists(self, e: _Edges) -> tuple[pa.Table, pa.Table, pa.Table]:
        rng, n = self.rng, self.n
        end = self.end
        live_until = np.minimum(self.dereg, end)
        eligible = np.flatnonzero(live_until - self.reg > 200)
        n_serious = min(len(eligible), max(1, round(0.01 * n)) if n >= 20 else 0)
        n_general = min(len(eligible), round(0.004 * n))
        n_minor = min(len(eligible), round(0.003 * n))
        chosen = rng.permutation(eligible)
        serious_orgs = np.sort(chosen[:n_serious])
        other_orgs = (
            rng.choice(eligible, n_general + n_minor, replace=True) if n_general + n_minor else chosen[:0]
        )
        rec_orgs = np.concatenate([serious_orgs, other_orgs])
        severity = np.repeat([0, 1, 2], [n_serious, n_general, n_minor])
        m = len(rec_orgs)
        cat = np.where(
            severity == 0,
            _choice(rng, _CAT_P, m),
            np.array(_MINOR_CATEGORIES)[rng.integers(0, len(_MINOR_CATEGORIES), m)],
        )
        span = live_until[rec_orgs] - self.reg[rec_orgs]
        act = self.reg[rec_orgs] + 60 + (rng.random(m) * np.maximum(span - 150, 1)).astype(np.int64)
        decision = np.minimum(act + rng.integers(15, 400, m), end)
        decision = np.maximum(decision, act)
        years = rng.choice([1, 2, 3, 5], m, p=[0.2, 0.35, 0.3, 0.15])
        period_end = np.where(
            (severity == 0) & (rng.random(m) < 0.92), decision + (365.25 * years).astype(np.int64), OPEN
        )
        act_known = rng.random(m) < 0.9
        responsible = self._responsible(e, rec_orgs, np.where(act_known, act, decision), severity == 0)

        # Judgment defaulters (失信被执行人): persons who hold legal-representative roles, mostly.
        lr_holders = np.unique(e.holder[(e.role == LR) & (e.hkind == 0)])
        n_def = min(len(lr_holders), max(1, round(0.002 * self.np_)) if n >= 20 else 0)
        defaulters = rng.choice(lr_holders, n_def, replace=False) if n_def else lr_holders[:0]
        d_decision = self.start + 365 + (rng.random(n_def) * (end - self.start - 365)).astype(np.int64)
        d_region = self.region[rng.integers(0, n, n_def)]

        r_total = m + n_def
        reg_of = np.concatenate([self.region[rec_orgs], d_region])
        juris = _vocab([r[4] for r in REGIONS], reg_of)
        cat_all = np.concatenate([cat, np.full(n_def, len(CATEGORIES))])
        cats = (*CATEGORIES, JUDGMENT_DEFAULT)
        dept = _vocab([c[1] for c in cats], cat_all)
        year = (
            np.concatenate([decision, d_decision])
            .astype("datetime64[D]")
            .astype("datetime64[Y]")
            .astype(np.int64)
            + 1970
        )
        serial = rng.integers(1, 3000, r_total)
        abbr = _vocab([r[2][0] for r in REGIONS], reg_of)
        prov = _vocab([_PROVINCE_ABBR[r[0][:2]] for r in REGIONS], reg_of)
        court = np.arange(r_total) >= m
        doc = pc.if_else(
            pa.array(court),
            _join(
                "（",
                _num(year),
                "）",
                prov,
                _vocab([r[0][2:] for r in REGIONS], reg_of),
                "执",
                _num(serial),
                "号",
            ),
            _join(
                abbr, _vocab([c[1][:2] for c in cats], cat_all), "罚〔", _num(year), "〕", _num(serial), "号"
            ),
        )
        subject = pa.concat_arrays([_ascii(self.codes[rec_orgs]), self._persons_ids(defaulters)])
        record_id = _join(f"R{self.no:03d}-", _num(np.arange(r_total), 7))
        records = pa.table(
            {
                "record_id": record_id,
                "subject_id": subject,
                "category": _vocab([c[0] for c in cats], cat_all),
                "severity": _vocab(
                    ("serious", "general", "minor"), np.concatenate([severity, np.zeros(n_def, np.int64)])
                ),
                "act_date": _date(
                    np.concatenate([act, d_decision]),
                    np.concatenate([~act_known, np.ones(n_def, dtype=bool)]),
                ),
                "decision_date": _date(np.concatenate([decision, d_decision])),
                "document_no": doc,
                "department": dept,
                "basis": _vocab([c[2] for c in cats], cat_all),
                "period_end": _date(np.concatenate([period_end, np.full(n_def, OPEN)])),
                "responsible": pa.concat_arrays([responsible, pa.nulls(n_def, pa.string())]),
                "jurisdiction": juris,
            }
        )

        # Honours: to about 2% of organisations (some later dishonest) and 0.5% of persons.
        h_orgs = rng.choice(n, min(n, round(0.02 * n)), replace=False)
        h_orgs = np.unique(np.concatenate([h_orgs, serious_orgs[rng.random(n_serious) < 0.3]]))
        h_persons = rng.choice(
            self.np_ - self.hubs, min(self.np_ - self.hubs, round(0.005 * self.np_)), replace=False
        )
        ho_t = rng.integers(0, len(_ORG_HONOURS), len(h_orgs))
        hp_t = rng.integers(0, len(_PERSON_HONOURS), len(h_persons))
        ho_on = self.reg[h_orgs] + (rng.random(len(h_orgs)) * (live_until[h_orgs] - self.reg[h_orgs])).astype(
            np.int64
        )
        hp_on = self.start + (rng.random(len(h_persons)) * (end - self.start)).astype(np.int64)
        ho_place = _vocab([r[1] for r in REGIONS], self.region[h_orgs])
        hp_place = _vocab([r[1] for r in REGIONS], self.region[rng.integers(0, n, len(h_persons))])
        honours = pa.table(
            {
                "honour_id": _join(f"H{self.no:03d}-", _num(np.arange(len(h_orgs) + len(h_persons)), 7)),
                "holder_id": pa.concat_arrays(
                    [_ascii(self.codes[h_orgs]), self._persons_ids(self.p0 + h_persons)]
                ),
                "title": pa.concat_arrays(
                    [
                        _vocab([h[0] for h in _ORG_HONOURS], ho_t),
                        _vocab([h[0] for h in _PERSON_HONOURS], hp_t),
                    ]
                ),
                "awarding_body": pa.concat_arrays(
                    [
                        _join(ho_place, _vocab([h[1] for h in _ORG_HONOURS], ho_t)),
                        _join(hp_place, _vocab([h[1] for h in _PERSON_HONOURS], hp_t)),
                    ]
                ),
                "awarded_on": _date(np.concatenate([ho_on, hp_on])),
            }
        )

        # Black list: most serious organisation records and most judgment defaulters.
        b_rec = np.flatnonzero((severity == 0) & (rng.random(m) < 0.6))
        b_def = np.flatnonzero(rng.random(n_def) < 0.8)
        b_from = np.concatenate([decision[b_rec], d_decision[b_def]]) + rng.integers(
            10, 60, len(b_rec) + len(b_def)
        )
        b_to = np.concatenate(
            [
                np.where(period_end[b_rec] == OPEN, OPEN, period_end[b_rec]),
                np.where(rng.random(len(b_def)) < 0.5, d_decision[b_def] + 730, OPEN),
            ]
        )
        b_to = np.where(b_to <= b_from, OPEN, b_to)
        b_cat = np.concatenate([cat[b_rec], np.full(len(b_def), len(CATEGORIES))])
        b_subject = pa.concat_arrays([subject.take(pa.array(b_rec)), subject.take(pa.array(m + b_def))])
        b_unit = pa.concat_arrays([dept.take(pa.array(b_rec)), dept.take(pa.array(m + b_def))])
        b_name = [
            _BLACK_NAMES.get(cats[c][0], "失信被执行人名单" if c == len(CATEGORIES) else "严重失信主体名单")
            for c in b_cat.tolist()
        ]
        # Red list: about 1% of organisations, plus a few later black-listed ones (red list exit).
        r_orgs = rng.choice(n, min(n, round(0.01 * n)), replace=False)
        later_black = np.unique(rec_orgs[b_rec[rng.random(len(b_rec)) < 0.15]]) if len(b_rec) else b_rec
        r_orgs = np.unique(np.concatenate([r_orgs, later_black]))
        r_kind = rng.integers(0, len(_RED_LISTS), len(r_orgs))
        r_from = self.reg[r_orgs] + (
            rng.random(len(r_orgs)) * (live_until[r_orgs] - self.reg[r_orgs])
        ).astype(np.int64)
        r_to = np.where(rng.random(len(r_orgs)) < 0.6, r_from + 3 * 365, OPEN)
        r_unit = _join(
            _vocab([r[1] for r in REGIONS], self.region[r_orgs]), _vocab([x[1] for x in _RED_LISTS], r_kind)
        )
        vf = np.concatenate([b_from, r_from])
        vt = np.concatenate([b_to, r_to])
        nb = len(b_from)
        status = np.where(vf > end, 1, np.where(vt <= end, 3, 2))  # proposed / exited / effective
        in_publicity = (vf > end - 20) & (vf <= end + 7)
        status = np.where(in_publicity & (vf > end), 4, status)
        lists = pa.table(
            {
                "entry_id": _join(f"L{self.no:03d}-", _num(np.arange(len(vf)), 7)),
                "subject_id": pa.concat_arrays([b_subject, _ascii(self.codes[r_orgs])]),
                "list": _vocab(
                    ("black", "red"), np.r_[np.zeros(nb, np.int64), np.ones(len(r_orgs), np.int64)]
                ),
                "name": pa.concat_arrays(
                    [pa.array(b_name, type=pa.string()), _vocab([x[0] for x in _RED_LISTS], r_kind)]
                ),
                "determining_unit": pa.concat_arrays([b_unit, r_unit]),
                "basis": pa.concat_arrays(
                    [
                        _vocab([c[2] for c in cats], b_cat),
                        pa.array(
                            ["《关于建立完善守信联合激励和失信联合惩戒制度的指导意见》"] * len(r_orgs),
                            type=pa.string(),
                        ),
                    ]
                ),
                "valid_from": _date(vf),
                "valid_to": _date(vt),
                "publicity_from": _date(vf - 14),
                "publicity_to": _date(vf - 7),
                "status": _vocab(("", "proposed", "effective", "exited", "publicity"), status),
            }
        )
        return records, honours, lists

    def _responsible(self, e: _Edges, rec_orgs: np.ndarray, on: np.ndarray, serious: np.ndarray) -> pa.Array:
        """Directly responsible persons named in about 60% of serious records: people holding a
        director, shareholder, practitioner, manager or legal representative role on the act date."""
        rng = self.rng
        m = len(rec_orgs)
        names = np.flatnonzero(serious & (rng.random(m) < 0.6))
        if not len(names):
            return pa.nulls(m, pa.string())
        person = (e.hkind == 0) & np.isin(e.role, [LR, SM, DIRECTOR, SHAREHOLDER, PRACTITIONER])
        edges = pd.DataFrame(
            {
                "org": e.org[person],
                "holder": e.holder[person],
                "role": e.role[person],
                "vf": e.vf[person],
                "vt": e.vt[person],
            }
        )
        recs = pd.DataFrame(
            {"rec": names, "org": rec_orgs[names], "on": on[names], "k": rng.integers(1, 4, len(names))}
        )
        j = recs.merge(edges, on="org")
        j = j[(j.vf <= j.on) & (j.on < j.vt)].copy()
        j["r"] = rng.random(len(j))
        # Prefer directors, shareholders and practitioners (named, not liable by position).
        j["pref"] = np.where(np.isin(j.role, [DIRECTOR, SHAREHOLDER, PRACTITIONER]), 0, 1)
        j = j.sort_values(["rec", "pref", "r"], kind="stable")
        j = j[j.groupby("rec").cumcount() < j.k].drop_duplicates(["rec", "holder"])
        if j.empty:
            return pa.nulls(m, pa.string())
        ids = self._persons_ids(j.holder.to_numpy()).to_pylist()
        with_role = rng.random(len(j)) < 0.9
        items = [
            f"{i}:{ROLES[r]}" if w else i
            for i, r, w in zip(ids, j.role.tolist(), with_role.tolist(), strict=True)
        ]
        joined = pd.Series(items, index=j.rec.to_numpy()).groupby(level=0, sort=True).agg(";".join)
        out = np.full(m, None, dtype=object)
        out[joined.index.to_numpy()] = joined.to_numpy()
        return pa.array(out.tolist(), type=pa.string())
