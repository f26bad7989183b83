// The investigator workbench: find a subject, expand its roles on a graph, move the date, ask why, connect
// several subjects, export, share. Every read goes through the public API with the key and purpose typed in
// (kept in this tab's sessionStorage, never in the URL), so roles, masking and the audit apply as to any client.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 25; // role edges per page: a hub expands page by page
  const FONT = '"Graph Credit Sans CJK", sans-serif';
  const COLOURS = {
    banned: "#c0392b", black_listed: "#2c2c2c", dishonest: "#e67e22", restricted: "#f4c542",
    monitored: "#8e6bbf", red_listed: "#27ae60", clean: "#a9cce3",
  };
  const ADVERSE = new Set(["banned", "black_listed", "dishonest"]);
  const ROLES = {
    LEGAL_REPRESENTATIVE: "法定代表人", PRINCIPAL: "主要负责人", SENIOR_MANAGER: "高级管理人员", DIRECTOR: "董事",
    SUPERVISOR: "监事", SHAREHOLDER: "股东", PRACTITIONER: "注册执业人员",
  };
  const CATEGORIES = ["own", "surrounding", "historical", "warning"];

  // date: null until the server answers with its own notion of today (the first response's as_of)
  const state = { origin: null, date: null, selected: null, expanded: new Map(), picked: [],
    path: null, changes: [], results: { offset: 0, next: null } };
  const nodes = new Map(); // key -> subject view (graph_credit.graph.explore.subject_views)
  const edges = new Map(); // edge id -> edge
  const totals = new Map(); // expanded key -> role edges in force
  let cy = null;

  // -- talking to the API ------------------------------------------------------------------------------
  function credentials() {
    return { key: sessionStorage.getItem("gc-key") || "", purpose: sessionStorage.getItem("gc-purpose") || "" };
  }

  async function api(path, body) {
    const { key, purpose } = credentials();
    const headers = { "X-API-Key": key };
    // percent-encoded: a header carries Latin-1 only, and the server decodes %XX back to the text typed (调查)
    if (purpose) headers["X-Purpose"] = encodeURIComponent(purpose);
    if (body) headers["Content-Type"] = "application/json";
    const r = await fetch(path, body ? { method: "POST", headers, body: JSON.stringify(body) } : { headers });
    const data = await r.json().catch(() => ({}));
    if (r.ok && !state.date && data.as_of) state.date = data.as_of;
    if (!r.ok) {
      const e = data.error || {};
      throw new Error(`${r.status} ${e.code || ""}: ${e.message || r.statusText}`);
    }
    return data;
  }

  const say = (text) => { $("message").textContent = text || ""; };
  const enc = encodeURIComponent;
  const asOf = () => (state.date ? `as_of=${state.date}&` : "");
  const rolesUrl = (key, page) => `/v1/subjects/${enc(key)}/roles?${asOf()}offset=${page * PAGE}&limit=${PAGE}`;

  // -- small DOM helpers ---------------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const badge = (status) => el("span", { class: `badge st-${status}` }, status);
  const ident = (n) => n.masked_id || n.key;
  const nameOf = (key) => { const n = nodes.get(key); return n ? `${n.name || ""} ${ident(n)}`.trim() : key; };

  // -- find ------------------------------------------------------------------------------------------------
  async function find(offset) {
    const q = new URLSearchParams({ q: $("q").value.trim(), region: $("region").value.trim(),
      industry: $("industry").value.trim(), limit: "20", offset: String(offset) });
    if (state.date) q.set("as_of", state.date);
    try {
      const data = await api(`/v1/subjects?${q}`);
      if (offset === 0) $("results").replaceChildren();
      for (const s of data.subjects) {
        $("results").append(el("li", { "data-key": s.key, onclick: () => open(s.key) },
          `${s.name || "(no name)"} `, el("span", { class: "id" }, ident(s)), " ", badge(s.status)));
      }
      if (!data.subjects.length && offset === 0) $("results").append(el("li", {}, "nothing found"));
      state.results.next = data.next_offset;
      $("more-results").hidden = data.next_offset === null;
      say("");
    } catch (e) { say(e.message); }
  }

  // -- explore: the graph is every expanded subject's role edges in force on the date ------------------------
  async function open(key) {
    state.origin = key;
    state.expanded = new Map([[key, 1]]);
    state.path = null;
    await redraw(true);
    select(key);
  }

  async function expand(key) {
    state.expanded.set(key, (state.expanded.get(key) || 0) + 1);
    await redraw(true);
  }

  let drawRequest = 0; // likewise for the graph: only the latest request draws

  async function redraw(relayout) {
    if (!state.origin) return;
    const mine = ++drawRequest;
    say("loading…");
    const pages = [];
    for (const [key, count] of state.expanded) {
      for (let page = 0; page < count; page++) pages.push(api(rolesUrl(key, page)).then((p) => [key, p]));
    }
    let loaded;
    try {
      loaded = await Promise.all(pages);
      if (state.path) state.path = await api("/v1/connections", { subjects: state.path.subjects, as_of: state.date });
    } catch (e) {
      say(e.message.startsWith("403") ? `${e.message} (the graph needs an investigator key; search works with any)`
        : e.message);
      return;
    }
    if (mine !== drawRequest) return;
    nodes.clear(); edges.clear(); totals.clear();
    const changes = new Set();
    for (const [key, p] of loaded) {
      nodes.set(p.subject.key, p.subject);
      for (const n of p.nodes) nodes.set(n.key, n);
      for (const e of p.edges) edges.set(e.id, e);
      for (const d of p.changes) changes.add(d);
      totals.set(key, p.total);
    }
    if (state.path) {
      for (const n of state.path.nodes) if (!nodes.has(n.id)) nodes.set(n.id, { key: n.id, kind: n.kind, name: "", status: "clean", causes: [] });
      for (const e of state.path.edges) edges.set(e.id, e);
    }
    state.changes = [...changes].sort();
    draw(relayout);
    syncTime();
    share();
    say("");
  }

  function nodeLabel(n) {
    const shown = state.expanded.has(n.key) ? Math.min(state.expanded.get(n.key) * PAGE, totals.get(n.key) || 0) : 0;
    const more = state.expanded.has(n.key) && totals.get(n.key) > shown ? `\n+${totals.get(n.key) - shown} more` : "";
    return `${n.name || ""}\n${ident(n)}${more}`.trim();
  }

  function edgeLabel(e) {
    const share = e.ratio ? ` ${(e.ratio * 100).toFixed(e.ratio * 100 % 1 ? 1 : 0)}%` : "";
    return `${ROLES[e.role] || e.role}${share}${e.title ? ` (${e.title})` : ""}\n${e.valid_from} – ${e.valid_to || ""}`;
  }

  // A firm clean itself but run or owned by a banned, black-listed or dishonest holder is drawn "exposed".
  const exposed = (n) => !!(n.exposure && n.exposure.length) && !ADVERSE.has(n.status);

  function causeText(n) {
    const via = (n.exposure || []).map((x) =>
      `held by ${(nodes.get(x.holder) || {}).name || x.holder} (${ROLES[x.role] || x.role}): ${x.status}`);
    if (!n.causes || !n.causes.length) {
      return [`${n.name || n.key}: ${n.status || "clean"}, no consequence in force`, ...via].join("\n");
    }
    return [`${n.name || n.key}: ${n.status}`, ...n.causes.map((c) =>
      `${c.consequence}: rule ${c.rule_id}, cause ${c.cause}, since ${c.valid_from}${c.valid_to ? ` until ${c.valid_to}` : ""}`),
    ...via].join("\n");
  }

  function draw(relayout) {
    const old = new Map(cy.nodes().map((n) => [n.id(), { ...n.position() }]));
    const onPath = new Set(state.path ? state.path.pairs.flatMap((p) => p.path.map((s) => s.edge_id)) : []);
    cy.elements().remove();
    cy.add([...nodes.values()].map((n) => ({
      group: "nodes", data: { id: n.key, label: nodeLabel(n), kind: n.kind, colour: COLOURS[n.status] || COLOURS.clean },
      classes: [n.key === state.origin && "origin", state.expanded.has(n.key) && "expanded", exposed(n) && "exposed",
        state.picked.includes(n.key) && "picked"].filter(Boolean).join(" "),
      position: old.get(n.key),
    })));
    cy.add([...edges.values()].filter((e) => nodes.has(e.source) && nodes.has(e.target)).map((e) => ({
      group: "edges", data: { id: e.id, source: e.source, target: e.target, role: e.role, label: edgeLabel(e),
        width: e.role === "SHAREHOLDER" ? 1 + 5 * (e.ratio || 0) : 1.5 },
      classes: onPath.has(e.id) ? "path" : "",
    })));
    const fresh = cy.nodes().filter((n) => !old.has(n.id()));
    if (relayout && (fresh.length || !old.size)) {
      cy.layout({ name: "cose", animate: false, randomize: !old.size, nodeDimensionsIncludeLabels: true,
        idealEdgeLength: () => 140, nodeRepulsion: () => 60000, padding: 30 }).run();
    }
    if (state.selected) cy.getElementById(state.selected).select();
    if (!old.size) cy.fit(undefined, 30);
  }

  // -- time: the date control and a slider over the dates on which the drawn neighbourhood changed ----------
  function syncTime() {
    $("date").value = state.date || "";
    const slider = $("slider");
    slider.max = String(Math.max(0, state.changes.length - 1));
    let at = 0;
    state.changes.forEach((d, i) => { if (state.date && d <= state.date) at = i; });
    slider.value = String(at);
    $("slider-label").textContent = state.changes.length
      ? `${state.changes.length} changes, ${state.changes[0]} … ${state.changes[state.changes.length - 1]}` : "";
  }

  async function moveTo(date) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return;
    state.date = date;
    await redraw(true);
    if (state.selected) whyPanel(state.selected); // the panel follows the date too
  }

  // -- why: consequences in force with their provenance, and risk split four ways -------------------------
  function select(key) {
    state.selected = key;
    cy.$("node:selected").unselect();
    cy.getElementById(key).select();
    whyPanel(key);
  }

  function dl(pairs) {
    const list = el("dl");
    for (const [k, v] of pairs) if (v) list.append(el("dt", {}, k), el("dd", {}, v));
    return list;
  }

  function basisText(b) {
    return typeof b === "string" ? b : `${b.document} ${b.clause}${b.quote ? `：“${b.quote}”` : ""}`;
  }

  function factBox(chain) {
    const f = chain.fact;
    const source = chain.record
      ? `record ${chain.record.record_id}: ${chain.record.category}, ${chain.record.document_no || ""} ` +
        `(${chain.record.department}, decided ${chain.record.decision_date})`
      : chain.list_entry ? `list entry ${chain.list_entry.entry_id}: ${chain.list_entry.name} (${chain.list_entry.determining_unit})` : "";
    const e = chain.edge;
    const edge = e && !e.deleted
      ? `${ROLES[e.role] || e.role}: ${nameOf(e.holder)} → ${nameOf(e.org)}, ${e.valid_from} – ${e.valid_to || "open"}` : "";
    const basis = [...(chain.rule.basis || []).map(basisText), ...(chain.record && chain.record.basis ? [chain.record.basis] : [])];
    return el("div", { class: "fact" }, el("strong", {}, f.consequence), " ", badge(f.status || "active"),
      dl([["rule", `${chain.rule.id}${chain.rule.title ? ` ${chain.rule.title}` : ""} (v${chain.rule.version})`],
        ["source", source], ["via edge", edge], ["legal basis", basis.join("；")],
        ["in force", `${f.valid_from} – ${f.valid_to || "no end date"}`]]));
  }

  let panelRequest = 0; // a slower answer for an earlier node or date must not overwrite the panel

  async function whyPanel(key) {
    const mine = ++panelRequest;
    const n = nodes.get(key) || { key, name: "", status: "clean" };
    const body = $("why-body");
    const pageInfo = totals.has(key) ? `${Math.min(state.expanded.get(key) * PAGE, totals.get(key))} of ${totals.get(key)} roles shown` : "not expanded";
    body.replaceChildren(el("h3", {}, n.name || "", " ", el("span", { class: "id" }, ident(n)), " ", badge(n.status)),
      el("p", {}, `${n.kind || ""}; ${pageInfo} as of ${state.date} `,
        el("button", { type: "button", id: "expand-more", onclick: () => expand(key) },
          state.expanded.has(key) ? "next page of roles" : "expand roles"), " ",
        el("button", { type: "button", id: "pick", onclick: () => pick(key) }, "pick for paths")),
      el("p", { class: "hint" }, "loading consequences and risk…"));
    try {
      const [profile, risk] = await Promise.all([api(`/v1/subjects/${enc(key)}?as_of=${state.date}`),
        api(`/v1/subjects/${enc(key)}/risk-items?as_of=${state.date}`)]);
      const active = profile.derived.filter((f) => f.status === "active");
      const chains = await Promise.all(active.slice(0, 20).map((f) => api(`/v1/facts/${enc(f.fact_id)}/explain`)
        .then((c) => ({ ...c, fact: { ...c.fact, status: f.status } }))));
      if (mine !== panelRequest) return;
      body.lastChild.remove();
      body.append(el("h3", {}, `Consequences in force (${active.length})`));
      if (!active.length) body.append(el("p", { class: "hint" }, "none on this date"));
      for (const c of chains) body.append(factBox(c));
      body.append(el("h3", {}, "Related-party risk"));
      for (const cat of CATEGORIES) {
        const items = risk.items.filter((i) => i.category === cat);
        const section = el("section", { class: `risk-${cat}` }, el("h3", {}, `${cat} (${items.length})`));
        for (const i of items.slice(0, 30)) {
          section.append(el("div", { class: `risk sev-${i.severity}` }, `${i.severity}: ${i.summary}`,
            i.until ? ` (until ${i.until})` : ""));
        }
        body.append(section);
      }
    } catch (e) {
      if (mine === panelRequest) body.lastChild.textContent = e.message;
    }
  }

  // -- paths between picked subjects ---------------------------------------------------------------------
  function pick(key) {
    if (!state.picked.includes(key) && state.picked.length < 50) state.picked.push(key);
    showPicked();
  }

  function showPicked() {
    $("picked").replaceChildren(...state.picked.map((k) => el("li", {}, nameOf(k))));
    $("picked-count").textContent = String(state.picked.length);
    $("connect").disabled = state.picked.length < 2;
    cy.nodes().forEach((n) => n.toggleClass("picked", state.picked.includes(n.id())));
    share();
  }

  async function connect() {
    try {
      state.path = await api("/v1/connections", { subjects: state.picked, as_of: state.date });
    } catch (e) { say(e.message); return; }
    await redraw(true);
    const p = state.path;
    $("path-result").replaceChildren(el("p", {}, p.connected ? "all connected" : `not connected: ${p.unconnected.length} apart`),
      el("ol", {}, ...p.pairs.map((x) => el("li", {}, `${nameOf(x.a)} — ${nameOf(x.b)}: ${x.length} edges (${x.kind})`))));
  }

  // -- keep: exports and a shareable link (subject, date, expanded nodes; never the key) ------------------
  function download(blob, name) {
    const a = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(a);
    a.click();
    a.remove();
  }

  const fileName = (ext) => `graph-credit-${state.origin ? ident(nodes.get(state.origin) || { key: state.origin }) : "view"}-${state.date}.${ext}`;

  function csv(rows) {
    const cell = (v) => { const s = v === null || v === undefined ? "" : String(v); return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
    return `\ufeff${rows.map((r) => r.map(cell).join(",")).join("\n")}\n`;
  }

  function svgOf() {
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
    const box = cy.elements().boundingBox({ includeLabels: true });
    const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="${box.x1 - 10} ${box.y1 - 10} ${box.w + 20} ${box.h + 20}" ` +
      `font-family='${FONT.replace(/"/g, "")}'><rect x="${box.x1 - 10}" y="${box.y1 - 10}" width="${box.w + 20}" height="${box.h + 20}" fill="#fff"/>`];
    cy.edges().forEach((e) => {
      const s = e.source().position(), t = e.target().position(), m = e.midpoint();
      parts.push(`<line x1="${s.x}" y1="${s.y}" x2="${t.x}" y2="${t.y}" stroke="${e.style("line-color")}" stroke-width="${e.style("width")}"/>`);
      e.data("label").split("\n").forEach((line, i) => parts.push(`<text x="${m.x}" y="${m.y + i * 11}" font-size="9" text-anchor="middle">${esc(line)}</text>`));
    });
    cy.nodes().forEach((n) => {
      const p = n.position(), w = n.width(), h = n.height();
      const fill = n.data("colour");
      const stroke = n.hasClass("exposed") ? `stroke="${COLOURS.banned}" stroke-width="3" stroke-dasharray="4 2"` : `stroke="#333"`;
      parts.push(n.data("kind") === "organisation"
        ? `<rect x="${p.x - w / 2}" y="${p.y - h / 2}" width="${w}" height="${h}" rx="4" fill="${fill}" ${stroke}/>`
        : `<circle cx="${p.x}" cy="${p.y}" r="${w / 2}" fill="${fill}" ${stroke}/>`);
      n.data("label").split("\n").forEach((line, i) => parts.push(`<text x="${p.x}" y="${p.y + h / 2 + 13 + i * 13}" font-size="11" text-anchor="middle">${esc(line)}</text>`));
    });
    return `${parts.join("\n")}\n</svg>\n`;
  }

  function share() {
    const params = new URLSearchParams();
    if (state.origin) params.set("s", state.origin);
    if (state.date) params.set("d", state.date);
    const x = [...state.expanded].filter(([k]) => k !== state.origin || state.expanded.get(k) > 1).map(([k, n]) => `${k}:${n}`);
    if (x.length) params.set("x", x.join(","));
    if (state.picked.length) params.set("p", state.picked.join(","));
    history.replaceState(null, "", `#${params}`);
  }

  async function restore() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("d")) state.date = params.get("d");
    state.picked = (params.get("p") || "").split(",").filter(Boolean);
    const origin = params.get("s");
    if (!origin || !credentials().key) { syncTime(); return; }
    state.origin = origin;
    state.expanded = new Map([[origin, 1]]);
    for (const item of (params.get("x") || "").split(",").filter(Boolean)) {
      const [k, n] = item.split(":");
      state.expanded.set(k, Math.max(1, Number(n) || 1));
    }
    await redraw(true);
    showPicked();
    select(origin);
  }

  // -- wiring ----------------------------------------------------------------------------------------------
  function login(ev) {
    ev.preventDefault();
    const purpose = $("purpose").value.trim();
    sessionStorage.setItem("gc-key", $("key").value.trim());
    sessionStorage.setItem("gc-purpose", purpose);
    $("key").value = "";
    $("who").textContent = purpose ? `purpose: ${purpose}` : "no purpose given";
    restore();
  }

  async function start() {
    await document.fonts.load(`12px ${FONT}`, "中文").catch(() => null); // canvas text needs the font loaded
    cy = cytoscape({
      container: $("graph"), wheelSensitivity: 0.3, minZoom: 0.1, maxZoom: 4,
      style: [
        { selector: "node", style: { label: "data(label)", "text-wrap": "wrap", "text-valign": "bottom", "text-margin-y": 4,
          "font-size": 11, "font-family": FONT, "background-color": "data(colour)", "border-width": 1, "border-color": "#333",
          width: 26, height: 26, "text-background-color": "#fff", "text-background-opacity": 0.8, "text-background-padding": 1 } },
        { selector: "node[kind = 'organisation']", style: { shape: "round-rectangle", width: 36, height: 26 } },
        { selector: "node.origin", style: { "border-width": 4 } },
        { selector: "node.expanded", style: { "border-style": "double", "border-width": 5 } },
        { selector: "node.exposed", style: { "border-color": COLOURS.banned, "border-style": "dashed", "border-width": 4 } },
        { selector: "node.expanded.exposed", style: { "border-style": "double", "border-width": 5 } },
        { selector: "node.picked", style: { "overlay-color": "#1f77b4", "overlay-opacity": 0.3, "overlay-padding": 6 } },
        { selector: "node:selected", style: { "border-color": "#1f77b4", "border-width": 5 } },
        { selector: "edge", style: { "curve-style": "bezier", "target-arrow-shape": "triangle", label: "data(label)",
          "font-size": 9, "font-family": FONT, "text-wrap": "wrap", "text-rotation": "autorotate", "line-color": "#888",
          "target-arrow-color": "#888", width: "data(width)", "text-background-color": "#fff", "text-background-opacity": 0.85 } },
        { selector: "edge[role = 'SHAREHOLDER']", style: { "line-color": "#2e86c1", "target-arrow-color": "#2e86c1" } },
        { selector: "edge[role = 'PRACTITIONER']", style: { "line-style": "dotted" } },
        { selector: "edge.path", style: { "line-color": "#d35400", "target-arrow-color": "#d35400", width: 5 } },
      ],
    });
    window.workbench = { cy, state, nodes, edges }; // for the browser tests and the console
    cy.on("tap", "node", (ev) => {
      const key = ev.target.id();
      if (ev.originalEvent && ev.originalEvent.shiftKey) { pick(key); return; }
      if (!state.expanded.has(key)) expand(key).then(() => select(key)); else select(key);
    });
    cy.on("mouseover", "node", (ev) => { $("graph").title = causeText(nodes.get(ev.target.id()) || {}); });
    cy.on("mouseout", "node", () => { $("graph").title = ""; });
    $("legend").replaceChildren(...Object.keys(COLOURS).map(badge), el("span", { class: "badge st-exposed" }, "exposed"),
      " (dashed: a holder is banned, black-listed or dishonest) ■ organisation ● person; edges: role, share, from – to");
    $("login").addEventListener("submit", login);
    $("find").addEventListener("submit", (ev) => { ev.preventDefault(); find(0); });
    $("more-results").addEventListener("click", () => find(state.results.next));
    $("date").addEventListener("change", () => moveTo($("date").value));
    $("slider").addEventListener("input", () => { $("slider-label").textContent = state.changes[Number($("slider").value)] || ""; });
    $("slider").addEventListener("change", () => moveTo(state.changes[Number($("slider").value)]));
    $("connect").addEventListener("click", connect);
    $("unpick").addEventListener("click", () => { state.picked = []; state.path = null; $("path-result").replaceChildren(); showPicked(); redraw(false); });
    $("fit").addEventListener("click", () => cy.fit(undefined, 30));
    $("png").addEventListener("click", async () => download(await cy.png({ output: "blob-promise", bg: "#ffffff", full: true, scale: 2 }), fileName("png")));
    $("svg").addEventListener("click", () => download(new Blob([svgOf()], { type: "image/svg+xml" }), fileName("svg")));
    $("csv-nodes").addEventListener("click", () => download(new Blob([csv([["key", "kind", "name", "masked_id", "status", "consequences"],
      ...[...nodes.values()].map((n) => [n.key, n.kind, n.name, n.masked_id, n.status, (n.consequences || []).join(" ")])])], { type: "text/csv" }), fileName("subjects.csv")));
    $("csv-edges").addEventListener("click", () => download(new Blob([csv([["edge_id", "holder", "role", "organisation", "ratio", "valid_from", "valid_to", "title"],
      ...[...edges.values()].map((e) => [e.id, e.source, e.role, e.target, e.ratio, e.valid_from, e.valid_to, e.title])])], { type: "text/csv" }), fileName("edges.csv")));
    $("share").addEventListener("click", () => { share(); navigator.clipboard.writeText(location.href).then(() => say("link copied (it holds no key)"), () => say(location.href)); });
    if (credentials().key) $("who").textContent = credentials().purpose ? `purpose: ${credentials().purpose}` : "";
    await restore();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
