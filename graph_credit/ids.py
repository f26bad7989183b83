"""Subject identifiers: Unified Social Credit Codes and pseudonymised resident ID numbers.

Organisations are keyed by the 18-character USCC (GB 32100-2015). Persons are keyed by a keyed
pseudonym (HMAC-SHA256) of their resident ID number (GB 11643); the clear number is never stored,
only a masked display form.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import warnings

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from .errors import DomainError

__all__ = [
    "InvalidIdentifier",
    "is_person_key",
    "mask_id_number",
    "normalise_id_number",
    "normalise_uscc",
    "person_key",
    "subject_key",
]

PERSON_PREFIX = "p"
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
        "InvalidComponent": "contains an invalid component (region or birth date)",
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


def normalise_id_number(value: str, field: str = "id_number") -> str:
    """Validate a resident ID number (18 characters, may end in X) and return it compact."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier(field, str(value), "missing")
    try:
        return str(ric.validate(value))
    except ValidationError as exc:
        raise InvalidIdentifier(field, value, _reason(exc)) from None


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
    return len(key) == 25 and key.startswith(PERSON_PREFIX)


def subject_key(value: str, field: str = "subject") -> str:
    """Resolve user input (a USCC, a resident ID number or an existing person key) to a graph key."""
    v = value.strip()
    if is_person_key(v):
        return v
    if len(v) == 18 and ric.is_valid(v):
        return person_key(v, field)
    return normalise_uscc(v, field)
