"""The generator's vocabularies and frequencies: organisation types, regions, industries, names, titles,
record categories, honours and lists.
"""

from __future__ import annotations

from datetime import date

import numpy as np

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
