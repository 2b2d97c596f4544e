"""Version comparison (assistant/compare.py): row matching, finding resolution, suggestions adopted."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from assistant.models import Dimensions, DimensionScore, Finding, Indicator, Review, ReviewMeta, Suggestion, Target
from assistant.report.compare import compare, compare_reviews, match_rows

ROOT = Path(__file__).resolve().parents[1]
DRAFT = json.loads((ROOT / "samples" / "draft.json").read_text(encoding="utf-8"))
PM10 = {"level1": "效益指标", "level2": "生态效益指标", "name": "城区PM10年平均浓度下降", "value": "≥5%",
        "basis": "计划标准"}


def _fixed(draft: dict) -> dict:
    """The resubmission: the vague cost value made measurable, row 1 given an operator and unit as suggested,
    and a real 效益 indicator inserted before the satisfaction row (which shifts from row 7 to row 8)."""
    f = copy.deepcopy(draft)
    f["indicators"][0]["value"] = "≥10辆"
    f["indicators"][4]["value"] = "≤250万元"
    f["indicators"].insert(6, dict(PM10))
    return f


@pytest.fixture(scope="module")
def reviewed():
    from assistant.pipeline import build_deps, review
    from assistant.settings import load_settings

    deps = build_deps(load_settings({}))
    base, head = Target.model_validate(DRAFT), Target.model_validate(_fixed(DRAFT))
    return base, review(base, deps), head, review(head, deps)


def test_resubmission_that_fixes_problems(reviewed):
    base, rb, head, rh = reviewed
    c = compare(base, rb, head, rh)
    assert not c.identical
    # the vague value is fixed: its finding is resolved, and the row shows old → new
    assert any(x.finding.rule_id == "S-06" and x.base_row == 5 for x in c.resolved)
    changed = {r.base_row: r for r in c.rows if r.status == "changed"}
    value = next(ch for ch in changed[5].changes if ch.field == "value")
    assert (value.old, value.new, value.label) == ("控制在预算内", "≤250万元", "指标值")
    assert changed[5].head_row == 5 and changed[5].matched_by == "name"
    # the missing 效益 indicator was added: the row is added and "效益指标全部是满意度类" is resolved
    added = [r for r in c.rows if r.status == "added"]
    assert [(r.head_row, r.head.name) for r in added] == [(7, PM10["name"])]
    assert any(x.finding.rule_id == "R-08" and "全部是满意度" in x.finding.message for x in c.resolved)
    # the row-level R-08 (a satisfaction row filed under 效益) is still there: paired by message, still open
    assert any(x.finding.rule_id == "R-08" and "全部是满意度" not in x.finding.message for x in c.still_open)
    # the score goes up
    assert c.score.new > c.score.old and c.score.delta == c.score.new - c.score.old and c.score.direction == "up"
    assert [d.label for d in c.dimensions] == ["完整性", "相关性", "适当性", "资金匹配性"]
    assert sum(d.delta for d in c.dimensions) != 0
    # the suggestion "≥10" for row 1 was taken up ("≥10辆": same operator and number, unit added)
    s0 = next(s for s in c.suggestions if s.suggestion.indicator_index == 0)
    assert s0.status == "adopted" and s0.head_row == 1 and "≥10辆" in s0.detail
    s1 = next(s for s in c.suggestions if s.suggestion.indicator_index == 1)
    assert s1.status == "not_adopted" and s1.detail == "指标值仍为「80M」"


def test_shifted_rows_give_no_spurious_pairs(reviewed):
    base, rb, head, rh = reviewed
    c = compare(base, rb, head, rh)
    # the satisfaction row moved from row 7 to row 8; its findings are still open, neither resolved nor new
    moved = [x for x in c.still_open if x.indicator == "满意度"]
    assert moved and all((x.base_row, x.head_row) == (7, 8) for x in moved)
    assert not [x for x in c.resolved + c.new if x.indicator == "满意度"]
    assert not [x for x in c.new if x.head_row != 7]  # anything new concerns the added row only
    # nothing resolved on a row that was not touched
    touched = {r.base_row for r in c.rows if r.status == "changed"}
    assert {x.base_row for x in c.resolved if x.base_row} <= touched | {6}  # row 6: the 效益 group finding
    assert not [r for r in c.rows if r.status == "removed"]


def test_identical_versions_have_no_changes(reviewed):
    base, rb, _, _ = reviewed
    c = compare(base, rb, base.model_copy(deep=True), rb.model_copy(deep=True))
    assert c.identical and c.header == [] and c.rows == [] and c.unchanged_rows == len(base.indicators)
    assert c.resolved == [] and c.new == [] and len(c.still_open) == len(rb.findings)
    assert c.score.delta == 0 and c.score.direction == "same" and c.score.grade_direction == "same"
    assert all(d.delta == 0 for d in c.dimensions)
    assert all(s.status == "not_adopted" for s in c.suggestions)
    assert compare_reviews(rb, rb).identical


# -- synthetic reviews: exact control over findings -----------------------------------------------
def _review(target: Target, findings: list[Finding], score: int = 60,
            suggestions: list[Suggestion] | None = None) -> Review:
    dim = DimensionScore(score=score, level=max(1.0, score / 20), rationale="")
    grade = "优" if score >= 90 else "良" if score >= 80 else "中" if score >= 60 else "差"
    return Review(project_name=target.project_name, score=score, grade=grade,
                  dimensions=Dimensions(completeness=dim, relevance=dim, suitability=dim, fund_fit=dim),
                  findings=findings, suggestions=suggestions or [], backend="offline",
                  meta=ReviewMeta(profile="default"), target=target)


def _f(rule: str, idx: int | None, msg: str = "问题", field: str | None = None) -> Finding:
    return Finding(rule_id=rule, dimension="suitability", severity="warning", indicator_index=idx, field=field,
                   message=msg, suggestion="改")


def _t(rows: list[tuple[str, str, str, str]], **header) -> Target:
    return Target(project_name=header.pop("project_name", "测试项目"), **header,
                  indicators=[Indicator(level1=a, level2=b, name=n, value=v) for a, b, n, v in rows])


ROWS = [("产出指标", "数量指标", "培训人次", "≥200人次"), ("产出指标", "质量指标", "培训合格率", "≥95%"),
        ("效益指标", "社会效益指标", "就业率", "有所提高"), ("满意度指标", "服务对象满意度指标", "学员满意度", "≥90%")]


def test_rows_shifted_by_an_insert_keep_their_findings():
    base = _t(ROWS)
    head = _t([("产出指标", "数量指标", "培训班期数", "≥4期"), *ROWS])
    old = _review(base, [_f("S-06", 2, "第3行「就业率」表述模糊"), _f("S-18", 1, "第2行缺少运算符号")])
    new = _review(head, [_f("S-06", 3, "第4行「就业率」表述模糊"), _f("S-18", 2, "第3行缺少运算符号")])
    c = compare(base, old, head, new)
    assert c.resolved == [] and c.new == []
    assert sorted((x.base_row, x.head_row) for x in c.still_open) == [(2, 3), (3, 4)]
    assert [(r.status, r.head_row) for r in c.rows] == [("added", 1)] and c.unchanged_rows == 4


def test_same_rule_on_another_row_is_resolved_plus_new():
    base = _t(ROWS)
    old = _review(base, [_f("S-06", 2, "第3行「就业率」表述模糊")])
    new = _review(base, [_f("S-06", 1, "第2行「培训合格率」表述模糊")])
    c = compare(base, old, base, new)
    assert [(x.finding.rule_id, x.base_row) for x in c.resolved] == [("S-06", 3)]
    assert [(x.finding.rule_id, x.head_row) for x in c.new] == [("S-06", 2)]


def test_row_matching_passes():
    base = [Indicator(level1="产出指标", level2="数量指标", name="培训人次", value="200"),
            Indicator(level1="效益指标", level2="社会效益指标", name="学员满意度", value="90%"),
            Indicator(level1="产出指标", level2="质量指标", name="课程合格率", value="95%"),
            Indicator(level1="产出指标", level2="时效指标", name="完成时间", value="年底"),
            Indicator(level1="成本指标", level2="经济成本指标", name="人均培训成本", value="≤500元")]
    head = [Indicator(level1="产出指标", level2="数量指标", name="培训人次", value="≥200人次"),
            Indicator(level1="满意度指标", level2="服务对象满意度指标", name="学员满意度", value="≥90%"),
            Indicator(level1="产出指标", level2="质量指标", name="课程考核合格率", value="≥95%"),
            Indicator(level1="产出指标", level2="时效指标", name="按期完成率", value="100%")]
    pairs = match_rows(base, head)
    assert pairs == {0: (0, "name"), 1: (1, "name_only"), 2: (2, "similar"), 3: (3, "position")}
    c = compare(_t([]).model_copy(update={"indicators": base}), _review(_t([]), []),
                _t([]).model_copy(update={"indicators": head}), _review(_t([]), []))
    removed = [r for r in c.rows if r.status == "removed"]
    assert [(r.base_row, r.base.name) for r in removed] == [(5, "人均培训成本")]
    moved = next(r for r in c.rows if r.base_row == 2)
    assert {ch.field for ch in moved.changes} == {"level1", "level2", "value"}


def test_header_changes_and_budget_lines():
    base = _t(ROWS, amount_total_wan=250, annual_goal="持续改善")
    head = _t(ROWS, amount_total_wan=240.5, annual_goal="2024年完成培训200人次，合格率≥95%",
              budget_lines=[{"item": "师资费", "amount_wan": 40}])
    c = compare(base, _review(base, []), head, _review(head, []))
    got = {h.field: (h.label, h.old, h.new) for h in c.header}
    assert got["amount_total_wan"] == ("资金总额（万元）", "250", "240.5")
    assert got["annual_goal"][0] == "年度目标" and got["budget_lines"][1:] == ("（无）", "1 行，合计 40 万元")
    assert "project_name" not in got and not c.identical


def test_removed_row_resolves_its_findings_and_the_remove_suggestion():
    base = _t(ROWS)
    head = _t([ROWS[0], ROWS[1], ROWS[3]])
    old = _review(base, [_f("S-06", 2, "就业率表述模糊"), _f("R-01", None, "缺少可持续影响指标")],
                  suggestions=[Suggestion(action="remove", indicator_index=2, reason="无法考核"),
                               Suggestion(action="add", level1="效益指标", name="结业学员就业率", value="≥60%",
                                          reason="补充效益")])
    c = compare(base, old, head, _review(head, [_f("R-01", None, "缺少可持续影响指标")]))
    assert [(x.finding.rule_id, x.note) for x in c.resolved] == [("S-06", "该指标已删除")]
    assert [x.finding.rule_id for x in c.still_open] == ["R-01"]
    assert [s.status for s in c.suggestions] == ["adopted", "not_adopted"]


def test_add_suggestion_adopted_when_the_indicator_appears():
    base = _t(ROWS)
    head = _t([*ROWS, ("效益指标", "社会效益指标", "结业学员就业率", "≥60%")])
    add = Suggestion(action="add", level1="效益指标", name="结业学员就业率", value="≥60%", reason="补充效益")
    exists = Suggestion(action="add", name="培训人次", value="≥200人次", reason="已有")
    revise = Suggestion(action="revise", indicator_index=2, name="就业率", value="≥60%", reason="量化")
    c = compare(base, _review(base, [], suggestions=[add, exists, revise]), head, _review(head, []))
    assert [(s.status, s.head_row) for s in c.suggestions] == [("adopted", 5), ("not_adopted", None),
                                                              ("not_adopted", 3)]
    assert c.suggestions[2].detail == "指标值仍为「有所提高」"
    head2 = _t([*ROWS, ("效益指标", "社会效益指标", "结业学员就业率", "≥50%")])
    c = compare(base, _review(base, [], suggestions=[add]), head2, _review(head2, []))
    assert c.suggestions[0].status == "partial" and "≥50%" in c.suggestions[0].detail


def test_score_down_and_grade_direction():
    base = _t(ROWS)
    c = compare(base, _review(base, [], score=85), base, _review(base, [_f("S-06", 2)], score=55))
    assert (c.score.direction, c.score.grade_direction, c.score.delta) == ("down", "down", -30)
    assert (c.score.old_grade, c.score.new_grade) == ("良", "差")
    assert [x.finding.rule_id for x in c.new] == ["S-06"] and c.identical
