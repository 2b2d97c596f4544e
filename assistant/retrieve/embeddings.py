"""Optional dense retrieval: vectors from the endpoint's /v1/embeddings, cached in SQLite, fused
with the TF-IDF ranking by reciprocal rank fusion. Switched on by `Settings.dense_retrieval`.

This module does not import `openai`: the HTTP call (`assistant.critique.llm.make_embedder`) or any callable
`texts -> vectors` (tests, a local model) is injected by whoever wires the dependencies.
Embedding similarities sit in a narrow band: rank with them, never threshold them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from assistant.cache import LLMCache

EmbedFn = Callable[[list[str]], list[list[float]]]


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(d) = Σ 1 / (k + rank_r(d)), ranks from 1; ties keep first-seen order."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        seen: set[str] = set()
        for rank, doc in enumerate(ranking, start=1):
            if doc in seen:
                continue
            seen.add(doc)
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    order = {doc: i for i, doc in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class EmbeddingClient:
    """texts → vectors, with a SQLite cache keyed by (model, sha256(text))."""

    def __init__(self, settings: Any, cache: LLMCache | None = None, *, embed: EmbedFn) -> None:
        self.model = settings.embedding_model or "default"
        self.cache = cache
        self._embed = embed
        self.calls = 0  # HTTP batches actually sent (cache misses)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        unique = list(dict.fromkeys(texts))
        known = self.cache.get_vectors(self.model, unique) if self.cache is not None else {}
        missing = [t for t in unique if t not in known]
        if missing:
            vectors = self._embed(missing)
            self.calls += 1
            if len(vectors) != len(missing):
                raise ValueError(f"embedding endpoint returned {len(vectors)} vectors for {len(missing)} texts")
            fresh = dict(zip(missing, vectors, strict=True))
            if self.cache is not None:
                self.cache.put_vectors(self.model, fresh)
            known.update(fresh)
        return [list(known[t]) for t in texts]

    def rank(self, query: str, docs: Mapping[str, str]) -> list[tuple[str, float]]:
        """Doc ids by cosine similarity to `query`, best first."""
        ids = list(docs)
        vectors = self.embed([query, *(docs[i] for i in ids)])
        q, rest = vectors[0], vectors[1:]
        scored = [(doc_id, cosine(q, v)) for doc_id, v in zip(ids, rest, strict=True)]
        return sorted(scored, key=lambda kv: -kv[1])


def fuse(tfidf_ranking: Sequence[str], dense_ranking: Sequence[str], *, k: int = 60) -> list[str]:
    """TF-IDF order and dense order fused by RRF (ids only)."""
    return [doc for doc, _ in rrf([tfidf_ranking, dense_ranking], k=k)]
