"""Checks that use sector knowledge (still pure; the matching was done by the knowledge stage): K-01 a core quantity
indicator of the sector is missing, K-02 the implied unit cost breaks a published standard, K-03 a cost indicator
contradicts one. Every message names the library entry or the standard, its scope, year and source, and the
arithmetic."""

from __future__ import annotations

from assistant.models import LibraryHint, Severity, StandardCheck
from assistant.rules.base import Ctx, row

_VERDICT = {"above": "高于", "below": "低于"}
_KIND_WORD = {"cap": "上限", "floor": "下限", "standard": "标准", "typical": "一般水平"}


def _entry(h: LibraryHint) -> str:
    value = f"，参考值「{h.typical_value}」" if h.typical_value else ""
    return f"「{h.name}」{value}（来源：{h.source or '未注明'}）"


def core_quantity(ctx: Ctx) -> None:
    k = ctx.evidence.knowledge
    if not k.core_missing or not k.core_hints:
        return
    sector = k.sectors[0].sector if k.sectors else k.core_hints[0].sector
    entries = "；".join(_entry(h) for h in k.core_hints[:3])
    ctx.emit("K-01", f"本项目属于「{sector}」类，但没有反映该类项目实物产出的数量指标；指标库中此类项目常设：{entries}",
             field="indicators")


def _standard(c: StandardCheck) -> str:
    s = c.standard
    return f"「{s.name}」{s.typical_value}（{s.note}；{s.source or '来源未注明'}）"


def standards(ctx: Ctx) -> None:
    for c in ctx.evidence.knowledge.checks:
        times = c.ratio if c.ratio >= 1 else 1 / c.ratio if c.ratio else 0
        how = f"{_VERDICT[c.verdict]}{'本单位' if c.standard.own else '公开'}支出标准（约{times:.1f}倍）"
        if c.tiers > 1:
            how += f"（与本表相符的{c.tiers}条标准均如此，按其中最宽松的一条对照）"
        severity: Severity | None = None if c.standard.own or c.confirmed else "info"
        if severity:
            how += "（该标准来自第三方转载或问答，引用前请核实原文）"
        if c.indicator_index is None:
            ctx.emit("K-02", f"按预算和主要产出折算：{c.arithmetic}，{how}：{_standard(c)}",
                     field="amount_total_wan", severity=severity)
        elif 0 <= c.indicator_index < len(ctx.indicators):
            ind = ctx.indicator(c.indicator_index)
            ctx.emit("K-03", f"{row(ind)}「{c.arithmetic}」{how}：{_standard(c)}", index=ind.index, severity=severity)


CHECKS = [core_quantity, standards]
