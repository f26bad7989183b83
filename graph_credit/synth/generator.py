"""Seeded synthetic data in the import format (``docs/data-format.md``).

``generate(n_orgs, seed)`` returns six pandas DataFrames, one per import file, with the structures
the engine has to handle: ownership chains and pyramids (organisations holding shares in
organisations, a few levels deep), cross-directorships, people with roles in many companies,
nominee hubs (1 per 1,000 organisations, holding about 5% of all roles), role changes over time
(the old edge gets ``valid_to``, the new one starts that day), serious dishonesty records naming
directly responsible persons, judgment defaulters, honours and red/black list entries.

Everything is vectorised numpy/pyarrow. Identity (USCC, organisation type, region, registration
date; resident ID numbers) is a pure function of ``(seed, global index)``, so chunks can refer to
organisations and persons of earlier chunks without keeping them in memory: that is what makes
10^7 organisations feasible with ``write_synthetic(..., chunk_orgs=10**6)``. Every other attribute
comes from a ``numpy.random.Generator`` seeded with ``(seed, chunk number)``, so the same seed and
chunk size give the same frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..io.importer import COLUMNS, KINDS, NUMERIC

__all__ = ["COLUMNS", "KINDS", "SyntheticData", "generate", "generate_chunks", "write_synthetic"]


EPOCH = date(1970, 1, 1)
OPEN = np.iinfo(np.int64).max  # an open interval end in day arithmetic
ROLES = (
    "LEGAL_REPRESENTATIVE",
    "PRINCIPAL",
    "SENIOR_MANAGER",
    "DIRECTOR",
    "SUPERVISOR",
    "SHAREHOLDER",
    "PRACTITIONER",
)
LR, PRINCIPAL, SM, DIRECTOR, SUPERVISOR, SHAREHOLDER, PRACTITIONER = range(7)
ORG_TYPES = ("enterprise", "individual_business", "public_institution", "social_organisation")
ENT, IND, PUB, SOC = range(4)
_TYPE_P = np.array([0.80, 0.10, 0.05, 0.05])

# Organisation regions: code, full place name (for departments), short name (for company names),
# weight, jurisdiction of the policy file its records are decided under.
REGIONS = (
    ("320281", "江阴市", "江阴", 0.20, "jiangyin"),
    ("141181", "孝义市", "孝义", 0.12, "xiaoyi"),
    ("620702", "张掖市甘州区", "甘州", 0.10, "ganzhou"),
    ("370102", "济南市历下区", "济南", 0.09, "shandong"),
    ("370202", "青岛市市南区", "青岛", 0.08, "shandong"),
    ("370602", "烟台市芝罘区", "烟台", 0.06, "shandong"),
    ("371402", "德州市德城区", "德州", 0.05, "shandong"),
    ("540102", "拉萨市城关区", "拉萨", 0.08, "tibet"),
    ("540121", "拉萨市林周县", "林周", 0.03, "tibet"),
    ("320211", "无锡市滨湖区", "无锡", 0.07, "default"),
    ("110105", "北京市朝阳区", "北京", 0.06, "default"),
    ("310104", "上海市徐汇区", "上海", 0.06, "default"),
)
_REGION_P = np.array([r[3] for r in REGIONS]) / sum(r[3] for r in REGIONS)
_PROVINCE_ABBR = {"32": "苏", "14": "晋", "62": "甘", "37": "鲁", "54": "藏", "11": "京", "31": "沪"}

# Birthplaces in resident ID numbers, with the first birth year the code is valid for (GB/T 2260
# history as python-stdnum checks it). Birth years run 1955-1995.
BIRTHPLACES = (
    ("110105", 1955),
    ("110108", 1955),
    ("310104", 1955),
    ("540121", 1955),
    ("370102", 1983),
    ("370103", 1983),
    ("370202", 1983),
    ("370602", 1983),
    ("540102", 1983),
    ("320211", 1983),
    ("440305", 1983),
    ("330106", 1983),
    ("320281", 1989),
    ("370781", 1989),
)
_BIRTH_LAST = date(1995, 12, 31)

# GB/T 4754-2017 sections by organisation type, with weights.
INDUSTRIES = {
    ENT: (
        ("C", 0.26),
        ("E", 0.12),
        ("F", 0.22),
        ("G", 0.06),
        ("I", 0.07),
        ("K", 0.04),
        ("L", 0.09),
        ("M", 0.07),
        ("B", 0.02),
        ("D", 0.02),
        ("J", 0.03),
    ),
    IND: (("F", 0.5), ("H", 0.3), ("O", 0.2)),
    PUB: (("P", 0.35), ("Q", 0.35), ("M", 0.15), ("N", 0.15)),
    SOC: (("S", 0.7), ("R", 0.15), ("P", 0.15)),
}
_INDUSTRY_WORDS = {
    "A": ("农业发展", "生态农业"),
    "B": ("矿业", "石材"),
    "C": ("机械制造", "纺织", "化工", "电子科技", "食品", "钢铁", "新材料", "服装"),
    "D": ("热电", "能源", "燃气"),
    "E": ("建筑工程", "建设", "市政工程", "装饰工程", "路桥工程"),
    "F": ("商贸", "贸易", "物资", "医药连锁"),
    "G": ("物流", "运输", "仓储"),
    "H": ("餐饮管理", "酒店"),
    "I": ("信息技术", "软件", "网络科技"),
    "J": ("投资", "融资担保", "小额贷款"),
    "K": ("房地产开发", "置业"),
    "L": ("企业管理咨询", "人力资源", "广告"),
    "M": ("工程设计", "检测", "工程造价咨询", "建筑设计"),
    "N": ("环保科技", "园林绿化"),
    "O": ("家政服务", "汽车维修"),
}
_BRANDS = tuple("恒达华鑫宏盛泰新兴远通信利源博瑞德康安金天海润祥隆丰顺佳诚嘉荣昌永和正明光辉志腾飞凯宇益")
_IND_SHOPS = ("小吃店", "便利店", "五金店", "美发店", "汽修部", "水果店", "面馆", "家电维修部", "服装店")
_PUB_NAMES = {
    "P": ("第{n}中学", "第{n}小学", "职业技术学校"),
    "Q": ("第{n}人民医院", "中医院", "妇幼保健院", "疾病预防控制中心"),
    "M": ("产品质量检验检测中心", "建筑设计院", "测绘院"),
    "N": ("园林管理处", "水利工程管理所", "环境卫生管理处"),
}
_SOC_NAMES = (
    "个体劳动者协会",
    "建筑业协会",
    "企业联合会",
    "慈善总会",
    "物流协会",
    "餐饮行业协会",
    "{b}公益基金会",
    "{b}商会",
    "社会工作服务中心",
)

_SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_MALE = (
    "伟",
    "强",
    "磊",
    "军",
    "勇",
    "杰",
    "涛",
    "斌",
    "超",
    "明",
    "刚",
    "平",
    "辉",
    "鹏",
    "华",
    "飞",
    "鑫",
    "波",
    "宇",
    "浩",
    "凯",
    "健",
    "俊",
    "帆",
    "旭",
    "宁",
    "龙",
    "林",
    "阳",
    "建华",
    "建国",
    "志强",
    "海峰",
    "国庆",
    "文博",
    "俊杰",
    "晓东",
    "永刚",
    "德明",
    "振华",
)
_FEMALE = (
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "艳",
    "娟",
    "霞",
    "燕",
    "玲",
    "丹",
    "萍",
    "红",
    "婷",
    "雪",
    "琳",
    "慧",
    "颖",
    "倩",
    "洁",
    "秀英",
    "玉兰",
    "桂英",
    "秀兰",
    "晓燕",
    "丽华",
    "春梅",
    "海燕",
    "雅琴",
    "梦瑶",
    "欣怡",
    "思琪",
)
_TIBETAN = (
    "扎西",
    "次仁",
    "卓玛",
    "格桑",
    "达瓦",
    "平措",
    "央金",
    "拉巴",
    "尼玛",
    "多吉",
    "旦增",
    "普布",
    "德吉",
    "白玛",
)

_TITLES = {
    LR: ("",),
    PRINCIPAL: ("总经理", "院长", "校长", "主任", "会长", "秘书长"),
    SM: ("总经理", "副总经理", "财务负责人", "董事会秘书", "副院长"),
    DIRECTOR: ("董事长", "董事", "执行董事", "理事长", "理事"),
    SUPERVISOR: ("监事会主席", "监事"),
    SHAREHOLDER: ("",),
    PRACTITIONER: ("注册建造师", "注册建筑师", "注册会计师", "注册造价工程师", "执业医师", "注册安全工程师"),
}
_TITLE_LIST = tuple(dict.fromkeys(t for ts in _TITLES.values() for t in ts))
_T = {t: i for i, t in enumerate(_TITLE_LIST)}

# Record categories (policy category ids), initiating department (policy department ids), legal basis.
CATEGORIES = (
    ("food_drug", "market_regulation", "《中华人民共和国食品安全法》第一百二十三条"),
    ("food_drug", "food_drug", "《中华人民共和国药品管理法》第一百一十六条"),
    ("environment", "environment", "《中华人民共和国环境保护法》第六十三条"),
    ("construction_quality", "housing_construction", "《建设工程质量管理条例》第六十四条"),
    ("work_safety", "work_safety", "《中华人民共和国安全生产法》第一百一十四条"),
    ("fire_safety", "public_security", "《中华人民共和国消防法》第六十条"),
    ("tax_evasion", "tax", "《中华人民共和国税收征收管理法》第六十三条"),
    ("wage_arrears", "human_resources", "《保障农民工工资支付条例》第四十八条"),
    ("illegal_fundraising", "financial_affairs", "《防范和处置非法集资条例》第三十条"),
    ("counterfeit_ip", "market_regulation", "《中华人民共和国产品质量法》第五十条"),
    ("bid_rigging", "development_reform", "《中华人民共和国招标投标法》第五十三条"),
    ("false_advertising", "market_regulation", "《中华人民共和国广告法》第五十五条"),
    ("contract_fraud", "market_regulation", "《中华人民共和国行政许可法》第七十九条"),
    ("qualification_lending", "housing_construction", "《建筑市场信用管理暂行办法》第八条"),
)
_CAT_P = np.array([6, 3, 10, 8, 9, 4, 10, 9, 2, 5, 4, 4, 3, 5], dtype=float)
_CAT_P /= _CAT_P.sum()
_MINOR_CATEGORIES = (0, 2, 4, 5, 9, 11)  # general and minor records: everyday administrative penalties
JUDGMENT_DEFAULT = (
    "judgment_defaulter",
    "court",
    "《最高人民法院关于公布失信被执行人名单信息的若干规定》第一条",
)
_ORG_HONOURS = (
    ("守合同重信用企业", "市场监督管理局"),
    ("纳税信用A级纳税人", "税务局"),
    ("诚信示范企业", "人民政府"),
    ("文明单位", "精神文明建设委员会"),
    ("和谐劳动关系示范单位", "人力资源和社会保障局"),
)
_PERSON_HONOURS = (
    ("劳动模范", "人民政府"),
    ("优秀企业家", "工商业联合会"),
    ("道德模范", "精神文明建设委员会"),
    ("见义勇为先进个人", "人民政府"),
)
_RED_LISTS = (
    ("诚信典型红名单", "development_reform"),
    ("守信激励对象名单", "market_regulation"),
    ("A级纳税人名单", "tax"),
)
_BLACK_NAMES = {
    "tax_evasion": "重大税收违法失信主体名单",
    "wage_arrears": "拖欠农民工工资失信联合惩戒对象名单",
    "construction_quality": "建筑市场主体黑名单",
    "qualification_lending": "建筑市场主体黑名单",
}


# -- stateless identity ------------------------------------------------------------------------
def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 (wrap-around is intended)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _hash_uniform(seed: int, salt: int, idx: np.ndarray) -> np.ndarray:
    """A uniform [0, 1) per index, a pure function of (seed, salt, index)."""
    key = _mix(np.array([(seed & 0xFFFFFFFF) << 20 | salt], dtype=np.uint64))
    return (_mix(idx.astype(np.uint64) ^ key) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _days(d: date) -> int:
    return (d - EPOCH).days


def _coprime_near(m: int, target: int) -> int:
    a = max(3, target)
    while math.gcd(a, m) != 1:
        a += 1
    return a


@dataclass(frozen=True)
class _Identity:
    """Stateless identity for organisation index g and person index g under one seed and date range."""

    seed: int
    start: int  # days since 1970
    end: int

    def org_type(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.cumsum(_TYPE_P)[:-1], _hash_uniform(self.seed, 1, g), side="right")

    def org_region(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.cumsum(_REGION_P)[:-1], _hash_uniform(self.seed, 2, g), side="right")

    def registered(self, g: np.ndarray) -> np.ndarray:
        span = self.end - 365 - self.start
        return self.start + (_hash_uniform(self.seed, 3, g) * span).astype(np.int64)

    def holdco(self, g: np.ndarray) -> np.ndarray:
        """Group holding companies: the tops of pyramids (about 1.5% of enterprises)."""
        return (_hash_uniform(self.seed, 4, g) < 0.015) & (self.org_type(g) == ENT)

    def uscc(self, g: np.ndarray) -> np.ndarray:
        """GB 32100 codes: registration authority + type, region, GB 11714 organisation code, check."""
        g = np.asarray(g, dtype=np.int64)
        n = len(g)
        t = self.org_type(g)
        prefixes = np.array([[9, 1], [9, 2], [1, 2], [5, 1]], dtype=np.int64)[t]
        social = t == SOC  # 51 social group, 52 private non-enterprise unit, 53 foundation
        prefixes[social, 1] = 1 + (_hash_uniform(self.seed, 5, g[social]) * 3).astype(np.int64)
        region = np.array([[int(c) for c in r[0]] for r in REGIONS], dtype=np.int64)[self.org_region(g)]
        # Organisation code body: an affine bijection of the index mod 10^8, so codes never repeat.
        body = (61_803_399 * g + 1_000_003 * (self.seed % 97)) % 100_000_000
        body_digits = (body[:, None] // 10 ** np.arange(7, -1, -1)) % 10
        s = (body_digits * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1) % 11
        oc_check = np.where(s == 0, 0, 11 - s)  # 10 -> 'X', 11 -> '0'
        values = np.empty((n, 18), dtype=np.int64)
        values[:, 0:2] = prefixes
        values[:, 2:8] = region
        values[:, 8:16] = body_digits
        values[:, 16] = np.where(oc_check == 10, _USCC_ALPHABET.index("X"), oc_check)
        total = (values[:, :17] * _USCC_WEIGHTS).sum(axis=1)
        values[:, 17] = (31 - total % 31) % 31
        return _USCC_BYTES[values].view("S18").ravel()

    def _person_space(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
        firsts = np.array([_days(date(y, 1, 1)) for _, y in BIRTHPLACES], dtype=np.int64)
        sizes = (_days(_BIRTH_LAST) - firsts + 1) * 999
        cum = np.concatenate([[0], np.cumsum(sizes)])
        m = int(cum[-1])
        a = _coprime_near(m, int(m * 0.6180339887))  # Weyl step: consecutive people land far apart
        b = (self.seed * 2_654_435_761) % m
        return firsts, sizes, cum, m, a, b

    def id_number(self, g: np.ndarray) -> np.ndarray:
        """GB 11643 numbers: an affine bijection of the person index over (birthplace, birth date,
        sequence number), so numbers never repeat."""
        g = np.asarray(g, dtype=np.int64)
        firsts, _sizes, cum, m, a, b = self._person_space()
        if len(g) and g.max() >= m:
            raise ValueError("too many persons for the synthetic ID number space")
        h = (a * g + b) % m
        r = np.searchsorted(cum, h, side="right") - 1
        off = h - cum[r]
        birth = (firsts[r] + off // 999).astype("datetime64[D]")
        seq = off % 999 + 1
        year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
        month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
        day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
        place = np.array([[int(c) for c in p] for p, _ in BIRTHPLACES], dtype=np.int64)[r]
        d = np.empty((len(g), 18), dtype=np.int64)
        d[:, 0:6] = place
        d[:, 6:10] = (year[:, None] // np.array([1000, 100, 10, 1])) % 10
        d[:, 10:12] = (month[:, None] // np.array([10, 1])) % 10
        d[:, 12:14] = (day[:, None] // np.array([10, 1])) % 10
        d[:, 14:17] = (seq[:, None] // np.array([100, 10, 1])) % 10
        d[:, 17] = (1 - (d[:, :17] * _RIC_WEIGHTS).sum(axis=1)) % 11
        return _RIC_BYTES[d].view("S18").ravel()


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_USCC_BYTES = np.frombuffer(_USCC_ALPHABET.encode(), dtype=np.uint8)
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_RIC_BYTES = np.frombuffer(b"0123456789X", dtype=np.uint8)


# -- string helpers (pyarrow: vectorised and cheap on memory) --------------------------------------
def _vocab(words: tuple[str, ...] | list[str], idx: np.ndarray) -> pa.Array:
    return pa.array(list(words), type=pa.string()).take(pa.array(idx))


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _ascii(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _num(values: np.ndarray, width: int = 0) -> pa.Array:
    s = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    return pc.utf8_lpad(s, width, padding="0") if width else s


def _date(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    if missing is None:
        missing = days == OPEN
    safe = np.where(missing, 0, days).astype("datetime64[D]")
    return pa.array(safe, mask=missing).cast(pa.string())


def _choice(rng: np.random.Generator, weights: np.ndarray | list[float], size: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(w / w.sum())[:-1], rng.random(size), side="right")


# -- edges -------------------------------------------------------------------------------------------
@dataclass
class _Edges:
    hkind: np.ndarray  # 0 person, 1 organisation
    holder: np.ndarray  # global index
    org: np.ndarray  # local index
    role: np.ndarray
    vf: np.ndarray
    vt: np.ndarray  # OPEN when open-ended
    ratio: np.ndarray
    cap: np.ndarray
    title: np.ndarray

    @classmethod
    def make(
        cls,
        org: np.ndarray,
        role: int,
        holder: np.ndarray,
        vf: np.ndarray,
        vt: np.ndarray,
        title: np.ndarray | int = 0,
        hkind: int = 0,
    ) -> _Edges:
        n = len(org)
        return cls(
            np.full(n, hkind, dtype=np.int8),
            holder.astype(np.int64),
            org.astype(np.int64),
            np.full(n, role, dtype=np.int8),
            vf.astype(np.int64),
            vt.astype(np.int64),
            np.full(n, np.nan),
            np.full(n, np.nan),
            np.broadcast_to(np.asarray(title, dtype=np.int16), (n,)).copy(),
        )

    @classmethod
    def concat(cls, parts: list[_Edges]) -> _Edges:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))

    def take(self, idx: np.ndarray) -> _Edges:
        return _Edges(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return len(self.org)


class _Chunk:
    """One chunk of organisations [o0, o0 + n) and their persons [2*o0, 2*(o0 + n))."""

    def __init__(self, ident: _Identity, chunk_no: int, o0: int, n: int) -> None:
        self.ident = ident
        self.no = chunk_no
        self.o0, self.n = o0, n
        self.p0, self.np_ = 2 * o0, 2 * n
        self.hubs = max(1, round(n / 1000))  # nominee hubs: the last persons of the chunk
        self.rng = np.random.default_rng([ident.seed, chunk_no])
        self.start, self.end = ident.start, ident.end
        g = np.arange(o0, o0 + n, dtype=np.int64)
        self.g = g
        self.type = ident.org_type(g)
        self.region = ident.org_region(g)
        self.reg = ident.registered(g)
        rng = self.rng
        dereg = (
            (rng.random(n) < 0.04) & ((self.type == ENT) | (self.type == IND)) & (self.end - self.reg > 800)
        )
        self.dereg = np.where(
            dereg, self.reg + 400 + (rng.random(n) * (self.end - self.reg - 400)).astype(np.int64), OPEN
        )
        self.industry = np.empty(n, dtype=object)
        for t, table in INDUSTRIES.items():
            sel = np.flatnonzero(self.type == t)
            codes = [c for c, _ in table]
            self.industry[sel] = np.array(codes, dtype=object)[_choice(rng, [w for _, w in table], len(sel))]
        self.capital = np.maximum(1e4, np.round(np.exp(rng.normal(13.8, 1.6, n)) / 1e4) * 1e4)
        self.board = (self.type == ENT) & (rng.random(n) < 0.2)  # limited companies with a board
        self.codes = ident.uscc(g)
        self._person_ids: np.ndarray | None = None

    @property
    def person_ids(self) -> np.ndarray:
        if self._person_ids is None:
            self._person_ids = self.ident.id_number(np.arange(self.p0, self.p0 + self.np_, dtype=np.int64))
        return self._person_ids

    # persons ---------------------------------------------------------------------------------------
    def pick(self, k: int) -> np.ndarray:
        """Role holders: mostly local, skewed so some people hold roles in many companies."""
        rng = self.rng
        base = self.np_ - self.hubs
        u = rng.random(k)
        uniform = rng.integers(0, base, k)
        # Serial entrepreneurs and professional directors: the first 5% of persons, ~20 roles each.
        serial = (max(1, base // 20) * rng.random(k)).astype(np.int64)
        out = np.where(u < 0.7, uniform, serial) + self.p0
        if self.p0 > 0:  # some people also hold roles in earlier chunks' companies
            cross = u > 0.97
            out[cross] = rng.integers(0, self.p0, int(cross.sum()))
        return out

    def endeff(self, local: np.ndarray) -> np.ndarray:
        return self.dereg[local]

    # role edges ------------------------------------------------------------------------------------
    def roles(self) -> _Edges:
        rng, n = self.rng, self.n
        orgs = np.arange(n)
        t = self.type
        parts: list[_Edges] = []
        lr = self.pick(n)
        self.first_lr = lr
        parts.append(_Edges.make(orgs, LR, lr, self.reg, self.dereg))

        # Principal (主要负责人): always in public institutions and social organisations.
        has_p = (t == PUB) | (t == SOC) | ((t == ENT) & (rng.random(n) < 0.12))
        po = orgs[has_p]
        holder = np.where(rng.random(len(po)) < 0.5, lr[po], self.pick(len(po)))
        ind = self.industry[po]
        title = np.select(
            [(t[po] == PUB) & (ind == "P"), (t[po] == PUB) & (ind == "Q"), t[po] == PUB, t[po] == SOC],
            [_T["校长"], _T["院长"], _T["主任"], _T["会长"]],
            _T["总经理"],
        )
        parts.append(_Edges.make(po, PRINCIPAL, holder, self.reg[po], self.dereg[po], title))

        # Directors: a board of 3-5 (chair first) or an executive director, usually the legal rep.
        k = np.where(
            self.board,
            rng.integers(3, 6, n),
            np.where(t == ENT, 1, np.where(t == SOC, rng.integers(3, 7, n), 0)),
        )
        do = np.repeat(orgs, k)
        first = np.r_[True, do[1:] != do[:-1]] if len(do) else np.zeros(0, dtype=bool)
        holder = self.pick(len(do))
        exec_dir = ~self.board[do] & (t[do] == ENT)
        holder = np.where(exec_dir & (rng.random(len(do)) < 0.8), lr[do], holder)
        holder = np.where(first & self.board[do] & (rng.random(len(do)) < 0.7), lr[do], holder)
        title = np.select(
            [exec_dir, (t[do] == SOC) & first, t[do] == SOC, first],
            [_T["执行董事"], _T["理事长"], _T["理事"], _T["董事长"]],
            _T["董事"],
        )
        parts.append(_Edges.make(do, DIRECTOR, holder, self.reg[do], self.dereg[do], title))

        # Supervisors: a board of supervisors of 3 with a board of directors, else one.
        k = np.where(self.board, 3, np.where(((t == ENT) & (rng.random(n) < 0.8)) | (t == SOC), 1, 0))
        so = np.repeat(orgs, k)
        first = np.r_[True, so[1:] != so[:-1]] if len(so) else np.zeros(0, dtype=bool)
        title = np.where(first & self.board[so], _T["监事会主席"], _T["监事"])
        parts.append(_Edges.make(so, SUPERVISOR, self.pick(len(so)), self.reg[so], self.dereg[so], title))

        # Senior managers.
        k = np.where(
            t == ENT, np.minimum(rng.poisson(0.6, n), 3), np.where(t == PUB, rng.integers(1, 3, n), 0)
        )
        mo = np.repeat(orgs, k)
        title = np.where(
            t[mo] == PUB,
            rng.choice([_T["副院长"], _T["财务负责人"]], len(mo)),
            rng.choice(
                [_T["总经理"], _T["副总经理"], _T["财务负责人"], _T["董事会秘书"]],
                len(mo),
                p=[0.3, 0.3, 0.3, 0.1],
            ),
        )
        parts.append(_Edges.make(mo, SM, self.pick(len(mo)), self.reg[mo], self.dereg[mo], title))

        # Registered practitioners in construction, design and health.
        ind = self.industry
        eligible = np.isin(ind, ["E", "M", "Q"]) & ((t == ENT) | (t == PUB))
        k = np.where(eligible, rng.integers(1, 4, n), 0)
        xo = np.repeat(orgs, k)
        choices = np.where(
            ind[xo] == "Q",
            _T["执业医师"],
            np.where(
                ind[xo] == "E",
                rng.choice([_T["注册建造师"], _T["注册安全工程师"], _T["注册造价工程师"]], len(xo)),
                rng.choice([_T["注册建筑师"], _T["注册会计师"], _T["注册造价工程师"]], len(xo)),
            ),
        )
        live = np.minimum(self.dereg[xo], self.end) - self.reg[xo]
        vf = self.reg[xo] + (rng.random(len(xo)) * 0.3 * live).astype(np.int64)
        parts.append(_Edges.make(xo, PRACTITIONER, self.pick(len(xo)), vf, self.dereg[xo], choices))

        parts.append(self._shareholders())
        edges = _Edges.concat([p for p in parts if len(p)])
        new = [self._turnover(edges, LR, 0.25)]
        new.append(self._turnover(new[0], LR, 0.3))  # some legal representatives change twice
        for role, p in (
            (PRINCIPAL, 0.1),
            (DIRECTOR, 0.12),
            (SUPERVISOR, 0.12),
            (SM, 0.15),
            (PRACTITIONER, 0.15),
            (SHAREHOLDER, 0.08),
        ):
            new.append(self._turnover(edges, role, p))
        edges = self._nominees(_Edges.concat([edges, *new]))
        return self._no_overlaps(edges)

    def _shareholders(self) -> _Edges:
        """Person and organisation shareholders; ratios per organisation sum to at most 1."""
        rng, ident = self.rng, self.ident
        ent = np.flatnonzero(self.type == ENT)
        # Corporate parents: earlier organisations, mostly group holding companies, so chains and
        # pyramids form; a few from earlier chunks link the chunks together.
        has_parent = ent[(rng.random(len(ent)) < 0.16) & (self.g[ent] > 0)]
        gl = self.g[has_parent]
        local_holdcos = self.g[ident.holdco(self.g)]
        before = np.searchsorted(local_holdcos, gl)  # holding companies registered under a lower index
        u = rng.random(len(gl))
        pick_hold = (u < 0.65) & (before > 0)
        parent = (rng.random(len(gl)) * gl).astype(np.int64)  # any earlier organisation: deeper chains
        hold_idx = (rng.random(len(gl)) * np.maximum(before, 1)).astype(np.int64)
        parent = np.where(
            pick_hold,
            local_holdcos[np.minimum(hold_idx, max(len(local_holdcos) - 1, 0))]
            if len(local_holdcos)
            else parent,
            parent,
        )
        if self.o0 > 0:
            cross = u > 0.95
            parent[cross] = rng.integers(0, self.o0, int(cross.sum()))
        ok = (ident.org_type(parent) == ENT) | (
            ident.org_type(parent) == PUB
        )  # state assets via institutions
        has_parent, parent = has_parent[ok], parent[ok]
        p_units = np.where(rng.random(len(parent)) < 0.3, 10_000, rng.integers(3_000, 10_000, len(parent)))
        p_vf = np.maximum(self.reg[has_parent], ident.registered(parent) + 1)
        live = p_vf < np.minimum(self.dereg[has_parent], self.end)
        has_parent, parent, p_units, p_vf = has_parent[live], parent[live], p_units[live], p_vf[live]

        # Total allocated per enterprise: usually 100%, sometimes less (unreported or unpaid stakes).
        total = np.where(rng.random(len(ent)) < 0.85, 10_000, rng.integers(5_000, 10_000, len(ent)))
        total_of = np.zeros(self.n, dtype=np.int64)
        total_of[ent] = total
        org_units = np.zeros(self.n, dtype=np.int64)
        org_units[has_parent] = np.minimum(p_units, total_of[has_parent])
        remaining = total_of - org_units
        k = np.zeros(self.n, dtype=np.int64)
        k[ent] = _choice(rng, [0.55, 0.28, 0.11, 0.06], len(ent)) + 1 + self.board[ent]
        k = np.where(remaining >= k, k, 0)
        po = np.repeat(np.arange(self.n), k)
        w = rng.gamma(2.0, 1.0, len(po))
        wsum = np.bincount(po, weights=w, minlength=self.n)
        units = 1 + np.floor(w / wsum[po] * (remaining[po] - k[po])).astype(np.int64)  # sum <= remaining
        first = np.r_[True, po[1:] != po[:-1]] if len(po) else np.zeros(0, dtype=bool)
        holder = np.where(first & (rng.random(len(po)) < 0.6), self.first_lr[po], self.pick(len(po)))
        persons = _Edges.make(po, SHAREHOLDER, holder, self.reg[po], self.dereg[po])
        persons.ratio = units / 10_000
        persons.cap = np.round(self.capital[po] * persons.ratio, 2)
        orgs = _Edges.make(has_parent, SHAREHOLDER, parent, p_vf, self.dereg[has_parent], hkind=1)
        orgs.ratio = org_units[has_parent] / 10_000
        orgs.cap = np.round(self.capital[has_parent] * orgs.ratio, 2)
        self.parents = (has_parent, parent, p_vf)
        # Cross-directorships: the parent's legal representative sits on the subsidiary's board.
        local = (parent >= self.o0) & (parent < self.o0 + self.n)
        child, par, vf = has_parent[local], parent[local] - self.o0, p_vf[local]
        cross_dir = _Edges.make(child, DIRECTOR, self.first_lr[par], vf, self.dereg[child], _T["董事"])
        return _Edges.concat([persons, orgs, cross_dir])

    def _turnover(self, e: _Edges, role: int, p: float) -> _Edges:
        """Replace some holders mid-interval: the old edge (changed in place) ends the day the
        returned new edge starts."""
        rng = self.rng
        end = np.minimum(e.vt, self.end)
        cand = np.flatnonzero((e.role == role) & (e.hkind == 0) & (end - e.vf > 120))
        sel = cand[rng.random(len(cand)) < p]
        d = e.vf[sel] + 60 + (rng.random(len(sel)) * (end[sel] - e.vf[sel] - 120)).astype(np.int64)
        new = e.take(sel)
        new.vf = d
        holder = self.pick(len(sel))
        holder = np.where(
            holder == e.holder[sel], self.p0 + (holder - self.p0 + 1) % (self.np_ - self.hubs), holder
        )
        new.holder = holder
        e.vt[sel] = d
        return new

    def _nominees(self, e: _Edges) -> _Edges:
        """About 5% of person-held roles go to nominee hubs (代持/挂名), each hub holding hundreds."""
        rng = self.rng
        cand = np.flatnonzero(e.hkind == 0)
        sel = cand[rng.random(len(cand)) < 0.05]
        hub = (self.hubs * rng.random(len(sel)) ** 1.3).astype(np.int64)
        e.holder[sel] = self.p0 + self.np_ - self.hubs + hub
        return e

    def _no_overlaps(self, e: _Edges) -> _Edges:
        """The same holder may not hold the same role in the same organisation twice at once; two
        adjacent edges of one holder (a nominee replacing both sides of a change) become one."""
        # One int64 key per (holder kind, holder, role, organisation): 1 + 34 + 3 + 24 bits.
        key = ((e.hkind.astype(np.int64) << 34 | e.holder) << 3 | e.role) << 24 | e.org
        order = np.argsort(key)
        sk = key[order]
        dup = np.r_[False, sk[1:] == sk[:-1]]
        dup[:-1] |= dup[1:]
        cand = order[dup]  # only the few repeated keys need a closer look
        drop = np.zeros(len(e), dtype=bool)
        cand = cand[np.lexsort((e.vf[cand], key[cand]))]
        last_key, last, last_end = -1, -1, -1
        for i, k, f, t in zip(
            cand.tolist(), key[cand].tolist(), e.vf[cand].tolist(), e.vt[cand].tolist(), strict=True
        ):
            if k != last_key:
                last_key, last, last_end = k, i, t
            elif f < last_end and f != e.vt[last]:
                drop[i] = True  # overlaps an edge kept before
            elif f == e.vt[last]:
                e.vt[last] = t  # adjacent: extend the earlier edge
                last_end = max(last_end, t)
                drop[i] = True
            else:
                last, last_end = i, max(last_end, t)
        keep = np.flatnonzero(~drop)
        # Emit in a stable, readable order: by organisation, role, start (vf < 2^16 days).
        order = np.argsort((e.org[keep] << 3 | e.role[keep]) << 16 | e.vf[keep], kind="stable")
        return e.take(keep[order])

    # tables ----------------------------------------------------------------------------------------
    def organisations(self) -> pa.Table:
        rng, n, t = self.rng, self.n, self.type
        short = _vocab([r[2] for r in REGIONS], self.region)
        place = _vocab([r[1] for r in REGIONS], self.region)
        brand = _join(
            _vocab(_BRANDS, rng.integers(0, len(_BRANDS), n)),
            _vocab(_BRANDS, rng.integers(0, len(_BRANDS), n)),
        )
        words = np.empty(n, dtype=object)
        for code, ws in _INDUSTRY_WORDS.items():
            sel = np.flatnonzero(self.industry == code)
            words[sel] = np.array(ws, dtype=object)[rng.integers(0, len(ws), len(sel))]
        words[words == None] = "实业"  # noqa: E711 - elementwise comparison on an object array
        holdco = self.ident.holdco(self.g)
        suffix = np.where(holdco, "控股集团有限公司", np.where(self.board, "股份有限公司", "有限公司"))
        ent_name = _join(short, brand, pa.array(words.tolist(), type=pa.string()), pa.array(suffix.tolist()))
        shop = _join(
            short,
            _vocab(_SURNAMES, rng.integers(0, len(_SURNAMES), n)),
            "记",
            _vocab(_IND_SHOPS, rng.integers(0, len(_IND_SHOPS), n)),
        )
        # Public institutions and social organisations: named after what they do, not a brand.
        other = np.full(n, "", dtype=object)
        for code, templates in _PUB_NAMES.items():
            sel = np.flatnonzero((t == PUB) & (self.industry == code))
            picks = np.array(templates, dtype=object)[rng.integers(0, len(templates), len(sel))]
            nums = rng.integers(1, 9, len(sel))
            other[sel] = [tpl.format(n=k) for tpl, k in zip(picks.tolist(), nums.tolist(), strict=True)]
        sel = np.flatnonzero(t == SOC)
        picks = np.array(_SOC_NAMES, dtype=object)[rng.integers(0, len(_SOC_NAMES), len(sel))]
        brands = brand.take(pa.array(sel)).to_pylist()
        other[sel] = [tpl.format(b=b) for tpl, b in zip(picks.tolist(), brands, strict=True)]
        name = pc.if_else(
            pa.array(t == ENT),
            ent_name,
            pc.if_else(pa.array(t == IND), shop, _join(place, pa.array(other.tolist(), type=pa.string()))),
        )
        return pa.table(
            {
                "code": _ascii(self.codes),
                "name": name,
                "org_type": _vocab(ORG_TYPES, t),
                "region": _vocab([r[0] for r in REGIONS], self.region),
                "industry": pa.array(self.industry.tolist(), type=pa.string()),
                "registered_on": _date(self.reg),
                "deregistered_on": _date(self.dereg),
            }
        )

    def persons(self) -> pa.Table:
        rng, k = self.rng, self.np_
        male = (np.frombuffer(self.person_ids.tobytes(), dtype=np.uint8).reshape(-1, 18)[:, 16] - 48) % 2 == 1
        # Residence: mostly where the companies are, otherwise the birthplace.
        birthplace = _ascii(self.person_ids)
        residence = _vocab([r[0] for r in REGIONS], _choice(rng, _REGION_P, k))
        region = pc.if_else(
            pa.array(rng.random(k) < 0.75), residence, pc.utf8_slice_codeunits(birthplace, 0, 6)
        )
        surname = _vocab(_SURNAMES, np.minimum((rng.pareto(1.2, k) * 3).astype(np.int64), len(_SURNAMES) - 1))
        given_m = _vocab(_MALE, rng.integers(0, len(_MALE), k))
        given_f = _vocab(_FEMALE, rng.integers(0, len(_FEMALE), k))
        han = _join(surname, pc.if_else(pa.array(male), given_m, given_f))
        tib = _join(
            _vocab(_TIBETAN, rng.integers(0, len(_TIBETAN), k)),
            _vocab(_TIBETAN, rng.integers(0, len(_TIBETAN), k)),
        )
        in_tibet = pc.starts_with(region, "54")
        name = pc.if_else(pc.and_(in_tibet, pa.array(rng.random(k) < 0.7)), tib, han)
        return pa.table({"id_number": birthplace, "name": name, "region": region})

    def role_table(self, e: _Edges) -> pa.Table:
        return pa.table(
            {
                "holder_id": self._subject_ids(e.hkind, e.holder),
                "org_code": _ascii(self.codes[e.org]),
                "role": _vocab(ROLES, e.role),
                "valid_from": _date(e.vf),
                "valid_to": _date(e.vt),
                "ratio": pa.array(e.ratio, from_pandas=True),
                "subscribed_capital": pa.array(e.cap, from_pandas=True),
                "title": _vocab(_TITLE_LIST, e.title),
            }
        )

    def _subject_ids(self, kind: np.ndarray, idx: np.ndarray) -> pa.Array:
        """ID numbers (kind 0) or USCCs (kind 1) for global indices: this chunk's from the cached
        arrays, earlier chunks' recomputed from the stateless identity."""
        out = np.empty(len(idx), dtype="S18")
        for k, fn, base, local in (
            (0, self.ident.id_number, self.p0, self.person_ids),
            (1, self.ident.uscc, self.o0, self.codes),
        ):
            sel = kind == k
            here = sel & (idx >= base) & (idx < base + len(local))
            out[here] = local[idx[here] - base]
            far = sel & ~here
            if far.any():
                uniq, inv = np.unique(idx[far], return_inverse=True)
                out[far] = fn(uniq)[inv]
        return _ascii(out)

    def _persons_ids(self, idx: np.ndarray) -> pa.Array:
        return self._subject_ids(np.zeros(len(idx), dtype=np.int8), idx)

    # records, honours, lists ------------------------------------------------------------------
    def records_honours_lists(self, e: _Edges) -> tuple[pa.Table, pa.Table, pa.Table]:
        rng, n = self.rng, self.n
        end = self.end
        live_until = np.minimum(self.dereg, end)
        eligible = np.flatnonzero(live_until - self.reg > 200)
        n_serious = min(len(eligible), max(1, round(0.01 * n)) if n >= 20 else 0)
        n_general = min(len(eligible), round(0.004 * n))
        n_minor = min(len(eligible), round(0.003 * n))
        chosen = rng.permutation(eligible)
        serious_orgs = np.sort(chosen[:n_serious])
        other_orgs = (
            rng.choice(eligible, n_general + n_minor, replace=True) if n_general + n_minor else chosen[:0]
        )
        rec_orgs = np.concatenate([serious_orgs, other_orgs])
        severity = np.repeat([0, 1, 2], [n_serious, n_general, n_minor])
        m = len(rec_orgs)
        cat = np.where(
            severity == 0,
            _choice(rng, _CAT_P, m),
            np.array(_MINOR_CATEGORIES)[rng.integers(0, len(_MINOR_CATEGORIES), m)],
        )
        span = live_until[rec_orgs] - self.reg[rec_orgs]
        act = self.reg[rec_orgs] + 60 + (rng.random(m) * np.maximum(span - 150, 1)).astype(np.int64)
        decision = np.minimum(act + rng.integers(15, 400, m), end)
        decision = np.maximum(decision, act)
        years = rng.choice([1, 2, 3, 5], m, p=[0.2, 0.35, 0.3, 0.15])
        period_end = np.where(
            (severity == 0) & (rng.random(m) < 0.92), decision + (365.25 * years).astype(np.int64), OPEN
        )
        act_known = rng.random(m) < 0.9
        responsible = self._responsible(e, rec_orgs, np.where(act_known, act, decision), severity == 0)

        # Judgment defaulters (失信被执行人): persons who hold legal-representative roles, mostly.
        lr_holders = np.unique(e.holder[(e.role == LR) & (e.hkind == 0)])
        n_def = min(len(lr_holders), max(1, round(0.002 * self.np_)) if n >= 20 else 0)
        defaulters = rng.choice(lr_holders, n_def, replace=False) if n_def else lr_holders[:0]
        d_decision = self.start + 365 + (rng.random(n_def) * (end - self.start - 365)).astype(np.int64)
        d_region = self.region[rng.integers(0, n, n_def)]

        r_total = m + n_def
        reg_of = np.concatenate([self.region[rec_orgs], d_region])
        juris = _vocab([r[4] for r in REGIONS], reg_of)
        cat_all = np.concatenate([cat, np.full(n_def, len(CATEGORIES))])
        cats = (*CATEGORIES, JUDGMENT_DEFAULT)
        dept = _vocab([c[1] for c in cats], cat_all)
        year = (
            np.concatenate([decision, d_decision])
            .astype("datetime64[D]")
            .astype("datetime64[Y]")
            .astype(np.int64)
            + 1970
        )
        serial = rng.integers(1, 3000, r_total)
        abbr = _vocab([r[2][0] for r in REGIONS], reg_of)
        prov = _vocab([_PROVINCE_ABBR[r[0][:2]] for r in REGIONS], reg_of)
        court = np.arange(r_total) >= m
        doc = pc.if_else(
            pa.array(court),
            _join(
                "（",
                _num(year),
                "）",
                prov,
                _vocab([r[0][2:] for r in REGIONS], reg_of),
                "执",
                _num(serial),
                "号",
            ),
            _join(
                abbr, _vocab([c[1][:2] for c in cats], cat_all), "罚〔", _num(year), "〕", _num(serial), "号"
            ),
        )
        subject = pa.concat_arrays([_ascii(self.codes[rec_orgs]), self._persons_ids(defaulters)])
        record_id = _join(f"R{self.no:03d}-", _num(np.arange(r_total), 7))
        records = pa.table(
            {
                "record_id": record_id,
                "subject_id": subject,
                "category": _vocab([c[0] for c in cats], cat_all),
                "severity": _vocab(
                    ("serious", "general", "minor"), np.concatenate([severity, np.zeros(n_def, np.int64)])
                ),
                "act_date": _date(
                    np.concatenate([act, d_decision]),
                    np.concatenate([~act_known, np.ones(n_def, dtype=bool)]),
                ),
                "decision_date": _date(np.concatenate([decision, d_decision])),
                "document_no": doc,
                "department": dept,
                "basis": _vocab([c[2] for c in cats], cat_all),
                "period_end": _date(np.concatenate([period_end, np.full(n_def, OPEN)])),
                "responsible": pa.concat_arrays([responsible, pa.nulls(n_def, pa.string())]),
                "jurisdiction": juris,
            }
        )

        # Honours: to about 2% of organisations (some later dishonest) and 0.5% of persons.
        h_orgs = rng.choice(n, min(n, round(0.02 * n)), replace=False)
        h_orgs = np.unique(np.concatenate([h_orgs, serious_orgs[rng.random(n_serious) < 0.3]]))
        h_persons = rng.choice(
            self.np_ - self.hubs, min(self.np_ - self.hubs, round(0.005 * self.np_)), replace=False
        )
        ho_t = rng.integers(0, len(_ORG_HONOURS), len(h_orgs))
        hp_t = rng.integers(0, len(_PERSON_HONOURS), len(h_persons))
        ho_on = self.reg[h_orgs] + (rng.random(len(h_orgs)) * (live_until[h_orgs] - self.reg[h_orgs])).astype(
            np.int64
        )
        hp_on = self.start + (rng.random(len(h_persons)) * (end - self.start)).astype(np.int64)
        ho_place = _vocab([r[1] for r in REGIONS], self.region[h_orgs])
        hp_place = _vocab([r[1] for r in REGIONS], self.region[rng.integers(0, n, len(h_persons))])
        honours = pa.table(
            {
                "honour_id": _join(f"H{self.no:03d}-", _num(np.arange(len(h_orgs) + len(h_persons)), 7)),
                "holder_id": pa.concat_arrays(
                    [_ascii(self.codes[h_orgs]), self._persons_ids(self.p0 + h_persons)]
                ),
                "title": pa.concat_arrays(
                    [
                        _vocab([h[0] for h in _ORG_HONOURS], ho_t),
                        _vocab([h[0] for h in _PERSON_HONOURS], hp_t),
                    ]
                ),
                "awarding_body": pa.concat_arrays(
                    [
                        _join(ho_place, _vocab([h[1] for h in _ORG_HONOURS], ho_t)),
                        _join(hp_place, _vocab([h[1] for h in _PERSON_HONOURS], hp_t)),
                    ]
                ),
                "awarded_on": _date(np.concatenate([ho_on, hp_on])),
            }
        )

        # Black list: most serious organisation records and most judgment defaulters.
        b_rec = np.flatnonzero((severity == 0) & (rng.random(m) < 0.6))
        b_def = np.flatnonzero(rng.random(n_def) < 0.8)
        b_from = np.concatenate([decision[b_rec], d_decision[b_def]]) + rng.integers(
            10, 60, len(b_rec) + len(b_def)
        )
        b_to = np.concatenate(
            [
                np.where(period_end[b_rec] == OPEN, OPEN, period_end[b_rec]),
                np.where(rng.random(len(b_def)) < 0.5, d_decision[b_def] + 730, OPEN),
            ]
        )
        b_to = np.where(b_to <= b_from, OPEN, b_to)
        b_cat = np.concatenate([cat[b_rec], np.full(len(b_def), len(CATEGORIES))])
        b_subject = pa.concat_arrays([subject.take(pa.array(b_rec)), subject.take(pa.array(m + b_def))])
        b_unit = pa.concat_arrays([dept.take(pa.array(b_rec)), dept.take(pa.array(m + b_def))])
        b_name = [
            _BLACK_NAMES.get(cats[c][0], "失信被执行人名单" if c == len(CATEGORIES) else "严重失信主体名单")
            for c in b_cat.tolist()
        ]
        # Red list: about 1% of organisations, plus a few later black-listed ones (red list exit).
        r_orgs = rng.choice(n, min(n, round(0.01 * n)), replace=False)
        later_black = np.unique(rec_orgs[b_rec[rng.random(len(b_rec)) < 0.15]]) if len(b_rec) else b_rec
        r_orgs = np.unique(np.concatenate([r_orgs, later_black]))
        r_kind = rng.integers(0, len(_RED_LISTS), len(r_orgs))
        r_from = self.reg[r_orgs] + (
            rng.random(len(r_orgs)) * (live_until[r_orgs] - self.reg[r_orgs])
        ).astype(np.int64)
        r_to = np.where(rng.random(len(r_orgs)) < 0.6, r_from + 3 * 365, OPEN)
        r_unit = _join(
            _vocab([r[1] for r in REGIONS], self.region[r_orgs]), _vocab([x[1] for x in _RED_LISTS], r_kind)
        )
        vf = np.concatenate([b_from, r_from])
        vt = np.concatenate([b_to, r_to])
        nb = len(b_from)
        status = np.where(vf > end, 1, np.where(vt <= end, 3, 2))  # proposed / exited / effective
        in_publicity = (vf > end - 20) & (vf <= end + 7)
        status = np.where(in_publicity & (vf > end), 4, status)
        lists = pa.table(
            {
                "entry_id": _join(f"L{self.no:03d}-", _num(np.arange(len(vf)), 7)),
                "subject_id": pa.concat_arrays([b_subject, _ascii(self.codes[r_orgs])]),
                "list": _vocab(
                    ("black", "red"), np.r_[np.zeros(nb, np.int64), np.ones(len(r_orgs), np.int64)]
                ),
                "name": pa.concat_arrays(
                    [pa.array(b_name, type=pa.string()), _vocab([x[0] for x in _RED_LISTS], r_kind)]
                ),
                "determining_unit": pa.concat_arrays([b_unit, r_unit]),
                "basis": pa.concat_arrays(
                    [
                        _vocab([c[2] for c in cats], b_cat),
                        pa.array(
                            ["《关于建立完善守信联合激励和失信联合惩戒制度的指导意见》"] * len(r_orgs),
                            type=pa.string(),
                        ),
                    ]
                ),
                "valid_from": _date(vf),
                "valid_to": _date(vt),
                "publicity_from": _date(vf - 14),
                "publicity_to": _date(vf - 7),
                "status": _vocab(("", "proposed", "effective", "exited", "publicity"), status),
            }
        )
        return records, honours, lists

    def _responsible(self, e: _Edges, rec_orgs: np.ndarray, on: np.ndarray, serious: np.ndarray) -> pa.Array:
        """Directly responsible persons named in about 60% of serious records: people holding a
        director, shareholder, practitioner, manager or legal representative role on the act date."""
        rng = self.rng
        m = len(rec_orgs)
        names = np.flatnonzero(serious & (rng.random(m) < 0.6))
        if not len(names):
            return pa.nulls(m, pa.string())
        person = (e.hkind == 0) & np.isin(e.role, [LR, SM, DIRECTOR, SHAREHOLDER, PRACTITIONER])
        edges = pd.DataFrame(
            {
                "org": e.org[person],
                "holder": e.holder[person],
                "role": e.role[person],
                "vf": e.vf[person],
                "vt": e.vt[person],
            }
        )
        recs = pd.DataFrame(
            {"rec": names, "org": rec_orgs[names], "on": on[names], "k": rng.integers(1, 4, len(names))}
        )
        j = recs.merge(edges, on="org")
        j = j[(j.vf <= j.on) & (j.on < j.vt)].copy()
        j["r"] = rng.random(len(j))
        # Prefer directors, shareholders and practitioners (named, not liable by position).
        j["pref"] = np.where(np.isin(j.role, [DIRECTOR, SHAREHOLDER, PRACTITIONER]), 0, 1)
        j = j.sort_values(["rec", "pref", "r"], kind="stable")
        j = j[j.groupby("rec").cumcount() < j.k].drop_duplicates(["rec", "holder"])
        if j.empty:
            return pa.nulls(m, pa.string())
        ids = self._persons_ids(j.holder.to_numpy()).to_pylist()
        with_role = rng.random(len(j)) < 0.9
        items = [
            f"{i}:{ROLES[r]}" if w else i
            for i, r, w in zip(ids, j.role.tolist(), with_role.tolist(), strict=True)
        ]
        joined = pd.Series(items, index=j.rec.to_numpy()).groupby(level=0, sort=True).agg(";".join)
        out = np.full(m, None, dtype=object)
        out[joined.index.to_numpy()] = joined.to_numpy()
        return pa.array(out.tolist(), type=pa.string())

    def tables(self) -> dict[str, pa.Table]:
        orgs = self.organisations()
        edges = self.roles()
        persons = self.persons()
        roles = self.role_table(edges)
        records, honours, lists = self.records_honours_lists(edges)
        return {
            "organisations": orgs,
            "persons": persons,
            "roles": roles,
            "records": records,
            "honours": honours,
            "list_entries": lists,
        }


