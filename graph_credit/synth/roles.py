"""The role graph of a chunk: positions, shareholders (chains and pyramids), turnover over time, nominee
hubs, and the roles table.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .arrays import _ascii, _choice, _date, _Edges, _vocab
from .state import _ChunkState
from .vocab import (
    _T,
    _TITLE_LIST,
    DIRECTOR,
    ENT,
    LR,
    PRACTITIONER,
    PRINCIPAL,
    PUB,
    ROLES,
    SHAREHOLDER,
    SM,
    SOC,
    SUPERVISOR,
)


class _RoleGraph(_ChunkState):
    def roles(self) -> _Edges:
        rng, n = self.rng, self.n
        orgs = np.arange(n)
        t = self.type
        parts: list[_Edges] = []
        lr = self.pick(n)
        self.first_lr = lr
        parts.append(_Edges.make(orgs, LR, lr, self.reg, self.dereg))

        # Principal (主要负责人): always in public institutions and social organisations.
        has_p = (t == PUB) | (t == SOC) | ((t == ENT) & (rng.random(n) < 0.12))
        po = orgs[has_p]
        holder = np.where(rng.random(len(po)) < 0.5, lr[po], self.pick(len(po)))
        ind = self.industry[po]
        title = np.select(
            [(t[po] == PUB) & (ind == "P"), (t[po] == PUB) & (ind == "Q"), t[po] == PUB, t[po] == SOC],
            [_T["校长"], _T["院长"], _T["主任"], _T["会长"]],
            _T["总经理"],
        )
        parts.append(_Edges.make(po, PRINCIPAL, holder, self.reg[po], self.dereg[po], title))

        # Directors: a board of 3-5 (chair first) or an executive director, usually the legal rep.
        k = np.where(
            self.board,
            rng.integers(3, 6, n),
            np.where(t == ENT, 1, np.where(t == SOC, rng.integers(3, 7, n), 0)),
        )
        do = np.repeat(orgs, k)
        first = np.r_[True, do[1:] != do[:-1]] if len(do) else np.zeros(0, dtype=bool)
        holder = self.pick(len(do))
        exec_dir = ~self.board[do] & (t[do] == ENT)
        holder = np.where(exec_dir & (rng.random(len(do)) < 0.8), lr[do], holder)
        holder = np.where(first & self.board[do] & (rng.random(len(do)) < 0.7), lr[do], holder)
        title = np.select(
            [exec_dir, (t[do] == SOC) & first, t[do] == SOC, first],
            [_T["执行董事"], _T["理事长"], _T["理事"], _T["董事长"]],
            _T["董事"],
        )
        parts.append(_Edges.make(do, DIRECTOR, holder, self.reg[do], self.dereg[do], title))

        # Supervisors: a board of supervisors of 3 with a board of directors, else one.
        k = np.where(self.board, 3, np.where(((t == ENT) & (rng.random(n) < 0.8)) | (t == SOC), 1, 0))
        so = np.repeat(orgs, k)
        first = np.r_[True, so[1:] != so[:-1]] if len(so) else np.zeros(0, dtype=bool)
        title = np.where(first & self.board[so], _T["监事会主席"], _T["监事"])
        parts.append(_Edges.make(so, SUPERVISOR, self.pick(len(so)), self.reg[so], self.dereg[so], title))

        # Senior managers.
        k = np.where(
            t == ENT, np.minimum(rng.poisson(0.6, n), 3), np.where(t == PUB, rng.integers(1, 3, n), 0)
        )
        mo = np.repeat(orgs, k)
        title = np.where(
            t[mo] == PUB,
            rng.choice([_T["副院长"], _T["财务负责人"]], len(mo)),
            rng.choice(
                [_T["总经理"], _T["副总经理"], _T["财务负责人"], _T["董事会秘书"]],
                len(mo),
                p=[0.3, 0.3, 0.3, 0.1],
            ),
        )
        parts.append(_Edges.make(mo, SM, self.pick(len(mo)), self.reg[mo], self.dereg[mo], title))

        # Registered practitioners in construction, design and health.
        ind = self.industry
        eligible = np.isin(ind, ["E", "M", "Q"]) & ((t == ENT) | (t == PUB))
        k = np.where(eligible, rng.integers(1, 4, n), 0)
        xo = np.repeat(orgs, k)
        choices = np.where(
            ind[xo] == "Q",
            _T["执业医师"],
            np.where(
                ind[xo] == "E",
                rng.choice([_T["注册建造师"], _T["注册安全工程师"], _T["注册造价工程师"]], len(xo)),
                rng.choice([_T["注册建筑师"], _T["注册会计师"], _T["注册造价工程师"]], len(xo)),
            ),
        )
        live = np.minimum(self.dereg[xo], self.end) - self.reg[xo]
        vf = self.reg[xo] + (rng.random(len(xo)) * 0.3 * live).astype(np.int64)
        parts.append(_Edges.make(xo, PRACTITIONER, self.pick(len(xo)), vf, self.dereg[xo], choices))

        parts.append(self._shareholders())
        edges = _Edges.concat([p for p in parts if len(p)])
        new = [self._turnover(edges, LR, 0.25)]
        new.append(self._turnover(new[0], LR, 0.3))  # some legal representatives change twice
        for role, p in (
            (PRINCIPAL, 0.1),
            (DIRECTOR, 0.12),
            (SUPERVISOR, 0.12),
            (SM, 0.15),
            (PRACTITIONER, 0.15),
            (SHAREHOLDER, 0.08),
        ):
            new.append(self._turnover(edges, role, p))
        edges = self._nominees(_Edges.concat([edges, *new]))
        return self._no_overlaps(edges)

    def _shareholders(self) -> _Edges:
        """Person and organisation shareholders; ratios per organisation sum to at most 1."""
        rng, ident = self.rng, self.ident
        ent = np.flatnonzero(self.type == ENT)
        # Corporate parents: earlier organisations, mostly group holding companies, so chains and
        # pyramids form; a few from earlier chunks link the chunks together.
        has_parent = ent[(rng.random(len(ent)) < 0.16) & (self.g[ent] > 0)]
        gl = self.g[has_parent]
        local_holdcos = self.g[ident.holdco(self.g)]
        before = np.searchsorted(local_holdcos, gl)  # holding companies registered under a lower index
        u = rng.random(len(gl))
        pick_hold = (u < 0.65) & (before > 0)
        parent = (rng.random(len(gl)) * gl).astype(np.int64)  # any earlier organisation: deeper chains
        hold_idx = (rng.random(len(gl)) * np.maximum(before, 1)).astype(np.int64)
        parent = np.where(
            pick_hold,
            local_holdcos[np.minimum(hold_idx, max(len(local_holdcos) - 1, 0))]
            if len(local_holdcos)
            else parent,
            parent,
        )
        if self.o0 > 0:
            cross = u > 0.95
            parent[cross] = rng.integers(0, self.o0, int(cross.sum()))
        ok = (ident.org_type(parent) == ENT) | (
            ident.org_type(parent) == PUB
        )  # state assets via institutions
        has_parent, parent = has_parent[ok], parent[ok]
        p_units = np.where(rng.random(len(parent)) < 0.3, 10_000, rng.integers(3_000, 10_000, len(parent)))
        p_vf = np.maximum(self.reg[has_parent], ident.registered(parent) + 1)
        live = p_vf < np.minimum(self.dereg[has_parent], self.end)
        has_parent, parent, p_units, p_vf = has_parent[live], parent[live], p_units[live], p_vf[live]

        # Total allocated per enterprise: usually 100%, sometimes less (unreported or unpaid stakes).
        total = np.where(rng.random(len(ent)) < 0.85, 10_000, rng.integers(5_000, 10_000, len(ent)))
        total_of = np.zeros(self.n, dtype=np.int64)
        total_of[ent] = total
        org_units = np.zeros(self.n, dtype=np.int64)
        org_units[has_parent] = np.minimum(p_units, total_of[has_parent])
        remaining = total_of - org_units
        k = np.zeros(self.n, dtype=np.int64)
        k[ent] = _choice(rng, [0.55, 0.28, 0.11, 0.06], len(ent)) + 1 + self.board[ent]
        k = np.where(remaining >= k, k, 0)
        po = np.repeat(np.arange(self.n), k)
        w = rng.gamma(2.0, 1.0, len(po))
        wsum = np.bincount(po, weights=w, minlength=self.n)
        units = 1 + np.floor(w / wsum[po] * (remaining[po] - k[po])).astype(np.int64)  # sum <= remaining
        first = np.r_[True, po[1:] != po[:-1]] if len(po) else np.zeros(0, dtype=bool)
        holder = np.where(first & (rng.random(len(po)) < 0.6), self.first_lr[po], self.pick(len(po)))
        persons = _Edges.make(po, SHAREHOLDER, holder, self.reg[po], self.dereg[po])
        persons.ratio = units / 10_000
        persons.cap = np.round(self.capital[po] * persons.ratio, 2)
        orgs = _Edges.make(has_parent, SHAREHOLDER, parent, p_vf, self.dereg[has_parent], hkind=1)
        orgs.ratio = org_units[has_parent] / 10_000
        orgs.cap = np.round(self.capital[has_parent] * orgs.ratio, 2)
        self.parents = (has_parent, parent, p_vf)
        # Cross-directorships: the parent's legal representative sits on the subsidiary's board.
        local = (parent >= self.o0) & (parent < self.o0 + self.n)
        child, par, vf = has_parent[local], parent[local] - self.o0, p_vf[local]
        cross_dir = _Edges.make(child, DIRECTOR, self.first_lr[par], vf, self.dereg[child], _T["董事"])
        return _Edges.concat([persons, orgs, cross_dir])

    def _turnover(self, e: _Edges, role: int, p: float) -> _Edges:
        """Replace some holders mid-interval: the old edge (changed in place) ends the day the
        returned new edge starts."""
        rng = self.rng
        end = np.minimum(e.vt, self.end)
        cand = np.flatnonzero((e.role == role) & (e.hkind == 0) & (end - e.vf > 120))
        sel = cand[rng.random(len(cand)) < p]
        d = e.vf[sel] + 60 + (rng.random(len(sel)) * (end[sel] - e.vf[sel] - 120)).astype(np.int64)
        new = e.take(sel)
        new.vf = d
        holder = self.pick(len(sel))
        holder = np.where(
            holder == e.holder[sel], self.p0 + (holder - self.p0 + 1) % (self.np_ - self.hubs), holder
        )
        new.holder = holder
        e.vt[sel] = d
        return new

    def _nominees(self, e: _Edges) -> _Edges:
        """About 5% of person-held roles go to nominee hubs (代持/挂名), each hub holding hundreds."""
        rng = self.rng
        cand = np.flatnonzero(e.hkind == 0)
        sel = cand[rng.random(len(cand)) < 0.05]
        hub = (self.hubs * rng.random(len(sel)) ** 1.3).astype(np.int64)
        e.holder[sel] = self.p0 + self.np_ - self.hubs + hub
        return e

    def _no_overlaps(self, e: _Edges) -> _Edges:
        """The same holder may not hold the same role in the same organisation twice at once; two
        adjacent edges of one holder (a nominee replacing both sides of a change) become one."""
        # One int64 key per (holder kind, holder, role, organisation): 1 + 34 + 3 + 24 bits.
        key = ((e.hkind.astype(np.int64) << 34 | e.holder) << 3 | e.role) << 24 | e.org
        order = np.argsort(key)
        sk = key[order]
        dup = np.r_[False, sk[1:] == sk[:-1]]
        dup[:-1] |= dup[1:]
        cand = order[dup]  # only the few repeated keys need a closer look
        drop = np.zeros(len(e), dtype=bool)
        cand = cand[np.lexsort((e.vf[cand], key[cand]))]
        last_key, last, last_end = -1, -1, -1
        for i, k, f, t in zip(
            cand.tolist(), key[cand].tolist(), e.vf[cand].tolist(), e.vt[cand].tolist(), strict=True
        ):
            if k != last_key:
                last_key, last, last_end = k, i, t
            elif f < last_end and f != e.vt[last]:
                drop[i] = True  # overlaps an edge kept before
            elif f == e.vt[last]:
                e.vt[last] = t  # adjacent: extend the earlier edge
                last_end = max(last_end, t)
                drop[i] = True
            else:
                last, last_end = i, max(last_end, t)
        keep = np.flatnonzero(~drop)
        # Emit in a stable, readable order: by organisation, role, start (vf < 2^16 days).
        order = np.argsort((e.org[keep] << 3 | e.role[keep]) << 16 | e.vf[keep], kind="stable")
        return e.take(keep[order])

    # tables ----------------------------------------------------------------------------------------

    def role_table(self, e: _Edges) -> pa.Table:
        return pa.table(
            {
                "holder_id": self._subject_ids(e.hkind, e.holder),
                "org_code": _ascii(self.codes[e.org]),
                "role": _vocab(ROLES, e.role),
                "valid_from": _date(e.vf),
                "valid_to": _date(e.vt),
                "ratio": pa.array(e.ratio, from_pandas=True),
                "subscribed_capital": pa.array(e.cap, from_pandas=True),
                "title": _vocab(_TITLE_LIST, e.title),
            }
        )
