"""The CJK font shipped with the package (a subset of Noto Sans CJK SC under the SIL OFL 1.1, see
OFL.txt and scripts/subset_cjk_font.py), so pictures and the workbench page draw Chinese names on
a machine that has no CJK font installed."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CJK_FAMILY", "cjk_font_file"]

CJK_FAMILY = "Graph Credit Sans CJK"


def cjk_font_file() -> Path:
    return Path(__file__).with_name("GraphCreditSansCJK-Regular.otf")
