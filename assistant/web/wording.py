"""How the pages name things that are stored as identifiers: review backends (offline → 离线评审), rule profiles
(default → its Chinese title), and audit records (object "submission:3" → 提交 编号 3, the JSON detail →
「版本：1；等级：B」). Template globals `backend_cn` and `profile_title` are registered by app.create_app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jinja2 import pass_context

from assistant.labels import BACKEND_CN
from assistant.web.auth import ROLE_CN

_DETAIL_KEYS = {"version": "版本", "grade": "等级", "final_grade": "最终等级", "status": "处理结果",
                "content_hash": "内容指纹", "profile": "规则配置", "job": "批量任务", "accepted": "采纳的建议",
                "rejected": "不采纳的建议", "decision": "审核决定编号", "rating": "评分编号", "added": "新增",
                "duplicates": "重复跳过", "username": "用户名", "role": "角色", "unit": "所属单位",
                "token": "令牌编号", "user": "用户编号", "kind": "方式", "file": "文件", "total": "目标数",
                "indicators": "指标数", "standards": "支出标准数", "title": "标题", "bootstrap": "首次启动自动创建"}
_OBJECT_KINDS = {"submission": "提交 编号", "user": "用户", "token": "令牌 编号", "profile": "规则配置",
                 "job": "批量任务", "corpus": "先例库文件", "library": "指标库文件"}
_STATUS_CN = {"returned": "退回修改", "passed": "审核通过", "submitted": "待审核"}
_KIND_CN = {"session": "网页登录", "token": "API 令牌"}


def backend_cn(name: str | None) -> str:
    """'offline' → 离线评审, 'openai' → 大模型评审; an unknown name as it is."""
    return BACKEND_CN.get(name or "", name or "—")


def _titles(request: Any) -> dict[str, str]:
    """name → title of every rule profile, looked up once per request."""
    cached = getattr(request.state, "profile_titles", None)
    if cached is None:
        from assistant.web.profiles import summaries

        try:
            cached = {p.name: p.title for p in summaries(request.app.state)}
        except Exception:  # a broken custom profile must not break a page that only names it
            cached = {}
        request.state.profile_titles = cached
    return cached


def profile_title_for(request: Any, name: str | None) -> str:
    """A profile's Chinese title (the name itself when no profile has that name any more)."""
    if not name:
        return "—"
    return _titles(request).get(name) or name


@pass_context
def profile_title(context: Any, name: str | None) -> str:
    return profile_title_for(context["request"], name)


TEMPLATE_GLOBALS: dict[str, Callable[..., str]] = {"backend_cn": backend_cn, "profile_title": profile_title}


# -- audit records -----------------------------------------------------------------------------
def audit_object(obj: str) -> str:
    """'submission:3' → 提交 编号 3; 'profile:default' → 规则配置 default."""
    kind, sep, rest = (obj or "").partition(":")
    if not sep or kind not in _OBJECT_KINDS:
        return obj or "—"
    return f"{_OBJECT_KINDS[kind]} {rest}"


def _value(key: str, value: Any, request: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None or value == "" or value == []:
        return "无"
    if key in ("accepted", "rejected") and isinstance(value, list):
        return "第 " + "、".join(str(int(v) + 1) if isinstance(v, int) else str(v) for v in value) + " 条"
    if key == "role":
        return ROLE_CN.get(str(value), str(value))
    if key == "status":
        return _STATUS_CN.get(str(value), str(value))
    if key == "kind":
        return _KIND_CN.get(str(value), str(value))
    if key == "profile":
        return profile_title_for(request, str(value))
    if key == "content_hash":
        return str(value)[:12]
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return "；".join(f"{_DETAIL_KEYS.get(str(k), str(k))}：{_value(str(k), v, request)}" for k, v in value.items())
    return str(value)


def audit_detail(detail: str | None, request: Any) -> list[tuple[str, str]]:
    """The stored detail (JSON object text, or plain text) as (Chinese key, readable value) pairs."""
    text = (detail or "").strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return [("", text)]
    if not isinstance(data, dict):
        return [("", text)]
    return [(_DETAIL_KEYS.get(str(k), str(k)), _value(str(k), v, request)) for k, v in data.items()]
