"""Wiring for the openai backend: cache, rule re-check of suggestions, offline fallback."""

from __future__ import annotations

from assistant.critique.base import Critic
from assistant.models import Finding, Indicator, Suggestion, Target
from assistant.rules.engine import run_rules
from assistant.rules.profiles import Profile
from assistant.settings import Settings
from assistant.taxonomy import normalise


def apply_suggestion(target: Target, s: Suggestion) -> tuple[Target, int] | None:
    """The target with the suggestion applied, and the row it touches (None for remove / bad index)."""
    rows = list(target.indicators)
    if s.action == "add":
        rows.append(Indicator(level1=s.level1, level2=s.level2, name=s.name, value=s.value))
        idx = len(rows) - 1
    elif s.action == "revise" and s.indicator_index is not None and 0 <= s.indicator_index < len(rows):
        old = rows[s.indicator_index]
        rows[s.indicator_index] = old.model_copy(update={"name": s.name or old.name, "value": s.value or old.value,
                                                         "operator": "" if s.value else old.operator,
                                                         "unit": "" if s.value else old.unit})
        idx = s.indicator_index
    else:
        return None
    return target.model_copy(update={"indicators": rows}), idx


def make_recheck(profile: Profile):
    """Re-run the rules on a suggested row: the findings that concern that row."""

    def recheck(s: Suggestion, target: Target) -> list[Finding]:
        applied = apply_suggestion(target, s)
        if applied is None:
            return []
        new_target, idx = applied
        findings = run_rules(new_target, normalise(new_target), profile)
        return [f for f in findings if f.indicator_index == idx]

    return recheck


def make_openai_critic(settings: Settings, *, fallback: Critic, profile: Profile) -> Critic:
    from assistant.cache import LLMCache
    from assistant.critique.llm import OpenAICritic

    secret = settings.api_key.get_secret_value() if settings.api_key else ""
    cache = LLMCache(settings.db_path, redact=[secret]) if settings.use_cache else None
    return OpenAICritic(settings, fallback=fallback, recheck=make_recheck(profile), cache=cache)
