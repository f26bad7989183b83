"""Authentication (API keys, sent as ``X-API-Key`` or ``Authorization: Bearer``), roles, masking, audit.

Keys come from ``GRAPH_CREDIT_API_KEYS`` (a JSON object ``{key: {"role": ..., "department": ...,
"name": ...}}``, where a key may be given as ``"sha256:<hex digest>"`` so the clear key need not be in the
environment) or, in demo mode only, from the fixed demo keys listed in the README. Only SHA-256 digests
are kept: a presented key is hashed and looked up by its digest, so no comparison runs over the secret.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from graph_credit import pii
from graph_credit.model import stable_id

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


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_HASHED = re.compile(r"sha256:([0-9a-f]{64})")


def load_keys(demo: bool) -> dict[str, Principal]:
    """Principals by the SHA-256 digest of their key (the clear keys are not kept)."""
    raw = os.environ.get("GRAPH_CREDIT_API_KEYS")
    table: dict[str, dict[str, str]] = json.loads(raw) if raw else (DEMO_KEYS if demo else {})
    out = {}
    for key, spec in table.items():
        if spec.get("role") not in ROLES:
            raise ValueError(f"GRAPH_CREDIT_API_KEYS: key {key[:4]}...: role must be one of {', '.join(ROLES)}")
        digest = m.group(1) if (m := _HASHED.fullmatch(key)) else key_digest(key)
        # The key id is derived from the digest, so a key gets the same id however it is configured.
        out[digest] = Principal(stable_id("key", digest), spec["role"], spec.get("name", ""), spec.get("department"))
    return out


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="The API key of a role (public, department, investigator, admin)")
_bearer = HTTPBearer(auto_error=False, description="The same API key, sent as `Authorization: Bearer <key>`")


def client_address(request: Request) -> str:
    """The client's address as the server saw it. Forwarded headers are applied before this, and only
    for peers listed in ``trusted_proxies`` (api.app.Settings), so a client cannot choose its address."""
    return request.client.host if request.client else "unknown"


def authenticate(request: Request, key: str | None) -> Principal:
    found: Principal | None = request.app.state.keys.get(key_digest(key)) if key else None
    if found is None:
        # Failed attempts are limited per client address, so keys cannot be guessed at speed.
        if not request.app.state.auth_limiter.allow(f"auth-failure:{client_address(request)}"):
            raise HTTPException(429, {"code": "rate_limited", "message": "too many failed authentications"},
                                headers={"Retry-After": "60"})
        message = "unknown API key" if key else "send an API key (X-API-Key or Bearer)"
        raise HTTPException(401, {"code": "unauthenticated", "message": message})
    limiter: RateLimiter = request.app.state.limiter
    if found.role == "public" and not limiter.allow(found.key_id):
        raise HTTPException(429, {"code": "rate_limited", "message": "too many requests; slow down"},
                            headers={"Retry-After": "60"})
    return found


# The dependencies below are coroutines: their work (a hash and a dictionary look-up) is too small to be
# worth the hand-off to the thread pool FastAPI gives a plain function, which costs more than the work.
async def principal(
    request: Request,
    api_key: str | None = Depends(_api_key),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    return authenticate(request, api_key or (bearer.credentials if bearer else None))


async def optional_principal(
    request: Request,
    api_key: str | None = Depends(_api_key),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal | None:
    """None without a key; a key that is sent must be valid."""
    key = api_key or (bearer.credentials if bearer else None)
    return authenticate(request, key) if key else None


def require(*roles: str):
    async def dep(p: Principal = Depends(principal)) -> Principal:
        if not p.at_least(*roles):
            raise HTTPException(403, {"code": "forbidden", "message": f"needs role {' or '.join(roles)}"})
        return p

    return dep


class RateLimiter:
    """Sliding one-minute window per key: requests of the public role, failed authentications."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()  # check-and-count is one step, whichever thread counts

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


