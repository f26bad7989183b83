"""Export: ``to_networkx`` and ``to_frames`` for analysts, ``export_neo4j_admin`` for bulk loading Neo4j.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import ids
from ..ids import (
    is_person_key,
)
from ..model import (
    Organisation,
    Person,
    Responsible,
    RoleEdge,
)
from ..store.base import Store

if TYPE_CHECKING:
    import networkx as nx

from ..fields import EVENTS, FACTS, HONOURS, LIST_ENTRIES, ORGANISATIONS, PERSONS, RECORDS, ROLES, Kind


# -- export ------------------------------------------------------------------------------------------
def _node_attrs(store: Store, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    keys = list(dict.fromkeys(keys))
    persons = [k for k in keys if is_person_key(k)]
    orgs = [k for k in keys if not is_person_key(k)]
    out: dict[str, dict[str, Any]] = {}
    for o in store.get_organisations(orgs).values():
        out[o.code] = _org_attrs(o)
    for p in store.get_persons(persons).values():
        out[p.key] = _person_attrs(p)
    return out


def _org_attrs(o: Organisation) -> dict[str, Any]:
    return {
        "kind": "organisation",
        "name": o.name,
        "org_type": o.org_type,
        "region": o.region,
        "industry": o.industry,
        "registered_on": o.registered_on,
        "deregistered_on": o.deregistered_on,
    }


def _person_attrs(p: Person) -> dict[str, Any]:
    return {"kind": "person", "name": p.name, "masked": p.masked_id, "region": p.region}


def _add_edge(g: nx.MultiDiGraph, e: RoleEdge) -> None:
    g.add_edge(
        e.holder,
        e.org,
        key=e.edge_id,
        role=e.role.value,
        valid_from=e.valid_from,
        valid_to=e.valid_to,
        ratio=e.ratio,
        subscribed_capital=e.subscribed_capital,
        title=e.title,
    )


def to_networkx(
    store: Store, nodes: Sequence[str] | None = None, as_of: date | None = None, depth: int = 1
) -> nx.MultiDiGraph:
    """The responsibility graph as a networkx MultiDiGraph: holder -> organisation edges keyed by
    ``edge_id`` (role, valid_from, valid_to, ratio, subscribed_capital, title); nodes carry ``kind``,
    ``name`` and, for persons, only the ``masked`` ID number. With ``nodes`` (USCCs, ID numbers or
    person keys), the ``depth``-hop neighbourhood; with ``as_of``, only edges in force that day."""
    import networkx as nx

    g = nx.MultiDiGraph()
    if nodes is None:
        for o in store.iter_organisations():
            g.add_node(o.code, **_org_attrs(o))
        for p in store.iter_persons():
            g.add_node(p.key, **_person_attrs(p))
        for e in store.iter_roles():
            if as_of is None or e.active_on(as_of):
                _add_edge(g, e)
        return g
    seen = {ids.subject_key(n) for n in nodes}
    frontier = set(seen)
    for _ in range(max(0, depth)):
        if not frontier:
            break
        nxt: set[str] = set()
        for e in store.roles_of(sorted(frontier), "both", as_of):
            _add_edge(g, e)
            nxt.update((e.holder, e.org))
        frontier = nxt - seen
        seen |= nxt
    for key, attrs in _node_attrs(store, seen).items():
        g.add_node(key, **attrs)
    g.add_nodes_from(seen)  # keys not stored stay as bare nodes
    return g


def _date_series(values: list[date | None]) -> pd.Series:
    # datetime64[s] holds any ISO date (years 1-9999), unlike the default nanosecond unit.
    arr = np.array(
        [np.datetime64(v, "D") if v is not None else np.datetime64("NaT") for v in values],
        dtype="datetime64[D]",
    )
    return pd.Series(arr.astype("datetime64[s]"))


def dated_frame(
    rows: list[tuple[Any, ...]], columns: Sequence[str], date_cols: Iterable[str] = ()
) -> pd.DataFrame:
    """A frame of ``rows`` with ``date_cols`` as ``datetime64[s]`` (any ISO date, unlike nanoseconds)."""
    df = (
        pd.DataFrame.from_records(rows, columns=list(columns))
        if rows
        else pd.DataFrame(columns=list(columns))
    )
    for c in date_cols:
        df[c] = _date_series(df[c].tolist()) if len(df) else pd.Series([], dtype="datetime64[s]")
    return df


def _getter(attr: str, render: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    if render is None:
        return lambda item: getattr(item, attr)
    return lambda item: render(getattr(item, attr))


def _kind_frame(kind: Kind[Any], items: Iterable[Any], shown: Mapping[str, Callable[[Any], Any]] | None = None,
                after: Mapping[str, tuple[str, Callable[[Any], Any]]] | None = None) -> pd.DataFrame:
    """A kind's declared fields as frame columns (dates as ``datetime64[s]``); ``shown`` renders a field's
    value for reading (a JSON list as text), ``after`` adds a column after a field."""
    shown, after = shown or {}, after or {}
    columns: list[str] = []
    getters: list[Callable[[Any], Any]] = []
    for f in kind.fields:
        if f.name in shown or f.storage != "json":  # JSON fields are shown rendered, or not at all
            columns.append(f.name)
            getters.append(_getter(f.attr, shown.get(f.name)))
        if f.name in after:
            name, get = after[f.name]
            columns.append(name)
            getters.append(get)
    return dated_frame([tuple(g(item) for g in getters) for item in items], columns, kind.of("date"))


def to_frames(store: Store, as_of: date | None = None) -> dict[str, pd.DataFrame]:
    """Everything stored, as DataFrames with date columns as ``datetime64[s]``. Persons carry only the
    pseudonymous key and the masked ID number. With ``as_of``: role edges, list entries and facts in
    force that day, records decided and honours awarded on or before it."""

    def in_force(a: date | None, b: date | None) -> bool:
        return as_of is None or ((a is None or a <= as_of) and (b is None or as_of < b))

    def responsible(value: tuple[Responsible, ...]) -> str:
        return ";".join(f"{x.person}:{x.role.value}" if x.role else x.person for x in value)

    def holder_kind(e: RoleEdge) -> str:
        return "person" if is_person_key(e.holder) else "organisation"

    return {
        "organisations": _kind_frame(ORGANISATIONS, store.iter_organisations()),
        "persons": _kind_frame(PERSONS, store.iter_persons()),
        "roles": _kind_frame(ROLES, (e for e in store.iter_roles() if in_force(e.valid_from, e.valid_to)),
                             {"role": lambda r: r.value}, {"holder": ("holder_kind", holder_kind)}),
        "records": _kind_frame(RECORDS, (r for r in store.iter_records() if as_of is None or r.decision_date <= as_of),
                               {"responsible": responsible}),
        "honours": _kind_frame(HONOURS, (h for h in store.iter_honours() if as_of is None or h.awarded_on <= as_of)),
        "list_entries": _kind_frame(
            LIST_ENTRIES, (e for e in store.iter_list_entries() if in_force(e.valid_from, e.valid_to))),
        "facts": _kind_frame(FACTS, (f for f in store.iter_facts() if in_force(f.valid_from, f.valid_to)),
                             {"cause": str, "basis": ";".join}),
    }


# neo4j-admin files: (file, labels given on the command line or None for a :LABEL column, header).
# Property names are the ones the Neo4j store writes (graph_credit.store.neo4j); every value is a
# string as the store keeps it (ISO dates, JSON text) but ratio / subscribed_capital (float) and a
# journal row's seq (long). The :ID columns put every subject in one ID space, Subject, so a role
# edge's ends are found whether a person or an organisation holds it.
_NEO4J_ID = {"Subject": "id:ID(Subject)"}


def _neo4j_field(v: Any) -> str:
    """One CSV field as neo4j-admin reads it: None is an empty unquoted field (no property); every
    string, the empty one too, is quoted (an empty string stays an empty string, since the import
    runs with --ignore-empty-strings=false); a quote inside is doubled."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return '"' + str(v).replace('"', '""') + '"'


