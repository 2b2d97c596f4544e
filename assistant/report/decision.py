"""What a 审核意见表 says about the reviewer's decision, for every output format (docx, xlsx, Markdown, batch summary).

A decision belongs to one version: the reviewer (人工), the time, 审核通过 / 退回修改, the final grade, the opinion and
which suggested revisions were accepted or rejected. Beside it the machine's grade is labelled 系统初评 so no reader
takes one for the other. Exports without a decision do not call anything here and stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.dimensions import GRADE_MEANING
from assistant.models import Review, ReviewerDecision, Suggestion
from assistant.report import content as C
from assistant.report.markdown import md_cell

DECISION_STATUS_ZH = {"passed": "审核通过", "returned": "退回修改"}
MACHINE_LABEL = "系统初评"
FINAL_LABEL = "审核人最终等级"
SECTION_TITLE = "审核人意见"
_ACTION_ZH = {"add": "新增指标", "revise": "修改指标", "remove": "删除指标"}


@dataclass
class RevisionRow:
    """One suggested revision the reviewer handled: 已采纳 / 未采纳, what it says and why."""

    number: int  # 1-based, as the submission page numbers suggestions
    outcome: str  # 已采纳 / 未采纳
    action: str  # 新增指标 / 修改指标 / 删除指标
    content: str
    reason: str


@dataclass
class QueueEntry:
    """A submission's place in the web workbench, for the queue / batch summary workbook (one row per project)."""

    submission_id: int
    unit: str = ""
    version: int = 1
    status: str = ""  # 待审核 / 退回修改 / 审核通过 (already in Chinese)
    decision: ReviewerDecision | None = None
    duplicate_of: list[int] = field(default_factory=list)


def when(decision: ReviewerDecision) -> str:
    """The decision's time as 「2025-03-01 09:30（UTC）」 (the store keeps UTC ISO text)."""
    text = decision.created[:16].replace("T", " ")
    return f"{text}（UTC）" if text else "—"


def status_text(decision: ReviewerDecision) -> str:
    return DECISION_STATUS_ZH.get(decision.status, decision.status)


def machine_grade(review: Review) -> str:
    """「优（100 分）」: the machine's grade and score, to be shown under the label 系统初评."""
    return f"{review.grade}（{review.score} 分）"


def conclusion(review: Review, decision: ReviewerDecision) -> str:
    """The conclusion line with a decision: the reviewer's grade first, the machine's beside it, labelled."""
    meaning = GRADE_MEANING.get(decision.final_grade, "")
    text = f"{FINAL_LABEL}：{decision.final_grade}（{status_text(decision)}）。{meaning}。"
    text += f"{MACHINE_LABEL}：{machine_grade(review)}，仅供参考。"
    return text


def suggestion_content(review: Review, s: Suggestion) -> str:
    """A suggestion as a reader of the form needs it: which row, what it was, what it becomes."""
    inds = review.target.indicators
    row = inds[s.indicator_index] if s.indicator_index is not None and 0 <= s.indicator_index < len(inds) else None
    where = f"第{s.indicator_index + 1}行" if row is not None and s.indicator_index is not None else ""
    if s.action == "add":
        cat = "/".join(x for x in (s.level1, s.level2) if x)
        return (f"{cat}：" if cat else "") + f"「{s.name}」" + (f"，指标值 {s.value}" if s.value else "")
    if s.action == "remove":
        return f"删除{where}「{row.name if row else s.name or s.original}」"
    old = f"「{row.name}」{C.filed_value(row) or '（空）'}" if row else f"「{s.original}」"
    new = f"「{s.name}」" if s.name and (row is None or s.name != row.name) else ""
    new += s.value or ""
    return f"{where}{old} → {new or '（见理由）'}"


def revision_rows(review: Review, decision: ReviewerDecision) -> list[RevisionRow]:
    """Accepted revisions first, then rejected ones, in suggestion order; indexes out of range are skipped."""
    rows: list[RevisionRow] = []
    for outcome, picked in (("已采纳", decision.accepted), ("未采纳", decision.rejected)):
        for k in sorted(set(picked)):
            if 0 <= k < len(review.suggestions):
                s = review.suggestions[k]
                rows.append(RevisionRow(k + 1, outcome, _ACTION_ZH.get(s.action, s.action),
                                        suggestion_content(review, s), s.reason))
    return rows


def summary_rows(review: Review, decision: ReviewerDecision) -> list[tuple[str, str]]:
    """(label, value) rows of the 审核人意见 section."""
    accepted = sum(1 for k in set(decision.accepted) if 0 <= k < len(review.suggestions))
    rejected = sum(1 for k in set(decision.rejected) if 0 <= k < len(review.suggestions))
    return [
        ("审核人", decision.reviewer),
        ("审核时间", when(decision)),
        ("审核结论", status_text(decision)),
        (FINAL_LABEL, decision.final_grade),
        (f"{MACHINE_LABEL}（系统评分）", machine_grade(review)),
        ("审核意见", decision.opinion.strip() or "（未填写）"),
        ("修改建议处理", f"采纳 {accepted} 条，未采纳 {rejected} 条，"
                   f"未处理 {max(0, len(review.suggestions) - accepted - rejected)} 条"),
    ]


def short(review: Review, decision: ReviewerDecision | None) -> str:
    """One line for a summary row: 「rev 2025-03-01 审核通过，最终等级 良：意见…」."""
    if decision is None:
        return "尚未审核"
    opinion = " ".join(decision.opinion.split())
    if len(opinion) > 120:
        opinion = opinion[:120] + "…"
    text = f"{decision.reviewer} {decision.created[:10]} {status_text(decision)}，{FINAL_LABEL} {decision.final_grade}"
    n_acc = sum(1 for k in set(decision.accepted) if 0 <= k < len(review.suggestions))
    n_rej = sum(1 for k in set(decision.rejected) if 0 <= k < len(review.suggestions))
    if n_acc or n_rej:
        text += f"；采纳建议 {n_acc} 条，未采纳 {n_rej} 条"
    return text + (f"；意见：{opinion}" if opinion else "")


def markdown_lines(review: Review, decision: ReviewerDecision) -> list[str]:
    """The 审核人意见 section in Markdown (a heading, the summary, the handled revisions), ending with a blank line."""
    lines = [f"## {SECTION_TITLE}", ""]
    lines += [f"- **{label}**：{md_cell(value)}" for label, value in summary_rows(review, decision)]
    rows = revision_rows(review, decision)
    if rows:
        lines += ["", "| 建议 | 处理 | 类型 | 内容 | 理由 |", "|---|---|---|---|---|"]
        lines += [f"| {r.number} | {r.outcome} | {r.action} | {md_cell(r.content)} | {md_cell(r.reason)} |" for r in rows]
    return lines + [""]


def with_decision_markdown(markdown: str, review: Review, decision: ReviewerDecision) -> str:
    """Markdown from `report.markdown.to_markdown` with the decision: the machine's grade line relabelled 系统初评,
    the reviewer's final grade above it and the 审核人意见 section after the summary (before 分项评分)."""
    lines = markdown.split("\n")
    for k, line in enumerate(lines):
        if line.startswith("**审核等级："):
            lines[k] = line.replace("**审核等级：", f"**{MACHINE_LABEL}：", 1)
            lines[k:k] = [f"**{FINAL_LABEL}：{decision.final_grade}**（{status_text(decision)}，审核人 {md_cell(decision.reviewer)}）", ""]
            break
    at = next((k for k, line in enumerate(lines) if line.startswith("## ")), len(lines))
    return "\n".join(lines[:at] + markdown_lines(review, decision) + lines[at:])
