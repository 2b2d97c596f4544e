"""How far an error-level finding caps its dimension, read from ratings: for each rule, the level the raters gave
the dimension on the items where the rule fired (`assistant eval caps`). A rule the raters treat as disqualifying
would get a low cap, one they treat as minor a high one; a rule seen on fewer than MIN_ITEMS items keeps the profile
default. cap = the highest consensus level on those items, rounded half up.

Measured on evals/ (cross-fitted: caps fitted on the training folds only, 20 groupings), per-rule caps made the
offline path worse (suitability QWK 0.75 → 0.69–0.70, overall Spearman 0.83 → 0.80–0.81, for the 90th
percentile and the maximum) and changed the recorded LLM
answers' agreement by ≤ 0.01: the few generous items per rule sit in one source group, so a fold that holds them out
fits a cap below them. The shipped profiles therefore keep the simple policy (one or two error findings cap a
dimension at 4, three or more at 3) and no per-rule caps; `--profile-out` writes a profile with fitted caps for a
panel with more ratings to evaluate (`assistant eval run --profile that.json`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from assistant.evaluate.calibrate import ItemFeatures
from assistant.rules.catalogue import RULES

MIN_ITEMS = 5
QUANTILE = 1.0


def observed(feats: Sequence[ItemFeatures], targets: Mapping[str, Mapping[str, float]]
             ) -> dict[str, list[float]]:
    """Rule → the consensus level of its dimension on each rated item where it fired at error level."""
    seen: dict[str, list[float]] = defaultdict(list)
    for f in feats:
        for dim, rules in f.error_rules.items():
            level = targets.get(f.item_id, {}).get(dim)
            if level is not None:
                for rule in rules:
                    seen[rule].append(float(level))
    return dict(seen)


def fit_caps(feats: Sequence[ItemFeatures], targets: Mapping[str, Mapping[str, float]], *,
             min_items: int = MIN_ITEMS) -> dict[str, float]:
    caps = {}
    for rule, levels in observed(feats, targets).items():
        if len(levels) >= min_items:
            q = float(np.quantile(levels, QUANTILE))
            caps[rule] = float(min(5, max(1, math.floor(q + 0.5))))
    return dict(sorted(caps.items()))


def caps_table(feats: Sequence[ItemFeatures], targets: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    caps = fit_caps(feats, targets)
    rows = []
    for rule, levels in sorted(observed(feats, targets).items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rows.append({"rule": rule, "dimension": RULES[rule].dimension if rule in RULES else "",
                     "title": RULES[rule].title if rule in RULES else "", "n": len(levels),
                     "mean": round(float(np.mean(levels)), 2), "max": round(max(levels), 2), "cap": caps.get(rule)})
    return rows
