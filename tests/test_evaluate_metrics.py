"""Agreement metrics: hand-computed cases, sklearn/scipy cross-checks, properties, published figures."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import cohen_kappa_score

ROOT = Path(__file__).resolve().parents[1]

from assistant.evaluate import metrics as m  # noqa: E402
from assistant.evaluate.ratings import load_ratings, ratings_matrix  # noqa: E402

RATINGS = ROOT / "evals" / "ratings.jsonl"
NAN = float("nan")


def same(x: float, y: float, tol: float = 1e-9) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol


def sk_qwk(a, b, labels) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(a, b, weights="quadratic", labels=list(labels)))


pairs_1to5 = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(1, 5), min_size=n, max_size=n), st.lists(st.integers(1, 5), min_size=n, max_size=n)
    )
)


# --------------------------------------------------------------------------- qwk


def test_qwk_hand_computed() -> None:
    # O = [[0,1],[1,0]], E = [[.5,.5],[.5,.5]], W = (i-j)^2 → κ = 1 - 2/1 = -1
    assert m.qwk([1, 2], [2, 1]) == pytest.approx(-1.0)
    assert m.qwk([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    # a = [1,1,2,2], b = [1,2,2,2]: O=[[1,1],[0,2]], rows (2,2), cols (1,3) → E=[[.5,1.5],[.5,1.5]]
    # ΣWO = 1, ΣWE = 2 → κ = 0.5
    assert m.qwk([1, 1, 2, 2], [1, 2, 2, 2]) == pytest.approx(0.5)


def test_qwk_rounds_half_up_and_drops_missing() -> None:
    assert m.qwk([2.5, 3.5, 1.2, np.nan], [3, 4, 1, 5]) == pytest.approx(1.0)
    assert m.round_half_up([0.5, 1.5, 2.5, -0.5]).tolist() == [1.0, 2.0, 3.0, 0.0]


def test_qwk_matches_sklearn_with_unused_category() -> None:
    a = [1, 2, 2, 3, 4, 4, 5, 3]
    b = [1, 2, 3, 3, 5, 4, 5, 5]  # b never uses 1..2 differently; a never uses category 5 twice
    assert m.qwk(a, b) == pytest.approx(sk_qwk(a, b, range(1, 6)))
    # one side never uses category 3; the label set is still the full 1..5 scale
    a2, b2 = [1, 2, 4, 5, 5, 1], [1, 3, 4, 4, 5, 2]
    assert m.qwk(a2, b2, min_rating=1, max_rating=5) == pytest.approx(sk_qwk(a2, b2, range(1, 6)))
    # neither side uses 1 or 3: the full scale changes the weights compared with sklearn's default
    a3, b3 = [2, 4, 5, 4, 2], [2, 5, 5, 4, 4]
    full = m.qwk_1to5(a3, b3)
    assert full == pytest.approx(sk_qwk(a3, b3, range(1, 6)))
    assert full != pytest.approx(sk_qwk(a3, b3, [2, 4, 5]))


@settings(max_examples=200, deadline=None)
@given(pairs_1to5)
def test_qwk_equals_sklearn(pair) -> None:
    a, b = pair
    assert same(m.qwk_1to5(a, b), sk_qwk(a, b, range(1, 6)), 1e-9)


@settings(max_examples=200, deadline=None)
@given(pairs_1to5)
def test_qwk_symmetric(pair) -> None:
    a, b = pair
    assert same(m.qwk_1to5(a, b), m.qwk_1to5(b, a), 1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=40).filter(lambda v: len(set(v)) > 1))
def test_qwk_identical_is_one(v) -> None:
    assert m.qwk_1to5(v, v) == pytest.approx(1.0)


def test_qwk_undefined_and_range_errors() -> None:
    assert math.isnan(m.qwk([3, 3, 3], [3, 3, 3], min_rating=1, max_rating=5))
    assert math.isnan(m.qwk([], []))
    with pytest.raises(ValueError):
        m.qwk([1, 6], [1, 2], min_rating=1, max_rating=5)


# --------------------------------------------------------------------------- other paired metrics


def test_correlations_match_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=30)
    b = a + rng.normal(scale=0.7, size=30)
    assert m.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert m.pearson(a, b) == pytest.approx(stats.pearsonr(a, b).statistic)
    assert math.isnan(m.spearman([1, 1, 1], [1, 2, 3]))
    assert m.spearman([1, 2, np.nan, 4], [2, 4, 100, 8]) == pytest.approx(1.0)


def test_mae_exact_adjacent_hand() -> None:
    a, b = [1, 2, 3, 4.6], [1, 3, 5, 5]
    assert m.mae(a, b) == pytest.approx((0 + 1 + 2 + 0.4) / 4)
    assert m.exact_agreement(a, b) == pytest.approx(0.5)  # 4.6 rounds to 5
    assert m.adjacent_agreement(a, b) == pytest.approx(0.75)
    assert m.adjacent_agreement(a, b, tol=2) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("score", "grade"), [(100, "优"), (90, "优"), (89.9, "良"), (80, "良"), (79.99, "中"), (60, "中"), (59.9, "差"), (0, "差")]
)
def test_grade_bands(score: float, grade: str) -> None:
    assert m.grade_of(score) == grade


def test_grade_agreement_and_index() -> None:
    assert m.grade_agreement([95, 85, 61, 10], [91, 79, 75, 59]) == pytest.approx(0.75)
    assert m.grade_index([95, 85, 70, 10, np.nan])[:4].tolist() == [4, 3, 2, 1]


# --------------------------------------------------------------------------- Krippendorff

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers × 12 units.
KRIPP_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)])
def test_krippendorff_worked_example(level: str, expected: float) -> None:
    assert m.krippendorff_alpha(KRIPP_2011, level) == pytest.approx(expected, abs=5e-4)


def test_krippendorff_two_raters_nominal_hand() -> None:
    # units (a,a),(a,b),(b,b): o_aa=2, o_ab=o_ba=1, o_bb=2; n=6, n_a=n_b=3
    # α = 1 - (n-1) Σo·δ / Σ n_c n_k δ = 1 - 5·2 / (2·9) = 4/9
    assert m.krippendorff_alpha([[1, 1, 2], [1, 2, 2]], "nominal") == pytest.approx(4 / 9)


def test_krippendorff_degenerate() -> None:
    assert math.isnan(m.krippendorff_alpha([[3, 3], [3, 3]]))
    assert math.isnan(m.krippendorff_alpha([[1, NAN], [NAN, 2]]))  # nothing pairable
    with pytest.raises(ValueError):
        m.krippendorff_alpha([[1, 2], [1, 2]], "bogus")  # type: ignore[arg-type]


units = st.lists(st.integers(1, 5), min_size=2, max_size=25).filter(lambda v: len(set(v)) > 1)


@settings(max_examples=100, deadline=None)
@given(units, st.integers(2, 4), st.sampled_from(["nominal", "ordinal", "interval", "ratio"]))
def test_krippendorff_perfect_agreement(values, n_raters, level) -> None:
    data = np.tile(np.array(values, dtype=float), (n_raters, 1))
    if n_raters > 2:
        data[0, 0] = NAN  # a missing value (unit 0 stays pairable) does not break perfect agreement
    assert m.krippendorff_alpha(data, level) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(pairs_1to5)
def test_krippendorff_ordinal_depends_on_ranks_only(pair) -> None:
    data = np.array(pair, dtype=float)
    squashed = np.array([1, 2, 10, 11, 50, 51], dtype=float)[data.astype(int)]  # monotone map
    assert same(m.krippendorff_alpha(data, "ordinal"), m.krippendorff_alpha(squashed, "ordinal"), 1e-9)


# --------------------------------------------------------------------------- bootstrap, tables


def test_bootstrap_ci_contains_estimate_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(1, 6, size=60)
    b = np.clip(a + rng.integers(-1, 2, size=60), 1, 5)
    point = m.qwk_1to5(a, b)
    low, high = m.bootstrap_ci(m.qwk_1to5, a, b, n=500)
    assert low <= point <= high and high - low < 0.5
    assert m.bootstrap_ci(m.qwk_1to5, a, b, n=500) == (low, high)


def test_bootstrap_resamples_rows_jointly_and_skips_nan() -> None:
    a = np.arange(20.0)
    assert m.bootstrap_ci(lambda x, y: float(np.mean(x - y)), a, a.copy(), n=200) == (0.0, 0.0)
    calls = {"n": 0}

    def sometimes_nan(x):
        calls["n"] += 1
        return NAN if calls["n"] % 2 else float(np.mean(x))

    low, high = m.bootstrap_ci(sometimes_nan, a, n=200)
    assert 0 <= low <= 9.5 <= high <= 19
    assert all(math.isnan(v) for v in m.bootstrap_ci(lambda x: NAN, a, n=20))
    with pytest.raises(ValueError):
        m.bootstrap_ci(m.mae, a, a[:5])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_bootstrap_ci_contains_spearman(seed) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=40)
    b = a + rng.normal(scale=0.5, size=40)
    low, high = m.bootstrap_ci(m.spearman, a, b, n=300, seed=seed)
    assert low <= m.spearman(a, b) <= high


def test_confusion_and_base_rates() -> None:
    a, b = [1, 2, 2, 3, 5, np.nan], [1, 2, 3, 3, 4.6, 2]
    table = m.confusion(a, b, [1, 2, 3, 4, 5])
    assert table == [[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    assert m.base_rates(a, [1, 2, 3, 4, 5]) == {"1": 0.2, "2": 0.4, "3": 0.2, "4": 0.0, "5": 0.2}
    assert m.confusion(["优", "差"], ["良", "差"], list(m.GRADES)) == [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]


def test_consensus_ignores_missing() -> None:
    out = m.consensus({"r1": [1, 2, NAN], "r2": [3, NAN, NAN], "r3": [2, 4, NAN]})
    assert out[:2].tolist() == [2.0, 3.0] and math.isnan(out[2])
    assert m.round_consensus([2.5, 3.5], "half_even").tolist() == [2.0, 4.0]
    assert m.round_consensus([2.5, 3.5], "half_up").tolist() == [3.0, 4.0]


# --------------------------------------------------------------------------- published rater baseline

PUBLISHED = {
    "completeness": (0.90, 0.92),
    "relevance": (0.89, 0.93),
    "suitability": (0.84, 0.87),
    "fund_fit": (0.94, 0.97),
}


def _span(values: dict[str, float]) -> tuple[float, float]:
    return round(min(values.values()), 2), round(max(values.values()), 2)


@pytest.fixture(scope="module")
def reference():
    return load_ratings(RATINGS)


@pytest.mark.parametrize("dim", list(PUBLISHED))
def test_rater_baseline_reproduces_published_qwk(reference, dim: str) -> None:
    """Each rater vs the mean of the other two rounded half to even (numpy.rint), qwk on 1..5."""
    _, by_rater = ratings_matrix(reference, dim)
    assert set(by_rater) == {"r1", "r2", "r3"}
    assert _span(m.rater_baseline(by_rater)) == PUBLISHED[dim]


def test_rater_baseline_half_up_does_not_reproduce(reference) -> None:
    """Documents the definition: rounding the two-rater mean half up gives other figures."""
    spans = {d: _span(m.rater_baseline(ratings_matrix(reference, d)[1], rounding="half_up")) for d in PUBLISHED}
    assert spans != PUBLISHED
    assert spans["completeness"] == (0.89, 0.94)


def test_published_overall_spearman_pairwise(reference) -> None:
    _, by_rater = ratings_matrix(reference, "overall")
    pw = m.pairwise(by_rater, m.spearman)
    assert set(pw) == {"r1~r2", "r1~r3", "r2~r3"}
    assert _span(pw) == (0.95, 0.97)
    ref = {f"{a}~{b}": stats.spearmanr(by_rater[a], by_rater[b]).statistic for a, b in [("r1", "r2"), ("r1", "r3"), ("r2", "r3")]}
    assert pw == pytest.approx(ref)


# --------------------------------------------------------------------------- agreement report


def test_agreement_report_consensus_predictions(reference) -> None:
    raw = [json.loads(line) for line in RATINGS.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = sorted({r["item_id"] for r in raw})
    pred: dict[str, dict[str, float | None]] = {}
    for item in items:
        rows = [r for r in raw if r["item_id"] == item]
        pred[item] = {k: float(np.mean([r[k] for r in rows])) for k in (*m.DIMENSION_KEYS, "overall")}
    pred[items[0]]["fund_fit"] = None  # one missing dimension
    del pred[items[1]]  # one missing item
    pred["item-unknown"] = {"completeness": 3.0}
    rep = m.agreement_report(pred, raw, n_boot=200)  # raw dicts are accepted too
    assert rep.raters == ["r1", "r2", "r3"] and rep.n_items == len(items) - 1
    assert rep.missing_predictions == [items[1]] and rep.unrated_predictions == ["item-unknown"]
    assert list(rep.dimensions) == [*m.DIMENSION_KEYS, "overall"]
    for dim, d in rep.dimensions.items():
        assert d.n_items == (len(items) - 2 if dim == "fund_fit" else len(items) - 1)
        assert d.spearman == pytest.approx(1.0) and d.mae == pytest.approx(0.0)
        assert d.spearman_ci.low is not None and d.spearman_ci.low <= d.spearman_ci.high
        assert sum(map(sum, d.confusion)) == d.n_items
        assert d.alpha_raters is not None and d.alpha_with_model is not None
        assert d.alpha_with_model >= d.alpha_raters - 1e-9  # the consensus can only help
        assert set(d.baseline) >= {"qwk", "spearman", "qwk_pairwise", "spearman_pairwise"}
        assert sum(d.base_rates_model.values()) == pytest.approx(1.0)
    comp = rep.dimensions["completeness"]
    assert comp.labels == ["1", "2", "3", "4", "5"] and comp.alpha_level == "ordinal"
    assert comp.qwk is not None and comp.qwk > 0.9 and comp.qwk_ci.low <= comp.qwk <= comp.qwk_ci.high
    overall = rep.dimensions["overall"]
    assert overall.labels == ["优", "良", "中", "差"] and overall.grade_agreement is not None
    assert overall.adjacent_tol == 5.0 and overall.alpha_level == "interval"
    json.loads(rep.model_dump_json())


def test_agreement_report_baseline_on_same_items(reference) -> None:
    pred = {r.item_id: {"suitability": 3} for r in reference}
    rep = m.agreement_report(pred, reference, n_boot=50)
    suit = rep.dimensions["suitability"]
    assert list(rep.dimensions) == ["suitability"]
    assert _span({k: v for k, v in suit.baseline["qwk"].items() if v is not None}) == PUBLISHED["suitability"]
    assert suit.qwk is not None and abs(suit.qwk) < 1e-9  # a constant prediction has κ = 0
    assert suit.base_rates_model["3"] == 1.0
