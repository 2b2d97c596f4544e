"""Import .xlsx 绩效目标表 built from corpus records in several layouts; templates; bad input."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from assistant.errors import InputError
from assistant.intake.xlsx import read_targets, write_template
from assistant.intake.xlsx_grid import number_text
from assistant.intake.xlsx_preflight import check_workbook_file
from assistant.intake.xlsx_template import ROWS_PER_GROUP, TAXONOMY
from assistant.models import Indicator, Target

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "approved_targets.jsonl"
RECORDS = [Target.model_validate(json.loads(line)) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
HEADER_FIELDS = ("project_name", "department", "implementing_unit", "project_attribute", "annual_goal",
                 "long_term_goal", "amount_total_wan", "amount_fiscal_wan")
SPLIT = re.compile(r"^(≥|≤|>|<|=|＞|＜|＝)?(\d+(?:\.\d+)?)([^\d,.，].*)?$")


def put(ws: Worksheet, r: int, c: int, value: object, fmt: str | None = None) -> None:
    """Write a value as typed: text stays text even when it starts with '=' (a real typed-in '=8' cell)."""
    cell = ws.cell(row=r, column=c)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
    if fmt:
        cell.number_format = fmt


def stripped(t: Target) -> Target:
    """What an import must give back: outer whitespace trimmed (cells are stripped)."""
    data = t.model_dump()
    for k, v in data.items():
        if isinstance(v, str):
            data[k] = v.strip()
    data["indicators"] = [{k: v.strip() if isinstance(v, str) else v for k, v in i.items()} for i in data["indicators"]]
    return Target.model_validate(data)


def plain(rows: list[Indicator]) -> list[Indicator]:
    """Rows without the workbook row they were read from (the source records have none)."""
    return [i.model_copy(update={"sheet_row": None}) for i in rows]


def assert_header(got: Target, want: Target, fields: tuple[str, ...] = HEADER_FIELDS) -> None:
    want = stripped(want)
    for f in fields:
        w, g = getattr(want, f), getattr(got, f)
        if isinstance(w, float):
            assert g == pytest.approx(w, abs=1e-6), f
        else:
            assert g == w, f"{f}: {g!r} != {w!r}"


def typed_value(value: str) -> tuple[object, str | None]:
    """A corpus value as a user would type it: '95%' becomes 0.95 formatted 0%, '2280' a number."""
    m = re.fullmatch(r"(\d+)%", value)
    if m:
        return int(m.group(1)) / 100, "0%"
    if re.fullmatch(r"[1-9]\d{0,5}", value):
        return int(value), None
    return value, None


# ---------------------------------------------------------------- layout A: 88-style, merged cells

def write_88(ws: Worksheet, t: Target, top: int = 1) -> int:
    """Title, unit note, header with a merged 资金总额 block, goals below a row of labels, merged 一级/二级."""
    r = top
    put(ws, r, 1, f"{t.year or ''}年度项目支出绩效目标表")
    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=5)
    put(ws, r + 1, 5, "金额单位：万元")
    put(ws, r + 2, 1, "项目名称")
    put(ws, r + 2, 2, t.project_name)
    ws.merge_cells(start_row=r + 2, start_column=2, end_row=r + 2, end_column=5)
    put(ws, r + 3, 1, "主管部门")
    put(ws, r + 3, 2, t.department)
    put(ws, r + 3, 3, "实施单位")
    put(ws, r + 3, 4, t.implementing_unit)
    put(ws, r + 4, 1, "项目属性")
    put(ws, r + 4, 2, t.project_attribute)
    put(ws, r + 4, 3, "实施期")
    put(ws, r + 4, 4, t.period)
    put(ws, r + 5, 1, "资金总额（万元）")
    ws.merge_cells(start_row=r + 5, start_column=1, end_row=r + 7, end_column=1)
    for k, (label, v) in enumerate((("年度资金总额", t.amount_total_wan), ("其中：财政拨款", t.amount_fiscal_wan),
                                    ("其他资金", t.amount_other_wan))):
        put(ws, r + 5 + k, 2, label)
        put(ws, r + 5 + k, 3, v)
    put(ws, r + 8, 1, "总体目标")
    ws.merge_cells(start_row=r + 8, start_column=1, end_row=r + 9, end_column=1)
    put(ws, r + 8, 2, "实施期目标")
    put(ws, r + 8, 4, "年度目标")
    put(ws, r + 9, 2, t.long_term_goal)
    put(ws, r + 9, 4, t.annual_goal)
    for c, label in enumerate(("一级指标", "二级指标", "三级指标", "指标值", "指标值设定依据"), start=1):
        put(ws, r + 10, c, label)
    r += 11
    start1 = start2 = r
    inds = t.indicators
    for k, ind in enumerate(inds):
        new1 = k == 0 or ind.level1 != inds[k - 1].level1
        new2 = new1 or ind.level2 != inds[k - 1].level2
        if new1 and k:
            if r - 1 > start1:
                ws.merge_cells(start_row=start1, start_column=1, end_row=r - 1, end_column=1)
            start1 = r
        if new2 and k:
            if r - 1 > start2:
                ws.merge_cells(start_row=start2, start_column=2, end_row=r - 1, end_column=2)
            start2 = r
        if new1:
            put(ws, r, 1, ind.level1)
        if new2:
            put(ws, r, 2, ind.level2)
        put(ws, r, 3, ind.name)
        value, fmt = typed_value(ind.value)
        put(ws, r, 4, value, fmt)
        put(ws, r, 5, ind.basis)
        r += 1
    if inds and r - 1 > start1:
        ws.merge_cells(start_row=start1, start_column=1, end_row=r - 1, end_column=1)
    if inds and r - 1 > start2:
        ws.merge_cells(start_row=start2, start_column=2, end_row=r - 1, end_column=2)
    return r


@pytest.mark.parametrize("t", RECORDS, ids=[t.id or "" for t in RECORDS])
def test_layout_88_merged(tmp_path: Path, t: Target) -> None:
    wb = Workbook()
    write_88(wb.active, t)
    path = tmp_path / "a.xlsx"
    wb.save(path)
    [got] = read_targets(path)
    assert_header(got, t)
    assert got.year == t.year
    assert plain(got.indicators) == stripped(t).indicators


# ---------------------------------------------------------------- layout B: 101-style, separate columns

def write_101(ws: Worksheet, t: Target) -> None:
    """Labels moved right/down, inline 「项目名称：…」, amounts in 元, two-row indicator header."""
    put(ws, 2, 3, "项目支出绩效目标申报表")
    put(ws, 4, 3, f"项目名称：{t.project_name}" if t.project_name else "项目名称")
    put(ws, 5, 3, "主管预算部门")
    put(ws, 5, 5, t.department)  # a blank merged gap between label and value
    put(ws, 5, 7, "项目实施单位")
    put(ws, 5, 8, t.implementing_unit)
    put(ws, 6, 3, "项目属性")
    put(ws, 6, 5, t.project_attribute)
    put(ws, 6, 7, "项目起止时间")
    put(ws, 6, 8, t.period)
    put(ws, 7, 3, "预算金额（元）")
    put(ws, 7, 5, None if t.amount_total_wan is None else round(t.amount_total_wan * 10000, 2))
    put(ws, 7, 7, "其中：本级财政资金（元）")
    put(ws, 7, 8, None if t.amount_fiscal_wan is None else round(t.amount_fiscal_wan * 10000, 2))
    put(ws, 8, 3, "长期目标")
    put(ws, 8, 5, t.long_term_goal)
    put(ws, 9, 3, "年度绩效目标")
    put(ws, 9, 5, t.annual_goal)
    heads = ("一级指标", "二级指标", "三级指标", "指标值", None, None, "绩效标准", "指标解释")
    for c, h in enumerate(heads, start=3):
        put(ws, 11, c, h)
    ws.merge_cells("F11:H11")
    for c, h in enumerate(("计算符号", "年度指标值", "计量单位"), start=6):
        put(ws, 12, c, h)
    for c in (3, 4, 5, 9, 10):
        ws.merge_cells(start_row=11, start_column=c, end_row=12, end_column=c)
    r = 13
    for ind in t.indicators:
        op, num, unit = split_value(ind.value)
        put(ws, r, 3, ind.level1)  # repeated on every row (no merges)
        put(ws, r, 4, ind.level2)
        put(ws, r, 5, ind.name)
        put(ws, r, 6, op)
        put(ws, r, 7, num)
        put(ws, r, 8, unit)
        put(ws, r, 9, ind.basis)
        put(ws, r, 10, f"{ind.name}的计算口径" if ind.name else "")
        r += 1
        put(ws, r, 3, None)  # a blank row inside the table is skipped
        r += 1


def split_value(value: str) -> tuple[str, object, str]:
    m = SPLIT.match(value)
    if not m:
        return "", value, ""
    op, num, unit = m.group(1) or "", m.group(2), m.group(3) or ""
    as_number: object = float(num) if "." in num else int(num)
    if number_text(as_number) != num:  # '1.10' would come back '1.1': keep it text
        as_number = num
    return op, as_number, unit


def expected_101(t: Target) -> list[Indicator]:
    out = []
    for ind in stripped(t).indicators:
        op, num, unit = split_value(ind.value)
        out.append(ind.model_copy(update={"operator": op, "value": str(num), "unit": unit,
                                          "explanation": f"{ind.name}的计算口径" if ind.name else ""}))
    return out


@pytest.mark.parametrize("t", RECORDS, ids=[t.id or "" for t in RECORDS])
def test_layout_101_separate_columns_amounts_in_yuan(tmp_path: Path, t: Target) -> None:
    wb = Workbook()
    write_101(wb.active, t)
    path = tmp_path / "b.xlsx"
    wb.save(path)
    [got] = read_targets(path)
    assert_header(got, t)
    assert plain(got.indicators) == expected_101(t)
    from assistant.report.content import filed_value

    assert [filed_value(i) for i in got.indicators] == [i.value for i in stripped(t).indicators]


# ---------------------------------------------------------------- layout C: stacked projects; D: sheet per project

def test_two_projects_stacked_on_one_sheet_with_review_block(tmp_path: Path) -> None:
    a, b = RECORDS[4], RECORDS[14]
    wb = Workbook()
    ws = wb.active
    end = write_88(ws, a)
    put(ws, end, 1, "主管部门审核意见")
    put(ws, end, 2, "同意")
    end = write_88(ws, b, top=end + 3)
    put(ws, end + 1, 1, "填表说明：金额单位为万元。")
    path = tmp_path / "c.xlsx"
    wb.save(path)
    got = read_targets(path)
    assert [g.project_name for g in got] == [a.project_name, b.project_name]
    for g, t in zip(got, (a, b), strict=False):
        assert_header(g, t)
        assert plain(g.indicators) == stripped(t).indicators


def test_amounts_in_a_row_of_labels_with_values_below(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    put(ws, 1, 1, "项目名称")
    put(ws, 1, 2, "测试项目")
    put(ws, 2, 1, "资金情况（元）")
    for c, h in enumerate(("年度资金总额", "财政拨款", "其他资金"), start=2):
        put(ws, 2, c, h)
    for c, v in enumerate((1_535_184, "1,000,000.00", 535184), start=2):
        put(ws, 3, c, v)
    put(ws, 4, 1, "绩效目标")
    put(ws, 4, 2, "完成绿化美化")
    for c, h in enumerate(("三级指标", "指标值"), start=1):
        put(ws, 5, c, h)
    put(ws, 6, 1, "栽植苗木")
    put(ws, 6, 2, "≥15000株")
    path = tmp_path / "d.xlsx"
    wb.save(path)
    [got] = read_targets(path)
    assert (got.amount_total_wan, got.amount_fiscal_wan, got.amount_other_wan) == (153.5184, 100.0, 53.5184)
    assert got.annual_goal == "完成绿化美化"  # 绩效目标 alone is read as the annual goal
    assert plain(got.indicators) == [Indicator(name="栽植苗木", value="≥15000株")]


def test_one_project_per_sheet_and_sheet_choice(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "填写说明"
    put(wb.active, 1, 1, "请按标签填写，每个项目一张工作表。")
    for t in RECORDS[5:8]:
        write_88(wb.create_sheet(f"项目{t.id}"), t)
    path = tmp_path / "e.xlsx"
    wb.save(path)
    got = read_targets(path)
    assert [g.project_name for g in got] == [t.project_name for t in RECORDS[5:8]]
    [one] = read_targets(path, sheet=f"项目{RECORDS[6].id}")
    assert plain(one.indicators) == stripped(RECORDS[6]).indicators


def test_cell_types_become_text_as_written(tmp_path: Path) -> None:
    import datetime as dt

    wb = Workbook()
    ws = wb.active
    put(ws, 1, 1, "项目名称")
    put(ws, 1, 2, "类型测试")
    put(ws, 2, 1, "实施期")
    put(ws, 2, 2, dt.datetime(2023, 7, 1))
    for c, h in enumerate(("三级指标", "指标值"), start=1):
        put(ws, 3, c, h)
    rows = [(95, None, "95"), (0.955, "0.0%", "95.5%"), (0.9, "0.00%", "90.00%"), (12.5, None, "12.5"),
            (dt.datetime(2023, 12, 31), None, "2023-12-31"), (True, None, "是"), ("  ≥ 3 次 ", None, "≥ 3 次")]
    for k, (v, fmt, _) in enumerate(rows):
        put(ws, 4 + k, 1, f"指标{k}")
        put(ws, 4 + k, 2, v, fmt)
    put(ws, 20, 1, "空值指标")  # an empty value stays empty: a rule judges it, not the importer
    path = tmp_path / "f.xlsx"
    wb.save(path)
    [got] = read_targets(path)
    assert got.period == "2023-07-01"
    assert [i.value for i in got.indicators] == [w for *_, w in rows] + [""]


# ---------------------------------------------------------------- templates

def fill_template(path: Path, t: Target) -> None:
    wb = load_workbook(path)
    ws = wb.active
    where: dict[str, tuple[int, int]] = {}
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                where.setdefault(cell.value, (cell.row, cell.column))
    values = {"预算年度": t.year, "项目名称": t.project_name, "主管部门": t.department, "实施单位": t.implementing_unit,
              "项目属性": t.project_attribute, "实施期": t.period, "年度资金总额": t.amount_total_wan,
              "其中：财政拨款": t.amount_fiscal_wan, "其他资金": t.amount_other_wan, "实施期目标": t.long_term_goal,
              "年度目标": t.annual_goal}
    for label, v in values.items():
        r, c = where[label]
        put(ws, r, c + 1, v)  # the value cell (top-left of its merged range) follows the label
    head_r = where["一级指标"][0]
    heads = {ws.cell(row=head_r, column=c).value: c for c in range(1, ws.max_column + 1)}
    used: dict[str, int] = {}
    for ind in t.indicators:
        r = where[ind.level2][0] + used.get(ind.level2, 0)
        used[ind.level2] = used.get(ind.level2, 0) + 1
        put(ws, r, heads["三级指标"], ind.name)
        if "计算符号" in heads:
            put(ws, r, heads["计算符号"], ind.operator)
            put(ws, r, heads["计量单位"], ind.unit)
        put(ws, r, heads.get("指标值", heads.get("指标值（含计算符号和计量单位）")), ind.value)
        put(ws, r, heads["指标值设定依据"], ind.basis)
        put(ws, r, heads["指标解释"], ind.explanation)
    wb.save(path)


@pytest.mark.parametrize("style", ["88", "101"])
def test_template_round_trip(tmp_path: Path, style: str) -> None:
    path = tmp_path / f"draft{style}.xlsx"
    write_template(path, style=style)
    [blank] = read_targets(path)
    assert blank == Target()  # a blank template imports as an empty target, no error
    source = [i for t in RECORDS for i in t.indicators if i.name][:40]
    inds: list[Indicator] = []
    k = 0
    for level1, level2s in TAXONOMY[style]:
        for level2 in level2s:
            for _ in range(ROWS_PER_GROUP - (1 if level2.startswith("社会") else 0)):
                src = source[k]
                k += 1
                op, num, unit = split_value(src.value) if style == "101" else ("", src.value, "")
                inds.append(Indicator(level1=level1, level2=level2, name=src.name, value=str(num), operator=op,
                                      unit=unit, basis=src.basis, explanation=f"解释{k}"))
    t = Target(project_name="=HYPERLINK(\"x\")测试项目", department="某市财政局", implementing_unit="某中心",
               year=2025, project_attribute="新增", period="2025-01至2025-12", amount_total_wan=120.5,
               amount_fiscal_wan=100, amount_other_wan=20.5, annual_goal="年度目标：完成A、B两项任务。",
               long_term_goal="实施期内建成C。", indicators=inds)
    fill_template(path, t)
    [got] = read_targets(path)
    assert all(i.sheet_row for i in got.indicators)  # every row remembers where it sits in the workbook
    assert got.model_copy(update={"indicators": plain(got.indicators)}) == t


def test_template_rejects_unknown_style(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        write_template(tmp_path / "x.xlsx", style="99")  # type: ignore[arg-type]


# ---------------------------------------------------------------- bad input

def small_workbook(tmp_path: Path, name: str = "ok.xlsx") -> Path:
    wb = Workbook()
    write_88(wb.active, RECORDS[3])
    wb.active.title = "申报表"
    path = tmp_path / name
    wb.save(path)
    return path


def test_wrong_sheet_lists_available_sheets(tmp_path: Path) -> None:
    path = small_workbook(tmp_path)
    with pytest.raises(InputError) as err:
        read_targets(path, sheet="Sheet9")
    assert "Sheet9" in str(err.value) and "「申报表」" in str(err.value)


def test_no_project_name_label_names_label_and_sheets(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "数据"
    put(wb.active, 1, 1, "随便什么")
    put(wb.active, 30, 2, "内容")
    wb.create_sheet("空表")
    path = tmp_path / "n.xlsx"
    wb.save(path)
    with pytest.raises(InputError) as err:
        read_targets(path)
    msg = str(err.value)
    assert "项目名称" in msg and "「数据」第1–30行" in msg and "「空表」" in msg


def test_missing_indicator_header_names_rows(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    put(ws, 3, 1, "项目名称")
    put(ws, 3, 2, "某项目")
    put(ws, 9, 1, "产出指标")
    path = tmp_path / "h.xlsx"
    wb.save(path)
    with pytest.raises(InputError) as err:
        read_targets(path)
    assert "三级指标" in err.value.message and err.value.where == "工作表「Sheet」第3–9行（项目名称所在行起）"


def test_indicator_header_without_value_column_names_row(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    put(ws, 1, 1, "项目名称")
    put(ws, 1, 2, "某项目")
    for c, h in enumerate(("一级指标", "二级指标", "三级指标"), start=1):
        put(ws, 4, c, h)
    path = tmp_path / "v.xlsx"
    wb.save(path)
    with pytest.raises(InputError) as err:
        read_targets(path)
    assert "指标值" in err.value.message and "三级指标（C列）" in err.value.message
    assert err.value.where == "工作表「Sheet」第4行"


@pytest.mark.parametrize(("data", "needle"), [
    (bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504 + "Workbook".encode("utf-16-le") + b"\0" * 1000, ".xls"),
    (bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 99, "加密"),
    ("项目名称,金额\n测试,1\n".encode(), "不是有效的 xlsx 文件"),
    (b"", "为空"),
])
def test_not_a_workbook(tmp_path: Path, data: bytes, needle: str) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read_targets(path)
    assert needle in err.value.message and "bad.xlsx" in (err.value.where or "")


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "z.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(InputError, match="workbook.xml"):
        read_targets(path)


def test_zip_bomb_is_refused_before_parsing(tmp_path: Path) -> None:
    path = small_workbook(tmp_path, "bomb.xlsx")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf, \
            zf.open("xl/media/padding.bin", "w") as fh:  # 64 MB of zeros, ~64 KB compressed
        chunk = b"\0" * (1 << 20)
        for _ in range(64):
            fh.write(chunk)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(InputError, match="压缩炸弹"):
        read_targets(path)
    ok = small_workbook(tmp_path)
    with pytest.raises(InputError, match="解压后总大小"):
        check_workbook_file(ok, max_uncompressed=1000)


def test_file_size_cap(tmp_path: Path) -> None:
    path = small_workbook(tmp_path)
    with pytest.raises(InputError, match="文件过大"):
        read_targets(path, max_bytes=1000)


def test_macro_workbooks_are_refused(tmp_path: Path) -> None:
    path = small_workbook(tmp_path)
    xlsm = tmp_path / "m.xlsm"
    xlsm.write_bytes(path.read_bytes())
    with pytest.raises(InputError, match="宏"):
        read_targets(xlsm)
    renamed = tmp_path / "m2.xlsx"  # a macro workbook renamed .xlsx: vbaProject.bin gives it away
    buf = io.BytesIO(path.read_bytes())
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("xl/vbaProject.bin", b"\0" * 100)
    renamed.write_bytes(buf.getvalue())
    with pytest.raises(InputError, match="vbaProject"):
        read_targets(renamed)


def test_corrupt_sheet_xml_is_a_clear_error(tmp_path: Path) -> None:
    path = small_workbook(tmp_path)
    src = zipfile.ZipFile(path)
    out = tmp_path / "corrupt.xlsx"
    with zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            zf.writestr(info, data)
    with pytest.raises(InputError) as err:
        read_targets(out)
    assert "申报表" in str(err.value) or "无法打开" in str(err.value)


def test_ten_thousand_indicator_rows(tmp_path: Path) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("大表")
    ws.append(["项目名称", "大型项目"])
    ws.append(["年度资金总额（万元）", 1000])
    ws.append(["一级指标", "二级指标", "三级指标", "计算符号", "指标值", "计量单位", "指标值设定依据"])
    for k in range(10_000):
        ws.append(["产出指标" if k % 50 == 0 else None, "数量指标" if k % 10 == 0 else None, f"指标{k}", "≥",
                   k, "个", "计划标准"])
    path = tmp_path / "big.xlsx"
    wb.save(path)
    [got] = read_targets(path)
    assert len(got.indicators) == 10_000
    assert plain(got.indicators)[-1] == Indicator(level1="产出指标", level2="数量指标", name="指标9999", operator="≥",
                                           value="9999", unit="个", basis="计划标准")


def test_real_workbook_with_another_extension_is_read(tmp_path: Path) -> None:
    """A genuine .xlsx saved under a .xls name is read by content, not refused by its name."""
    path = small_workbook(tmp_path)
    renamed = tmp_path / "申报表.xls"
    renamed.write_bytes(path.read_bytes())
    [got] = read_targets(renamed)
    assert got.project_name == RECORDS[3].project_name


# ---------------------------------------------------------------- formulas typed into value cells

def _with_cached(path: Path, out: Path, formula: str, cached: str) -> None:
    """Copy of `path` where the formula's empty cached value is `cached` (as Excel saves it)."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.startswith("xl/worksheets/"):
                text = data.decode("utf-8")
                for empty in ("<v></v>", "<v />", "<v/>"):
                    text = text.replace(f"<f>{formula}</f>{empty}", f"<f>{formula}</f><v>{cached}</v>")
                data = text.encode("utf-8")
            dst.writestr(name, data)


