"""The one base class of errors that are the caller's to fix.

A ``DomainError`` is raised for input the domain refuses (an invalid identifier, an unknown matter, an
event the record's state does not allow, a webhook address that may not be called...). Its message
starts with the field at fault: ``"field: reason"``. The API answers these with a 4xx naming the field;
any other exception, a plain ``ValueError`` included, is a bug and answers 500.
"""

from __future__ import annotations

__all__ = ["DomainError"]


class DomainError(ValueError):
    """Input or a request the domain refuses; the message is ``"field: reason"``."""
