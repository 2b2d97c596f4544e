"""A review as a 绩效目标审核意见表 workbook, and a batch summary workbook for a reviewer's queue.

Every string goes through `safe_text` (formula injection); numbers stay numbers so they sort.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from assistant.dimensions import DIMENSIONS
from assistant.models import Review, ReviewerDecision
from assistant.report import content as C
from assistant.report import decision as D
from assistant.report.safe import safe_text

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_LABEL_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEAD_FILL = PatternFill("solid", fgColor="BDD7EE")
_SECTION_FILL = PatternFill("solid", fgColor="1F4E78")
SEVERITY_FILL = {"error": PatternFill("solid", fgColor="F8CBAD"), "warning": PatternFill("solid", fgColor="FFE699"),
                 "info": PatternFill("solid", fgColor="E2EFDA")}
GRADE_FILL = {"优": "C6EFCE", "良": "DDEBF7", "中": "FFEB9C", "差": "FFC7CE"}
_FONT = "宋体"
_WIDTHS = (6, 12, 14, 26, 16, 16, 16, 40, 40)  # A..I of the review sheet
_LAST = len(_WIDTHS)


def _cell_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        return value
    return safe_text(value)


def _put(ws: Worksheet, r: int, c: int, value: Any = None, *, c2: int | None = None, bold: bool = False,
         fill: PatternFill | None = None, center: bool = False, border: bool = True) -> None:
    cell = ws.cell(row=r, column=c)
    cell.value = _cell_value(value)
    for cc in range(c, (c2 or c) + 1):
        x = ws.cell(row=r, column=cc)
        x.font = Font(name=_FONT, bold=bold, size=10.5)
        x.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center" if center else None)
        if border:
            x.border = _BORDER
        if fill is not None:
            x.fill = fill
    if c2 and c2 > c:
        ws.merge_cells(start_row=r, start_column=c, end_row=r, end_column=c2)


def _section(ws: Worksheet, r: int, title: str) -> int:
    _put(ws, r, 1, title, c2=_LAST, fill=_SECTION_FILL, border=False)
    ws.cell(row=r, column=1).font = Font(name=_FONT, bold=True, size=11, color="FFFFFF")
    return r + 1


def _height(ws: Worksheet, r: int, texts: list[tuple[str, float]]) -> None:
    """Rough row height for wrapped text: (text, column width in characters)."""
    lines = 1
    for text, width in texts:
        per_line = max(1.0, width / 1.7)  # a CJK character is a little under two width units
        n = sum(max(1, int(len(part) / per_line + 0.999)) for part in str(text).split("\n"))
        lines = max(lines, n)
    ws.row_dimensions[r].height = min(409, 14.5 * lines + 4)


def _review_sheet(ws: Worksheet, review: Review, generated_at: dt.datetime | None,
                  decision: ReviewerDecision | None = None) -> None:
    for i, w in enumerate(_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    _put(ws, 1, 1, C.TITLE, c2=_LAST, border=False)
    ws.cell(row=1, column=1).font = Font(name="黑体", bold=True, size=16)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 30
    r = _section(ws, 2, "一、项目基本信息")
    pairs = C.header_rows(review)
    for k in range(0, len(pairs), 2):
        (l1, v1), rest = pairs[k], pairs[k + 1:k + 2]
        _put(ws, r, 1, l1, c2=3, bold=True, fill=_LABEL_FILL)
        _put(ws, r, 4, v1 or "未填写", c2=5 if rest else _LAST)
        if rest:
            _put(ws, r, 6, rest[0][0], c2=7, bold=True, fill=_LABEL_FILL)
            _put(ws, r, 8, rest[0][1] or "未填写", c2=_LAST)
        r += 1
    for label, text in (("年度目标", review.target.annual_goal), ("实施期目标", review.target.long_term_goal)):
        _put(ws, r, 1, label, c2=3, bold=True, fill=_LABEL_FILL)
        _put(ws, r, 4, text or "未填写", c2=_LAST)
        _height(ws, r, [(text, 140)])
        r += 1
    r = _conclusion(ws, r, review, decision)
    r = _section(ws, r, "三、分项评分")
    for c, (c2, title) in zip((1, 4, 5, 6), ((3, "审核维度"), (4, "得分"), (5, "等级(1-5)"), (_LAST, "评价意见")), strict=False):
        _put(ws, r, c, title, c2=c2, bold=True, fill=_HEAD_FILL, center=True)
    r += 1
    for name, score, level, opinion in C.dimension_rows(review):
        _put(ws, r, 1, name, c2=3, bold=True)
        _put(ws, r, 4, score, center=True)
        _put(ws, r, 5, level, center=True)
        _put(ws, r, 6, opinion, c2=_LAST)
        _height(ws, r, [(opinion, 96)])
        r += 1
    r = _section(ws, r, "四、指标审核意见（问题与修改建议列在所涉指标行旁）")
    heads = ("序号", "一级指标", "二级指标", "三级指标", "原指标值", "建议修改值", "指标值设定依据", "存在问题", "修改建议")
    for c, title in enumerate(heads, start=1):
        _put(ws, r, c, title, bold=True, fill=_HEAD_FILL, center=True)
    r += 1
    for row in C.indicator_rows(review):
        fill = SEVERITY_FILL.get(row.worst)
        revised = row.revised_value
        if row.revised_name:
            revised = f"指标名称改为「{row.revised_name}」" + (f"；指标值 {revised}" if revised else "")
        if row.remove:
            revised = "建议删除" + (f"；{revised}" if revised else "")
        values = (row.index + 1, row.level1, row.level2, row.name, row.value, revised, row.basis,
                  "\n".join(row.issues), "\n".join(row.fixes))
        for c, v in enumerate(values, start=1):
            _put(ws, r, c, v, center=c == 1, fill=fill if c in (5, 6, 8) else None)
        _height(ws, r, [(row.name, 26), ("\n".join(row.issues), 40), ("\n".join(row.fixes), 40)])
        r += 1
    r = _project_level(ws, r, review)
    r = _knowledge_level(ws, r, review)
    if decision is not None:
        r = _decision_level(ws, r, review, decision)
    r = _footer(ws, r, review, generated_at)
    ws.freeze_panes = "A2"
    _landscape(ws)


def _grade_fill(grade: str) -> PatternFill:
    return PatternFill("solid", fgColor=GRADE_FILL.get(grade, "FFFFFF"))


def _conclusion(ws: Worksheet, r: int, review: Review, decision: ReviewerDecision | None) -> int:
    """二、总体结论: the grade, score and counts; with a decision the reviewer's grade first and the machine's labelled."""
    r = _section(ws, r, "二、总体结论")
    n = C.counts(review)
    if decision is not None:
        _put(ws, r, 1, D.FINAL_LABEL, c2=3, bold=True, fill=_LABEL_FILL)
        _put(ws, r, 4, decision.final_grade, bold=True, center=True, fill=_grade_fill(decision.final_grade))
        _put(ws, r, 5, "审核结论", bold=True, fill=_LABEL_FILL, center=True)
        _put(ws, r, 6, D.status_text(decision), center=True)
        _put(ws, r, 7, "审核人", bold=True, fill=_LABEL_FILL, center=True)
        _put(ws, r, 8, f"{decision.reviewer}（{D.when(decision)}）", c2=_LAST)
        r += 1
    _put(ws, r, 1, "审核等级" if decision is None else f"{D.MACHINE_LABEL}等级（系统评分）", c2=3, bold=True,
         fill=_LABEL_FILL)
    _put(ws, r, 4, review.grade, bold=True, center=True, fill=_grade_fill(review.grade))
    _put(ws, r, 5, "总分" if decision is None else f"{D.MACHINE_LABEL}总分", bold=True, fill=_LABEL_FILL, center=True)
    _put(ws, r, 6, review.score, center=True)
    _put(ws, r, 7, "问题数", bold=True, fill=_LABEL_FILL, center=True)
    _put(ws, r, 8, f"错误 {n['error']} 项，警告 {n['warning']} 项，提示 {n['info']} 项", c2=_LAST)
    r += 1
    _put(ws, r, 1, "结论", c2=3, bold=True, fill=_LABEL_FILL)
    _put(ws, r, 4, C.conclusion(review) if decision is None else D.conclusion(review, decision), c2=_LAST)
    return r + 1


def _decision_level(ws: Worksheet, r: int, review: Review, decision: ReviewerDecision) -> int:
    """九、审核人意见: who, when, the result, the final grade, the opinion and the handled revisions (their content)."""
    r = _section(ws, r, f"九、{D.SECTION_TITLE}")
    for label, value in D.summary_rows(review, decision):
        final = label == D.FINAL_LABEL
        _put(ws, r, 1, label, c2=3, bold=True, fill=_LABEL_FILL)
        _put(ws, r, 4, value, c2=_LAST, bold=final, fill=_grade_fill(value) if final else None)
        _height(ws, r, [(value, 140)])
        r += 1
    heads = ((1, 1, "建议"), (2, 2, "处理"), (3, 3, "类型"), (4, 7, "内容"), (8, 9, "理由"))
    rows = D.revision_rows(review, decision)
    r = _table_head(ws, r, heads, empty=not rows)
    for row in rows:
        fill = PatternFill("solid", fgColor="C6EFCE" if row.outcome == "已采纳" else "EDEDED")
        for c, c2, v in ((1, 1, row.number), (2, 2, row.outcome), (3, 3, row.action), (4, 7, row.content),
                         (8, 9, row.reason)):
            _put(ws, r, c, v, c2=c2, center=c in (1, 2, 3), fill=fill if c == 2 else None)
        _height(ws, r, [(row.content, 72), (row.reason, 56)])
        r += 1
    return r


def _landscape(ws: Worksheet) -> None:
    """Print on A4 landscape, all columns on one page width."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0


