"""资金匹配性 checks: cost indicators vs the budget (RULEBOOK §4.4)."""

from __future__ import annotations

import math

from assistant.intake.quantities import ImpliedTotal, is_cost, money_wan, split_unit
from assistant.intake.values import is_currency_unit, is_rate_unit
from assistant.models import NormIndicator
from assistant.rules.base import Ctx, raw_value, row
from assistant.rules.lexicon import BUDGET_RESTATE, TOTAL_COST_NAME, UNIT_COST_HINT, has_any


def _total_cost_like(ind: NormIndicator) -> bool:
    return not has_any(ind.name, UNIT_COST_HINT) and bool(has_any(ind.name, TOTAL_COST_NAME) or ind.level1 == "cost")


def unit_cost_hint(ctx: Ctx) -> str | None:
    """The FF-04 fix worked out from the draft's own figures (budget ÷ the main output quantity), never a number from
    elsewhere; None (the catalogue's fix, which names no number) when the draft gives no quantity to divide by."""
    budget = ctx.target.amount_total_wan
    index = ctx.facts.main_quantity
    if not budget or budget <= 0 or index is None:
        return None
    q = ctx.indicator(index)
    if q.value.number is None or q.value.number <= 0:
        return None
    per = budget / q.value.number
    shown = f"{per:.4g}万元" if per >= 1 else f"{per * 10000:.4g}元"
    return (f"改用单位成本或分项成本。按本表测算：{budget:g}万元 ÷ {q.value.number:g}{q.value.unit}"
            f"（{q.label()}「{q.name}」）≈ {shown}/{q.value.unit}，可据此设“单位成本≤…/{q.value.unit}”并写明测算依据")


def budget_present(ctx: Ctx) -> None:
    if ctx.target.amount_total_wan is None:
        ctx.emit("FF-09", "未填写资金总额，无法核对成本指标和产出规模是否与资金匹配", field="amount_total_wan")


def cost_indicators(ctx: Ctx) -> None:
    named = [i for i in ctx.indicators if i.name.strip()]
    costs = [i for i in named if is_cost(i)]
    if named and not costs:
        ctx.emit("FF-06", "没有设置成本指标，无法判断资金使用的经济性", field="indicators")
    budget = ctx.target.amount_total_wan
    for ind in costs:
        v = ind.value
        text = ind.name + v.raw
        restated = has_any(text, BUDGET_RESTATE)
        if restated:
            ctx.emit("FF-04", f"{row(ind)}（「{raw_value(ind)}」）只是复述预算，不是成本目标", index=ind.index,
                     suggestion=unit_cost_hint(ctx))
            continue
        if v.kind != "quantitative" or v.number is None:
            continue
        if v.unit and not is_currency_unit(split_unit(v.unit)[0]):
            if not (is_rate_unit(v.unit) and ("节约" in ind.name or "降低" in ind.name or "率" in ind.name)):
                ctx.emit("FF-07", f"{row(ind)}是成本指标，单位却是「{v.unit}」", index=ind.index)
            continue
        amount = money_wan(v.number, v.unit)
        if amount is None or budget is None or budget <= 0:
            continue
        if amount > budget * 1.001:
            ctx.emit("FF-01", f"{row(ind)}的成本「{raw_value(ind)}」（{amount:g}万元）超过资金总额{budget:g}万元",
                     index=ind.index)
        elif abs(amount - budget) <= 0.005 * budget and _total_cost_like(ind):
            ctx.emit("FF-04", f"{row(ind)}的成本「{raw_value(ind)}」等于资金总额，只是复述预算", index=ind.index,
                     suggestion=unit_cost_hint(ctx))
        elif amount < ctx.profile.cost_gap_ratio * budget and _total_cost_like(ind) and has_any(ind.name, TOTAL_COST_NAME):
            ctx.emit("FF-10", f"{row(ind)}的总成本「{raw_value(ind)}」（{amount:g}万元）与资金总额{budget:g}万元相差过大",
                     index=ind.index)


def unit_cost_times_quantity(ctx: Ctx) -> None:
    """A cost row whose unit cost × quantity (every reading of the draft: 元/人·天 × 人 × 天数, × 人天…) is far from
    the budget under all of them; the reading closest to the budget is shown."""
    budget = ctx.target.amount_total_wan
    if not budget or budget <= 0:
        return
    by_row: dict[int, list[ImpliedTotal]] = {}
    for total in ctx.facts.implied_totals:
        by_row.setdefault(total.cost_index, []).append(total)
    tol = ctx.profile.fund_tolerance
    for index, totals in by_row.items():
        yearly = [t for t in totals if t.quantity_index is None]
        if yearly and yearly[0].total_wan / budget > 1.05:
            ind = ctx.indicator(index)
            ctx.emit("FF-01", f"{row(ind)}「{raw_value(ind)}」按全年折算约{yearly[0].total_wan:.4g}万元，"
                              f"超过资金总额{budget:g}万元", index=ind.index)
    counted = {i: [t for t in ts if t.quantity_index is not None] for i, ts in by_row.items()}
    counted = {i: ts for i, ts in counted.items() if ts}
    components = len(counted) > 1
    if components and 1 / (1 + tol) <= sum(_closest(ts, budget).total_wan for ts in counted.values()) / budget <= 1 + tol:
        return  # several cost components that add up to the budget
    low = 0.0 if components else 1 / (1 + tol) / 2  # a component may be any part of the budget, not more than it
    for index, ts in counted.items():
        if any(low <= t.total_wan / budget <= 1 + tol for t in ts):
            continue
        ind = ctx.indicator(index)
        best = _closest(ts, budget)
        ratio = best.total_wan / budget
        ctx.emit("FF-02", f"{row(ind)}「{raw_value(ind)}」× {best.factors} ≈ {best.total_wan:.4g}万元，"
                          f"与资金总额{budget:g}万元不符（约{ratio:.2g}倍）", index=ind.index,
                 severity="error" if ratio >= FF02_ERROR_RATIO or ratio <= 1 / FF02_ERROR_RATIO else None)


FF02_ERROR_RATIO = 3.0  # unit cost × quantity this far from the budget (×3 or ÷3) is an error, not a nuance


def _closest(totals: list[ImpliedTotal], budget: float) -> ImpliedTotal:
    return min(totals, key=lambda t: abs(math.log(t.total_wan / budget)) if t.total_wan > 0 else math.inf)


def budget_growth(ctx: Ctx) -> None:
    t = ctx.target
    if not t.prior_amount_wan or not t.amount_total_wan or not t.prior_indicators:
        return
    growth = t.amount_total_wan / t.prior_amount_wan - 1
    if growth <= ctx.profile.budget_increase_ratio:
        return
    prior = {p.name.strip(): p.value.strip() for p in t.prior_indicators}
    outputs = [i for i in ctx.indicators if i.level1 == "output" and i.name.strip() in prior]
    if outputs and all(prior[i.name.strip()] == i.value.raw.strip() for i in outputs):
        ctx.emit("FF-11", f"资金总额较上年增加{growth:.0%}，产出指标与上年完全相同", field="amount_total_wan")


CHECKS = [budget_present, cost_indicators, unit_cost_times_quantity, budget_growth]
