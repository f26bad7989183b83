"""A picture of a subject's neighbourhood for investigators: PNG, SVG or a standalone HTML page.

Nodes are coloured by credit status on the date (banned, black-listed, dishonest, restricted,
monitored, red-listed, clean: ``graph_credit.analytics.status``), organisations are squares and
persons circles, the subject is drawn larger at the centre with its neighbours on rings by
distance, and every edge is labelled with its role(s), shareholding ratio and dates.

Drawn with matplotlib's object API (no ``pyplot``), so it is safe in a server thread and does not
touch a notebook's backend. Names are drawn with the CJK font shipped in the package
(``graph_credit.fonts``: a subset of Noto Sans CJK SC), or with the font file named by
``GRAPH_CREDIT_CJK_FONT`` (for characters outside the subset), whatever the machine has installed.
"""

from __future__ import annotations

import html
import io
import math
import os
import warnings
from collections import defaultdict
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .analytics.status import STATUS_COLOURS, STATUS_LABELS, STATUSES, status_of
from .fonts import cjk_font_file
from .graph.traversal import neighbourhood
from .rules.derive import subject_kind
from .store.base import Store, require_known
from .views import graph_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FORMATS", "cjk_font", "neighbourhood_graph", "render_html", "render_neighbourhood", "render_png",
           "render_svg"]

FORMATS = (".png", ".svg", ".html")
ROLE_LABELS = {
    "LEGAL_REPRESENTATIVE": "legal rep.",
    "PRINCIPAL": "principal",
    "SENIOR_MANAGER": "senior mgr",
    "DIRECTOR": "director",
    "SUPERVISOR": "supervisor",
    "SHAREHOLDER": "shareholder",
    "PRACTITIONER": "practitioner",
}
ROLE_ZH = {
    "LEGAL_REPRESENTATIVE": "法定代表人", "PRINCIPAL": "主要负责人", "SENIOR_MANAGER": "高级管理人员",
    "DIRECTOR": "董事", "SUPERVISOR": "监事", "SHAREHOLDER": "股东", "PRACTITIONER": "注册执业人员",
}


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """The family name of the font that draws names: ``GRAPH_CREDIT_CJK_FONT`` if it names a font file,
    else the one shipped with the package (registered with matplotlib on first use)."""
    from matplotlib import font_manager

    env = os.environ.get("GRAPH_CREDIT_CJK_FONT")
    path = Path(env) if env and Path(env).is_file() else cjk_font_file()
    font_manager.fontManager.addfont(str(path))
    return str(font_manager.FontProperties(fname=str(path)).get_name())


def neighbourhood_graph(
    store: Store, subject: str, as_of: date, depth: int = 1, max_fanout: int = 30
) -> dict[str, Any]:
    """``graph_credit.views.graph_json`` of the neighbourhood, with each node's ``status`` on the date
    and, for persons, the ``masked_id``: everything the renderers need, nothing read twice. Raises
    ``NotFound`` for a subject the store knows nothing about."""
    require_known(store, subject)
    hood = neighbourhood(store, subject, as_of, depth, max_fanout)
    data = graph_json(store, hood)
    persons = store.get_persons([n["id"] for n in data["nodes"] if n["kind"] == "person"])
    for n in data["nodes"]:
        n["status"] = status_of(n["consequences"])
        if n["id"] in persons:
            n["masked_id"] = persons[n["id"]].masked_id
    return data


# -- layout ----------------------------------------------------------------------------------------
def _parents(data: dict[str, Any]) -> dict[str, str]:
    """A breadth-first tree over the drawn edges: each node's parent is a neighbour one ring in."""
    dist = {n["id"]: n["distance"] for n in data["nodes"]}
    parent: dict[str, str] = {}
    for e in sorted(data["edges"], key=lambda e: (e["source"], e["target"], e["id"])):
        for a, b in ((e["source"], e["target"]), (e["target"], e["source"])):
            if a in dist and b in dist and dist[b] == dist[a] + 1 and b not in parent:
                parent[b] = a
    return parent


