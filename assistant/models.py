"""Pydantic contracts shared by every pipeline stage.

Input side: `Target` / `Indicator` follow the corpus schema (see corpus/README.md).
Derived side: `ParsedValue`, `NormIndicator` (records stage).
Output side: `Finding` (rules), `Precedent` / `IndicatorHint` (retrieve),
`DimensionScore` / `CritiqueResult` (critique), `Review` (report).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from assistant.dimensions import DimensionKey
from assistant.labels import indicator_label

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


def _number_shown(v: float) -> str:
    """NaN / Infinity / -Infinity as JSON writes them, other numbers as written (1e309 arrives as Infinity)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity（超出数值范围）" if v > 0 else "-Infinity（超出数值范围）"
    return f"{v:g}"


def _non_negative_finite(v: float | None) -> float | None:
    """Money and quantities: a finite number ≥ 0, or nothing. NaN, ±Infinity (1e309 in JSON) and negatives are
    refused here, so every way a draft arrives (JSON, JSONL, Excel, the web) is held to the same rule."""
    if v is not None and (not math.isfinite(v) or v < 0):
        raise PydanticCustomError("money_invalid", "必须是不小于 0 的有限数字，收到 {got}", {"got": _number_shown(v)})
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
    sheet_row: int | None = None  # the row in the user's workbook, when the draft came from one

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
    unit_price: str = ""  # free text (「200元/人·天」): never used in arithmetic
    basis: str = ""

    @field_validator("amount_wan", "quantity")
    @classmethod
    def _amounts(cls, v: float | None) -> float | None:
        return _non_negative_finite(v)


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

    @field_validator("amount_total_wan", "amount_fiscal_wan", "amount_other_wan", "prior_amount_wan")
    @classmethod
    def _money(cls, v: float | None) -> float | None:
        return _non_negative_finite(v)


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
    sheet_row: int | None = None  # the row in the user's workbook, when the draft came from one

    def label(self) -> str:
        """How users find the row: 「第2个指标（Excel 第13行）」, or 「第2个指标」 for a draft not from a workbook."""
        return indicator_label(self.index, self.sheet_row)


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
    similarity: float  # semantic: centred cosine of the project vectors; lexical: TF-IDF cosine
    match: Literal["semantic", "lexical"] = "lexical"
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
    source: Literal["rules", "precedent", "llm", "library"] = "rules"
    library_source: str | None = None  # the published source of a library indicator (source "library")
    precedent_id: str | None = None
    precedent_project: str | None = None


class DimensionScore(Strict):
    score: int = Field(ge=0, le=100)
    level: float = Field(ge=1, le=5)  # on the raters' 1–5 scale; score ≈ 20 × level
    rationale: str
    evidence: list[int] = Field(default_factory=list)  # indicator indexes
    capped_by: list[str] = Field(default_factory=list)  # rule ids that capped this dimension
    cap_level: float | None = None  # the level it was capped at (the critic's own level was higher)
    contradictions: list[str] = Field(default_factory=list)  # where the model's answer contradicts a rule finding


class Dimensions(Strict):
    completeness: DimensionScore
    relevance: DimensionScore
    suitability: DimensionScore
    fund_fit: DimensionScore

    def get(self, key: str) -> DimensionScore:
        return getattr(self, key)


class ImpliedTotal(Strict):
    """unit cost × quantity (× periods per year) of a per-unit cost indicator, in 万元."""

    cost_index: int
    quantity_index: int | None = None  # None: a per-period cost without a count (万元/月 × 12)
    total_wan: float
    factors: str = ""  # what the unit cost was multiplied by, e.g. 「12000人 × 200天」


class InstructionHit(Strict):
    """Instruction-like text inside a target field (prompt injection): where, what matched, and context."""

    field: str  # e.g. "annual_goal", "indicators[2].value", "budget_lines[0].unit_price"
    index: int | None = None  # the indicator row, when the field is one
    match: str
    snippet: str

    def label(self) -> str:
        return f"{self.field}：{self.snippet}"


class Facts(Strict):
    """What the intake stage derives once per review and every later stage reads."""

    content_hash: str = ""
    main_quantity: int | None = None  # index of the main output quantity (denominator of the unit cost)
    implied_totals: list[ImpliedTotal] = Field(default_factory=list)
    ungrounded: list[int] = Field(default_factory=list)  # rows whose names share no specific word with the project
    instruction_hits: list[InstructionHit] = Field(default_factory=list)  # text that reads like an instruction


class SectorMatch(Strict):
    """A sector of the indicator library the draft belongs to, with how sure the classification is (0–1)."""

    sector: str
    confidence: float
    by: str = ""  # 别名 / 语义 / 词语


class LibraryHint(Strict):
    """A library entry cited to users: an indicator of the sector, or a published standard (level in
    `typical_value`, its exact quote in `seen_value`, scope/year/kind of source in `note`)."""

    sector: str
    level1: str = ""
    level2: str = ""
    name: str
    typical_value: str | None = None  # usable as a target as written (passes the rules); None otherwise
    seen_value: str | None = None  # the value as read in the source (may be a placeholder or a note)
    source: str = ""
    note: str = ""
    own: bool = False  # the bureau's own entry (imported), not a published one
    kind: Literal["indicator", "standard"] = "indicator"