def _table_head(ws: Worksheet, r: int, heads: tuple[tuple[int, int, str], ...], *, empty: bool) -> int:
    """A table's header row (cells from column c to c2), then a "无" row when the table has no rows."""
    for c, c2, title in heads:
        _put(ws, r, c, title, c2=c2, bold=True, fill=_HEAD_FILL, center=True)
    r += 1
    if empty:
        _put(ws, r, 1, "无", c2=_LAST)
        r += 1
    return r


def _project_level(ws: Worksheet, r: int, review: Review) -> int:
    r = _section(ws, r, "五、项目层面问题")
    heads: tuple[tuple[int, int, str], ...] = (
        (1, 1, "序号"), (2, 2, "严重程度"), (3, 3, "审核维度"), (4, 4, "涉及栏目"), (5, 8, "问题"), (9, 9, "修改建议"))
    found = C.project_findings(review)
    r = _table_head(ws, r, heads, empty=not found)
    for k, f in enumerate(found, start=1):
        _put(ws, r, 1, k, center=True)
        _put(ws, r, 2, C.SEVERITY_ZH[f.severity], center=True, fill=SEVERITY_FILL[f.severity])
        _put(ws, r, 3, DIMENSIONS.get(f.dimension, f.dimension), center=True)
        _put(ws, r, 4, C.field_name(f), center=True)
        _put(ws, r, 5, f"{f.message}（{f.rule_id}）", c2=8)
        _put(ws, r, 9, f.suggestion)
        _height(ws, r, [(f.message, 88), (f.suggestion, 40)])
        r += 1
    r = _section(ws, r, "六、建议增加的指标")
    heads = (
        (1, 1, "序号"), (2, 2, "一级指标"), (3, 3, "二级指标"), (4, 4, "三级指标"), (5, 5, "建议指标值"), (6, 7, "来源"),
        (8, 9, "理由"))
    adds = C.added(review)
    r = _table_head(ws, r, heads, empty=not adds)
    for k, s in enumerate(adds, start=1):
        for c, c2, v in ((1, 1, k), (2, 2, s.level1), (3, 3, s.level2), (4, 4, s.name), (5, 5, s.value),
                         (6, 7, C.suggestion_source(s)), (8, 9, s.reason)):
            _put(ws, r, c, v, c2=c2, center=c == 1)
        _height(ws, r, [(s.reason, 80), (s.name, 26)])
        r += 1
    r = _section(ws, r, "七、参考案例（已公开的同类项目绩效目标）")
    heads = ((1, 1, "序号"), (2, 4, "项目名称"), (5, 5, "地区"), (6, 6, "年度"), (7, 7, "相似度"), (8, 9, "来源"))
    r = _table_head(ws, r, heads, empty=not review.precedents)
    for k, p in enumerate(review.precedents, start=1):
        cells: tuple[tuple[int, int, Any], ...] = (
            (1, 1, k), (2, 4, p.project_name), (5, 5, p.region), (6, 6, p.year), (7, 7, f"{p.similarity:.2f}"),
            (8, 9, p.source_url or "（未注明）"))
        for c, c2, cell in cells:
            _put(ws, r, c, cell, c2=c2, center=c in (1, 6, 7))
        if p.source_url.startswith(("http://", "https://")):
            ws.cell(row=r, column=8).hyperlink = p.source_url
            ws.cell(row=r, column=8).font = Font(name=_FONT, size=10.5, color="0563C1", underline="single")
        _height(ws, r, [(p.project_name, 54), (p.source_url, 80)])
        r += 1
    return r


