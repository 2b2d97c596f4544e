"""Reference ratings, review items and item sources: contracts and loaders.

``load_ratings`` reads JSONL (evals/ratings.jsonl), CSV or xlsx. Headers may be English or
Chinese (项目/item_id, 评审人/rater, 完整性, 相关性, 适当性, 资金匹配性, 总分, 等级, 备注; per-dimension
notes as 完整性备注 or notes.completeness). Headers are matched after NFKC normalisation, with
spaces, case and a parenthesised suffix such as "（1-5分）" ignored; unknown columns are ignored.

How ``overall`` is filled (recorded in ``Rating.overall_from``):

1. ``score`` — a 总分/overall value is given;
2. ``deductions`` — otherwise, when deduction columns (any header containing 扣分, or starting
   with "deduction") have values: overall = 100 − Σ deductions;
3. ``grade`` — otherwise, from the grade alone, at the band midpoints 优 95, 良 85, 中 70, 差 45
   (差 is open below; 45 is about the median of the 差 overall scores in evals/ratings.jsonl).

A missing grade is derived from overall with the 优/良/中/差 bands; a given grade that contradicts
the given overall is an error. Bad rows raise ``InputError`` naming file, row and column.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from assistant.dimensions import DIMENSION_KEYS, DIMENSIONS, DimensionKey, grade_for
from assistant.errors import InputError
from assistant.intake.records import json_error
from assistant.models import Grade, Strict, Target

GRADE_MIDPOINTS: dict[str, float] = {"优": 95.0, "良": 85.0, "中": 70.0, "差": 45.0}
GRADE_ALIASES: dict[str, str] = {"优秀": "优", "良好": "良", "中等": "中", "较差": "差"}
SCORE_KEYS: tuple[str, ...] = (*DIMENSION_KEYS, "overall")


class Rating(Strict):
    """One rater's rating of one item."""

    item_id: str = Field(min_length=1)
    rater: str = Field(min_length=1)
    completeness: int | None = Field(default=None, ge=1, le=5)
    relevance: int | None = Field(default=None, ge=1, le=5)
    suitability: int | None = Field(default=None, ge=1, le=5)
    fund_fit: int | None = Field(default=None, ge=1, le=5)
    overall: float | None = Field(default=None, ge=0, le=100)
    grade: Grade | None = None
    overall_from: Literal["score", "deductions", "grade"] | None = None
    notes: dict[str, str] = Field(default_factory=dict)

    def score(self, key: str) -> float | None:
        if key not in SCORE_KEYS:
            raise ValueError(f"unknown score key {key!r}")
        v = getattr(self, key)
        return None if v is None else float(v)


class ItemSource(Strict):
    item_id: str = Field(min_length=1)
    source_id: str = Field(min_length=1)
    defect: str | None = None
    dimension: DimensionKey | None = None


# --------------------------------------------------------------------------- header mapping

_ALIASES: dict[str, set[str]] = {
    "item_id": {"item_id", "item", "itemid", "项目", "项目编号", "项目id", "条目", "条目编号", "编号"},
    "rater": {"rater", "reviewer", "评审人", "评审专家", "评分人", "评审员", "专家"},
    "overall": {"overall", "score", "total", "总分", "总得分", "综合得分", "得分"},
    "grade": {"grade", "等级", "评级", "评价等级"},
    "notes": {"notes", "note", "备注", "说明", "评语"},
    **{k: {k, k.replace("_", ""), zh} for k, zh in DIMENSIONS.items()},
}
_ALIASES["fund_fit"].add("资金匹配")
_LOOKUP = {name: key for key, names in _ALIASES.items() for name in names}
_NOTE_RE = re.compile(r"^(?:notes?[._])?(.+?)(?:[._]?notes?|备注|说明|评语)?$")


def _norm(text: Any) -> str:
    h = unicodedata.normalize("NFKC", str(text)).strip().lower()
    h = re.sub(r"\(.*?\)|\s+", "", h)
    return h


