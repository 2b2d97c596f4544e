"""Offline scorer features (relevance grounding, donors, suitability criteria, fund-fit deficits) and rationale."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from assistant.critique.features import FEATURE_SETS, SCORER_FEATURES, extract, scored_rules, suitability_rows
from assistant.critique.offline import OfflineCritic, load_calibration, rationale
from assistant.evaluate.defects import DefectContext, foreign_indicators
from assistant.intake.facts import derive_facts, ungrounded
from assistant.intake.quantities import implied_totals
from assistant.intake.reader import read_targets
from assistant.intake.taxonomy import normalise
from assistant.models import CritiqueInput, Finding, Indicator, RetrievalEvidence, Target
from assistant.pipeline import Deps, prepare
from assistant.retrieve.index import PrecedentIndex
from assistant.rules.profiles import load_profile

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus" / "approved_targets.jsonl"


@lru_cache(maxsize=1)
def corpus() -> tuple[Target, ...]:
    return tuple(read_targets(CORPUS))


@lru_cache(maxsize=1)
def index() -> PrecedentIndex:
    return PrecedentIndex(list(corpus()))


def _features(t: Target, *, exclude: list[str] | None = None) -> tuple[dict[str, dict[str, float]], CritiqueInput]:
    deps = Deps(critic=OfflineCritic(), profile=load_profile("default"), index=index())
    inp = prepare(t, deps, exclude_ids=exclude or [])
    return extract(inp), inp


def _road() -> Target:
    return Target(
        id="draft-road", project_name="乡村道路硬化工程", annual_goal="完成村组道路硬化12公里，改善群众出行条件",
        amount_total_wan=360.0,
        indicators=[
            Indicator(level1="产出指标", level2="数量指标", name="道路硬化里程", value="≥12公里"),
            Indicator(level1="产出指标", level2="质量指标", name="硬化路面验收合格率", value="≥98%"),
            Indicator(level1="产出指标", level2="时效指标", name="工程完工时间", value="2024年10月底前"),
            Indicator(level1="成本指标", level2="经济成本指标", name="每公里道路硬化成本", value="≤30万元/公里"),
            Indicator(level1="效益指标", level2="社会效益指标", name="村民出行条件", value="明显改善"),
            Indicator(level1="满意度指标", level2="服务对象满意度指标", name="受益群众满意度", value="≥90%"),
        ])


def test_ungrounded_rows_are_indicators_without_a_word_of_the_project() -> None:
    t = _road()
    assert ungrounded(t, normalise(t)) == []
    t2 = t.model_copy(update={"indicators": [*t.indicators,
                                             Indicator(level1="产出指标", level2="数量指标", name="疫苗接种人数", value="≥500人"),
                                             Indicator(level1="效益指标", level2="社会效益指标", name="社会效益", value="显著"),
                                             Indicator(level1="满意度指标", level2="满意度指标", name="服务对象满意度",
                                                       value="≥90%")]})
    # the foreign row and the boilerplate row count; the satisfaction row is exempt
    assert ungrounded(t2, normalise(t2)) == [6, 7]


def test_indicators_copied_from_an_unrelated_project_lower_relevance() -> None:
    """Across the corpus: output rows swapped for another project's raise the relevance deficits and lower
    the relevance level given by the shipped calibration."""
    ctx = DefectContext(records=list(corpus()))
    cal = load_calibration()
    critic = OfflineCritic(calibration=cal)
    more_ungrounded = lower = n = 0
    for rec in corpus():
        variant = foreign_indicators(rec, ctx)
        if variant is None:
            continue
        n += 1
        f0, inp0 = _features(rec, exclude=[rec.id or ""])
        f1, inp1 = _features(variant.model_copy(update={"id": f"{rec.id}~v"}), exclude=[rec.id or ""])
        more_ungrounded += f1["relevance"]["ungrounded_share"] > f0["relevance"]["ungrounded_share"]
        lower += critic.critique(inp1).dimensions.relevance.level < critic.critique(inp0).dimensions.relevance.level
    assert n >= 30
    assert more_ungrounded >= 0.7 * n
    assert lower >= 0.85 * n


def test_donor_overlap_names_the_project_the_indicators_were_copied_from() -> None:
    recs = corpus()
    own, donor = recs[0], next(r for r in recs[1:] if r.sector != recs[0].sector and len(r.indicators) >= 4)
    ev0 = index().evidence(own, normalise(own), exclude_ids=[own.id or ""])
    copied = own.model_copy(update={"id": "copy", "indicators": donor.indicators})
    ev1 = index().evidence(copied, normalise(copied), exclude_ids=[own.id or ""])
    assert ev1.donor_id == donor.id
    assert ev1.donor_overlap is not None and ev1.donor_overlap > 0.25 > (ev0.donor_overlap or 0.0)
    assert "疑似照搬" in OfflineCritic().critique(CritiqueInput(
        target=copied, indicators=normalise(copied), findings=[], evidence=ev1)).dimensions.relevance.rationale


def test_similarity_to_row_matches_the_full_product() -> None:
    ix = index()
    t = corpus()[3]
    q = ix._vector(list(t.project_name) + ["道路", "培训", "满意度"])
    assert q is not None
    rows, sims = ix.data.postings.scores(*q)
    full = np.zeros(len(ix), dtype=np.float32)
    full[rows] = sims
    import scipy.sparse as sp  # the product computed independently, as a sparse matrix

    p = ix.data.postings
    mat = sp.csr_matrix((p.data, p.indices, p.indptr), shape=(p.n_terms, p.n_docs))
    qv = sp.csr_matrix((q[1], q[0], [0, len(q[0])]), shape=(1, p.n_terms))
    assert np.allclose((qv @ mat).toarray().ravel(), full, atol=1e-6)
    for row in (0, 3, 7, len(ix) - 1):
        assert p.similarity_to_row(*q, row) == pytest.approx(float(full[row]), abs=1e-6)


def test_without_retrieval_the_relevance_features_still_work() -> None:
    t = _road()
    inds = normalise(t)
    feats = extract(CritiqueInput(target=t, indicators=inds, findings=[], evidence=RetrievalEvidence(),
                                  facts=derive_facts(t, inds)))
    assert feats["relevance"]["ungrounded_share"] == 0.0 and feats["relevance"]["donor_overlap"] == 0.0
    assert set(SCORER_FEATURES["relevance"]) <= set(feats["relevance"])


def test_goal_from_another_project_raises_the_goal_deficit() -> None:
    t = _road()
    other = t.model_copy(update={"annual_goal": "为全县适龄儿童免费接种疫苗，降低传染病发病率"})
    f0, _ = _features(t)
    f1, _ = _features(other)
    assert f1["relevance"]["goal_misfit"] > f0["relevance"]["goal_misfit"]
    assert f1["relevance"]["rule_R-01"] >= f0["relevance"]["rule_R-01"]


def test_budget_x10_raises_the_fund_fit_deficit() -> None:
    """Cost standard × quantity reconciles with the budget; ×10 breaks it (fund_unverified, FF-02)."""
    t = Target(id="draft-aid", project_name="困难学生生活补助", annual_goal="为200名困难学生发放生活补助",
               amount_total_wan=20.0, indicators=[
                   Indicator(level1="产出指标", level2="数量指标", name="补助学生人数", value="200人"),
                   Indicator(level1="成本指标", level2="经济成本指标", name="生活补助标准", value="1000元/人"),
                   Indicator(level1="效益指标", level2="社会效益指标", name="困难学生就学保障", value="有效保障"),
                   Indicator(level1="满意度指标", level2="满意度指标", name="受补助学生满意度", value="≥90%")])
    f0, inp0 = _features(t)
    f1, inp1 = _features(t.model_copy(update={"amount_total_wan": 200.0}))
    cal = load_calibration()

    def deficit(f: dict[str, dict[str, float]]) -> float:
        return -sum(w * f["fund_fit"].get(k, 0.0) for k, w in cal.dimensions["fund_fit"].coef.items())

    assert f0["fund_fit"]["fund_unverified"] == 0.0 < f1["fund_fit"]["fund_unverified"]
    assert deficit(f1) > deficit(f0)
    critic = OfflineCritic(calibration=cal)
    assert critic.critique(inp1).dimensions.fund_fit.level < critic.critique(inp0).dimensions.fund_fit.level


def test_shipped_calibration_uses_the_current_features_and_is_monotone() -> None:
    cal = load_calibration()
    assert not cal.method.startswith("default")
    for d, m in cal.dimensions.items():
        # one of the dimension's candidate feature sets, chosen by grouped cross-validation (calibrate.fit)
        assert m.intercept == 5.0 and set(m.coef) in [set(names) for names in FEATURE_SETS[d].values()]
        assert all(w <= 0 for w in m.coef.values()), "every deficit can only lower a score"
    assert np.isfinite([w for m in cal.dimensions.values() for w in m.coef.values()]).all()


# --- 适当性 (f8): one share per rubric criterion -------------------------------------------------------------


def _with_value(t: Target, row: int, value: str) -> Target:
    inds = list(t.indicators)
    inds[row] = inds[row].model_copy(update={"value": value})
    return t.model_copy(update={"indicators": inds})


@pytest.mark.parametrize(("feature", "row", "value"), [
    ("unquantified_share", 0, "良好"),            # a count replaced by a grade
    ("unspecific_share", 1, "有所提高"),          # not checkable
    ("ambition_share", 5, "100%"),                # satisfaction 100 %
    ("ambition_share", 1, "≥50%"),                # trivially low quality bar
    ("operator_share", 1, "≤98%"),                # a positive rate capped from above
    ("unit_misfit_share", 0, "≥95%"),             # a length given as a percentage
    ("unit_misfit_share", 0, "≥12"),              # a quantity without unit
    ("untimed_share", 2, "及时"),                 # a time row without date or rate
])
def test_each_suitability_deficit_rises_and_the_level_falls(feature: str, row: int, value: str) -> None:
    t = _road()
    f0, inp0 = _features(t)
    f1, inp1 = _features(_with_value(t, row, value))
    assert f1["suitability"][feature] > f0["suitability"][feature]
    cal = load_calibration()
    critic = OfflineCritic(calibration=cal)
    after, before = critic.critique(inp1).dimensions.suitability, critic.critique(inp0).dimensions.suitability
    if cal.dimensions["suitability"].coef.get(feature):
        assert after.level < before.level
    else:  # the ratings gave this criterion no weight (operator_share since the polarity fix): said, not hidden
        assert after.level == before.level and "未计入本维度评分" in after.rationale


def test_suitability_features_ignore_row_order_and_operator_spelling() -> None:
    """The defect benchmark's placebo (rows reordered, ≥ spelled >=) must not move the features."""
    for rec in corpus()[:15]:
        f0, _ = _features(rec, exclude=[rec.id or ""])
        inds = [i.model_copy(update={"value": i.value.replace("≥", ">=")}) for i in reversed(rec.indicators)]
        f1, _ = _features(rec.model_copy(update={"indicators": inds}), exclude=[rec.id or ""])
        for k in SCORER_FEATURES["suitability"]:
            assert f1["suitability"][k] == pytest.approx(f0["suitability"][k]), (rec.id, k)


