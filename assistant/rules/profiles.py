"""Rule profiles: thresholds and severity overrides as data (assistant/data/profiles/*.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from assistant.errors import ConfigError, NotFoundError
from assistant.models import Severity, Strict

PROFILE_DIR = Path(__file__).resolve().parent.parent / "data" / "profiles"


class Profile(Strict):
    name: str
    title: str
    style: Literal["88", "101"] = "88"
    min_indicators: int = 6
    min_quant_share: float = 0.7
    quant_share_strict: bool = False  # Xinjiang says "> 70 %", others "≥"
    goal_min_chars: int = 12
    satisfaction_low: float = 80
    quality_low: float = 80
    fund_tolerance: float = 0.3  # FF-02 relative tolerance
    cost_gap_ratio: float = 0.5  # FF-10: total cost below this share of the budget
    budget_increase_ratio: float = 0.2  # FF-11
    # header fields that must be filled; "unit" means department or implementing_unit
    required_header: list[str] = ["project_name", "amount_total_wan", "unit"]
    severity_overrides: dict[str, Severity] = {}
    disabled: list[str] = []


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


@lru_cache(maxsize=32)
def load_profile(name: str = "default") -> Profile:
    path = Path(name) if name.endswith(".json") else PROFILE_DIR / f"{name}.json"
    if not path.is_file():
        raise NotFoundError(f"找不到规则配置「{name}」，可用：{', '.join(available_profiles())}")
    try:
        return Profile(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"规则配置「{name}」格式错误：{exc}") from None