def _classify(header: Any) -> tuple[str, str | None] | None:
    """Header → (key, detail): ("completeness", None), ("note", dim), ("deduction", header) …"""
    h = _norm(header)
    if not h:
        return None
    if "扣分" in h and any(w in h for w in ("说明", "原因", "理由", "依据", "事项")):
        return ("note", "deductions")
    if "扣分" in h or h.startswith("deduction"):
        return ("deduction", str(header).strip())
    if h in _LOOKUP:
        return (_LOOKUP[h], None)
    for suffix in ("得分", "评分", "分数", "分", "_score", "score"):
        if h.endswith(suffix) and _LOOKUP.get(h[: -len(suffix)]) in DIMENSION_KEYS:
            return (_LOOKUP[h[: -len(suffix)]], None)
    m = _NOTE_RE.match(h)
    if m and m.group(1) != h and _LOOKUP.get(m.group(1)) in DIMENSION_KEYS:
        return ("note", _LOOKUP[m.group(1)])
    return None


# --------------------------------------------------------------------------- cell parsing


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool):
        raise InputError(f"「{v}」不是数字", where=where)
    if isinstance(v, (int, float)):
        x = float(v)
    else:
        text = unicodedata.normalize("NFKC", str(v)).strip().removesuffix("分").strip()
        try:
            x = float(text)
        except ValueError:
            raise InputError(f"「{v}」不是数字", where=where) from None
    if x != x or x in (float("inf"), float("-inf")):
        raise InputError(f"「{v}」不是有效数字", where=where)
    return x


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return "" if v is None else str(v).strip()


Cell = tuple[Any, str]  # (raw value, where)


def _build(cells: dict[str, Cell], deductions: list[Cell], notes: dict[str, str], row_where: str) -> Rating:
    item = _text(cells.get("item_id", (None, ""))[0])
    if not item:
        raise InputError("缺少项目编号（项目/item_id）", where=cells.get("item_id", (None, row_where))[1])
    rater = _text(cells.get("rater", (None, ""))[0])
    if not rater:
        raise InputError("缺少评审人（评审人/rater）", where=cells.get("rater", (None, row_where))[1])
    data: dict[str, Any] = {"item_id": item, "rater": rater, "notes": notes}
    for dim in DIMENSION_KEYS:
        raw, where = cells.get(dim, (None, ""))
        if _blank(raw):
            continue
        x = _number(raw, where)
        if not 1 <= x <= 5:
            raise InputError(f"{DIMENSIONS[dim]}评分{raw}超出1–5范围", where=where)
        if not x.is_integer():
            raise InputError(f"{DIMENSIONS[dim]}评分{raw}须为1–5的整数", where=where)
        data[dim] = int(x)
    raw, where = cells.get("overall", (None, ""))
    if not _blank(raw):
        data["overall"], data["overall_from"] = _number(raw, where), "score"
        if not 0 <= data["overall"] <= 100:
            raise InputError(f"总分{raw}超出0–100范围", where=where)
    elif any(not _blank(r) for r, _ in deductions):
        total = 0.0
        for r, w in deductions:
            if _blank(r):
                continue
            d = _number(r, w)
            if d < 0:
                raise InputError(f"扣分{r}不能为负数", where=w)
            total += d
        if total > 100:
            raise InputError(f"扣分合计{total:g}超过100分", where=row_where)
        data["overall"], data["overall_from"] = 100.0 - total, "deductions"
    raw, where = cells.get("grade", (None, ""))
    if not _blank(raw):
        g = unicodedata.normalize("NFKC", str(raw)).strip()
        g = GRADE_ALIASES.get(g, g)
        if g not in GRADE_MIDPOINTS:
            raise InputError(f"未知等级「{raw}」（应为 优/良/中/差）", where=where)
        if "overall" in data and grade_for(data["overall"]) != g:
            raise InputError(f"等级「{g}」与总分{data['overall']:g}（{grade_for(data['overall'])}）不一致", where=where)
        data["grade"] = g
        if "overall" not in data:
            data["overall"], data["overall_from"] = GRADE_MIDPOINTS[g], "grade"
    elif "overall" in data:
        data["grade"] = grade_for(data["overall"])
    try:
        return Rating.model_validate(data)
    except ValidationError as exc:  # should not happen after the checks above
        raise InputError(f"评分记录无效：{exc.errors()[0]['msg']}", where=row_where) from None