def test_percentage_fits_only_rate_names() -> None:
    t = _road().model_copy(update={"indicators": [
        Indicator(level1="效益指标", level2="社会效益指标", name="维护社会稳定", value="≥95%"),
        Indicator(level1="产出指标", level2="质量指标", name="验收合格率", value="≥95%"),
        Indicator(level1="满意度指标", level2="满意度指标", name="受益群众满意度", value="≥90%")]})
    rows = suitability_rows(CritiqueInput(target=t, indicators=normalise(t), findings=[], evidence=RetrievalEvidence()))
    assert rows["unit_misfit_share"] == [0]


def test_rationale_separates_advisory_warnings_from_what_lowered_the_score() -> None:
    f = [Finding(rule_id="R-08", dimension="relevance", severity="warning", message="m", suggestion=""),
         Finding(rule_id="R-02", dimension="relevance", severity="warning", message="m", suggestion=""),
         Finding(rule_id="S-10", dimension="suitability", severity="error", message="m", suggestion="")]
    text = rationale("relevance", 4.0, f, scored=({"R-02"}, False))
    assert "发现1项警告：" in text and "另有1项警告未计入本维度评分（仍建议修改）" in text
    assert "提示性" not in rationale("relevance", 4.0, f, scored=(set(), True))  # n_warning weighted: all count
    only = rationale("relevance", 4.9, f[:1], scored=(set(), False))
    assert "发现1项警告未计入本维度评分（仍建议修改）" in only
    assert "发现1项错误：" in rationale("suitability", 3.0, f, scored=(set(), False))  # errors always count