def _knowledge_level(ws: Worksheet, r: int, review: Review) -> int:
    r = _section(ws, r, "八、行业与支出标准")
    heads = ((1, 2, "项目"), (3, 5, "内容"), (6, 7, "适用范围、年度与来源类型"), (8, 9, "来源"))
    r = _table_head(ws, r, heads, empty=False)
    for what, text, scope, source in C.knowledge_rows(review):
        for c, c2, v in ((1, 2, what), (3, 5, text), (6, 7, scope), (8, 9, source)):
            _put(ws, r, c, v, c2=c2)
        _height(ws, r, [(text, 40), (source, 36), (scope, 26)])
        r += 1
    return r


def _footer(ws: Worksheet, r: int, review: Review, generated_at: dt.datetime | None) -> int:
    r += 1
    _put(ws, r, 1, C.footer(review, generated_at), c2=_LAST, border=False)
    ws.cell(row=r, column=1).font = Font(name=_FONT, size=9, color="595959")
    _height(ws, r, [(C.footer(review, generated_at), 200)])
    return r + 1


def _issues_sheet(ws: Worksheet, review: Review) -> None:
    heads = ("序号", "严重程度", "规则", "审核维度", "指标行", "三级指标", "问题", "修改建议")
    widths = (6, 10, 10, 12, 8, 26, 50, 50)
    for c, (title, w) in enumerate(zip(heads, widths, strict=False), start=1):
        _put(ws, 1, c, title, bold=True, fill=_HEAD_FILL, center=True)
        ws.column_dimensions[get_column_letter(c)].width = w
    inds = review.target.indicators
    for k, f in enumerate(sorted(review.findings, key=lambda f: C.SEVERITY_ORDER[f.severity]), start=1):
        i = f.indicator_index
        name = inds[i].name if i is not None and 0 <= i < len(inds) else C.field_name(f)
        vals = (k, C.SEVERITY_ZH[f.severity], f.rule_id, DIMENSIONS.get(f.dimension, f.dimension),
                (i + 1) if i is not None else "", name, f.message, f.suggestion)
        for c, v in enumerate(vals, start=1):
            _put(ws, k + 1, c, v, fill=SEVERITY_FILL[f.severity] if c == 2 else None, center=c in (1, 2, 5))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(heads))}{max(1, len(review.findings)) + 1}"
    _landscape(ws)


