"""Analytics with known answers on small hand-built graphs: ownership, network, frames."""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from graph_credit import analytics as ga
from graph_credit.cases import case_statistics, open_case, report_feedback
from graph_credit.engine import Engine
from graph_credit.graph import (
    analyse_ownership,
    beneficial_owners,
    effective_ownership,
    ownership,
    stake_through,
    ultimate_controllers,
)
from graph_credit.ids import mask_id_number, person_key
from graph_credit.model import (
    Cause,
    DishonestyRecord,
    ListEntry,
    Organisation,
    Person,
    RecordEvent,
    Responsible,
    RoleEdge,
)
from graph_credit.model import Role as R
from graph_credit.policy import load_policy
from graph_credit.store import SQLiteStore
from tests.helpers import make_id_number, make_uscc

D = date.fromisoformat
ON = D("2024-06-30")


class World:
    """A tiny graph built by short names: ``w.org("A")``, ``w.person("p")``, ``w["A"]`` is the key."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.store = SQLiteStore(path)
        self.engine = Engine(self.store)
        self.ids: dict[str, str] = {}
        self.numbers: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        return self.ids[name]

    def org(self, name: str, region: str = "320281", industry: str = "C", registered: str = "2010-01-01",
            deregistered: str | None = None, org_type: str = "enterprise") -> str:
        self.ids[name] = code = make_uscc(len(self.ids) + 1)
        self.engine.put_subjects([Organisation(code, f"{name}有限公司", org_type, region, industry, D(registered),
                                               D(deregistered) if deregistered else None)])
        return code

    def person(self, name: str) -> str:
        number = make_id_number(len(self.ids) + 1)
        self.ids[name] = key = person_key(number)
        self.numbers[name] = number
        self.engine.put_subjects(persons=[Person(key, mask_id_number(number), f"张{name}", "320281")])
        return key

    def role(self, holder: str, role: R, org: str, start: str = "2015-01-01", end: str | None = None,
             ratio: float | None = None) -> None:
        self.engine.put_roles([RoleEdge(self[holder], role, self[org], D(start), D(end) if end else None,
                                        ratio=ratio)])

    def owns(self, holder: str, org: str, ratio: float, start: str = "2015-01-01", end: str | None = None) -> None:
        self.role(holder, R.SHAREHOLDER, org, start, end, ratio)

    def record(self, rid: str, subject: str, decision: str = "2023-06-01", act: str | None = None,
               period_end: str = "2027-01-01", severity: str = "serious", category: str = "tax_evasion",
               responsible: tuple[tuple[str, R | None], ...] = ()) -> None:
        self.engine.put_records([DishonestyRecord(
            rid, self[subject], category, severity, D(decision), D(act) if act else None, department="tax",
            period_end=D(period_end), responsible=tuple(Responsible(self[p], r) for p, r in responsible))])


@pytest.fixture
def w() -> Iterator[World]:
    world = World()
    yield world
    world.store.close()


INVESTIGATOR = {"Authorization": "Bearer demo-investigator", "X-Purpose": "investigation"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[object, World]]:
    """A World in a SQLite file and a test client of the API over the same store."""
    from fastapi.testclient import TestClient

    from api.app import Settings, create_app

    world = World(tmp_path / "api.sqlite")
    app = create_app(Settings(demo=True, today=ON, public_rate_per_minute=1000), store=world.store)
    with TestClient(app) as client:
        yield client, world


def rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 9) for k, v in d.items()}


# -- ownership -------------------------------------------------------------------------------------
def chain_world(w: World) -> None:
    """P holds 60% of B and 10% of C directly; B holds 50% of C; Q holds 40% of C."""
    for o in ("B", "C"):
        w.org(o)
    for p in ("P", "Q"):
        w.person(p)
    w.owns("P", "B", 0.6)
    w.owns("B", "C", 0.5)
    w.owns("P", "C", 0.1)
    w.owns("Q", "C", 0.4)


def test_effective_stake_multiplies_along_chains_and_sums_over_paths(w: World) -> None:
    chain_world(w)
    stakes = rounded(effective_ownership(w.store, w["C"], ON))
    assert stakes == {w["B"]: 0.5, w["P"]: 0.4, w["Q"]: 0.4}
    assert list(stakes)[0] == w["B"]  # largest first
    own = ownership(w.store, w["C"], ON)
    assert own.chains[w["P"]] == 2 and own.direct() == {w["B"]: 0.5, w["P"]: 0.1, w["Q"]: 0.4}


def test_control_counts_controlled_holdings_in_full(w: World) -> None:
    chain_world(w)
    own = ownership(w.store, w["C"], ON)
    assert rounded(own.control) == {w["P"]: 0.6, w["B"]: 0.5, w["Q"]: 0.4}
    assert own.controlled_by == {w["B"]: {w["P"]}, w["C"]: {w["P"]}}
    top = ultimate_controllers(w.store, w["C"], ON)
    assert [(c.holder, c.control_share, c.effective_stake, c.controls) for c in top] == [
        (w["P"], 0.6, 0.4, True), (w["Q"], 0.4, 0.4, False)]  # B is controlled by P: not ultimate
    assert [c.holder for c in ultimate_controllers(w.store, w["C"], ON, threshold=0.5)] == [w["P"]]


def test_beneficial_owners_by_ownership_votes_and_control(w: World) -> None:
    chain_world(w)
    owners = {b.person: b.criteria for b in beneficial_owners(w.store, w["C"], ON)}
    assert owners == {w["P"]: ("ownership", "votes", "control"), w["Q"]: ("ownership", "votes")}
    # threshold 45%: Q (40%) no longer qualifies, P still controls
    assert {b.person for b in beneficial_owners(w.store, w["C"], ON, threshold=0.45)} == {w["P"]}


def test_beneficial_owner_through_votes_only() -> None:
    # X controls H (60%); H holds 30% of O: X owns 18% but commands 30% of O's votes.
    holdings = {"O": {"H": 0.3, **{f"p{i}": 0.1 for i in range(7)}}, "H": {"pX": 0.6, "pY": 0.4}}
    own = analyse_ownership(holdings, "O")
    assert round(own.stakes["pX"], 9) == 0.18 and round(own.control["pX"], 9) == 0.3
    assert [(c.holder, c.control_share, c.controls) for c in own.ultimate_controllers()] == [("pX", 0.3, False)]


def beneficial_owner_world(w: World) -> None:
    """T: H1 45%, H2 35%, O 20%. H1: V 55%, A 5%. H2: A 65%.

    A owns 0.05 x 0.45 + 0.65 x 0.35 = 0.0225 + 0.2275 = 25% exactly (summed in floats: 0.24999999999999997)
    and commands H2's 35% (A controls H2); V owns 0.55 x 0.45 = 24.75% but commands H1's 45% (V controls
    H1); O owns 20%. H1 and H2 are companies, never beneficial owners."""
    for o in ("T", "H1", "H2"):
        w.org(o)
    for p in ("A", "V", "O"):
        w.person(p)
    w.owns("H1", "T", 0.45)
    w.owns("H2", "T", 0.35)
    w.owns("O", "T", 0.2)
    w.owns("V", "H1", 0.55)
    w.owns("A", "H1", 0.05)
    w.owns("A", "H2", 0.65)


def test_beneficial_owners_exact_quarter_votes_and_persons_only(w: World) -> None:
    beneficial_owner_world(w)
    found = {b.person: (b.effective_stake, b.control_share, b.criteria) for b in beneficial_owners(w.store, w["T"], ON)}
    assert found == {w["A"]: (0.25, 0.35, ("ownership", "votes")), w["V"]: (0.2475, 0.45, ("votes",))}


def test_api_ownership_gives_the_library_beneficial_owners(api) -> None:  # type: ignore[no-untyped-def]
    client, w = api
    beneficial_owner_world(w)
    r = client.get(f"/v1/subjects/{w['T']}/ownership", headers=INVESTIGATOR)
    assert r.status_code == 200, r.text
    body = r.json()
    library = beneficial_owners(w.store, w["T"], ON)
    assert body["beneficial_owners"] == [{"person": b.person, "effective_stake": b.effective_stake,
                                          "control_share": b.control_share, "criteria": list(b.criteria)}
                                         for b in library]
    flagged = {h["holder"] for h in body["holders"] if h["beneficial_owner"]}
    assert flagged == {w["A"], w["V"]}  # not the companies H1 (45%) and H2 (35%), not O (20%)
    rows = {h["holder"]: (h["direct"], h["effective_stake"], h["control_share"]) for h in body["holders"]}
    assert rows[w["H1"]] == (0.45, 0.45, 0.45) and rows[w["A"]] == (0.0, 0.25, 0.35)
    at_half = client.get(f"/v1/subjects/{w['T']}/ownership?threshold=0.4", headers=INVESTIGATOR).json()
    assert [b["person"] for b in at_half["beneficial_owners"]] == [
        b.person for b in beneficial_owners(w.store, w["T"], ON, threshold=0.4)] == [w["V"]]


def test_beneficial_owner_fallback_is_the_person_in_charge(w: World) -> None:
    for o in ("O", "H1", "H2", "H3", "H4"):
        w.org(o)
    w.person("boss")
    for h in ("H1", "H2", "H3", "H4"):
        w.owns(h, "O", 0.25)
    w.role("boss", R.PRINCIPAL, "O")
    found = beneficial_owners(w.store, w["O"], ON)
    assert [(b.person, b.criteria) for b in found] == [(w["boss"], ("management",))]
    assert beneficial_owners(w.store, w["O"], ON, management_fallback=False) == []
    # every 25% holder is an ultimate holder with 25% of the votes (25% or more counts)
    assert {c.holder for c in ultimate_controllers(w.store, w["O"], ON)} == {w[h] for h in ("H1", "H2", "H3", "H4")}


def test_ownership_cycle_is_walked_once(w: World) -> None:
    """A holds 50% of B, B holds 30% of A, P holds 70% of A, Q holds 50% of B."""
    for o in ("A", "B"):
        w.org(o)
    for p in ("P", "Q"):
        w.person(p)
    w.owns("A", "B", 0.5)
    w.owns("B", "A", 0.3)
    w.owns("P", "A", 0.7)
    w.owns("Q", "B", 0.5)
    assert rounded(effective_ownership(w.store, w["A"], ON)) == {w["P"]: 0.7, w["B"]: 0.3, w["Q"]: 0.15}
    assert rounded(effective_ownership(w.store, w["B"], ON)) == {w["A"]: 0.5, w["Q"]: 0.5, w["P"]: 0.35}
    own = ownership(w.store, w["B"], ON)
    assert not own.truncated
    assert own.controlled_by == {w["A"]: {w["P"]}}  # P holds 70% of A; nobody has a majority of B
    assert rounded(own.control)[w["P"]] == 0.5  # through A, which it controls


def test_mutual_control_loop_is_ultimate() -> None:
    own = analyse_ownership({"O": {"A": 1.0}, "A": {"B": 0.6, "p": 0.4}, "B": {"A": 0.6, "q": 0.4}}, "O")
    assert own.is_ultimate("A") and own.is_ultimate("B")
    assert {c.holder for c in own.ultimate_controllers()} == {"A", "B"}
    assert rounded(own.stakes) == {"A": 1.0, "B": 0.6, "p": 0.4, "q": 0.24}


def test_depth_limit_dates_and_tranches(w: World) -> None:
    names = [f"L{i}" for i in range(13)]
    for n in names:
        w.org(n)
    for lower, upper in zip(names, names[1:], strict=False):
        w.owns(upper, lower, 0.5)
    assert len(effective_ownership(w.store, w["L0"], ON)) == 10  # max_depth=10 levels
    assert len(effective_ownership(w.store, w["L0"], ON, max_depth=3)) == 3
    assert round(effective_ownership(w.store, w["L0"], ON)[w["L3"]], 9) == 0.125
    w.person("old")
    w.owns("old", "L0", 0.2, start="2010-01-01", end="2020-01-01")
    assert w["old"] not in effective_ownership(w.store, w["L0"], ON)
    assert round(effective_ownership(w.store, w["L0"], D("2019-01-01"))[w["old"]], 9) == 0.2
    assert rounded(analyse_ownership({"O": {"x": 0.3}}, "O").stakes) == {"x": 0.3}


def test_chain_explosion_is_bounded_and_reported() -> None:
    # a ladder of 12 levels, two organisations per level each holding half of both below: 2^12 chains
    holdings: dict[str, dict[str, float]] = {"O": {"a0": 0.5, "b0": 0.5}}
    for i in range(11):
        for x in "ab":
            holdings[f"{x}{i}"] = {f"a{i + 1}": 0.5, f"b{i + 1}": 0.5}
    full = analyse_ownership(holdings, "O", max_depth=12)
    assert not full.truncated and full.chains["a11"] == 2 ** 11
    assert round(full.stakes["a11"] + full.stakes["b11"], 9) == 1.0  # every level still holds it all
    capped = analyse_ownership(holdings, "O", max_depth=12, max_paths=100)
    assert capped.truncated and sum(capped.chains.values()) == 100


def test_stake_through_counts_each_chain_once() -> None:
    holdings = {"C": {"A": 0.1, "B": 0.5, "X": 0.4}, "B": {"A": 0.6}}
    assert rounded(stake_through(holdings, "C", {"A"})) == {"A": 0.4}
    assert rounded(stake_through(holdings, "C", {"A", "B"})) == {"B": 0.5, "A": 0.1}
    assert stake_through(holdings, "C", set()) == {}
    cyc = {"O": {"A": 0.5, "B": 0.5}, "A": {"B": 1.0}, "B": {"A": 1.0}}
    assert rounded(stake_through(cyc, "O", {"A"})) == {"A": 1.0}


def test_adverse_stake_flags_dishonest_or_banned_holders_at_half(w: World) -> None:
    chain_world(w)
    w.record("RP", "P", decision="2023-01-01")  # a person's serious record: joint punishment (dishonest)
    st = ga.adverse_stake(w.store, w["C"], ON)
    assert (round(st.stake, 9), st.flagged, st.holders, st.statuses) == (
        0.4, False, {w["P"]: 0.4}, {w["P"]: "dishonest"})
    w.record("RB", "B", decision="2023-02-01")  # B: joint punishment and market ban (banned)
    st = ga.adverse_stake(w.store, w["C"], ON)
    assert (round(st.stake, 9), st.flagged, st.holders) == (0.6, True, {w["B"]: 0.5, w["P"]: 0.1})
    assert st.statuses[w["B"]] == "banned"
    assert not ga.adverse_stake(w.store, w["C"], D("2022-06-01")).holders  # before the records
    frame = ga.adverse_stakes_frame(w.store, ON).set_index("org")
    assert frame.loc[w["C"], "adverse_stake"] == pytest.approx(0.6) and frame.loc[w["C"], "flagged"]
    assert frame.loc[w["B"], "adverse_stake"] == pytest.approx(0.6) and frame.loc[w["B"], "adverse_holders"] == 1
    assert ga.adverse_stake(w.store, w["C"], ON, flag_at=0.7).flagged is False


def test_ownership_frame_columns_and_flags(w: World) -> None:
    chain_world(w)
    w.record("RP", "P", decision="2023-01-01")
    df = ga.ownership_frame(w.store, w["C"], ON).set_index("holder")
    assert df.loc[w["P"], "effective_stake"] == pytest.approx(0.4)
    assert df.loc[w["P"], "direct"] == pytest.approx(0.1)
    assert bool(df.loc[w["P"], "controls"]) and bool(df.loc[w["P"], "ultimate_controller"])
    assert not bool(df.loc[w["B"], "ultimate"]) and df.loc[w["B"], "kind"] == "organisation"
    assert bool(df.loc[w["Q"], "beneficial_owner"]) and not bool(df.loc[w["B"], "beneficial_owner"])
    assert df.loc[w["P"], "status"] == "dishonest" and bool(df.loc[w["P"], "adverse"])
    assert df.loc[w["P"], "name"] == "张P"


# -- statuses --------------------------------------------------------------------------------------
def test_status_of_picks_the_most_severe() -> None:
    assert ga.status_of(["green_channel", "market_ban", "joint_punishment"]) == "banned"
    assert ga.status_of(["key_supervision", "joint_punishment"]) == "black_listed"
    assert ga.status_of(["key_monitoring"]) == "monitored"
    assert ga.status_of(["green_channel"]) == "red_listed"
    assert ga.status_of(["commendation_ineligible"]) == "restricted"
    assert ga.status_of([]) == "clean"
    assert set(ga.STATUS_COLOURS) == set(ga.STATUSES)


def test_statuses_frame_and_over_time(w: World) -> None:
    w.org("A")
    w.person("lr")
    w.role("lr", R.LEGAL_REPRESENTATIVE, "A")
    w.record("R1", "A", decision="2023-06-01", act="2023-01-01", period_end="2025-06-01")
    df = ga.statuses_frame(w.store, ON).set_index("subject")
    assert df.loc[w["A"], "status"] == "banned" and df.loc[w["lr"], "status"] == "banned"
    assert "dishonest" in df.loc[w["lr"], "statuses"].split(";") and bool(df.loc[w["lr"], "adverse"])
    assert set(df.loc[w["A"], "consequences"].split(";")) >= {"joint_punishment", "market_ban"}
    w.org("clean")
    listed = ga.statuses_frame(w.store, ON, [w["clean"], w["A"]])
    assert list(listed["subject"]) == [w["clean"], w["A"]] and list(listed["status"]) == ["clean", "banned"]
    over = ga.statuses_over_time(w.store, [D("2023-01-01"), ON, D("2025-07-01")], kind="organisation")
    assert over["banned"].tolist() == [0, 1, 0]


# -- network ---------------------------------------------------------------------------------------
def test_company_groups_tied_by_shared_persons(w: World) -> None:
    for o in "ABCDEFG":
        w.org(o)
    for p in ("p1", "p2", "p3", "hub"):
        w.person(p)
    w.role("p1", R.DIRECTOR, "A")
    w.role("p1", R.SUPERVISOR, "B")
    w.role("p2", R.LEGAL_REPRESENTATIVE, "B")
    w.role("p2", R.DIRECTOR, "C")
    w.role("p3", R.LEGAL_REPRESENTATIVE, "D")
    w.owns("p3", "E", 0.5)
    for o in "ADFG":
        w.role("hub", R.SUPERVISOR, o)
    w.record("RA", "A")
    df = ga.company_groups(w.store, ON, max_person_firms=3)
    groups = {g: set(rows["org"]) for g, rows in df.groupby("group")}
    assert groups == {0: {w["A"], w["B"], w["C"]}, 1: {w["D"], w["E"]}}
    assert df.attrs["hubs"] == [w["hub"]]
    row = df.set_index("org").loc[w["B"]]
    assert row["group_size"] == 3 and row["group_adverse"] == 1 and set(row["persons"].split(";")) == {
        w["p1"], w["p2"]}
    # ties through management roles only: p3's shareholding no longer ties D and E
    mgmt = ga.company_groups(w.store, ON, roles=ga.MANAGEMENT + (R.SUPERVISOR,), max_person_firms=3)
    assert set(mgmt["org"]) == {w["A"], w["B"], w["C"]}
    # with no hub limit, the hub ties everything into one group
    assert ga.company_groups(w.store, ON, max_person_firms=10)["group"].nunique() == 1
    # roles not yet held on the date tie nothing
    assert ga.company_groups(w.store, D("2014-01-01")).empty


def test_large_components_are_split_into_communities(w: World) -> None:
    """Two cliques of four firms (each pair shares three directors) tied by one shared supervisor."""
    for o in ("A1", "A2", "A3", "A4", "B1", "B2", "B3", "B4"):
        w.org(o)
    for side in "AB":
        for i in range(3):
            w.person(f"{side}d{i}")
            for j in range(1, 5):
                w.role(f"{side}d{i}", R.DIRECTOR, f"{side}{j}")
    w.person("bridge")
    w.role("bridge", R.SUPERVISOR, "A1")
    w.role("bridge", R.SUPERVISOR, "B1")
    whole = ga.company_groups(w.store, ON)
    assert whole["group"].nunique() == 1 and len(whole) == 8
    split = ga.company_groups(w.store, ON, max_group=5)
    groups = sorted(sorted(rows["org"]) for _, rows in split.groupby("group"))
    assert groups == sorted([sorted(w[f"A{j}"] for j in range(1, 5)), sorted(w[f"B{j}"] for j in range(1, 5))])
    assert split["component"].nunique() == 1


def test_blacklist_connectors_find_persons_across_bad_firms(w: World) -> None:
    for o in ("F1", "F2", "F3", "ok"):
        w.org(o)
    for p in ("X", "Y", "Z"):
        w.person(p)
    w.role("X", R.LEGAL_REPRESENTATIVE, "F1", start="2012-01-01", end="2020-01-01")  # former
    w.role("X", R.DIRECTOR, "F2")
    w.role("X", R.SUPERVISOR, "F3")
    w.role("Y", R.DIRECTOR, "F1")
    w.role("Z", R.DIRECTOR, "F2")
    w.role("Z", R.DIRECTOR, "ok")
    w.record("R1", "F1")
    w.record("R2", "F2")
    w.engine.put_list_entries([ListEntry("B3", w["F3"], "black", "失信黑名单", "tax", "basis", D("2023-01-01"))])
    df = ga.blacklist_connectors(w.store, ON)
    assert list(df["person"]) == [w["X"]]
    row = df.iloc[0]
    assert row["firms"] == 3 and row["betweenness"] > 0 and row["masked_id"].startswith("110")
    assert f"{w['F1']}:LEGAL_REPRESENTATIVE" in row["roles"]
    current = ga.blacklist_connectors(w.store, ON, current=True)
    assert current.set_index("person").loc[w["X"], "firms"] == 2  # the F1 role ended in 2020
    assert set(ga.blacklist_connectors(w.store, ON, min_firms=1)["person"]) == {w["X"], w["Y"], w["Z"]}
    assert ga.blacklist_connectors(w.store, D("2022-01-01")).empty  # nothing bad yet


def test_serial_failures_flag_a_person_running_dishonest_firms(w: World) -> None:
    for o in ("F1", "F2", "F3"):
        w.org(o)
    w.org("gone", deregistered="2022-03-01")
    w.org("gone_long_ago", deregistered="2012-03-01")
    for p in ("S", "T", "U", "N"):
        w.person(p)
    w.role("S", R.LEGAL_REPRESENTATIVE, "F1", start="2015-01-01", end="2019-01-01")
    w.role("S", R.LEGAL_REPRESENTATIVE, "F2", start="2018-06-01")
    w.role("S", R.LEGAL_REPRESENTATIVE, "F3", start="2020-01-01")
    w.role("T", R.LEGAL_REPRESENTATIVE, "F1", start="2019-01-01")  # appointed after F1's act: not responsible
    w.role("U", R.PRINCIPAL, "gone", start="2016-01-01", end="2022-03-01")
    w.role("U", R.PRINCIPAL, "gone_long_ago", start="2005-01-01", end="2010-01-01")  # left 2 years before
    w.record("R1", "F1", act="2018-05-01", decision="2019-06-01")
    w.record("R2", "F2", act="2020-05-01", decision="2021-06-01", responsible=(("N", None),))
    w.record("R3", "F3", act="2022-05-01", decision="2023-06-01")
    w.record("Rg", "F3", act="2022-06-01", decision="2023-07-01", severity="general")  # not serious
    df = ga.serial_failures(w.store, ON).set_index("person")
    s = df.loc[w["S"]]
    assert (s["firms"], s["dishonest"], s["failed"], bool(s["flagged"])) == (3, 3, 0, True)
    assert s["first"] == pd.Timestamp("2018-05-01") and s["last"] == pd.Timestamp("2022-05-01")
    assert w["T"] not in df.index
    assert (df.loc[w["U"], "failed"], df.loc[w["U"], "firms"]) == (1, 1)
    assert df.loc[w["N"], "dishonest"] == 1  # named directly responsible without a role
    assert list(df.index[df["flagged"]]) == [w["S"]]
    assert df.index[0] == w["S"]  # flagged first
    # an upheld objection withdraws R3: S is down to two firms
    w.engine.add_event(RecordEvent("R3", "objection_filed", D("2023-07-01")))
    w.engine.add_event(RecordEvent("R3", "objection_upheld", D("2023-07-10")))
    again = ga.serial_failures(w.store, ON).set_index("person")
    assert again.loc[w["S"], "firms"] == 2 and bool(again.loc[w["S"], "flagged"])  # two failures: a series
    assert not bool(ga.serial_failures(w.store, ON, min_firms=3).set_index("person").loc[w["S"], "flagged"])
    # as of 2020, only R1 had been decided
    assert ga.serial_failures(w.store, D("2020-01-01")).set_index("person").loc[w["S"], "firms"] == 1


def jin_chan_tuo_ke_world(w: World) -> None:
    """金蝉脱壳: boss, legal representative of A (industry C) until its deregistration on 2023-03-31, founded
    N (C) on 2023-01-10, 80 days before, as its legal representative. Z (region 110105) failed too."""
    w.org("A", deregistered="2023-03-31")
    w.org("N", registered="2023-01-10")
    w.org("Z", region="110105", deregistered="2023-05-01")
    for p in ("boss", "zed"):
        w.person(p)
    w.role("boss", R.LEGAL_REPRESENTATIVE, "A", start="2015-01-01", end="2023-03-31")
    w.role("boss", R.LEGAL_REPRESENTATIVE, "N", start="2023-01-10")
    w.role("zed", R.LEGAL_REPRESENTATIVE, "Z", start="2015-01-01", end="2023-05-01")


def test_serial_failures_jin_chan_tuo_ke_counts_the_newly_founded_firm(w: World) -> None:
    jin_chan_tuo_ke_world(w)
    df = ga.serial_failures(w.store, ON, region="320281").set_index("person")
    assert list(df.index) == [w["boss"]]  # Z is in another region
    boss = df.loc[w["boss"]]
    assert (boss["firms"], boss["dishonest"], boss["failed"], boss["founded"], bool(boss["flagged"])) == (
        2, 0, 1, 1, True)
    assert boss["detail"] == f"2023-01-10 {w['N']} founded;2023-03-31 {w['A']} failed"
    assert (boss["first"], boss["last"]) == (pd.Timestamp("2023-01-10"), pd.Timestamp("2023-03-31"))
    (flag,) = df.attrs["flags"]
    assert (flag.pattern, flag.subject, flag.detail["new_org"], flag.days) == ("serial_failure", w["boss"], w["N"], -80)
    everywhere = ga.serial_failures(w.store, ON).set_index("person")
    assert not bool(everywhere.loc[w["zed"], "flagged"])  # one failed firm and nothing founded
    before = ga.serial_failures(w.store, D("2023-03-30"))
    assert before.empty  # nothing had failed yet


def test_api_serial_failures_and_evasion_give_the_library_answers(api) -> None:  # type: ignore[no-untyped-def]
    from fastapi.encoders import jsonable_encoder

    from graph_credit.evasion import evasion_flags

    client, w = api
    jin_chan_tuo_ke_world(w)
    r = client.get("/v1/serial-failures?region=320281", headers=INVESTIGATOR)
    assert r.status_code == 200, r.text
    body = r.json()
    df = ga.serial_failures(w.store, ON, region="320281")
    assert [(p["person"], p["firms"], p["failed"], p["founded"], p["detail"], p["flagged"]) for p in body["persons"]] \
        == [(x.person, x.firms, x.failed, x.founded, x.detail, x.flagged) for x in df.itertuples()]
    assert body["persons"][0]["first"] == "2023-01-10" and body["truncated"] is False
    assert body["flags"] == jsonable_encoder([f.as_dict() for f in df.attrs["flags"]])
    evasion = client.get(f"/v1/subjects/{w['boss']}/evasion", headers=INVESTIGATOR).json()
    assert evasion["flags"] == jsonable_encoder([f.as_dict() for f in evasion_flags(w.store, w["boss"], ON)])
    assert [f["pattern"] for f in evasion["flags"]] == ["serial_failure"] and evasion["flags"][0]["title"]
    everywhere = client.get("/v1/serial-failures?region=32&flagged_only=false", headers=INVESTIGATOR).json()
    assert [p["person"] for p in everywhere["persons"]] == [w["boss"]]
    assert client.get("/v1/serial-failures?region=x", headers=INVESTIGATOR).status_code == 422
    assert client.get("/v1/serial-failures?region=320281", headers={"X-API-Key": "demo-public"}).status_code == 403


def test_risk_by_region_and_industry(w: World) -> None:
    w.org("bad", region="320281", industry="C")
    w.org("linked", region="320281", industry="C")
    w.org("plain", region="320281", industry="C")
    w.org("far", region="540102", industry="F")
    w.org("far2", region="540102", industry="F")
    w.org("closed", region="540102", industry="F", deregistered="2020-01-01")
    w.org("red", region="540102", industry="F")
    w.person("lr")
    w.role("lr", R.LEGAL_REPRESENTATIVE, "bad")
    w.role("lr", R.DIRECTOR, "linked")
    w.record("R1", "bad", decision="2024-01-10", act="2023-12-01")
    w.engine.put_list_entries([ListEntry("RED", w["red"], "red", "诚信典型", "tax", "basis", D("2023-01-01"))])
    df = ga.risk_by_region_industry(w.store, ON)
    jy = df.loc[("320281", "C")]
    assert (jy["orgs"], jy["adverse"], jy["banned"], jy["exposed"], jy["records"]) == (3, 1, 1, 1, 1)
    assert jy["adverse_rate"] == pytest.approx(0.3333) and jy["exposed_rate"] == pytest.approx(0.3333)
    lhasa = df.loc[("540102", "F")]
    assert (lhasa["orgs"], lhasa["adverse"], lhasa["red_listed"]) == (3, 0, 1)  # the closed one is not counted
    assert list(df.index)[0] == ("320281", "C")  # riskiest first
    by_region = ga.risk_by_region_industry(w.store, ON, by=("region",))
    assert by_region.loc["320281", "orgs"] == 3
    assert ga.risk_by_region_industry(w.store, D("2025-02-01")).loc[("320281", "C"), "records"] == 0  # > 1 year


def test_records_over_time(w: World) -> None:
    w.org("A")
    w.record("R1", "A", decision="2021-03-01")
    w.record("R2", "A", decision="2021-09-01", severity="general")
    w.record("R3", "A", decision="2023-01-05")
    df = ga.records_over_time(w.store)
    assert df.loc[pd.Timestamp("2021-12-31"), "serious"] == 1 and df.loc[pd.Timestamp("2021-12-31"), "general"] == 1
    assert df.loc[pd.Timestamp("2023-12-31"), "serious"] == 1
    total = ga.records_over_time(w.store, by=None, as_of=D("2022-01-01"))
    assert total["records"].tolist() == [2]


# -- frames ----------------------------------------------------------------------------------------
def test_facts_frame_status_with_objection_suspension(w: World) -> None:
    w.org("A")
    w.person("lr")
    w.role("lr", R.LEGAL_REPRESENTATIVE, "A")
    w.record("R1", "A", decision="2023-06-01", period_end="2024-03-01")
    w.engine.add_event(RecordEvent("R1", "objection_filed", D("2023-07-01")))
    during = ga.facts_frame(w.store, D("2023-07-05"))
    assert set(during["status"]) == {"suspended"} and set(during["target"]) == {w["A"], w["lr"]}
    assert (during["suspensions"] == 1).all() and set(during["cause"]) == {"record:R1"}
    w.engine.add_event(RecordEvent("R1", "objection_rejected", D("2023-07-10")))
    after = ga.facts_frame(w.store, D("2023-08-01"), subjects=[w["lr"]])
    assert set(after["status"]) == {"active"} and set(after["target"]) == {w["lr"]}
    assert str(after["valid_from"].dtype) == "datetime64[s]"
    # the period ended 2024-03-01: nothing is in force; the personal credit entry stays as history
    assert ga.facts_frame(w.store, ON).empty
    ended = ga.facts_frame(w.store, ON, include_ended=True)
    assert set(ended.loc[ended["consequence"] == "market_ban", "status"]) == {"expired"}
    assert set(ended.loc[ended["consequence"] == "personal_credit_entry", "status"]) == {"expired"}


def test_subjects_records_and_measures_frames(w: World) -> None:
    w.org("A", deregistered="2024-01-01")
    w.org("B")
    w.person("p")
    w.record("R1", "B", decision="2023-06-01")
    w.record("R2", "B", decision="2023-07-01")
    w.engine.add_event(RecordEvent("R2", "revoked", D("2023-08-01")))
    s = ga.subjects_frame(w.store, ON).set_index("key")
    assert not s.loc[w["A"], "in_business"]  # deregistered before the date
    assert bool(s.loc[w["B"], "in_business"]) and pd.isna(s.loc[w["p"], "in_business"])
    assert s.loc[w["B"], "status"] == "banned" and s.loc[w["p"], "status"] == "clean"
    assert s.loc[w["p"], "masked_id"] == mask_id_number(w.numbers["p"])
    recs = ga.records_frame(w.store, ON).set_index("record_id")
    assert recs.loc["R1", "state"] == "active" and recs.loc["R2", "state"] == "withdrawn"
    assert recs.loc["R2", "withdrawn_on"] == pd.Timestamp("2023-08-01") and recs.loc["R1", "region"] == "320281"
    assert recs.loc["R1", "state"] == "active"
    assert ga.records_frame(w.store, D("2023-06-15")).index.size == 1
    assert ga.records_frame(w.store, D("2028-01-01")).set_index("record_id").loc["R1", "state"] == "expired"
    m = ga.measures_frame("jiangyin", ON)
    assert len(m) == len(load_policy("jiangyin").at(ON).measures) and set(m["jurisdiction"]) == {"jiangyin"}
    assert set(ga.measures_frame(None, ON)["jurisdiction"]) >= {"default", "jiangyin", "tibet"}
    every = ga.frames(w.store, ON)
    assert {"subjects", "facts", "measures", "case_items", "roles", "records"} <= set(every)
    assert "status" in every["facts"].columns


def test_case_feedback_frames(w: World) -> None:
    w.org("A")
    w.person("lr")
    w.role("lr", R.LEGAL_REPRESENTATIVE, "A")
    w.record("R1", "A", decision="2024-01-10")
    case = open_case(w.store, Cause("record", "R1"), "tax", D("2024-01-15"), due_days=30)
    items = ga.case_items_frame(w.store, D("2024-03-01"))
    assert len(items) == case["items"] > 0 and set(items["case_id"]) == {case["id"]}
    assert items["overdue"].all() and set(items["cause"]) == {"record:R1"}
    first = items.iloc[0]
    report_feedback(w.store, first["id"], first["department"], "applied", D("2024-01-25"))
    items = ga.case_items_frame(w.store, D("2024-03-01"))
    done = items.set_index("id").loc[first["id"]]
    assert done["status"] == "applied" and done["days_to_feedback"] == 10 and not done["overdue"]
    by_dept = ga.feedback_by_department(w.store, D("2024-03-01"))
    assert by_dept["items"].sum() == len(items)
    assert by_dept.loc[first["department"], "applied"] == 1
    dept_total = sum(s["total"] for s in case_statistics(w.store, D("2024-03-01"))
                     if s["department"] == first["department"])
    assert by_dept.loc[first["department"], "completion"] == pytest.approx(round(1 / dept_total, 4))
    assert by_dept.loc[first["department"], "median_days_to_feedback"] == 10
    assert ga.cases_frame(w.store)["items"].tolist() == [case["items"]]
    empty = World()
    assert ga.feedback_by_department(empty.store).empty and ga.case_items_frame(empty.store).empty
    empty.store.close()


def test_subgraph_carries_status_and_respects_dates(w: World) -> None:
    w.org("A")
    w.org("B")
    w.person("old")
    w.person("new")
    w.role("old", R.LEGAL_REPRESENTATIVE, "A", start="2015-01-01", end="2020-01-01")
    w.role("new", R.LEGAL_REPRESENTATIVE, "A", start="2020-01-01")
    w.role("new", R.DIRECTOR, "B", start="2020-01-01")
    w.record("R1", "A", act="2019-01-01", decision="2023-01-01")
    g = ga.subgraph(w.store, [w["A"]], ON, depth=2)
    assert set(g.nodes) == {w["A"], w["new"], w["B"]}
    assert g.nodes[w["A"]]["status"] == "banned" and g.nodes[w["new"]]["status"] == "clean"
    assert g.nodes[w["B"]]["adverse"] is False
    assert [a["role"] for a in g.get_edge_data(w["new"], w["A"]).values()] == ["LEGAL_REPRESENTATIVE"]
    old = ga.subgraph(w.store, [w["A"]], D("2019-06-01"))
    assert set(old.nodes) == {w["A"], w["old"]} and old.nodes[w["old"]]["status"] == "clean"  # not decided yet


# -- docstring examples ----------------------------------------------------------------------------
@pytest.mark.parametrize("module", [
    "graph_credit.analytics", "graph_credit.analytics.status", "graph_credit.analytics.frames",
    "graph_credit.analytics.shareholding", "graph_credit.analytics.demo", "graph_credit.graph.traversal",
])
def test_docstring_examples_run(module: str) -> None:
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(module), optionflags=flags)
    assert result.failed == 0 and result.attempted > 0
