"""A sheet read once, streaming, into a sparse grid of display texts (openpyxl read-only mode).

Cells keep their text as written: an int 95 stays "95", a 0.95 with a % format becomes "95%",
dates become ISO text. Formulas are never evaluated: the cached value is read; a formula without one, or a
constant percentage such as 「=100%」, is read as its text, and `Grid.assumed` says so (xlsx_formulas).
Vertical merge ranges are parsed from the sheet XML so the table reader can fill merged cells.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from assistant.errors import InputError
from assistant.intake.xlsx_formulas import Formula, formula_value, scan_formulas

MAX_COLS = 64  # cells beyond column BL are ignored
MAX_ROWS = 100_000
MAX_CELLS = 1_000_000  # non-empty cells per sheet
MAX_ROWS_PER_TABLE = 500  # indicator rows per 申报表 (real ones have dozens) where a server reads uploads
TABLE_HEAD_ROWS = 40  # the header block above the indicators, counted with them
# The per-table cap in force (None: none, as for local files); the web sets it around reading an upload.
TABLE_ROW_CAP: ContextVar[int | None] = ContextVar("TABLE_ROW_CAP", default=None)


@contextmanager
def table_row_cap(rows: int = MAX_ROWS_PER_TABLE) -> Iterator[None]:
    """Within this block (this thread / task), a table longer than `rows` indicator rows stops the read."""
    token = TABLE_ROW_CAP.set(rows)
    try:
        yield
    finally:
        TABLE_ROW_CAP.reset(token)

_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="\$?([A-Z]{1,3})\$?(\d+):\$?([A-Z]{1,3})\$?(\d+)"')


@dataclass(slots=True)
class Cell:
    text: str
    num: float | None = None  # the number, when the cell held one


@dataclass
class Grid:
    sheet: str
    rows: dict[int, dict[int, Cell]] = field(default_factory=dict)  # row -> col -> cell (non-empty only)
    vmerges: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_col, min_row, max_col, max_row
    max_row: int = 0
    assumed: list[tuple[int, str]] = field(default_factory=list)  # (row, what was read from a formula and why)
    _sorted: list[int] = field(default_factory=list, repr=False)

    def cell(self, r: int, c: int) -> Cell | None:
        row = self.rows.get(r)
        return row.get(c) if row else None

    def row_numbers(self, lo: int, hi: int) -> list[int]:
        """Non-empty row numbers in [lo, hi) (rows are added in order, so the keys are sorted)."""
        keys = self._keys()
        return keys[bisect_left(keys, lo):bisect_left(keys, hi)]

    def next_row(self, r: int) -> int | None:
        keys = self._keys()
        k = bisect_right(keys, r)
        return keys[k] if k < len(keys) else None

    def _keys(self) -> list[int]:
        if len(self._sorted) != len(self.rows):
            self._sorted = sorted(self.rows)
        return self._sorted


def col_letter(c: int) -> str:
    s = ""
    while c:
        c, rem = divmod(c - 1, 26)
        s = chr(65 + rem) + s
    return s


def col_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def where(sheet: str, row: int | None = None, col: int | None = None) -> str:
    w = f"工作表「{sheet}」"
    if row is not None:
        w += f"第{row}行"
    if col is not None:
        w += f" {col_letter(col)}列"
    return w


def number_text(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        return str(v)
    if v.is_integer():
        return str(int(v))
    try:
        return format(Decimal(repr(v)).normalize(), "f")
    except InvalidOperation:
        return repr(v)


def _percent_text(v: float, fmt: str) -> str:
    d = (Decimal(repr(float(v))) * 100).normalize()
    m = re.search(r"0\.(0+)%", fmt)
    if m:  # keep the decimals the format shows, e.g. 0.00% -> 95.50%
        d = d.quantize(Decimal(1).scaleb(-len(m.group(1))))
    text = format(d, "f")
    return f"{text}%"


def cell_text(value: Any, number_format: str | None) -> tuple[str, float | None]:
    if value is None:
        return "", None
    if isinstance(value, str):
        return value.strip(), None
    if isinstance(value, bool):
        return ("是" if value else "否"), None
    if isinstance(value, (int, float)):
        fmt = number_format or ""
        if "%" in fmt and not fmt.startswith("@"):
            return _percent_text(float(value), fmt), float(value)
        return number_text(value), float(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat(), None
        return value.isoformat(timespec="seconds"), None
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat(), None
    if isinstance(value, dt.timedelta):
        return str(value), None
    return str(value).strip(), None


def install_fast_sheet_size() -> None:
    """Make openpyxl's read-only sheets look for a declared <dimension> only before <sheetData> starts.

    openpyxl scans the whole sheet XML when <dimension> is missing (openpyxl's own write_only files omit it), at
    load time, for every sheet: ~10 s for 100k rows before a single row is read. The result is the same: the
    dimension element, if any, precedes <sheetData>; without one the size stays unset (read_grid resets it anyway).
    """
    from xml.etree.ElementTree import iterparse

    try:  # private openpyxl names: another openpyxl version keeps its own (slower, equally correct) behaviour
        from openpyxl.worksheet._read_only import ReadOnlyWorksheet
        from openpyxl.worksheet._reader import DATA_TAG, DIMENSION_TAG
        from openpyxl.worksheet.dimensions import SheetDimension
    except ImportError:
        return
    if not hasattr(ReadOnlyWorksheet, "_get_size") or getattr(ReadOnlyWorksheet, "_fast_size", False):
        return

    def _get_size(self: Any) -> None:
        src = self._get_source()
        try:
            for _event, element in iterparse(src, events=("start",)):
                if element.tag == DIMENSION_TAG:
                    dims = SheetDimension.from_tree(element).boundaries
                    if dims is not None:
                        self._min_column, self._min_row, self._max_column, self._max_row = dims
                    return
                if element.tag == DATA_TAG:
                    return
        finally:
            src.close()

    ReadOnlyWorksheet._get_size = _get_size
    ReadOnlyWorksheet._fast_size = True


def _mentions_project(row: dict[int, Cell]) -> bool:
    return any("项目名称" in cell.text for cell in row.values())


def read_grid(ws: Any, sheet: str, archive: zipfile.ZipFile | None, *,
              max_rows: int = MAX_ROWS, max_cells: int = MAX_CELLS,
              table_start: Callable[[dict[int, Cell]], bool] | None = None) -> Grid:
    """Stream a read-only worksheet into a Grid (bounded: rows, columns and non-empty cells). A table (from a row
    `table_start` accepts, by default one mentioning 项目名称) longer than the TABLE_ROW_CAP in force stops the
    read at once, before the rest of the sheet is read."""
    table_start = table_start or _mentions_project
    cap = TABLE_ROW_CAP.get()
    grid = Grid(sheet=sheet)
    ws.reset_dimensions()  # never trust the declared <dimension>: it may claim a million rows
    n_cells = in_table = 0
    try:
        for r, row in enumerate(ws.iter_rows(max_col=MAX_COLS), start=1):
            if r > max_rows:
                raise InputError(f"工作表行数超过 {max_rows} 行上限，请拆分后再导入", where=where(sheet, r))
            cells: dict[int, Cell] = {}
            for c, cell in enumerate(row, start=1):
                value = cell.value
                if value is None:
                    continue
                text, num = cell_text(value, getattr(cell, "number_format", None))
                if text:
                    cells[c] = Cell(text, num)
            if cells:
                in_table = 0 if table_start(cells) else in_table + 1
                if cap is not None and in_table > cap + TABLE_HEAD_ROWS:
                    raise InputError(f"工作表「{sheet}」中的绩效目标表超过 {cap} 行指标上限"
                                     "（申报表通常只有几十行），请检查或拆分后再导入", where=where(sheet, r))
                n_cells += len(cells)
                if n_cells > max_cells:
                    raise InputError(f"工作表非空单元格超过 {max_cells} 个上限，请拆分后再导入",
                                     where=where(sheet, r))
                grid.rows[r] = cells
                grid.max_row = r
    except InputError:
        raise
    except Exception as exc:  # openpyxl raises many types on malformed XML
        raise InputError(f"工作表内容无法解析（{type(exc).__name__}: {exc}）", where=where(sheet)) from exc
    path = getattr(ws, "_worksheet_path", None)
    if archive is not None and path:
        grid.vmerges = _vertical_merges(archive, path)
        _apply_formulas(grid, scan_formulas(archive, path, max_col=MAX_COLS))
    return grid


def _apply_formulas(grid: Grid, formulas: dict[tuple[int, int], Formula]) -> None:
    """Read a formula's text where its cached value is missing (or hides a typed percentage); note each."""
    for (r, c), f in sorted(formulas.items()):
        cell = grid.cell(r, c)
        text = formula_value(f.text)
        if not text:
            continue
        place = where(grid.sheet, r, c)
        if not f.cached:
            if cell is not None:
                continue
            grid.rows.setdefault(r, {})[c] = Cell(text)
            grid.max_row = max(grid.max_row, r)
            grid.assumed.append((r, f"{place}是公式「={f.text}」，文件中没有计算结果，已按「{text}」读取"))
        elif cell is not None and not cell.text.endswith("%"):
            grid.assumed.append((r, f"{place}是公式「={f.text}」，已按「{text}」读取（文件中的计算结果显示为「{cell.text}」）"))
            grid.rows[r][c] = Cell(text, cell.num)
    if formulas:
        grid.rows = dict(sorted(grid.rows.items()))  # rows stay in order for row_numbers
        grid._sorted = []


def _vertical_merges(archive: zipfile.ZipFile, path: str) -> list[tuple[int, int, int, int]]:
    """Merge ranges spanning more than one row, from the <mergeCell ref="A1:A3"/> elements.

    A byte scan, not an XML parse: the elements sit after <sheetData> and only their `ref`
    attribute is read, so streaming the member in chunks costs a fraction of a second.
    """
    out: list[tuple[int, int, int, int]] = []
    tail = b""
    try:
        with archive.open(path) as src:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                buf = tail + chunk
                last = 0
                for m in _MERGE.finditer(buf):
                    last = m.end()
                    c1, r1, c2, r2 = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
                    if r2 > r1:
                        out.append((col_number(c1.decode()), r1, col_number(c2.decode()), r2))
                tail = buf[max(last, len(buf) - 256):]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
        return []  # merges are a refinement; the carry-down rule still applies without them
    return out
