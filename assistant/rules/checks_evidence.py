"""Checks that need retrieval evidence (still pure): R-01 goal fit, R-02 orphan indicators, FF-05 unit cost."""

from __future__ import annotations

from assistant.rules.base import Ctx, row

ORPHAN_FIT = 0.0  # an indicator none of whose specific words appear in the project's header or goals
GOAL_FIT = 0.2
UNIT_COST_LOG10 = 0.9  # ≈ 8× above or below the median of approved projects with the same unit


def retrieved_evidence(ctx: Ctx) -> None:
    evidence = ctx.evidence
    if not evidence.retrieved:
        return
    fits = evidence.indicator_fit
    named = [i for i in ctx.indicators if i.name.strip()]
    orphans = [i for i in named if i.index < len(fits) and fits[i.index] <= ORPHAN_FIT]
    for ind in orphans:
        ctx.emit("R-02", f"{row(ind)}的内容在项目名称和目标中找不到对应，疑似与本项目无关", index=ind.index)

    if evidence.goal_fit is not None and evidence.goal_fit < GOAL_FIT and ctx.target.annual_goal.strip():
        ctx.emit("R-01", "年度目标的内容与项目名称和指标几乎没有交集，疑似不是本项目的目标", field="annual_goal")
    r = evidence.unit_cost_ratio
    by_standard = any(c.indicator_index is None for c in evidence.knowledge.checks)  # K-02 says it against a standard
    if r is not None and abs(r) >= UNIT_COST_LOG10 and not by_standard:
        q = ctx.indicator(ctx.facts.main_quantity) if ctx.facts.main_quantity is not None else None
        per = f"（{ctx.target.amount_total_wan:g}万元 ÷ {q.label()}「{q.name}」{q.value.number:g}{q.value.unit}）" \
            if q is not None and q.value.number else ""
        times = f"约为其{10 ** r:.0f}倍" if r > 0 else f"约为其{10 ** -r:.0f}分之一"
        ctx.emit("FF-05", f"按主要数量指标折算的单位成本{per}与先例库中同一计量单位的已批复项目的中位数相比，{times}",
                 field="amount_total_wan")


def ungrounded_rows(ctx: Ctx) -> None:
    """The rows the offline relevance score counts as not grounded in the project, each shown as a finding (R-12)
    so the deduction can be acted on; rows already flagged by R-02 are not repeated."""
    fits = ctx.evidence.indicator_fit if ctx.evidence.retrieved else []
    orphan = {k for k, x in enumerate(fits) if x <= ORPHAN_FIT}
    for k in ctx.facts.ungrounded:
        if k in orphan or k >= len(ctx.indicators) or not ctx.indicators[k].name.strip():
            continue
        ind = ctx.indicator(k)
        ctx.emit("R-12", f"{row(ind)}的名称与项目名称和年度目标没有共同的具体内容（只有通用词或其他内容），"
                         "看不出衡量的是本项目的哪项产出或效果；相关性评分因此扣分", index=ind.index)


CHECKS = [retrieved_evidence, ungrounded_rows]
