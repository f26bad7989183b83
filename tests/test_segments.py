"""Role edges in columnar segments (store/sqlite/segments.py): the same answers as the table-only store
after any sequence of bulk loads, upserts and deletions; durable per batch across SIGKILL; a missing
segment named; an older store (roles only in the table) compacted into a segment by the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_credit import graph as risk
from graph_credit.model import Role, RoleEdge
from graph_credit.store import SQLiteStore
from graph_credit.store.base import RoleColumns
from graph_credit.store.sqlite.segments import SegmentError
from tests.segmented import role_columns

ROOT = Path(__file__).resolve().parent.parent
NODES = [f"N{i}" for i in range(6)]
IDS = [f"{i:020x}" for i in range(10)] + ["odd-id"]  # 20 hex digits, and one id of another shape
DAY0 = date(2018, 1, 1)

edges_st = st.builds(
    lambda eid, holder, role, org, start, length, ratio, title: RoleEdge(
        holder, role, org, DAY0 + timedelta(days=start), DAY0 + timedelta(days=start + length) if length else None,
        ratio, None, title, eid),
    st.sampled_from(IDS), st.sampled_from(NODES), st.sampled_from([Role.LEGAL_REPRESENTATIVE, Role.DIRECTOR,
                                                                    Role.SHAREHOLDER]),
    st.sampled_from(NODES), st.integers(0, 2000), st.sampled_from([0, 300, 1500]),
    st.sampled_from([None, 0.25, 1 / 3]), st.sampled_from(["", "董事长"]),
)
ops_st = st.lists(st.one_of(
    st.tuples(st.just("load"), st.lists(st.lists(edges_st, max_size=6), min_size=1, max_size=3)),
    st.tuples(st.just("put"), st.lists(edges_st, min_size=1, max_size=4)),
    st.tuples(st.just("delete"), st.lists(st.sampled_from(IDS), min_size=1, max_size=4)),
    st.tuples(st.just("compact"), st.none()),
), min_size=1, max_size=8)


def answers(store: SQLiteStore) -> dict[str, object]:
    on = [None, DAY0 + timedelta(days=700), DAY0 + timedelta(days=2400)]
    return {
        "get": store.get_roles([*IDS, "missing"]),
        "iter": list(store.iter_roles()),
        "count": store.counts()["roles"],
        "of": [by_id(store.roles_of(NODES[:k], d, day)) for k in (1, 3) for d in ("in", "out", "both") for day in on],
    }


def by_id(edges: list[RoleEdge]) -> list[RoleEdge]:
    """roles_of's order leaves ties (same organisation, role, start and holder) to the backend."""
    return sorted(edges, key=lambda e: e.edge_id)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops_st, st.sampled_from([0, 2, 10_000]), st.sampled_from([(4_000_000, 16, 2_000_000), (3, 2, 4)]))