def _layout(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """A radial tree: the origin at the centre, ring k at radius k, each subtree in an angular sector
    proportional to its number of leaves, so a node sits next to the node that brought it in."""
    origin = data["origin"]
    parent = _parents(data)
    by_id = {n["id"]: n for n in data["nodes"]}
    children: dict[str, list[str]] = defaultdict(list)
    for child, p in parent.items():
        children[p].append(child)
    for kids in children.values():
        kids.sort(key=lambda k: (by_id[k]["kind"], STATUSES.index(by_id[k].get("status", "clean")), k))

    leaves: dict[str, int] = {}

    def count(n: str) -> int:
        leaves[n] = max(1, sum(count(c) for c in children.get(n, ())))
        return leaves[n]

    count(origin)
    pos = {origin: (0.0, 0.0)}
    # neighbours without neighbours of their own still get room on the first ring
    bonus = leaves[origin] / (2 * len(children[origin])) if children.get(origin) else 0.0

    def place(n: str, a0: float, a1: float) -> None:
        start = a0
        extra = bonus if n == origin else 0.0
        total = sum(leaves[c] + extra for c in children.get(n, ()))
        for c in children.get(n, ()):
            span = (a1 - a0) * (leaves[c] + extra) / total
            mid = start + span / 2
            r = float(by_id[c]["distance"])
            pos[c] = (r * math.cos(mid), r * math.sin(mid))
            place(c, start, start + span)
            start += span

    place(origin, math.pi / 2, math.pi / 2 + 2 * math.pi)
    for n in data["nodes"]:  # nodes not reached by the tree (should not happen): outer ring
        pos.setdefault(n["id"], (data["depth"] + 1.0, 0.0))
    return pos


# -- labels ----------------------------------------------------------------------------------------
def _node_label(n: dict[str, Any]) -> str:
    ident = n.get("masked_id") or (n["id"] if n["kind"] == "organisation" else n["id"][:9] + "…")
    if n.get("name"):
        return f"{n['name']}\n{ident}"
    return ident


def _span(e: dict[str, Any]) -> str:
    start = e["valid_from"]
    end = e.get("valid_to")
    return f"{start}–{end}" if end else f"since {start}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2%}"


def _edge_text(e: dict[str, Any]) -> str:
    role = ROLE_LABELS.get(e["role"], e["role"].lower())
    if e["role"] == "SHAREHOLDER" and e.get("ratio"):
        role += f" {e['ratio']:.0%}"
    return f"{role}\n{_span(e)}"  # two short lines: labels of fanned-out edges need less room side by side


# -- drawing ---------------------------------------------------------------------------------------
def _ems(text: str) -> float:
    """Width of a line in ems: a Han character is one em, other characters about 0.6."""
    return sum(1.0 if ord(c) > 0x2E80 else 0.6 for c in text)


def _scale(boxes: list[tuple[float, float, float, float, float]]) -> float:
    """The fewest inches per layout unit at which no two label boxes overlap. A box is (x, y) in layout
    units, a fixed vertical offset in inches, width and height in inches; two boxes are apart when their
    centres are a half-width-sum apart across or a half-height-sum apart up or down."""
    need = 0.0
    for i, (x1, y1, c1, w1, h1) in enumerate(boxes):
        for x2, y2, c2, w2, h2 in boxes[i + 1:]:
            w, h, dx, dy, dc = (w1 + w2) / 2, (h1 + h2) / 2, abs(x1 - x2), y1 - y2, c1 - c2
            across = w / dx if dx > 1e-9 else math.inf
            if abs(dy) > 1e-9:
                up = (h - math.copysign(dc, dy)) / abs(dy)
            else:
                up = 0.0 if abs(dc) >= h else math.inf
            need = max(need, min(across, up))
    return need


NODE_PT, EDGE_PT = 10.0, 8.5  # label sizes: the figure grows until labels do not collide, never the text shrinks
MAX_INCHES = 36.0  # past this the figure stops growing (a hub of hundreds: page it instead)


def _box(text: str, points: float) -> tuple[float, float]:
    """Width and height in inches of a label box."""
    lines = text.split("\n")
    return max(map(_ems, lines)) * points / 72 + 0.12, len(lines) * 1.3 * points / 72 + 0.06


def _figure(data: dict[str, Any], font: str) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    nodes = data["nodes"]
    pos = _layout(data)
    dist = {n["id"]: n["distance"] for n in nodes}
    family = [font, "DejaVu Sans"]

    # What is written where, first: the figure is then made large enough for none of it to overlap.
    node_labels = []  # (node, text, offset in points below its centre)
    for n in nodes:
        extra = f"\n+{n['truncated_edges']} more" if n.get("truncated_edges") else ""
        node_labels.append((n, _node_label(n) + extra, 21.0 if n["id"] == data["origin"] else 15.0))
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in data["edges"]:
        if e["source"] in pos and e["target"] in pos:
            pairs[(e["source"], e["target"])].append(e)
    edge_labels = []  # (x, y, text): towards the outer end, where fanned-out edges are furthest apart
    for (src, dst), edges in pairs.items():
        inner, outer = (src, dst) if dist.get(src, 0) <= dist.get(dst, 0) else (dst, src)
        (x0, y0), (x1, y1) = pos[inner], pos[outer]
        edge_labels.append((x0 + (x1 - x0) * 0.62, y0 + (y1 - y0) * 0.62,
                            "\n".join(_edge_text(e) for e in sorted(edges, key=lambda e: e["role"]))))
    boxes = []
    for n, text, below in node_labels:
        w, h = _box(text, NODE_PT)
        boxes.append((*pos[n["id"]], -below / 72 - h / 2, w, h))
    boxes += [(x, y, 0.0, *_box(text, EDGE_PT)) for x, y, text in edge_labels]
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    widest = max((b[3] for b in boxes), default=1.0)
    tallest = max((b[4] - b[2] for b in boxes), default=0.5)
    scale = min(max(2.0, _scale(boxes)), (MAX_INCHES - widest) / span)  # inches per layout unit
    pad_x, pad_top, pad_bottom = (widest / 2 + 0.2) / scale, 0.5 / scale, (tallest + 0.2) / scale
    width = (max(xs) - min(xs)) * scale + widest + 0.6
    height = (max(ys) - min(ys)) * scale + tallest + 0.9 + 1.3  # and the title and legend
    fig = Figure(figsize=(max(width, 8.0), max(height, 6.0)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")

    def shrink(key: str) -> float:  # points from a node's centre to its rim, plus a gap
        return 19.0 if key == data["origin"] else 12.0

    for (src, dst), edges in pairs.items():
        shareholding = all(e["role"] == "SHAREHOLDER" for e in edges)
        width = 1.0 + 3.0 * max((e.get("ratio") or 0.0) for e in edges) if shareholding else 1.2
        arrow = FancyArrowPatch(pos[src], pos[dst], arrowstyle="-|>", mutation_scale=10, shrinkA=shrink(src),
                                shrinkB=shrink(dst), color="#2e86c1" if shareholding else "#555555",
                                linewidth=width, alpha=0.8,
                                linestyle="-" if edges[0]["role"] != "PRACTITIONER" else ":", zorder=1)
        ax.add_patch(arrow)
    for x, y, text in edge_labels:
        ax.text(x, y, text, fontsize=EDGE_PT, ha="center", va="center", color="#333333", family=family, zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})

    for n, text, below in node_labels:
        x, y = pos[n["id"]]
        is_origin = n["id"] == data["origin"]
        ax.scatter([x], [y], s=900 if is_origin else 360, marker="s" if n["kind"] == "organisation" else "o",
                   c=STATUS_COLOURS[n.get("status", "clean")], edgecolors="black",
                   linewidths=2.5 if is_origin else 0.8, zorder=2)
        ax.annotate(text, (x, y), xytext=(0, -below), textcoords="offset points", ha="center", va="top",
                    fontsize=NODE_PT, family=family, zorder=4,
                    bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.75})

    shown = [s for s in STATUSES if any(n.get("status", "clean") == s for n in nodes)]
    handles = [Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=STATUS_COLOURS[s],
                      markeredgecolor="black", label=STATUS_LABELS[s])
               for s in shown]
    handles += [Line2D([], [], marker="s", linestyle="", markersize=9, markerfacecolor="white",
                       markeredgecolor="black", label="organisation"),
                Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor="white",
                       markeredgecolor="black", label="person"),
                Line2D([], [], color="#2e86c1", linewidth=2, label="shareholding (width: ratio)"),
                Line2D([], [], color="#555555", linewidth=1.2, label="office held")]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), frameon=False,
               prop={"family": family, "size": 9})
    origin = next((n for n in nodes if n["id"] == data["origin"]), {"id": data["origin"], "kind": "?"})
    title = f"{_node_label(origin).replace(chr(10), '  ')}: neighbourhood as of {data['as_of']}"
    hidden = sum(data.get("truncated", {}).values())
    note = f"depth {data['depth']}, {len(nodes)} subjects, {len(data['edges'])} role edges in force"
    note += f"; {hidden} edges of hub nodes not drawn" if hidden else ""
    ax.set_title(f"{title}\n{note}", fontsize=12, family=family)
    ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
    ax.set_ylim(min(ys) - pad_bottom, max(ys) + pad_top)
    return fig


