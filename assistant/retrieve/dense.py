"""Dense project vectors beside the TF-IDF index: one vector per record (name, goal, indicators), brute-force cosine
over float32 after centring on the corpus mean (e5 similarities sit in a narrow band; centred, related projects
score well above unrelated ones, so a floor can say "nothing close").

Vectors come from `VectorCache` (the assistant's SQLite file), so building the matrix for a grown corpus embeds only
the new records, and `save`/`load` keep it beside the persisted index (`dense-<model>.npy`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.models import Target
from assistant.retrieve.embeddings import Embedder, EmbeddingError, VectorCache, clean

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")  # query embedding beside TF-IDF work


RECORD_CHARS = 160  # ≈ 100 tokens: the local model embeds about 10 such texts a second on two cores


def record_text(t: Target) -> str:
    """What a project is, for its vector: its name, the start of its annual goal and its first indicator names (with
    the indicators, short or empty goals no longer make records into hubs close to every short query), ≤ 160 chars."""
    names = "；".join(i.name for i in t.indicators[:10] if i.name.strip())
    return clean(f"{t.project_name}。{t.annual_goal[:60]}；{names}")[:RECORD_CHARS]


def _file(folder: Path, model: str) -> Path:
    return folder / f"dense-{hashlib.sha256(model.encode()).hexdigest()[:12]}.npy"


@dataclass
class DenseIndex:
    """Unit vectors of the records (rows aligned with the TF-IDF index), centred on their mean for scoring."""

    embedder: Embedder
    vectors: np.ndarray  # (N, d) float32, L2-normalised
    mean: np.ndarray = field(init=False)
    centred: np.ndarray = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.mean = self.vectors.mean(axis=0).astype(np.float32)
        c = self.vectors - self.mean
        norms = np.linalg.norm(c, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        self.centred = (c / norms).astype(np.float32)

    @property
    def model(self) -> str:
        return self.embedder.name

    def centre(self, v: np.ndarray) -> np.ndarray:
        c = v - self.mean
        n = float(np.linalg.norm(c))
        return (c / n if n else c).astype(np.float32)

    def query_async(self, text: str, cache: VectorCache | None = None) -> Future[np.ndarray]:
        """The centred query vector, computed on the embedding thread (raises EmbeddingError on `result()`)."""
        store = cache or VectorCache(None)
        return _POOL.submit(lambda: self.centre(store.vectors(self.embedder, [text])[0]))

    def scores(self, centred_query: np.ndarray) -> np.ndarray:
        return self.centred @ centred_query

    def top(self, centred_query: np.ndarray, *, k: int, skip: Callable[[int], bool]) -> list[tuple[int, float]]:
        """(row, centred cosine) of the k best records, best first, skipping rows `skip` refuses."""
        sims = self.scores(centred_query)
        want = min(len(sims), k + 8)
        top = np.argpartition(-sims, want - 1)[:want] if want < len(sims) else np.arange(len(sims))
        out: list[tuple[int, float]] = []
        for row in top[np.lexsort((top, -sims[top]))]:
            if skip(int(row)):
                continue
            out.append((int(row), float(sims[row])))
            if len(out) >= k:
                break
        if len(out) < k and want < len(sims):  # many skipped rows: fall back to a full sort
            order = np.lexsort((np.arange(len(sims)), -sims))
            out = [(int(r), float(sims[r])) for r in order if not skip(int(r))][:k]
        return out

    def save(self, folder: Path) -> None:
        path = _file(folder, self.model)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, self.vectors)
        tmp.replace(path)

    @classmethod
    def load(cls, folder: Path, embedder: Embedder, n_rows: int) -> DenseIndex | None:
        path = _file(folder, embedder.name)
        if not path.is_file():
            return None
        vectors = np.load(path)
        return cls(embedder, vectors) if vectors.ndim == 2 and len(vectors) == n_rows else None


def build_dense(embedder: Embedder, texts: Sequence[str] | Iterable[str], cache: VectorCache, *,
                progress: Callable[[int, int], None] | None = None) -> DenseIndex:
    """Vectors for every record text, embedding only those not in the cache (committed chunk by chunk)."""
    texts = list(texts)
    vectors = cache.vectors(embedder, texts, chunk=256, progress=progress)
    if not len(vectors):
        raise EmbeddingError("先例库为空，无法计算向量")
    return DenseIndex(embedder, vectors)


def missing_count(embedder: Embedder, texts: Sequence[str], cache: VectorCache) -> int:
    """How many distinct texts still need a vector (nothing is embedded)."""
    unique = set(texts)
    return len(unique) if cache.cache is None else len(unique) - cache.cache.count_vectors(embedder.name, list(unique))
