"""Neighbourhood rendering for investigators: data, PNG, SVG, HTML, the CLI command and the API."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from graph_credit import render
from graph_credit.cli import app as cli
from graph_credit.engine import Engine
from graph_credit.fonts import CJK_FAMILY, cjk_font_file
from graph_credit.ids import mask_id_number, person_key
from graph_credit.model import Organisation, Person, Role, RoleEdge
from graph_credit.store import NotFound, SQLiteStore
from tests.helpers import make_id_number, make_uscc
from tests.scenario import D, World, build

ON = D("2021-01-01")
PNG = b"\x89PNG\r\n\x1a\n"
UNKNOWN = make_uscc(999)  # valid, never stored
INVESTIGATOR = {"X-API-Key": "demo-investigator", "X-Purpose": "case 2021-7"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = SQLiteStore(tmp_path / "render.sqlite")
    w = build(Engine(store))
    yield w
    store.close()


def test_neighbourhood_graph_statuses_and_masked_ids(world: World) -> None:
    data = render.neighbourhood_graph(world.store, world["org_a"], ON, depth=2)
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes[world["org_a"]]["status"] == "banned"  # market ban (P2) outranks joint punishment
    assert nodes[world["p_principal"]]["status"] == "banned"
    assert nodes[world["p_manager"]]["status"] == "restricted"  # senior manager by position: commendation bar
    assert nodes[world["p_director2"]]["status"] == "clean"  # a director not named in the record
    assert nodes[world["org_c"]]["status"] == "clean" and nodes[world["org_c"]]["distance"] == 2
    assert nodes[world["p_lr_new"]]["status"] == "clean"  # appointed after the act
    assert world["p_lr_old"] not in nodes  # the role ended before the date: not in force
    assert nodes[world["p_holder"]]["masked_id"] == world.id_numbers["p_holder"][:3] + "*" * 11 + \
        world.id_numbers["p_holder"][-4:]
    assert {e["role"] for e in data["edges"]} >= {"LEGAL_REPRESENTATIVE", "SHAREHOLDER", "PRACTITIONER"}
    with pytest.raises(NotFound):
        render.neighbourhood_graph(world.store, UNKNOWN, ON)


def test_radial_layout_puts_rings_at_their_distance(world: World) -> None:
    data = render.neighbourhood_graph(world.store, world["org_a"], ON, depth=2)
    pos = render._layout(data)
    for n in data["nodes"]:
        x, y = pos[n["id"]]
        assert (x * x + y * y) ** 0.5 == pytest.approx(n["distance"])
    parents = render._parents(data)
    assert parents[world["org_c"]] == world["p_principal"]  # drawn next to the person who links it


def test_png_draws_chinese_names_with_the_shipped_font(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAPH_CREDIT_CJK_FONT", raising=False)
    render.cjk_font.cache_clear()
    assert render.cjk_font() == CJK_FAMILY  # the package's own font, whatever the machine has installed
    data = render.neighbourhood_graph(world.store, world["org_a"], ON, depth=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font would warn
        png = render.render_png(data)
    assert png.startswith(PNG)
    img = Image.open(io.BytesIO(png))
    assert img.size[0] > 600 and img.size[1] > 500
    colours = {c for _, c in img.convert("RGB").getcolors(maxcolors=1 << 20) or []}
    assert (0xC0, 0x39, 0x2B) in colours  # the banned colour is drawn
    assert render._node_label(next(n for n in data["nodes"] if n["id"] == world["org_a"])).startswith("甲建设有限公司")


def test_the_font_covers_every_name_the_generator_makes() -> None:
    from fontTools.ttLib import TTFont

    from graph_credit.synth import generate

    cmap = TTFont(cjk_font_file()).getBestCmap()
    data = generate(300, seed=3)
    names = "".join(data.organisations["name"]) + "".join(data.persons["name"])
    assert names and not {c for c in names if ord(c) not in cmap}


def label_overlaps(fig: Any) -> list[tuple[str, str]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    texts = [t for t in fig.axes[0].texts if t.get_text()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
            if ba.x0 + 1 < bb.x1 and bb.x0 + 1 < ba.x1 and ba.y0 + 1 < bb.y1 and bb.y0 + 1 < ba.y1]


def test_thirty_subjects_at_depth_two_have_large_labels_that_do_not_collide(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "thirty.sqlite")
    eng = Engine(store)
    hub = make_uscc(1)
    holders = [make_uscc(10 + i) for i in range(4)]
    people = [make_id_number(100 + i) for i in range(25)]
    eng.put_subjects(
        [Organisation(hub, "江阴市澄江建设工程有限公司", "enterprise", "320281", "E")]
        + [Organisation(c, f"无锡{'甲乙丙丁'[i]}投资管理有限公司", "enterprise", "320281", "J")
           for i, c in enumerate(holders)],
        [Person(person_key(n), mask_id_number(n), f"欧阳{'一二三四五六七八九十'[i % 10]}{i}", "320281")
         for i, n in enumerate(people)])
    edges = [RoleEdge(person_key(people[i]), Role.DIRECTOR, hub, D("2016-01-01")) for i in range(9)]
    edges += [RoleEdge(c, Role.SHAREHOLDER, hub, D("2015-01-01"), ratio=0.2) for c in holders]
    edges += [RoleEdge(person_key(people[9 + 4 * i + j]), Role.SHAREHOLDER, c, D("2014-03-01"), ratio=0.25)
              for i, c in enumerate(holders) for j in range(4)]
    eng.put_roles(edges)
    data = render.neighbourhood_graph(store, hub, ON, depth=2)
    assert len(data["nodes"]) == 30
    fig = render._figure(data, render.cjk_font())
    assert {t.get_fontsize() for t in fig.axes[0].texts} <= {render.NODE_PT, render.EDGE_PT}
    assert min(render.NODE_PT, render.EDGE_PT) >= 8.5
    assert label_overlaps(fig) == []
    store.close()


def test_edge_labels_carry_role_ratio_and_dates() -> None:
    e = {"role": "SHAREHOLDER", "ratio": 0.6, "valid_from": D("2015-01-01"), "valid_to": None}
    assert render._edge_text(e) == "shareholder 60%\nsince 2015-01-01"
    e = {"role": "LEGAL_REPRESENTATIVE", "ratio": None, "valid_from": D("2015-01-01"), "valid_to": D("2020-06-01")}
    assert render._edge_text(e) == "legal rep.\n2015-01-01–2020-06-01"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_page_is_standalone_escaped_and_complete(world: World) -> None:
    world.engine.put_subjects([Organisation(world["org_b"], "<script>alert(1)</script>乙投资", "enterprise",
                                            "320281", "J")])
    page = render.render_html(render.neighbourhood_graph(world.store, world["org_a"], ON))
    parsed = _Page()
    parsed.feed(page)
    assert "script" not in parsed.tags and "<script>alert" not in page  # the name is escaped
    assert "svg" in parsed.tags and parsed.tags.count("table") == 2
    text = "".join(parsed.text)
    assert "甲建设有限公司" in text and "张principal" in text  # names, as the browser renders them
    assert "法定代表人 LEGAL_REPRESENTATIVE" in text and "2020-06-01" in text and "60.00%" in text
    assert "banned" in text and "clean" in text and "market_ban" in text
    assert not {"link", "img", "iframe", "object"} & set(parsed.tags)  # nothing loaded from elsewhere
    assert "src=" not in page and 'href="http' not in page


def test_render_to_files_by_suffix(world: World, tmp_path: Path) -> None:
    for suffix in (".png", ".svg", ".html"):
        out = render.render_neighbourhood(world.store, world["org_a"], ON, tmp_path / "sub" / f"a{suffix}")
        assert out.exists() and out.stat().st_size > 1000
    assert (tmp_path / "sub" / "a.png").read_bytes().startswith(PNG)
    assert (tmp_path / "sub" / "a.svg").read_text(encoding="utf-8").startswith("<svg")
    with pytest.raises(ValueError, match="out"):
        render.render_neighbourhood(world.store, world["org_a"], ON, tmp_path / "a.pdf")


def test_hub_truncation_is_reported(world: World) -> None:
    data = render.neighbourhood_graph(world.store, world["org_a"], ON, max_fanout=3)
    assert data["truncated"] == {world["org_a"]: 5}  # 8 role edges in force in A on the date
    assert len(data["edges"]) == 3
    assert render.render_png(data).startswith(PNG)


def test_cli_render(world: World, tmp_path: Path) -> None:
    store = str(tmp_path / "render.sqlite")
    runner = CliRunner()
    out = tmp_path / "org_a.png"
    result = runner.invoke(cli, ["render", world["org_a"], "--as-of", "2021-01-01", "--out", str(out),
                                 "--store", store, "--depth", "2"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG) and str(out) in result.output
    by_id = tmp_path / "lr.html"
    result = runner.invoke(cli, ["render", world.id_numbers["p_lr_new"], "--as-of", "2021-01-01", "--out",
                                 str(by_id), "--store", store])
    assert result.exit_code == 0 and "甲建设有限公司" in by_id.read_text(encoding="utf-8")
    bad = runner.invoke(cli, ["render", world["org_a"], "--out", str(tmp_path / "x.pdf"), "--store", store])
    assert bad.exit_code == 2
    unknown = runner.invoke(cli, ["render", UNKNOWN, "--out", str(tmp_path / "x.png"), "--store", store])
    assert unknown.exit_code == 1 and "no subject" in unknown.output


@pytest.fixture
def client(world: World, serve: Callable[..., TestClient]) -> TestClient:
    return serve(world.store, today=ON)


def test_api_png_and_html_for_investigators_are_audited(client: TestClient, world: World) -> None:
    r = client.get(f"/v1/subjects/{world['org_a']}/neighbourhood.png?depth=2", headers=INVESTIGATOR)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and r.content.startswith(PNG)
    assert r.headers["cache-control"] == "no-store"
    r = client.get(f"/v1/subjects/{world['org_a']}/neighbourhood.html?as_of=2021-01-01", headers=INVESTIGATOR)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "甲建设有限公司" in r.text and "<svg" in r.text
    audit = client.get("/v1/audit", headers={"X-API-Key": "demo-admin", "X-Purpose": "audit"}).json()["entries"]
    what = {e["what"] for e in audit if e["purpose"] == "case 2021-7" and world["p_principal"] in e["persons"]}
    assert what >= {"neighbourhood.png", "neighbourhood.html"}
    admin = client.get(f"/v1/subjects/{world['org_a']}/neighbourhood.png",
                       headers={"X-API-Key": "demo-admin", "X-Purpose": "review"})
    assert admin.status_code == 200


def test_api_picture_refusals(client: TestClient, world: World) -> None:
    url = f"/v1/subjects/{world['org_a']}/neighbourhood.png"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-API-Key": "demo-public"}).status_code == 403
    assert client.get(url, headers={"X-API-Key": "demo-market", "X-Purpose": "x"}).status_code == 403
    no_purpose = client.get(url, headers={"X-API-Key": "demo-investigator"})
    assert no_purpose.status_code == 400 and no_purpose.json()["error"]["code"] == "purpose_required"
    assert client.get(url + "?depth=9", headers=INVESTIGATOR).status_code == 422
    missing = client.get("/v1/subjects/91110105000000999X/neighbourhood.html", headers=INVESTIGATOR)
    assert missing.status_code in (404, 422)
    assert client.get("/v1/subjects/nonsense/neighbourhood.png", headers=INVESTIGATOR).status_code == 422
    # the JSON neighbourhood still answers at its own path
    assert client.get(f"/v1/subjects/{world['org_a']}/neighbourhood", headers=INVESTIGATOR).status_code == 200
