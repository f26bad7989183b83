"""A small hand-built responsibility graph with known answers, shared by the rule and API tests.

Organisation A (the dishonest enterprise) and its people:

    p_lr_old   LEGAL_REPRESENTATIVE  2015-01-01 .. 2020-06-01   (held the role at the act date)
    p_lr_new   LEGAL_REPRESENTATIVE  2020-06-01 ..              (appointed after the act: never affected)
    p_principal PRINCIPAL            2015-01-01 ..
    p_manager  SENIOR_MANAGER        2016-01-01 ..
    p_director DIRECTOR              2016-01-01 ..              (named directly responsible in R1)
    p_director2 DIRECTOR             2016-01-01 ..              (not named: unaffected by named-only rules)
    p_holder   SHAREHOLDER 0.6       2015-01-01 ..
    org_b      SHAREHOLDER 0.4       2015-01-01 ..
    p_cpa      PRACTITIONER          2017-01-01 ..              (named directly responsible in R1)

Organisation C is clean and shares p_principal as its legal representative (related-party risk).
Record R1 on A: serious, act 2019-05-01, decided 2020-09-01, period ends 2023-09-01.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from graph_credit.engine import Engine
from graph_credit.ids import mask_id_number, person_key
from graph_credit.model import DishonestyRecord, Honour, Organisation, Person, Responsible, Role, RoleEdge
from tests.helpers import make_id_number, make_uscc

D = date.fromisoformat


uscc_for = make_uscc
id_number_for = make_id_number


PEOPLE = ("p_lr_old", "p_lr_new", "p_principal", "p_manager", "p_director", "p_director2", "p_holder", "p_cpa",
          "p_other")


@dataclass
class World:
    engine: Engine
    ids: dict[str, str] = field(default_factory=dict)  # name -> graph key
    id_numbers: dict[str, str] = field(default_factory=dict)  # name -> clear ID number

    def __getitem__(self, name: str) -> str:
        return self.ids[name]

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.engine.store


def build(engine: Engine, category: str = "tax_evasion", record: bool = True) -> World:
    w = World(engine)
    for i, name in enumerate(PEOPLE, start=1):
        w.id_numbers[name] = id_number_for(i)
        w.ids[name] = person_key(w.id_numbers[name])
    for i, name in enumerate(("org_a", "org_b", "org_c"), start=1):
        w.ids[name] = uscc_for(i)
    engine.put_subjects(
        [Organisation(w["org_a"], "甲建设有限公司", "enterprise", "320281", "E", D("2010-01-01")),
         Organisation(w["org_b"], "乙投资有限公司", "enterprise", "320281", "J", D("2010-01-01")),
         Organisation(w["org_c"], "丙贸易有限公司", "enterprise", "320281", "F", D("2012-01-01"))],
        [Person(w[n], mask_id_number(w.id_numbers[n]), f"张{n[2:]}", "320281") for n in PEOPLE],
    )
    a = w["org_a"]
    edges = [
        RoleEdge(w["p_lr_old"], Role.LEGAL_REPRESENTATIVE, a, D("2015-01-01"), D("2020-06-01")),
        RoleEdge(w["p_lr_new"], Role.LEGAL_REPRESENTATIVE, a, D("2020-06-01")),
        RoleEdge(w["p_principal"], Role.PRINCIPAL, a, D("2015-01-01")),
        RoleEdge(w["p_manager"], Role.SENIOR_MANAGER, a, D("2016-01-01"), title="财务负责人"),
        RoleEdge(w["p_director"], Role.DIRECTOR, a, D("2016-01-01")),
        RoleEdge(w["p_director2"], Role.DIRECTOR, a, D("2016-01-01")),
        RoleEdge(w["p_holder"], Role.SHAREHOLDER, a, D("2015-01-01"), ratio=0.6),
        RoleEdge(w["org_b"], Role.SHAREHOLDER, a, D("2015-01-01"), ratio=0.4),
        RoleEdge(w["p_cpa"], Role.PRACTITIONER, a, D("2017-01-01")),
        RoleEdge(w["p_principal"], Role.LEGAL_REPRESENTATIVE, w["org_c"], D("2018-01-01")),
        RoleEdge(w["p_other"], Role.SHAREHOLDER, w["org_c"], D("2012-01-01"), ratio=1.0),
    ]
    engine.put_roles(edges)
    engine.put_honours([
        Honour("H-A", a, "守合同重信用企业", "市场监管局", D("2018-03-01")),
        Honour("H-LR", w["p_lr_old"], "优秀企业家", "市政府", D("2019-01-01")),
        Honour("H-DIR2", w["p_director2"], "劳动模范", "总工会", D("2019-01-01")),
        Honour("H-LATE", w["p_lr_old"], "诚信标兵", "市政府", D("2021-01-01")),
    ])
    if record:
        engine.put_records([r1(w, category)])
    return w


def r1(w: World, category: str = "tax_evasion", **changes: object) -> DishonestyRecord:
    fields: dict[str, object] = dict(
        record_id="R1", subject=w["org_a"], category=category, severity="serious", decision_date=D("2020-09-01"),
        act_date=D("2019-05-01"), document_no="澄市监罚〔2020〕1号", department="market_regulation",
        basis="《反不正当竞争法》", period_end=D("2023-09-01"),
        responsible=(Responsible(w["p_director"], Role.DIRECTOR), Responsible(w["p_cpa"], Role.PRACTITIONER)),
    )
    fields.update(changes)
    return DishonestyRecord(**fields)  # type: ignore[arg-type]


def consequences(w: World, subject: str, on: date) -> set[str]:
    return {f.consequence for f, status in w.engine.facts_on(w[subject], on) if status == "active"}