# --------------------------------------------------------------------------- readers


def _rows_to_ratings(header: Sequence[Any], rows: Iterator[tuple[int, Sequence[Any]]], where_of: Any, name: str) -> list[Rating]:
    cols: dict[int, tuple[str, str | None]] = {}
    seen: dict[tuple[str, str | None], int] = {}
    for i, h in enumerate(header):
        kind = _classify(h)
        if kind is None:
            continue
        if kind in seen and kind[0] != "deduction":
            raise InputError(f"列「{h}」与第{seen[kind] + 1}列重复", where=f"{name} 表头")
        seen[kind] = i
        cols[i] = kind
    keys = {k for k, _ in cols.values()}
    for required, label in (("item_id", "项目/item_id"), ("rater", "评审人/rater")):
        if required not in keys:
            raise InputError(f"缺少列「{label}」", where=f"{name} 表头")
    out: list[Rating] = []
    for rownum, row in rows:
        if all(_blank(row[i]) for i in cols if i < len(row)):
            continue  # nothing in the recognised columns (a serial number alone does not count)
        cells: dict[str, Cell] = {}
        deductions: list[Cell] = []
        notes: dict[str, str] = {}
        for i, (key, detail) in cols.items():
            raw = row[i] if i < len(row) else None
            where = where_of(rownum, i, header[i])
            if key == "deduction":
                deductions.append((raw, where))
            elif key in ("note", "notes"):
                if not _blank(raw):
                    notes[detail or "overall"] = _text(raw)
            else:
                cells[key] = (raw, where)
        out.append(_build(cells, deductions, notes, f"{name} 第{rownum}行"))
    return out


