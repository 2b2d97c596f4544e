"""`review(target, deps)` end to end (offline), retrieval exclusion, hints, report caps, markdown."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from assistant.dimensions import DIMENSION_KEYS, grade_for
from assistant.intake.reader import read_targets
from assistant.intake.records import parse_target
from assistant.labels import indicator_label
from assistant.models import (
    CritiqueInput,
    CritiqueResult,
    Dimensions,
    DimensionScore,
    Finding,
    Indicator,
    Review,
    Target,
)
from assistant.pipeline import Deps, build_deps, review
from assistant.report.markdown import to_markdown
from assistant.report.merge import VETO_CAP, cap_dimensions, overall
from assistant.retrieve.index import PrecedentIndex
from assistant.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus" / "approved_targets.jsonl"
ITEMS = REPO / "evals" / "items.jsonl"
L1_LABEL = {"产出指标": "output", "成本指标": "cost", "效益指标": "benefit", "满意度指标": "satisfaction"}
L2_LABEL = {"数量指标": "quantity", "质量指标": "quality", "时效指标": "timeliness"}


@lru_cache(maxsize=1)
def corpus() -> tuple[Target, ...]:
    return tuple(read_targets(CORPUS))


@lru_cache(maxsize=1)
def eval_items() -> tuple[Target, ...]:
    return tuple(parse_target(json.loads(line), where=f"第{n}行", require=False)
                 for n, line in enumerate(ITEMS.read_text(encoding="utf-8").splitlines(), start=1) if line.strip())


@lru_cache(maxsize=1)
def index() -> PrecedentIndex:
    return PrecedentIndex(list(corpus()))


@pytest.fixture(scope="module")
def deps() -> Deps:
    return build_deps(load_settings({}), index=index())


@pytest.fixture(scope="module")
def corpus_reviews(deps: Deps) -> list[tuple[Target, Review]]:
    return [(t, review(t, deps)) for t in corpus()]


def grade_band(score: int) -> str:
    return "优" if score >= 90 else "良" if score >= 80 else "中" if score >= 60 else "差"


def assert_valid(r: Review) -> None:
    Review.model_validate(r.model_dump())
    assert 0 <= r.score <= 100
    assert r.grade == grade_band(r.score) == grade_for(r.score)
    for d in DIMENSION_KEYS:
        ds = r.dimensions.get(d)
        assert 0 <= ds.score <= 100 and 1 <= ds.level <= 5 and ds.rationale.strip()
    assert r.backend == "offline"
    assert r.meta.content_hash and set(r.meta.timings_ms) == {"records", "retrieve", "knowledge", "rules", "critique"}


def test_every_corpus_record_reviews(corpus_reviews: list[tuple[Target, Review]]) -> None:
    assert len(corpus_reviews) == 41
    for _t, r in corpus_reviews:
        assert_valid(r)
    assert len({r.grade for _, r in corpus_reviews}) >= 2  # not a constant scorer


def test_every_eval_item_reviews(deps: Deps) -> None:
    assert len(eval_items()) == 54
    for t in eval_items():
        assert_valid(review(t, deps))


def test_never_retrieves_itself(corpus_reviews: list[tuple[Target, Review]]) -> None:
    for t, r in corpus_reviews:
        assert t.id and t.id not in {p.id for p in r.precedents}
        sims = [p.similarity for p in r.precedents]
        assert sims == sorted(sims, reverse=True) and all(0 < s <= 1.0001 for s in sims)


def test_exact_duplicate_ranks_first_without_exclusion() -> None:
    t = next(x for x in corpus() if x.project_name == "雾炮车抑尘降尘服务")
    anon = t.model_copy(update={"id": None})
    precs = index().precedents(anon, k=3)
    assert precs[0].id == t.id and precs[0].similarity > 0.99


def test_leave_one_out_exclude_ids(deps: Deps) -> None:
    t = next(x for x in corpus() if x.project_name == "雾炮车抑尘降尘服务")
    anon = t.model_copy(update={"id": None})
    first = review(anon, deps)  # an identical table already in the corpus is never its own precedent
    assert t.id not in {p.id for p in first.precedents}
    edited = anon.model_copy(update={"annual_goal": anon.annual_goal + "（修订稿）"})
    assert review(edited, deps).precedents[0].id == t.id  # an edited draft does find its approved original
    loo = review(edited, deps, exclude_ids=[t.id])
    assert t.id not in {p.id for p in loo.precedents}
    more = [p.id for p in loo.precedents[:2]]
    loo2 = review(edited, deps, exclude_ids=[t.id, *more])
    assert not ({t.id, *more} & {p.id for p in loo2.precedents})
    # hints never cite an excluded record either
    assert all(s.precedent_id not in {t.id, *more} for s in loo2.suggestions if s.source == "precedent")


def test_precedent_hints_only_fill_missing_categories(corpus_reviews: list[tuple[Target, Review]]) -> None:
    n_hints = 0
    for _t, r in corpus_reviews:
        have = {(i.level1, i.level2) for i in r.indicators if i.name.strip()}
        have_l1 = {l1 for l1, _ in have}
        prec_ids = {p.id for p in r.precedents}
        for s in r.suggestions:
            if s.source != "precedent":
                continue
            n_hints += 1
            assert s.action == "add" and s.name and s.value
            assert s.precedent_id in prec_ids and s.precedent_project
            assert "草稿缺少" in s.reason and s.precedent_project in s.reason
            l1 = L1_LABEL[s.level1]
            if l1 == "output":
                assert ("output", L2_LABEL[s.level2]) not in have
            else:
                assert l1 not in have_l1
            # the hint really is an indicator of the cited precedent
            prec = next(p for p in r.precedents if p.id == s.precedent_id)
            assert any(pi.name == s.name and pi.value == s.value for pi in prec.indicators)
    assert n_hints > 10


def test_complete_draft_gets_no_precedent_hints(deps: Deps) -> None:
    rows = [("产出指标", "数量指标", "道路硬化长度", "≥5公里"), ("产出指标", "质量指标", "工程验收合格率", "≥95%"),
            ("产出指标", "时效指标", "项目完成时间", "2024年12月31日前"),
            ("成本指标", "经济成本指标", "每公里建设成本", "≤20万元/公里"),
            ("效益指标", "社会效益指标", "受益群众人数", "≥500人"),
            ("满意度指标", "服务对象满意度指标", "沿线受益群众满意度", "≥90%")]
    t = Target(project_name="村道路硬化工程", implementing_unit="某村", amount_total_wan=100, year=2024,
               annual_goal="2024年完成村道路硬化5公里，验收合格率≥95%",
               indicators=[Indicator(level1=a, level2=b, name=c, value=d) for a, b, c, d in rows])
    r = review(t, deps)
    assert r.precedents
    assert not [s for s in r.suggestions if s.source == "precedent"]
    assert not [f for f in r.findings if f.severity == "error"]


# ---------------------------------------------------------------------------- caps (report.py)


def _dims(level: float = 5.0) -> Dimensions:
    return Dimensions(**{d: DimensionScore(score=round(20 * level), level=level, rationale="ok") for d in DIMENSION_KEYS})


def _finding(rule_id: str, dimension: str, severity: str = "error") -> Finding:
    return Finding(rule_id=rule_id, dimension=dimension, severity=severity, message="第1行「x」问题", suggestion="改")  # type: ignore[arg-type]


def test_one_error_caps_dimension_at_80() -> None:
    capped = cap_dimensions(_dims(), [_finding("S-06", "suitability")])
    assert capped.suitability.score == 80 and capped.suitability.level == 4.0
    assert capped.suitability.capped_by == ["S-06"] and "最高80分" in capped.suitability.rationale
    assert capped.completeness.score == 100 and capped.completeness.capped_by == []


def test_warnings_do_not_cap() -> None:
    capped = cap_dimensions(_dims(), [_finding("S-18", "suitability", "warning")] * 5)
    assert capped.suitability.score == 100


def test_three_errors_cap_dimension_at_60() -> None:
    fs = [_finding("C-07", "completeness"), _finding("C-08", "completeness"), _finding("C-01", "completeness")]
    capped = cap_dimensions(_dims(), fs)
    assert capped.completeness.score == 60 and capped.completeness.capped_by == ["C-01", "C-07", "C-08"]


def test_cap_never_raises_a_low_dimension() -> None:
    capped = cap_dimensions(_dims(2.0), [_finding("S-06", "suitability")])
    assert capped.suitability.score == 40


def test_ff01_caps_overall_at_79() -> None:
    fs = [_finding("FF-01", "fund_fit")]
    dims = cap_dimensions(_dims(), fs)
    score, vetoes = overall(dims, fs)
    assert score == VETO_CAP == 79 and vetoes
    assert grade_for(score) == "中"
    score_no_veto, _ = overall(dims, [_finding("FF-07", "fund_fit")])
    assert score_no_veto == 95


def test_c04_error_vetoes_but_warning_does_not() -> None:
    assert overall(_dims(), [_finding("C-04", "completeness")])[0] == 79
    assert overall(_dims(), [_finding("C-04", "completeness", "warning")])[0] == 100


class PerfectCritic:
    """A critic that rates every dimension 5/5: shows the caps come from report.py, not the scorer."""

    name = "perfect"

    def critique(self, inp: CritiqueInput) -> CritiqueResult:
        return CritiqueResult(dimensions=_dims(), backend=self.name)


def test_caps_apply_in_pipeline_for_any_critic(deps: Deps) -> None:
    perfect = Deps(critic=PerfectCritic(), profile=deps.profile, index=deps.index)
    item = next(t for t in eval_items() if any("581.4" in i.value for i in t.indicators))
    r = review(item, perfect)
    assert "FF-01" in {f.rule_id for f in r.findings}
    assert r.dimensions.fund_fit.score <= 80 and "FF-01" in r.dimensions.fund_fit.capped_by
    assert r.score <= 79 and r.grade in {"中", "差"}
    assert r.backend == "perfect"


# ---------------------------------------------------------------------------- markdown


def test_markdown_grade_first_and_rows(corpus_reviews: list[tuple[Target, Review]]) -> None:
    for t, r in corpus_reviews:
        md = to_markdown(r)
        lines = md.splitlines()
        assert lines[0].startswith("# 绩效目标审核意见")
        first_content = next(line for line in lines[1:] if line.strip())
        assert first_content.startswith(f"**审核等级：{r.grade}**（{r.score}分）")
        for f in r.findings:
            assert f.rule_id in md
            if f.indicator_index is not None:
                ind = t.indicators[f.indicator_index]
                assert f"**{indicator_label(f.indicator_index, ind.sheet_row)}「{ind.name}」" in md
        for p in r.precedents:
            assert p.project_name in md


def test_markdown_clean_draft(deps: Deps) -> None:
    t = Target(project_name="测试", implementing_unit="单位", amount_total_wan=10,
               annual_goal="完成培训200人次，合格率≥95%",
               indicators=[Indicator(level1="产出指标", level2="数量指标", name="培训人次", value="≥200人次")])
    md = to_markdown(review(t, deps))
    assert "C-04" in md and "第1行" not in md.split("## 需要修改的地方")[0]


def test_every_suggestion_is_rechecked_whatever_the_backend(deps: Deps) -> None:
    """Offline suggestions go through the same rule re-check as LLM ones: no kept suggestion leaves an error on
    its row, and a suggestion that would (a value still without its unit) is not shown."""
    from assistant.intake.taxonomy import normalise
    from assistant.models import CritiqueResult, Suggestion
    from assistant.pipeline import prepare
    from assistant.report.suggestions import apply_suggestion, recheck_suggestions
    from assistant.rules.engine import run_rules

    t = read_targets(REPO / "samples" / "draft.json")[0]
    r = review(t, deps)
    assert r.suggestions
    for s in r.suggestions:
        applied = apply_suggestion(t, s)
        assert applied is not None
        new, idx = applied
        assert not [f for f in run_rules(new, normalise(new), deps.profile) if f.indicator_index == idx
                    and f.severity == "error"], s
    by_row = {s.indicator_index: s.value for s in r.suggestions if s.action == "revise"}
    assert by_row.get(0) == "≥10辆"  # 配备车辆数 10: the operator and the unit its name implies
    inp = prepare(t, deps)
    bare = Suggestion(action="revise", indicator_index=0, name=t.indicators[0].name, value="≥10", reason="x")
    result = CritiqueResult(dimensions=r.dimensions, suggestions=[bare], backend="test")
    assert recheck_suggestions(inp, result, deps.profile).suggestions == []
