"""The SQLite store's tables: the row layout of each entity, the schema, the migration of older files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from ...model import (
    Cause,
    DerivedFact,
    DishonestyRecord,
    Honour,
    ListEntry,
    Organisation,
    Person,
    RecordEvent,
    Responsible,
    Role,
    RoleEdge,
)
from ..base import RoleColumns

_CHUNK = 500  # keys per IN (...) lookup, under SQLite's parameter limit
_ROLES = tuple(Role)  # stored role code = position here
_ROLE_CODE = {r.value: i for i, r in enumerate(_ROLES)}
_OPEN = 2**31 - 1  # an open interval end in the graph index
_LR = _ROLE_CODE[Role.LEGAL_REPRESENTATIVE.value]


# The slots of RoleEdge, set directly: a frozen dataclass's __init__ sets each field through
# object.__setattr__ and costs about five times as much, once per role row read (hundreds per traversal).
_EDGE_SLOTS = tuple(RoleEdge.__dict__[f].__set__ for f in (
    "edge_id", "holder", "role", "org", "valid_from", "valid_to", "ratio", "subscribed_capital", "title"))


def _role_edge(r: tuple[Any, ...]) -> RoleEdge:
    """A RoleEdge from a roles-table row, equal to ``RoleEdge(...)`` of its fields (a row always has its id)."""
    if not r[0]:
        return RoleEdge(holder=r[1], role=_ROLES[r[2]], org=r[3], valid_from=_day(r[4]),
                        valid_to=_day(r[5]) if r[5] else None, ratio=r[6], subscribed_capital=r[7], title=r[8])
    e = object.__new__(RoleEdge)
    eid, holder, role, org, vf, vt, ratio, cap, title = _EDGE_SLOTS
    eid(e, r[0])
    holder(e, r[1])
    role(e, _ROLES[r[2]])
    org(e, r[3])
    vf(e, _day(r[4]))
    vt(e, _day(r[5]) if r[5] else None)
    ratio(e, r[6])
    cap(e, r[7])
    title(e, r[8])
    return e


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


_DAYS: dict[int, date] = {}


def _day(ordinal: int) -> date:
    d = _DAYS.get(ordinal)
    if d is None:
        d = _DAYS[ordinal] = date.fromordinal(ordinal)
    return d


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    to_row: Callable[[Any], tuple[Any, ...]]
    from_row: Callable[[tuple[Any, ...]], Any]

    @property
    def key(self) -> str:
        return self.columns[0]


_ORG = _Table(
    "organisations",
    ("code", "name", "org_type", "region", "industry", "registered_on", "deregistered_on"),
    lambda o: (o.code, o.name, o.org_type, o.region, o.industry, _iso(o.registered_on), _iso(o.deregistered_on)),
    lambda r: Organisation(r[0], r[1], r[2], r[3], r[4], _d(r[5]), _d(r[6])),
)
_PERSON = _Table(
    "persons",
    ("key", "masked_id", "name", "region"),
    lambda p: (p.key, p.masked_id, p.name, p.region),
    lambda r: Person(*r),
)
_ROLE = _Table(
    "roles",
    ("eid", "holder", "role", "org", "vf", "vt", "ratio", "cap", "title"),
    lambda e: (
        e.edge_id, e.holder, _ROLE_CODE[e.role], e.org, e.valid_from.toordinal(),
        e.valid_to.toordinal() if e.valid_to else None, e.ratio, e.subscribed_capital, e.title,
    ),
    _role_edge,
)
_RECORD = _Table(
    "records",
    (
        "record_id", "subject", "category", "severity", "decision_date", "act_date", "document_no",
        "department", "basis", "period_end", "responsible", "jurisdiction",
    ),
    lambda x: (
        x.record_id, x.subject, x.category, x.severity, _iso(x.decision_date), _iso(x.act_date),
        x.document_no, x.department, x.basis, _iso(x.period_end),
        json.dumps([[r.person, r.role.value if r.role else None] for r in x.responsible]), x.jurisdiction,
    ),
    lambda r: DishonestyRecord(
        record_id=r[0], subject=r[1], category=r[2], severity=r[3], decision_date=date.fromisoformat(r[4]),
        act_date=_d(r[5]), document_no=r[6], department=r[7], basis=r[8], period_end=_d(r[9]),
        responsible=tuple(Responsible(p, Role(role) if role else None) for p, role in json.loads(r[10])),
        jurisdiction=r[11],
    ),
)
_EVENT = _Table(
    "events",
    ("event_id", "cause_id", "kind", "on_date", "by", "detail"),
    lambda e: (e.event_id, e.cause_id, e.kind, _iso(e.on), e.by, e.detail),
    lambda r: RecordEvent(cause_id=r[1], kind=r[2], on=date.fromisoformat(r[3]), by=r[4], detail=r[5], event_id=r[0]),
)
_HONOUR = _Table(
    "honours",
    ("honour_id", "holder", "title", "awarding_body", "awarded_on"),
    lambda h: (h.honour_id, h.holder, h.title, h.awarding_body, _iso(h.awarded_on)),
    lambda r: Honour(r[0], r[1], r[2], r[3], date.fromisoformat(r[4])),
)
_LIST = _Table(
    "list_entries",
    (
        "entry_id", "subject", "list", "name", "determining_unit", "basis", "valid_from", "valid_to",
        "publicity_from", "publicity_to", "status",
    ),
    lambda e: (
        e.entry_id, e.subject, e.list, e.name, e.determining_unit, e.basis, _iso(e.valid_from),
        _iso(e.valid_to), _iso(e.publicity_from), _iso(e.publicity_to), e.status,
    ),
    lambda r: ListEntry(
        r[0], r[1], r[2], r[3], r[4], r[5], date.fromisoformat(r[6]), _d(r[7]), _d(r[8]), _d(r[9]), r[10]
    ),
)
_JSON_CACHE: dict[str, Any] = {}
_DATE_CACHE: dict[str, date] = {}


def _json_tuple(text: str) -> Any:
    """json.loads for the small, much repeated lists stored in facts (basis, suspensions)."""
    found = _JSON_CACHE.get(text)
    if found is None:
        found = json.loads(text)
        found = tuple(found) if all(isinstance(x, str) for x in found) else found
        if len(_JSON_CACHE) < 100_000:
            _JSON_CACHE[text] = found
    return found


def _date(text: str) -> date:
    found = _DATE_CACHE.get(text)
    if found is None:
        found = _DATE_CACHE[text] = date.fromisoformat(text)
    return found


def _ddate(text: str | None) -> date | None:
    return _date(text) if text else None


def _suspended(text: str) -> tuple[tuple[date, date | None], ...]:
    if text == "[]":
        return ()
    return tuple((_date(a), _ddate(b)) for a, b in json.loads(text))


_FACT = _Table(
    "facts",
    (
        "fact_id", "cause", "rule_id", "rule_version", "consequence", "target", "target_role", "valid_from",
        "valid_to", "basis", "edge_id", "edge_from", "edge_to", "object_id", "ended_by", "suspended",
        "jurisdiction",
    ),
    lambda f: (
        f.fact_id, str(f.cause), f.rule_id, f.rule_version, f.consequence, f.target, f.target_role,
        _iso(f.valid_from), _iso(f.valid_to), json.dumps(list(f.basis), ensure_ascii=False), f.edge_id,
        _iso(f.edge_from), _iso(f.edge_to), f.object_id, f.ended_by,
        json.dumps([[_iso(a), _iso(b)] for a, b in f.suspended]), f.jurisdiction,
    ),
    lambda r: DerivedFact(
        cause=Cause.parse(r[1]), rule_id=r[2], rule_version=r[3], consequence=r[4], target=r[5],
        target_role=r[6], valid_from=_date(r[7]), valid_to=_ddate(r[8]), basis=tuple(_json_tuple(r[9])),
        edge_id=r[10], edge_from=_ddate(r[11]), edge_to=_ddate(r[12]), object_id=r[13], ended_by=r[14],
        suspended=_suspended(r[15]), jurisdiction=r[16], fact_id=r[0],
    ),
)

_ROLE_INDEXES = (
    ("roles_eid", "CREATE UNIQUE INDEX IF NOT EXISTS roles_eid ON roles(eid)"),
    ("roles_org", "CREATE INDEX IF NOT EXISTS roles_org ON roles(org)"),
    ("roles_holder", "CREATE INDEX IF NOT EXISTS roles_holder ON roles(holder)"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (k, v) VALUES ('roles_gen', 0), ('facts_gen', 0);
-- The edges each roles generation changed, with their organisation before and after; complete for
-- every generation after roles_log_from (a store of an earlier version starts its log now).
CREATE TABLE IF NOT EXISTS role_log (
  gen INTEGER NOT NULL, eid TEXT NOT NULL, org TEXT NOT NULL, PRIMARY KEY (gen, eid, org)) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (k, v) SELECT 'roles_log_from', v FROM meta WHERE k = 'roles_gen';
-- The subjects whose derived facts each facts generation changed; complete for every generation after
-- facts_log_from. Another process follows it instead of reloading every subject with facts.
CREATE TABLE IF NOT EXISTS fact_log (
  gen INTEGER NOT NULL, target TEXT NOT NULL, PRIMARY KEY (gen, target)) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (k, v) SELECT 'facts_log_from', v FROM meta WHERE k = 'facts_gen';
CREATE TABLE IF NOT EXISTS organisations (
  code TEXT PRIMARY KEY, name TEXT NOT NULL, org_type TEXT NOT NULL, region TEXT NOT NULL,
  industry TEXT NOT NULL, registered_on TEXT, deregistered_on TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS organisations_region ON organisations(region, industry);
CREATE TABLE IF NOT EXISTS persons (
  key TEXT PRIMARY KEY, masked_id TEXT NOT NULL, name TEXT NOT NULL, region TEXT NOT NULL) WITHOUT ROWID;
-- Role edges: vf/vt are day ordinals (vt NULL = open), role is the position in model.Role.
CREATE TABLE IF NOT EXISTS roles (
  eid TEXT NOT NULL, holder TEXT NOT NULL, role INTEGER NOT NULL, org TEXT NOT NULL,
  vf INTEGER NOT NULL, vt INTEGER, ratio REAL, cap REAL, title TEXT NOT NULL);
-- Role edges loaded in bulk live in columnar segments beside the database (segments.py); a row
-- in roles or an id here hides a segment's version of that edge.
CREATE TABLE IF NOT EXISTS role_segments (
  seq INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, rows INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS role_tombstones (eid TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  record_id TEXT PRIMARY KEY, subject TEXT NOT NULL, category TEXT NOT NULL, severity TEXT NOT NULL,
  decision_date TEXT NOT NULL, act_date TEXT, document_no TEXT NOT NULL, department TEXT NOT NULL,
  basis TEXT NOT NULL, period_end TEXT, responsible TEXT NOT NULL, jurisdiction TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_subject ON records(subject);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, cause_id TEXT NOT NULL, kind TEXT NOT NULL, on_date TEXT NOT NULL,
  by TEXT NOT NULL, detail TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_cause ON events(cause_id, on_date);
CREATE TABLE IF NOT EXISTS honours (
  honour_id TEXT PRIMARY KEY, holder TEXT NOT NULL, title TEXT NOT NULL, awarding_body TEXT NOT NULL,
  awarded_on TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS honours_holder ON honours(holder);
CREATE TABLE IF NOT EXISTS list_entries (
  entry_id TEXT PRIMARY KEY, subject TEXT NOT NULL, list TEXT NOT NULL, name TEXT NOT NULL,
  determining_unit TEXT NOT NULL, basis TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT,
  publicity_from TEXT, publicity_to TEXT, status TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS list_entries_subject ON list_entries(subject);
CREATE TABLE IF NOT EXISTS facts (
  fact_id TEXT PRIMARY KEY, cause TEXT NOT NULL, rule_id TEXT NOT NULL, rule_version TEXT NOT NULL,
  consequence TEXT NOT NULL, target TEXT NOT NULL, target_role TEXT NOT NULL, valid_from TEXT NOT NULL,
  valid_to TEXT, basis TEXT NOT NULL, edge_id TEXT, edge_from TEXT, edge_to TEXT, object_id TEXT,
  ended_by TEXT, suspended TEXT NOT NULL, jurisdiction TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS facts_target ON facts(target);
CREATE INDEX IF NOT EXISTS facts_cause ON facts(cause);
CREATE TABLE IF NOT EXISTS journal (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
  UNIQUE (tbl, id));
CREATE INDEX IF NOT EXISTS journal_tbl_seq ON journal(tbl, seq);
"""


