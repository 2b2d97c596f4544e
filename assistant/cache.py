"""SQLite cache for LLM answers and embedding vectors (sqlite-utils, WAL mode).

Answers are keyed by a sha256 over (endpoint, model, prompt hash, parameters, rendered messages),
so re-reviewing an unchanged draft with the same prompt and settings costs no call. Vectors are
keyed by (model, sha256 of the text). Nothing secret is ever part of a key or a row: the API key
is not passed in here at all, and `put` refuses text that contains a string listed in `redact`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils
from pydantic import BaseModel

from assistant.settings import Settings
from assistant.store import connect

ANSWERS = "llm_cache"
VECTORS = "embedding_cache"


class CachedAnswer(BaseModel):
    key: str
    model: str
    prompt_hash: str
    answer: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    latency_ms: float = 0.0
    created_at: float = 0.0


def make_key(**parts: Any) -> str:
    """Stable sha256 of JSON-encoded parts (sorted keys)."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LLMCache:
    """Thread-safe (one connection, one lock) cache over the assistant's SQLite file."""

    def __init__(self, db_path: Path | str, *, redact: Iterable[str] = ()) -> None:
        self.path = Path(db_path)
        self.db = sqlite_utils.Database(connect(db_path))
        self._lock = threading.Lock()
        self._redact = [s for s in redact if s]

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMCache | None:
        """None when caching is off (`--no-cache` / ASSISTANT_CACHE=0)."""
        if not settings.use_cache:
            return None
        redact = [settings.api_key.get_secret_value()] if settings.api_key else []
        return cls(settings.db_path, redact=redact)

    def _check(self, *texts: str) -> None:
        for secret in self._redact:
            if any(secret in t for t in texts):
                raise ValueError("refusing to cache text that contains a secret")

    # ---------------------------------------------------------------- answers

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            rows = list(self.db.table(ANSWERS).rows_where("key = ?", [key], limit=1))
        if not rows:
            return None
        row = rows[0]
        row.pop("params", None)
        return CachedAnswer(**row)

    def put(
        self,
        key: str,
        *,
        model: str,
        prompt_hash: str,
        params: dict[str, Any],
        answer: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        calls: int = 0,
        latency_ms: float = 0.0,
    ) -> None:
        params_json = json.dumps(params, ensure_ascii=False, sort_keys=True, default=str)
        self._check(answer, params_json, model)
        row = {
            "key": key,
            "model": model,
            "prompt_hash": prompt_hash,
            "params": params_json,
            "answer": answer,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "calls": calls,
            "latency_ms": latency_ms,
            "created_at": time.time(),
        }
        with self._lock:
            self.db.table(ANSWERS).upsert(row, pk="key")

    def count(self) -> int:
        """Number of cached answers."""
        with self._lock:
            return self.db.table(ANSWERS).count

    # ---------------------------------------------------------------- vectors

    @staticmethod
    def vector_key(model: str, text: str) -> str:
        return make_key(model=model, text=text_hash(text))

    def get_vectors(self, model: str, texts: Sequence[str]) -> dict[str, list[float]]:
        """text → vector for the texts already cached."""
        keys = {self.vector_key(model, t): t for t in texts}
        found: dict[str, list[float]] = {}
        key_list = list(keys)
        with self._lock:
            for start in range(0, len(key_list), 500):
                chunk = key_list[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self.db.table(VECTORS).rows_where(f"key in ({marks})", chunk):
                    found[keys[row["key"]]] = list(struct.unpack(f"<{row['dim']}f", row["vector"]))
        return found

    def count_vectors(self, model: str, texts: Sequence[str]) -> int:
        """How many of `texts` have a cached vector (no vector is read)."""
        keys = list({self.vector_key(model, t) for t in texts})
        n = 0
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                n += self.db.execute(f"SELECT count(*) FROM {VECTORS} WHERE key IN ({marks})", chunk).fetchone()[0]
        return n

    def put_vectors(self, model: str, items: Mapping[str, Sequence[float]]) -> None:
        now = time.time()
        rows = [
            {
                "key": self.vector_key(model, text),
                "model": model,
                "dim": len(vec),
                "vector": struct.pack(f"<{len(vec)}f", *vec),
                "created_at": now,
            }
            for text, vec in items.items()
        ]
        with self._lock:
            self.db.table(VECTORS).upsert_all(rows, pk="key")

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()
