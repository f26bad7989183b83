"""Offline checks of every statement in cypher/, run in CI without a Neo4j server.

What is checked, per file:

* lexical rules (our own lexer, graph_credit.store.cypher.tokenize): one statement per file (only
  schema.cypher holds several), balanced brackets, starts with a clause keyword, no quoted string
  literal, no number other than 0 and 1, no APOC: every value comes in as a ``$parameter``;
* the schema, against cypher/schema.json, twice: directly (labels, relationship types, the start
  and end labels of each relationship, property keys in pattern maps and in ``var.prop`` reads,
  labels set / removed / tested) and through cypher-guard. cypher-guard 3.0 cannot parse whole
  statements of this kind (it rejects ``$param`` in property maps, ``= $x``, ``IN $x``, ``SET``,
  ``DELETE``, a leading ``UNWIND``, ``count(*)``...), so each pattern, map key and property read
  found in a statement is handed to its ``validate_cypher`` as a small probe query
  (``MATCH (n:Label {key: 0}) RETURN n``, ``MATCH (a:S)-[r:TYPE]->(b:E) RETURN r``...), which checks
  labels, relationship types and direction, and node / relationship property keys;
* the Python side: every file is used by graph_credit/store/neo4j.py (or the test wipe), every
  use names an existing file with exactly the parameters the file uses, the properties the store
  writes are the ones schema.json declares, and no Python in graph_credit/ builds Cypher text.

Whether a statement really parses and plans is only known to a server: with NEO4J_URI set,
``test_statement_plans_on_neo4j`` runs EXPLAIN on each of them.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cypher_guard
import pytest

from graph_credit.model import Role
from graph_credit.store import cypher
from graph_credit.store import neo4j as neo4j_store
from graph_credit.store.cypher import Token, tokenize

ROOT = Path(__file__).resolve().parents[1]
CYPHER_DIR = ROOT / "cypher"
SCHEMA_DOC = json.loads((CYPHER_DIR / "schema.json").read_text(encoding="utf-8"))
NODE_PROPS: dict[str, set[str]] = {k: {p["property"] for p in v} for k, v in SCHEMA_DOC["node_props"].items()}
REL_PROPS: dict[str, set[str]] = {k: {p["property"] for p in v} for k, v in SCHEMA_DOC["rel_props"].items()}
REL_ENDS: dict[str, tuple[str, str]] = {
    r["type"]: (r["start"], r["end"]) for r in SCHEMA_DOC["relationships"]
}
ROLE_TYPES = {r.value for r in Role}
CLAUSES = {"MATCH", "OPTIONAL", "MERGE", "CREATE", "UNWIND", "WITH", "CALL", "RETURN"}
BLOCK_KEYWORDS = {"CALL", "COUNT", "EXISTS", "COLLECT"}
RUN_METHODS = {"_read", "_write", "_stream"}  # self._read("name", ...); also run.run("name", ...)


def guard_schema() -> Any:
    doc = {k: v for k, v in SCHEMA_DOC.items() if not k.startswith("_")}
    return cypher_guard.DbSchema.from_dict(doc)


GUARD_SCHEMA = guard_schema()


def quiet(fn: Callable[..., Any], *args: Any) -> Any:
    """Call into cypher-guard with its debug printing (Rust println!) sent to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        return fn(*args)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)


def guard_errors(probe: str) -> list[str]:
    try:
        return list(quiet(cypher_guard.validate_cypher, probe, GUARD_SCHEMA))
    except Exception as exc:  # a parse error of the probe itself
        return [f"{type(exc).__name__}: {exc}"]


# -- finding patterns, labels and property reads in a statement ----------------------------------------


@dataclass
class NodePat:
    var: str | None
    labels: set[str]
    keys: list[str]


@dataclass
class RelPat:
    var: str | None
    types: set[str]
    keys: list[str]
    start: NodePat  # after orienting the arrow left to right
    end: NodePat


