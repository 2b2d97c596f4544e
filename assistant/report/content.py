"""What a 绩效目标审核意见表 says, computed once from a `Review` for every output format.

The .xlsx and .docx exporters only lay these rows out; all wording lives here (Chinese).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from assistant.dimensions import DIMENSIONS, grade_meaning, level_text
from assistant.errors import AssistantError
from assistant.labels import BACKEND_CN
from assistant.models import Finding, Indicator, Review, Suggestion

SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
SOURCE_ZH = {"rules": "规则", "precedent": "参考案例", "llm": "模型", "library": "行业指标库"}
TITLE = "项目支出绩效目标审核意见表"


@dataclass
class IndicatorRow:
    index: int  # 0-based row in the target
    level1: str
    level2: str
    name: str
    value: str  # the original value as filed (operator and unit joined when filed separately)
    basis: str
    issues: list[str] = field(default_factory=list)  # 「【错误】… 」 lines
    fixes: list[str] = field(default_factory=list)  # how to fix (from findings)
    revised_value: str = ""  # a suggested value, beside the original
    revised_name: str = ""
    remove: bool = False
    worst: str = ""  # "error" / "warning" / "info" / ""


def money(v: float | None) -> str:
    if v is None:
        return "未填写"
    text = f"{v:,.4f}".rstrip("0").rstrip(".")
    return text


def filed_value(ind: Indicator) -> str:
    """The value as a reader sees it: 「≥」「95」「%」 filed in three columns read 「≥95%」."""
    value = ind.value
    if ind.operator and not value.startswith(ind.operator):
        value = ind.operator + value
    if ind.unit and not value.endswith(ind.unit):
        value = value + ind.unit
    return value


def header_rows(review: Review) -> list[tuple[str, str]]:
    t = review.target
    return [
        ("项目名称", t.project_name or review.project_name),
        ("主管部门", t.department),
        ("实施单位", t.implementing_unit),
        ("项目属性", t.project_attribute),
        ("实施期", t.period),
        ("预算年度", str(t.year) if t.year else ""),
        ("资金总额（万元）", money(t.amount_total_wan)),
        ("其中：财政拨款（万元）", money(t.amount_fiscal_wan)),
        ("其他资金（万元）", money(t.amount_other_wan)),
    ]


def conclusion(review: Review) -> str:
    meaning = verdict(review)
    return f"审核等级：{review.grade}（总分 {review.score} 分）。{meaning}。"


def verdict(review: Review) -> str:
    """The grade's meaning, qualified when an error-level finding stands (a 优 table with an error is not ready)."""
    return grade_meaning(review.grade, sum(f.severity == "error" for f in review.findings),
                         sum(f.severity == "warning" for f in review.findings))


def counts(review: Review) -> dict[str, int]:
    out = {"error": 0, "warning": 0, "info": 0}
    for f in review.findings:
        out[f.severity] += 1
    return out


def dimension_rows(review: Review) -> list[tuple[str, int, str, str]]:
    """(维度, 得分, 等级 1–5, 评价意见)."""
    rows = []
    for key, name in DIMENSIONS.items():
        d = review.dimensions.get(key)
        opinion = d.rationale
        if d.capped_by:
            opinion += f"（受规则 {'、'.join(d.capped_by)} 限制）"
        rows.append((name, d.score, level_text(d.level), opinion))
    return rows


def finding_line(f: Finding) -> str:
    return f"【{SEVERITY_ZH[f.severity]}】{f.message}（{f.rule_id}，{DIMENSIONS.get(f.dimension, f.dimension)}）"


def indicator_rows(review: Review) -> list[IndicatorRow]:
    rows = [IndicatorRow(i, ind.level1, ind.level2, ind.name, filed_value(ind), ind.basis)
            for i, ind in enumerate(review.target.indicators)]
    for f in sorted(review.findings, key=lambda f: SEVERITY_ORDER[f.severity]):
        if f.indicator_index is None or not 0 <= f.indicator_index < len(rows):
            continue
        row = rows[f.indicator_index]
        row.issues.append(finding_line(f))
        _add_fix(row, f.suggestion)
        if not row.worst or SEVERITY_ORDER[f.severity] < SEVERITY_ORDER[row.worst]:
            row.worst = f.severity
    for s in review.suggestions:
        if s.indicator_index is None or not 0 <= s.indicator_index < len(rows):
            continue
        row = rows[s.indicator_index]
        if s.action == "remove":
            row.remove = True
            _add_fix(row, f"建议删除：{s.reason}")
        elif s.action == "revise":
            row.revised_value = s.value or row.revised_value
            if s.name and s.name != row.name:
                row.revised_name = s.name
            _add_fix(row, f"{s.reason}{_source_note(s)}")
    return rows