def test_segments_answer_exactly_as_the_table(ops: list[tuple[str, object]], table_max: int,
                                              tiers: tuple[int, int, int]) -> None:
    """Random loads (to segments, or to the table when small), upserts, deletions and compactions:
    every read, every write's counts and every traversal of the graph index agree with the table-only
    store (``:memory:``) given the same writes, read through the writing store and through another
    store on the same file (whose kept registry and hiding ids must follow each commit); also with
    tiny tiers (batch segments merged every three edges, every segment when more than two remain)
    and merges of four rows per organisation range."""
    with tempfile.TemporaryDirectory() as tmp:
        seg = SQLiteStore(Path(tmp) / "s.sqlite")
        seg._table_max = table_max
        seg._tier_rows, seg._max_segments, seg._segments.pass_rows = tiers  # type: ignore[union-attr]
        plain = SQLiteStore(":memory:")
        reader = SQLiteStore(Path(tmp) / "s.sqlite")  # another connection: what it keeps must follow the commits
        try:
            for op, arg in ops:
                if op == "load":
                    batches = arg
                    assert seg.load_roles(role_columns(b) for b in batches) == \
                        plain.load_roles(role_columns(b) for b in batches)
                elif op == "put":
                    assert seg.put_roles(arg) == plain.put_roles(arg)
                elif op == "delete":
                    assert seg.delete_roles(arg) == plain.delete_roles(arg)
                else:
                    seg.compact_roles()
                assert answers(seg) == answers(plain)
                assert answers(reader) == answers(plain)
            names = [r[0] for r in seg._read("SELECT name FROM role_segments")]
            assert len(names) <= seg._max_segments  # merged after each load, all when too many
            assert all((Path(tmp) / "s.sqlite.roles" / n / "eid.keys.npy").exists() for n in names)
            for origin in NODES[:3]:
                a = risk.neighbourhood(seg, origin, DAY0 + timedelta(days=900), 2, 50)
                b = risk.neighbourhood(plain, origin, DAY0 + timedelta(days=900), 2, 50)
                assert (a.distance, dict(a.paths), dict(a.edges)) == (b.distance, dict(b.paths), dict(b.edges))
        finally:
            seg.close()
            plain.close()
            reader.close()


def many(n: int, start: int = 0, org_of: int = 97) -> list[RoleEdge]:
    return [RoleEdge(f"P{i % 1013}", Role.DIRECTOR, f"O{i % org_of}", DAY0, None, None, None, "", f"{i:020x}")
            for i in range(start, start + n)]


def test_segment_reads_use_lookups_not_rows(tmp_path: Path) -> None:
    """After a load the roles live in one merged segment with mapped lookup arrays, the table is
    empty, and reads by organisation, holder and edge id find exactly their rows."""
    store = SQLiteStore(tmp_path / "s.sqlite")
    edges = many(5_000)
    assert store.load_roles([role_columns(edges[:2_000]), role_columns(edges[2_000:])]) == 5_000
    assert store._read("SELECT count(*) FROM roles")[0][0] == 0
    (name,), = store._read("SELECT name FROM role_segments")
    files = sorted(p.name for p in (tmp_path / "s.sqlite.roles" / name).iterdir())
    assert files == ["eid.keys.npy", "eid.rows.npy", "holder.keys.npy", "holder.ptr.npy", "holder.rows.npy",
                     "org.keys.npy", "org.ptr.npy", "rows.arrow"]  # sorted by organisation: no org.rows
    assert {e.edge_id for e in store.roles_of(["O5"], "in")} == {e.edge_id for e in edges if e.org == "O5"}
    assert {e.edge_id for e in store.roles_of(["P7"], "out")} == {e.edge_id for e in edges if e.holder == "P7"}
    assert store.get_roles([edges[4321].edge_id]) == {edges[4321].edge_id: edges[4321]}
    assert store.counts()["roles"] == 5_000
    store.close()
    assert [p.name for p in (tmp_path / "s.sqlite.roles").iterdir()] == [name]  # the batch segments are gone


LOADER = """
import sys
import time
from graph_credit.store import SQLiteStore
from graph_credit.store.sqlite import segments
from graph_credit.store.base import RoleColumns
from tests.segmented import role_columns
from tests.test_segments import many

stage, db = sys.argv[1], sys.argv[2]
register = segments.Segments._register

loads = 0

def slow_register(self, con, seq, name, path, rows, files):
    register(self, con, seq, name, path, rows, files)
    merging = (path / "eid.keys.npy").exists()
    if loads >= 1 and (stage == "merge") == merging and stage != "none":
        print("written", flush=True)  # fsynced, not committed: the parent kills here
        time.sleep(60)

segments.Segments._register = slow_register
store = SQLiteStore(db)
store._table_max = 0  # every load a segment, then a merge
for loads in range(100):
    store.load_roles([role_columns(many(3_000, 3_000 * loads))])
    print("ack", loads, flush=True)
"""


