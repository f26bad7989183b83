"""The one error type for what the caller must fix.

A ``DomainError`` is raised for input or a request the domain refuses (an invalid identifier, an unknown
matter, an event the record's state does not allow, a subject that is not stored...). It carries what
every interface needs to answer it: ``field``, the input at fault (None when none applies), ``code``
for machines, ``status`` the HTTP status, and ``details`` for anything more (the blocking facts of a
black list conflict). The API answers it with ``status`` and ``{"error": {code, field, message, ...}}``;
the CLI prints one line. Any other exception, a plain ``ValueError`` included, is a bug: 500.
Subclasses only fix ``code`` and ``status`` for a family of refusals.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DomainError"]


class DomainError(ValueError):
    """Input or a request the domain refuses; the message reads ``"field: reason"`` when a field is at fault."""

    code: str = "invalid_value"
    status: int = 422

    def __init__(self, reason: str, *, field: str | None = None, code: str | None = None, status: int | None = None,
                 **details: Any) -> None:
        self.field = field
        self.reason = reason
        self.details = details
        self.code = code or self.code
        self.status = status or self.status
        self.message = f"{field}: {reason}" if field else reason
        super().__init__(self.message)

    def __str__(self) -> str:  # not KeyError's quoted form, for NotFound (a KeyError too)
        return self.message
