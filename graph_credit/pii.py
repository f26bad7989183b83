"""Personal data typed into free text: found, and masked, in one place.

Departments reference persons through structured fields (a record's ``responsible``, a subject), which
are pseudonymised and whose reads are audited. Free text (a record's ``basis`` and ``document_no``, an
event's ``detail``, feedback reasons, notes) is copied from decision documents and often carries the
same data in clear. ``find`` detects it:

* resident ID numbers, 18-digit (valid check digit, birth date and place) and old 15-digit ones (valid
  birth date and place), in ASCII or full-width digits, with spaces or hyphens anywhere inside;
* mainland mobile numbers (with or without +86, spaces or hyphens inside);
* names: the names of persons the text is about (``names``, e.g. the record's responsible persons),
  and a common surname with one or two more characters right after a cue word (当事人, 法定代表人...).

``mask`` replaces each finding with its display form (ID numbers as ``110***********002X``, names
as ``张*``). The API and the importer mask free text on the way in, so the clear text is never stored
(README, "Personal data in free text"); reads mask again for the public role and audit what they show
(``api.deps.respond``), for rows written before; ``LogFilter`` masks every log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from stdnum.cn import ric

__all__ = ["FREE_TEXT_FIELDS", "Finding", "LogFilter", "find", "free_text_findings", "mask", "mask_numbers",
           "person_ids"]

# Fields that hold text typed by a person, wherever they occur in a stored row or a response.
FREE_TEXT_FIELDS = frozenset({"basis", "document_no", "detail", "reason", "note", "label"})

_FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ－\u3000", "0123456789Xx- ")  # one character for one
_SEP = r"[ \-]?"  # after translation: a space or hyphen between any two digits
_ID18 = re.compile(rf"(?<![0-9A-Za-z])(?:\d{_SEP}){{17}}[0-9Xx](?![0-9A-Za-z])")
_ID15 = re.compile(rf"(?<![0-9A-Za-z])(?:\d{_SEP}){{14}}\d(?![0-9A-Za-z])")
_PHONE = re.compile(rf"(?<![0-9A-Za-z+])(?:\+?86{_SEP})?1[3-9]\d(?:{_SEP}\d){{8}}(?![0-9A-Za-z])")
# Cue words after which a decision document names a person, and the common surnames a name starts with.
_CUES = ("当事人", "法定代表人", "法人代表", "负责人", "责任人", "经营者", "投资人", "股东", "董事长", "董事",
         "监事", "经理", "申请人", "异议人", "被处罚人", "联系人", "姓名", "户主")
_SURNAMES = ("欧阳|司马|上官|诸葛|东方|皇甫|慕容|令狐|"
             "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
             "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
             "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
             "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉"
             "缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑"
             "郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_COMPOUND, _SINGLE = _SURNAMES.rsplit("|", 1)
# A given name ends where a word that follows names in these documents begins (提出, 于, 因...).
_STOP = "提于在因的等系已未对向称同与和及为是将被自经所现不无有即均也则并"
_NAME = re.compile(
    rf"(?:{'|'.join(_CUES)})[：:\s]*(?:为|是)?[：:\s]*"
    rf"((?:{_COMPOUND}|[{_SINGLE}])[^\W\d_{_STOP}a-zA-Z][^\W\d_{_STOP}a-zA-Z]?)")

_CUE = re.compile("|".join(_CUES))  # a cheap test before the name pattern
_ELEVEN_DIGITS = re.compile(rf"(?:\d{_SEP}){{10}}\d")  # the shortest number looked for (a phone number)

Kind = Literal["id_number", "phone", "name"]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    start: int
    end: int
    value: str  # an ID number in its 18-character form, a phone number's digits, a name

    @property
    def masked(self) -> str:
        if self.kind == "name":
            return self.value[0] + "*" * (len(self.value) - 1)
        if self.kind == "phone":
            return self.value[-11:-8] + "****" + self.value[-4:]
        return self.value[:3] + "*" * 11 + self.value[-4:]


def _id_number(digits: str) -> str | None:
    """The 18-character ID number that ``digits`` (18, or old-format 15) validly is, else None."""
    if len(digits) == 18:
        value = digits.upper()
        return value if ric.is_valid(value) else None
    if len(digits) == 15 and digits.isdigit():
        body = digits[:6] + "19" + digits[6:]  # the 15-digit form has a two-digit year and no check digit
        value = body + ric.calc_check_digit(body + "0")
        return value if ric.is_valid(value) else None
    return None


def _name_hits(text: str, names: Iterable[str], cue_names: bool) -> Iterator[tuple[int, int, str]]:
    for name in {n for n in names if n and len(n) >= 2}:
        start = text.find(name)
        while start >= 0:
            yield start, start + len(name), name
            start = text.find(name, start + len(name))
    if cue_names and _CUE.search(text):
        for m in _NAME.finditer(text):
            yield m.start(1), m.end(1), m.group(1)


def find(text: str, names: Iterable[str] = (), cue_names: bool = True) -> list[Finding]:
    """Personal data in ``text``, in order, not overlapping (ID numbers first, then phones, then names:
    those in ``names``, and with ``cue_names`` a surname and a given name after a cue word)."""
    if not text:
        return []
    plain = text.translate(_FULL_WIDTH)
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    def add(kind: Kind, start: int, end: int, value: str) -> None:
        found.append(Finding(kind, start, end, value))
        taken.append((start, end))

    if _ELEVEN_DIGITS.search(plain):
        for pattern in (_ID18, _ID15):
            pos = 0
            while m := pattern.search(plain, pos):
                value = _id_number(re.sub(r"[ \-]", "", m.group()))
                if value is not None and free(m.start(), m.end()):
                    add("id_number", m.start(), m.end(), value)
                    pos = m.end()
                else:  # digits run together with separators: an ID number may start inside the match
                    pos = m.start() + 1
        for m in _PHONE.finditer(plain):
            if free(m.start(), m.end()):
                add("phone", m.start(), m.end(), re.sub(r"[ \-+]", "", m.group()))
    for start, end, name in _name_hits(text, names, cue_names):
        if free(start, end):
            add("name", start, end, name)
    return sorted(found, key=lambda f: f.start)


def mask(text: str, names: Iterable[str] = (), cue_names: bool = True) -> str:
    """``text`` with every finding replaced by its display form."""
    findings = find(text, names, cue_names)
    if not findings:
        return text
    out, last = [], 0
    for f in findings:
        out += [text[last:f.start], f.masked]
        last = f.end
    out.append(text[last:])
    return "".join(out)


def mask_numbers(text: str) -> str:
    """``text`` with ID and phone numbers masked (for any string, not only free text: no name cues)."""
    return mask(text, cue_names=False)


def _strings_under(obj: Any, fields: frozenset[str], inside: bool = False) -> Iterator[str]:
    if isinstance(obj, str):
        if inside:
            yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings_under(v, fields, inside or k in fields)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _strings_under(v, fields, inside)


def free_text_findings(obj: Any) -> list[Finding]:
    """Findings in the free-text fields anywhere in a JSON-like value (names by cue word only)."""
    return [f for s in _strings_under(obj, FREE_TEXT_FIELDS) for f in find(s)]


def person_ids(findings: Iterable[Finding]) -> list[str]:
    """The ID numbers among findings (18-character form), for the audit of a read that shows them."""
    return sorted({f.value for f in findings if f.kind == "id_number"})


class LogFilter(logging.Filter):
    """Masks ID and phone numbers in every log record: its message, arguments and traceback.

    Arguments are masked one by one (uvicorn's access formatter unpacks them); a percent-encoded one
    (a path or query string) is masked in its decoded form."""

    @staticmethod
    def _clean(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if "%" in value:
            decoded = unquote(value)
            masked = mask_numbers(decoded)
            if masked != decoded:
                return masked
        return mask_numbers(value)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_numbers(logging.Formatter().formatException(record.exc_info))
        return True
