"""Opt-in plumbing test against a real llama.cpp server (llama-cpp-python) with a small GGUF model.

Skips cleanly unless `llama_cpp` is importable and ASSISTANT_TEST_GGUF names a model file, or
ASSISTANT_TEST_LLAMA_URL points at an already running OpenAI-compatible server. A small local
model is not a good reviewer; this only checks that a real endpoint round-trips: the review either
validates or falls back to the offline review, marked, and never crashes or passes silently.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest  # noqa: E402

from assistant.critique.llm import OpenAICritic  # noqa: E402
from assistant.settings import load_settings  # noqa: E402

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    url = os.environ.get("ASSISTANT_TEST_LLAMA_URL")
    if url:
        yield url.rstrip("/")
        return
    gguf = os.environ.get("ASSISTANT_TEST_GGUF")
    if importlib.util.find_spec("llama_cpp") is None or not gguf or not Path(gguf).is_file():
        pytest.skip("llama-cpp-python or ASSISTANT_TEST_GGUF not available")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            gguf,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "8192",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/models", timeout=2)  # noqa: S310 - loopback only
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.skip("llama.cpp server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_review_round_trips_through_llama_cpp(llama_url: str, tmp_path: Path) -> None:
    try:
        from test_llm_critic import FakeFallback, make_input
    except ImportError:  # tests/ is a package
        from tests.test_llm_critic import FakeFallback, make_input

    settings = load_settings(
        {},
        base_url=llama_url,
        api_key="local",
        model=os.environ.get("ASSISTANT_TEST_MODEL", "local"),
        timeout_s=300,
        max_retries=0,
        db_path=tmp_path / "a.db",
        use_cache=False,
    )
    res = OpenAICritic(settings, fallback=FakeFallback()).critique(make_input())
    if res.backend == "openai":
        assert res.usage.calls >= 1 and res.prompt_hash
    else:
        assert res.fallback_reason and "离线评审" in res.fallback_reason
