"""Reading the policy files: strict YAML, validation with the file, key path and reason of every problem,
the layering of a jurisdiction's overlay on the national base, and the packaged ``data/`` directory.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from .schema import (
    _NAME_RE,
    _OPTIONAL_SETTINGS,
    _SETTINGS,
    Basis,
    Category,
    Department,
    GreenChannelPolicy,
    Matter,
    Measure,
    NoticePolicy,
    ObjectionPolicy,
    ObjectionRemedyPolicy,
    PolicyError,
    PunishmentPeriodPolicy,
    RepairPolicy,
    Rule,
    S,
    _CatalogueFile,
    _Model,
    _PolicyFile,
)
from .snapshot import Policy, _Layer

# YAML reading: duplicate keys are errors and only true/false are booleans (YAML 1.1 would read the
# aftercare key ``on`` as True).


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable keys are reported by construct_mapping itself
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _resolve(root: Traversable, rel: str) -> Traversable:
    node = root
    for part in rel.split("/"):
        node = node.joinpath(part)
    return node


def _read_yaml(root: Traversable, rel: str) -> dict[str, Any]:
    try:
        text = _resolve(root, rel).read_text(encoding="utf-8")
    except OSError:
        raise PolicyError(rel, "", "file not found") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(rel, where, str(e.problem or e.context or e)) from None
    except yaml.YAMLError as e:
        raise PolicyError(rel, "", str(e)) from None
    if not isinstance(data, dict):
        raise PolicyError(rel, "", "the top level must be a mapping")
    return data


def _loc_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(e: ValidationError, rel: str, prefix: str = "") -> list[tuple[str, str, str]]:
    out = []
    for err in e.errors():
        path = _loc_path((prefix, *err["loc"]) if prefix else err["loc"])
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        elif err["type"] == "missing":
            reason = "required key is missing"
        else:
            reason = err["msg"].removeprefix("Value error, ")
        out.append((rel, path, reason))
    return out


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], data: Any, rel: str, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise PolicyError.from_problems(_problems(e, rel, prefix)) from None


# --------------------------------------------------------------------------------------------------
# Loading.


def _file_for(name: str) -> str:
    return "default.yaml" if name == "default" else f"jurisdictions/{name}.yaml"


def _read_chain(root: Traversable, jurisdiction: str) -> list[tuple[str, _PolicyFile]]:
    """The policy file and every file it extends, base first."""
    chain: list[tuple[str, _PolicyFile]] = []
    name: str | None = jurisdiction
    asked_by, key = "<request>", "jurisdiction"
    while name is not None:
        if not _NAME_RE.match(name):
            raise PolicyError(asked_by, key, f"'{name}' is not a jurisdiction name")
        rel = _file_for(name)
        if any(r == rel for r, _ in chain):
            cycle = " -> ".join([*(pf.id for _, pf in chain), name])
            raise PolicyError(asked_by, key, f"extends cycle: {cycle}")
        if not chain and not _resolve(root, rel).is_file():
            known = ", ".join(available_jurisdictions(root))
            raise PolicyError(rel, "", f"unknown jurisdiction '{name}' (available: {known})")
        pf = _validate(_PolicyFile, _read_yaml(root, rel), rel)
        if pf.id != name:
            raise PolicyError(rel, "id", f"'{pf.id}' does not match the file name '{name}'")
        chain.append((rel, pf))
        asked_by, key, name = rel, "extends", pf.extends
    return list(reversed(chain))


def _merge_setting(
    model: type[_Model], base: _Model | None, raw: dict[str, Any], rel: str, key: str
) -> tuple[_Model | None, list[tuple[str, str, str]]]:
    if base is None:
        try:
            return model.model_validate(raw), []
        except ValidationError as e:
            return None, _problems(e, rel, key)
    unknown = sorted(set(raw) - set(model.model_fields))
    if unknown:
        return None, [(rel, f"{key}.{k}", "unknown key") for k in unknown]
    if "basis" not in raw:
        return None, [(rel, f"{key}.basis", "an override must give its own basis")]
    # The base's note explained the base's values; an override brings its own or none.
    merged = {name: getattr(base, name) for name in model.model_fields} | {"note": None} | raw
    try:
        return model.model_validate(merged), []
    except ValidationError as e:
        return None, _problems(e, rel, key)


@dataclass
class _Entry:
    file: str
    path: str
    item: Rule | Measure


def _check_versions(entries: list[_Entry], kind: str) -> list[tuple[str, str, str]]:
    problems = []
    by_id: dict[str, list[_Entry]] = {}
    for e in entries:
        by_id.setdefault(_key(e.item), []).append(e)
    for ident, group in by_id.items():
        group.sort(key=lambda e: e.item.effective_from)
        for prev, cur in zip(group, group[1:], strict=False):
            end = prev.item.effective_to
            if end is None or end > cur.item.effective_from:
                problems.append(
                    (
                        cur.file,
                        f"{cur.path}.effective_from",
                        f"{kind} {ident} version {_version(cur.item)} overlaps version {_version(prev.item)} "
                        f"({prev.item.effective_from} to {end or 'open'}) in {prev.file}",
                    )
                )
    return problems


def _key(item: Rule | Measure) -> str:
    return item.id if isinstance(item, Rule) else item.code


def _version(item: Rule | Measure) -> str:
    return item.version if isinstance(item, Rule) else str(item.effective_from)


NATIONAL = "GuoFa33"  # the national layer: Guo Fa [2016] No. 33, which every local document implements


def _adopt(item: Rule | Measure, document: str) -> Rule | Measure | None:
    """``item`` as ``document``'s law: in force only if it cites ``document`` or the national text, and
    carrying only those bases. ``None`` if neither cites it."""

    def own(basis: tuple[Basis, ...]) -> tuple[Basis, ...]:
        return tuple(b for b in basis if b.document in (document, NATIONAL))

    basis = own(item.basis)
    if not basis:
        return None
    update: dict[str, Any] = {"basis": basis}
    if isinstance(item, Rule):
        if item.aftercare is not None:
            care = own(item.aftercare.basis)
            update["aftercare"] = item.aftercare.model_copy(update={"basis": care}) if care else None
        if item.permanent is not None:
            update["permanent"] = item.permanent.model_copy(update={"basis": own(item.permanent.basis)})
    return item.model_copy(update=update)


def _own_setting(value: _Model, document: str, rel: str, key: str) -> tuple[_Model | None, list[tuple[str, str, str]]]:
    basis = tuple(b for b in value.basis if b.document in (document, NATIONAL))  # type: ignore[attr-defined]
    if not basis:
        return None, [(rel, f"{key}.basis", f"cites no clause of {document} or {NATIONAL}")]
    return value.model_copy(update={"basis": basis}), []


def load_policy_from(root: Path | Traversable, jurisdiction: str = "default") -> Policy:
    """Load ``jurisdiction`` from a policy directory laid out like ``graph_credit/policy/data``."""
    chain = _read_chain(root, jurisdiction)
    top_rel, top = chain[-1]
    document = top.document
    vocab: dict[str, dict[str, tuple[Any, str]]] = {"categories": {}, "matters": {}, "departments": {}}
    settings: dict[str, _Model] = {}
    layers: list[_Layer] = []
    all_rules: list[_Entry] = []
    all_measures: list[_Entry] = []
    rule_versions: dict[tuple[str, str], str] = {}

    inherited: dict[str, _Model] = {}
    for depth, (rel, pf) in enumerate(chain):
        problems: list[tuple[str, str, str]] = []
        own_file = depth == len(chain) - 1
        if own_file and depth:
            inherited = dict(settings)  # the national procedure, before the jurisdiction's file changes it

        named: tuple[tuple[str, tuple[Category | Matter | Department, ...]], ...] = (
            ("categories", pf.categories),
            ("matters", pf.matters),
            ("departments", pf.departments),
        )
        for kind, items in named:
            for i, item in enumerate(items):
                if item.id in vocab[kind]:
                    problems.append(
                        (rel, f"{kind}[{i}].id", f"'{item.id}' is already defined in {vocab[kind][item.id][1]}")
                    )
                else:
                    vocab[kind][item.id] = (item, rel)

        for key, model in _SETTINGS + _OPTIONAL_SETTINGS:
            raw = getattr(pf, key)
            if raw is None:
                if depth == 0 and (key, model) in _SETTINGS:
                    problems.append((rel, key, "required in a policy that extends nothing"))
                continue
            merged, errs = _merge_setting(model, settings.get(key), raw, rel, key)
            problems += errs
            if merged is not None:
                settings[key] = merged

        measures = [
            _Entry(cat, f"measures[{i}]", m)
            for cat in pf.catalogue
            for i, m in enumerate(_validate(_CatalogueFile, _read_yaml(root, cat), cat).measures)
        ]
        measures += [_Entry(rel, f"measures[{i}]", m) for i, m in enumerate(pf.measures)]
        rules = [_Entry(rel, f"rules[{i}]", r) for i, r in enumerate(pf.rules)]
        for e in measures + rules:
            e.item = e.item.model_copy(update={"origin": e.file})

        for e in measures:
            m = e.item
            assert isinstance(m, Measure)
            problems += [
                (e.file, f"{e.path}.matters", f"unknown matter '{x}'")
                for x in sorted(m.matters)
                if x not in vocab["matters"]
            ]
            problems += [
                (e.file, f"{e.path}.departments", f"unknown department '{x}'")
                for x in m.departments
                if x not in vocab["departments"]
            ]
        for e in rules:
            r = e.item
            assert isinstance(r, Rule)
            problems += [
                (e.file, f"{e.path}.trigger.categories", f"unknown category '{x}'")
                for x in sorted(r.trigger.categories or ())
                if x not in vocab["categories"]
            ]
            # (id, version) is what a derived fact records, so it must name exactly one entry.
            if (r.id, r.version) in rule_versions:
                where = rule_versions[(r.id, r.version)]
                problems.append(
                    (e.file, f"{e.path}.version", f"rule {r.id} version '{r.version}' is already used in {where}")
                )
            else:
                rule_versions[(r.id, r.version)] = e.file
        problems += _check_versions(rules, "rule") + _check_versions(measures, "measure")

        if own_file and depth > 0:
            # An overlay is its document's law: each entry it adds must cite that document (or Guo Fa 33).
            problems += [
                (e.file, f"{e.path}.basis", f"cites no clause of {document} or {NATIONAL}")
                for e in rules + measures
                if _adopt(e.item, document) is None
            ]
            present = {("rule" if isinstance(e.item, Rule) else "measure", _key(e.item))
                       for e in all_rules + all_measures}
            for i, rm in enumerate(pf.removes):
                what, ident = ("rule", rm.rule) if rm.rule is not None else ("measure", rm.measure)
                if (what, ident) not in present:
                    problems.append((rel, f"removes[{i}]", f"no base {what} '{ident}' to remove"))
        elif pf.removes:
            problems.append((rel, "removes", "only the jurisdiction's own file removes base entries"))
        if problems:
            raise PolicyError.from_problems(problems)
        all_rules += rules
        all_measures += measures

    # Resolve under the jurisdiction's document: every entry keeps only its own bases (what the document
    # removes goes from its date on, in PolicySnapshot).
    adopted_rules: list[_Entry] = []
    adopted_measures: list[_Entry] = []
    for entries, out in ((all_rules, adopted_rules), (all_measures, adopted_measures)):
        for e in entries:
            adopted = _adopt(e.item, document)
            if adopted is not None:
                out.append(_Entry(e.file, e.path, adopted))
    for rel, _ in chain:
        layers.append(
            _Layer(
                rel,
                tuple(e.item for e in adopted_rules if e.file == rel and isinstance(e.item, Rule)),
                tuple(e.item for e in adopted_measures
                      if _layer_of(e.file, chain) == rel and isinstance(e.item, Measure)),
            )
        )

    problems = []
    for rule_entry in adopted_rules:
        r = rule_entry.item
        assert isinstance(r, Rule)
        if r.permanent is not None and not r.permanent.basis:
            problems.append((rule_entry.file, f"{rule_entry.path}.permanent.basis",
                             f"cites no clause of {document} or {NATIONAL} that makes it permanent"))
    # A rule whose consequence no measure implements, or a measure no rule reaches, is a dead letter.
    produced = {c for e in adopted_rules if isinstance(e.item, Rule) for c in _produces(e.item)}
    implemented = {e.item.consequence for e in adopted_measures}
    problems += [
        (e.file, f"{e.path}.consequence", f"no measure implements consequence '{c}' in {top.id}")
        for e in adopted_rules
        if isinstance(e.item, Rule)
        for c in _produces(e.item)
        if c not in implemented
    ]
    problems += [
        (e.file, f"{e.path}.consequence", f"no rule produces consequence '{e.item.consequence}' in {top.id}")
        for e in adopted_measures
        if e.item.consequence not in produced
    ]
    own_settings: dict[str, _Model] = {}
    for key, value in settings.items():
        mine, errs = _own_setting(value, document, top_rel, key)
        problems += errs
        if mine is not None:
            own_settings[key] = mine
    if problems:
        raise PolicyError.from_problems(problems)
    # Before the jurisdiction's own document is issued, its records follow the national procedure, with the
    # national clauses only (a local clause cannot govern a day before the document exists).
    national = {key: value.model_copy(update={"basis": basis}) for key, value in inherited.items()
                if (basis := tuple(b for b in value.basis if b.document == NATIONAL))}  # type: ignore[attr-defined]

    lineage = tuple(f"{pf.id}-{pf.version}" for _, pf in reversed(chain))
    issued: dict[str, date] = {pf.document: pf.issued for _, pf in chain}
    dated = adopted_rules + adopted_measures
    boundaries = sorted(
        {e.item.effective_from for e in dated}
        | {e.item.effective_to for e in dated if e.item.effective_to is not None}
        | set(issued.values())
    )

    def frozen(kind: str) -> Mapping[str, Any]:
        return MappingProxyType({k: v for k, (v, _) in sorted(vocab[kind].items())})

    def optional(key: str, cls: type[S]) -> S | None:
        value = own_settings.get(key)
        return None if value is None else _as(value, cls)

    return Policy(
        id=top.id,
        name=top.name,
        version="+".join((top.version, *lineage[1:])),
        document=document,
        title=top.title,
        issued=top.issued,
        lineage=lineage,
        objection=_as(own_settings["objection"], ObjectionPolicy),
        repair=_as(own_settings["repair"], RepairPolicy),
        green_channel=_as(own_settings["green_channel"], GreenChannelPolicy),
        punishment_period=_as(own_settings["punishment_period"], PunishmentPeriodPolicy),
        objection_remedy=optional("objection_remedy", ObjectionRemedyPolicy),
        objection_feedback=optional("objection_feedback", NoticePolicy),
        list_exit_announcement=optional("list_exit_announcement", NoticePolicy),
        removed=tuple(top.removes),
        categories=frozen("categories"),
        matters=frozen("matters"),
        departments=frozen("departments"),
        _layers=tuple(layers),
        _boundaries=tuple(boundaries),
        _issued=MappingProxyType(issued),
        _national=MappingProxyType(national) if len(chain) > 1 else None,
    )


def _layer_of(file: str, chain: list[tuple[str, _PolicyFile]]) -> str:
    """The policy file a catalogue file belongs to (the one naming it), or the file itself."""
    for rel, pf in chain:
        if file == rel or file in pf.catalogue:
            return rel
    return file


def _as(value: _Model, cls: type[S]) -> S:
    assert isinstance(value, cls)
    return value


def _produces(rule: Rule) -> tuple[str, ...]:
    return (rule.consequence, rule.aftercare.consequence) if rule.aftercare else (rule.consequence,)


def _data_root() -> Traversable:
    return resources.files("graph_credit.policy").joinpath("data")


def available_jurisdictions(root: Path | Traversable | None = None) -> list[str]:
    """``default`` followed by every jurisdiction overlay, alphabetically."""
    return list(_packaged_jurisdictions()) if root is None else _jurisdictions_in(root)


@functools.cache
def _packaged_jurisdictions() -> tuple[str, ...]:
    # The package's data does not change while it runs (load_policy is cached alike); listing it cost
    # about 0.5 ms on every record written.
    return tuple(_jurisdictions_in(_data_root()))


def _jurisdictions_in(base: Path | Traversable) -> list[str]:
    folder = base.joinpath("jurisdictions")
    names = (
        sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
        if folder.is_dir()
        else []
    )
    return ["default", *names]


@functools.cache
def load_policy(jurisdiction: str = "default") -> Policy:
    """The packaged policy for ``jurisdiction``, loaded once per process."""
    return load_policy_from(_data_root(), jurisdiction)