@dataclass
class Found:
    nodes: list[NodePat] = field(default_factory=list)
    rels: list[RelPat] = field(default_factory=list)
    node_labels: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rel_types: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    label_uses: list[tuple[str, str]] = field(default_factory=list)  # (var, label) outside patterns
    reads: list[tuple[str, str]] = field(default_factory=list)  # (var, property)

    def labels_of(self, node: NodePat) -> set[str]:
        return node.labels | (self.node_labels.get(node.var, set()) if node.var else set())


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens

    def text(self, i: int) -> str:
        return self.t[i].text if i < len(self.t) else ""

    def is_ident(self, i: int) -> bool:
        return i < len(self.t) and self.t[i].kind == "ident"

    def map_keys(self, i: int) -> tuple[list[str], int]:
        """Keys of the map literal opening at ``i``; returns them and the index after its ``}``."""
        keys: list[str] = []
        depth = 0
        expect_key = True
        while i < len(self.t):
            tx = self.text(i)
            if tx in "([{" and self.t[i].kind == "punct":
                depth += 1
                if depth == 1:
                    expect_key = True
                    i += 1
                    continue
            elif tx in ")]}" and self.t[i].kind == "punct":
                depth -= 1
                if depth == 0:
                    return keys, i + 1
            elif depth == 1 and tx == ",":
                expect_key = True
                i += 1
                continue
            if depth == 1 and expect_key and self.is_ident(i) and self.text(i + 1) == ":":
                keys.append(self.text(i).strip("`"))
            expect_key = False
            i += 1
        raise ValueError("unclosed map")

    def names_after_colon(self, i: int, separators: str) -> tuple[set[str], int]:
        names: set[str] = set()
        if self.text(i) != ":":
            return names, i
        while self.text(i) == ":" or (names and self.text(i) in separators):
            if not self.is_ident(i + 1):
                break
            names.add(self.text(i + 1).strip("`"))
            i += 2
        return names, i

    def node(self, i: int) -> tuple[NodePat, int] | None:
        if self.text(i) != "(":
            return None
        j = i + 1
        var = None
        if self.is_ident(j) and self.text(j + 1) in (":", ")", "{"):
            var = self.text(j)
            j += 1
        labels, j = self.names_after_colon(j, "|&")
        keys: list[str] = []
        if self.text(j) == "{":
            keys, j = self.map_keys(j)
        if self.text(j) != ")":
            return None
        return NodePat(var, labels, keys), j + 1

    def rel(self, i: int) -> tuple[tuple[str | None, set[str], list[str], str], int] | None:
        left = self.text(i)
        if left not in ("-", "<-") or self.text(i + 1) != "[":
            return None
        j = i + 2
        var = None
        if self.is_ident(j) and self.text(j + 1) in (":", "]", "{", "*"):
            var = self.text(j)
            j += 1
        types, j = self.names_after_colon(j, "|")
        keys: list[str] = []
        if self.text(j) == "{":
            keys, j = self.map_keys(j)
        while j < len(self.t) and (self.text(j) in ("*", "..") or self.t[j].kind == "number"):
            j += 1
        if self.text(j) != "]" or self.text(j + 1) not in ("-", "->"):
            return None
        right = self.text(j + 1)
        direction = "left" if left == "<-" else "right" if right == "->" else "none"
        return (var, types, keys, direction), j + 2


