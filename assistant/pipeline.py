"""`review(target, deps)`: the one function the CLI, the web API, batch jobs and evaluation call."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.critique.base import CritiqueInput, Critic, RetrievalEvidence
from assistant.critique.offline import SCORER_VERSION, OfflineCritic
from assistant.models import Review, ReviewMeta, Target
from assistant.records import content_hash
from assistant.report import finalise
from assistant.retrieve import PrecedentIndex
from assistant.rules.engine import run_rules
from assistant.rules.profiles import Profile, load_profile
from assistant.settings import Settings
from assistant.taxonomy import normalise


@dataclass
class Deps:
    critic: Critic
    profile: Profile
    index: PrecedentIndex | None = None
    top_k: int = 5
    extra: dict = field(default_factory=dict)


def review(target: Target, deps: Deps, *, exclude_ids: Iterable[str] = ()) -> Review:
    """Review one target. `exclude_ids`: corpus records the target may not retrieve (leave-one-out)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    indicators = normalise(target)
    timings["records"] = (time.perf_counter() - t0) * 1000
    t1 = time.perf_counter()
    excluded = [i for i in exclude_ids if i] + ([target.id] if target.id else [])
    if deps.index is not None:  # the same table already in the corpus is not its own precedent
        same = deps.index.content_id(content_hash(target))
        if same:
            excluded.append(same)
    evidence = (deps.index.evidence(target, indicators, k=deps.top_k, exclude_ids=excluded)
                if deps.index is not None else RetrievalEvidence())
    timings["retrieve"] = (time.perf_counter() - t1) * 1000
    t2 = time.perf_counter()
    findings = run_rules(target, indicators, deps.profile, evidence if deps.index is not None else None)
    timings["rules"] = (time.perf_counter() - t2) * 1000
    t3 = time.perf_counter()
    result = deps.critic.critique(CritiqueInput(target=target, indicators=indicators, findings=findings,
                                                evidence=evidence, profile=deps.profile.name))
    timings["critique"] = (time.perf_counter() - t3) * 1000
    meta = ReviewMeta(profile=deps.profile.name, corpus_version=deps.index.version if deps.index else "",
                      scorer_version=SCORER_VERSION, prompt_hash=result.prompt_hash, params=result.params,
                      timings_ms={k: round(v, 2) for k, v in timings.items()}, usage=result.usage,
                      content_hash=content_hash(target))
    return finalise(target=target, indicators=indicators, findings=findings, precedents=evidence.precedents,
                    critique=result, meta=meta)


def build_deps(settings: Settings, *, profile: str | None = None, backend: str | None = None,
               corpus: Path | None = None, index: PrecedentIndex | None = None) -> Deps:
    """Wire the default dependencies from settings (offline unless the openai backend is asked for)."""
    prof = load_profile(profile or settings.profile)
    if index is None:
        from assistant.corpus_store import open_index

        index = open_index(settings, corpus)
    idx = index
    offline = OfflineCritic()
    critic: Critic = offline
    if (backend or settings.backend) == "openai":
        from assistant.critique.llm_factory import make_openai_critic

        critic = make_openai_critic(settings, fallback=offline, profile=prof)
    return Deps(critic=critic, profile=prof, index=idx, top_k=settings.top_k)
