"""Subject identifiers: Unified Social Credit Codes and pseudonymised resident ID numbers.

Organisations are keyed by the 18-character USCC (GB 32100-2015). Persons are keyed by a keyed
pseudonym (HMAC-SHA256) of their resident ID number (GB 11643); the clear number is never stored,
only a masked display form. ``normalise_id_number`` is the one validator of ID numbers: the API calls
it, and the import's vectorised check accepts exactly what it accepts and takes its reasons.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import warnings
from datetime import date
from typing import Any

import numpy as np
from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from .errors import DomainError

__all__ = [
    "InvalidIdentifier",
    "birth_date",
    "id_number_problem",
    "is_person_key",
    "looks_like_id_number",
    "mask_id_number",
    "normalise_id_number",
    "normalise_uscc",
    "person_key",
    "region_code_exists",
    "subject_key",
]

PERSON_PREFIX = "p"

# The check-character schemes for bulk work (the importer's vectorised checks, the generator), where stdnum
# checks one number at a time. The alphabet is stdnum's own; tests check the weights against stdnum.
USCC_ALPHABET: str = uscc._alphabet  # GB 32100: digits and capitals without I, O, Z, S, V
USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
RIC_CHECKS = "0123456789X"  # GB 11643
RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_PERSON_KEY = re.compile(r"p[0-9a-f]{24}")
_DEMO_KEY = b"graph-credit-demo-pseudonym-key"
_warned = False


class InvalidIdentifier(DomainError):
    """An identifier failed validation; ``field`` names the input field, ``reason`` says why."""

    def __init__(self, field: str, value: str, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _reason(exc: ValidationError) -> str:
    name = type(exc).__name__
    return {
        "InvalidChecksum": "wrong check character",
        "InvalidLength": "must be 18 characters",
        "InvalidFormat": "contains characters not allowed here",
        "InvalidComponent": "contains an invalid component",
    }.get(name, str(exc))


def normalise_uscc(value: str, field: str = "code") -> str:
    """Validate a Unified Social Credit Code and return it upper-cased without spaces.

    >>> normalise_uscc("91110000802100433b")
    '91110000802100433B'
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier(field, str(value), "missing")
    try:
        return str(uscc.validate(value))
    except ValidationError as exc:
        raise InvalidIdentifier(field, value, _reason(exc)) from None


# The parts of an ID number (GB 11643 4.2): (first, last) character positions, 1-based.
_PARTS = (("region code", 1, 6), ("birth date", 7, 14), ("sequence", 15, 17), ("check character", 18, 18))


@functools.lru_cache(maxsize=8192)
def region_code_exists(code: str) -> bool:
    """Whether ``code`` is, or once was, a county-level code of GB/T 2260 (python-stdnum's table).

    The address code of an ID number is the county of registered residence when the number was
    issued, not the place of birth (GB 11643 4.3.1): a county created after the birth year, such as
    320281 江阴市 (1989) for a person born in 1965, is a valid address code. So the code must exist at
    some time, not at the birth date (python-stdnum's ``get_birth_place`` requires the latter)."""
    return any("county" in props for _, props in numdb.get("cn/loc").info(code))


def id_number_problem(compact: str, today: date | None = None) -> str | None:
    """Why a compacted resident ID number is invalid, naming the part at fault; None when valid.

    >>> id_number_problem("11010519491231002X") is None
    True
    >>> id_number_problem("110105194913310021")
    'birth date: not a calendar date'
    """
    if len(compact) != 18:
        return f"length: must be 18 characters, not {len(compact)}"
    for part, first, last in _PARTS:
        for i in range(first - 1, last):
            ch = compact[i]
            if not ("0" <= ch <= "9" or (part == "check character" and ch == "X")):
                allowed = "a digit or X" if part == "check character" else "a digit"
                return f"characters: character {i + 1} ({part}) must be {allowed}"
    if not region_code_exists(compact[:6]):
        return "region code: not an administrative division code of GB/T 2260"
    try:
        born = date(int(compact[6:10]), int(compact[10:12]), int(compact[12:14]))
    except ValueError:
        return "birth date: not a calendar date"
    if born > (today or date.today()):
        return "birth date: in the future"
    if compact[17] != ric.calc_check_digit(compact):
        return "check character: does not match the first 17 characters"
    return None


