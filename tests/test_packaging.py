"""The wheel works away from the checkout: every subpackage, the prompts, the shipped corpus and data files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_carries_every_package_prompts_and_corpus(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "absent from the `packages` configuration" not in res.stdout + res.stderr, res.stderr[-2000:]
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    py_files = {str(p.relative_to(REPO)) for p in (REPO / "assistant").rglob("*.py")}
    assert py_files <= names, sorted(py_files - names)[:5]
    for prompt in (REPO / "prompts").glob("*.md"):
        assert f"assistant/_prompts/{prompt.name}" in names
    assert "assistant/_corpus/approved_targets.jsonl" in names
    for name in ("indicator_library.jsonl", "unit_costs.jsonl", "README.md"):
        assert f"assistant/_knowledge/{name}" in names
    data = {str(p.relative_to(REPO)) for p in (REPO / "assistant").rglob("*")
            if p.is_file() and p.suffix in {".json", ".txt", ".html", ".css", ".js", ".svg", ".ico"}
            and "__pycache__" not in p.parts}
    assert data <= names, sorted(data - names)[:5]