def analyse(tokens: list[Token]) -> Found:
    p = _Parser(tokens)
    found = Found()
    consumed: set[int] = set()
    i = 0
    while i < len(tokens):
        prev = tokens[i - 1] if i else None
        call = prev is not None and prev.kind == "ident" and not prev.text.isupper()  # count(x), type(r)
        first = None if call or i in consumed else p.node(i)
        if first is None:
            i += 1
            continue
        node, j = first
        chain: list[Any] = [node]
        while (r := p.rel(j)) is not None and (n := p.node(r[1])) is not None:
            chain += [r[0], n[0]]
            j = n[1]
        if len(chain) == 1 and not node.labels and not node.keys:
            i += 1  # a parenthesised variable, not (obviously) a pattern
            continue
        consumed.update(range(i, j))
        for k in range(0, len(chain), 2):
            n = chain[k]
            found.nodes.append(n)
            if n.var:
                found.node_labels[n.var] |= n.labels
        for k in range(1, len(chain), 2):
            var, types, keys, direction = chain[k]
            a, b = chain[k - 1], chain[k + 1]
            start, end = (b, a) if direction == "left" else (a, b)
            found.rels.append(RelPat(var, types, keys, start, end))
            if var:
                found.rel_types[var] |= types
        i = j
    # labels outside patterns (SET s:Person, REMOVE o:Placeholder, WHERE NOT o:Placeholder)
    braces: list[str] = []
    skip_to = 0
    for k, tok in enumerate(tokens):
        if k < skip_to:
            continue
        if tok.text == "{" and tok.kind == "punct":
            before = tokens[k - 1].text if k else ""
            braces.append("block" if before.upper() in BLOCK_KEYWORDS else "map")
        elif tok.text == "}" and tok.kind == "punct" and braces:
            braces.pop()
        elif (
            k not in consumed
            and tok.kind == "ident"
            and p.text(k + 1) == ":"
            and p.is_ident(k + 2)
            and (not braces or braces[-1] == "block")
        ):
            labels, skip_to = p.names_after_colon(k + 1, "|&")
            for label in labels:
                found.label_uses.append((tok.text, label))
                found.node_labels[tok.text].add(label)
    pattern_vars = set(found.node_labels) | set(found.rel_types)
    pattern_vars |= {n.var for n in found.nodes if n.var} | {r.var for r in found.rels if r.var}
    for k, tok in enumerate(tokens):
        if tok.kind == "ident" and tok.text in pattern_vars and p.text(k + 1) == "." and p.is_ident(k + 2):
            if k == 0 or tokens[k - 1].text != ".":
                found.reads.append((tok.text, p.text(k + 2).strip("`")))
    return found


# -- the checks ----------------------------------------------------------------------------------------


def lexical_problems(name: str, tokens: list[Token]) -> list[str]:
    out = []
    several = name == "schema"
    for tok in tokens:
        if tok.kind == "string":
            out.append(f"string literal {tok.text} (pass values as $parameters)")
        elif tok.kind == "number" and tok.text not in ("0", "1"):
            out.append(f"number literal {tok.text} (pass values as $parameters)")
        elif tok.text == ";" and not several:
            out.append("more than one statement (only schema.cypher may hold several)")
        elif tok.kind == "ident" and tok.text.lower() == "apoc":
            out.append("APOC is not used: the store must run on a plain Neo4j")
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for tok in tokens:
        if tok.kind != "punct":
            continue
        if tok.text in "([{":
            stack.append(tok.text)
        elif tok.text in pairs:
            if not stack or stack.pop() != pairs[tok.text]:
                out.append(f"unbalanced {tok.text!r} at offset {tok.pos}")
                break
    if stack:
        out.append(f"unclosed {stack[-1]!r}")
    if not tokens:
        out.append("empty statement")
    elif not several and tokens[0].text.upper() not in CLAUSES:
        out.append(f"does not start with a clause keyword: {tokens[0].text!r}")
    return out


def schema_problems(found: Found) -> list[str]:
    """The statement's labels, types, ends and property keys against schema.json, directly."""
    out = []
    all_labels = {lab for n in found.nodes for lab in n.labels} | {lab for _, lab in found.label_uses}
    for label in sorted(all_labels - set(NODE_PROPS)):
        out.append(f"schema.json: unknown label {label}")
    for t in sorted({t for r in found.rels for t in r.types} - set(REL_ENDS)):
        out.append(f"schema.json: unknown relationship type {t}")
    for n in found.nodes:
        labels = found.labels_of(n) & set(NODE_PROPS)
        props = set().union(*(NODE_PROPS[lab] for lab in labels)) if labels else set()
        for key in n.keys:
            if key not in props:
                out.append(f"schema.json: no property {key} on {sorted(labels) or 'an unlabelled node'}")
    for r in found.rels:
        for t in r.types & set(REL_ENDS):
            for key in r.keys:
                if key not in REL_PROPS.get(t, set()):
                    out.append(f"schema.json: no property {key} on relationship {t}")
            start, end = REL_ENDS[t]
            for node, want in ((r.start, start), (r.end, end)):
                labels = found.labels_of(node)
                if labels and want not in labels:
                    out.append(f"schema.json: {t} runs ({start})->({end}), not from/to {sorted(labels)}")
    for var, prop in found.reads:
        if var in found.rel_types and found.rel_types[var]:
            props = set().union(*(REL_PROPS.get(t, set()) for t in found.rel_types[var]))
        elif found.node_labels.get(var):
            props = set().union(*(NODE_PROPS.get(lab, set()) for lab in found.node_labels[var]))
        else:
            props = set().union(*NODE_PROPS.values(), *REL_PROPS.values())
        if prop not in props:
            out.append(f"schema.json: {var}.{prop} is no property of {var}")
    return out