def _migrate_v1_roles(con: sqlite3.Connection) -> None:
    """Stores written before the compact layout kept roles with ISO dates and role names."""
    cols = [r[1] for r in con.execute("PRAGMA table_info(roles)")]
    if "edge_id" not in cols:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("DROP INDEX IF EXISTS roles_org")
        con.execute("DROP INDEX IF EXISTS roles_holder")
        con.execute("ALTER TABLE roles RENAME TO roles_v1")
        con.execute(
            "CREATE TABLE roles (eid TEXT NOT NULL, holder TEXT NOT NULL, role INTEGER NOT NULL, org TEXT NOT NULL, "
            "vf INTEGER NOT NULL, vt INTEGER, ratio REAL, cap REAL, title TEXT NOT NULL)"
        )
        cases = " ".join(f"WHEN '{name}' THEN {code}" for name, code in _ROLE_CODE.items())
        con.execute(
            f"INSERT INTO roles SELECT edge_id, holder, CASE role {cases} END, org, "  # noqa: S608 - constants
            "CAST(julianday(valid_from) - 1721424.5 AS INTEGER), "
            "CAST(julianday(valid_to) - 1721424.5 AS INTEGER), ratio, subscribed_capital, title "
            "FROM roles_v1 ORDER BY org"
        )
        con.execute("DROP TABLE roles_v1")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise



def _role_rows(b: RoleColumns) -> Iterator[tuple[Any, ...]]:
    """Rows of the roles table from a column batch (ordinals, role codes, None for absent values;
    string columns as lists or Arrow arrays)."""
    vt = [t if t > 0 else None for t in np.asarray(b.valid_to).tolist()]
    ratio = np.asarray(b.ratio, dtype=np.float64)
    cap = np.asarray(b.subscribed_capital, dtype=np.float64)
    ratio_o = [None if q != q else q for q in ratio.tolist()] if np.isnan(ratio).any() else ratio.tolist()
    cap_o = [None if c != c else c for c in cap.tolist()] if np.isnan(cap).any() else cap.tolist()
    roles = [_ROLE_CODE[str(r)] for r in b.texts("role")]
    return zip(
        b.texts("edge_id"), b.texts("holder"), roles, b.texts("org"), np.asarray(b.valid_from).tolist(), vt, ratio_o,
        cap_o, b.texts("title"), strict=True,
    )