def render_png(data: dict[str, Any], dpi: int = 110) -> bytes:
    """The neighbourhood (from ``neighbourhood_graph``) as PNG bytes."""
    fig = _figure(data, cjk_font())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def render_svg(data: dict[str, Any]) -> str:
    """The neighbourhood as SVG with text kept as text (names included: the viewer's fonts draw them)."""
    from matplotlib import rc_context

    fig = _figure(data, cjk_font())
    buf = io.StringIO()
    with rc_context({"svg.fonttype": "none"}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buf, format="svg", facecolor="white")
    text = buf.getvalue()
    return text[text.index("<svg"):]


_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em} h2{font-size:1.1em;margin-top:1.5em} .note{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em} td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3} .swatch{display:inline-block;width:.9em;height:.9em;border:1px solid #000;
vertical-align:middle;margin-right:.3em} .legend span.item{margin-right:1.2em;white-space:nowrap}
figure{margin:0} figure svg{max-width:100%;height:auto}
"""


def render_html(data: dict[str, Any]) -> str:
    """A standalone HTML page (no script, no external resource): the picture as inline SVG, a legend,
    and tables of the subjects (status, consequences in force) and the role edges with their dates."""
    esc = html.escape
    by_id = {n["id"]: n for n in data["nodes"]}
    origin = by_id.get(data["origin"], {"id": data["origin"], "name": "", "kind": subject_kind(data["origin"])})

    def who(key: str) -> str:
        n = by_id.get(key, {"id": key, "kind": subject_kind(key)})
        ident = n.get("masked_id") or key
        return f"{esc(n.get('name') or '')} <code>{esc(ident)}</code>"

    legend = "".join(f'<span class="item"><span class="swatch" style="background:{STATUS_COLOURS[s]}"></span>'
                     f"{esc(STATUS_LABELS[s])}</span>" for s in STATUSES)
    node_rows = "".join(
        f"<tr><td>{who(n['id'])}</td><td>{esc(n['kind'])}</td><td>{n['distance']}</td>"
        f'<td><span class="swatch" style="background:{STATUS_COLOURS[n["status"]]}"></span>{esc(n["status"])}</td>'
        f"<td>{esc(', '.join(n['consequences']))}</td></tr>"
        for n in sorted(data["nodes"], key=lambda n: (n["distance"], STATUSES.index(n["status"]), n["id"])))
    edge_rows = "".join(
        f"<tr><td>{who(e['source'])}</td><td>{esc(ROLE_ZH.get(e['role'], ''))} {esc(e['role'])}"
        f"{esc(' (' + e['title'] + ')') if e.get('title') else ''}</td><td>{who(e['target'])}</td>"
        f"<td>{esc(str(e['valid_from']))}</td><td>{esc(str(e.get('valid_to') or ''))}</td>"
        f"<td>{_ratio(e.get('ratio'))}</td></tr>"
        for e in sorted(data["edges"], key=lambda e: (e["target"], e["role"], e["source"])))
    hidden = sum(data.get("truncated", {}).values())
    title = f"{origin.get('name') or ''} {origin.get('masked_id') or origin['id']}".strip()
    heading = f"{esc(title)}: neighbourhood as of {esc(str(data['as_of']))}"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{heading}</title>
<style>{_CSS}</style></head><body>
<h1>{heading}</h1>
<p class="note">Depth {data['depth']}: {len(data['nodes'])} subjects, {len(data['edges'])} role edges in force on that
date{f"; {hidden} edges of hub nodes not shown" if hidden else ""}. Status is each subject's most severe consequence
in force. Contains personal data for authorised investigation only (查询使用登记). Generated
{esc(datetime.now().isoformat(timespec="seconds"))}.</p>
<p class="legend">{legend}</p>
<figure>{render_svg(data)}</figure>
<h2>Subjects</h2>
<table><tr><th>subject</th><th>kind</th><th>distance</th><th>status</th><th>consequences in force</th></tr>
{node_rows}</table>
<h2>Roles</h2>
<table><tr><th>holder</th><th>role</th><th>organisation</th><th>from</th><th>to</th><th>ratio</th></tr>
{edge_rows}</table>
</body></html>
"""


def render_neighbourhood(store: Store, subject: str, as_of: date, out: str | Path, depth: int = 1,
                         max_fanout: int = 30) -> Path:
    """Render a subject's neighbourhood to ``out``; the format follows its suffix (.png, .svg, .html)."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"out: the file name must end in {', '.join(FORMATS)}, not {suffix or 'nothing'!r}")
    data = neighbourhood_graph(store, subject, as_of, depth, max_fanout)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        path.write_bytes(render_png(data))
    elif suffix == ".svg":
        path.write_text(render_svg(data), encoding="utf-8")
    else:
        path.write_text(render_html(data), encoding="utf-8")
    return path
