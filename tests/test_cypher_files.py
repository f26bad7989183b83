"""Offline checks of every statement in cypher/, run in CI without a Neo4j server.

What is checked, per file:

* Neo4j's own parser and semantic analysis (the npm package ``@neo4j-cypher/language-support``,
  run with node by tests/cypher_lint/lint.mjs, against the labels, relationship types and
  property keys of cypher/schema.json): syntax errors, deprecated syntax and functions, unknown
  functions and procedures, unknown labels, types and property keys: 0 errors and 0 warnings;
* lexical rules (our own lexer, graph_credit.store.neo4j.cypher.tokenize): one statement per file (only
  schema.cypher holds several), starts with a clause keyword, no quoted string literal, no number
  other than 0 and 1, no APOC: every value comes in as a ``$parameter``;
* what the linter does not know, from our own reading of the patterns: the start and end labels of
  each relationship type, and property keys per label (the linter knows one set for all labels);
* the Python side: every file is used by graph_credit/store/neo4j/ (or the test wipe), every
  use names an existing file with exactly the parameters the file uses, the properties the store
  writes are the ones schema.json declares, and no Python in graph_credit/ builds Cypher text.

Whether a statement really plans is only known to a server: with NEO4J_URI set,
``test_statement_plans_on_neo4j`` runs EXPLAIN on each of them.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from graph_credit.model import Role
from graph_credit.store.neo4j import cypher
from graph_credit.store.neo4j import store as neo4j_store
from graph_credit.store.neo4j.cypher import Token, tokenize

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
        else:  # an unlabelled variable: a node, or a map (a parameter row, a map the statement built)
            props = set().union(*NODE_PROPS.values(), *REL_PROPS.values(), SCHEMA_DOC["map_keys"])
        if prop not in props:
            out.append(f"schema.json: {var}.{prop} is no property of {var}")
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
    return schema_problems(found)


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
    ("MATCH (f:DerivedFact)-[r:DIRECTOR]->(s:Subject) RETURN r", "DIRECTOR runs (Subject)->(Subject)"),
    ("MATCH (s:Subject)<-[:DIRECTOR]-(f:DerivedFact) RETURN f", "DIRECTOR runs (Subject)->(Subject)"),
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


# -- Neo4j's own analysis ---------------------------------------------------------------------------------

LINT_DIR = ROOT / "tests" / "cypher_lint"


def lint(directory: Path) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Run tests/cypher_lint/lint.mjs on a directory of .cypher files (and its schema.json); the
    package is installed from package-lock.json on first use (``make test`` installs it first)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the Cypher lint (Neo4j's own parser)"
    if not (LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=LINT_DIR, check=True, capture_output=True)
    done = subprocess.run([node, "lint.mjs", str(directory)], cwd=LINT_DIR, capture_output=True, text=True)
    assert done.stdout, done.stderr
    return json.loads(done.stdout), done.returncode


def test_every_statement_passes_neo4js_own_analysis() -> None:
    report, code = lint(CYPHER_DIR)
    assert set(report) == {f"{n}.cypher" for n in cypher.names()}
    assert {f: found for f, found in report.items() if found} == {}
    assert code == 0


LINT_BAD = {
    "label.cypher": ("MATCH (o:Organisaton) RETURN o.code AS c", "Label Organisaton is not present"),
    "type.cypher": ("MATCH ()-[r:PRINCIPLE]->() RETURN r.edge_id AS e", "Relationship type PRINCIPLE"),
    "read.cypher": ("MATCH (o:Organisation) RETURN o.nmae AS n", "Property key nmae"),
    "pattern_key.cypher": ("MATCH (o:Organisation {kode: $c}) RETURN o", "Property key kode"),
    "syntax.cypher": ("MATCH (o:Organisation RETURN o", "Invalid input 'RETURN'"),
    "keyword.cypher": ("MATCH (o:Organisation) RETRUN o", "Invalid input 'RETRUN'"),
    "call_with.cypher": (
        "UNWIND $ids AS i CALL { WITH i MATCH (o:Organisation {code: i}) RETURN o } RETURN o",
        "CALL subquery without a variable scope clause is now deprecated",
    ),
    "id_function.cypher": ("MATCH (o:Organisation) RETURN id(o) AS i", "Function id is deprecated"),
    "no_function.cypher": ("MATCH (o:Organisation) RETURN nosuch(o) AS i", "Function nosuch is not present"),
    "no_procedure.cypher": ("CALL db.nosuch()", "Procedure db.nosuch is not present"),
}


def test_the_linter_catches(tmp_path: Path) -> None:
    """Each deliberately bad statement draws the finding it stands for (and a clean one none)."""
    shutil.copy(CYPHER_DIR / "schema.json", tmp_path / "schema.json")
    for name, (text, _) in LINT_BAD.items():
        (tmp_path / name).write_text(text + "\n", encoding="utf-8")
    (tmp_path / "good.cypher").write_text("MATCH (o:Organisation) WHERE o.code IN $codes RETURN o.name AS n\n")
    report, code = lint(tmp_path)
    assert code == 1
    assert report["good.cypher"] == []
    for name, (_, expected) in LINT_BAD.items():
        assert any(expected in d["message"] for d in report[name]), (name, report[name])
        assert all(d["severity"] in (1, 2) for d in report[name])


# -- schema.cypher --------------------------------------------------------------------------------------

_CONSTRAINT = re.compile(
    r"^CREATE CONSTRAINT (\w+) IF NOT EXISTS FOR \((\w+):(\w+)\) REQUIRE (.+) IS UNIQUE$", re.DOTALL
)
_NODE_INDEX = re.compile(r"^CREATE INDEX (\w+) IF NOT EXISTS FOR \((\w+):(\w+)\) ON \((.+)\)$", re.DOTALL)
_REL_CONSTRAINT = re.compile(
    r"^CREATE CONSTRAINT (\w+) IF NOT EXISTS FOR \(\)-\[(\w+):(\w+)\]-\(\) REQUIRE (.+) IS UNIQUE$", re.DOTALL
)


def test_schema_statements() -> None:
    statements = cypher.schema_statements()
    assert len(statements) >= 10
    assert lexical_problems("schema", tokenize(cypher.load("schema"))) == []
    names = []
    unique: set[tuple[str, str]] = set()
    rel_unique: dict[str, set[str]] = defaultdict(set)
    for text in statements:
        m = _CONSTRAINT.match(text) or _NODE_INDEX.match(text) or _REL_CONSTRAINT.match(text)
        assert m, f"not a constraint or index this test knows (no relationship index is of use): {text}"
        name, var, label, what = m.groups()
        names.append(name)
        props = {p.strip().removeprefix(var + ".") for p in what.strip("()").split(",")}
        if m.re is _REL_CONSTRAINT:
            assert label in REL_PROPS and props <= REL_PROPS[label], text
            rel_unique[label] |= props
        else:
            assert label in NODE_PROPS and props <= NODE_PROPS[label], text
            if m.re is _CONSTRAINT and len(props) == 1:
                unique.add((label, props.pop()))
    assert len(names) == len(set(names)), "constraint and index names must be unique"
    for role in ROLE_TYPES:  # two writers cannot both create one edge; lookups by edge_id use the index
        assert rel_unique[role] == {"edge_id"}, role
    keys = {
        "Subject": "id",
        "Organisation": "code",
        "Person": "key",
        "DishonestyRecord": "record_id",
        "RecordEvent": "event_id",
        "Honour": "honour_id",
        "ListEntry": "entry_id",
        "DerivedFact": "fact_id",
        "Lock": "key",
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


USERS = [*sorted((ROOT / "graph_credit" / "store" / "neo4j").glob("*.py")), ROOT / "tests" / "conftest.py"]


def test_every_use_names_a_file_with_exactly_its_parameters() -> None:
    seen = 0
    for path in USERS:
        for name, call in _calls(path):
            where = f"{path.name}:{call.lineno}"
            func = call.func
            if name is None:
                helper = ast.unparse(call) in ("statement(name)", "load(name)")  # inside the run helpers
                table = call.args and ast.unparse(call.args[0]).startswith("nodes.")  # test_node_tables_...
                if helper or table:
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
    assert seen + len(_table_statements()) > 40  # the tables' statements are checked by name below


def test_node_tables_name_files_with_their_parameters() -> None:
    """The Neo4j store's kinds run their statements by the names their tables give: each file exists and
    takes the parameters the generic put / get / iter pass."""
    for nodes in neo4j_store.NODE_TABLES:
        assert cypher.statement(nodes.by_key).params == {nodes.keys}, nodes.by_key
        assert cypher.statement(nodes.merge).params == {"rows"}, nodes.merge
        if nodes.all is not None:
            assert cypher.statement(nodes.all).params == frozenset(), nodes.all


def _table_statements() -> set[str]:
    return {n for t in neo4j_store.NODE_TABLES for n in (t.by_key, t.merge, t.all) if n}


def test_every_file_is_used() -> None:
    used = {name for path in USERS for name, _ in _calls(path) if name} | _table_statements()
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
            elif path.parent.name == "neo4j":
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
    """The fields declared once (graph_credit.fields) are the properties schema.json declares, and a
    stored row of each kind reads back as the item it was written from."""
    from graph_credit import fields as k
    from graph_credit.model import Cause, Honour, ListEntry, RecordEvent, RoleEdge
    from tests.test_store_conformance import fact, org, person, record

    for kind in (k.ORGANISATIONS, k.PERSONS, k.RECORDS, k.EVENTS, k.HONOURS, k.LIST_ENTRIES, k.FACTS):
        assert set(kind.columns) == NODE_PROPS[kind.label], kind.name
    for role in ROLE_TYPES:
        assert set(neo4j_store.ROLE_PROPS) == REL_PROPS[role]
    d = record("R", "S", "2020-01-01").decision_date
    items = [(k.ORGANISATIONS, org(1)), (k.PERSONS, person(1)), (k.RECORDS, record("R", "S", "2020-01-01")),
             (k.EVENTS, RecordEvent("R", "k", d)), (k.HONOURS, Honour("H", "S", "t", "b", d)),
             (k.LIST_ENTRIES, ListEntry("L", "S", "red", "n", "u", "b", d)), (k.FACTS, fact(Cause("record", "R"), "S")),
             (k.ROLES, RoleEdge("h", Role.DIRECTOR, "o", d, ratio=0.5))]
    for kind, item in items:
        row = kind.to_row(item)
        assert set(row) == set(kind.columns) and kind.from_row(row) == item, kind.name
    assert set(k.ROLES.columns) == set(neo4j_store.ROLE_PROPS) | set(neo4j_store.ROLE_ENDS)


def test_role_types_are_the_model_roles_everywhere() -> None:
    schema_roles = {t for t, (a, b) in REL_ENDS.items() if (a, b) == ("Subject", "Subject")}
    assert schema_roles == ROLE_TYPES
    for name in cypher.names():
        mentioned = {t.text for t in tokenize(cypher.load(name)) if t.kind == "ident"} & ROLE_TYPES
        if name.startswith("roles_all_"):  # one file per type (iter_roles merges their ordered streams)
            assert mentioned == {name.removeprefix("roles_all_").upper()}, name
            continue
        assert mentioned in (set(), ROLE_TYPES), (
            f"{name}.cypher lists only some role types: {sorted(mentioned)}"
        )
    params = cypher.statement("roles_create").params
    assert params == {r.lower() for r in ROLE_TYPES}
    assert {n for n in cypher.names() if n.startswith("roles_all_")} == {f"roles_all_{r.lower()}" for r in ROLE_TYPES}


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