def _read_csv(path: Path) -> list[Rating]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = path.read_text(encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise InputError("无法识别文件编码（应为 UTF-8 或 GBK）", where=path.name)
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise InputError("文件为空", where=path.name)

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        for row in reader:
            yield reader.line_num, row

    return _rows_to_ratings(header, rows(), lambda r, i, h: f"{path.name} 第{r}行 {str(h).strip()}", path.name)


def _read_xlsx(path: Path, sheet: str | None) -> list[Rating]:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a damaged file
        raise InputError(f"无法读取 Excel 文件：{exc}", where=path.name) from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise InputError(f"没有工作表「{sheet}」", where=path.name)
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        all_rows = list(enumerate(ws.iter_rows(values_only=True), start=1))
    finally:
        wb.close()
    start = next((k for k, (_, r) in enumerate(all_rows) if not all(_blank(v) for v in r)), None)
    if start is None:
        raise InputError("工作表为空", where=f"{path.name}[{ws.title}]")
    header = list(all_rows[start][1])

    def where_of(r: int, i: int, h: Any) -> str:
        return f"{path.name}[{ws.title}] 第{r}行 {get_column_letter(i + 1)}列 {str(h).strip()}"

    return _rows_to_ratings(header, iter(all_rows[start + 1 :]), where_of, f"{path.name}[{ws.title}]")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(json_error(exc, with_line=False), where=f"{path.name} 第{lineno}行") from None
            if not isinstance(obj, dict):
                raise InputError("每行应为一个 JSON 对象", where=f"{path.name} 第{lineno}行")
            yield lineno, obj


def _ratings_from_jsonl(path: Path) -> list[Rating]:
    out: list[Rating] = []
    for lineno, obj in _read_jsonl(path):
        cells: dict[str, Cell] = {}
        deductions: list[Cell] = []
        notes: dict[str, str] = {}
        for key, raw in obj.items():
            where = f"{path.name} 第{lineno}行 {key}"
            kind = _classify(key)
            if kind is None:
                continue
            if kind[0] == "deduction":
                deductions.append((raw, where))
            elif kind[0] == "notes" and isinstance(raw, dict):
                notes.update({str(k): _text(v) for k, v in raw.items() if not _blank(v)})
            elif kind[0] in ("note", "notes"):
                if not _blank(raw):
                    notes[kind[1] or "overall"] = _text(raw)
            else:
                cells[kind[0]] = (raw, where)
        out.append(_build(cells, deductions, notes, f"{path.name} 第{lineno}行"))
    return out


def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputError("文件不存在", where=str(p))
    return p


def load_ratings(path: str | Path, *, sheet: str | None = None) -> list[Rating]:
    """Ratings from .jsonl/.ndjson, .csv or .xlsx/.xlsm (first sheet unless ``sheet``)."""
    p = _existing(path)
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        ratings = _ratings_from_jsonl(p)
    elif suffix == ".csv":
        ratings = _read_csv(p)
    elif suffix in (".xlsx", ".xlsm"):
        ratings = _read_xlsx(p, sheet)
    else:
        raise InputError(f"不支持的评分文件类型「{p.suffix}」（应为 jsonl、csv 或 xlsx）", where=p.name)
    seen: set[tuple[str, str]] = set()
    for r in ratings:
        if (r.item_id, r.rater) in seen:
            raise InputError(f"评审人 {r.rater} 对项目 {r.item_id} 重复评分", where=p.name)
        seen.add((r.item_id, r.rater))
    return ratings


def load_items(path: str | Path) -> list[dict[str, Any]]:
    """Review items (item_id + Target fields), validated against ``Target``; returned as given."""
    p = _existing(path)
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for lineno, obj in _read_jsonl(p):
        item_id = _text(obj.get("item_id"))
        if not item_id:
            raise InputError("缺少 item_id", where=f"{p.name} 第{lineno}行 item_id")
        if item_id in seen:
            raise InputError(f"item_id {item_id} 重复", where=f"{p.name} 第{lineno}行 item_id")
        seen.add(item_id)
        try:
            Target.model_validate({k: v for k, v in obj.items() if k != "item_id"})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"])
            raise InputError(f"目标表字段无效：{err['msg']}", where=f"{p.name} 第{lineno}行 {field}") from None
        items.append(obj)
    return items


def load_item_sources(path: str | Path) -> dict[str, ItemSource]:
    """item_sources.jsonl → {item_id: ItemSource}."""
    p = _existing(path)
    out: dict[str, ItemSource] = {}
    for lineno, obj in _read_jsonl(p):
        try:
            src = ItemSource.model_validate(obj)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"])
            raise InputError(f"字段无效：{err['msg']}", where=f"{p.name} 第{lineno}行 {field}") from None
        if src.item_id in out:
            raise InputError(f"item_id {src.item_id} 重复", where=f"{p.name} 第{lineno}行 item_id")
        out[src.item_id] = src
    return out


def ratings_matrix(ratings: Sequence[Rating], dim: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """(sorted item ids, {rater: float array aligned to them, NaN where missing}) for one score key."""
    if dim not in SCORE_KEYS:
        raise ValueError(f"unknown score key {dim!r}; expected one of {SCORE_KEYS}")
    item_ids = sorted({r.item_id for r in ratings})
    pos = {item: i for i, item in enumerate(item_ids)}
    mats = {rater: np.full(len(item_ids), np.nan) for rater in sorted({r.rater for r in ratings})}
    for r in ratings:
        v = r.score(dim)
        if v is not None:
            mats[r.rater][pos[r.item_id]] = v
    return item_ids, mats
