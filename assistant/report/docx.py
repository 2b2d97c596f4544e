"""A review as a 绩效目标审核意见表 in Word (.docx), A4 landscape, via python-docx."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.table import Table, _Cell

from assistant.dimensions import DIMENSIONS
from assistant.models import Review, ReviewerDecision
from assistant.report import content as C
from assistant.report import decision as D
from assistant.report.safe import safe_text

_BODY_FONT = "宋体"
_TITLE_FONT = "黑体"
_LABEL_FILL = "DDEBF7"
_HEAD_FILL = "BDD7EE"
SEVERITY_FILL = {"error": "F8CBAD", "warning": "FFE699", "info": "E2EFDA"}
GRADE_FILL = {"优": "C6EFCE", "良": "DDEBF7", "中": "FFEB9C", "差": "FFC7CE"}
_USABLE_CM = 25.7  # A4 landscape minus 2 cm margins


def _east_asia_font(rpr: Any, name: str) -> None:
    """Word picks the font for CJK text from w:rFonts/@w:eastAsia, which python-docx does not set."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    fonts.set(qn("w:eastAsia"), name)


def _font(run: Any, name: str = _BODY_FONT, size: float = 10.5, bold: bool = False,
          color: str | None = None) -> None:
    run.font.name = name
    run.font.size = Pt(size)
    run.font.bold = bold
    _east_asia_font(run._element.get_or_add_rPr(), name)
    if color:
        run.font.color.rgb = RGBColor.from_string(color)


def _shade(cell: _Cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    tc_pr.append(shd)


def _write(cell: _Cell, text: object, *, bold: bool = False, center: bool = False, fill: str | None = None,
           size: float = 10) -> None:
    """Replace the cell's content with `text` (one paragraph per line), escaped."""
    lines = safe_text(text).split("\n") if text not in (None, "") else [""]
    cell.text = ""
    para = cell.paragraphs[0]
    for k, line in enumerate(lines):
        if k:
            para = cell.add_paragraph()
        para.paragraph_format.space_after = Pt(0)
        para.paragraph_format.space_before = Pt(0)
        if center:
            para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _font(para.add_run(line), size=size, bold=bold)
    if fill:
        _shade(cell, fill)


def _table(doc: DocxDocument, heads: list[str], widths_cm: list[float]) -> Table:
    table = doc.add_table(rows=1, cols=len(heads))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for k, (title, w) in enumerate(zip(heads, widths_cm, strict=False)):
        _write(table.rows[0].cells[k], title, bold=True, center=True, fill=_HEAD_FILL)
        table.columns[k].width = Cm(w)
    tr_pr = table.rows[0]._tr.get_or_add_trPr()  # repeat the header row on every page
    head = OxmlElement("w:tblHeader")
    head.set(qn("w:val"), "true")
    tr_pr.append(head)
    return table


def _row(table: Table, values: list[object], widths_cm: list[float], *, center: set[int] | None = None,
         fills: dict[int, str] | None = None) -> None:
    row = table.add_row()
    cant_split = OxmlElement("w:cantSplit")  # keep a row on one page
    cant_split.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(cant_split)
    cells = row.cells
    for k, (v, w) in enumerate(zip(values, widths_cm, strict=False)):
        cells[k].width = Cm(w)
        _write(cells[k], v, center=k in (center or set()), fill=(fills or {}).get(k))


def _fix_widths(table: Table, widths_cm: list[float]) -> None:
    for row in table.rows:
        for k, w in enumerate(widths_cm):
            row.cells[k].width = Cm(w)


def _heading(doc: DocxDocument, text: str) -> None:
    para = doc.add_paragraph()
    para.paragraph_format.space_before = Pt(10)
    para.paragraph_format.space_after = Pt(4)
    para.paragraph_format.keep_with_next = True
    _font(para.add_run(text), name=_TITLE_FONT, size=12, bold=True)


def _para(doc: DocxDocument, text: str, *, size: float = 10.5, bold: bool = False, color: str | None = None) -> None:
    para = doc.add_paragraph()
    para.paragraph_format.space_after = Pt(2)
    _font(para.add_run(safe_text(text)), size=size, bold=bold, color=color)


def _setup(doc: DocxDocument) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2.0))
    section.top_margin = section.bottom_margin = Cm(1.8)
    normal = doc.styles["Normal"]
    normal.font.name = _BODY_FONT
    normal.font.size = Pt(10.5)
    _east_asia_font(normal.element.get_or_add_rPr(), _BODY_FONT)


