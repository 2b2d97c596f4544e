"""Agreement metrics between the assistant and the reference raters (pure numpy/scipy, no I/O).

Conventions used throughout:

* Ratings arrive as float arrays; ``NaN`` marks a missing rating. Paired metrics (``qwk``,
  ``spearman``, ``mae`` ...) drop every pair where either side is missing.
* Categorical metrics (``qwk``, ``exact_agreement``, ``adjacent_agreement``, ``confusion``) first
  round each value **half up** (``floor(x + 0.5)``: 3.5 → 4, 2.5 → 3), so model scores such as
  3.7 can be compared with the raters' integers.
* The raters' consensus is the mean of the available raters. Where it must be an integer (the
  "rounded mean of the other raters" of ``rater_baseline``), it is rounded **half to even**
  (``numpy.rint``: 3.5 → 4, 2.5 → 2) by default, because that is the definition that reproduces
  the figures published in evals/README.md (half up gives e.g. completeness 0.887–0.942 instead
  of the published 0.90–0.92; see tests/test_evaluate_metrics.py). Means of three raters never tie, so the
  choice only matters for two-rater means.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from assistant.dimensions import DIMENSION_KEYS, GRADE_BANDS, grade_for
from assistant.evaluate.ratings import Rating, ratings_matrix
from assistant.models import Strict

Level = Literal["nominal", "ordinal", "interval", "ratio"]
Rounding = Literal["half_even", "half_up"]
GRADES: tuple[str, ...] = tuple(g for _, g in GRADE_BANDS)  # 优 良 中 差
SCALE_MIN, SCALE_MAX = 1, 5


# --------------------------------------------------------------------------- helpers


def round_half_up(x: ArrayLike) -> np.ndarray:
    """Round half up (3.5 → 4, 2.5 → 3); NaN stays NaN. Returns floats."""
    return np.floor(np.asarray(x, dtype=float) + 0.5)


def round_consensus(x: ArrayLike, rounding: Rounding = "half_even") -> np.ndarray:
    """Round a (mean) consensus; ``half_even`` reproduces the published rater baseline."""
    arr = np.asarray(x, dtype=float)
    return np.rint(arr) if rounding == "half_even" else round_half_up(arr)


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"length mismatch: {x.size} vs {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


# --------------------------------------------------------------------------- paired metrics


def qwk(a: ArrayLike, b: ArrayLike, *, min_rating: int | None = None, max_rating: int | None = None) -> float:
    """Quadratic weighted Cohen's kappa on integer ratings.

    Non-integers are rounded half up first. The category set is every integer from
    ``min_rating`` to ``max_rating`` (defaults: the smallest / largest rating seen on either side),
    so it equals ``sklearn.metrics.cohen_kappa_score(a, b, weights="quadratic",
    labels=range(min_rating, max_rating + 1))``. For the 1–5 dimensions pass 1 and 5. Returns NaN
    when undefined (no pairs, or no expected disagreement, e.g. both sides constant).
    """
    x, y = _pair(a, b)
    if x.size == 0:
        return float("nan")
    xi, yi = round_half_up(x).astype(int), round_half_up(y).astype(int)
    lo = int(min(xi.min(), yi.min())) if min_rating is None else int(min_rating)
    hi = int(max(xi.max(), yi.max())) if max_rating is None else int(max_rating)
    if xi.min() < lo or yi.min() < lo or xi.max() > hi or yi.max() > hi:
        raise ValueError(f"ratings outside [{lo}, {hi}]")
    k = hi - lo + 1
    if k < 2:
        return float("nan")
    observed = np.zeros((k, k))
    np.add.at(observed, (xi - lo, yi - lo), 1.0)
    expected = np.outer(observed.sum(1), observed.sum(0)) / x.size
    cats = np.arange(k)
    weights = (cats[:, None] - cats[None, :]) ** 2
    denom = float((weights * expected).sum())
    if denom == 0.0:
        return float("nan")
    return 1.0 - float((weights * observed).sum()) / denom


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    x, y = _pair(a, b)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def pearson(a: ArrayLike, b: ArrayLike) -> float:
    x, y = _pair(a, b)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.pearsonr(x, y).statistic)


def mae(a: ArrayLike, b: ArrayLike) -> float:
    x, y = _pair(a, b)
    return float(np.mean(np.abs(x - y))) if x.size else float("nan")


def exact_agreement(a: ArrayLike, b: ArrayLike) -> float:
    """Share of pairs equal after rounding half up."""
    return adjacent_agreement(a, b, tol=0)


def adjacent_agreement(a: ArrayLike, b: ArrayLike, tol: float = 1) -> float:
    """Share of pairs within ``tol`` of each other after rounding half up."""
    x, y = _pair(a, b)
    if x.size == 0:
        return float("nan")
    return float(np.mean(np.abs(round_half_up(x) - round_half_up(y)) <= tol))


def grade_of(score: float) -> str:
    """0–100 score → 优 (≥90) / 良 (80–89) / 中 (60–79) / 差 (<60)."""
    return grade_for(float(score))


def grades_of(scores: ArrayLike) -> list[str | None]:
    return [None if math.isnan(s) else grade_of(s) for s in np.asarray(scores, dtype=float).ravel()]


def grade_agreement(a: ArrayLike, b: ArrayLike) -> float:
    """Share of pairs of 0–100 scores that fall in the same grade band."""
    x, y = _pair(a, b)
    if x.size == 0:
        return float("nan")
    return float(np.mean([grade_of(s) == grade_of(t) for s, t in zip(x, y, strict=False)]))


def grade_index(scores: ArrayLike) -> np.ndarray:
    """0–100 scores → ordinal grade 1 (差) … 4 (优), NaN kept; for a grade-level qwk."""
    order = {g: len(GRADES) - i for i, g in enumerate(GRADES)}
    return np.array([np.nan if g is None else order[g] for g in grades_of(scores)], dtype=float)


# --------------------------------------------------------------------------- Krippendorff's alpha


def krippendorff_alpha(data: ArrayLike, level: Level = "ordinal") -> float:
    """Krippendorff's alpha from the coincidence matrix (Krippendorff 2011).

    ``data`` is raters × units with NaN for missing values. Units with fewer than two values are
    not pairable and are dropped. ``ordinal`` uses the rank-based metric
    δ²_ck = (Σ_{g=c..k} n_g − (n_c + n_k)/2)² over the observed values; ``interval`` (c − k)²;
    ``ratio`` ((c − k)/(c + k))²; ``nominal`` 0/1. NaN when there is no variation at all.
    """
    x = np.asarray(data, dtype=float)
    if x.ndim != 2:
        raise ValueError("data must be a raters × units matrix")
    m_u = (~np.isnan(x)).sum(axis=0)
    x = x[:, m_u >= 2]
    m_u = m_u[m_u >= 2]
    if x.size == 0:
        return float("nan")
    values = np.unique(x[~np.isnan(x)])
    k = values.size
    if k < 2:
        return float("nan")
    counts = np.zeros((x.shape[1], k))  # units × values
    for u in range(x.shape[1]):
        col = x[:, u]
        idx = np.searchsorted(values, col[~np.isnan(col)])
        counts[u] = np.bincount(idx, minlength=k)
    scaled = counts / (m_u - 1)[:, None]
    coinc = scaled.T @ counts - np.diag(scaled.sum(axis=0))
    n_c = coinc.sum(axis=1)
    n = n_c.sum()
    delta2 = _delta2(values, n_c, level)
    expected = float((np.outer(n_c, n_c) * delta2).sum())
    if expected == 0.0:
        return float("nan")
    return 1.0 - (n - 1.0) * float((coinc * delta2).sum()) / expected


def _delta2(values: np.ndarray, n_c: np.ndarray, level: Level) -> np.ndarray:
    c, k = np.meshgrid(values, values, indexing="ij")
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((c - k) / (c + k)) ** 2
        return np.nan_to_num(d)
    if level == "ordinal":
        cs = np.cumsum(n_c)
        i, j = np.meshgrid(np.arange(values.size), np.arange(values.size), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        between = cs[hi] - cs[lo] + n_c[lo]
        return (between - (n_c[i] + n_c[j]) / 2.0) ** 2
    raise ValueError(f"unknown level {level!r}")


# --------------------------------------------------------------------------- bootstrap, tables


def bootstrap_ci(
    fn: Callable[..., float], *arrays: ArrayLike, n: int = 2000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``fn(*arrays)``, resampling rows (items) of all arrays jointly.

    Resamples where ``fn`` is NaN/inf (e.g. a constant resample for a correlation) are skipped;
    (NaN, NaN) when none is usable.
    """
    arrs = [np.asarray(a) for a in arrays]
    if not arrs:
        raise ValueError("no arrays")
    size = arrs[0].shape[0]
    if any(a.shape[0] != size for a in arrs):
        raise ValueError("arrays must have the same number of rows")
    if size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    stats_: list[float] = []
    for _ in range(n):
        idx = rng.integers(0, size, size=size)
        v = fn(*(a[idx] for a in arrs))
        if v is not None and math.isfinite(v):
            stats_.append(float(v))
    if not stats_:
        return float("nan"), float("nan")
    low, high = np.percentile(stats_, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def _as_labels(a: Sequence[Any] | np.ndarray) -> list[Any]:
    arr = np.asarray(a, dtype=object).ravel()
    out: list[Any] = []
    for v in arr:
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            out.append(None if math.isnan(float(v)) else int(math.floor(float(v) + 0.5)))
        else:
            out.append(v)
    return out


def confusion(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray, labels: Sequence[Any]) -> list[list[int]]:
    """Counts, rows = labels of ``a``, columns = labels of ``b`` (numbers rounded half up).

    Pairs with a missing side or a value outside ``labels`` are not counted.
    """
    la, lb = _as_labels(a), _as_labels(b)
    if len(la) != len(lb):
        raise ValueError("length mismatch")
    pos = {lab: i for i, lab in enumerate(labels)}
    table = [[0] * len(labels) for _ in labels]
    for s, t in zip(la, lb, strict=False):
        if s in pos and t in pos:
            table[pos[s]][pos[t]] += 1
    return table


def base_rates(a: Sequence[Any] | np.ndarray, labels: Sequence[Any]) -> dict[str, float]:
    """Share of each label among the non-missing values of ``a`` (keys are ``str(label)``)."""
    la = [v for v in _as_labels(a) if v is not None]
    total = len(la)
    return {str(lab): (sum(v == lab for v in la) / total if total else float("nan")) for lab in labels}


# --------------------------------------------------------------------------- raters


def consensus(ratings_by_rater: Mapping[str, ArrayLike]) -> np.ndarray:
    """Mean of the available raters per item (NaN where no rater rated it)."""
    mat = np.vstack([np.asarray(v, dtype=float) for v in ratings_by_rater.values()])
    counts = (~np.isnan(mat)).sum(axis=0)
    return np.where(counts > 0, np.nansum(mat, axis=0) / np.maximum(counts, 1), np.nan)


def qwk_1to5(a: ArrayLike, b: ArrayLike) -> float:
    """``qwk`` on the full 1–5 dimension scale."""
    return qwk(a, b, min_rating=SCALE_MIN, max_rating=SCALE_MAX)


def rater_baseline(
    ratings_by_rater: Mapping[str, ArrayLike],
    metric: Callable[[ArrayLike, ArrayLike], float] = qwk_1to5,
    *,
    rounding: Rounding | None = "half_even",
) -> dict[str, float]:
    """Each rater against the mean of the OTHER raters, rounded (``rounding=None``: unrounded).

    With the default (qwk on 1–5, half-to-even rounding) this reproduces evals/README.md.
    """
    out: dict[str, float] = {}
    for rater, vals in ratings_by_rater.items():
        others = {r: v for r, v in ratings_by_rater.items() if r != rater}
        ref = consensus(others) if others else np.full(np.shape(vals), np.nan)
        ref = ref if rounding is None else round_consensus(ref, rounding)
        out[rater] = float(metric(np.asarray(vals, dtype=float), ref))
    return out


def pairwise(
    ratings_by_rater: Mapping[str, ArrayLike], metric: Callable[[ArrayLike, ArrayLike], float] = spearman
) -> dict[str, float]:
    """``metric`` for every pair of raters, keys ``"r1~r2"``."""
    names = list(ratings_by_rater)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    return {f"{a}~{b}": float(metric(ratings_by_rater[a], ratings_by_rater[b])) for a, b in pairs}


def _clean(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


# --------------------------------------------------------------------------- agreement report


class CI(Strict):
    low: float | None = None
    high: float | None = None


class DimensionAgreement(Strict):
    """Model vs the raters' consensus on one dimension (or ``overall``), plus the rater baseline.

    ``baseline`` maps a metric name to {rater: each rater vs the (rounded, for qwk/exact/adjacent)
    mean of the other raters}; ``*_pairwise`` entries map "r1~r2" to rater-vs-rater values.
    Compare ``qwk`` / ``spearman`` here with ``baseline["qwk"]`` / ``baseline["spearman"]``.
    """

    dimension: str
    n_items: int
    qwk: float | None
    qwk_ci: CI
    spearman: float | None
    spearman_ci: CI
    pearson: float | None
    mae: float | None
    exact: float | None
    adjacent: float | None
    adjacent_tol: float
    grade_agreement: float | None = None  # overall only: same 优/良/中/差 band
    grade_qwk: float | None = None  # overall only: qwk on the 4 grades
    alpha_level: Level
    alpha_raters: float | None
    alpha_with_model: float | None  # the model as one more rater
    labels: list[str]  # 1..5 for dimensions, 优良中差 for overall
    base_rates_consensus: dict[str, float | None]
    base_rates_model: dict[str, float | None]
    confusion: list[list[int]]  # rows: rounded consensus, columns: rounded model
    baseline: dict[str, dict[str, float | None]]


class AgreementReport(Strict):
    raters: list[str]
    n_items: int  # items with both ratings and a prediction
    consensus_rounding: Rounding
    n_boot: int
    dimensions: dict[str, DimensionAgreement]  # the four DIMENSION_KEYS, then "overall"
    missing_predictions: list[str]  # rated items with no prediction at all
    unrated_predictions: list[str]  # predicted items absent from the ratings


def _round_map(d: Mapping[str, float]) -> dict[str, float | None]:
    return {k: _clean(v) for k, v in d.items()}


def _dimension_agreement(
    dim: str, model: np.ndarray, raters: dict[str, np.ndarray], *, rounding: Rounding,
    n_boot: int, seed: int, overall_tol: float,
) -> DimensionAgreement:
    overall = dim == "overall"
    lo, hi = (0, 100) if overall else (SCALE_MIN, SCALE_MAX)
    kappa = partial(qwk, min_rating=lo, max_rating=hi)
    tol = overall_tol if overall else 1.0
    cons = consensus(raters)
    cons_r = round_consensus(cons, rounding)
    level: Level = "interval" if overall else "ordinal"
    model_cat = model if overall else round_half_up(model)
    rater_mat = np.vstack(list(raters.values()))
    if overall:
        labels: list[Any] = list(GRADES)
        cons_lab, model_lab = grades_of(cons), grades_of(model)
    else:
        labels = list(range(SCALE_MIN, SCALE_MAX + 1))
        cons_lab, model_lab = list(cons_r), list(model_cat)
    baseline = {
        "qwk": _round_map(rater_baseline(raters, kappa, rounding=rounding)),
        "spearman": _round_map(rater_baseline(raters, spearman, rounding=None)),
        "mae": _round_map(rater_baseline(raters, mae, rounding=None)),
        "exact": _round_map(rater_baseline(raters, exact_agreement, rounding=rounding)),
        "adjacent": _round_map(
            rater_baseline(raters, partial(adjacent_agreement, tol=tol), rounding=rounding)
        ),
        "qwk_pairwise": _round_map(pairwise(raters, kappa)),
        "spearman_pairwise": _round_map(pairwise(raters, spearman)),
    }
    if overall:
        baseline["grade_agreement"] = _round_map(rater_baseline(raters, grade_agreement, rounding=None))
    q_lo, q_hi = bootstrap_ci(kappa, model, cons_r, n=n_boot, seed=seed)
    s_lo, s_hi = bootstrap_ci(spearman, model, cons, n=n_boot, seed=seed)
    return DimensionAgreement(
        dimension=dim,
        n_items=int(model.size),
        qwk=_clean(kappa(model, cons_r)),
        qwk_ci=CI(low=_clean(q_lo), high=_clean(q_hi)),
        spearman=_clean(spearman(model, cons)),
        spearman_ci=CI(low=_clean(s_lo), high=_clean(s_hi)),
        pearson=_clean(pearson(model, cons)),
        mae=_clean(mae(model, cons)),
        exact=_clean(exact_agreement(model, cons_r)),
        adjacent=_clean(adjacent_agreement(model, cons_r, tol=tol)),
        adjacent_tol=tol,
        grade_agreement=_clean(grade_agreement(model, cons)) if overall else None,
        grade_qwk=_clean(qwk(grade_index(model), grade_index(cons), min_rating=1, max_rating=4))
        if overall else None,
        alpha_level=level,
        alpha_raters=_clean(krippendorff_alpha(rater_mat, level)),
        alpha_with_model=_clean(krippendorff_alpha(np.vstack([rater_mat, model_cat]), level)),
        labels=[str(x) for x in labels],
        base_rates_consensus=_round_map(base_rates(cons_lab, labels)),
        base_rates_model=_round_map(base_rates(model_lab, labels)),
        confusion=confusion(cons_lab, model_lab, labels),
        baseline=baseline,
    )


def agreement_report(
    pred: Mapping[str, Mapping[str, float | None]],
    ratings: Sequence[Rating | Mapping[str, Any]],
    *,
    rounding: Rounding = "half_even",
    n_boot: int = 2000,
    seed: int = 0,
    overall_tol: float = 5.0,
) -> AgreementReport:
    """Agreement of predictions ``{item_id: {dim: value}}`` (dims and ``overall``) with the raters.

    Per dimension, only items that have a prediction for it are used, for the model metrics and
    for the rater baseline alike. 1–5 predictions may be floats (rounded half up for qwk, exact,
    adjacent, confusion and ordinal alpha; used as is for spearman, pearson and mae).
    ``overall_tol`` is the "adjacent" tolerance in points on the 0–100 scale.
    """
    rows = [r if isinstance(r, Rating) else Rating.model_validate(r) for r in ratings]
    rated = sorted({r.item_id for r in rows})
    raters = sorted({r.rater for r in rows})
    dims: dict[str, DimensionAgreement] = {}
    for dim in (*DIMENSION_KEYS, "overall"):
        item_ids, by_rater = ratings_matrix(rows, dim)
        model = np.array(
            [np.nan if (v := pred.get(i, {}).get(dim)) is None else float(v) for i in item_ids]
        )
        keep = ~np.isnan(model)
        if not keep.any():
            continue
        dims[dim] = _dimension_agreement(
            dim, model[keep], {r: v[keep] for r, v in by_rater.items()},
            rounding=rounding, n_boot=n_boot, seed=seed, overall_tol=overall_tol,
        )
    return AgreementReport(
        raters=raters,
        n_items=len(set(rated) & set(pred)),
        consensus_rounding=rounding,
        n_boot=n_boot,
        dimensions=dims,
        missing_predictions=[i for i in rated if i not in pred],
        unrated_predictions=sorted(set(pred) - set(rated)),
    )
