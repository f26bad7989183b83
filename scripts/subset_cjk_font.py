"""Rebuild graph_credit/fonts/GraphCreditSansCJK-Regular.otf: a subset of Noto Sans CJK SC (SIL OFL 1.1).

Run once by a maintainer, never at install or run time (the .otf is committed as package data):

    apt-get install -y fonts-noto-cjk      # Debian's copy of Noto Sans CJK 2.004
    .venv/bin/python scripts/subset_cjk_font.py

Kept: ASCII, Latin-1, general and CJK punctuation, full-width forms, the 3,755 common hanzi of GB 2312
level 1, and every other Han character written anywhere in graph_credit/ and api/ (the synthetic names
generator's vocabulary, policy titles and legal citations, role names). The family is renamed
"Graph Credit Sans CJK" so that it never shadows a full Noto Sans CJK installed on the machine (the OFL
reserves the name "Source" only; the subset keeps Adobe's and Google's copyright notices).
"""

from __future__ import annotations

import re
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SC = 2  # the collection's faces: JP, KR, SC, TC, HK, then the Mono ones
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "graph_credit" / "fonts" / "GraphCreditSansCJK-Regular.otf"
FAMILY = "Graph Credit Sans CJK"
HAN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def gb2312_level1() -> set[str]:
    chars = set()
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.add(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:  # the unused end of row 0xD7
                pass
    return chars


def project_han() -> set[str]:
    found: set[str] = set()
    for folder in ("graph_credit", "api"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".yaml", ".html", ".js") and path.is_file():
                found |= set(HAN.findall(path.read_text(encoding="utf-8")))
    return found


def main() -> None:
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x2010, 0x2027), (0x2030, 0x203B), (0x2190, 0x2193), (0x3000, 0x303F),
              (0xFF01, 0xFF5E)]
    codepoints = {c for lo, hi in ranges for c in range(lo, hi + 1)}
    codepoints |= {ord(c) for c in gb2312_level1() | project_han()}
    font = TTCollection(str(SOURCE)).fonts[SC]
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(codepoints))
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):  # localised family names would still say Noto Sans CJK SC
        if record.nameID in (1, 3, 4, 6, 16, 17, 18) and record.langID != 0x409:
            names.removeNames(nameID=record.nameID, platformID=record.platformID, langID=record.langID)
    names.setName(FAMILY, 1, 3, 1, 0x409)
    names.setName("Regular", 2, 3, 1, 0x409)
    names.setName(f"{FAMILY} Regular (subset of Noto Sans CJK SC 2.004)", 3, 3, 1, 0x409)
    names.setName(f"{FAMILY} Regular", 4, 3, 1, 0x409)
    names.setName("GraphCreditSansCJK-Regular", 6, 3, 1, 0x409)
    names.setName(FAMILY, 16, 3, 1, 0x409)
    names.setName("Regular", 17, 3, 1, 0x409)
    font["CFF "].cff.fontNames = ["GraphCreditSansCJK-Regular"]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(OUT))
    print(f"{OUT.relative_to(ROOT)}: {len(codepoints)} code points, {OUT.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
