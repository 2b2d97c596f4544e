"""完整性 checks: header, goal, category coverage, counts, units (RULEBOOK §4.1)."""

from __future__ import annotations

import re

from assistant.intake.quantities import VAGUE_COUNT_UNITS
from assistant.intake.values import find_vague_terms
from assistant.labels import FIELD_CN, INPUT_FIELD_CN, LEVEL2_CN, indicators_label
from assistant.rules.base import Ctx, raw_value, row

_PLACEHOLDER_GOAL = re.compile(r"^(见附件|详见|同上|无|略|/|-|—|…)+")
_ACTIVITY_VERBS = ("开展", "组织", "召开", "实施", "推进", "做好", "落实", "加强")


def header_fields(ctx: Ctx) -> None:
    t = ctx.target
    missing = []
    for key in ctx.profile.required_header:
        if key == "unit":
            ok = bool(t.department.strip() or t.implementing_unit.strip())
        else:
            value = getattr(t, key, None)
            ok = value is not None and (not isinstance(value, str) or bool(value.strip()))
        if not ok:
            missing.append(key)
    for key in missing:
        ctx.emit("C-01", f"表头「{FIELD_CN.get(key, key)}」未填写", field=key)


def annual_goal(ctx: Ctx) -> None:
    t = ctx.target
    goal = t.annual_goal.strip()
    if not goal:
        ctx.emit("C-02", "年度绩效目标为空", field="annual_goal")
        return
    compact = re.sub(r"\s", "", goal)
    if _PLACEHOLDER_GOAL.fullmatch(compact) or compact == re.sub(r"\s", "", t.project_name):
        ctx.emit("C-02", f"年度绩效目标「{goal}」只是占位或重复项目名称", field="annual_goal")
    elif len(compact) < ctx.profile.goal_min_chars:
        ctx.emit("C-02", f"年度绩效目标「{goal}」过于简略（{len(compact)}字），未写明产出和效果",
                 field="annual_goal", severity="warning")
    long_goal = t.long_term_goal.strip()
    if long_goal and re.sub(r"\s", "", long_goal) == compact:
        ctx.emit("C-03", "年度目标与长期（实施期）目标完全相同", field="annual_goal")
    vague = find_vague_terms(goal)
    has_number = bool(re.search(r"\d", goal))
    if vague and not has_number:
        ctx.emit("C-14", f"年度目标使用模糊措辞（{'、'.join(vague[:4])}），且没有任何量化目标", field="annual_goal")


def _field_label(field: str) -> str:
    """「年度目标」, 「预算明细第1行 unit_price（单价）」 for a field path of `injection.target_texts`."""
    if field in FIELD_CN:
        return FIELD_CN[field]
    group, _, rest = field.partition("[")
    n, _, attr = rest.partition("].")
    return f"{INPUT_FIELD_CN.get(group, group)}第{int(n) + 1}行{INPUT_FIELD_CN.get(attr, attr)}"


def injection_text(ctx: Ctx) -> None:
    """X-01 for every field where the detector found instruction-like text (one finding per indicator row)."""
    rows_done: set[int] = set()
    for hit in ctx.facts.instruction_hits:
        if hit.index is not None:
            if hit.index in rows_done:
                continue
            rows_done.add(hit.index)
            ctx.emit("X-01", f"{row(ctx.indicator(hit.index))}含有疑似指令性文字「{hit.match}」，已按普通数据处理",
                     index=hit.index)
        else:
            field = hit.field if hit.field in FIELD_CN else None
            ctx.emit("X-01", f"「{_field_label(hit.field)}」中含有疑似指令性文字「{hit.match}」，已按普通数据处理",
                     field=field)


def category_coverage(ctx: Ctx) -> None:
    named = [i for i in ctx.indicators if i.name.strip()]
    if not named:
        return
    levels = {i.level1 for i in named}
    if levels <= {"unknown"}:
        ctx.emit("C-16", f"全部{len(named)}项指标都没有一级/二级分类，无法核对产出、效益、满意度是否齐全")
    has = lambda l1: l1 in levels  # noqa: E731
    if not has("output"):
        ctx.emit("C-04", "缺少产出指标（数量、质量、时效）", field="indicators")
    if not has("benefit"):
        ctx.emit("C-04", "缺少效益指标（经济、社会、生态效益或可持续影响）", field="indicators")
    if not has("satisfaction"):
        ctx.emit("C-04", "缺少满意度指标（服务对象满意度）", field="indicators", severity="warning")
    level2s = {i.level2 for i in named}
    if has("output"):
        for l2 in ("quantity", "quality", "timeliness"):
            if l2 not in level2s:
                ctx.emit("C-05", f"产出指标缺少{LEVEL2_CN[l2]}", field="indicators")
    unlabeled = [i for i in named if i.inferred]
    if unlabeled and len(unlabeled) < len(named):
        rows = indicators_label([(i.index, i.sheet_row) for i in unlabeled])
        ctx.emit("C-16", f"{rows}未标明一级/二级指标类别（已按名称推断）", index=unlabeled[0].index,
                 severity="info")


def rows_filled(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        src = ctx.target.indicators[ind.index]
        if not ind.name.strip():
            label = src.level2 or src.level1 or "该类别"
            if ind.value.kind == "empty":
                ctx.emit("C-06", f"{ind.label()}（{label}）既无指标名称也无指标值", index=ind.index)
            else:
                ctx.emit("C-06", f"{ind.label()}（{label}）有指标值「{raw_value(ind)}」但没有指标名称",
                         index=ind.index)
            continue
        if ind.value.kind == "empty":
            ctx.emit("C-07", f"{row(ind)}没有填写指标值", index=ind.index)


def quantitative_form(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        v = ind.value
        if v.kind != "quantitative" or not ind.name.strip():
            continue
        if not v.unit and "possible_excel_date" not in v.flags:
            ctx.emit("C-08", f"{row(ind)}的指标值「{raw_value(ind)}」没有计量单位", index=ind.index)
        if ind.level2 == "quantity" and (v.unit in VAGUE_COUNT_UNITS):
            ctx.emit("C-15", f"{row(ind)}的计量单位「{v.unit}」不规范", index=ind.index,
                     suggestion=f"将单位改为具体的计量单位，如“{'人' if '人' in v.unit else '个'}”")


def counts(ctx: Ctx) -> None:
    named = [i for i in ctx.indicators if i.name.strip()]
    n = len(named)
    p = ctx.profile
    if n < p.min_indicators:
        ctx.emit("C-09", f"三级指标仅{n}项，少于{p.min_indicators}项", field="indicators")
    if not named:
        return
    quant = [i for i in named if i.value.kind in {"quantitative", "deadline", "duration"}]
    share = len(quant) / n
    below = share <= p.min_quant_share if p.quant_share_strict else share < p.min_quant_share - 1e-9
    if below:
        op = "高于" if p.quant_share_strict else "不低于"
        ctx.emit("C-10", f"可量化指标{len(quant)}/{n}项（{share:.0%}），要求{op}{p.min_quant_share:.0%}",
                 field="indicators")


def qualitative_defined(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        if ind.value.kind == "qualitative" and ind.name.strip() and not ind.explanation.strip():
            ctx.emit("C-11", f"{row(ind)}为定性指标（「{raw_value(ind)}」），未说明评判等级和方法", index=ind.index)


CHECKS = [header_fields, annual_goal, injection_text, category_coverage, rows_filled, quantitative_form, counts,
          qualitative_defined]