def export_neo4j_admin(store: Store, out_dir: str | Path, database: str = "neo4j") -> dict[str, int]:
    """Write ``neo4j-admin database import full`` CSV files that load into the graph the Neo4j store
    reads (graph_credit.store.neo4j): ``:Subject:Organisation`` and ``:Subject:Person`` nodes with an
    ``id`` property, ``:Placeholder`` subjects for role ends with no subject stored (so no
    relationship dangles and none is skipped), one relationship type per role, and every other kind
    (records, events, honours, list entries, derived facts, the journal) as the nodes the store
    keeps them in. Values are the store's own (ISO date strings, JSON text), empty strings kept apart
    from missing values. Persons are exported by pseudonymous key and masked ID number only: no
    name, no region. ``import.sh`` holds the command; ``graph-credit init-schema`` then adds the
    constraints and indexes. Returns the rows written per file."""
    import json

    from ..store.base import JOURNAL_TABLES
    from ..store.neo4j.store import ROLE_PROPS  # a role's relationship properties

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    multiline = False
    nodes: list[str] = []

    def write(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], labels: str | None = None) -> None:
        nonlocal multiline
        n = 0
        with open(out / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
            fh.write(",".join(header) + "\n")
            for row in rows:
                cells = [_neo4j_field(v) for v in row]
                multiline = multiline or any("\n" in c or "\r" in c for c in cells)
                fh.write(",".join(cells) + "\n")
                n += 1
        counts[name] = n
        if labels is not None:
            nodes.append(f"--nodes={labels}={name}.csv" if labels else f"--nodes={name}.csv")

    def typed(column: str) -> str:
        return f"{column}:float" if column in ROLES.of("float") else column

    subjects: set[str] = set()

    def orgs() -> Iterator[list[Any]]:
        for o in store.iter_organisations():
            subjects.add(o.code)
            props = ORGANISATIONS.to_row(o)
            yield [o.code, *(props[c] for c in ORGANISATIONS.columns)]

    def persons() -> Iterator[list[Any]]:
        for p in store.iter_persons():
            subjects.add(p.key)
            yield [p.key, p.key, p.masked_id]

    write("organisations", [_NEO4J_ID["Subject"], *ORGANISATIONS.columns], orgs(), "Subject:Organisation")
    write("persons", [_NEO4J_ID["Subject"], "key", "masked_id"], persons(), "Subject:Person")

    placeholders: dict[str, None] = {}

    def roles() -> Iterator[list[Any]]:
        for e in store.iter_roles():
            for end in (e.holder, e.org):
                if end not in subjects:
                    placeholders[end] = None
            flat = ROLES.to_row(e)
            yield [e.holder, e.org, flat["role"], *(flat[c] for c in ROLE_PROPS)]

    write("roles", [":START_ID(Subject)", ":END_ID(Subject)", ":TYPE", *map(typed, ROLE_PROPS)], roles())
    # As subjects_ensure makes them: labelled by the shape of the key, holding it as key or code.
    write(
        "placeholders",
        [_NEO4J_ID["Subject"], ":LABEL", "key", "code"],
        (
            [k, "Subject;Person;Placeholder", k, None] if is_person_key(k) else
            [k, "Subject;Organisation;Placeholder", None, k]
            for k in placeholders
        ),
        "",
    )
    records = list(store.iter_records())
    entries = list(store.iter_list_entries())
    causes = [r.record_id for r in records] + [e.entry_id for e in entries]
    events = (e for i in range(0, len(causes), 10_000) for e in store.events_of(causes[i : i + 10_000]))
    kinds: list[tuple[Kind[Any], Iterable[Any]]] = [
        (RECORDS, records), (EVENTS, events), (HONOURS, store.iter_honours()), (LIST_ENTRIES, entries),
        (FACTS, store.iter_facts()),
    ]
    for kind, items in kinds:
        columns = [kind.key, *(c for c in kind.columns if c != kind.key)]
        header = [f"{kind.key}:ID({kind.label})", *columns[1:]]
        write(kind.name, header, ([row[c] for c in columns] for row in map(kind.to_row, items)), kind.label)

    def journal() -> Iterator[list[Any]]:
        for table in JOURNAL_TABLES:
            for seq, row in enumerate(store.query(table), start=1):  # oldest first, as the store orders them
                doc = json.dumps(row, ensure_ascii=False, default=str)
                yield [f"{table}/{row['id']}", table, str(row["id"]), seq, doc]

    write("journal", [":ID(Journal)", "tbl", "id", "seq:long", "doc"], journal(), "Journal")
    args = ['"$DATABASE"', "--id-type=string", "--ignore-empty-strings=false", *nodes, "--relationships=roles.csv"]
    if multiline:
        args.append("--multiline-fields=true")
    script = (
        "#!/bin/sh\n"
        "# Generated by graph-credit: load these files into a new, empty Neo4j database.\n"
        "# Stop the database first; add --overwrite-destination to replace an existing one. Then start\n"
        "# it and run `graph-credit init-schema --store neo4j://...` once for its constraints and indexes.\n"
        "set -eu\n"
        'cd "$(dirname "$0")"\n'
        f'DATABASE="${{1:-{database}}}"\n'
        '"${NEO4J_HOME:+$NEO4J_HOME/bin/}neo4j-admin" database import full \\\n  '
        + " \\\n  ".join(args)
        + "\n"
    )
    path = out / "import.sh"
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)
    return counts
