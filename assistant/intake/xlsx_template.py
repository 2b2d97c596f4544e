"""A blank 项目支出绩效目标申报表 template (88-style or 101-style) that `read_targets` imports back.

Value cells are formatted as text ('@'), so what is typed is kept as typed: 「=100%」 stays that text instead of
becoming a formula, and 「95%」 is not turned into 0.95. Only the three amount cells stay numeric (a sum there
is a welcome formula)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

# 一级 -> 二级 rows of each taxonomy (RULEBOOK §2.2)
TAXONOMY: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "88": (
        ("产出指标", ("数量指标", "质量指标", "时效指标", "成本指标")),
        ("效益指标", ("经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标")),
        ("满意度指标", ("服务对象满意度指标",)),
    ),
    "101": (
        ("成本指标", ("经济成本指标", "社会成本指标", "生态环境成本指标")),
        ("产出指标", ("数量指标", "质量指标", "时效指标")),
        ("效益指标", ("经济效益指标", "社会效益指标", "生态效益指标")),
        ("满意度指标", ("服务对象满意度指标",)),
    ),
}
ROWS_PER_GROUP = 3

_COLUMNS: dict[str, tuple[tuple[str, float], ...]] = {
    "88": (("一级指标", 13), ("二级指标", 16), ("三级指标", 30), ("指标值（含计算符号和计量单位）", 20),
           ("指标值设定依据", 18), ("指标解释", 30)),
    "101": (("一级指标", 13), ("二级指标", 16), ("三级指标", 28), ("计算符号", 9), ("指标值", 12),
            ("计量单位", 10), ("指标值设定依据", 16), ("指标解释", 28)),
}

_NOTES = {
    "88": (
        "填写说明：\n"
        "1. 金额单位为万元；年度资金总额 = 财政拨款 + 其他资金。\n"
        "2. 年度目标应写明本年度计划完成的产出和达到的效果，不要照抄实施期目标。\n"
        "3. 指标值请连同计算符号和计量单位一并填写，如「≥95%」「10辆」「2025年12月31日前」，"
        "避免「有所提高」「显著提升」等模糊表述。\n"
        "4. 指标值设定依据填写计划标准、历史标准、行业标准、预算支出标准或其他标准。\n"
        "5. 每个二级指标预留3行，不够时在该二级指标范围内插入行；不适用的行留空即可。\n"
        "6. 请勿修改表中的标签文字（如「项目名称」「一级指标」），系统按标签识别各栏目。"
    ),
    "101": (
        "填写说明：\n"
        "1. 金额单位为万元；年度资金总额 = 财政拨款 + 其他资金。\n"
        "2. 年度目标应写明本年度计划完成的产出和达到的效果，不要照抄实施期目标。\n"
        "3. 计算符号从下拉列表选择（≥、≤、＞、＜、＝、定性）；指标值填数字或定性表述；计量单位单独填写。\n"
        "4. 原则上每个项目都应设置成本指标；指标值设定依据填写计划标准、历史标准、行业标准、预算支出标准或其他标准。\n"
        "5. 每个二级指标预留3行，不够时在该二级指标范围内插入行；不适用的行留空即可。\n"
        "6. 请勿修改表中的标签文字（如「项目名称」「一级指标」），系统按标签识别各栏目。"
    ),
}


class _Sheet:
    """The template sheet with its styles; `put` writes a (merged) bordered cell."""

    def __init__(self, ws: Any) -> None:
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        thin = Side(style="thin", color="808080")
        self.ws = ws
        self.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        self.label_fill = PatternFill("solid", fgColor="DDEBF7")
        self.head_fill = PatternFill("solid", fgColor="BDD7EE")
        self.bold = Font(name="宋体", bold=True, size=11)
        self.normal = Font(name="宋体", size=11)
        self.wrap = Alignment(wrap_text=True, vertical="center")
        self.center = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def put(self, r: int, c: int, value: str | None = None, *, label: bool = False, c2: int | None = None,
            r2: int | None = None, text: bool = True) -> None:
        """`text`: a value cell formatted as text ('@'); labels keep the default format."""
        ws = self.ws
        cell = ws.cell(row=r, column=c, value=value)
        for rr in range(r, (r2 or r) + 1):
            for cc in range(c, (c2 or c) + 1):
                x = ws.cell(row=rr, column=cc)
                x.border = self.border
                x.font = self.bold if label else self.normal
                x.alignment = self.center if label else self.wrap
                if label:
                    x.fill = self.label_fill
                elif text:
                    x.number_format = "@"
        if (c2 and c2 > c) or (r2 and r2 > r):
            ws.merge_cells(start_row=r, start_column=c, end_row=r2 or r, end_column=c2 or c)
        cell.value = value


def _header_block(sh: _Sheet, last: int) -> None:
    """Rows 1–10: title, year, name, departments, attribute and period, money, goals."""
    from openpyxl.styles import Alignment, Font

    ws, put = sh.ws, sh.put
    half = max(2, last // 2)  # the second label of a two-field row sits here
    ws.cell(row=1, column=1, value="项目支出绩效目标申报表").font = Font(name="黑体", bold=True, size=16)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=last)
    ws.row_dimensions[1].height = 30
    put(2, 1, "预算年度", label=True)
    put(2, 2, None)
    ws.cell(row=2, column=last, value="金额单位：万元").alignment = Alignment(horizontal="right")
    put(3, 1, "项目名称", label=True)
    put(3, 2, None, c2=last)
    for r, (a, b) in ((4, ("主管部门", "实施单位")), (5, ("项目属性", "实施期"))):
        put(r, 1, a, label=True)
        put(r, 2, None, c2=half)
        put(r, half + 1, b, label=True)
        put(r, half + 2, None, c2=last)
    put(6, 1, "资金情况\n（万元）", label=True, r2=8)
    for r, text in ((6, "年度资金总额"), (7, "其中：财政拨款"), (8, "其他资金")):
        put(r, 2, text, label=True)
        put(r, 3, None, text=False)  # amounts: numbers (or a sum)
        put(r, 4, None, c2=last)  # spare, keeps the grid closed
    put(9, 1, "实施期目标", label=True)
    put(9, 2, None, c2=last)
    put(10, 1, "年度目标", label=True)
    put(10, 2, None, c2=last)
    ws.row_dimensions[9].height = 60
    ws.row_dimensions[10].height = 60


def _indicator_block(sh: _Sheet, style: Literal["88", "101"], head: int) -> int:
    """The indicator table from row `head` (column titles, then ROWS_PER_GROUP rows per 二级 category);
    returns its last row."""
    columns = _COLUMNS[style]
    ncol = len(columns)
    for c, (title, width) in enumerate(columns, start=1):
        sh.put(head, c, title, label=True)
        sh.ws.cell(row=head, column=c).fill = sh.head_fill
        sh.ws.column_dimensions[_letter(c)].width = width
    sh.ws.row_dimensions[head].height = 32
    r = head + 1
    for level1, level2s in TAXONOMY[style]:
        start1 = r
        for level2 in level2s:
            for k in range(ROWS_PER_GROUP):
                for c in range(3, ncol + 1):
                    sh.put(r + k, c, None)
            sh.put(r, 2, level2, label=True, r2=r + ROWS_PER_GROUP - 1)
            r += ROWS_PER_GROUP
        sh.put(start1, 1, level1, label=True, r2=r - 1)
    return r - 1


def write_template(path: Path, *, style: Literal["88", "101"]) -> None:
    """Write a blank, formatted template in the chosen taxonomy to `path` (.xlsx)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment
    from openpyxl.worksheet.datavalidation import DataValidation

    if style not in TAXONOMY:
        from assistant.errors import InputError

        raise InputError(f"模板样式只能是 88 或 101，收到「{style}」", where="--style")
    last = len(_COLUMNS[style])  # last column number
    wb = Workbook()
    ws = wb.active
    ws.title = "绩效目标申报表"
    sh = _Sheet(ws)
    _header_block(sh, last)
    head = 11
    last_row = _indicator_block(sh, style, head)
    notes_row = last_row + 2
    sh.put(notes_row, 1, _NOTES[style], c2=last)
    ws.cell(row=notes_row, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[notes_row].height = 120
    dv_attr = DataValidation(type="list", formula1='"新增,延续"', allow_blank=True)
    ws.add_data_validation(dv_attr)
    dv_attr.add("B5")
    if style == "101":
        dv_op = DataValidation(type="list", formula1='"≥,≤,＞,＜,＝,定性"', allow_blank=True)
        ws.add_data_validation(dv_op)
        dv_op.add(f"D{head + 1}:D{last_row}")
    ws.freeze_panes = ws.cell(row=head + 1, column=1)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{head}:{head}"
    wb.properties.title = f"项目支出绩效目标申报表（{style}号文样式）"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def _letter(c: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(c)
