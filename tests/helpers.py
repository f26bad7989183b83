"""Valid identifiers for tests: Unified Social Credit Codes and resident ID numbers."""

from __future__ import annotations

from datetime import date, timedelta

from stdnum.cn import ric, uscc


def make_uscc(n: int) -> str:
    """The ``n``-th valid USCC (enterprise, Beijing Chaoyang), 0 <= n < 10**9."""
    body = f"91110105{n:09d}"
    return body + uscc.calc_check_digit(body + "0")


def make_id_number(n: int) -> str:
    """The ``n``-th valid resident ID number (Beijing Chaoyang, born from 1970-01-01 on)."""
    born = date(1970, 1, 1) + timedelta(days=n // 1000)
    body = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


# Request headers of the demo keys (the API's `--demo` keys), with a purpose where personal data may be read.
PURPOSE = "test"
PUBLIC = {"X-API-Key": "demo-public"}
MARKET = {"X-API-Key": "demo-market", "X-Purpose": PURPOSE}
FINANCE = {"X-API-Key": "demo-finance", "X-Purpose": PURPOSE}
INVESTIGATOR = {"Authorization": "Bearer demo-investigator", "X-Purpose": PURPOSE}  # the other way to send a key
ADMIN = {"X-API-Key": "demo-admin", "X-Purpose": PURPOSE}
