"""One error hierarchy; the CLI and the web layer each translate it once.

Messages are Chinese (they reach end users) and name where the problem is:
file, line, sheet, row, field.
"""

from __future__ import annotations

import re

# Some `where` values are names a program reads back (the web API's JSON keeps them: "unit", "submission 3");
# people see them in Chinese (`str(exc)`, the web's error page) through `where_cn`.
_WHERE_CN = {"unit": "所属单位", "username": "用户名", "password": "密码", "role": "角色", "profile": "规则配置",
             "name": "名称", "file": "文件", "body": "请求体", "versions": "版本",
             "accepted/rejected": "修改建议的采纳情况", "tokens": "令牌",
             "Content-Type": "请求类型（Content-Type）"}
_WHERE_NUMBERED = ((re.compile(r"submission[ :#]?(\d+)"), "编号 {}"), (re.compile(r"version[ :#]?(\d+)"), "第 {} 版"),
                   (re.compile(r"token[ :#]?(\d+)"), "令牌编号 {}"), (re.compile(r"user[ :#]?(\d+)"), "用户编号 {}"),
                   (re.compile(r"job[ :#]?(\d+)"), "批量任务 {}"))


def where_cn(where: str | None) -> str | None:
    """`where` as a person reads it: "unit" → 所属单位, "submission 1" → 编号 1, "version 9" → 第 9 版;
    anything else (already Chinese, a file name, a JSON path) unchanged."""
    if not where:
        return where
    if where in _WHERE_CN:
        return _WHERE_CN[where]
    for pattern, text in _WHERE_NUMBERED:
        m = pattern.fullmatch(where)
        if m:
            return text.format(m.group(1))
    return where


class AssistantError(Exception):
    """Base class. `where` locates the problem (e.g. "第3行 indicators[2].value")."""

    code = "error"

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{where_cn(self.where)}：{self.message}" if self.where else self.message


class InputError(AssistantError):
    code = "input_error"


class ConfigError(AssistantError):
    code = "config_error"


class NotFoundError(AssistantError):
    code = "not_found"
