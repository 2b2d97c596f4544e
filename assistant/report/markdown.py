"""Text renderings of a review: Markdown for unit staff (grade first, then what to fix, row by row)."""

from __future__ import annotations

import re
from collections import defaultdict

from assistant.dimensions import DIMENSION_KEYS, DIMENSIONS
from assistant.labels import indicator_label
from assistant.models import Review
from assistant.report import content as C

_SEV_CN = {"error": "错误", "warning": "警告", "info": "提示"}
_SEV_ICON = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}


_ENTITY = re.compile(r"&(?=#\d+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x0b\x0c\x85]")


_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")


def md_text(text: str) -> str:
    """User text made inert in Markdown: a < that could open a tag, comment or declaration as an entity (no
    <script>, no <img onerror>; 「<=475元/亩」 and 「>=4个」 stay readable in a terminal), & too where it would start
    an entity (「&lt;」 stays those four characters), line breaks as spaces (no new heading, list, quote or table row).
    A bare & (「R&D」) is left as is: CommonMark shows it as written."""
    text = _ENTITY.sub("&amp;", text or "")
    return _BREAKS.sub(" ", _TAG_OPEN.sub("&lt;", text))


def md_cell(text: str) -> str:
    """`md_text` for a table cell: | also replaced (a full-width ｜), so the row keeps its columns."""
    return md_text(text).replace("|", "｜")


def _render(lines: list[str]) -> str:
    """Every line escaped as a whole (so no user string can be missed): the report's own Markdown is only
    a leading 「> 」 (kept), `#`, `-`, `|`, `**` and `_`, none of which the escaping touches."""
    out = []
    for line in lines:
        quote = line.startswith("> ")
        out.append(("> " if quote else "") + md_text(line[2:] if quote else line))
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    """A table cell before `_render` escapes the line: line breaks and | only (escaping twice would show 「&lt;」)."""
    return _BREAKS.sub(" ", text or "").replace("|", "｜")


def to_markdown(review: Review) -> str:
    t = review.target
    lines = [f"# 绩效目标审核意见：{review.project_name}", ""]
    lines.append(f"**审核等级：{review.grade}**（{review.score}分）— {C.verdict(review)}")
    if review.fallback_reason:
        lines.append(f"> 注意：{review.fallback_reason}")
    counts: defaultdict[str, int] = defaultdict(int)
    for f in review.findings:
        counts[f.severity] += 1
    lines.append(f"发现问题：错误 {counts['error']} 项，警告 {counts['warning']} 项，提示 {counts['info']} 项。")
    lines += ["", "## 分项评分", "", "| 维度 | 得分 | 评价 |", "|---|---|---|"]
    for d in DIMENSION_KEYS:
        ds = review.dimensions.get(d)
        lines.append(f"| {DIMENSIONS[d]} | {ds.score} | {_cell(ds.rationale)} |")
    header = [f for f in review.findings if f.indicator_index is None]
    by_row: dict[int, list] = defaultdict(list)
    for f in review.findings:
        if f.indicator_index is not None:
            by_row[f.indicator_index].append(f)
    lines += ["", "## 需要修改的地方", ""]
    if header:
        lines.append("### 表头、目标与整体结构")
        for f in header:
            lines.append(f"- {_SEV_ICON[f.severity]} [{f.rule_id}] {f.message}。**建议**：{f.suggestion}")
        lines.append("")
    revisions = {s.indicator_index: s for s in review.suggestions if s.action == "revise" and s.indicator_index is not None}
    if by_row:
        lines.append("### 逐行指标")
        for idx in sorted(by_row):
            ind = t.indicators[idx] if idx < len(t.indicators) else None
            where = indicator_label(idx, ind.sheet_row if ind else None)
            label = f"{where}「{ind.name if ind else ''}」：{ind.value if ind and ind.value else '（空）'}"
            lines.append(f"- **{_cell(label)}**")
            for f in by_row[idx]:
                lines.append(f"  - {_SEV_ICON[f.severity]} {_SEV_CN[f.severity]} [{f.rule_id}] {f.message}。建议：{f.suggestion}")
            if idx in revisions:
                s = revisions[idx]
                lines.append(f"  - ✏️ 建议改为：「{s.value}」（原为「{s.original}」）")
        lines.append("")
    if not review.findings:
        lines.append("未发现需要修改的问题。")
    adds = [s for s in review.suggestions if s.action == "add"]
    if adds:
        lines += ["## 建议补充的指标（参考相似的已批复项目和行业指标库）", "", "| 类别 | 指标 | 指标值 | 来源 |", "|---|---|---|---|"]
        for s in adds:
            cat = "/".join(x for x in (s.level1, s.level2) if x)
            lines.append(f"| {_cell(cat)} | {_cell(s.name)} | {_cell(s.value)} | {_cell(C.suggestion_source(s))} |")
        lines.append("")
    lines += ["## 行业与支出标准", ""]
    for what, text, scope, source in C.knowledge_rows(review):
        extra = "；".join(x for x in (scope, source) if x)
        lines.append(f"- {what}：{_cell(text)}" + (f"（{_cell(extra)}）" if extra else ""))
    lines.append("")
    lines += ["## 相似的已批复项目", ""]
    for p in review.precedents:
        where = " ".join(str(x) for x in (p.region, p.year) if x)
        amount = f"，{p.amount_total_wan:g}万元" if p.amount_total_wan is not None else ""
        kind = "语义相似度" if p.match == "semantic" else "词语相似度"
        lines.append(f"- {p.project_name}（{where or '地区未注明'}{amount}；{kind}{p.similarity:.2f}）{p.source_url}")
    if review.meta.retrieval_note:
        lines.append(f"{'' if review.precedents else '- '}{review.meta.retrieval_note}")
    elif not review.precedents:
        lines.append("- 未使用先例库。")
    lines.append("")
    meta = review.meta
    lines.append(f"_审核方式：{C.engine(review)}；规则配置：{C.profile_title(meta.profile)}；"
                 f"先例库版本：{meta.corpus_version or '无'}_")
    return _render(lines)