def export_review_xlsx(review: Review, path: Path | str, *, generated_at: dt.datetime | None = None,
                       decision: ReviewerDecision | None = None) -> Path:
    """Write one review as a 绩效目标审核意见表 (.xlsx): sheet 审核意见表 and a filterable sheet 问题清单; with
    `decision`, the reviewer's grade in the conclusion and a 审核人意见 section."""
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "审核意见表"
    _review_sheet(ws, review, generated_at, decision)
    _issues_sheet(wb.create_sheet("问题清单"), review)
    wb.properties.title = safe_text(f"{C.TITLE}：{review.project_name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


BATCH_HEADS = ("序号", "项目名称", "主管部门", "实施单位", "等级", "总分", *DIMENSIONS.values(),
               "错误数", "警告数", "提示数", "主要问题", "审核引擎")
# the web workbench's queue / batch summary: the submission, its status and the reviewer's decision beside the machine's
QUEUE_HEADS = ("序号", "编号", "项目名称", "提交单位", "主管部门", "版本", "状态", f"{D.MACHINE_LABEL}等级",
               f"{D.MACHINE_LABEL}总分", D.FINAL_LABEL, *DIMENSIONS.values(), "错误数", "警告数", "提示数", "主要问题",
               "审核人意见", "重复提交", "审核引擎")
_BATCH_WIDTHS = {"序号": 6, "编号": 7, "项目名称": 36, "提交单位": 20, "主管部门": 20, "实施单位": 20, "版本": 6,
                 "状态": 10, "错误数": 8, "警告数": 8, "提示数": 8, "主要问题": 60, "审核人意见": 50, "重复提交": 18,
                 "审核引擎": 14, D.FINAL_LABEL: 10}
_BATCH_LEFT = {"项目名称", "提交单位", "主管部门", "实施单位", "主要问题", "审核人意见", "重复提交"}
_BATCH_GRADES = {"等级", f"{D.MACHINE_LABEL}等级", D.FINAL_LABEL}
GRADES = ("优", "良", "中", "差")


def _batch_row(k: int, rv: Review, entry: D.QueueEntry | None) -> dict[str, Any]:
    n = C.counts(rv)
    row: dict[str, Any] = {
        "序号": k, "项目名称": rv.project_name, "主管部门": rv.target.department, "实施单位": rv.target.implementing_unit,
        "等级": rv.grade, "总分": rv.score, **{DIMENSIONS[key]: rv.dimensions.get(key).score for key in DIMENSIONS},
        "错误数": n["error"], "警告数": n["warning"], "提示数": n["info"], "主要问题": "\n".join(C.top_issues(rv)),
        "审核引擎": rv.backend}
    if entry is not None:
        d = entry.decision
        row.update({"编号": entry.submission_id, "提交单位": entry.unit, "版本": entry.version, "状态": entry.status,
                    f"{D.MACHINE_LABEL}等级": rv.grade, f"{D.MACHINE_LABEL}总分": rv.score,
                    D.FINAL_LABEL: d.final_grade if d else "", "审核人意见": D.short(rv, d),
                    "重复提交": "\n".join(f"与编号{x}内容相同" for x in entry.duplicate_of)})
    return row


def _distribution_sheet(ws: Worksheet, reviews: list[Review], entries: list[D.QueueEntry] | None) -> None:
    """等级分布: projects per grade (系统初评, and 审核人最终等级 for the workbench) and a bar chart of them."""
    decided = [e.decision.final_grade for e in entries or [] if e.decision is not None]
    heads = ["等级", f"{D.MACHINE_LABEL}（项目数）"] + ([f"{D.FINAL_LABEL}（项目数）"] if entries is not None else [])
    for c, title in enumerate(heads, start=1):
        _put(ws, 1, c, title, bold=True, fill=_HEAD_FILL, center=True)
        ws.column_dimensions[get_column_letter(c)].width = 18
    for r, grade in enumerate(GRADES, start=2):
        values = [grade, sum(1 for rv in reviews if rv.grade == grade)]
        if entries is not None:
            values.append(sum(1 for g in decided if g == grade))
        for c, v in enumerate(values, start=1):
            _put(ws, r, c, v, center=True, fill=_grade_fill(grade) if c == 1 else None)
    note = f"共 {len(reviews)} 个项目"
    if entries is not None:
        note += f"，其中 {len(decided)} 个已有审核人结论、{len(reviews) - len(decided)} 个尚未审核"
    _put(ws, 7, 1, note + "。", c2=len(heads), border=False)
    chart = BarChart()
    chart.type = "col"
    chart.title = "等级分布"
    chart.y_axis.title = "项目数"
    chart.x_axis.title = "等级"
    chart.add_data(Reference(ws, min_col=2, max_col=len(heads), min_row=1, max_row=1 + len(GRADES)),
                   titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=1 + len(GRADES)))
    chart.height, chart.width = 8, 14
    ws.add_chart(chart, f"{get_column_letter(len(heads) + 2)}2")


