"""Advice a unit can act on: every suggested revision resolves what was wrong with its row (one per row), rates are
read with their periods and matched to quantities in the same unit, lower-is-better rates are not flipped, the
verdict never contradicts the findings, indicators are named by their Excel row, and every relevance deduction is
a finding."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.intake.reader import read_targets
from assistant.models import Target
from assistant.pipeline import review
from assistant.report.content import conclusion

ROOT = Path(__file__).resolve().parents[1]
MEAL = {"project_name": "2024年学生营养改善计划", "department": "某县教育局", "implementing_unit": "某县教育局",
        "annual_goal": "为全县12000名农村义务教育学生提供营养膳食补助，全年供餐200天，改善学生营养状况",
        "amount_total_wan": 1200, "period": "2024年",
        "indicators": [
            {"level1": "产出指标", "level2": "数量指标", "name": "受益学生人数", "value": "≥12000人"},
            {"level1": "产出指标", "level2": "数量指标", "name": "供餐天数", "value": "≥200天"},
            {"level1": "产出指标", "level2": "质量指标", "name": "食品安全事故发生率", "value": "=0%"},
            {"level1": "成本指标", "level2": "经济成本指标", "name": "膳食补助标准", "value": "≤5元/人·天"},
            {"level1": "效益指标", "level2": "社会效益指标", "name": "受益学生营养不良检出率", "value": "≤5%"},
            {"level1": "满意度指标", "level2": "服务对象满意度指标", "name": "学生家长满意度", "value": "100%"}]}


def _t(**changes: object) -> Target:
    return Target.model_validate({**json.loads(json.dumps(MEAL)), **changes})


def _rows(t: Target, index: int, value: str) -> Target:
    rows = [i.model_copy() for i in t.indicators]
    rows[index] = rows[index].model_copy(update={"value": value})
    return t.model_copy(update={"indicators": rows})


def test_a_person_day_rate_is_multiplied_by_people_and_days(deps) -> None:
    r = review(_t(), deps)
    assert not [f for f in r.findings if f.rule_id == "FF-02"]  # 5 × 12000 × 200 = 1200万元, the budget
    r = review(_t(amount_total_wan=300), deps)
    ff02 = [f for f in r.findings if f.rule_id == "FF-02"]
    assert ff02 and "12000人 × 200天" in ff02[0].message and "1200万元" in ff02[0].message


def test_a_person_time_rate_needs_person_times_not_the_head_count(deps) -> None:
    t = _rows(_t(), 3, "≤5元/人次")
    assert not [f for f in review(t, deps).findings if f.rule_id == "FF-02"]  # no 人次 row: nothing to multiply
    rows = [*t.indicators, t.indicators[0].model_copy(update={"name": "供餐人次", "value": "≥2400000人次"})]
    r = review(t.model_copy(update={"indicators": rows}), deps)
    assert not [f for f in r.findings if f.rule_id == "FF-02"]  # 5 × 2400000 = 1200万元


def test_lower_is_better_rates_are_not_flipped(deps) -> None:
    r = review(_t(), deps)
    assert not [f for f in r.findings if f.rule_id == "S-03"]
    assert not [s for s in r.suggestions if s.indicator_index == 4]
    unsure = review(_rows(_t(), 4, "≥95%").model_copy(update={"indicators": [
        *[i for i in _t().indicators[:4]], _t().indicators[4].model_copy(update={"name": "安全隐患检出率", "value": "≤5%"})]}),
        deps)
    assert not [f for f in unsure.findings if f.rule_id == "S-03"]  # direction unknown: ask, don't flip


def test_each_suggestion_resolves_its_row_and_rows_get_one(deps) -> None:
    r = review(_t(), deps)
    sat = [s for s in r.suggestions if s.indicator_index == 5]
    assert [s.value for s in sat] == ["≥90%"]  # never 「≥100%」, which leaves S-05 in place
    draft = read_targets(ROOT / "samples" / "draft.json")[0]
    r = review(draft, deps)
    by_row: dict[int, int] = {}
    for s in r.suggestions:
        if s.action == "revise" and s.indicator_index is not None:
            by_row[s.indicator_index] = by_row.get(s.indicator_index, 0) + 1
    assert by_row and max(by_row.values()) == 1
    cycle = [s for s in r.suggestions if s.indicator_index == 3]  # 「服务周期 180」: no unit, no date
    assert all(s.value not in {"≥180", "180"} for s in cycle)


def test_the_verdict_and_the_numbers_agree(deps) -> None:
    r = review(_rows(_t(), 2, "=0"), deps)  # a rate without % : an error on completeness
    assert any(f.severity == "error" for f in r.findings)
    for key in ("completeness", "relevance", "suitability", "fund_fit"):
        ds = r.dimensions.get(key)
        assert f"评分{ds.score}（{ds.level:.1f}/5）" in ds.rationale, ds.rationale
    if r.grade == "优":
        assert "改正后" in conclusion(r) and "可直接进入预算编制" not in conclusion(r)


def test_workbook_rows_are_named_as_the_user_sees_them(deps) -> None:
    t = read_targets(ROOT / "samples" / "draft.xlsx")[0]
    r = review(t, deps)
    rows = [f for f in r.findings if f.indicator_index is not None]
    assert rows and all("（Excel 第" in f.message for f in rows[:3])
    assert all(f"第{f.indicator_index + 1}个指标" in f.message for f in rows)


def test_every_relevance_deduction_is_a_finding(deps) -> None:
    t = _t(indicators=[*MEAL["indicators"], {"level1": "产出指标", "level2": "数量指标", "name": "完成学校食堂改造",
                                             "value": "≥3所"}], project_name="2024年高标准农田建设",
           annual_goal="新建高标准农田5000亩，提高粮食综合生产能力")
    r = review(t, deps)
    notes = r.dimensions.relevance.rationale
    flagged = {f.indicator_index for f in r.findings if f.rule_id in {"R-02", "R-12"}}
    assert 6 in flagged and "第" in notes
    beneficiaries = review(_t(), deps)
    assert 0 not in {f.indicator_index for f in beneficiaries.findings if f.rule_id == "R-12"}  # 受益学生人数


def test_the_three_example_tables_grade_as_a_reviewer_would(deps) -> None:
    """samples/examples: a clean table reaches 优 with nothing to fix; the published 雾炮车 table is 中; a table of
    words and placeholders is 差. Their Word 审核意见表 are written without error."""
    from assistant.report.export import export_bytes

    got = {}
    for name in ("excellent", "mediocre", "bad"):
        r = review(read_targets(ROOT / "samples" / "examples" / f"{name}.json")[0], deps)
        got[name] = r.grade
        assert export_bytes(r, "docx")[:2] == b"PK"
        if name == "excellent":
            assert not r.findings and not r.suggestions and r.score >= 90
    assert got == {"excellent": "优", "mediocre": "中", "bad": "差"}
