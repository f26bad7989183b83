"""The CJK font shipped with the package (a subset of Noto Sans CJK SC under the SIL OFL 1.1, see
OFL.txt and scripts/subset_cjk_font.py), so pictures and the workbench page draw Chinese names on
a machine that has no CJK font installed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["CJK_FAMILY", "cjk_font_file"]

CJK_FAMILY = "Graph Credit Sans CJK"


def cjk_font_file() -> Path:
    # matplotlib's font manager takes a path: an installed package is a directory, so as_file hands back the
    # file where it is (it copies only out of a zip, which this package is never installed as).
    with resources.as_file(resources.files("graph_credit.fonts").joinpath("GraphCreditSansCJK-Regular.otf")) as path:
        return path
