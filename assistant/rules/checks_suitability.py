"""适当性 checks: the level and form of target values (RULEBOOK §4.3)."""

from __future__ import annotations

import re

from assistant.intake.values import is_currency_unit, is_rate_unit, is_time_unit
from assistant.labels import indicators_label
from assistant.models import NormIndicator, Severity
from assistant.rules.base import Ctx, raw_value, row
from assistant.rules.lexicon import QUALITY_NAME, RATE_NAME, SATISFACTION_NAME, has_any, polarity

_GROWTH = re.compile(r"(增长|增幅|提高|下降|降低|降幅|减少|节约|增速|变化)")
_FLIP = {">=": "≤", ">": "<", "<=": "≥", "<": ">"}


_NAME_PLACEHOLDER = re.compile(r"[*＊]{2,}")
_NAME_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")


def name_checks(ctx: Ctx, ind: NormIndicator) -> None:
    """A target written in the name that the value contradicts (「达标率100%」 with the value 「≥98%」)."""
    stated = {float(m) for m in _NAME_PERCENT.findall(ind.name)}
    v = ind.value
    if len(stated) == 1 and v.kind == "quantitative" and v.number is not None and v.unit in ("%", "％") \
            and v.number not in stated:
        ctx.emit("S-19", f"{row(ind)}的名称写有「{next(iter(stated)):g}%」，指标值却是「{raw_value(ind)}」",
                 index=ind.index)


def name_placeholders(ctx: Ctx) -> None:
    """Template hints left in names (「苗木成活率(≥**%)」): one finding for the table, naming the rows."""
    rows = [i for i in ctx.indicators if _NAME_PLACEHOLDER.search(i.name)]
    if rows:
        shown = "、".join(f"「{i.name}」" for i in rows[:3]) + ("等" if len(rows) > 3 else "")
        ctx.emit("S-20", f"{indicators_label([(i.index, i.sheet_row) for i in rows])}的名称中残留模板占位符（{shown}）",
                 field="indicators")


def value_form(ctx: Ctx) -> None:
    """Template residue, Excel serials, unparseable and vague values."""
    for ind in ctx.indicators:
        v = ind.value
        if not ind.name.strip() or v.kind == "empty":
            continue
        name_checks(ctx, ind)
        if "template_residue" in v.flags:
            ctx.emit("S-14", f"{row(ind)}的指标值「{raw_value(ind)}」是模板占位符，没有填写实际目标", index=ind.index)
        elif v.kind == "unparseable":
            ctx.emit("S-16", f"{row(ind)}的指标值「{raw_value(ind)}」无法识别", index=ind.index)
        elif v.kind == "vague":
            sev: Severity = "error" if ind.level1 in {"output", "cost"} or v.unit else "warning"
            terms = "、".join(v.vague_terms[:3]) or raw_value(ind)
            ctx.emit("S-06", f"{row(ind)}的指标值「{raw_value(ind)}」表述模糊（{terms}），无法考核", index=ind.index,
                     severity=sev)
        elif v.kind == "quantitative" and "possible_excel_date" in v.flags and (
            ind.level2 == "timeliness" or "时间" in ind.name or "日期" in ind.name
        ):
            ctx.emit("S-15", f"{row(ind)}的指标值「{raw_value(ind)}」疑为Excel日期序号（{v.date}）", index=ind.index,
                     suggestion=f"改写为明确的日期，如“{v.date}前完成”")
        elif v.kind == "quantitative" and v.op is None and "possible_excel_date" not in v.flags:
            ctx.emit("S-18", f"{row(ind)}的指标值「{raw_value(ind)}」缺少运算符号", index=ind.index)


