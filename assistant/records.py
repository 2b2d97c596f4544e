"""Reading targets from JSON / JSONL (Excel lives in importers/xlsx.py).

Bad input never crashes: it raises InputError in Chinese naming the file, line and field.
Batch readers (`iter_targets`) yield per-line errors so one bad record doesn't stop the rest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assistant.errors import InputError
from assistant.models import Target

MAX_FILE_BYTES = 20 * 1024 * 1024
_FIELD_CN = {"project_name": "项目名称", "indicators": "指标", "amount_total_wan": "资金总额", "year": "年度",
             "annual_goal": "年度目标", "name": "指标名称", "value": "指标值", "level1": "一级指标",
             "level2": "二级指标", "amount_fiscal_wan": "财政拨款"}
_TYPE_CN = {"float_parsing": "应为数字", "int_parsing": "应为整数", "string_type": "应为文本", "list_type": "应为列表",
            "dict_type": "应为对象", "model_type": "应为对象", "extra_forbidden": "是未知字段（拼写错误？）",
            "missing": "缺失", "bool_type": "应为 true/false", "int_from_float": "应为整数"}


_JSON_MSG_CN = {
    "Expecting value": "此处应为一个值（多余的逗号，或缺少内容？）",
    "Expecting property name enclosed in double quotes": "字段名应使用英文双引号（或有多余的逗号）",
    "Expecting ',' delimiter": "缺少英文逗号分隔",
    "Expecting ':' delimiter": "字段名后缺少英文冒号",
    "Unterminated string starting at": "字符串缺少结束的英文双引号",
    "Extra data": "有多余的内容（每行只能有一个 JSON 对象）",
    "Invalid control character at": "字符串中有换行或控制字符",
    "Invalid \\escape": "无效的反斜杠转义",
}


def json_error(exc: json.JSONDecodeError, *, with_line: bool = True) -> str:
    """A Chinese message for a JSON syntax error, with its position."""
    msg = _JSON_MSG_CN.get(exc.msg, exc.msg)
    pos = f"第{exc.lineno}行第{exc.colno}列" if with_line else f"第{exc.colno}列"
    return f"JSON 格式错误（{pos}：{msg}）"


def _loc(loc: tuple[Any, ...]) -> str:
    parts = []
    for p in loc:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
        else:
            parts.append(f"{p}（{_FIELD_CN[p]}）" if p in _FIELD_CN else str(p))
    return ".".join(parts)


def explain(exc: ValidationError) -> str:
    msgs = []
    for e in exc.errors()[:5]:
        msgs.append(f"字段 {_loc(e['loc'])} {_TYPE_CN.get(e['type'], e['msg'])}")
    more = len(exc.errors()) - 5
    return "；".join(msgs) + (f"；另有{more}处错误" if more > 0 else "")


def parse_target(data: Any, *, where: str, require: bool = True) -> Target:
    """Validate one decoded JSON object as a Target. `require` enforces the draft-level minimum."""
    if not isinstance(data, dict):
        raise InputError(f"应为一个 JSON 对象（绩效目标表），实际是 {type(data).__name__}", where=where)
    data = dict(data)
    if "item_id" in data and "id" not in data:
        data["id"] = data.pop("item_id")
    if require:
        missing = [k for k in ("project_name", "indicators") if k not in data]
        if missing:
            unknown = [k for k in data if k not in Target.model_fields]
            hint = f"；另有未知字段 {'、'.join(map(str, unknown[:5]))}（拼写错误？）" if unknown else ""
            raise InputError("缺少字段 " + "、".join(f"{k}（{_FIELD_CN[k]}）" for k in missing) + hint, where=where)
    try:
        target = Target.model_validate(data)
    except ValidationError as exc:
        raise InputError(explain(exc), where=where) from None
    if require and not target.indicators:
        raise InputError("indicators（指标）为空：至少需要一项绩效指标", where=where)
    return target


def _read_text(path: Path, max_bytes: int) -> str:
    if not path.exists():
        raise InputError("文件不存在", where=str(path))
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"文件过大（{size / 1048576:.1f} MB），上限 {max_bytes / 1048576:.0f} MB", where=str(path))
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"文件不是 UTF-8 编码（第{line}行附近），请另存为 UTF-8 后重试", where=str(path)) from None


class LineError(InputError):
    """A bad line inside a JSONL batch (carries the line number)."""

    def __init__(self, message: str, *, where: str, line: int) -> None:
        super().__init__(message, where=where)
        self.line = line


def iter_targets(path: Path, *, max_bytes: int = MAX_FILE_BYTES, require: bool = True
                 ) -> Iterator[Target | LineError]:
    """Targets from a .json (one object or a list) or .jsonl file; bad JSONL lines are yielded as LineError."""
    text = _read_text(path, max_bytes)
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name} 第{n}行"
            try:
                yield parse_target(json.loads(line), where=where, require=require)
            except json.JSONDecodeError as exc:
                yield LineError(json_error(exc, with_line=False), where=where, line=n)
            except InputError as exc:
                yield LineError(exc.message, where=exc.where or where, line=n)
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(json_error(exc), where=path.name) from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise InputError("文件中没有绩效目标", where=path.name)
    for n, item in enumerate(items):
        where = path.name if not isinstance(data, list) else f"{path.name} 第{n + 1}个对象"
        yield parse_target(item, where=where, require=require)


def read_targets(path: Path, *, require: bool = False) -> list[Target]:
    """All targets in a file; the first bad line raises."""
    out = []
    for item in iter_targets(Path(path), require=require):
        if isinstance(item, InputError):
            raise item
        out.append(item)
    return out


def content_hash(target: Target) -> str:
    data = target.model_dump(mode="json", exclude={"id", "notes", "source_url", "complete", "sector"})
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
