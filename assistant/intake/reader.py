"""The one intake reader: a file (path) or an upload (bytes) → numbered targets.

JSON (one object or a list), JSONL (one target per line) and Excel 绩效目标申报表 (.xlsx / .xlsm, one or more
tables) all come in here, for the CLI, batch jobs, the web service and corpus imports. Each item is numbered the
way users count it (the line of a .jsonl, the object of a .json list, the table of a workbook) and is either a
`Target` or the `InputError` that says, in Chinese, what is wrong and where. In a JSONL file each line is decoded
on its own, so one bad line (broken JSON, not UTF-8, nested too deep) fails alone.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import InputError
from assistant.intake.records import LineError, json_error, parse_target
from assistant.models import Target

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_JSON_DEPTH = 32  # a target is four levels deep; anything much deeper is not a target table
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls"})  # the workbook check explains .xls and .xlsm refusals
SUFFIXES = frozenset({".json", ".jsonl"}) | XLSX_SUFFIXES
_UNSUPPORTED = "不支持的文件类型：请提供 .json、.jsonl 或 .xlsx 文件"


@dataclass(frozen=True)
class Numbered:
    """One item of a source: its number as users count it, and the target or what is wrong with it."""

    n: int
    item: Target | InputError
    where: str  # 「draft.jsonl 第3行」, 「drafts.json 第2个对象」, 「表.xlsx 第1张表」


def _depth_ok(text: str) -> bool:
    """Whether JSON text nests at most MAX_JSON_DEPTH levels (brackets inside strings are skipped)."""
    depth = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def load_json(text: str, *, where: str, with_line: bool = True) -> object:
    """json.loads with a Chinese error for bad syntax and a bound on nesting (no RecursionError)."""
    if not _depth_ok(text):
        raise InputError(f"JSON 嵌套层数超过{MAX_JSON_DEPTH}层，不是绩效目标表", where=where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(json_error(exc, with_line=with_line), where=where) from None


def _decode(raw: bytes, *, where: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"文件不是 UTF-8 编码（第{line}行附近），请另存为 UTF-8 后重试", where=where) from None


def _jsonl(raw: bytes, name: str, require: bool) -> list[Numbered]:
    out: list[Numbered] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for n, line_bytes in enumerate(raw.splitlines(), start=1):
        where = f"{name} 第{n}行"
        if not line_bytes.strip():
            continue
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError:
            out.append(Numbered(n, LineError("这一行不是 UTF-8 编码，请另存为 UTF-8 后重试", where=where, line=n), where))
            continue
        try:
            item: Target | InputError = parse_target(load_json(line, where=where, with_line=False), where=where,
                                                     require=require)
        except InputError as exc:
            item = LineError(exc.message, where=exc.where or where, line=n)
        out.append(Numbered(n, item, where))
    return out


def _json(raw: bytes, name: str, require: bool) -> list[Numbered]:
    data = load_json(_decode(raw, where=name), where=name)
    if isinstance(data, list):
        if not data:
            raise InputError("文件中没有绩效目标", where=name)
        out = []
        for n, obj in enumerate(data, start=1):
            where = f"{name} 第{n}个对象"
            try:
                out.append(Numbered(n, parse_target(obj, where=where, require=require), where))
            except InputError as exc:
                out.append(Numbered(n, exc, where))
        return out
    return [Numbered(1, parse_target(data, where=name, require=require), name)]


def _xlsx(source: Path | bytes, name: str, require: bool, max_bytes: int) -> list[Numbered]:
    from assistant.intake.xlsx import read_targets as read_xlsx

    if isinstance(source, bytes):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{Path(name).suffix.lower()}"
            path.write_bytes(source)
            targets = read_xlsx(path, max_bytes=max_bytes, display_name=name)
    else:
        targets = read_xlsx(source, max_bytes=max_bytes, display_name=name)
    out = []
    for n, t in enumerate(targets, start=1):
        where = f"{name} 第{n}张表"
        item: Target | InputError = t
        if require and not t.indicators:
            item = InputError("没有找到任何绩效指标（三级指标表为空）：请填写指标后再审核",
                              where=f"{name}「{t.project_name or '未命名项目'}」")
        out.append(Numbered(n, item, where))
    return out


def read_source(source: Path | str | bytes, *, name: str | None = None, require: bool = True,
                max_bytes: int = MAX_FILE_BYTES) -> list[Numbered]:
    """Every target in a file or an uploaded body. Raises InputError for a problem with the whole source (missing,
    a folder, too big, unsupported type, broken JSON); problems of one item come back as that item's error.
    `require` enforces the draft minimum (a name and at least one indicator); corpus imports relax it."""
    if isinstance(source, bytes):
        raw_name = Path(name or "upload").name
        if not source:
            raise InputError("上传的文件为空", where=raw_name)
        if len(source) > max_bytes:
            raise InputError(f"文件过大（{len(source) / 1048576:.1f} MB），上限 {max_bytes / 1048576:.0f} MB",
                             where=raw_name)
    else:
        path = Path(source)
        raw_name = name or path.name
        if path.is_dir():
            raise InputError("这是一个文件夹，不是文件：请给出 .json、.jsonl 或 .xlsx 文件", where=str(path))
        if not path.exists():
            raise InputError("文件不存在", where=str(path))
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"文件过大（{size / 1048576:.1f} MB），上限 {max_bytes / 1048576:.0f} MB", where=str(path))
    suffix = Path(raw_name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(_UNSUPPORTED, where=raw_name if isinstance(source, bytes) else str(source))
    if suffix in XLSX_SUFFIXES:
        return _xlsx(source if isinstance(source, bytes) else Path(source), raw_name, require, max_bytes)
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    return _jsonl(raw, raw_name, require) if suffix == ".jsonl" else _json(raw, raw_name, require)


def read_targets(source: Path | str | bytes, *, name: str | None = None, require: bool = False) -> list[Target]:
    """All targets of a source; the first bad item raises (for corpora, rated items and tests)."""
    out = []
    for it in read_source(source, name=name, require=require):
        if isinstance(it.item, InputError):
            raise it.item
        out.append(it.item)
    return out
