"""Quantities and money, defined once: count units, 元/万元 conversion, per-unit and per-period cost units,
the main output quantity and the implied totals of unit cost × quantity.

Every stage that does cost arithmetic (the fund-fit rules, the retrieval's unit-cost comparison, the offline
scorer, the index) uses these functions; `facts.derive_facts` computes them once per review.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.intake.units import RateUnit, count_scale, parse_rate
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


_DURATION_NAME = re.compile(r"天数|日数|工作日|培训天|服务天|供餐天|作业天|天次")
_NOT_DURATION = re.compile(r"时限|期限|时间|完成|之内|以内|前|及时|周期内")


def durations(indicators: Sequence[NormIndicator]) -> list[NormIndicator]:
    """Rows that count days of work (供餐天数 200天, 培训天数 3天), not deadlines (拨付时限 ≤15天)."""
    return [i for i in indicators if i.value.number and i.value.number > 0 and i.value.unit in ("天", "日")
            and i.level1 != "cost" and i.level2 != "time" and _DURATION_NAME.search(i.name)
            and not _NOT_DURATION.search(i.name)]


def quantities_in(indicators: Sequence[NormIndicator], count: str) -> list[tuple[NormIndicator, float]]:
    """Output quantity rows counted in `count` (万人 read as 10,000 人; 人次 only as 人次), with the number in
    the base unit."""
    out = []
    for ind in indicators:
        v = ind.value
        if ind.level1 != "output" or v.kind != "quantitative" or not v.number or v.number <= 0:
            continue
        scaled = count_scale(v.unit, count)
        if scaled is not None:
            out.append((ind, v.number * scaled))
    return out


def _readings(indicators: list[NormIndicator], unit: RateUnit) -> list[tuple[int | None, float, str]]:
    """(quantity row, how many of the cost's units the draft states) for every reading of a rate unit:
    元/人 × 人; 元/人·天 × 人 × days (or × 人天); 元/人·月 × 人 × 12; 万元/公里·年 × 公里; 万元/月 × 12."""
    per_year = {"年": 1.0, "季": 4.0, "月": 12.0}
    periods = {"年": "", "季": " × 4个季度", "月": " × 12个月"}
    if unit.count is None:
        return [(None, per_year[unit.period], periods[unit.period].lstrip(" ×"))] if unit.period in per_year else []
    shown = lambda q: f"{q.value.number:g}{q.value.unit}"  # noqa: E731
    if unit.period == "天":
        out: list[tuple[int | None, float, str]] = [
            (q.index, n * (d.value.number or 0), f"{shown(q)} × {shown(d)}")
            for q, n in quantities_in(indicators, unit.count) for d in durations(indicators)]
        return out + [(q.index, n, shown(q)) for q, n in quantities_in(indicators, unit.count + "天")]
    mult = per_year.get(unit.period or "年", 1.0)
    return [(q.index, n * mult, shown(q) + periods.get(unit.period or "年", "")) for q, n in quantities_in(indicators, unit.count)]


def implied_totals(indicators: list[NormIndicator]) -> list[ImpliedTotal]:
    """Implied totals in 万元 of cost indicators in a rate unit, one per reading of the draft (a cost row may have
    several: 元/人·天 × 12000人 × 200天, and × 2400000人天 when such a row exists)."""
    out = []
    for ind in indicators:
        v = ind.value
        if not is_cost(ind) or v.kind != "quantitative" or v.number is None or "/" not in v.unit:
            continue
        unit = parse_rate(v.unit)
        if unit is None:
            continue
        per = v.number * unit.to_yuan / 1e4  # 万元 per count per period
        out += [ImpliedTotal(cost_index=ind.index, quantity_index=q, total_wan=per * n, factors=text)
                for q, n, text in _readings(indicators, unit)]
    return out
