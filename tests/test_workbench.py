"""The investigator workbench in a real browser: Debian's headless Chromium driven by Playwright, against the
real API served by uvicorn on loopback over the scenario world (tests/scenario.py), on 2021-01-01.

Screenshots of the main states go to ``test-output/workbench/`` (``GRAPH_CREDIT_SCREENSHOTS`` to change it);
with ``GRAPH_CREDIT_README_SCREENSHOTS=1`` they are also copied to docs/screenshots/ for the README.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph_credit.engine import Engine
from graph_credit.ids import persons_in
from graph_credit.store import SQLiteStore
from tests.helpers import wait_until_healthy
from tests.scenario import World, build
from tests.test_server import free_port

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():  # `make test` installs it; a bare pytest run on a machine without it skips
    pytest.skip("no /usr/bin/chromium (make test installs Debian's chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("GRAPH_CREDIT_SCREENSHOTS", ROOT / "test-output" / "workbench"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PURPOSE = "case 2021-7 workbench"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / name)
    if os.environ.get("GRAPH_CREDIT_README_SCREENSHOTS") == "1":
        (ROOT / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
        shutil.copy(SHOTS / name, ROOT / "docs" / "screenshots" / name)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    path = tmp_path_factory.mktemp("workbench") / "served.sqlite"
    store = SQLiteStore(path)
    world = build(Engine(store))
    store.close()
    port = free_port()
    env = {**os.environ, "GRAPH_CREDIT_STORE": str(path), "GRAPH_CREDIT_DEMO": "1", "GRAPH_CREDIT_TODAY": "2021-01-01",
           "GRAPH_CREDIT_WEBHOOK_INTERVAL": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, 60, lambda: proc.stdout.read().decode() if proc.stdout else "server exited")
        yield base, world
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def console() -> list[str]:
    """Script errors and console errors of the page (a refused request is logged there too)."""
    return []


@pytest.fixture
def page(browser: Browser, served: tuple[str, World], console: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1500, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.on("pageerror", lambda e: console.append(str(e)))
    pg.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()
    assert console == [], console  # no script error, nothing refused by the content security policy


def login(page: Page, base: str, key: str, purpose: str = PURPOSE, hash_: str = "") -> None:
    page.goto(f"{base}/workbench{hash_}")
    page.fill("#key", key)
    page.fill("#purpose", purpose)
    page.click("#login button")


def settle(page: Page) -> None:
    page.wait_for_function("() => document.getElementById('message').textContent === ''")


def graph_nodes(page: Page) -> set[str]:
    return set(page.evaluate("() => workbench.cy.nodes().map(n => n.id())"))


def graph_edges(page: Page) -> set[str]:
    return set(page.evaluate("() => workbench.cy.edges().map(e => e.id())"))


def click_node(page: Page, key: str, shift: bool = False) -> None:
    """A real mouse click at the node's place on the canvas."""
    box = page.locator("#graph").bounding_box()
    assert box is not None
    at = page.evaluate("k => workbench.cy.getElementById(k).renderedPosition()", key)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
    if shift:
        page.keyboard.up("Shift")
    settle(page)


def open_org_a(page: Page, base: str, world: World) -> None:
    login(page, base, "demo-investigator")
    page.fill("#q", "建设")
    page.click("#find button")
    page.locator(f'#results li[data-key="{world["org_a"]}"]').click()
    page.wait_for_function("k => workbench.cy.getElementById(k).length === 1", arg=world["org_a"])
    settle(page)


def test_search_finds_a_subject_by_part_of_its_name(page: Page, served: tuple[str, World]) -> None:
    base, world = served
    login(page, base, "demo-investigator")
    page.fill("#q", "建设")  # part of 甲建设有限公司
    page.click("#find button")
    hit = page.locator(f'#results li[data-key="{world["org_a"]}"]')
    hit.wait_for()
    assert "甲建设有限公司" in hit.inner_text() and "banned" in hit.inner_text()
    shot(page, "01-search.png")


