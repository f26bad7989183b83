"""Valid identifiers for tests: Unified Social Credit Codes and resident ID numbers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import date, timedelta

import httpx
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


def wait_until_healthy(base: str, proc: subprocess.Popen[bytes], seconds: float, log: Callable[[], str]) -> None:
    """Poll ``base``/v1/health until the server answers 200; fail with ``log()`` if it exits, or on timeout."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log()
        assert time.monotonic() < deadline, f"server did not start within {seconds:g} s"
        time.sleep(0.2)
