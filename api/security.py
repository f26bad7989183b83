"""Authentication (API keys, sent as ``X-API-Key`` or ``Authorization: Bearer``), roles, masking, audit.

Keys come from ``GRAPH_CREDIT_API_KEYS`` (a JSON object ``{key: {"role": ..., "department": ...,
"name": ...}}``) or, in demo mode only, from the fixed demo keys listed in the README.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from stdnum.cn import ric, uscc

from graph_credit.ids import is_person_key
from graph_credit.model import stable_id
from graph_credit.store.base import Store

ROLES = ("public", "department", "investigator", "admin")

DEMO_KEYS: dict[str, dict[str, str]] = {
    "demo-public": {"role": "public", "name": "public portal"},
    "demo-market": {"role": "department", "department": "market_regulation", "name": "市场监管局"},
    "demo-finance": {"role": "department", "department": "finance", "name": "财政局"},
    "demo-investigator": {"role": "investigator", "name": "credit office investigator"},
    "demo-admin": {"role": "admin", "name": "administrator"},
}


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str
    name: str
    department: str | None = None

    def at_least(self, *roles: str) -> bool:
        return self.role in roles or self.role == "admin"


def load_keys(demo: bool) -> dict[str, Principal]:
    raw = os.environ.get("GRAPH_CREDIT_API_KEYS")
    table: dict[str, dict[str, str]] = json.loads(raw) if raw else (DEMO_KEYS if demo else {})
    out = {}
    for key, spec in table.items():
        if spec.get("role") not in ROLES:
            raise ValueError(f"GRAPH_CREDIT_API_KEYS: key {key[:4]}...: role must be one of {', '.join(ROLES)}")
        out[key] = Principal(stable_id("key", key), spec["role"], spec.get("name", ""), spec.get("department"))
    return out


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


def principal(
    request: Request,
    api_key: str | None = Depends(_api_key),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    key = api_key or (bearer.credentials if bearer else None)
    found = request.app.state.keys.get(key) if key else None
    if found is None:
        # Failed attempts are limited per client address, so keys cannot be guessed at speed.
        client = request.client.host if request.client else "unknown"
        if not request.app.state.auth_limiter.allow(f"auth-failure:{client}"):
            raise HTTPException(429, {"code": "rate_limited", "message": "too many failed authentications"})
        message = "unknown API key" if key else "send an API key (X-API-Key or Bearer)"
        raise HTTPException(401, {"code": "unauthenticated", "message": message})
    limiter: RateLimiter = request.app.state.limiter
    if found.role == "public" and not limiter.allow(found.key_id):
        raise HTTPException(429, {"code": "rate_limited", "message": "too many requests; slow down"})
    return found


def require(*roles: str):
    def dep(p: Principal = Depends(principal)) -> Principal:
        if not p.at_least(*roles):
            raise HTTPException(403, {"code": "forbidden", "message": f"needs role {' or '.join(roles)}"})
        return p

    return dep


class RateLimiter:
    """Sliding one-minute window per key, for the public role."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()  # dependencies run on a thread pool: check-and-count is one step

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self.hits[key]
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            if len(self.hits) > 10_000:  # forget idle clients (failed-auth entries are keyed by address)
                for k in [k for k, v in self.hits.items() if not v or now - v[-1] > 60]:
                    del self.hits[k]
            return True


_NAME = re.compile(r"^(.)(.*)$", re.S)
_PERSON_KEY = re.compile(r"p[0-9a-f]{24}")  # graph_credit.ids.person_key: "p" and 24 hex digits
# Anything shaped like a resident ID number (ASCII or full-width digits) inside free text.
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z０-９])([0-9０-９]{17}[0-9０-９XxＸｘ])(?![0-9A-Za-z０-９])")


def mask_id_numbers(text: str) -> str:
    """Mask every valid resident ID number written into free text (a basis, a document number, a
    detail): the public role must never see one, wherever a department typed it."""

    if len(text) == 18 and uscc.is_valid(text):  # a whole value that is an organisation's code
        return text

    def hide(m: re.Match[str]) -> str:
        value = m.group(1)
        ascii_value = value.translate(_FULL_WIDTH).upper()
        if not ric.is_valid(ascii_value):
            return value
        return value[:3] + "*" * 11 + value[-4:]

    return _ID_LIKE.sub(hide, text)


_FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789XX")


def persons_in(obj: Any, found: set[str] | None = None) -> set[str]:
    """Every person key anywhere in a JSON-like value."""
    found = set() if found is None else found
    if isinstance(obj, str):
        if is_person_key(obj) and _PERSON_KEY.fullmatch(obj):  # "public_institution_lr_bar" is 25 chars too
            found.add(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            persons_in(v, found)
    elif isinstance(obj, list | tuple):
        for v in obj:
            persons_in(v, found)
    return found


def mask_for_public(obj: Any, masked: dict[str, str]) -> Any:
    """Replace person keys with masked ID numbers and person names with their first character."""
    if isinstance(obj, str):
        return masked[obj] if obj in masked else mask_id_numbers(obj)
    if isinstance(obj, list | tuple):
        return [mask_for_public(v, masked) for v in obj]
    if isinstance(obj, dict):
        out = {k: mask_for_public(v, masked) for k, v in obj.items()}
        if out.get("kind") == "person" and isinstance(out.get("name"), str):
            out["name"] = _NAME.sub(lambda m: m.group(1) + "*" * len(m.group(2)), out["name"])
        return out
    return obj


def audit_read(store: Store, who: Principal, purpose: str, what: str, persons: set[str]) -> None:
    """Log a read of personal data: who, when, why and which persons (查询使用登记)."""
    if not persons:
        return
    now = datetime.now(UTC).isoformat()
    store.append("audit", [{
        "id": stable_id(who.key_id, now, what, time.perf_counter_ns()), "at": now, "who": who.name,
        "key_id": who.key_id, "role": who.role, "department": who.department, "purpose": purpose,
        "what": what, "persons": sorted(persons),
    }])