def test_graph_draws_the_neighbourhood_and_expanding_adds_neighbours(page: Page, served: tuple[str, World]) -> None:
    base, world = served
    open_org_a(page, base, world)
    in_force = {"org_a", "p_lr_new", "p_principal", "p_manager", "p_director", "p_director2", "p_holder", "org_b",
                "p_cpa"}  # on 2021-01-01: p_lr_old left on 2020-06-01
    assert graph_nodes(page) == {world[n] for n in in_force}
    kinds = page.evaluate("() => Object.fromEntries(workbench.cy.nodes().map(n => [n.id(), n.style('shape')]))")
    assert kinds[world["org_b"]] == "round-rectangle" and kinds[world["p_holder"]] == "ellipse"
    colour = page.evaluate("k => workbench.cy.getElementById(k).style('background-color')", world["org_a"])
    assert colour == "rgb(192,57,43)"  # banned
    label = page.evaluate("k => workbench.cy.getElementById(k).data('label')", world["org_a"])
    assert label.startswith("甲建设有限公司")
    page.locator("#graph").hover()  # the cause of the colour on hover
    pos = page.evaluate("k => workbench.cy.getElementById(k).renderedPosition()", world["org_a"])
    box = page.locator("#graph").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + pos["x"], box["y"] + pos["y"])
    page.wait_for_function("() => document.getElementById('graph').title.includes('rule')")
    assert "R1" in page.get_attribute("#graph", "title") or ""
    click_node(page, world["p_principal"])  # one hop out: p_principal is also org C's legal representative
    page.wait_for_function("k => workbench.cy.getElementById(k).length === 1", arg=world["org_c"])
    click_node(page, world["org_c"])  # two hops out
    page.wait_for_function("k => workbench.cy.getElementById(k).length === 1", arg=world["p_other"])
    assert graph_nodes(page) == {world[n] for n in in_force | {"org_c", "p_other"}}
    # org C is clean itself, but its legal representative (p_principal) is banned: drawn exposed, not clean
    assert page.evaluate("k => workbench.cy.getElementById(k).hasClass('exposed')", world["org_c"])
    page.evaluate("() => workbench.cy.nodes().unselect()")  # a selected node's border is the selection's
    border = page.evaluate("k => workbench.cy.getElementById(k).style('border-color')", world["org_c"])
    assert border == "rgb(192,57,43)"
    assert not page.evaluate("k => workbench.cy.getElementById(k).hasClass('exposed')", world["org_a"])
    edge_labels = page.evaluate("() => workbench.cy.edges().map(e => e.data('label'))")
    assert any(lbl.startswith("股东 100%") and "2012-01-01" in lbl for lbl in edge_labels)
    shot(page, "02-graph-expanded.png")


def test_moving_the_date_before_the_legal_representative_changed(page: Page, served: tuple[str, World]) -> None:
    base, world = served
    open_org_a(page, base, world)
    new_lr = page.evaluate("k => workbench.cy.getElementById(k).connectedEdges().map(e => e.id())", world["p_lr_new"])
    assert len(new_lr) == 1
    changes = page.evaluate("() => workbench.state.changes")
    assert "2020-06-01" in changes and "2015-01-01" in changes  # the slider runs over them
    page.fill("#date", "2020-05-31")
    page.dispatch_event("#date", "change")
    page.wait_for_function("k => workbench.cy.getElementById(k).length === 1", arg=world["p_lr_old"])
    settle(page)
    assert world["p_lr_new"] not in graph_nodes(page) and new_lr[0] not in graph_edges(page)  # ended / not begun
    label = page.evaluate("k => workbench.cy.getElementById(k).connectedEdges()[0].data('label')", world["p_lr_old"])
    assert label.startswith("法定代表人") and "2015-01-01 – 2020-06-01" in label
    assert "d=2020-05-31" in page.url
    page.wait_for_function("() => document.getElementById('why-body').innerText.includes('as of 2020-05-31')")
    page.wait_for_function("() => document.querySelectorAll('#why-body section').length === 4")
    assert "Consequences in force (0)" in page.inner_text("#why-body")  # before the decision of 2020-09-01
    shot(page, "03-before-lr-change.png")
    # the slider: to the change date, the new one is back
    index = changes.index("2020-06-01")
    page.evaluate(f"() => {{ const s = document.getElementById('slider'); s.value = '{index}';"
                  " s.dispatchEvent(new Event('change')); }")
    page.wait_for_function("k => workbench.cy.getElementById(k).length === 1", arg=world["p_lr_new"])
    assert world["p_lr_old"] not in graph_nodes(page)


def test_why_panel_shows_rule_source_edge_basis_and_risk(page: Page, served: tuple[str, World]) -> None:
    base, world = served
    open_org_a(page, base, world)
    click_node(page, world["p_director"])  # named directly responsible in R1
    why = page.locator("#why-body")
    why.locator(".fact").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('#why-body section').length === 4")
    text = why.inner_text()
    assert "rule" in text and "legal basis" in text and "《" in text  # the rule and its legal basis
    assert "澄市监罚〔2020〕1号" in text  # the source record
    assert "董事" in text  # the edge it travelled, with its interval
    assert "2023-09-01" in text or "no end date" in text
    for category in ("own", "surrounding", "historical", "warning"):
        assert why.locator(f"section.risk-{category}").count() == 1
    shot(page, "04-why-panel.png")