def guard_probes(found: Found) -> Iterator[tuple[str, list[str]]]:
    """Small queries cypher-guard can parse, each standing for one thing the statement relies on;
    a thing passes when any of its probes validates. Yields (what, [probe, ...])."""
    labels = {lab for n in found.nodes for lab in n.labels} | {lab for _, lab in found.label_uses}
    for label in sorted(labels):
        yield f"label {label}", [f"MATCH (n:{label}) RETURN n"]
    for t in sorted({t for r in found.rels for t in r.types}):
        yield f"relationship type {t}", [f"MATCH ()-[r:{t}]->() RETURN r"]
    for n in found.nodes:
        for key in n.keys:
            yield (
                f"property {key} of {sorted(found.labels_of(n))}",
                [f"MATCH (n:{lab} {{{key}: 0}}) RETURN n" for lab in sorted(found.labels_of(n))],
            )
    for r in found.rels:
        for t in sorted(r.types):
            for key in r.keys:
                yield f"property {key} of {t}", [f"MATCH ()-[r:{t} {{{key}: 0}}]->() RETURN r"]
            starts = sorted(found.labels_of(r.start)) or [""]
            ends = sorted(found.labels_of(r.end)) or [""]
            yield (
                f"direction of {t} from {starts} to {ends}",
                [
                    f"MATCH (a{':' + s if s else ''})-[r:{t}]->(b{':' + e if e else ''}) RETURN r"
                    for s in starts
                    for e in ends
                ],
            )
    for var, prop in found.reads:
        if found.rel_types.get(var):
            probes = [f"MATCH ()-[v:{t}]->() RETURN v.{prop}" for t in sorted(found.rel_types[var])]
        elif found.node_labels.get(var):
            probes = [f"MATCH (v:{lab}) RETURN v.{prop}" for lab in sorted(found.node_labels[var])]
        else:
            probes = [f"MATCH (v) RETURN v.{prop}"]
        yield f"read {var}.{prop}", probes


def guard_problems(found: Found) -> list[str]:
    out = []
    for what, probes in guard_probes(found):
        errors = [guard_errors(q) for q in probes]
        if probes and all(errors):
            out.append(f"cypher-guard: {what}: {errors[0]}")
    return out


def problems(name: str, text: str) -> list[str]:
    try:
        tokens = tokenize(text)
    except ValueError as exc:
        return [f"does not tokenize: {exc}"]
    out = lexical_problems(name, tokens)
    if out:
        return out
    found = analyse(tokens)
    return schema_problems(found) + guard_problems(found)


STATEMENTS = [n for n in cypher.names() if n != "schema"]


@pytest.mark.parametrize("name", STATEMENTS)
def test_statement_is_clean(name: str) -> None:
    assert problems(name, cypher.load(name)) == []


@pytest.mark.parametrize("name", STATEMENTS)
def test_statement_uses_the_graph(name: str) -> None:
    """Every statement but the two administrative ones touches at least one known label or type."""
    if name in ("await_indexes", "wipe_database"):
        return
    found = analyse(tokenize(cypher.load(name)))
    assert found.nodes or found.rels or found.label_uses


