"""What an LLM evaluation run says beyond agreement: how many reviews fell back to offline (and why), which caps
lowered the model's levels, how often the model contradicted a numeric rule fact, the mean levels beside the raters',
and, for a replay, how many drafts had a recorded answer and how many prompts changed since it was recorded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from assistant.dimensions import DIMENSION_KEYS
from assistant.evaluate.replay import RecordedAnswer, ReplayServer
from assistant.settings import Settings


def replay_settings(settings: Settings, server: ReplayServer) -> Settings:
    """Settings that send the openai backend to the replay endpoint (no cache, no retries: a missing answer shows)."""
    return settings.model_copy(update={"base_url": server.base_url, "model": server.model,
                                       "api_key": SecretStr("replay"), "use_cache": False, "max_retries": 0,
                                       "backend": "openai"})


def _reviews(preds: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for p in preds:
        review = p.review if hasattr(p, "review") else p.get("review")
        if review:
            out.append(review)
    return out


def llm_summary(preds: Sequence[Any], ratings_mean: Mapping[str, float] | None = None, *,
                answers: Mapping[str, RecordedAnswer] | None = None, server: ReplayServer | None = None
                ) -> dict[str, Any]:
    reviews = _reviews(preds)
    fell_back = [r for r in reviews if r.get("fallback_reason")]
    capped: Counter[str] = Counter()
    contradictions: Counter[str] = Counter()
    levels: dict[str, list[float]] = {d: [] for d in DIMENSION_KEYS}
    for r in reviews:
        for d in DIMENSION_KEYS:
            ds = r["dimensions"][d]
            levels[d].append(float(ds["level"]))
            if ds.get("capped_by"):
                capped[d] += 1
            contradictions[d] += len(ds.get("contradictions") or [])
    out: dict[str, Any] = {
        "n_reviews": len(reviews),
        "fell_back": len(fell_back),
        "fallback_reasons": dict(Counter(str(r["fallback_reason"]) for r in fell_back).most_common(5)),
        "capped": {d: capped[d] for d in DIMENSION_KEYS},
        "contradictions": {d: contradictions[d] for d in DIMENSION_KEYS},
        "items_with_contradictions": sum(1 for r in reviews
                                         if any(r["dimensions"][d].get("contradictions") for d in DIMENSION_KEYS)),
        "mean_level": {d: round(sum(v) / len(v), 3) if v else None for d, v in levels.items()},
    }
    if ratings_mean:
        out["raters_mean_level"] = {d: round(ratings_mean[d], 3) for d in DIMENSION_KEYS if d in ratings_mean}
    if answers is not None:
        changed = 0
        for r in reviews:
            rec = answers.get(r.get("target_id") or "")
            sha = (r.get("meta") or {}).get("prompt_sha256")
            if rec is not None and rec.prompt_sha256 and sha and rec.prompt_sha256 != sha:
                changed += 1
        out["replay"] = {"recorded": len(answers), "served": len(server.served) if server else None,
                         "missing": server.missing if server else None, "prompt_changed": changed}
    return out


def ratings_means(rows: Sequence[Any]) -> dict[str, float]:
    """Per dimension, the mean of the raters' levels over all ratings."""
    sums: dict[str, list[float]] = {d: [] for d in DIMENSION_KEYS}
    for r in rows:
        for d in DIMENSION_KEYS:
            v = getattr(r, d, None) if not isinstance(r, Mapping) else r.get(d)
            if v is not None:
                sums[d].append(float(v))
    return {d: sum(v) / len(v) for d, v in sums.items() if v}