def percentages(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        v = ind.value
        if v.kind != "quantitative" or v.number is None or not v.is_percent:
            continue
        growth = bool(_GROWTH.search(ind.name))
        if (v.number > 100 and not growth) or v.number < 0:
            ctx.emit("S-04", f"{row(ind)}的比率目标「{raw_value(ind)}」超出0–100%", index=ind.index)
        elif v.number >= 100 and v.op in {">=", ">"} and not growth:
            ctx.emit("S-12", f"{row(ind)}的目标「{raw_value(ind)}」以≥100%为目标，无法超额也无法检验", index=ind.index,
                     suggestion="改为“=100%”或设定可检验的合理目标值（如“≥95%”）")


def satisfaction(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        if not SATISFACTION_NAME.search(ind.name) and ind.level2 != "satisfaction":
            continue
        v = ind.value
        if v.kind == "quantitative" and v.number is not None and v.is_percent:
            if v.number >= 100:
                ctx.emit("S-05", f"{row(ind)}的满意度目标为「{raw_value(ind)}」，100%无法通过抽样调查验证",
                         index=ind.index)
            elif v.number < ctx.profile.satisfaction_low:
                ctx.emit("S-05", f"{row(ind)}的满意度目标「{raw_value(ind)}」偏低（低于{ctx.profile.satisfaction_low:g}%）",
                         index=ind.index, suggestion="按同类项目的一般水平设定（通常≥85%–90%）")
        elif v.kind == "quantitative" and v.unit and not v.is_percent and v.unit not in {"分"}:
            ctx.emit("S-11", f"{row(ind)}为满意度指标，单位却是「{v.unit}」", index=ind.index)


def quality_bar(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        v = ind.value
        if v.kind != "quantitative" or v.number is None or not v.is_percent:
            continue
        if (ind.level2 == "quality" or has_any(ind.name, QUALITY_NAME)) and polarity(ind.name) != "negative":
            if v.number < ctx.profile.quality_low and v.op in {">=", ">", "=", None}:
                ctx.emit("S-13", f"{row(ind)}的质量目标「{raw_value(ind)}」明显偏低（低于{ctx.profile.quality_low:g}%）",
                         index=ind.index)


def operator_direction(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        v = ind.value
        if v.kind not in {"quantitative", "duration"} or v.op not in _FLIP:
            continue
        pol = polarity(ind.name)
        if ind.level1 == "cost" and v.unit and is_currency_unit(v.unit) and "节约" not in ind.name:
            pol = "negative"
        if pol == "negative" and v.op in {">=", ">"}:
            ctx.emit("S-03", f"{row(ind)}是反向指标，目标「{raw_value(ind)}」却用了「≥」", index=ind.index,
                     suggestion=f"改为「{_FLIP[v.op]}」，如“{ind.name}≤…”")
        elif pol == "positive" and v.op in {"<=", "<"} and not is_time_unit(v.unit):
            ctx.emit("S-03", f"{row(ind)}是正向指标，目标「{raw_value(ind)}」却用了「≤」", index=ind.index,
                     suggestion=f"改为「{_FLIP[v.op]}」")


def units_match(ctx: Ctx) -> None:
    for ind in ctx.indicators:
        v = ind.value
        if v.kind != "quantitative" or not v.unit or not ind.name.strip() or SATISFACTION_NAME.search(ind.name):
            continue
        is_rate_name = bool(RATE_NAME.search(ind.name)) and not _GROWTH.search(ind.name)
        if is_rate_name and not is_rate_unit(v.unit):
            ctx.emit("S-11", f"{row(ind)}是比率类指标，单位却是「{v.unit}」", index=ind.index)
        elif ("金额" in ind.name or "资金" in ind.name) and is_rate_unit(v.unit) and "率" not in ind.name:
            ctx.emit("S-11", f"{row(ind)}是金额类指标，单位却是「%」", index=ind.index)
    for ind in ctx.indicators:
        if ind.value.kind == "qualitative" and RATE_NAME.search(ind.name) and not SATISFACTION_NAME.search(ind.name):
            ctx.emit("S-09", f"{row(ind)}是比率类指标，目标却填「{raw_value(ind)}」", index=ind.index)


def timeliness(ctx: Ctx) -> None:
    year = ctx.target.year
    for ind in ctx.indicators:
        if ind.level2 != "timeliness" or not ind.name.strip():
            continue
        v = ind.value
        if v.kind == "empty":
            continue
        ok = v.kind in {"deadline", "duration"} or (v.kind == "quantitative" and (
            v.is_percent or is_time_unit(v.unit) or "possible_excel_date" in v.flags))
        if not ok:
            ctx.emit("S-10", f"{row(ind)}为时效指标，指标值「{raw_value(ind)}」没有日期、时限或按时完成率",
                     index=ind.index)
            continue
        if year and v.date:
            try:
                y = int(v.date[:4])
            except ValueError:
                continue
            if y < year or y > year + 1:
                ctx.emit("S-17", f"{row(ind)}的完成时限「{raw_value(ind)}」不在{year}年度内", index=ind.index)


def prior_year(ctx: Ctx) -> None:
    prior = {p.name.strip(): p for p in ctx.target.prior_indicators if p.name.strip()}
    if not prior:
        return
    from assistant.intake.values import parse_value

    for ind in ctx.indicators:
        p = prior.get(ind.name.strip())
        v = ind.value
        if not p or v.number is None or v.kind != "quantitative":
            continue
        pv = parse_value(p.value)
        if pv.number is None or pv.unit != v.unit:
            continue
        pol = polarity(ind.name) or "positive"
        worse = v.number < pv.number if pol == "positive" else v.number > pv.number
        if worse:
            ctx.emit("S-01", f"{row(ind)}的目标「{raw_value(ind)}」低于上年「{p.value}」", index=ind.index)


CHECKS = [value_form, name_placeholders, percentages, satisfaction, quality_bar, operator_direction, units_match, timeliness, prior_year]
