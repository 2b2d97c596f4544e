"""A decoded JSON object → a validated `Target`, with Chinese errors naming the field; the content hash.

Files and uploads are read by `assistant.intake.read_source`, which calls `parse_target` for every item.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from assistant.errors import InputError
from assistant.labels import INPUT_FIELD_CN, VALIDATION_CN
from assistant.models import Target

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
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
        else:
            parts.append(f"{p}（{INPUT_FIELD_CN[p]}）" if p in INPUT_FIELD_CN else str(p))
    return ".".join(parts)


def explain(exc: ValidationError) -> str:
    msgs = []
    for e in exc.errors()[:5]:
        msgs.append(f"字段 {_loc(e['loc'])} {VALIDATION_CN.get(e['type'], e['msg'])}")
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
            raise InputError("缺少字段 " + "、".join(f"{k}（{INPUT_FIELD_CN[k]}）" for k in missing) + hint, where=where)
    try:
        target = Target.model_validate(data)
    except ValidationError as exc:
        raise InputError(explain(exc), where=where) from None
    if require and not target.indicators:
        raise InputError("indicators（指标）为空：至少需要一项绩效指标", where=where)
    return target


class LineError(InputError):
    """A bad line inside a JSONL batch (carries the line number)."""

    def __init__(self, message: str, *, where: str, line: int) -> None:
        super().__init__(message, where=where)
        self.line = line


def content_hash(target: Target) -> str:
    data = target.model_dump(mode="json", exclude={"id", "notes", "source_url", "complete", "sector"})
    for key in ("indicators", "prior_indicators"):  # where a row sat in a workbook is not part of the table
        data[key] = [{k: v for k, v in row.items() if k != "sheet_row"} for row in data.get(key, [])]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