# -- public API ----------------------------------------------------------------------------------
def _schema(kind: str) -> pa.Schema:
    return pa.schema([(c, pa.float64() if c in NUMERIC else pa.string()) for c in COLUMNS[kind]])


def _to_frame(table: pa.Table) -> pd.DataFrame:
    # Arrow-backed strings: a 10^6-organisation dataset has ~10^7 strings; Python objects would
    # cost several GB.
    return table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if t == pa.string() else None)


@dataclass
class SyntheticData:
    """Six DataFrames in the import column format, one per file kind."""

    organisations: pd.DataFrame
    persons: pd.DataFrame
    roles: pd.DataFrame
    records: pd.DataFrame
    honours: pd.DataFrame
    list_entries: pd.DataFrame
    seed: int = 7

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        return {k: getattr(self, k) for k in KINDS}

    def write(self, directory: str | Path, fmt: str = "csv") -> dict[str, Path]:
        """Write one file per kind (``organisations.csv`` ... or ``.parquet``); return the paths."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for kind, frame in self.frames.items():
            table = pa.Table.from_pandas(frame, schema=_schema(kind), preserve_index=False)
            paths[kind] = _write_table(table, out / f"{kind}.{_ext(fmt)}", fmt)
        return paths


def _ext(fmt: str) -> str:
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    return fmt


def _write_table(table: pa.Table, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    return path


def _chunk_tables(
    n_orgs: int, seed: int, start: date, end: date, chunk_orgs: int
) -> Iterator[dict[str, pa.Table]]:
    if n_orgs < 1:
        raise ValueError("n_orgs must be at least 1")
    if not 1 <= chunk_orgs <= 1 << 24:
        raise ValueError("chunk_orgs must be between 1 and 2**24")
    if (end - start).days < 730:
        raise ValueError("the date range must span at least two years")
    ident = _Identity(seed, _days(start), _days(end))
    for no, o0 in enumerate(range(0, n_orgs, chunk_orgs)):
        tables = _Chunk(ident, no, o0, min(chunk_orgs, n_orgs - o0)).tables()
        yield {k: tables[k].cast(_schema(k)) for k in KINDS}


def generate_chunks(
    n_orgs: int,
    seed: int = 7,
    start: date = date(2010, 1, 1),
    end: date = date(2026, 6, 30),
    chunk_orgs: int = 1_000_000,
) -> Iterator[SyntheticData]:
    """The dataset of ``generate`` in pieces of ``chunk_orgs`` organisations (bounded memory).

    Later chunks refer to organisations and persons of earlier ones (shareholders, role holders).
    """
    for tables in _chunk_tables(n_orgs, seed, start, end, chunk_orgs):
        yield SyntheticData(**{k: _to_frame(t) for k, t in tables.items()}, seed=seed)


def generate(
    n_orgs: int,
    seed: int = 7,
    start: date = date(2010, 1, 1),
    end: date = date(2026, 6, 30),
    chunk_orgs: int = 1_000_000,
) -> SyntheticData:
    """A reproducible synthetic dataset of ``n_orgs`` organisations (about 2 persons and 7 role
    edges per organisation). The same arguments always give equal frames.

    >>> data = generate(200, seed=1)
    >>> len(data.organisations), len(data.persons)
    (200, 400)
    """
    parts = list(_chunk_tables(n_orgs, seed, start, end, chunk_orgs))
    return SyntheticData(**{k: _to_frame(pa.concat_tables([p[k] for p in parts])) for k in KINDS}, seed=seed)


def write_synthetic(
    directory: str | Path,
    n_orgs: int,
    seed: int = 7,
    fmt: str = "csv",
    start: date = date(2010, 1, 1),
    end: date = date(2026, 6, 30),
    chunk_orgs: int = 1_000_000,
) -> dict[str, int]:
    """Generate and write chunk by chunk (for 10^7 organisations); return rows written per kind."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pcsv.CSVWriter | pq.ParquetWriter] = {}
    rows = dict.fromkeys(KINDS, 0)
    try:
        for tables in _chunk_tables(n_orgs, seed, start, end, chunk_orgs):
            for kind, table in tables.items():
                if kind not in writers:
                    path = out / f"{kind}.{_ext(fmt)}"
                    schema = _schema(kind)
                    writers[kind] = (
                        pcsv.CSVWriter(path, schema) if fmt == "csv" else pq.ParquetWriter(path, schema)
                    )
                writers[kind].write_table(table)
                rows[kind] += table.num_rows
    finally:
        for w in writers.values():
            w.close()
    return rows
