"""A bureau's own 指标库 and 支出标准: JSONL or the Excel template, validated as a whole (Chinese errors naming the
sheet or file, the row and the field; nothing is loaded half-way) and kept beside the database, where they extend and
override the shipped entries (see knowledge/library.py), optionally for one rule profile only."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assistant.errors import InputError
from assistant.intake.records import explain
from assistant.intake.units import parse_rate
from assistant.knowledge.library import KIND_CN, SHIPPED_DIR, Sector, UnitCost, imported_dir, parse_lines
from assistant.models import Strict

LIBRARY_SHEET = "指标库"
STANDARD_SHEET = "支出标准"
LIBRARY_COLUMNS = ("行业", "别名（用、分隔）", "一级指标", "二级指标", "三级指标名称", "参考值", "说明", "来源")
STANDARD_COLUMNS = ("支出项目", "行业", "计量单位", "标准值", "下限", "上限", "类型", "适用范围", "年度", "来源", "原文摘录")
_KIND = {v: k for k, v in KIND_CN.items()}
MAX_ROWS = 20000
_EXAMPLE = "（示例行"  # the template's example rows are never imported


class LibraryImport(Strict):
    sectors: int
    indicators: int
    standards: int
    file: str  # the stored file's name (an import of the same name and scope replaces it)
    replaced: bool = False  # an earlier import of that name and scope was replaced
    profile: str | None = None


LEVEL1 = ("产出指标", "效益指标", "满意度指标", "成本指标")


def _check(sectors: list[Sector], standards: list[UnitCost], where: dict[int, str]) -> None:
    """What validation of single fields cannot see: categories, duplicates, units the arithmetic cannot use,
    ranges the wrong way round, standards no sector would ever use; named by their row."""
    seen: dict[tuple[str, str], str] = {}
    for s in sectors:
        for ind in s.core_indicators:
            key = (s.sector, ind.name)
            here = where.get(id(ind), s.sector)
            if ind.level1 not in LEVEL1:
                raise InputError(f"字段 一级指标「{ind.level1}」应为 {'、'.join(LEVEL1)} 之一", where=here)
            if key in seen:
                raise InputError(f"指标「{ind.name}」在行业「{s.sector}」中重复（与{seen[key]}相同）", where=here)
            seen[key] = here
    seen_std: dict[tuple[str, str, str, int | None], str] = {}
    for u in standards:
        here = where.get(id(u), u.item)
        if parse_rate(u.unit) is None:
            raise InputError(f"字段 计量单位「{u.unit}」无法用于测算：应为「金额/对象[/期间]」，如 元/人/年、元/人天、万元/公里",
                             where=here)
        if u.value is None and u.low is None and u.high is None:
            raise InputError("字段 标准值 缺失：标准值、下限、上限至少填写一项（数字）", where=here)
        if u.low is not None and u.high is not None and u.low > u.high:
            raise InputError(f"下限 {u.low:g} 大于上限 {u.high:g}", where=here)
        _check_sector(u, sectors, here)
        std_key = (u.item, u.unit, u.scope, u.year)
        if std_key in seen_std:
            raise InputError(f"支出标准「{u.item}」（{u.unit}，{u.scope or '范围未注明'}，{u.year or '年度未注明'}）重复"
                             f"（与{seen_std[std_key]}相同）", where=here)
        seen_std[std_key] = here


def _check_sector(u: UnitCost, sectors: list[Sector], here: str) -> None:
    """A standard is used for drafts of its sector: the sector must be one the library knows (or this file adds)."""
    from assistant.knowledge.library import load_library
    from assistant.knowledge.match import SECTOR_MAP

    if not u.sector.strip():
        raise InputError("字段 行业 为空：支出标准只用于所属行业的项目（可填指标库中的行业名称）", where=here)
    names = [s.sector for s in load_library(None, shipped=SHIPPED_DIR).sectors] + [s.sector for s in sectors]
    if u.sector in SECTOR_MAP or any(n == u.sector or n.startswith(u.sector) for n in names):
        return
    raise InputError(f"字段 行业「{u.sector}」不是指标库中的行业（如 {'、'.join(names[:4])}…；assistant library sectors "
                     "或网页“指标库”页面列出全部），这条标准不会用于任何审核", where=here)


def _cell(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _number(v: Any, where: str, field: str) -> float | None:
    text = _cell(v).replace(",", "")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"字段 {field}「{text}」不是数字", where=where) from None


def _library_rows(ws: Any, name: str, where: dict[int, str]) -> list[Sector]:
    sectors: dict[str, Sector] = {}
    for r, row in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        cells = [_cell(v) for v in (list(row) + [None] * 8)[:8]]
        if not any(cells) or any(_EXAMPLE in c for c in cells):
            continue
        here = f"{name}「{LIBRARY_SHEET}」第{r}行"
        sector, aliases, l1, l2, ind_name, value, note, source = cells
        for field, text in (("行业", sector), ("一级指标", l1), ("二级指标", l2), ("三级指标名称", ind_name)):
            if not text:
                raise InputError(f"字段 {field} 为空", where=here)
        entry = {"level1": l1, "level2": l2, "name": ind_name, "typical_value": value or None, "explain": note,
                 "source": source or "本单位指标库"}
        got = sectors.setdefault(sector, Sector(sector=sector, aliases=[a for a in re.split(r"[、,，;；\s]+", aliases) if a]))
        try:
            ind = Sector.model_validate({"sector": sector, "core_indicators": [entry]}).core_indicators[0]
        except ValidationError as exc:
            raise InputError(explain(exc), where=here) from None
        got.core_indicators.append(ind)
        where[id(ind)] = here
    return list(sectors.values())


def _standard_rows(ws: Any, name: str, where: dict[int, str]) -> list[UnitCost]:
    out: list[UnitCost] = []
    for r, row in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        cells = (list(row) + [None] * 11)[:11]
        if not any(_cell(c) for c in cells) or any(_EXAMPLE in _cell(c) for c in cells):
            continue
        here = f"{name}「{STANDARD_SHEET}」第{r}行"
        item, sector, unit = _cell(cells[0]), _cell(cells[1]), _cell(cells[2])
        if not item:
            raise InputError("字段 支出项目 为空", where=here)
        if not unit:
            raise InputError("字段 计量单位 为空（如 元/人/年）", where=here)
        kind = _KIND.get(_cell(cells[6]) or "标准")
        if kind is None:
            raise InputError(f"字段 类型「{_cell(cells[6])}」应为 标准、上限、下限 或 一般水平", where=here)
        year = _number(cells[8], here, "年度")
        data = {"item": item, "sector": sector, "unit": unit, "value": _number(cells[3], here, "标准值"),
                "low": _number(cells[4], here, "下限"), "high": _number(cells[5], here, "上限"), "kind": kind,
                "scope": _cell(cells[7]), "year": int(year) if year else None, "source": _cell(cells[9]) or "本单位支出标准",
                "quote": _cell(cells[10]), "source_type": "bureau"}
        try:
            std = UnitCost.model_validate(data)
        except ValidationError as exc:
            raise InputError(explain(exc), where=here) from None
        out.append(std)
        where[id(std)] = here
    return out


def _check_header(ws: Any, sheet: str, columns: tuple[str, ...], name: str) -> None:
    """Columns are read by position, so the header must be the template's (a moved column would load values as
    sources)."""
    head = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
    got = [_cell(v) for v in (list(head) + [None] * len(columns))[:len(columns)]]
    for c, (want, have) in enumerate(zip(columns, got, strict=True), start=1):
        if have.replace("（", "(").replace("）", ")") != want.replace("（", "(").replace("）", ")"):
            raise InputError(f"第1行第{c}列表头应为「{want}」，实际为「{have or '（空）'}」：请使用指标库模板，不要增删或调换列",
                             where=f"{name}「{sheet}」")


def read_workbook(path: Path, name: str) -> tuple[list[Sector], list[UnitCost], dict[int, str]]:
    import openpyxl

    from assistant.intake.xlsx_preflight import check_workbook_file

    check_workbook_file(path, display_name=name)
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        names = wb.sheetnames
        if LIBRARY_SHEET not in names and STANDARD_SHEET not in names:
            listed = "、".join(f"「{n}」" for n in names)
            raise InputError(f"找不到工作表「{LIBRARY_SHEET}」或「{STANDARD_SHEET}」"
                             "（请使用指标库模板：网页“管理 → 指标库”下载，或 assistant library template）；"
                             f"工作簿中的工作表有：{listed}", where=name)
        where: dict[int, str] = {}
        for sheet in (LIBRARY_SHEET, STANDARD_SHEET):
            if sheet in names and (wb[sheet].max_row or 0) > MAX_ROWS:
                raise InputError(f"工作表「{sheet}」超过 {MAX_ROWS} 行", where=name)
        for sheet, cols in ((LIBRARY_SHEET, LIBRARY_COLUMNS), (STANDARD_SHEET, STANDARD_COLUMNS)):
            if sheet in names:
                _check_header(wb[sheet], sheet, cols, name)
        sectors = _library_rows(wb[LIBRARY_SHEET], name, where) if LIBRARY_SHEET in names else []
        standards = _standard_rows(wb[STANDARD_SHEET], name, where) if STANDARD_SHEET in names else []
        return sectors, standards, where
    finally:
        wb.close()


def read_any(source: Path | bytes, name: str) -> tuple[list[Sector], list[UnitCost], dict[int, str]]:
    suffix = Path(name).suffix.lower()
    if suffix == ".xlsx":
        if isinstance(source, bytes):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "upload.xlsx"
                path.write_bytes(source)
                return read_workbook(path, name)
        return read_workbook(source, name)
    if suffix != ".jsonl":
        raise InputError("指标库导入只支持 .jsonl 或 .xlsx（指标库模板：网页“管理 → 指标库”下载，或 assistant library template）",
                         where=name)
    raw = source if isinstance(source, bytes) else source.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("文件不是 UTF-8 编码", where=name) from None
    lines = [(line, f"{name} 第{n}行") for n, line in enumerate(text.splitlines(), start=1)]
    where: dict[int, str] = {}
    sectors, standards = parse_lines(lines, where)
    return sectors, standards, where


def import_library(source: Path | bytes, db_path: Path, *, filename: str | None = None, profile: str | None = None,
                   name: str | None = None) -> LibraryImport:
    """Validate the whole file, then keep it (atomically) as the bureau's library file `name`."""
    shown = Path(filename or (source.name if isinstance(source, Path) else "library.jsonl")).name
    if isinstance(source, Path) and not source.is_file():
        raise InputError("文件不存在", where=str(source))
    sectors, standards, where = read_any(source, shown)
    if not sectors and not standards:
        raise InputError("文件中没有指标或支出标准", where=shown)
    _check(sectors, standards, where)
    for u in standards:
        u.source_type = u.source_type or "bureau"
        u.bureau = True
    folder = imported_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w\-]+", "_", name or Path(shown).stem)[:60] or "library"
    out = folder / f"{stem}__{profile or 'all'}.jsonl"  # one file per name and scope: an import replaces only its own
    replaced = out.exists()
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for s in sectors:
            fh.write(json.dumps(s.model_copy(update={"profile": profile}).model_dump(mode="json"), ensure_ascii=False) + "\n")
        for u in standards:
            fh.write(json.dumps(u.model_copy(update={"profile": profile}).model_dump(mode="json"), ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    return LibraryImport(sectors=len(sectors), indicators=sum(len(s.core_indicators) for s in sectors),
                         standards=len(standards), file=out.name, replaced=replaced, profile=profile)


def write_template(path: Path) -> Path:
    """A blank workbook for a bureau's 指标库 and 支出标准 (one example row each; value cells are text)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    lib = wb.active
    lib.title = LIBRARY_SHEET
    std = wb.create_sheet(STANDARD_SHEET)
    head = PatternFill("solid", fgColor="BDD7EE")
    for ws, cols, example in (
            (lib, LIBRARY_COLUMNS, ("农村公路/道路硬化", "农村公路、道路硬化", "产出指标", "数量指标", "新建硬化道路里程", "≥2公里",
                                    "（示例行，可删除）", "某县2024年农村公路绩效目标表")),
            (std, STANDARD_COLUMNS, ("村主职干部基本报酬", "村干部报酬/村级组织运转补助", "元/人/年", "40000", "", "", "下限",
                                     "本县", "2024", "某县村干部报酬文件", "（示例行，可删除）"))):
        for c, title in enumerate(cols, start=1):
            cell = ws.cell(row=1, column=c, value=title)
            cell.font, cell.fill = Font(bold=True), head
            ws.column_dimensions[chr(64 + c)].width = 18
        for c, v in enumerate(example, start=1):
            ws.cell(row=2, column=c, value=v).number_format = "@"
        for r in range(3, 203):
            for c in range(1, len(cols) + 1):
                ws.cell(row=r, column=c).number_format = "@"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