@pytest.mark.parametrize("stage", ["batch", "merge", "anywhere"])
def test_sigkill_during_a_segment_load_keeps_every_acknowledged_batch(tmp_path: Path, stage: str) -> None:
    """A loader killed after a segment is written and fsynced but before its commit (or during the
    merge, or at a random moment): reopened, every acknowledged batch is there and nothing else,
    the unregistered directory is removed, and every read agrees."""
    db = tmp_path / "s.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", LOADER, stage if stage != "anywhere" else "none", str(db)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    acked = -1
    assert proc.stdout is not None
    started = time.monotonic()
    while True:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "loader ended"
        if line.startswith("ack"):
            acked = int(line.split()[1])
        if stage == "anywhere" and acked >= 2:
            time.sleep(0.05 + (time.monotonic() - started) % 0.2)
            break
        if line.startswith("written"):  # only from the second load on
            break
    proc.kill()
    proc.wait()
    for line in proc.stdout.read().splitlines():  # acknowledged while the parent slept
        if line.startswith("ack"):
            acked = int(line.split()[1])
    store = SQLiteStore(db)
    try:
        registered = {r[0] for r in store._read("SELECT name FROM role_segments")}
        assert {p.name for p in (tmp_path / "s.sqlite.roles").iterdir()} == registered
        count = store.counts()["roles"]
        assert count in ((acked + 1) * 3_000, (acked + 2) * 3_000)  # the batch in flight: all or nothing
        if stage == "batch":  # written, fsynced, never registered: gone
            assert count == (acked + 1) * 3_000
        if stage == "merge":  # the batch committed (not yet acknowledged), its merge did not: two segments
            assert count == (acked + 2) * 3_000
            assert len(registered) == 2
        got = store.get_roles([f"{i:020x}" for i in range(0, count + 3_000, 997)])
        assert len(got) == len(range(0, count, 997))
        assert len(list(store.iter_roles())) == count
    finally:
        store.close()