BAD = [
    ("MATCH (o:Organisaton) RETURN o.code AS c", "unknown label Organisaton"),
    (
        "MATCH (h:Subject)-[r:PRINCIPLE]->(o:Subject) RETURN r.edge_id AS e",
        "unknown relationship type PRINCIPLE",
    ),
    ("MATCH (o:Organisation) WHERE o.code IN $codes RETURN o.nmae AS n", "o.nmae is no property"),
    ("UNWIND $rows AS row MERGE (o:Organisation {kode: row.code})", "no property kode"),
    ("MATCH (h)-[r:DIRECTOR {edge: $e}]->(o) RETURN r", "no property edge on relationship DIRECTOR"),
    ("MATCH (s:Subject)<-[r:TARGETS]-(f:Subject) RETURN r", "TARGETS runs (DerivedFact)->(Subject)"),
    ("MATCH (f:DerivedFact)<-[:TARGETS]-(s:Subject) RETURN f", "TARGETS runs (DerivedFact)->(Subject)"),
    ("MATCH (s:Subject) SET s:Organisaton", "unknown label Organisaton"),
    ("UNWIND $rows AS row MERGE (x:DishonestyRecord {record_id: row.id}) SET x.subjct = row.s", "x.subjct"),
    ("MATCH (o:Organisation {code: 'x'}) RETURN o", "string literal"),
    ("MATCH (o:Organisation) RETURN o LIMIT 10", "number literal 10"),
    ("MATCH (o:Organisation) RETURN o; MATCH (p:Person) RETURN p", "more than one statement"),
    ("MATCH (o:Organisation RETURN o", "unclosed"),
    ("MATCH (o:Organisation)) RETURN o", "unbalanced"),
    ("CALL apoc.create.relationship($a, $t, $p, $b) YIELD rel RETURN rel", "APOC"),
    ("o.code = $x", "clause keyword"),
    ("MATCH (o:Organisation) RETURN o.code AS c # note", "does not tokenize"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_the_checker_catches(text: str, expected: str) -> None:
    found = problems("bad", text)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ("MATCH (n:Organisation {kode: 0}) RETURN n", "kode"),
        ("MATCH ()-[r:DIRECTOR {edge: 0}]->() RETURN r", "edge"),
        ("MATCH (a:Subject)-[r:TARGETS]->(b:Subject) RETURN r", "direction"),
        ("MATCH (n:Organisaton) RETURN n", "Organisaton"),
        ("MATCH ()-[r:PRINCIPLE]->() RETURN r", "PRINCIPLE"),
    ],
)
def test_cypher_guard_rejects_what_the_probes_stand_for(probe: str, expected: str) -> None:
    """The probes only help if cypher-guard really rejects a wrong label, type, key or direction."""
    assert any(expected in e for e in guard_errors(probe))


def test_cypher_guard_accepts_the_schema_probes() -> None:
    assert guard_errors("MATCH (a:Subject)-[r:SHAREHOLDER {ratio: 0}]->(b:Subject) RETURN r") == []
    assert guard_errors("MATCH (n:Journal {seq: 0}) RETURN n") == []


# -- schema.cypher --------------------------------------------------------------------------------------

_CONSTRAINT = re.compile(
    r"^CREATE CONSTRAINT (\w+) IF NOT EXISTS FOR \((\w+):(\w+)\) REQUIRE (.+) IS UNIQUE$", re.DOTALL
)
_NODE_INDEX = re.compile(r"^CREATE INDEX (\w+) IF NOT EXISTS FOR \((\w+):(\w+)\) ON \((.+)\)$", re.DOTALL)
_REL_INDEX = re.compile(
    r"^CREATE INDEX (\w+) IF NOT EXISTS FOR \(\)-\[(\w+):(\w+)\]-\(\) ON \((.+)\)$", re.DOTALL
)


def test_schema_statements() -> None:
    statements = cypher.schema_statements()
    assert len(statements) >= 10
    assert lexical_problems("schema", tokenize(cypher.load("schema"))) == []
    names = []
    unique: set[tuple[str, str]] = set()
    rel_indexed: dict[str, set[str]] = defaultdict(set)
    for text in statements:
        m = _CONSTRAINT.match(text) or _NODE_INDEX.match(text) or _REL_INDEX.match(text)
        assert m, f"not a constraint or index this test knows: {text}"
        name, var, label, what = m.groups()
        names.append(name)
        props = {p.strip().removeprefix(var + ".") for p in what.strip("()").split(",")}
        if m.re is _REL_INDEX:
            assert label in REL_PROPS and props <= REL_PROPS[label], text
            rel_indexed[label] |= props
        else:
            assert label in NODE_PROPS and props <= NODE_PROPS[label], text
            if m.re is _CONSTRAINT and len(props) == 1:
                unique.add((label, props.pop()))
    assert len(names) == len(set(names)), "constraint and index names must be unique"
    for role in ROLE_TYPES:  # as-of lookups and edge_id lookups are index-backed for every role
        assert rel_indexed[role] >= {"edge_id", "valid_from"}, role
    keys = {
        "Subject": "id",
        "Organisation": "code",
        "Person": "key",
        "DishonestyRecord": "record_id",
        "RecordEvent": "event_id",
        "Honour": "honour_id",
        "ListEntry": "entry_id",
        "DerivedFact": "fact_id",
    }
    assert set(keys.items()) <= unique


