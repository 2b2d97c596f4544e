"""Fit the offline scorer to a panel's ratings, with grouped cross-validation.

Items that come from the same source record (an original and its defect variants) always sit
in the same fold, so a variant's score is never predicted by a model that saw its sibling.
Retrieval is leave-one-out: an item never retrieves its own source record.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import numpy as np
from pydantic import Field
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold

from assistant.critique.features import FEATURE_SETS, FEATURE_VERSION, extract, unusable, vector
from assistant.critique.offline import Calibration, DimensionModel
from assistant.dimensions import DIMENSION_KEYS
from assistant.evaluate.metrics import qwk_1to5, spearman
from assistant.models import Strict, Target
from assistant.pipeline import Deps, prepare

ALPHA = 0.1


class ItemFeatures(Strict):
    item_id: str
    group: str
    features: dict[str, dict[str, float]]
    error_rules: dict[str, list[str]] = Field(default_factory=dict)  # dimension → error-level rule ids (for caps)


class CVResult(Strict):
    folds: int
    predictions: dict[str, dict[str, float]]  # item_id → dim → level (out-of-fold)
    default_predictions: dict[str, dict[str, float]]
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)


def item_features(target: Target, deps: Deps, *, exclude_ids: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    """The scorer's features of one item, from the same `prepare` step a review runs."""
    return extract(prepare(target, deps, exclude_ids=exclude_ids))


def collect(items: list[Target], sources: dict[str, str], deps: Deps) -> list[ItemFeatures]:
    """Features for each item, retrieval leave-one-out by source record."""
    out = []
    for t in items:
        src = sources.get(t.id or "", "")
        inp = prepare(t, deps, exclude_ids=[src] if src else [])
        errors: dict[str, list[str]] = {}
        for f in inp.findings:
            if f.severity == "error" and f.rule_id not in errors.setdefault(f.dimension, []):
                errors[f.dimension].append(f.rule_id)
        out.append(ItemFeatures(item_id=t.id or "", group=src or t.id or "", features=extract(inp), error_rules=errors))
    return out


def _fit_dim(X: np.ndarray, y: np.ndarray, names: list[str], alpha: float = ALPHA) -> DimensionModel:
    """Deficit model: level = base − Σ wᵢ·problemᵢ with wᵢ ≥ 0, so every problem can only lower a score
    (monotone, explainable), and a draft without detected problems scores 5."""
    model = Ridge(alpha=alpha, fit_intercept=False, positive=True)
    model.fit(X, 5.0 - y)
    return DimensionModel(intercept=5.0, coef={n: -float(w) for n, w in zip(names, model.coef_, strict=False)})


def _rows(feats: list[ItemFeatures], targets: dict[str, dict[str, float]], dim: str) -> list[ItemFeatures]:
    """Items rated on `dim` that the linear model scores (drafts anchored at level 1 are left out)."""
    return [f for f in feats if f.item_id in targets and dim in targets[f.item_id] and not unusable(f.features[dim], dim)]


def _fit_set(rows: list[ItemFeatures], targets: dict[str, dict[str, float]], dim: str, names: list[str],
             alpha: float) -> DimensionModel:
    X = np.array([vector(f.features[dim], dim, names) for f in rows])
    y = np.array([targets[f.item_id][dim] for f in rows])
    return _fit_dim(X, y, names, alpha)


def choose_set(rows: list[ItemFeatures], targets: dict[str, dict[str, float]], dim: str, *, alpha: float = ALPHA,
               folds: int = 4) -> str:
    """The candidate feature set (features.FEATURE_SETS) with the lowest grouped cross-validated error on `rows`
    alone (mean absolute error of the levels; ties go to the smaller set)."""
    sets = FEATURE_SETS[dim]
    groups = np.array([f.group for f in rows])
    n_splits = min(folds, len(set(groups)))
    if len(sets) == 1 or n_splits < 2:
        return min(sets, key=lambda k: len(sets[k]))
    errors: dict[str, float] = {}
    for name, names in sets.items():
        err = []
        for train, test in GroupKFold(n_splits=n_splits).split(rows, groups=groups):
            model = _fit_set([rows[i] for i in train], targets, dim, names, alpha)
            for i in test:
                f = rows[i]
                pred = model.intercept + sum(w * f.features[dim].get(k, 0.0) for k, w in model.coef.items())
                err.append(abs(min(5.0, max(1.0, pred)) - targets[f.item_id][dim]))
        errors[name] = float(np.mean(err))
    return min(sets, key=lambda k: (round(errors[k], 6), len(sets[k])))


