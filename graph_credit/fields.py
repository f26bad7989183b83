"""Each kind's fields, declared once: organisations, persons, roles, records, events, honours, list entries
and derived facts.

A :class:`Kind` names, in order, the fields a kind is stored with (the property or column names), the model
attribute each holds, how its value is written as a scalar (text, number, ISO date, JSON text) and read
back, and the column it comes from in the import format (``docs/data-format.md``), if any. The importer's
columns, the exporters (frames, neo4j-admin files), the stores and the generator read these declarations
instead of writing the lists again.

Fields are in the import format's order; a kind's key is named apart (it is not always first).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from dataclasses import fields as dataclass_fields
from datetime import date
from typing import Any, Generic, Literal, TypeVar

from .model import (
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

__all__ = [
    "EVENTS", "FACTS", "HONOURS", "IMPORTED", "KINDS", "LIST_ENTRIES", "ORGANISATIONS", "PERSONS", "RECORDS",
    "ROLES", "Field", "Kind",
]

T = TypeVar("T")
Storage = Literal["text", "float", "date", "json"]


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _same(value: Any) -> Any:
    return value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _responsible_out(value: tuple[Responsible, ...]) -> str:
    return json.dumps([[r.person, r.role.value if r.role else None] for r in value])


def _responsible_in(text: str) -> tuple[Responsible, ...]:
    return tuple(Responsible(p, Role(role) if role else None) for p, role in json.loads(text))


def _suspended_out(value: tuple[tuple[date, date | None], ...]) -> str:
    return json.dumps([[_iso(a), _iso(b)] for a, b in value])


def _suspended_in(text: str) -> tuple[tuple[date, date | None], ...]:
    return tuple((date.fromisoformat(a), _date(b)) for a, b in json.loads(text))


_CODECS: dict[str, tuple[Storage, Callable[[Any], Any], Callable[[Any], Any]]] = {
    "text": ("text", _same, _same),
    "float": ("float", _float, _float),
    "date": ("date", _iso, _date),
    "role": ("text", lambda r: Role(r).value, Role),
    "cause": ("text", str, Cause.parse),
    "strings": ("json", lambda v: json.dumps(list(v), ensure_ascii=False), lambda t: tuple(json.loads(t))),
    "responsible": ("json", _responsible_out, _responsible_in),
    "suspended": ("json", _suspended_out, _suspended_in),
}


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # as stored: a column or property name
    attr: str  # the model's attribute
    codec: str  # a key of _CODECS
    imported: str | None = None  # its column in the import format

    @property
    def storage(self) -> Storage:
        return _CODECS[self.codec][0]

    def dump(self, value: Any) -> Any:
        return _CODECS[self.codec][1](value)

    def load(self, value: Any) -> Any:
        return _CODECS[self.codec][2](value)


def _f(name: str, codec: str = "text", attr: str | None = None, imported: str | None | Literal[False] = None) -> Field:
    """A field; ``imported`` defaults to the stored name, ``False`` when the import format has no column."""
    return Field(name, attr or name, codec, None if imported is False else imported or name)


@dataclass(frozen=True)
class Kind(Generic[T]):
    name: str  # the kind's plural name: the import file, the table
    label: str  # the Neo4j label
    model: type[T]
    key: str
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        # A field stored empty reads back as the model's default (a database loaded by neo4j-admin holds no
        # names of persons); one without a default must be there.
        defaults = {f.name: f.default for f in dataclass_fields(self.model)}  # type: ignore[arg-type]
        object.__setattr__(self, "_defaults", {
            f.name: defaults[f.attr] for f in self.fields if defaults.get(f.attr, MISSING) is not MISSING
        })

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def imported(self) -> tuple[str, ...]:
        """The kind's columns in the import format."""
        return tuple(f.imported for f in self.fields if f.imported)

    def of(self, storage: Storage) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.storage == storage)

    def to_row(self, item: T) -> dict[str, Any]:
        """``item`` as stored: scalars by field name."""
        return {f.name: f.dump(getattr(item, f.attr)) for f in self.fields}

    def from_row(self, row: Mapping[str, Any]) -> T:
        """The model from a stored row (any mapping holding the field names)."""
        defaults: dict[str, Any] = self._defaults  # type: ignore[attr-defined]
        values = {}
        for f in self.fields:
            value = row.get(f.name)
            if value is None:  # not stored: the model's default, else empty text (or None)
                values[f.attr] = defaults.get(f.name, "" if f.storage == "text" else None)
            else:
                values[f.attr] = f.load(value)
        return self.model(**values)