def _label_table(doc: DocxDocument, widths: list[float]) -> Table:
    """A bordered, centred table of label/value columns with fixed widths (cm) and no header row."""
    table = doc.add_table(rows=0, cols=len(widths))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for k, w in enumerate(widths):
        table.columns[k].width = Cm(w)
    return table


def _header_section(doc: DocxDocument, review: Review) -> None:
    _heading(doc, "一、项目基本信息")
    pairs = C.header_rows(review)
    widths = [4.2, 8.65, 4.2, 8.65]
    table = _label_table(doc, widths)
    for k in range(0, len(pairs), 2):
        cells = table.add_row().cells
        _write(cells[0], pairs[k][0], bold=True, fill=_LABEL_FILL)
        _write(cells[1], pairs[k][1] or "未填写")
        if k + 1 < len(pairs):
            _write(cells[2], pairs[k + 1][0], bold=True, fill=_LABEL_FILL)
            _write(cells[3], pairs[k + 1][1] or "未填写")
        else:
            cells[1].merge(cells[3])
    for label, text in (("年度目标", review.target.annual_goal), ("实施期目标", review.target.long_term_goal)):
        cells = table.add_row().cells
        _write(cells[0], label, bold=True, fill=_LABEL_FILL)
        merged = cells[1].merge(cells[3])
        _write(merged, text or "未填写")
    _fix_widths(table, widths)


def _conclusion_section(doc: DocxDocument, review: Review, decision: ReviewerDecision | None = None) -> None:
    _heading(doc, "二、总体结论")
    n = C.counts(review)
    found = f"错误 {n['error']} 项，警告 {n['warning']} 项，提示 {n['info']} 项"
    if decision is None:
        table = _table(doc, ["审核等级", "总分", "问题数", "结论"], [2.4, 2.0, 6.0, 15.3])
        _row(table, [review.grade, review.score, found, C.conclusion(review)], [2.4, 2.0, 6.0, 15.3], center={0, 1},
             fills={0: GRADE_FILL.get(review.grade, "FFFFFF")})
    else:  # the reviewer's grade is the form's grade; the machine's stands beside it, labelled
        widths = [2.8, 3.4, 5.2, 14.3]
        table = _table(doc, [D.FINAL_LABEL, f"{D.MACHINE_LABEL}（系统评分）", "问题数", "结论"], widths)
        _row(table, [decision.final_grade, D.machine_grade(review), found, D.conclusion(review, decision)], widths,
             center={0, 1}, fills={0: GRADE_FILL.get(decision.final_grade, "FFFFFF")})
    table.rows[1].cells[0].paragraphs[0].runs[0].font.size = Pt(16)
    table.rows[1].cells[0].paragraphs[0].runs[0].font.bold = True
    _heading(doc, "三、分项评分与意见")
    widths = [3.0, 2.0, 2.2, 18.5]
    table = _table(doc, ["审核维度", "得分", "等级(1-5)", "评价意见"], widths)
    for name, score, level, opinion in C.dimension_rows(review):
        _row(table, [name, score, level, opinion], widths, center={0, 1, 2})


def _indicator_section(doc: DocxDocument, review: Review) -> None:
    _heading(doc, "四、指标审核意见（问题与修改建议列在所涉指标行旁）")
    widths = [1.2, 1.9, 2.2, 3.8, 2.4, 2.4, 5.9, 5.9]
    table = _table(doc, ["序号", "一级指标", "二级指标", "三级指标", "原指标值", "建议修改值", "存在问题", "修改建议"],
                   widths)
    rows = C.indicator_rows(review)
    for row in rows:
        revised = row.revised_value
        if row.revised_name:
            revised = f"名称改为「{row.revised_name}」" + (f"\n{revised}" if revised else "")
        if row.remove:
            revised = "建议删除" + (f"\n{revised}" if revised else "")
        fill = SEVERITY_FILL.get(row.worst)
        _row(table, [row.index + 1, row.level1, row.level2, row.name, row.value, revised, "\n".join(row.issues) or "—",
                     "\n".join(row.fixes)], widths, center={0},
             fills={4: fill, 6: fill} if fill else None)
    if not rows:
        _row(table, ["—", "", "", "未填写绩效指标", "", "", "", ""], widths)


