"""`review(target, deps)`: the one pipeline the CLI, the web API, batch jobs and evaluation call.

`prepare` runs the stages before the critic (normalise → derive facts → retrieve → rules) and returns the
`CritiqueInput` every critic reads; calibration and the benchmarks call it too, so they see exactly what a
review sees. `review` adds the critic, the rule re-check of every suggestion and the report stage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.critique.base import Critic
from assistant.critique.offline import OfflineCritic
from assistant.dimensions import DIMENSION_KEYS
from assistant.intake.facts import derive_facts
from assistant.intake.taxonomy import normalise
from assistant.knowledge.base import assess, knowledge_for
from assistant.knowledge.library import load_library
from assistant.knowledge.match import KnowledgeBase
from assistant.models import CritiqueInput, RetrievalEvidence, Review, ReviewMeta, Target
from assistant.report.merge import finalise
from assistant.report.suggestions import library_suggestions, recheck_suggestions
from assistant.retrieve.index import PrecedentIndex
from assistant.rules.engine import run_rules
from assistant.rules.profiles import Profile, load_profile
from assistant.settings import Settings


@dataclass
class Deps:
    critic: Critic
    profile: Profile
    index: PrecedentIndex | None = None
    top_k: int = 5
    knowledge: KnowledgeBase | None = None  # the sector library and standards for this profile


class _Clock:
    """Milliseconds per stage."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round((now - self._t) * 1000, 2)
        self._t = now


def prepare(target: Target, deps: Deps, *, exclude_ids: Iterable[str] = (), clock: _Clock | None = None
            ) -> CritiqueInput:
    """Normalise, derive facts, retrieve and run the rules. `exclude_ids`: corpus records the target may not
    retrieve (leave-one-out); the target's own id and an indexed copy of the same table are excluded too."""
    clock = clock or _Clock()
    indicators = normalise(target)
    facts = derive_facts(target, indicators)
    clock.lap("records")
    evidence = RetrievalEvidence()
    excluded = [i for i in exclude_ids if i] + ([target.id] if target.id else [])
    if deps.index is not None:
        same = deps.index.content_id(facts.content_hash)  # the same table already in the corpus
        if same:
            excluded.append(same)
        evidence = deps.index.evidence(target, indicators, k=deps.top_k, exclude_ids=excluded, facts=facts)
    clock.lap("retrieve")
    if deps.knowledge is not None:  # library entries read in an excluded record's own source are left out too
        sources = deps.index.source_urls(excluded) if deps.index is not None else frozenset()
        evidence = evidence.model_copy(update={"knowledge": assess(deps.knowledge, target, indicators,
                                                                   excluded_sources=sources)})
    clock.lap("knowledge")
    findings = run_rules(target, indicators, deps.profile, evidence, facts=facts)
    clock.lap("rules")
    caps = {d: deps.profile.cap_for([f.rule_id for f in findings if f.dimension == d and f.severity == "error"])
            for d in DIMENSION_KEYS}
    return CritiqueInput(target=target, indicators=indicators, findings=findings, evidence=evidence, facts=facts,
                         profile=deps.profile.name, caps={d: c for d, c in caps.items() if c < 5})


def review(target: Target, deps: Deps, *, exclude_ids: Iterable[str] = ()) -> Review:
    """Review one target (see `prepare` for `exclude_ids`)."""
    clock = _Clock()
    inp = prepare(target, deps, exclude_ids=exclude_ids, clock=clock)
    result = deps.critic.critique(inp)
    clock.lap("critique")
    result = recheck_suggestions(inp, library_suggestions(inp, result), deps.profile)
    meta = ReviewMeta(profile=deps.profile.name, corpus_version=deps.index.version if deps.index else "",
                      scorer_version=result.scorer_version, prompt_hash=result.prompt_hash, params=result.params,
                      timings_ms=clock.timings, usage=result.usage, content_hash=inp.facts.content_hash,
                      retrieval=inp.evidence.mode, retrieval_note=inp.evidence.note, llm_answer=result.llm_answer,
                      prompt_sha256=result.prompt_sha256)
    return finalise(inp, result, meta, deps.profile)


def _endpoint_embedder(settings: Settings) -> Any:
    from assistant.critique.llm import make_embedder  # the one module that imports openai (loaded only if used)

    return make_embedder(settings)


def open_precedents(settings: Settings, corpus: Path | None = None, **kwargs: Any) -> PrecedentIndex:
    """The precedent index of the corpus (retrieve.corpus.open_index), wired to the embeddings endpoint when
    ASSISTANT_EMBEDDING_MODEL names one."""
    from assistant.retrieve.corpus import open_index

    return open_index(settings, corpus, endpoint_call=_endpoint_embedder, **kwargs)


def build_deps(settings: Settings, *, profile: str | None = None, backend: str | None = None,
               corpus: Path | None = None, index: PrecedentIndex | None = None) -> Deps:
    """Wire the default dependencies from settings (offline unless the openai backend is asked for)."""
    prof = load_profile(profile or settings.profile)
    if index is None:
        index = open_precedents(settings, corpus)
    offline = OfflineCritic()
    critic: Critic = offline
    if (backend or settings.backend) == "openai":
        from assistant.critique.llm_factory import make_openai_critic

        critic = make_openai_critic(settings, fallback=offline)
    knowledge = knowledge_for(load_library(settings.db_path), prof.name, index)
    return Deps(critic=critic, profile=prof, index=index, top_k=settings.top_k, knowledge=knowledge)