def test_sample_draft_rationale_is_consistent_with_its_scores() -> None:
    """samples/draft.json: no high score next to unexplained warnings, and a low score names its causes."""
    t = read_targets(REPO / "samples" / "draft.json")[0]
    _, inp = _features(t)
    cal = load_calibration()
    dims = OfflineCritic(calibration=cal).critique(inp).dimensions
    feats = extract(inp)
    for d in ("completeness", "relevance", "suitability", "fund_fit"):
        ds = dims.get(d)
        rules, all_w = scored_rules(feats[d], cal.dimensions[d].coef)
        warned = [x for x in inp.findings if x.dimension == d and x.severity == "warning"]
        if warned and not all_w and not any(x.rule_id in rules for x in warned):
            assert "未计入本维度评分" in ds.rationale, d
        if d == "suitability" and ds.level < 3:
            assert "扣分主要来自" in ds.rationale


# --- 资金匹配性 (f9): several cost components, and no budget = the rubric's level 1 ----------------------------


def _tourism(budget: float | None) -> Target:
    """Three cost standards × their quantities add up to the budget (10 万元); no single product does."""
    return Target(id="draft-tour", project_name="乡村旅游基础设施建设", annual_goal="建设旅游基础设施，开发景点，流转土地",
                  amount_total_wan=budget, indicators=[
                      Indicator(level1="产出指标", level2="数量指标", name="旅游基础设施建设面积", value="≥20平方米"),
                      Indicator(level1="产出指标", level2="数量指标", name="景点开发数量", value="≥4个"),
                      Indicator(level1="产出指标", level2="数量指标", name="流转土地", value="≥60亩"),
                      Indicator(level1="成本指标", level2="经济成本指标", name="流转土地补助标准", value="≤475元/亩"),
                      Indicator(level1="成本指标", level2="经济成本指标", name="景观建设成本", value="≤2875元/个"),
                      Indicator(level1="成本指标", level2="经济成本指标", name="基础设施建设成本", value="≤3000元/平方米"),
                      Indicator(level1="效益指标", level2="社会效益指标", name="接待游客数量", value="≥60000人"),
                      Indicator(level1="满意度指标", level2="满意度指标", name="游客满意度", value="≥90%")])