def normalise_id_number(value: str, field: str = "id_number") -> str:
    """Validate a resident ID number (18 characters, may end in X) and return it compact
    (python-stdnum's ``compact``: upper case, full-width digits read as digits)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier(field, str(value), "missing")
    clear = str(ric.compact(value))
    problem = id_number_problem(clear)
    if problem is not None:
        raise InvalidIdentifier(field, value, problem)
    return clear


def birth_date(value: str) -> date | None:
    """The birth date in ``value`` if it is a valid resident ID number, else None."""
    try:
        clear = normalise_id_number(value)
    except InvalidIdentifier:
        return None
    return date(int(clear[6:10]), int(clear[10:12]), int(clear[12:14]))


def looks_like_id_number(value: str) -> bool:
    """Whether a value that is neither a valid ID number nor a valid USCC was meant as an ID number
    (18 characters, a 6-digit region code, a birth year 18xx-20xx): then its error names the part of
    the ID number at fault rather than the USCC's."""
    v = str(ric.compact(value))
    return len(v) == 18 and v[:10].isascii() and v[:10].isdigit() and v[6:8] in ("18", "19", "20")


def _key() -> bytes:
    global _warned
    env = os.environ.get("GRAPH_CREDIT_PSEUDONYM_KEY")
    if env:
        return env.encode()
    if not _warned:
        warnings.warn(
            "GRAPH_CREDIT_PSEUDONYM_KEY is not set: using the public demo key; set a secret key in production",
            stacklevel=3,
        )
        _warned = True
    return _DEMO_KEY


def person_key(id_number: str, field: str = "id_number") -> str:
    """The graph key of a person: a keyed pseudonym of the validated resident ID number."""
    clear = normalise_id_number(id_number, field)
    digest = hmac.new(_key(), clear.encode(), hashlib.sha256).hexdigest()
    return PERSON_PREFIX + digest[:24]


def mask_id_number(id_number: str) -> str:
    """Display form: the first three and last four characters, the rest masked.

    >>> mask_id_number("11010519491231002X")
    '110***********002X'
    """
    clear = normalise_id_number(id_number)
    return clear[:3] + "*" * 11 + clear[-4:]


def is_person_key(key: str) -> bool:
    """``p`` and 24 hex digits, as ``person_key`` makes them (a consequence name such as
    ``public_institution_lr_bar`` is 25 characters starting with ``p`` too)."""
    return len(key) == 25 and key.startswith(PERSON_PREFIX) and _PERSON_KEY.fullmatch(key) is not None


def persons_in(obj: Any, found: set[str] | None = None) -> set[str]:
    """Every person key anywhere in a JSON-like value (the personal data an answer or a delivery carries)."""
    found = set() if found is None else found
    if isinstance(obj, str):
        if is_person_key(obj):
            found.add(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            persons_in(v, found)
    elif isinstance(obj, list | tuple):
        for v in obj:
            persons_in(v, found)
    return found


def subject_key(value: str, field: str = "subject") -> str:
    """Resolve user input (a USCC, a resident ID number or an existing person key) to a graph key."""
    v = value.strip()
    if is_person_key(v):
        return v
    if len(v) == 25 and v.startswith(PERSON_PREFIX):
        raise InvalidIdentifier(field, v, "not a USCC, a resident ID number or a person key")
    try:
        return person_key(v, field)
    except InvalidIdentifier as as_id:
        try:
            return normalise_uscc(v, field)
        except InvalidIdentifier as as_uscc:
            raise (as_id if looks_like_id_number(v) else as_uscc) from None