class StandardCheck(Strict):
    """A cost (stated, or implied by budget ÷ quantity) that breaks a published standard, with the arithmetic."""

    standard: LibraryHint
    indicator_index: int | None = None  # the cost indicator; None for the implied unit cost
    quantity_index: int | None = None  # the quantity the budget was divided by
    value: float  # in the standard's unit
    unit: str
    verdict: Literal["above", "below"]
    ratio: float  # value ÷ the standard's level
    arithmetic: str  # e.g. 25万元 ÷ 10辆 ÷ 180天 ≈ 139元/辆·天
    tiers: int = 1  # standards as close to the draft as this one (tiers it does not name); held against the most lenient
    confirmed: bool = True  # an official or news source (or the bureau's own); False: a third-party copy to confirm


class KnowledgeEvidence(Strict):
    """What the sector library and the standards say about a draft (empty when its sector is unknown)."""

    library_version: str = ""
    sectors: list[SectorMatch] = Field(default_factory=list)
    core_missing: bool = False  # no indicator measures the sector's physical output
    core_hints: list[LibraryHint] = Field(default_factory=list)  # the library's quantity indicators to cite
    standards: list[LibraryHint] = Field(default_factory=list)  # published standards that concern this draft
    checks: list[StandardCheck] = Field(default_factory=list)


class RetrievalEvidence(Strict):
    """What retrieval found for a target (computed once, shared by the rules and every critic).
    `retrieved` is false when no precedent index was available: the evidence checks then stay silent."""

    retrieved: bool = False
    mode: str = ""  # what the precedents were found with, in Chinese (e.g. 词语 + 语义检索…)
    note: str | None = None  # e.g. the semantic search failed this time, or no approved project is close
    precedents: list[Precedent] = Field(default_factory=list)  # only those above the similarity floor
    # indicator-level suggestions drawn from precedents for categories the draft lacks
    hints: list[Suggestion] = Field(default_factory=list)
    # similarity of each indicator to the project's own name/goal and to precedent indicators (0–1)
    indicator_fit: list[float] = Field(default_factory=list)
    goal_fit: float | None = None  # similarity of the annual goal to the project name/indicators
    # implied unit cost (万元 per unit of the main quantity) and how it compares to precedents
    unit_cost_ratio: float | None = None  # log10(draft unit cost / median precedent unit cost)
    # how much closer the draft's output/benefit indicator names are to another approved project than that
    # project is to the draft's own name and goal (TF-IDF cosine difference, 0–1; high = copied indicators)
    donor_overlap: float | None = None
    donor_id: str | None = None  # that approved project
    donor_project: str | None = None  # its project name
    knowledge: KnowledgeEvidence = Field(default_factory=KnowledgeEvidence)


class CritiqueInput(Strict):
    """Everything a critic sees: the prepared draft (rules and retrieval already run)."""

    target: Target
    indicators: list[NormIndicator]
    findings: list[Finding]
    evidence: RetrievalEvidence = Field(default_factory=RetrievalEvidence)
    facts: Facts = Field(default_factory=Facts)
    profile: str = "default"
    caps: dict[str, float] = Field(default_factory=dict)  # dimension → the highest level its error findings allow


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
    scorer_version: str = ""  # the critic's own version (offline scorer or LLM answer handling)
    llm_answer: str | None = None  # the model's raw answer (secrets scrubbed), for audit and replay
    prompt_sha256: str | None = None  # of the messages sent, for replay


class ReviewMeta(Strict):
    profile: str
    corpus_version: str = ""
    scorer_version: str = ""
    prompt_hash: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    content_hash: str = ""  # hash of the target, for idempotent batches
    retrieval: str = ""  # how precedents were retrieved (词语检索 / 词语 + 语义检索…)
    retrieval_note: str | None = None  # no close precedent, or the semantic search failed for this review
    llm_answer: str | None = None  # the model's raw answer (LLM reviews), for audit and `eval answers`
    prompt_sha256: str | None = None  # sha256 of the exact messages the model was sent


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
    vetoes: list[str] = Field(default_factory=list)  # why the overall score is capped at 79 (中), if it is
    knowledge: KnowledgeEvidence | None = None  # the sector, library entries and standards the review used
    meta: ReviewMeta
    target: Target


class ReviewerDecision(Strict):
    """A reviewer's decision on one version of a submission (web workbench), as the 审核意见表 shows it.

    `accepted` / `rejected` are indexes into that version's `Review.suggestions`."""

    reviewer: str
    created: str = ""  # ISO time
    version: int | None = None
    status: Literal["returned", "passed"]
    final_grade: Grade
    opinion: str = ""
    accepted: list[int] = Field(default_factory=list)
    rejected: list[int] = Field(default_factory=list)
