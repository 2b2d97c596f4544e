"""The README's examples run as written (in a scratch folder with its own database): every `assistant …` line
of the "Using it" block, except the ones that would overwrite shipped files or start a server."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = ("assistant eval calibrate",)  # rewrites assistant/data/calibration.json (tests/test_evaluate_* cover it)
FASTER = {"--repeats 20": "--repeats 2"}  # the same command, fewer repeats


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Using it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith("assistant ")]


def test_readme_lists_commands() -> None:
    cmds = readme_commands()
    assert len(cmds) >= 10 and all(not c.startswith(SKIP) for c in cmds[:3])


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in readme_commands() if not c.startswith(SKIP)])
def test_readme_example_runs(command: str, tmp_path: Path) -> None:
    for old, new in FASTER.items():
        command = command.replace(old, new)
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    env = {**os.environ, "ASSISTANT_DB": str(tmp_path / "var" / "assistant.db")}
    args = [sys.executable, "-c", "from assistant.cli import main; main()", *shlex.split(command)[1:]]
    res = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{command}\n{res.stderr[-2000:]}"
    assert "Traceback" not in res.stderr
    for out in re.findall(r"(?:-o|--export|--out)\s+(\S+)", command):
        assert (tmp_path / out).stat().st_size > 0, out