ORGANISATIONS: Kind[Organisation] = Kind("organisations", "Organisation", Organisation, "code", (
    _f("code"), _f("name"), _f("org_type"), _f("region"), _f("industry"), _f("registered_on", "date"),
    _f("deregistered_on", "date"),
))
# Clear ID numbers are imported and never stored: the key is their keyed pseudonym, masked_id their display form.
PERSONS: Kind[Person] = Kind("persons", "Person", Person, "key", (
    _f("key", imported="id_number"), _f("masked_id", imported=False), _f("name"), _f("region"),
))
ROLES: Kind[RoleEdge] = Kind("roles", "Role", RoleEdge, "edge_id", (
    _f("edge_id", imported=False), _f("holder", imported="holder_id"), _f("org", imported="org_code"),
    _f("role", "role"), _f("valid_from", "date"), _f("valid_to", "date"), _f("ratio", "float"),
    _f("subscribed_capital", "float"), _f("title"),
))
RECORDS: Kind[DishonestyRecord] = Kind("records", "DishonestyRecord", DishonestyRecord, "record_id", (
    _f("record_id"), _f("subject", imported="subject_id"), _f("category"), _f("severity"), _f("act_date", "date"),
    _f("decision_date", "date"), _f("document_no"), _f("department"), _f("basis"), _f("period_end", "date"),
    _f("responsible", "responsible"), _f("jurisdiction"),
))
EVENTS: Kind[RecordEvent] = Kind("events", "RecordEvent", RecordEvent, "event_id", (
    _f("event_id"), _f("cause_id"), _f("kind"), _f("on_date", "date", attr="on"), _f("by"), _f("detail"),
))
HONOURS: Kind[Honour] = Kind("honours", "Honour", Honour, "honour_id", (
    _f("honour_id"), _f("holder", imported="holder_id"), _f("title"), _f("awarding_body"), _f("awarded_on", "date"),
))
LIST_ENTRIES: Kind[ListEntry] = Kind("list_entries", "ListEntry", ListEntry, "entry_id", (
    _f("entry_id"), _f("subject", imported="subject_id"), _f("list"), _f("name"), _f("determining_unit"),
    _f("basis"), _f("valid_from", "date"), _f("valid_to", "date"), _f("publicity_from", "date"),
    _f("publicity_to", "date"), _f("status"),
))
FACTS: Kind[DerivedFact] = Kind("facts", "DerivedFact", DerivedFact, "fact_id", (
    _f("fact_id"), _f("cause", "cause"), _f("rule_id"), _f("rule_version"), _f("consequence"), _f("target"),
    _f("target_role"), _f("valid_from", "date"), _f("valid_to", "date"), _f("basis", "strings"), _f("edge_id"),
    _f("edge_from", "date"), _f("edge_to", "date"), _f("object_id"), _f("ended_by"), _f("suspended", "suspended"),
    _f("jurisdiction"),
))

KINDS: dict[str, Kind[Any]] = {k.name: k for k in (
    ORGANISATIONS, PERSONS, ROLES, RECORDS, EVENTS, HONOURS, LIST_ENTRIES, FACTS)}
IMPORTED: tuple[Kind[Any], ...] = (ORGANISATIONS, PERSONS, ROLES, RECORDS, HONOURS, LIST_ENTRIES)  # one file each