def test_a_registered_segment_missing_is_named(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.load_roles([role_columns(many(100))])
    (name,), = store._read("SELECT name FROM role_segments")
    store.close()
    shutil.rmtree(tmp_path / "s.sqlite.roles" / name)
    with pytest.raises(SegmentError, match=f"{name}/rows.arrow"):
        SQLiteStore(tmp_path / "s.sqlite")


def test_compact_folds_an_older_store_into_one_segment(tmp_path: Path) -> None:
    """A store written before segments (every role a row of the table, as put_roles writes it) keeps
    answering as it is; `graph-credit compact` folds its rows into one segment, and every read, the
    graph index's traversals included, answers as before."""
    db = tmp_path / "old.sqlite"
    store = SQLiteStore(db)
    edges = many(3_000, org_of=41)
    store.put_roles(edges)
    store.delete_roles([edges[5].edge_id])
    before = answers_of(store)
    store.close()
    out = subprocess.run([str(ROOT / ".venv/bin/graph-credit"), "compact", "--store", str(db)],
                         capture_output=True, text=True, check=True)
    assert "compacted: 2,999 table rows and 0 segments folded into one segment of 2,999 edges" in out.stdout
    assert "writing one segment of 2,999 edges" in out.stderr
    store = SQLiteStore(db)
    try:
        assert store._read("SELECT count(*) FROM roles")[0][0] == 0
        assert store._read("SELECT rows FROM role_segments") == [(2_999,)]
        assert answers_of(store) == before
        store.put_roles([RoleEdge("P1", Role.SUPERVISOR, "O3", DAY0, None, None, None, "", edges[7].edge_id)])
        assert store.get_roles([edges[7].edge_id])[edges[7].edge_id].role is Role.SUPERVISOR
        assert store.counts()["roles"] == 2_999
    finally:
        store.close()


def answers_of(store: SQLiteStore) -> dict[str, object]:
    nb = risk.neighbourhood(store, "O3", DAY0 + timedelta(days=10), 2, 500)
    return {"iter": list(store.iter_roles()), "count": store.counts()["roles"],
            "of": by_id(store.roles_of(["O3", "P17"], "both", DAY0)), "near": (nb.distance, dict(nb.paths))}


@pytest.mark.parametrize("kind", ["array", "chunked"])
def test_load_roles_takes_arrow_string_columns(tmp_path: Path, kind: str) -> None:
    """The importer may hand its string columns over as Arrow arrays: the segment path and the
    table path (a small batch into a store that has roles) store what the lists would."""
    import dataclasses

    import pyarrow as pa

    def arrow(cols: RoleColumns) -> RoleColumns:
        conv = (lambda v: pa.array(v, pa.string())) if kind == "array" else \
            (lambda v: pa.chunked_array([pa.array(v[:3], pa.string()), pa.array(v[3:], pa.string())]))
        return dataclasses.replace(cols, **{f: conv(list(getattr(cols, f)))
                                            for f in ("edge_id", "holder", "role", "org", "title")})

    edges = many(50)
    store = SQLiteStore(tmp_path / "s.sqlite")
    assert store.load_roles([arrow(role_columns(edges[:40]))]) == 40  # a segment
    assert store.load_roles([arrow(role_columns(edges[40:]))]) == 10  # into the table
    assert store._read("SELECT count(*) FROM roles")[0][0] == 10
    assert list(store.iter_roles()) == sorted(edges, key=lambda e: e.edge_id)
    store.close()


def test_a_long_load_merges_in_tiers_and_reads_every_segment(tmp_path: Path) -> None:
    """A load of many batches merges its batch segments into one sorted segment every _tier_rows
    edges (the LSM tiers), each merge in several organisation ranges (one record batch each); a
    repeated edge id in a later batch hides the earlier version across tiers; reads agree with the
    table-only store, and a compaction folds the tiers into one segment."""
    store = SQLiteStore(tmp_path / "s.sqlite")
    store._tier_rows, store._segments.pass_rows = 1_000, 300  # type: ignore[union-attr]
    plain = SQLiteStore(":memory:")
    edges = many(4_000)
    again = [RoleEdge("P1", Role.SUPERVISOR, "O3", DAY0, None, None, None, "", e.edge_id) for e in edges[10:20]]
    batches = [edges[i : i + 500] for i in range(0, 4_000, 500)] + [again]
    try:
        assert store.load_roles(role_columns(b) for b in batches) == plain.load_roles(role_columns(b) for b in batches)
        names = [r[0] for r in store._read("SELECT name FROM role_segments")]
        assert len(names) == 5  # four tiers of 1,000 edges and the last batch, each sorted
        roles = tmp_path / "s.sqlite.roles"
        assert all((roles / n / "eid.keys.npy").exists() for n in names)
        assert len(store._segments.registered(store._writer)[0].batches) > 1  # type: ignore[union-attr]
        assert answers_of(store) == answers_of(plain)
        assert store.get_roles([e.edge_id for e in edges[5:25]]) == plain.get_roles([e.edge_id for e in edges[5:25]])
        store.compact_roles()
        assert len(store._read("SELECT name FROM role_segments")) == 1
        assert answers_of(store) == answers_of(plain)
    finally:
        store.close()
        plain.close()


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.lists(st.binary(min_size=0, max_size=19).map(lambda b: b.replace(b"\0", b"x")), max_size=60),
                 st.lists(st.text("0123456789abcdef", min_size=16, max_size=19).map(str.encode), max_size=60),
                 st.lists(st.sampled_from([b"0123456789abcdef0", b"0123456789abcdef", b"0123456789abcdee1"]))),
       st.sampled_from([b"", b"prefix-8", b"same-prefix-long", b"0123456789abcdef"]))