def _lists_section(doc: DocxDocument, review: Review) -> None:
    _heading(doc, "五、项目层面问题")
    found = C.project_findings(review)
    if found:
        widths = [1.2, 1.8, 2.4, 2.4, 9.0, 8.9]
        table = _table(doc, ["序号", "严重程度", "审核维度", "涉及栏目", "问题", "修改建议"], widths)
        for k, f in enumerate(found, start=1):
            _row(table, [k, C.SEVERITY_ZH[f.severity], DIMENSIONS.get(f.dimension, f.dimension), C.field_name(f),
                         f"{f.message}（{f.rule_id}）", f.suggestion], widths, center={0, 1},
                 fills={1: SEVERITY_FILL[f.severity]})
    else:
        _para(doc, "无。")
    _heading(doc, "六、建议增加的指标")
    adds = C.added(review)
    if adds:
        widths = [1.2, 2.2, 2.6, 5.0, 2.8, 4.0, 7.9]
        table = _table(doc, ["序号", "一级指标", "二级指标", "三级指标", "建议指标值", "来源", "理由"], widths)
        for k, s in enumerate(adds, start=1):
            _row(table, [k, s.level1, s.level2, s.name, s.value, C.suggestion_source(s), s.reason], widths,
                 center={0})
    else:
        _para(doc, "无。")
    _heading(doc, "七、参考案例（已公开的同类项目绩效目标）")
    if review.precedents:
        widths = [1.2, 8.0, 3.0, 1.6, 1.8, 10.1]
        table = _table(doc, ["序号", "项目名称", "地区", "年度", "相似度", "来源"], widths)
        for k, p in enumerate(review.precedents, start=1):
            _row(table, [k, p.project_name, p.region, p.year or "", f"{p.similarity:.2f}", p.source_url or "（未注明）"],
                 widths, center={0, 3, 4})
    else:
        _para(doc, "无。")


def _knowledge_section(doc: DocxDocument, review: Review) -> None:
    _heading(doc, "八、行业与支出标准")
    widths = [3.0, 9.0, 6.0, 7.7]
    table = _table(doc, ["项目", "内容", "适用范围、年度与来源类型", "来源"], widths)
    for row in C.knowledge_rows(review):
        _row(table, list(row), widths)


def _decision_section(doc: DocxDocument, review: Review, decision: ReviewerDecision) -> None:
    _heading(doc, f"九、{D.SECTION_TITLE}")
    widths = [4.2, 21.5]
    table = _label_table(doc, widths)
    for label, value in D.summary_rows(review, decision):
        cells = table.add_row().cells
        _write(cells[0], label, bold=True, fill=_LABEL_FILL)
        _write(cells[1], value, bold=label == D.FINAL_LABEL,
               fill=GRADE_FILL.get(value) if label == D.FINAL_LABEL else None)
    _fix_widths(table, widths)
    rows = D.revision_rows(review, decision)
    if rows:
        widths = [1.4, 1.8, 2.2, 11.0, 9.3]
        table = _table(doc, ["建议", "处理", "类型", "内容", "理由"], widths)
        for r in rows:
            _row(table, [r.number, r.outcome, r.action, r.content, r.reason], widths, center={0, 1, 2},
                 fills={1: "C6EFCE" if r.outcome == "已采纳" else "EDEDED"})


def export_review_docx(review: Review, path: Path | str, *, generated_at: dt.datetime | None = None,
                       decision: ReviewerDecision | None = None) -> Path:
    """Write one review as a 绩效目标审核意见表 (.docx); with `decision`, the reviewer's grade and a 审核人意见 section."""
    path = Path(path)
    doc = Document()
    _setup(doc)
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(title.add_run(C.TITLE), name=_TITLE_FONT, size=18, bold=True)
    _header_section(doc, review)
    _conclusion_section(doc, review, decision)
    _indicator_section(doc, review)
    _lists_section(doc, review)
    _knowledge_section(doc, review)
    if decision is not None:
        _decision_section(doc, review, decision)
    sign = doc.add_paragraph()
    sign.paragraph_format.space_before = Pt(18)
    _font(sign.add_run("审核人（签字）：________________        审核日期：________年____月____日"), size=10.5)
    footer_text = C.footer(review, generated_at)
    _para(doc, footer_text, size=8.5, color="595959")
    para = doc.sections[0].footer.paragraphs[0]
    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(para.add_run(safe_text(f"{C.TITLE} · {review.project_name} · {review.backend}/{review.meta.profile}")),
          size=8, color="808080")
    doc.core_properties.title = safe_text(f"{C.TITLE}：{review.project_name}")
    doc.core_properties.author = "绩效目标审核助手"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path
