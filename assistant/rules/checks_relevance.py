"""相关性 checks: categories, inputs vs outputs, process indicators, duplicates, names (RULEBOOK §4.2)."""

from __future__ import annotations

import re

from assistant.intake.textproc import content_tokens
from assistant.intake.values import is_currency_unit
from assistant.labels import LEVEL1_CN, indicators_label
from assistant.rules.base import Ctx, raw_value, row
from assistant.rules.lexicon import (
    CATEGORY_LABELS,
    GENERIC_SATISFACTION,
    INPUT_NAME,
    PROCESS_NAME,
    SATISFACTION_NAME,
    SLOGAN_NAME,
    has_any,
)

_NORM_NAME = re.compile(r"[\s（）()【】\[\]、,，.。:：;；\"“”'‘’]")


def categories(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        name = ind.name
        if not name.strip() or ind.inferred:
            continue
        if SATISFACTION_NAME.search(name) and ind.level1 == "benefit":
            ctx.emit("R-08", f"{row(ind)}是满意度指标，却填在效益指标中", index=ind.index)
        elif SATISFACTION_NAME.search(name) and ind.level1 in {"output", "cost"}:
            ctx.emit("R-03", f"{row(ind)}是满意度指标，却填在{LEVEL1_CN[ind.level1]}中", index=ind.index)
        elif ("成本" in name or "单价" in name) and ind.level2 in {"quantity", "quality", "timeliness"}:
            ctx.emit("R-03", f"{row(ind)}是成本类指标，却填在{ind.level2_label or '产出指标'}中", index=ind.index)
        elif ind.level1 == "satisfaction" and not SATISFACTION_NAME.search(name) and "满意" not in ind.value.raw:
            ctx.emit("R-03", f"{row(ind)}不是满意度指标，却填在满意度指标中", index=ind.index)
    benefit = [i for i in ctx.indicators if i.level1 == "benefit" and i.name.strip()]
    if benefit and all(SATISFACTION_NAME.search(i.name) for i in benefit):
        rows = indicators_label([(i.index, i.sheet_row) for i in benefit])
        ctx.emit("R-08", f"效益指标（{rows}）全部是满意度类指标，没有反映项目的实际效益", field="indicators")


def inputs_and_process(ctx: Ctx) -> None:
    outputs = [i for i in ctx.indicators if i.level1 == "output" and i.name.strip()]
    inputs = 0
    for ind in ctx.indicators:
        name = ind.name
        if not name.strip():
            continue
        hit = has_any(name, PROCESS_NAME)
        if hit:
            ctx.emit("R-05", f"{row(ind)}（{hit}）属于资金或过程管理指标，不反映项目绩效", index=ind.index)
            continue
        if ind.level1 == "output" and ind.level2 != "timeliness" and has_any(name, INPUT_NAME) and (
            is_currency_unit(ind.value.unit) and "/" not in ind.value.unit
        ):
            inputs += 1
            ctx.emit("R-04", f"{row(ind)}以资金金额「{raw_value(ind)}」作为产出", index=ind.index)
    if outputs and inputs == len(outputs):
        ctx.emit("R-04", "全部产出指标都是资金投入，没有实际产出", severity="error", field="indicators")


def satisfaction_object(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        if ind.name.strip() in GENERIC_SATISFACTION:
            ctx.emit("R-07", f"{row(ind)}未指明调查的服务对象", index=ind.index,
                     suggestion="改为具体对象的满意度，如“受益群众满意度”“参训人员满意度”")


def duplicates(ctx: Ctx) -> None:
    seen: dict[str, int] = {}
    for ind in ctx.indicators:
        key = _NORM_NAME.sub("", ind.name)
        if len(key) < 2:
            continue
        if key in seen:
            ctx.emit("R-09", f"{row(ind)}与{ctx.indicator(seen[key]).label()}重复", index=ind.index)
        else:
            seen[key] = ind.index


def names(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        name = ind.name.strip()
        if not name:
            continue
        if name in CATEGORY_LABELS or re.sub(r"指标$", "", name) in {c[:-2] for c in CATEGORY_LABELS}:
            ctx.emit("R-10", f"{row(ind)}的名称只是类别名，没有说明衡量什么", index=ind.index)
        elif "value_from_name" in ind.value.flags:
            ctx.emit("R-10", f"{row(ind)}的指标值写在了名称栏中", index=ind.index,
                     suggestion="把数值和单位移到“指标值”栏，名称只写衡量对象")
        elif has_any(name, SLOGAN_NAME) or len(name) > 30:
            ctx.emit("R-10", f"{row(ind)}的名称是口号或长句，不是可计量的对象", index=ind.index)


def budget_lines(ctx: Ctx) -> None:
    total = ctx.target.amount_total_wan
    lines = ctx.target.budget_lines
    if not lines or not total:
        return
    indicator_tokens: set[str] = set()
    for ind in ctx.indicators:
        indicator_tokens |= content_tokens(ind.name)
    for line in lines:
        if line.amount_wan is None or line.amount_wan < 0.1 * total:
            continue
        if not (content_tokens(line.item) & indicator_tokens):
            ctx.emit("R-11", f"预算明细「{line.item}」（{line.amount_wan:g}万元）没有对应的产出指标", field="budget_lines")


CHECKS = [categories, inputs_and_process, satisfaction_object, duplicates, names, budget_lines]