def test_order_fixed_sorts_bytes_as_numpy_does(values: list[bytes], prefix: bytes) -> None:
    """The integer sort of fixed-width ids (16 hex digits as 64 bits or the first eight bytes,
    then the rest only where those are shared) orders exactly as a stable sort of the byte strings."""
    import numpy as np

    from graph_credit.store.sqlite.segments import order_fixed

    fixed = np.array([prefix + v for v in values], dtype=f"S{max(len(prefix) + 19, 1)}")
    assert order_fixed(fixed).tolist() == np.argsort(fixed, kind="stable").tolist()


def test_ids_sharing_their_first_bytes_shadow_only_their_own_versions(tmp_path: Path) -> None:
    """Edge ids that agree on the first eight bytes (the integer the shadowing sorts by) but differ
    after: each keeps its own latest version, and the merge keeps them apart."""
    store = SQLiteStore(tmp_path / "s.sqlite")
    ids = ["shared-prefix-a", "shared-prefix-b", "shared-prefix-a", "shared-pre", "shared-prefix-b"]
    edges = [RoleEdge(f"P{i}", Role.DIRECTOR, f"O{i}", DAY0, None, None, None, "", e) for i, e in enumerate(ids)]
    store.load_roles([role_columns(edges[:2]), role_columns(edges[2:])])
    got = store.get_roles(sorted(set(ids)))
    assert {k: v.holder for k, v in got.items()} == {"shared-prefix-a": "P2", "shared-prefix-b": "P4",
                                                     "shared-pre": "P3"}
    assert store.counts()["roles"] == 3
    store.close()


def test_a_merge_with_nothing_visible_leaves_an_empty_sorted_segment(tmp_path: Path) -> None:
    """Every segment row deleted, then compacted: one empty merged segment (no rows, empty lookups),
    and the store answers as empty; a later load is read beside it."""
    store = SQLiteStore(tmp_path / "s.sqlite")
    edges = many(50)
    store.load_roles([role_columns(edges)])
    store.delete_roles([e.edge_id for e in edges])
    store.compact_roles()
    assert store._read("SELECT rows FROM role_segments") == [(0,)]
    assert store.counts()["roles"] == 0 and store.get_roles([edges[0].edge_id]) == {}
    assert list(store.iter_roles()) == [] and store.roles_of(["O3"], "in") == []
    store.load_roles([role_columns(edges[:10])])
    assert store.counts()["roles"] == 10 and len(store.roles_of(["O3"], "in")) == 1
    store.close()


WRITER = """
import sys
from graph_credit.model import RoleEdge
from graph_credit.store import SQLiteStore
from tests.segmented import role_columns
from tests.test_segments import many

db, step = sys.argv[1], sys.argv[2]
store = SQLiteStore(db)
store._table_max = 0  # every load a segment
moved = [RoleEdge(e.holder, e.role, "O-moved", e.valid_from, None, None, None, "", e.edge_id) for e in many(300, 100)]
if step == "load":
    store.load_roles([role_columns(many(1_000))])
elif step == "reload":
    store.load_roles([role_columns(moved + many(500, 2_000))])
elif step == "put":
    store.put_roles([RoleEdge("P-put", moved[0].role, "O-put", moved[0].valid_from, None, None, None, "", f"{5:020x}")])
elif step == "delete":
    store.delete_roles([f"{7:020x}", f"{150:020x}", f"{2_100:020x}"])
else:
    store.compact_roles()
store.close()
"""