def fit(feats: list[ItemFeatures], targets: dict[str, dict[str, float]], *, alpha: float = ALPHA,
        label: str = "") -> Calibration:
    """One linear model per dimension: features → consensus level (1–5). The feature set of each dimension is
    chosen by grouped cross-validation inside `feats` only (`choose_set`), so a caller that holds items out keeps
    the choice nested. Drafts the scorer anchors at level 1 (`features.UNUSABLE`, e.g. fund fit without a budget)
    are left out: the linear model never scores them."""
    from assistant.critique.offline import default_calibration

    dims = {}
    chosen = {}
    for d in DIMENSION_KEYS:
        rows = _rows(feats, targets, d)
        if len(rows) < 2:  # too few rated items to fit: the transparent default for this dimension
            dims[d], chosen[d] = default_calibration().dimensions[d], "default"
            continue
        chosen[d] = choose_set(rows, targets, d, alpha=alpha)
        dims[d] = _fit_set(rows, targets, d, FEATURE_SETS[d][chosen[d]], alpha)
    sets = ", ".join(f"{d}:{name}" for d, name in chosen.items())
    return Calibration(feature_version=FEATURE_VERSION, fitted_on=label or _dt.date.today().isoformat(),
                       n_items=len(feats), method=f"ridge(alpha={alpha}) on rater consensus; feature sets {sets}",
                       dimensions=dims)


def cross_validate(feats: list[ItemFeatures], targets: dict[str, dict[str, float]], *, folds: int = 5,
                   alpha: float = ALPHA) -> CVResult:
    """Out-of-fold predictions (GroupKFold by source record) and the uncalibrated default's predictions."""
    from assistant.critique.offline import default_calibration, predict_levels

    usable = [f for f in feats if f.item_id in targets]
    groups = np.array([f.group for f in usable])
    n_splits = min(folds, len(set(groups)))
    preds: dict[str, dict[str, float]] = {f.item_id: {} for f in usable}
    for train_idx, test_idx in GroupKFold(n_splits=n_splits).split(usable, groups=groups):
        cal = fit([usable[i] for i in train_idx], targets, alpha=alpha)
        for i in test_idx:
            preds[usable[i].item_id] = predict_levels(usable[i].features, cal)
    default = default_calibration()
    default_preds = {f.item_id: predict_levels(f.features, default) for f in usable}
    result = CVResult(folds=n_splits, predictions=preds, default_predictions=default_preds)
    for name, p in (("calibrated", preds), ("default", default_preds)):
        for d in DIMENSION_KEYS:
            ids = [f.item_id for f in usable]
            a = np.array([p[i][d] for i in ids])
            b = np.array([targets[i][d] for i in ids])
            result.metrics[f"{name}.{d}"] = {"qwk": round(qwk_1to5(np.floor(a + 0.5), np.floor(b + 0.5)), 4),
                                            "spearman": round(spearman(a, b), 4),
                                            "mae": round(float(np.mean(np.abs(a - b))), 4)}
    return result


def consensus_targets(ratings: Sequence[object]) -> dict[str, dict[str, float]]:
    """Mean of the raters per item and dimension (and overall)."""
    acc: dict[str, dict[str, list[float]]] = {}
    for r in ratings:
        row = acc.setdefault(r.item_id, {})  # type: ignore[attr-defined]
        for d in (*DIMENSION_KEYS, "overall"):
            v = getattr(r, d, None)
            if v is not None:
                row.setdefault(d, []).append(float(v))
    return {i: {d: float(np.mean(v)) for d, v in row.items()} for i, row in acc.items()}
