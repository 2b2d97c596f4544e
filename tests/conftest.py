"""Shared fixtures: the offline review dependencies over the shipped corpus, the sample draft, and the fake
OpenAI-compatible server (a real HTTP server, so the real `openai` client is exercised)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.pipeline import Deps, build_deps
from assistant.settings import load_settings
from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def deps() -> Deps:
    """Offline review dependencies (shipped corpus, default profile), built once per test process."""
    return build_deps(load_settings({}))


@pytest.fixture
def draft() -> dict[str, Any]:
    """samples/draft.json (雾炮车抑尘降尘服务), a fresh copy per test."""
    return json.loads((ROOT / "samples" / "draft.json").read_text(encoding="utf-8"))


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()
