"""The four review dimensions and the grade bands, defined once."""

from __future__ import annotations

from typing import Literal

DimensionKey = Literal["completeness", "relevance", "suitability", "fund_fit"]

DIMENSIONS: dict[str, str] = {
    "completeness": "完整性",
    "relevance": "相关性",
    "suitability": "适当性",
    "fund_fit": "资金匹配性",
}
DIMENSION_KEYS: tuple[str, ...] = tuple(DIMENSIONS)

# 预算司 bands for evaluation results, reused for target review (a design choice, README "评分如何形成").
GRADE_BANDS: tuple[tuple[int, str], ...] = ((90, "优"), (80, "良"), (60, "中"), (0, "差"))
GRADE_MEANING: dict[str, str] = {
    "优": "可直接进入预算编制",
    "良": "与财政部门商定小幅修改后进入预算编制",
    "中": "退回修改后重新报送",
    "差": "不进入预算编制",
}


def grade_for(score: float) -> str:
    for floor, grade in GRADE_BANDS:
        if score >= floor:
            return grade
    return "差"


def level_to_score(level: float) -> int:
    """Raters' 1–5 scale → 0–100 (overall ≈ 20 × mean level in the reference ratings)."""
    return int(round(max(0.0, min(100.0, 20.0 * level))))


def level_text(level: float) -> str:
    """A level as shown everywhere (rationale, tables, exports): one decimal, 「4.0/5」."""
    return f"{level:.1f}/5"


def dimension_head(dim: str, level: float) -> str:
    """The opening of a dimension's rationale: 「完整性评分80（4.0/5）。」 (the score and level it was given)."""
    return f"{DIMENSIONS[dim]}评分{level_to_score(level)}（{level_text(level)}）。"


def grade_meaning(grade: str, n_errors: int = 0, n_warnings: int = 0) -> str:
    """What the grade means for the budget: never "直接" or "小幅修改" while an error-level finding stands, and a
    优 table with warnings is told to look at them first."""
    if grade in ("优", "良") and n_errors:
        return f"有{n_errors}项错误级问题，改正后{'可进入' if grade == '优' else '与财政部门商定进入'}预算编制"
    if grade == "优" and n_warnings:
        return f"可进入预算编制；建议先处理{n_warnings}项警告"
    return GRADE_MEANING.get(grade, "")
