"""Weak-model guard: where a model's rationale contradicts a fact the rules established (it says the units are all
there while a row has none, calls a dimension flawless while it has an error finding, gives it the top level
anyway), the review says so beside the model's text and the rule's verdict stands (the merge caps the level as for
every backend). Small local models do this most; evaluation reports count it.

Pure: the model's answer per dimension and the findings in, notes out. Claims are matched conservatively (a
phrase that asserts the fact, not merely mentions the topic) and a negated claim (「并非」「不是」「未」 just before it)
does not count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.dimensions import DIMENSIONS
from assistant.models import Finding

# (claim the model makes, rules whose error/warning finding says the opposite)
_CLAIMS: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...] = (
    ("计量单位齐全", re.compile(r"(计量)?单位(均|都|全部)?(齐全|完整|规范|明确)|均有(计量)?单位|都有(计量)?单位"),
     frozenset({"C-08"})),
    ("指标值都已填写", re.compile(r"(指标值|目标值)(均|都|全部)?(已)?(填写|齐全|完整)|均(已)?填写"), frozenset({"C-07"})),
    ("一级指标类别齐全", re.compile(r"(?<![产出成本效益满意度、，和及])(一级指标|指标类别|各类指标|要素)(均|都)?(齐全|完整)"),
     frozenset({"C-04"})),
    ("有年度目标", re.compile(r"年度目标(清晰|明确|具体|完整)"), frozenset({"C-02"})),
    ("时效指标有时限", re.compile(r"时效指标(明确|清晰|有(明确的)?(时限|日期))|时限(明确|清晰)"), frozenset({"S-10"})),
    ("指标值明确可考核", re.compile(r"(均|都|全部)(已)?(量化|可考核|可衡量)|表述(明确|清晰)"), frozenset({"S-06"})),
    ("成本未超预算", re.compile(r"成本(指标)?(未超|不超过|没有超过)(预算|资金)|与预算(一致|相符|匹配)"), frozenset({"FF-01"})),
)
_FLAWLESS = re.compile(r"无实质(性)?问题|没有(任何|实质)?问题|无明显问题|不存在问题")
_NEGATED = re.compile(r"(并非|不是|未|没有|不够|尚未|不)$")


def _asserts(pattern: re.Pattern[str], text: str) -> bool:
    for m in pattern.finditer(text):
        if not _NEGATED.search(text[max(0, m.start() - 2):m.start()]):
            return True
    return False


def contradictions(dimension: str, level: float, rationale: str, findings: Sequence[Finding]) -> list[str]:
    """Chinese notes, one per contradiction between the model's answer on `dimension` and the rule findings."""
    mine = [f for f in findings if f.dimension == dimension and f.severity in ("error", "warning")]
    errors = sorted({f.rule_id for f in mine if f.severity == "error"})
    problems = sorted({f.rule_id for f in mine})
    notes = []
    if problems and level >= 5:  # level 5 is 「无实质问题」; a warning is a problem a reviewer would point out
        notes.append(f"模型给出{DIMENSIONS.get(dimension, dimension)}最高等级，但规则发现问题 {'、'.join(problems)}")
    elif errors and _asserts(_FLAWLESS, rationale):
        notes.append(f"模型称本维度没有问题，但规则发现错误级问题 {'、'.join(errors)}")
    fired = {f.rule_id for f in findings if f.severity in ("error", "warning")}
    for claim, pattern, rules in _CLAIMS:
        hit = sorted(rules & fired)
        if hit and not any(r in rationale for r in hit) and _asserts(pattern, rationale):  # naming the rule agrees
            where = next((f.message for f in findings if f.rule_id in hit), "")
            notes.append(f"模型称「{claim}」，但规则 {'、'.join(hit)} 发现：{where}")
    return notes
