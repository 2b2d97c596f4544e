"""Formula cells, found in the sheet XML: what the reader does when a value was typed as a formula.

The grid is read with cached values (openpyxl data_only), so a formula cell reads as what Excel last computed.
Two cases need the formula itself, and the reader then says what it assumed (in `Target.notes`):
- no cached value (a workbook written by a program, or saved without recalculation): the cell would read as
  empty, and a typed 「=100%」 would be lost, so the formula text is read instead (a quoted text literal such
  as `="≥95%"` without its quotes);
- a constant percentage such as 「=100%」 whose cached value is shown without a % format: Excel keeps 1, the
  user meant 100%, so the formula text is read.

A byte scan, like the merge scan in xlsx_grid: only <c> elements holding an <f> with text are matched, chunk by
chunk, so a sheet without formulas costs one pass of a regular expression.
"""

from __future__ import annotations

import html
import re
import zipfile
import zlib
from dataclasses import dataclass

_CELL_F = re.compile(
    rb'<(?:\w+:)?c\s([^>]*?)>\s*<(?:\w+:)?f(?:\s[^>]*?)?>([^<]*)</(?:\w+:)?f>\s*'
    rb'(<(?:\w+:)?v\s*/>|<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>)?')
_REF = re.compile(rb'(?:^|\s)r="\$?([A-Z]{1,3})\$?(\d+)"')
_PERCENT = re.compile(r"[+-]?\d+(?:\.\d+)?%")
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')
_MARGIN = 1 << 16  # a cell element longer than this (a huge formula) may be missed at a chunk border
MAX_FORMULAS = 100_000


@dataclass(frozen=True, slots=True)
class Formula:
    text: str  # without the leading '=', XML entities decoded
    cached: bool  # whether the file holds a computed value


def _col(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def scan_formulas(archive: zipfile.ZipFile, path: str, *, max_col: int) -> dict[tuple[int, int], Formula]:
    """(row, col) → formula for the formula cells the reader may need (see the module doc)."""
    out: dict[tuple[int, int], Formula] = {}
    tail = b""
    try:
        with archive.open(path) as src:
            while True:
                chunk = src.read(1 << 20)
                buf = tail + chunk
                limit = len(buf) if not chunk else len(buf) - _MARGIN
                keep = max(0, limit)
                for m in _CELL_F.finditer(buf):
                    if m.end() > limit:
                        keep = m.start()
                        break
                    _add(out, m, max_col)
                    if len(out) >= MAX_FORMULAS:
                        return out
                if not chunk:
                    return out
                tail = buf[keep:]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
        return out  # formulas are a refinement: the cached values are still read


def _add(out: dict[tuple[int, int], Formula], m: re.Match[bytes], max_col: int) -> None:
    ref = _REF.search(m.group(1))
    if ref is None:
        return
    col, row = _col(ref.group(1)), int(ref.group(2))
    if col > max_col:
        return
    text = html.unescape(m.group(2).decode("utf-8", "replace")).strip()
    cached = m.group(3) is not None and bool((m.group(4) or b"").strip())
    if text and (not cached or _PERCENT.fullmatch(text)):
        out[(row, col)] = Formula(text, cached)


def formula_value(text: str) -> str:
    """What the user meant by a formula: a quoted text literal without its quotes, else the formula text."""
    m = _QUOTED.fullmatch(text)
    return m.group(1).replace('""', '"').strip() if m else text


def is_percent(text: str) -> bool:
    return _PERCENT.fullmatch(text) is not None
