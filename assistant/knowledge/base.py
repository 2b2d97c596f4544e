"""The knowledge base a review uses: the library (for the review's rule profile) matched by the precedent index's
embedding engine when it has one, by character bigrams otherwise; built once per library version and engine."""

from __future__ import annotations

import logging
import threading
from typing import Any

from assistant.knowledge.library import Library
from assistant.knowledge.match import KnowledgeBase
from assistant.models import KnowledgeEvidence, NormIndicator, Target
from assistant.retrieve.embeddings import EmbeddingError

log = logging.getLogger(__name__)
_built: dict[tuple[str, str, str], KnowledgeBase] = {}
_lock = threading.Lock()


def knowledge_for(library: Library, profile: str, index: Any = None) -> KnowledgeBase:
    """The knowledge base for `profile`, with the index's dense engine and vector cache when present."""
    dense = getattr(index, "dense", None)
    engine = dense.embedder if dense is not None else None
    key = (library.version, profile, engine.name if engine is not None else "")
    with _lock:
        kb = _built.get(key)
        if kb is None:
            lib = library.for_profile(profile)
            vectorise = None
            if engine is not None:
                cache = index.vectors

                def vectorise(texts: Any) -> Any:
                    return (cache.vectors(engine, list(texts)) if cache is not None else engine.embed(list(texts)))
            try:
                kb = KnowledgeBase(lib, vectorise=vectorise)
            except EmbeddingError as exc:  # the engine failed while embedding the library: characters only
                log.warning("knowledge vectors unavailable (%s); matching by characters", exc.reason)
                kb = KnowledgeBase(lib)
            if len(_built) >= 16:  # library versions and profiles come and go on a long-running server
                _built.clear()
            _built[key] = kb
    return kb


def assess(kb: KnowledgeBase, target: Target, indicators: list[NormIndicator], *,
           excluded_sources: frozenset[str] = frozenset()) -> KnowledgeEvidence:
    """`kb.check`, falling back to character matching for this call when the embedding engine fails."""
    try:
        return kb.check(target, indicators, excluded_sources=excluded_sources)
    except EmbeddingError:
        return KnowledgeBase(kb.library).check(target, indicators, excluded_sources=excluded_sources)
