"""One error hierarchy; the CLI and the web layer each translate it once.

Messages are Chinese (they reach end users) and name where the problem is:
file, line, sheet, row, field.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class. `where` locates the problem (e.g. "第3行 indicators[2].value")."""

    code = "error"

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}：{self.message}" if self.where else self.message


class InputError(AssistantError):
    code = "input_error"


class ConfigError(AssistantError):
    code = "config_error"


class NotFoundError(AssistantError):
    code = "not_found"