class CostLimiter:
    """Per-key quota of cost units in a sliding one-minute window, the quota set per role.

    An operation costs the subjects it starts from times (depth + 1), times a weight for drawing
    pictures (``charge``): a batch of 1,000 checks at depth 3 costs 4,000. Each key's units in the
    window are kept as a running total, so a request costs the same however many are in the window."""

    def __init__(self, per_minute: dict[str, int]) -> None:
        self.per_minute = per_minute
        self.spent: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self.used: dict[str, int] = defaultdict(int)  # the sum of each key's window
        self._lock = threading.Lock()

    def take(self, who: Principal, cost: int) -> float:
        """0 if the key may spend ``cost`` now (and it is counted), else seconds to wait."""
        limit = self.per_minute.get(who.role, 0)
        now = time.monotonic()
        with self._lock:
            q = self.spent[who.key_id]
            used = self.used[who.key_id]
            while q and now - q[0][0] > 60:
                used -= q.popleft()[1]
            self.used[who.key_id] = used
            if used + cost <= limit:
                q.append((now, cost))
                self.used[who.key_id] = used + cost
                return 0.0
            if cost > limit:
                return 60.0
            freed = used
            for at, c in q:  # the time at which enough of the window has expired
                freed -= c
                if freed + cost <= limit:
                    return max(at + 60 - now, 0.001)
            return 60.0


def charge(request: Request, who: Principal, subjects: int, depth: int, weight: int = 1) -> None:
    """Count an operation's cost against the key's quota, or refuse it with 429 and Retry-After."""
    cost = max(subjects, 1) * (depth + 1) * weight
    limiter: CostLimiter = request.app.state.cost_limiter
    wait = limiter.take(who, cost)
    if wait:
        limit = limiter.per_minute.get(who.role, 0)
        message = (f"this request costs {cost} units, more than the {limit} per minute allowed to role "
                   f"{who.role!r}: ask for fewer subjects or less depth" if cost > limit else
                   f"cost quota of {limit} units per minute used up; retry in {math.ceil(wait)} s")
        raise HTTPException(429, {"code": "cost_limited", "message": message},
                            headers={"Retry-After": str(math.ceil(wait))})


def header_text(value: str) -> str:
    """A header value as the client wrote it: HTTP headers arrive as bytes that the server decodes as
    Latin-1, so UTF-8 text (调查) arrives garbled; percent-encoded text (%E8%B0%83%E6%9F%A5) is accepted too."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):  # already text, or Latin-1 indeed
        pass
    if re.search(r"%[0-9A-Fa-f]{2}", value):
        try:
            value = unquote(value, errors="strict")
        except UnicodeDecodeError:  # not percent-encoded UTF-8: taken as written
            pass
    return value


_NAME = re.compile(r"^(.)(.*)$", re.S)
def mask_for_public(obj: Any, masked: dict[str, str], free_text: bool = False) -> Any:
    """Replace person keys (values and object keys) with masked ID numbers, person names with their first
    character, and personal data written into text (graph_credit.pii) with its display form: ID and
    phone numbers in every string, names in free-text fields."""
    if isinstance(obj, str):
        if obj in masked:
            return masked[obj]
        return pii.mask(obj) if free_text else pii.mask_numbers(obj)
    if isinstance(obj, list | tuple):
        return [mask_for_public(v, masked, free_text) for v in obj]
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            key = masked.get(k, k) if isinstance(k, str) else k
            while key in out:  # two persons whose masked ID numbers coincide: keep both entries
                key = f"{key}'"
            out[key] = mask_for_public(v, masked, free_text or k in pii.FREE_TEXT_FIELDS)
        if out.get("kind") == "person" and isinstance(out.get("name"), str):
            out["name"] = _NAME.sub(lambda m: m.group(1) + "*" * len(m.group(2)), out["name"])
        return out
    return obj


def audit_entry(who: Principal, purpose: str, what: str, persons: set[str], free_text: int = 0) -> dict[str, Any]:
    """The audit log's entry for a read of personal data: who, when, why and which persons (查询使用登记);
    ``free_text`` counts the items of personal data the read showed in free text (graph_credit.pii)."""
    now = datetime.now(UTC).isoformat()
    entry: dict[str, Any] = {"id": stable_id(who.key_id, now, what, time.perf_counter_ns()), "at": now, "who": who.name,
             "key_id": who.key_id, "role": who.role, "department": who.department, "purpose": purpose,
             "what": what, "persons": sorted(persons)}
    if free_text:
        entry["free_text"] = free_text
    return entry
