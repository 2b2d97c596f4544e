"""Prompt size of the openai backend over the corpus (estimated tokens: 1 per CJK char, 1 per 4 other chars)
and cached-review latency against the fake endpoint. Prints figures; not a test."""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.critique.prompts import PromptSet  # noqa: E402
from assistant.intake.reader import read_targets  # noqa: E402
from assistant.pipeline import build_deps, prepare, review  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from tests.fake_openai import FakeOpenAI, valid  # noqa: E402


def est(text: str) -> int:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return cjk + (len(text) - cjk) // 4


def main() -> None:
    settings = load_settings({})
    deps = build_deps(settings)
    prompts = PromptSet()
    sizes = []
    for t in read_targets(Path("corpus/approved_targets.jsonl")):
        inp = prepare(t, deps, exclude_ids=[t.id or ""])
        msgs = prompts.review_messages(inp)
        sizes.append(sum(est(m["content"]) for m in msgs))
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={__import__('os').cpu_count()}")
    print(f"prompt tokens (estimated) over {len(sizes)} corpus records: median {statistics.median(sizes):.0f}, "
          f"min {min(sizes)}, max {max(sizes)}")
    server = FakeOpenAI().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            s = load_settings({"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-bench-key-123", "ASSISTANT_MODEL": "fake",
                               "ASSISTANT_DB": f"{tmp}/a.db"}, backend="openai")
            d = build_deps(s, backend="openai", index=deps.index)
            target = read_targets(Path("samples/draft.json"))[0]
            server.push(valid())
            t0 = time.perf_counter()
            review(target, d)
            first = time.perf_counter() - t0
            runs = []
            for _ in range(20):
                t0 = time.perf_counter()
                r = review(target, d)
                runs.append(time.perf_counter() - t0)
            print(f"fake endpoint: first review {first * 1000:.1f} ms; cached re-review median "
                  f"{statistics.median(runs) * 1000:.1f} ms (cached={r.meta.usage.cached}, "
                  f"HTTP calls={len(server.chat_requests())})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
