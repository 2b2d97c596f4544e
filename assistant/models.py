"""Pydantic contracts shared by every pipeline stage.

Input side: `Target` / `Indicator` follow the corpus schema (see corpus/README.md).
Derived side: `ParsedValue`, `NormIndicator` (records stage).
Output side: `Finding` (rules), `Precedent` / `IndicatorHint` (retrieve),
`DimensionScore` / `CritiqueResult` (critique), `Review` (report).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.dimensions import DimensionKey

Severity = Literal["error", "warning", "info"]
Grade = Literal["优", "良", "中", "差"]

Level1 = Literal["output", "cost", "benefit", "satisfaction", "process", "unknown"]
Level2 = Literal[
    "quantity",
    "quality",
    "timeliness",
    "econ_cost",
    "social_cost",
    "eco_cost",
    "econ_benefit",
    "social_benefit",
    "eco_benefit",
    "sustainability",
    "satisfaction",
    "process",
    "unknown",
]
ValueKind = Literal[
    "quantitative",  # operator/number/unit, e.g. ≥95%, 2280次, 1600元/亩
    "deadline",  # a date or a date range, e.g. 2023年12月31日前, 2021年9月
    "duration",  # a time span, e.g. ≤30天, ≤7工作日
    "qualitative",  # a grade or a yes/no, e.g. 优良, 是, 达到预期
    "vague",  # vague wording only, e.g. 有所提高, 显著提升
    "empty",  # nothing given
    "unparseable",  # template residue (≥**), garbage
]
Operator = Literal[">=", ">", "=", "<", "<=", "range"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _to_text(v: Any) -> Any:
    """Cells may arrive as numbers (Excel, hand-written JSON): keep them as text."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return v


class Indicator(Strict):
    """One third-level indicator row, as filed (verbatim strings)."""

    level1: str = ""
    level2: str = ""
    name: str = ""
    value: str = ""
    basis: str = ""
    operator: str = ""  # separate 计算符号 column, when the template has one
    unit: str = ""  # separate 计量单位 column, when the template has one
    explanation: str = ""  # 指标解释 / 计算公式

    @field_validator("level1", "level2", "name", "value", "basis", "operator", "unit", "explanation", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return _to_text(v)


class BudgetLine(Strict):
    """预算明细 / 成本构成 row (optional)."""

    item: str = ""
    amount_wan: float | None = None
    quantity: float | None = None
    quantity_unit: str = ""
    unit_price: str = ""
    basis: str = ""


class Target(Strict):
    """A performance target table (绩效目标表). Field names follow the corpus."""

    id: str | None = None
    project_name: str = ""
    department: str = ""
    implementing_unit: str = ""
    region: str = ""
    year: int | None = None
    project_attribute: str = ""
    period: str = ""  # 实施期, e.g. "2023.07-2024.01"
    amount_total_wan: float | None = None
    amount_fiscal_wan: float | None = None
    amount_other_wan: float | None = None
    prior_amount_wan: float | None = None  # 上年预算, for continuing projects
    annual_goal: str = ""
    long_term_goal: str = ""
    indicators: list[Indicator] = Field(default_factory=list)
    budget_lines: list[BudgetLine] = Field(default_factory=list)
    prior_indicators: list[Indicator] = Field(default_factory=list)  # last year's targets
    # provenance (corpus records)
    source_url: str = ""
    sector: str = ""
    complete: bool | None = None
    notes: str = ""

    @field_validator(
        "project_name", "department", "implementing_unit", "region", "project_attribute", "period",
        "annual_goal", "long_term_goal", "source_url", "sector", "notes", mode="before",
    )
    @classmethod
    def _text(cls, v: Any) -> Any:
        return _to_text(v)


class ParsedValue(Strict):
    """A target value string turned into operator / number / unit / kind."""

    raw: str
    kind: ValueKind
    op: Operator | None = None
    number: float | None = None
    number_high: float | None = None  # upper bound of a range
    unit: str = ""
    date: str | None = None  # ISO yyyy-mm-dd or yyyy-mm (end of a range for deadlines)
    flags: list[str] = Field(default_factory=list)
    vague_terms: list[str] = Field(default_factory=list)

    @property
    def is_percent(self) -> bool:
        return self.unit == "%"


class NormIndicator(Strict):
    """An indicator after normalisation; `index` is its 0-based row in the target."""

    index: int
    name: str
    level1: Level1
    level2: Level2
    level1_label: str = ""  # original labels, for display
    level2_label: str = ""
    inferred: bool = False  # category inferred from the name (labels missing or unknown)
    value: ParsedValue
    basis: str = ""
    explanation: str = ""


class Finding(Strict):
    rule_id: str
    dimension: DimensionKey
    severity: Severity
    indicator_index: int | None = None
    field: str | None = None  # header field concerned, e.g. "annual_goal"
    message: str
    suggestion: str


class RuleInfo(Strict):
    id: str
    dimension: DimensionKey
    severity: Severity
    title: str
    fix: str
    source: str = ""


class PrecedentIndicator(Strict):
    level1: Level1
    level2: Level2
    name: str
    value: str


class Precedent(Strict):
    id: str
    project_name: str
    similarity: float
    region: str = ""
    year: int | None = None
    amount_total_wan: float | None = None
    source_url: str = ""
    indicators: list[PrecedentIndicator] = Field(default_factory=list)


class Suggestion(Strict):
    """A suggested added / revised indicator (a draft for the user to accept or reject)."""

    action: Literal["add", "revise", "remove"]
    indicator_index: int | None = None  # the row concerned (revise/remove)
    level1: str = ""
    level2: str = ""
    name: str = ""
    value: str = ""
    original: str = ""  # the original value / name, for revise
    reason: str
    source: Literal["rules", "precedent", "llm"] = "rules"
    precedent_id: str | None = None
    precedent_project: str | None = None


class DimensionScore(Strict):
    score: int = Field(ge=0, le=100)
    level: float = Field(ge=1, le=5)  # on the raters' 1–5 scale; score ≈ 20 × level
    rationale: str
    evidence: list[int] = Field(default_factory=list)  # indicator indexes
    capped_by: list[str] = Field(default_factory=list)  # rule ids that capped this dimension


class Dimensions(Strict):
    completeness: DimensionScore
    relevance: DimensionScore
    suitability: DimensionScore
    fund_fit: DimensionScore

    def get(self, key: str) -> DimensionScore:
        return getattr(self, key)


class Usage(Strict):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    latency_ms: float = 0.0
    cached: bool = False


class CritiqueResult(Strict):
    dimensions: Dimensions
    suggestions: list[Suggestion] = Field(default_factory=list)
    backend: str
    model: str | None = None
    prompt_hash: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    fallback_reason: str | None = None  # set when an LLM review failed and the offline one stands in


class ReviewMeta(Strict):
    profile: str
    corpus_version: str = ""
    scorer_version: str = ""
    prompt_hash: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    content_hash: str = ""  # hash of the target, for idempotent batches


class Review(Strict):
    target_id: str | None = None
    project_name: str
    score: int = Field(ge=0, le=100)
    grade: Grade
    dimensions: Dimensions
    findings: list[Finding] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(default_factory=list)
    precedents: list[Precedent] = Field(default_factory=list)
    indicators: list[NormIndicator] = Field(default_factory=list)
    backend: str
    model: str | None = None
    fallback_reason: str | None = None
    meta: ReviewMeta
    target: Target
