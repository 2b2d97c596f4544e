"""Configuration: one `load_settings(environ)` call, no import-time singletons.

Secrets come only from the environment and are never logged, printed or stored
(`Settings.api_key` is a SecretStr and is excluded from `safe_dump()`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from assistant.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
# In a checkout the top-level folders are used; an installed wheel carries copies inside the package
# and keeps its data under the user's data folder instead of next to site-packages.
IN_CHECKOUT = (REPO_DIR / "pyproject.toml").is_file()
SHIPPED_CORPUS = (REPO_DIR / "corpus" if IN_CHECKOUT else PACKAGE_DIR / "_corpus") / "approved_targets.jsonl"
DATA_DIR = REPO_DIR / "var" if IN_CHECKOUT else Path(
    os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "performance-target-assistant"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["offline", "openai"] = "offline"
    profile: str = "default"
    corpus_path: Path = SHIPPED_CORPUS
    db_path: Path = DATA_DIR / "assistant.db"
    # OpenAI-compatible endpoint
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None
    temperature: float = Field(default=0.0, ge=0, le=2)
    seed: int | None = 7
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    use_cache: bool = True
    dense_retrieval: bool = True  # the bundled local model where it runs, or ASSISTANT_EMBEDDING_MODEL's endpoint
    embedding_model: str | None = None
    top_k: int = Field(default=5, ge=1, le=50)

    def safe_dump(self) -> dict[str, object]:
        data = self.model_dump(exclude={"api_key"})
        data["api_key_set"] = self.api_key is not None
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()}


_ENV_MAP = {
    "ASSISTANT_BACKEND": "backend",
    "ASSISTANT_PROFILE": "profile",
    "ASSISTANT_CORPUS": "corpus_path",
    "ASSISTANT_DB": "db_path",
    "OPENAI_BASE_URL": "base_url",
    "OPENAI_API_KEY": "api_key",
    "ASSISTANT_MODEL": "model",
    "ASSISTANT_TEMPERATURE": "temperature",
    "ASSISTANT_SEED": "seed",
    "ASSISTANT_TIMEOUT": "timeout_s",
    "ASSISTANT_MAX_RETRIES": "max_retries",
    "ASSISTANT_MAX_CONCURRENCY": "max_concurrency",
    "ASSISTANT_CACHE": "use_cache",
    "ASSISTANT_DENSE_RETRIEVAL": "dense_retrieval",
    "ASSISTANT_EMBEDDING_MODEL": "embedding_model",
    "ASSISTANT_TOP_K": "top_k",
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from an environment mapping (default: os.environ) plus explicit overrides."""
    env = os.environ if environ is None else environ
    data: dict[str, object] = {}
    for var, field in _ENV_MAP.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        if field in {"use_cache", "dense_retrieval"}:
            data[field] = raw.strip().lower() not in {"0", "false", "no", "off"}
        else:
            data[field] = raw
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"配置无效：{problems}") from None
