"""Wiring for the openai backend: the answer cache and the offline fallback."""

from __future__ import annotations

from assistant.critique.base import Critic
from assistant.settings import Settings


def make_openai_critic(settings: Settings, *, fallback: Critic) -> Critic:
    from assistant.cache import LLMCache
    from assistant.critique.llm import OpenAICritic

    secret = settings.api_key.get_secret_value() if settings.api_key else ""
    cache = LLMCache(settings.db_path, redact=[secret]) if settings.use_cache else None
    return OpenAICritic(settings, fallback=fallback, cache=cache)
