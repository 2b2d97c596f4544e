"""LLM-path throughput: full reviews through the openai critic against the fake OpenAI-compatible
endpoint (tests/fake_openai.py) answering every request after an injected latency, via `run_batch`.

    .venv/bin/python bench/bench_llm_throughput.py [--latency 2.0] [--n 16] [--concurrency 1,4,16]

Prints reviews/s, speedup over concurrency 1 and the endpoint's observed peak in-flight requests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]

from fake_openai import FakeOpenAI, Reply, answer  # noqa: E402
from synth import drafts, write_jsonl  # noqa: E402

from assistant.batch import run_batch  # noqa: E402
from assistant.critique.llm import OpenAICritic  # noqa: E402
from assistant.critique.offline import OfflineCritic  # noqa: E402
from assistant.pipeline import build_deps  # noqa: E402
from assistant.settings import load_settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--n", type=int, default=16, help="reviews per concurrency level")
    ap.add_argument("--concurrency", default="1,4,16")
    a = ap.parse_args()

    server = FakeOpenAI().start()
    body = json.dumps(answer(), ensure_ascii=False)
    server.default = lambda req: Reply(content=body, delay=a.latency)
    base = build_deps(load_settings({}))
    tmp = Path(tempfile.mkdtemp(prefix="bench_llm_"))
    print(f"# bench_llm_throughput — fake endpoint, {a.latency:.1f} s injected latency per request, "
          f"{a.n} full reviews per level (run_batch, openai critic, no cache)")
    print(f"{'concurrency':>11} {'wall s':>7} {'reviews/s':>10} {'speedup':>8} {'ideal':>6} {'peak in-flight':>15} "
          f"{'fallbacks':>9}")
    first = None
    try:
        for c in [int(x) for x in a.concurrency.split(",")]:
            settings = load_settings({}, backend="openai", base_url=server.url, model="fake-model", use_cache=False,
                                     max_concurrency=c, timeout_s=a.latency * 5 + 5, max_retries=0,
                                     db_path=tmp / "cache.db")
            deps = dataclasses.replace(base, critic=OpenAICritic(settings, fallback=OfflineCritic()))
            inp = write_jsonl(drafts(a.n, seed=100 + c), tmp / f"drafts_{c}.jsonl")
            server.max_inflight = 0
            t = time.perf_counter()
            rep = run_batch(inp, deps=deps, db_path=tmp / "batch.db", job_name=f"c{c}", max_concurrency=c)
            wall = time.perf_counter() - t
            rate = rep.reviewed / wall
            first = first or rate
            print(f"{c:>11} {wall:>7.1f} {rate:>10.2f} {rate / first:>7.2f}x {min(c, a.n):>5}x "
                  f"{server.max_inflight:>15} {len(rep.fallbacks):>9}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