# -- the Python side ------------------------------------------------------------------------------------


def _calls(path: Path) -> Iterator[tuple[str | None, ast.Call]]:
    """Calls that run or load a named statement: (name or None when not a literal, the call)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        runs = isinstance(func, ast.Attribute) and (
            func.attr in RUN_METHODS
            or (func.attr == "run" and isinstance(func.value, ast.Name) and func.value.id == "run")
        )
        loads = isinstance(func, ast.Name | ast.Attribute) and (
            getattr(func, "id", None) in ("statement", "load")
            or getattr(func, "attr", None) in ("statement", "load")
        )
        if not (runs or loads):
            continue
        first = node.args[0] if node.args else None
        literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
        yield (first.value if literal else None), node  # type: ignore[union-attr]


USERS = [
    ROOT / "graph_credit" / "store" / "neo4j.py",
    ROOT / "graph_credit" / "store" / "cypher.py",
    ROOT / "tests" / "conftest.py",
]


def test_every_use_names_a_file_with_exactly_its_parameters() -> None:
    seen = 0
    for path in USERS:
        for name, call in _calls(path):
            where = f"{path.name}:{call.lineno}"
            func = call.func
            if name is None:
                helper = ast.unparse(call) in ("statement(name)", "load(name)")  # inside the run helpers
                if helper:
                    continue
                pytest.fail(f"{where}: statement named by a non-literal: {ast.unparse(call)}")
            assert name in cypher.names(), f"{where}: no cypher/{name}.cypher"
            if isinstance(func, ast.Attribute) and func.attr in (*RUN_METHODS, "run"):
                assert not any(k.arg is None for k in call.keywords), f"{where}: **params cannot be checked"
                assert len(call.args) == 1, f"{where}: parameters must be passed by name"
                given = {k.arg for k in call.keywords}
                assert given == set(cypher.statement(name).params), (
                    f"{where}: {name} takes {cypher.statement(name).params}"
                )
                seen += 1
    assert seen > 40


def test_every_file_is_used() -> None:
    used = {name for path in USERS for name, _ in _calls(path) if name}
    assert set(cypher.names()) - used == set(), "unused files in cypher/"


def test_no_python_builds_cypher() -> None:
    keyword = re.compile(
        r"\b(MATCH|MERGE|UNWIND|DETACH|OPTIONAL MATCH|RETURN|CREATE\s*\(|SET\s+\w+\s*[+:=.])"
    )
    offenders = []
    for path in sorted((ROOT / "graph_credit").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.JoinedStr):
                text = "".join(
                    v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
                parts = [
                    s
                    for s in (node.left, node.right)
                    if isinstance(s, ast.Constant) and isinstance(s.value, str)
                ]
                text = " ".join(str(p.value) for p in parts)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
            ):
                if isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str):
                    text = node.func.value.value
            elif path.parent.name == "store" and path.stem in ("neo4j", "cypher"):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                ):
                    text = node.value  # no Cypher text at all next to the driver
            if text and keyword.search(text):
                offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}: {text[:60]!r}")
    assert offenders == []


def test_stored_properties_are_the_declared_ones() -> None:
    s = neo4j_store
    assert set(s.ORG_COLUMNS) == NODE_PROPS["Organisation"]
    assert set(s.PERSON_COLUMNS) == NODE_PROPS["Person"]
    assert set(s.RECORD_COLUMNS) == NODE_PROPS["DishonestyRecord"]
    assert set(s.EVENT_COLUMNS) == NODE_PROPS["RecordEvent"]
    assert set(s.HONOUR_COLUMNS) == NODE_PROPS["Honour"]
    assert set(s.LIST_COLUMNS) == NODE_PROPS["ListEntry"]
    assert set(s.FACT_COLUMNS) == NODE_PROPS["DerivedFact"]
    for role in ROLE_TYPES:
        assert set(s.ROLE_COLUMNS) == REL_PROPS[role]
    # what the converters produce is exactly the declared columns
    from graph_credit.model import Cause, Honour, ListEntry, RecordEvent, RoleEdge
    from tests.test_store_conformance import fact, org, person, record

    d = record("R", "S", "2020-01-01").decision_date
    assert set(s._org_props(org(1))) == set(s.ORG_COLUMNS)
    assert set(s._person_props(person(1))) == set(s.PERSON_COLUMNS)
    assert set(s._record_props(record("R", "S", "2020-01-01"))) == set(s.RECORD_COLUMNS)
    assert set(s._event_props(RecordEvent("R", "k", d))) == set(s.EVENT_COLUMNS)
    assert set(s._honour_props(Honour("H", "S", "t", "b", d))) == set(s.HONOUR_COLUMNS)
    assert set(s._list_props(ListEntry("L", "S", "red", "n", "u", "b", d))) == set(s.LIST_COLUMNS)
    assert set(s._fact_props(fact(Cause("record", "R"), "S"))) == set(s.FACT_COLUMNS)
    flat = s._role_flat(RoleEdge("h", Role.DIRECTOR, "o", d))
    assert set(flat) == set(s.ROLE_COLUMNS) | {"holder", "role", "org"}


def test_role_types_are_the_model_roles_everywhere() -> None:
    schema_roles = {t for t, (a, b) in REL_ENDS.items() if (a, b) == ("Subject", "Subject")}
    assert schema_roles == ROLE_TYPES
    for name in cypher.names():
        mentioned = {t.text for t in tokenize(cypher.load(name)) if t.kind == "ident"} & ROLE_TYPES
        assert mentioned in (set(), ROLE_TYPES), (
            f"{name}.cypher lists only some role types: {sorted(mentioned)}"
        )
    params = cypher.statement("roles_create").params
    assert params == {r.lower() for r in ROLE_TYPES}


# -- the loader -----------------------------------------------------------------------------------------


def test_loader_checks_parameters() -> None:
    st = cypher.statement("roles_into")
    assert st.params == {"nodes", "as_of"}
    st.check({"nodes": [], "as_of": None})
    with pytest.raises(ValueError, match="missing parameters \\['as_of'\\]"):
        st.check({"nodes": []})
    with pytest.raises(ValueError, match="unexpected \\['extra'\\]"):
        st.check({"nodes": [], "as_of": None, "extra": 1})
    with pytest.raises(KeyError):
        cypher.load("no_such_statement")
    with pytest.raises(ValueError):
        cypher.load("../pyproject")


def test_tokenizer_ignores_comments_and_strings_when_finding_parameters() -> None:
    toks = tokenize("// $not_a_param\nMATCH (n {a: '$nor_this'}) /* $nope */ RETURN $yes, n.`odd name`")
    assert [t.text for t in toks if t.kind == "param"] == ["$yes"]
    assert [t.kind for t in toks if t.text == "'$nor_this'"] == ["string"]


def test_cypher_dir_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "probe_only.cypher").write_text("RETURN $x AS x\n", encoding="utf-8")
    monkeypatch.setenv("GRAPH_CREDIT_CYPHER_DIR", str(tmp_path))
    cypher.load.cache_clear()
    cypher.statement.cache_clear()
    try:
        assert cypher.names() == ["probe_only"]
        assert cypher.statement("probe_only").params == {"x"}
    finally:
        monkeypatch.delenv("GRAPH_CREDIT_CYPHER_DIR")
        cypher.load.cache_clear()
        cypher.statement.cache_clear()
    assert "roles_into" in cypher.names()


# -- on a server ------------------------------------------------------------------------------------------


@pytest.mark.neo4j
@pytest.mark.skipif(
    not os.environ.get("NEO4J_URI"), reason="NEO4J_URI not set: Neo4j conformance run skipped"
)
@pytest.mark.parametrize("name", STATEMENTS)
def test_statement_plans_on_neo4j(name: str) -> None:
    from tests.conftest import open_neo4j

    store = open_neo4j()
    try:
        st = cypher.statement(name)
        store.driver.execute_query(  # type: ignore[attr-defined]
            "EXPLAIN " + st.text,
            dict.fromkeys(st.params),
            database_=store.database,  # type: ignore[attr-defined]
        )
    finally:
        store.close()
