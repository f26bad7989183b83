"""Policy as data: the schema of the dated YAML files, their loader and the snapshot in force on a day.

Owns ``data/`` (``default.yaml``, ``catalogue.yaml`` and one file per jurisdiction, each rule and
measure quoting its legal basis) and the table of what each jurisdiction adds (``table``). Which
jurisdiction and day a given record is judged under is not decided here but in
:mod:`graph_credit.rules`.
"""

from .loader import NATIONAL, available_jurisdictions, load_policy, load_policy_from
from .schema import CONSEQUENCES, DOCUMENTS, Affect, Basis, Measure, NoticePolicy, PolicyError, Rule
from .snapshot import Policy, PolicySnapshot
from .table import jurisdiction_table

__all__ = [
    "CONSEQUENCES", "DOCUMENTS", "NATIONAL", "Affect", "Basis", "Measure", "NoticePolicy", "Policy", "PolicyError",
    "PolicySnapshot", "Rule", "available_jurisdictions", "jurisdiction_table", "load_policy", "load_policy_from",
]
