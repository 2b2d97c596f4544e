"""Cold start: the wall time of one `assistant review samples/draft.json` in a fresh process (persisted index and
vectors already built, as after the first run) against `python -c "import jieba; jieba.initialize()"` on the same
machine, as a ratio (goal ≤ 1.5×). Median of N alternating runs, with and without the dense model.

    .venv/bin/python bench/bench_cold_start.py [N]
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSISTANT = [sys.executable, "-c", "from assistant.cli import main; main()"]


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, "ASSISTANT_DB": f"{tmp}/a.db", "JIEBA_CACHE_DIR": f"{tmp}/jieba"}
        dense = dict(base)
        tfidf = {**base, "ASSISTANT_DENSE_RETRIEVAL": "0"}
        review = [*ASSISTANT, "review", "samples/draft.json"]
        jieba = [sys.executable, "-c", "import jieba; jieba.initialize()"]
        for env in (dense, tfidf):  # build the index, the vectors and jieba's cache once
            wall(review, env)
        wall(jieba, base)
        runs: dict[str, list[float]] = {"jieba": [], "review (dense)": [], "review (TF-IDF only)": []}
        for _ in range(n):
            runs["jieba"].append(wall(jieba, base))
            runs["review (dense)"].append(wall(review, dense))
            runs["review (TF-IDF only)"].append(wall(review, tfidf))
    print(f"machine: {platform.machine()} {platform.processor() or ''} | cpus {os.cpu_count()} | "
          f"Python {platform.python_version()} | median of {n} runs")
    ref = statistics.median(runs["jieba"])
    for name, xs in runs.items():
        med = statistics.median(xs)
        print(f"{name:<24} {med:6.2f} s   ratio to jieba init {med / ref:5.2f}×   (min {min(xs):.2f}, max {max(xs):.2f})")


if __name__ == "__main__":
    main()