def test_a_budget_made_of_several_cost_components_reconciles() -> None:
    from assistant.critique.features import reconciles

    t = _tourism(10.0)
    assert reconciles(10.0, implied_totals(normalise(t)))
    totals = implied_totals(normalise(t))
    assert not reconciles(100.0, totals) and not reconciles(0.5, totals)  # ×10, ÷20 (÷10 = 1 万元 matches
    # the single 景观 product, 1.15 万元)
    assert not reconciles(None, implied_totals(normalise(t))) and not reconciles(0.0, implied_totals(normalise(t)))
    f0, _ = _features(t)
    f1, _ = _features(t.model_copy(update={"amount_total_wan": 100.0}))
    assert f0["fund_fit"]["fund_unverified"] == 0.0 < f1["fund_fit"]["fund_unverified"]


def test_no_budget_scores_fund_fit_1_and_says_why() -> None:
    """RUBRIC.md scale: 1 = missing or unusable. Without a budget there is no money to match: level 1 whatever the
    calibration, and the rationale names the cause (FF-09 is not labelled advisory)."""
    from assistant.critique.offline import default_calibration

    _, inp = _features(_tourism(None))
    assert any(f.rule_id == "FF-09" for f in inp.findings)
    for cal in (load_calibration(), default_calibration()):
        ds = OfflineCritic(calibration=cal).critique(inp).dimensions.fund_fit
        assert ds.level == 1.0
        assert "缺失或无法使用" in ds.rationale and "不影响评分" not in ds.rationale
    _, inp_b = _features(_tourism(10.0))
    assert OfflineCritic(calibration=load_calibration()).critique(inp_b).dimensions.fund_fit.level > 3.0


