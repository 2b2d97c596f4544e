"""Files the CLI writes under a name the user gave: checked before any work, so nothing the user has is lost.

An existing file is refused unless `--force` (a filled workbook named by mistake stays as it was); a file that
is also one of the command's inputs is refused even with `--force`; a folder is refused. `may_replace` lets a
command accept files it wrote itself (a batch's earlier export of its results).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import click

from assistant.errors import InputError

FORCE_HELP = "覆盖已存在的输出文件"


def force_option(fn: Callable) -> Callable:
    return click.option("--force", is_flag=True, help=FORCE_HELP)(fn)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_output(path: Path, *, force: bool, inputs: Iterable[Path | None] = (), option: str = "",
                 may_replace: Callable[[Path], bool] | None = None) -> None:
    """Raise a Chinese InputError when writing `path` would lose something; `option` names the CLI option."""
    shown = f"{option} {path}" if option else str(path)
    if path.is_dir():
        raise InputError("输出位置是一个文件夹，请给出文件名", where=shown)
    for src in inputs:
        if src is not None and _same_file(path, Path(src)):
            raise InputError("输出文件就是输入文件：写出会覆盖输入，请换一个文件名", where=shown)
    if path.exists() and not force and not (may_replace is not None and may_replace(path)):
        raise InputError("文件已存在：为免覆盖其中的内容，请换一个文件名，或加 --force 覆盖", where=shown)