def test_paths_exports_and_a_shareable_link(page: Page, served: tuple[str, World]) -> None:
    base, world = served
    open_org_a(page, base, world)
    click_node(page, world["p_principal"])
    page.wait_for_function("k => workbench.cy.getElementById(k).length === 1", arg=world["org_c"])
    click_node(page, world["org_a"], shift=True)
    click_node(page, world["org_c"], shift=True)
    page.click("#connect")
    page.locator("#path-result li").first.wait_for()
    assert "2 edges" in page.inner_text("#path-result")
    assert page.evaluate("() => workbench.cy.edges('.path').length") == 2
    shot(page, "05-paths.png")
    with page.expect_download() as got:
        page.click("#png")
    assert Path(got.value.path()).read_bytes().startswith(b"\x89PNG")
    with page.expect_download() as got:
        page.click("#svg")
    svg = Path(got.value.path()).read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "甲建设有限公司" in svg and "法定代表人" in svg
    with page.expect_download() as got:
        page.click("#csv-edges")
    rows = Path(got.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "edge_id,holder,role,organisation,ratio,valid_from,valid_to,title"
    assert len(rows) == 1 + len(graph_edges(page))
    with page.expect_download() as got:
        page.click("#csv-nodes")
    assert "甲建设有限公司" in Path(got.value.path()).read_text(encoding="utf-8-sig")
    url = page.url
    assert "demo-investigator" not in url and f"s={world['org_a']}" in url and "x=" in url
    before = graph_nodes(page)
    other = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    login(other, base, "demo-investigator", hash_="#" + url.split("#", 1)[1])  # someone with the right key
    other.wait_for_function("n => workbench.cy.nodes().length === n", arg=len(before))
    assert graph_nodes(other) == before
    other.context.close()


def test_a_public_key_sees_masked_data_only(page: Page, served: tuple[str, World], console: list[str]) -> None:
    base, world = served
    login(page, base, "demo-public", purpose="")
    page.fill("#q", "张")
    page.click("#find button")
    page.locator("#results li").first.wait_for()
    text = page.inner_text("#results")
    html = page.content()
    assert "张*" in text  # names masked to their first character
    assert world.id_numbers["p_director"][:3] + "*" * 11 in text  # masked ID numbers
    for name in ("p_director", "p_lr_old", "p_principal"):
        assert world[name] not in html and world.id_numbers[name] not in html and f"张{name[2:]}" not in html
    shot(page, "06-public-masked.png")
    page.fill("#q", "甲建设")
    page.click("#find button")
    page.locator(f'#results li[data-key="{world["org_a"]}"]').click()  # organisations are not masked
    page.wait_for_function("() => document.getElementById('message').textContent.startsWith('403')")
    assert page.evaluate("() => workbench.cy.nodes().length") == 0  # the graph is for investigators
    assert console == ["Failed to load resource: the server responded with a status of 403 (Forbidden)"]
    console.clear()


def test_every_read_of_personal_data_is_audited_with_its_purpose(page: Page, served: tuple[str, World]) -> None:
    base, world = served
    purpose = f"调查 案件 {time.time_ns()}"  # Chinese, as investigators write it (查询使用登记)
    seen: list[Any] = []
    page.on("response", lambda r: seen.append(r) if "/v1/" in r.url else None)
    login(page, base, "demo-investigator", purpose=purpose)
    page.fill("#q", "张")  # persons found: a read of personal data
    page.click("#find button")
    page.locator("#results li").first.wait_for()
    page.fill("#q", "建设")
    page.click("#find button")
    page.locator(f'#results li[data-key="{world["org_a"]}"]').click()
    page.wait_for_function("k => workbench.cy.getElementById(k).length === 1", arg=world["org_a"])
    settle(page)
    page.locator("#why-body .fact").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('#why-body section').length === 4")
    click_node(page, world["p_principal"])
    page.wait_for_function("() => document.querySelectorAll('#why-body section').length === 4")
    page.wait_for_load_state("networkidle")
    personal = []
    for r in seen:
        assert r.status == 200, (r.url, r.status)
        if persons_in(json.loads(r.body())):
            personal.append(r.url)
    audit = httpx.get(f"{base}/v1/audit", headers={"X-API-Key": "demo-admin", "X-Purpose": "review"}, timeout=10)
    mine = [e for e in audit.json()["entries"] if e["purpose"] == purpose]
    assert len(mine) == len(personal) > 0  # each read with persons in it, once, with the purpose as typed
    assert {e["what"] for e in mine} >= {"subject search", "roles", "profile", "explain", "risk items"}
    assert all(e["role"] == "investigator" for e in mine)
