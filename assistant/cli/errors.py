"""The CLI's one error translator: an `AssistantError` becomes a Chinese message on stderr and the documented exit
code, never a traceback. Exit codes: 0 done, 2 bad input or configuration, 3 a batch where some items failed
(or that paused)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from assistant.errors import AssistantError

EXIT_INPUT = 2
EXIT_PARTIAL = 3
F = TypeVar("F", bound=Callable[..., Any])


def fail(exc: AssistantError) -> None:
    click.echo(f"错误：{exc}", err=True)
    sys.exit(EXIT_INPUT)


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AssistantError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]
