"""Cypher statements, one per file in ``cypher/`` at the repository root, loaded by name.

No Cypher is ever assembled from strings in Python: the Neo4j store names a file, passes values
as ``$parameters``, and :meth:`Statement.check` refuses a call whose parameter names differ from
the ones the file uses. ``schema.cypher`` is the one file holding several statements (constraints
and indexes), separated by ``;`` at the end of a line.

The directory ships as the data package ``graph_credit.store.neo4j.statements`` (pyproject.toml
maps ``cypher/`` to it) and is read with importlib.resources, so an installed wheel has it; set
``GRAPH_CREDIT_CYPHER_DIR`` to use another one (then call ``load.cache_clear()`` and
``statement.cache_clear()`` if files were already loaded).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["Statement", "Token", "cypher_dir", "load", "names", "schema_statements", "statement", "tokenize"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def cypher_dir() -> Traversable:
    env = os.environ.get("GRAPH_CREDIT_CYPHER_DIR")
    return Path(env) if env else resources.files("graph_credit.store.neo4j.statements")


def names() -> list[str]:
    """Every statement file's name (without ``.cypher``), sorted."""
    return sorted(p.name.removesuffix(".cypher") for p in cypher_dir().iterdir() if p.name.endswith(".cypher"))


@functools.cache
def load(name: str) -> str:
    """The text of ``cypher/<name>.cypher``."""
    if not _NAME.match(name):
        raise ValueError(f"invalid Cypher statement name {name!r}")
    path = cypher_dir().joinpath(f"{name}.cypher")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(f"no Cypher statement {name!r} in {cypher_dir()}") from None


@dataclass(frozen=True, slots=True)
class Statement:
    name: str
    text: str
    params: frozenset[str]

    def check(self, params: Mapping[str, object]) -> None:
        """Refuse parameters the statement does not use, and missing ones."""
        given = set(params)
        if given != self.params:
            missing = sorted(self.params - given)
            extra = sorted(given - self.params)
            raise ValueError(f"cypher/{self.name}.cypher: missing parameters {missing}, unexpected {extra}")


@functools.cache
def statement(name: str) -> Statement:
    text = load(name)
    params = frozenset(t.text[1:] for t in tokenize(text) if t.kind == "param")
    return Statement(name, text, params)


def schema_statements() -> list[str]:
    """The constraint and index statements of ``schema.cypher``, in file order."""
    text = "\n".join(line for line in load("schema").splitlines() if not line.lstrip().startswith("//"))
    parts = re.split(r";[ \t]*(?:\n|$)", text)
    return [p.strip() for p in parts if p.strip()]


# -- a small lexer: enough to find parameters, literals, identifiers and brackets --------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident | param | string | number | punct
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<param>\$(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|`[^`]+`))
  | (?P<number>(?:[0-9]+\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
  | (?P<punct>->|<-|<=|>=|<>|=~|\+=|\.\.|[-+*/%^=<>(){}\[\]:;,.|&!])
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str) -> list[Token]:
    """Tokens of a Cypher text, whitespace and comments dropped; raises ValueError on stray input."""
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unexpected character {text[pos]!r} at offset {pos}")
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            out.append(Token(kind, m.group(), pos))
        pos = m.end()
    return out