def test_formula_without_cached_value_is_read_as_its_text_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "formulas.xlsx"
    write_template(path, style="88")
    wb = load_workbook(path)
    ws = wb.active
    ws["B3"] = "测试项目"
    rows = {"车辆数": "=10", "完好率": "=100%", "达标率": '="≥95%"'}
    for r, (name, formula) in enumerate(rows.items(), start=12):
        ws.cell(row=r, column=3, value=name)
        ws.cell(row=r, column=4, value=formula)  # a formula, saved without a computed value (as openpyxl does)
    wb.save(path)
    [t] = read_targets(path)
    assert [(i.name, i.value) for i in t.indicators] == [("车辆数", "10"), ("完好率", "100%"), ("达标率", "≥95%")]
    assert "第13行 D列是公式「=100%」，文件中没有计算结果，已按「100%」读取" in t.notes
    assert t.notes.count("是公式") == 3


def test_constant_percentage_formula_with_a_plain_cached_value_keeps_the_percent(tmp_path: Path) -> None:
    path, cached = tmp_path / "f.xlsx", tmp_path / "cached.xlsx"
    wb = Workbook()
    ws = wb.active
    for r, (label, value) in enumerate((("项目名称", "测试项目"), ("三级指标", "指标值")), start=1):
        put(ws, r, 1, label)
        put(ws, r, 2, value)
    put(ws, 3, 1, "设备完好率")
    ws.cell(row=3, column=2, value="=100%")
    put(ws, 4, 1, "合计")
    ws.cell(row=4, column=2, value="=5+5")
    wb.save(path)
    _with_cached(path, cached, "100%", "1")  # Excel keeps 1 in a General cell: the user typed 100%
    _with_cached(cached, cached.with_name("both.xlsx"), "5+5", "10")
    [t] = read_targets(cached.with_name("both.xlsx"))
    assert [(i.name, i.value) for i in t.indicators] == [("设备完好率", "100%"), ("合计", "10")]
    assert "公式「=100%」，已按「100%」读取（文件中的计算结果显示为「1」）" in t.notes
    assert "5+5" not in t.notes  # a formula with a cached value is read as computed, silently


def test_template_value_cells_are_text_so_typing_cannot_make_a_formula(tmp_path: Path) -> None:
    for style in ("88", "101"):
        path = tmp_path / f"t{style}.xlsx"
        write_template(path, style=style)  # type: ignore[arg-type]
        ws = load_workbook(path).active
        head = next(r for r in range(1, 30) if ws.cell(row=r, column=1).value == "一级指标")
        for r in range(head + 1, head + 4):
            for c in range(3, len(TAXONOMY[style]) + 5):
                if ws.cell(row=head, column=c).value:
                    assert ws.cell(row=r, column=c).number_format == "@", (style, r, c)
        for ref in ("B2", "B3", "B4", "B9", "B10"):
            assert ws[ref].number_format == "@", (style, ref)
        assert ws["C6"].number_format == "General"  # amounts stay numbers (a sum is welcome)
        ws["D12"].value = "=100%"
        ws["D12"].data_type = "s"  # what Excel stores when 「=100%」 is typed into a text cell
        ws["C12"].value = "完好率"
        ws.parent.save(path)
        [t] = read_targets(path)
        assert t.indicators[0].name == "完好率" and "100%" in (t.indicators[0].value + t.indicators[0].operator)