def test_a_reader_sees_each_commit_of_another_process(tmp_path: Path) -> None:
    """A store kept open in this process reads after every commit of a writer in another process:
    a new segment registered (a load, a reload that moves edges to another organisation, a
    compaction), a table row and a tombstone hiding a segment's row; each read answers exactly
    what the same writes give the table-only store, never what this process kept from before."""
    db = tmp_path / "s.sqlite"
    reader = SQLiteStore(db)
    plain = SQLiteStore(":memory:")
    moved = [RoleEdge(e.holder, e.role, "O-moved", e.valid_from, None, None, None, "", e.edge_id)
             for e in many(300, 100)]
    mirror = {
        "load": lambda: plain.load_roles([role_columns(many(1_000))]),
        "reload": lambda: plain.load_roles([role_columns(moved + many(500, 2_000))]),
        "put": lambda: plain.put_roles([RoleEdge("P-put", moved[0].role, "O-put", moved[0].valid_from, None, None,
                                                 None, "", f"{5:020x}")]),
        "delete": lambda: plain.delete_roles([f"{7:020x}", f"{150:020x}", f"{2_100:020x}"]),
        "compact": lambda: None,
    }
    keys = ["O5", "O-moved", "O-put", "P7", "P-put", "P150"]
    ids = [f"{i:020x}" for i in (5, 7, 150, 999, 2_100, 2_499)]
    try:
        for step in ("load", "reload", "put", "delete", "compact"):
            before = reader.roles_of(keys, "both"), reader.get_roles(ids)  # fills what the reader keeps
            subprocess.run([sys.executable, "-c", WRITER, str(db), step], cwd=ROOT, check=True, timeout=120)
            mirror[step]()
            got = by_id(reader.roles_of(keys, "both")), reader.get_roles(ids), reader.counts()["roles"]
            assert got == (by_id(plain.roles_of(keys, "both")), plain.get_roles(ids), plain.counts()["roles"]), step
            assert step == "compact" or got[:2] != (by_id(before[0]), before[1]), step  # each step changed them
    finally:
        reader.close()
        plain.close()


def test_merged_segments_hide_older_versions_from_their_sorted_ids(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Two merged segments, the newer holding new versions of some of the older one's edges: what
    readers see (counts, iteration, reads by organisation) is found from the segments' sorted id
    lookups, without gathering every row's id from the rows (``_ids_at``: the rows file's pages
    would stay mapped in a reader), and is kept for the next call."""
    from graph_credit.store.sqlite import segments

    store = SQLiteStore(tmp_path / "s.sqlite")
    store._table_max = 0
    old = many(2_000)
    new = [RoleEdge(e.holder, e.role, "O-new", e.valid_from, None, None, None, "", e.edge_id) for e in old[500:900]]
    store.load_roles([role_columns(old)])
    store.load_roles([role_columns(new + many(100, 5_000))])
    assert len(store._read("SELECT name FROM role_segments")) == 2

    def gathered(*_: object) -> None:
        raise AssertionError("ids gathered from the rows")

    monkeypatch.setattr(segments, "_ids_at", gathered)
    plain = SQLiteStore(":memory:")
    plain.load_roles([role_columns(old)])
    plain.load_roles([role_columns(new + many(100, 5_000))])
    for _ in range(2):
        assert store.counts()["roles"] == plain.counts()["roles"] == 2_100
        assert list(store.iter_roles()) == list(plain.iter_roles())
        assert by_id(store.roles_of(["O-new", "O5"], "in")) == by_id(plain.roles_of(["O-new", "O5"], "in"))
    store.close()
    plain.close()


def test_warm_finds_what_newer_segments_hide_so_reads_do_not_probe(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """After ``warm()`` (a server's start-up) a read on two merged segments checks the rows it found
    against the hidden rows kept for them, not by searching each id in the newer segment's lookup."""
    from graph_credit.store.sqlite import segments

    db = tmp_path / "s.sqlite"
    writer = SQLiteStore(db)
    writer._table_max = 0
    old = many(1_000)
    new = [RoleEdge(e.holder, e.role, "O-new", e.valid_from, None, None, None, "", e.edge_id) for e in old[:300]]
    writer.load_roles([role_columns(old)])
    writer.load_roles([role_columns(new)])
    writer.close()
    store = SQLiteStore(db)
    store.warm()

    def probed(*_: object) -> None:
        raise AssertionError("a newer segment's id lookup probed")

    monkeypatch.setattr(segments.Lookup, "holds", probed)
    assert {e.edge_id for e in store.roles_of(["O5", "O-new"], "in")} == \
        {e.edge_id for e in old[300:] if e.org == "O5"} | {e.edge_id for e in new}
    store.close()