def export_batch_xlsx(reviews: list[Review], path: Path | str, *, generated_at: dt.datetime | None = None,
                      entries: list[D.QueueEntry] | None = None) -> Path:
    """One row per project (grade, scores, counts, top 3 issues); autofilter and frozen header; a sheet 等级分布 with
    a bar chart. `entries` (one per review, the web workbench): submission number, unit, version, status, the
    reviewer's final grade and decision beside the machine's (系统初评), and duplicate submissions."""
    if entries is not None and len(entries) != len(reviews):
        raise ValueError("entries must match reviews one to one")
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "审核汇总"
    heads = QUEUE_HEADS if entries is not None else BATCH_HEADS
    for c, title in enumerate(heads, start=1):
        _put(ws, 1, c, title, bold=True, fill=_HEAD_FILL, center=True)
        ws.column_dimensions[get_column_letter(c)].width = _BATCH_WIDTHS.get(title, 9 if len(title) > 2 else 7)
    ws.row_dimensions[1].height = 30
    for k, rv in enumerate(reviews, start=1):
        row = _batch_row(k, rv, entries[k - 1] if entries is not None else None)
        for c, title in enumerate(heads, start=1):
            grade = row[title] if title in _BATCH_GRADES else ""
            _put(ws, k + 1, c, row[title], center=title not in _BATCH_LEFT, fill=_grade_fill(grade) if grade else None)
        _height(ws, k + 1, [(row["主要问题"], 60), (row["项目名称"], 36), (row.get("审核人意见", ""), 50)])
    ws.auto_filter.ref = f"A1:{get_column_letter(len(heads))}{len(reviews) + 1}"
    ws.freeze_panes = "C2" if entries is None else "D2"
    _landscape(ws)
    ws.print_title_rows = "1:1"
    when = (generated_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    note = f"共 {len(reviews)} 个项目；生成时间：{when}；点击表头的筛选按钮可按等级、得分排序和筛选。"
    if entries is not None:
        note += f"{D.MACHINE_LABEL}为系统自动评分，{D.FINAL_LABEL}为审核人员的结论（尚未审核的为空）。"
    _put(ws, len(reviews) + 3, 1, note, c2=len(heads), border=False)
    _distribution_sheet(wb.create_sheet("等级分布"), reviews, entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