def test_drafts_anchored_at_level_1_are_left_out_of_the_fit() -> None:
    """The linear model is fitted only on drafts it scores: a no-budget draft's rating cannot move the weights."""
    from assistant.evaluate.calibrate import ItemFeatures, fit

    names = SCORER_FEATURES["fund_fit"]
    rng = np.random.default_rng(0)
    feats, targets = [], {}
    for k in range(30):
        f = {n: float(rng.integers(0, 2)) for n in names} | {"no_budget": 0.0}
        feats.append(ItemFeatures(item_id=f"i{k}", group=f"g{k}", features={d: dict(f) for d in
                                                                            ("completeness", "relevance", "suitability",
                                                                             "fund_fit")}))
        targets[f"i{k}"] = {d: 5.0 - sum(f.values()) * 0.5 for d in ("completeness", "relevance", "suitability",
                                                                     "fund_fit")}
    base = fit(feats, targets).dimensions["fund_fit"].coef
    anchored = ItemFeatures(item_id="nb", group="gnb", features={d: {n: 1.0 for n in names} | {"no_budget": 1.0}
                                                                 for d in ("completeness", "relevance", "suitability",
                                                                           "fund_fit")})
    with_nb = fit([*feats, anchored], targets | {"nb": {d: 5.0 for d in ("completeness", "relevance", "suitability",
                                                                         "fund_fit")}}).dimensions
    assert with_nb["fund_fit"].coef == pytest.approx(base)
    assert with_nb["completeness"].coef != pytest.approx(fit(feats, targets).dimensions["completeness"].coef)


def test_calibration_fitted_on_older_features_falls_back_to_the_default(tmp_path: Path) -> None:
    """A calibration file from an earlier feature version (f8) still loads: the transparent default applies, and
    `eval run --no-crossfit` warns that no usable calibration was found."""
    import json

    cal = json.loads((REPO / "assistant" / "data" / "calibration.json").read_text(encoding="utf-8"))
    cal["feature_version"] = "f8"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(cal, ensure_ascii=False), encoding="utf-8")
    assert load_calibration(path).method.startswith("default")


def test_deleting_every_cost_row_lowers_completeness() -> None:
    """成本指标 is one of the required first-level categories: a table without it is less complete."""
    t = _road()
    without = t.model_copy(update={"indicators": [i for i in t.indicators if i.level1 != "成本指标"]})
    feats_with, inp_with = _features(t)
    feats_without, inp_without = _features(without)
    assert feats_with["completeness"]["no_cost"] == 0.0 and feats_without["completeness"]["no_cost"] == 1.0
    critic = OfflineCritic()
    before = critic.critique(inp_with).dimensions.completeness.level
    after = critic.critique(inp_without).dimensions.completeness.level
    assert after < before
