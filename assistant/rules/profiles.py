"""Rule profiles: thresholds and severity overrides as data (assistant/data/profiles/*.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from assistant.errors import ConfigError, NotFoundError
from assistant.models import Severity, Strict

PROFILE_DIR = Path(__file__).resolve().parent.parent / "data" / "profiles"
CAPS_FILE = Path(__file__).resolve().parent.parent / "data" / "error_caps.json"


@lru_cache(maxsize=1)
def shipped_caps() -> dict[str, float]:
    """Per-rule caps shipped with the package (none today: see evaluate/caps.py for why); {} when absent."""
    if not CAPS_FILE.is_file():
        return {}
    return {str(k): float(v) for k, v in json.loads(CAPS_FILE.read_text(encoding="utf-8")).get("caps", {}).items()}


def _caps() -> dict[str, float]:
    return dict(shipped_caps())


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
    # how far an error-level finding caps its dimension (level 1–5): per rule, fitted on ratings by default;
    # rules not listed cap at default_error_cap; three or more error findings on one dimension at many_errors_cap
    error_caps: dict[str, float] = Field(default_factory=_caps)
    default_error_cap: float = Field(default=4.0, ge=1, le=5)
    many_errors_cap: float = Field(default=3.0, ge=1, le=5)

    def cap_for(self, rule_ids: list[str]) -> float:
        """The highest level a dimension may keep with these error-level findings (one rule id per finding)."""
        if not rule_ids:
            return 5.0
        caps = [self.error_caps.get(r, self.default_error_cap) for r in rule_ids]
        return min([*caps, self.many_errors_cap] if len(rule_ids) >= 3 else caps)


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
