"""Read 绩效目标申报表 / 绩效目标表 workbooks (.xlsx) into `Target`s, finding fields by their labels.

Layouts handled: a header block (label cell, value to its right, or below in a row of labels;
「项目名称：某某」 in one cell), amounts in 万元/元 (converted to 万元), goal cells, and an
indicator table whose header row is found by its labels, with merged or blank 一级/二级 cells
carried down, optional 计算符号 / 计量单位 / 指标解释 columns, one or several projects per sheet.
Only structural problems raise `InputError`; empty values stay "" for the rules to judge.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import InputError
from assistant.intake.xlsx_grid import Cell, Grid, col_letter, install_fast_sheet_size, read_grid, where
from assistant.intake.xlsx_labels import (
    AMOUNT_FIELDS,
    ANNUAL_COLUMN,
    GROUP_LABELS,
    HEADER_LABELS,
    INDICATOR_LABELS,
    PERIOD_COLUMN,
    is_label,
    is_stop,
    is_title,
    norm_label,
    note_unit_factor,
    split_inline,
    unit_factor,
)
from assistant.intake.xlsx_preflight import MAX_FILE_BYTES, check_workbook_file
from assistant.intake.xlsx_template import write_template
from assistant.models import Indicator, Target

__all__ = ["read_targets", "write_template"]

_PROJECT = "project_name"
_YEAR = re.compile(r"((?:19|20)\d{2})\s*年?")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?")
_AMOUNT_CN = {"amount_total": "资金总额", "amount_fiscal": "财政拨款", "amount_other": "其他资金", "prior_amount": "上年预算"}
_IND_FIELDS = ("level1", "level2", "name", "value", "operator", "unit", "basis", "explanation")


@dataclass
class _Cand:
    field: str
    prio: int
    row: int
    col: int
    label: str  # the label cell's raw text
    value: Cell | None
    annual: bool = False  # in the annual-amount column


def read_targets(path: Path, *, sheet: str | None = None, max_bytes: int = MAX_FILE_BYTES,
                 display_name: str | None = None) -> list[Target]:
    """Read every project in `path` (or in one `sheet`). Raises InputError (Chinese) on structural problems;
    messages name `display_name` (the user's file name, when `path` is a temporary copy of an upload)."""
    import openpyxl  # deferred: importing openpyxl costs ~0.2 s

    path = Path(path)
    shown = display_name or path.name
    check_workbook_file(path, max_bytes=max_bytes, display_name=shown)
    install_fast_sheet_size()  # a sheet without <dimension> is not scanned whole before being read
    fh = path.open("rb")  # a file object: openpyxl then ignores the name's extension (.xls named .xlsx…)
    try:
        wb = openpyxl.load_workbook(fh, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:
        fh.close()
        raise InputError(f"不是有效的 xlsx 文件，无法打开（{type(exc).__name__}: {exc}）",
                         where=f"文件「{shown}」") from exc
    try:
        names = list(wb.sheetnames)
        if sheet is not None and sheet not in names:
            listed = "、".join(f"「{n}」" for n in names)
            raise InputError(f"找不到工作表「{sheet}」；工作簿中的工作表有：{listed}", where=f"文件「{shown}」")
        targets: list[Target] = []
        searched: list[str] = []
        archive = getattr(wb, "_archive", None)
        for name in [sheet] if sheet is not None else names:
            ws = wb[name]
            if not hasattr(ws, "iter_rows"):  # a chartsheet
                searched.append(f"「{name}」（图表工作表）")
                continue
            grid = read_grid(ws, name, archive, table_start=_has_project_label)
            found = _read_sheet(grid)
            targets.extend(found)
            searched.append(f"「{name}」第1–{grid.max_row}行" if grid.max_row else f"「{name}」（空）")
        if not targets:
            raise InputError(
                "未找到「项目名称」标签，无法识别绩效目标表表头（也查找了「项目名称：…」形式的单元格）；"
                f"已搜索工作表：{'、'.join(searched)}", where=f"文件「{shown}」")
        return targets
    finally:
        wb.close()
        fh.close()


def _read_sheet(grid: Grid) -> list[Target]:
    starts = [r for r in grid.row_numbers(1, grid.max_row + 1) if _has_project_label(grid.rows[r])]
    targets: list[Target] = []
    region_lo = 1
    for i, start in enumerate(starts):
        hi = starts[i + 1] if i + 1 < len(starts) else grid.max_row + 1
        header = _find_indicator_header(grid, start, hi)
        if header is None:
            raise InputError(
                "未找到指标表表头：需要一行同时含「三级指标」（或「指标名称」）与「指标值」或「一级指标」/「二级指标」",
                where=f"{where(grid.sheet)}第{start}–{hi - 1}行（项目名称所在行起）")
        head_row, first_data, cols = header
        fields = _header_fields(grid, region_lo, head_row)
        indicators, end = _read_table(grid, first_data, hi, cols)
        assumed = [note for r, note in grid.assumed if region_lo <= r < end]
        if assumed:  # what was read from formulas (xlsx_formulas) is said in the target's notes
            fields["notes"] = "；".join([n for n in (fields.get("notes", ""),) if n] + assumed)
        region_lo = end
        targets.append(_build_target(fields, indicators))
    return targets


def _has_project_label(row: dict[int, Cell]) -> bool:
    for cell in row.values():
        if "项目" not in cell.text:
            continue
        n = norm_label(cell.text)
        if HEADER_LABELS.get(n, ("", 0))[0] == _PROJECT:
            return True
        inline = split_inline(cell.text)
        if inline and HEADER_LABELS[inline[0]][0] == _PROJECT:
            return True
    return False


# ---------------------------------------------------------------- header block

def _header_fields(grid: Grid, lo: int, hi: int) -> dict[str, Any]:
    rows = grid.row_numbers(lo, hi)
    annual_col, annual_row = _annual_amount_column(grid, rows)
    default_factor: float | None = None
    title_year: int | None = None
    cands: list[_Cand] = []
    consumed: set[tuple[int, int]] = set()  # cells already taken as some label's value
    for r in rows:
        row = grid.rows[r]
        cols = sorted(row)
        for i, c in enumerate(cols):
            text = row[c].text
            if (r, c) in consumed:
                continue
            if default_factor is None:
                n = norm_label(text)
                if note_unit_factor(text) is not None:
                    default_factor = note_unit_factor(text)
                elif HEADER_LABELS.get(n, ("", 0))[0] in AMOUNT_FIELDS or n in GROUP_LABELS:
                    default_factor = unit_factor(text)
            if title_year is None and is_title(text):
                m = _YEAR.search(text)
                title_year = int(m.group(1)) if m else None
            if r == annual_row and norm_label(text) in (ANNUAL_COLUMN | PERIOD_COLUMN):
                continue  # a column header of the amount table, not a field
            inline = split_inline(text)
            if inline:
                label, rest = inline
                fld, prio = HEADER_LABELS[label]
                cands.append(_Cand(fld, prio, r, c, text, Cell(rest, None)))
                continue
            n = norm_label(text)
            if n not in HEADER_LABELS:
                continue
            fld, prio = HEADER_LABELS[n]
            value, at_pos = _value_for(grid, r, i, cols, fld)
            if at_pos is not None:
                consumed.add(at_pos)
            cand = _Cand(fld, prio, r, c, text, value)
            if fld in AMOUNT_FIELDS and annual_col is not None and r > (annual_row or 0):
                at = row.get(annual_col)
                cand.value, cand.annual = (at, True) if at is not None and annual_col > c else (value, False)
            cands.append(cand)
    return _choose(cands, default_factor, title_year, grid.sheet)


def _annual_amount_column(grid: Grid, rows: list[int]) -> tuple[int | None, int | None]:
    """A row with both an 实施期 and a 年度 amount column header: the 年度 column wins for amounts."""
    for r in rows:
        row = grid.rows[r]
        annual = [c for c, cell in row.items() if norm_label(cell.text) in ANNUAL_COLUMN]
        period = [c for c, cell in row.items() if norm_label(cell.text) in PERIOD_COLUMN]
        if annual and period:
            return annual[0], r
    return None, None


def _same_field(text: str, fld: str) -> bool:
    """「年度目标：1. …」 right of a 年度目标 label is its value, not a new label."""
    inline = split_inline(text)
    return inline is not None and HEADER_LABELS[inline[0]][0] == fld


def _value_for(grid: Grid, r: int, i: int, cols: list[int], fld: str) -> tuple[Cell | None, tuple[int, int] | None]:
    """The value of the label at cols[i] (and where it is): the next cell to the right, or below in a row of labels."""
    row = grid.rows[r]
    c = cols[i]
    if i + 1 < len(cols):
        nxt = row[cols[i + 1]]
        if (not is_label(nxt.text) and not split_inline(nxt.text)) or _same_field(nxt.text, fld):
            return nxt, (r, cols[i + 1])
        below_ok = True
    else:  # nothing to the right: look below only in a row made of labels
        below_ok = all(is_label(x.text) for x in row.values())
    if not below_ok:
        return None, None
    for r2 in range(r + 1, min(r + 4, grid.max_row + 1)):
        below = grid.rows.get(r2)
        if not below:
            continue
        cell = below.get(c)
        if cell is None or is_label(cell.text) or (split_inline(cell.text) and not _same_field(cell.text, fld)):
            return None, None
        left = [cc for cc in below if cc < c]
        if left and norm_label(below[max(left)].text) in HEADER_LABELS:
            return None, None  # the value of the label on its left, not ours
        return cell, (r2, c)
    return None, None


def _choose(cands: list[_Cand], default_factor: float | None, title_year: int | None,
            sheet: str) -> dict[str, Any]:
    best: dict[str, _Cand] = {}
    for cand in sorted(cands, key=lambda k: (k.prio, not k.annual, k.row, k.col)):
        if cand.value is None or not cand.value.text:
            continue
        best.setdefault(cand.field, cand)
    out: dict[str, Any] = {}
    notes: list[str] = []
    for fld in ("project_name", "department", "implementing_unit", "project_attribute", "region",
                "period", "annual_goal", "long_term_goal"):
        if fld in best:
            out[fld] = best[fld].value.text  # type: ignore[union-attr]
    # only a 总体目标 and no 年度目标: the corpus reads it as the annual goal
    lt = best.get("long_term_goal")
    if "annual_goal" not in best and lt is not None and lt.prio > 0:
        out["annual_goal"] = out.pop("long_term_goal")
    year = best.get("year")
    m = _YEAR.search(year.value.text) if year and year.value else None
    out["year"] = int(m.group(1)) if m else title_year
    for fld in AMOUNT_FIELDS:
        found = best.get(fld)
        if found is None or found.value is None:
            continue
        amount = _amount(found, default_factor)
        if amount is not None and (not math.isfinite(amount) or amount < 0):
            raise InputError(f"「{norm_label(found.label)}」（{_AMOUNT_CN[fld]}）必须是不小于 0 的有限数字，"
                             f"收到「{found.value.text}」", where=where(sheet, found.row))
        if amount is None:
            notes.append(f"「{norm_label(found.label)}」的值「{found.value.text}」不是金额，未导入")
        out[fld] = amount
    if notes:
        out["notes"] = "；".join(notes)
    return out


def _amount(cand: _Cand, default_factor: float | None) -> float | None:
    cell = cand.value
    assert cell is not None
    if cell.num is not None:
        num = cell.num
        factor = unit_factor(cand.label) or default_factor or 1.0
    else:
        text = cell.text.replace(",", "").replace("，", "").replace(" ", "")
        m = _NUMBER.match(text)
        if not m:
            return None
        num = float(m.group(0))
        factor = unit_factor(text[m.end():]) or unit_factor(cand.label) or default_factor or 1.0
    return round(num * factor, 6)


# ---------------------------------------------------------------- indicator table

def _find_indicator_header(grid: Grid, lo: int, hi: int) -> tuple[int, int, dict[str, int]] | None:
    for r in grid.row_numbers(lo, hi):
        found = _indicator_labels(grid.rows[r])
        if "name" in found and ({"value", "level1", "level2"} & set(found)):
            cols = {f: c for f, (c, _p) in found.items()}
            prios = {f: p for f, (_c, p) in found.items()}
            first_data = r + 1
            nxt = grid.next_row(r)
            if nxt is not None and nxt < hi and all(is_label(c.text) for c in grid.rows[nxt].values()):
                for f, (c, p) in _indicator_labels(grid.rows[nxt]).items():  # a two-row header
                    if f not in prios or p <= prios[f]:
                        cols[f], prios[f] = c, p
                first_data = nxt + 1
            if "value" not in cols:
                seen = "、".join(f"{norm_label(grid.rows[r][c].text)}（{col_letter(c)}列）"
                                for c in sorted(cols.values()) if c in grid.rows[r])
                raise InputError(f"指标表表头缺少「指标值」列（已识别：{seen}）", where=where(grid.sheet, r))
            return r, first_data, cols
    return None


def _indicator_labels(row: dict[int, Cell]) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for c in sorted(row):
        hit = INDICATOR_LABELS.get(norm_label(row[c].text))
        if hit and (hit[0] not in found or hit[1] < found[hit[0]][1]):
            found[hit[0]] = (c, hit[1])
    return found


def _read_table(grid: Grid, first: int, hi: int, cols: dict[str, int]) -> tuple[list[Indicator], int]:
    """Rows from `first` until a stop row, a title or `hi`; returns (indicators, row where it stopped)."""
    fill = _merge_fill(grid, first, hi, cols)
    indicators: list[Indicator] = []
    carry1 = carry2 = ""
    for r in grid.row_numbers(first, hi):
        row = grid.rows[r]
        lead = row[min(row)].text
        if is_stop(lead) or (len(row) == 1 and is_title(lead)):
            return indicators, r
        if all(is_label(c.text) for c in row.values()) and "name" in _indicator_labels(row):
            continue  # a repeated header (table continued on a new page)
        vals = {f: (row[c].text if c in row else fill.get((r, c), "")) for f, c in cols.items()}
        l1, l2 = vals.get("level1", ""), vals.get("level2", "")
        if l1:
            if l1 != carry1:
                carry2 = ""
            carry1 = l1
        if l2:
            carry2 = l2
        if not any(vals.get(f) for f in ("name", "value", "operator", "unit", "basis", "explanation")):
            continue  # blank, or only the category cells
        data = {f: vals.get(f, "") for f in _IND_FIELDS}
        data["level1"] = carry1 if "level1" in cols else ""
        data["level2"] = carry2 if "level2" in cols else ""
        indicators.append(Indicator(**data, sheet_row=r))
    return indicators, hi


def _merge_fill(grid: Grid, lo: int, hi: int, cols: dict[str, int]) -> dict[tuple[int, int], str]:
    """(row, col) -> text for cells covered by a vertical merge in the table's columns."""
    wanted = set(cols.values())
    out: dict[tuple[int, int], str] = {}
    for c1, r1, _c2, r2 in grid.vmerges:
        if c1 not in wanted or r2 < lo or r1 >= hi:
            continue
        top = grid.cell(r1, c1)
        if top is None:
            continue
        for r in range(max(r1 + 1, lo), min(r2, hi - 1) + 1):
            out[(r, c1)] = top.text
    return out


def _build_target(fields: dict[str, Any], indicators: list[Indicator]) -> Target:
    return Target(
        project_name=fields.get("project_name", ""),
        department=fields.get("department", ""),
        implementing_unit=fields.get("implementing_unit", ""),
        region=fields.get("region", ""),
        year=fields.get("year"),
        project_attribute=fields.get("project_attribute", ""),
        period=fields.get("period", ""),
        amount_total_wan=fields.get("amount_total"),
        amount_fiscal_wan=fields.get("amount_fiscal"),
        amount_other_wan=fields.get("amount_other"),
        prior_amount_wan=fields.get("prior_amount"),
        annual_goal=fields.get("annual_goal", ""),
        long_term_goal=fields.get("long_term_goal", ""),
        indicators=indicators,
        notes=fields.get("notes", ""),
    )
