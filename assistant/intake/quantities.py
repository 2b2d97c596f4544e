"""Quantities and money, defined once: count units, 元/万元 conversion, per-unit and per-period cost units,
the main output quantity and the implied totals of unit cost × quantity.

Every stage that does cost arithmetic (the fund-fit rules, the retrieval's unit-cost comparison, the offline
scorer, the index) uses these functions; `facts.derive_facts` computes them once per review.
"""

from __future__ import annotations

import re

from assistant.models import ImpliedTotal, NormIndicator

# Units that count things (a denominator of a unit cost, the unit of an output quantity).
COUNT_UNITS: tuple[str, ...] = (
    "人", "人次", "户", "个", "家", "所", "项", "件", "份", "册", "场", "期", "次", "台", "套", "辆", "座",
    "公里", "千米", "km", "米", "m", "平方米", "万平方米", "平米", "亩", "万亩", "公顷", "吨", "立方米", "课时",
    "学时", "床", "处", "条", "篇", "批次", "支", "只", "头", "株", "棵", "间", "栋", "村", "镇", "组", "队", "班", "张",
    "块", "部", "架次", "名", "位", "宗", "起", "道", "根", "盏", "眼", "口", "座次", "万人", "万人次", "公斤", "千克",
    "kg", "t", "套次", "人/次",
)
# Quantity units that say too little (C-15 asks for a specific one) but still mark a count.
VAGUE_COUNT_UNITS: tuple[str, ...] = ("项目", "批", "人数", "个数", "次数")

_TO_WAN = {"元": 1e-4, "千元": 1e-1, "万元": 1.0, "万": 1.0, "百万元": 100.0, "亿元": 1e4, "亿": 1e4}
_TIME_MULT = {"月": 12.0, "个月": 12.0, "年": 1.0, "季": 4.0, "季度": 4.0}
_DENOM_SYNONYMS = {"生": "人", "名": "人", "人次": "人", "平米": "平方米", "㎡": "平方米"}
_MONEY_UNITS = ("万元", "元", "万")


def is_count_unit(unit: str) -> bool:
    return unit in COUNT_UNITS


def money_wan(number: float, unit: str) -> float | None:
    """Amount in 万元 for a plain currency unit (no '/'), else None."""
    factor = _TO_WAN.get(unit.strip())
    return None if factor is None else number * factor


def split_unit(unit: str) -> tuple[str, list[str]]:
    """'元/人·月' → ('元', ['人', '月']); '万元/公里' → ('万元', ['公里'])."""
    parts = re.split(r"[/·.]", unit)
    return parts[0], [p for p in parts[1:] if p]


def is_cost(ind: NormIndicator) -> bool:
    return ind.level1 == "cost" or ("成本" in ind.name and ind.level1 != "benefit")


def main_quantity(indicators: list[NormIndicator]) -> NormIndicator | None:
    """The first output quantity with a count unit: the denominator of the implied unit cost."""
    for ind in indicators:
        v = ind.value
        if ind.level2 == "quantity" and v.kind == "quantitative" and v.number and v.number > 0 \
                and is_count_unit(v.unit) and v.unit not in _MONEY_UNITS:
            return ind
    return None


def _quantity_for(indicators: list[NormIndicator], denominators: list[str]) -> NormIndicator | None:
    denominators = [_DENOM_SYNONYMS.get(d, d) for d in denominators]
    for ind in indicators:
        v = ind.value
        if ind.level1 != "output" or v.kind != "quantitative" or v.number is None or not v.unit:
            continue
        unit = _DENOM_SYNONYMS.get(v.unit, v.unit)
        if unit in denominators or (unit.rstrip("次") in denominators and unit.rstrip("次")):
            return ind
    return None


def implied_totals(indicators: list[NormIndicator]) -> list[ImpliedTotal]:
    """Implied totals in 万元 of per-unit / per-period cost indicators.

    元/人 × 人数; 元/人·月 × 人数 × 12; 万元/月 × 12 (no quantity)."""
    out = []
    for ind in indicators:
        v = ind.value
        if not is_cost(ind) or v.kind != "quantitative" or v.number is None or "/" not in v.unit:
            continue
        head, denoms = split_unit(v.unit)
        per_unit = money_wan(v.number, head)
        if per_unit is None:
            continue
        mult = 1.0
        counted = [d for d in denoms if d not in _TIME_MULT]
        for d in denoms:
            mult *= _TIME_MULT.get(d, 1.0)
        if not counted:
            out.append(ImpliedTotal(cost_index=ind.index, quantity_index=None, total_wan=per_unit * mult))
            continue
        if not all(is_count_unit(d) or len(d) <= 2 for d in counted):
            continue
        qty = _quantity_for(indicators, counted)
        if qty is not None and qty.value.number is not None:
            out.append(ImpliedTotal(cost_index=ind.index, quantity_index=qty.index,
                                    total_wan=per_unit * qty.value.number * mult))
    return out
