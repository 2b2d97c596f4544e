"""Per-target latency of the offline pipeline stages.

(a) rules alone (normalise + run_rules), (b) retrieval (PrecedentIndex.evidence), (c) a full offline
review (`pipeline.review`), over the 41 corpus records (leave-one-out: a record never retrieves itself)
and the 54 evaluation items (excluding each item's own source record). Plain time.perf_counter,
several repeats; reports median and p95 milliseconds per target.

    .venv/bin/python bench/bench_review.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.intake.reader import read_targets  # noqa: E402
from assistant.intake.records import parse_target  # noqa: E402
from assistant.intake.taxonomy import normalise  # noqa: E402
from assistant.models import Target  # noqa: E402
from assistant.pipeline import build_deps, review  # noqa: E402
from assistant.retrieve.index import PrecedentIndex  # noqa: E402
from assistant.rules.engine import run_rules  # noqa: E402
from assistant.settings import load_settings  # noqa: E402


def load_items() -> list[tuple[Target, list[str]]]:
    sources = {}
    src_path = REPO / "evals" / "item_sources.jsonl"
    for line in src_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            sources[d["item_id"]] = d.get("source_id")
    out = []
    for n, line in enumerate((REPO / "evals" / "items.jsonl").read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            t = parse_target(json.loads(line), where=f"items 第{n}行", require=False)
            out.append((t, [s for s in [sources.get(t.id or "")] if s]))
    return out


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def bench(targets: list[tuple[Target, list[str]]], fn: Callable[[Target, list[str]], object],
          repeats: int) -> list[float]:
    """Per-target time (ms): the median over `repeats` runs of that target (after one warm-up pass)."""
    for t, ex in targets:
        fn(t, ex)
    per_target = []
    for t, ex in targets:
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(t, ex)
            runs.append((time.perf_counter() - t0) * 1000)
        per_target.append(statistics.median(runs))
    return per_target


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    t0 = time.perf_counter()
    corpus = read_targets(REPO / "corpus" / "approved_targets.jsonl")
    index = PrecedentIndex(corpus)
    build_ms = (time.perf_counter() - t0) * 1000
    deps = build_deps(load_settings({}), index=index)

    sets = {
        "corpus (LOO)": [(t, [t.id or ""]) for t in corpus],
        "eval items": load_items(),
    }

    def rules_only(t: Target, ex: list[str]) -> object:
        return run_rules(t, normalise(t), deps.profile)

    def retrieval(t: Target, ex: list[str]) -> object:
        return index.evidence(t, normalise(t), k=deps.top_k, exclude_ids=[*ex, t.id or ""])

    def full(t: Target, ex: list[str]) -> object:
        return review(t, deps, exclude_ids=ex)

    stages = [("rules (normalise+run_rules)", rules_only), ("retrieval (evidence)", retrieval),
              ("full offline review", full)]

    print(f"machine: {platform.platform()} | {platform.processor() or platform.machine()} | "
          f"CPUs: {os.cpu_count()} | Python {platform.python_version()}")
    print(f"index build over {len(corpus)} records: {build_ms:.0f} ms (once per process); repeats={args.repeats}")
    print()
    header = f"{'set':<14} {'stage':<29} {'n':>3} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}"
    print(header)
    print("-" * len(header))
    for set_name, targets in sets.items():
        for stage_name, fn in stages:
            xs = bench(targets, fn, args.repeats)
            print(f"{set_name:<14} {stage_name:<29} {len(xs):>3} {statistics.median(xs):>10.2f} "
                  f"{percentile(xs, 0.95):>8.2f} {max(xs):>8.2f}")


if __name__ == "__main__":
    main()
