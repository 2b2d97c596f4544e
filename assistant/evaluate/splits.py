"""Split robustness: the cross-fitted agreement over other groupings of the sources into folds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.dimensions import DIMENSION_KEYS
from assistant.evaluate.runner import EvalRun


def split_repeats(run_once: Callable[[int], EvalRun], repeats: int) -> dict[str, Any]:
    """Agreement over `repeats` other groupings of the same cross-fit (seeds 1..repeats): how much the
    headline figures owe to one particular split. Each repeat is a full cross-fitted run."""
    keys = [*DIMENSION_KEYS, "overall"]
    per: dict[str, list[float]] = {k: [] for k in keys}
    grade: list[float] = []
    spearman: list[float] = []
    for r in range(1, repeats + 1):
        dims = run_once(r).metrics["agreement"]["dimensions"]
        for k in keys:
            if dims.get(k, {}).get("qwk") is not None:
                per[k].append(float(dims[k]["qwk"]))
        if dims.get("overall", {}).get("grade_agreement") is not None:
            grade.append(float(dims["overall"]["grade_agreement"]))
        if dims.get("overall", {}).get("spearman") is not None:
            spearman.append(float(dims["overall"]["spearman"]))

    def summary(xs: list[float]) -> dict[str, float | None]:
        if not xs:
            return {"mean": None, "sd": None, "min": None, "max": None}
        arr = np.asarray(xs)
        return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
                "min": float(arr.min()), "max": float(arr.max())}
    return {"repeats": repeats, "qwk": {k: summary(v) for k, v in per.items()},
            "overall_spearman": summary(spearman), "grade_agreement": summary(grade)}