def _add_fix(row: IndicatorRow, text: str) -> None:
    """Add a fix unless it repeats one already listed (rules and suggestions often say the same)."""
    key = _squash(text)
    if not key:
        return
    for k, old in enumerate(row.fixes):
        o = _squash(old)
        if key in o:
            return
        if o in key:
            row.fixes[k] = text
            return
    row.fixes.append(text)


def _squash(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def project_findings(review: Review) -> list[Finding]:
    """Findings that concern the project as a whole (or an indicator row that does not exist)."""
    n = len(review.target.indicators)
    out = [f for f in review.findings if f.indicator_index is None or not 0 <= f.indicator_index < n]
    return sorted(out, key=lambda f: SEVERITY_ORDER[f.severity])


FIELD_ZH = {
    "project_name": "项目名称", "department": "主管部门", "implementing_unit": "实施单位",
    "project_attribute": "项目属性", "period": "实施期", "annual_goal": "年度目标",
    "long_term_goal": "实施期目标", "amount_total_wan": "资金总额", "amount_fiscal_wan": "财政拨款",
    "amount_other_wan": "其他资金", "indicators": "绩效指标", "year": "预算年度",
}


def field_name(f: Finding) -> str:
    if f.field:
        return FIELD_ZH.get(f.field, f.field)
    return "绩效指标" if f.indicator_index is not None else "项目整体"


def added(review: Review) -> list[Suggestion]:
    return [s for s in review.suggestions if s.action == "add"]


def _source_note(s: Suggestion) -> str:
    if s.source == "precedent" and s.precedent_project:
        return f"（参考：{s.precedent_project}）"
    if s.source == "llm":
        return "（模型建议）"
    if s.source == "library" and s.library_source:
        return f"（指标库，来源：{s.library_source}）"
    return ""


def suggestion_source(s: Suggestion) -> str:
    note = SOURCE_ZH.get(s.source, s.source)
    if s.precedent_project:
        note += f"：{s.precedent_project}"
    elif s.library_source:
        note += f"：{s.library_source}"
    return note


def knowledge_rows(review: Review) -> list[tuple[str, str, str, str]]:
    """(what, content, scope·year·kind of source, source) for the sector and the published standards consulted;
    one row saying so when the sector could not be told."""
    k = review.knowledge
    if k is None or not k.sectors:
        return [("所属行业", "未能确定（未对照行业指标库和支出标准）", "", "")]
    rows = [("所属行业", "；".join(f"{m.sector}（把握度{m.confidence:.2f}，依据：{m.by or '—'}）" for m in k.sectors), "", "")]
    rows += [("对照的支出标准", f"{h.name}：{h.typical_value or ''}", h.note, h.source) for h in k.standards]
    return rows


def top_issues(review: Review, k: int = 3) -> list[str]:
    ranked = sorted(review.findings, key=lambda f: SEVERITY_ORDER[f.severity])
    return [f"【{SEVERITY_ZH[f.severity]}】{f.message}" for f in ranked[:k]]


def engine(review: Review) -> str:
    """「离线评审」 / 「大模型评审（模型 qwen-plus）」: how the review was made, in words."""
    return BACKEND_CN.get(review.backend, review.backend) + (f"（模型 {review.model}）" if review.model else "")


def profile_title(name: str) -> str:
    """A rule profile's Chinese title (its name when it is not a shipped one, e.g. a bureau's upload)."""
    from assistant.rules.profiles import load_profile

    try:
        return f"{load_profile(name).title}（{name}）"
    except AssistantError:
        return name


def footer(review: Review, generated_at: dt.datetime | None = None) -> str:
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    parts = [f"审核方式：{engine(review)}", f"规则配置：{profile_title(review.meta.profile)}", f"生成时间：{when}"]
    if review.meta.corpus_version:
        parts.append(f"案例库版本：{review.meta.corpus_version}")
    if review.fallback_reason:
        parts.append(f"说明：模型审核失败，已改用离线审核（{review.fallback_reason}）")
    parts.append("本意见由绩效目标审核助手生成，供审核人员参考，最终意见以审核人员签署为准。")
    return "；".join(parts[:-1]) + "。" + parts[-1]
