"""Report stage: merge critic scores with rule findings (deterministic caps), overall score and grade.

Merge policy (the same for every backend; README "评分如何形成"):
- A dimension with an error-level finding is capped at level 4.0 (80); with three or more, at 3.0 (60).
- Overall = mean of the four levels × 20 (the reference raters' overall is ≈ 20 × mean level).
- Vetoes (the official scoring notes, README "评分如何形成"): no 产出 or no 效益 indicators, or a cost indicator above the budget
  (FF-01), or all outputs being money inputs → overall capped at 79 (中).
- Grade bands: 优 ≥ 90, 良 80–89, 中 60–79, 差 < 60.
"""

from __future__ import annotations

from collections import Counter

from assistant.dimensions import DIMENSION_KEYS, grade_for, level_to_score
from assistant.models import CritiqueInput, CritiqueResult, Dimensions, DimensionScore, Finding, Review, ReviewMeta

ERROR_CAP_1 = 4.0
ERROR_CAP_3 = 3.0
VETO_CAP = 79


def cap_dimensions(dims: Dimensions, findings: list[Finding]) -> Dimensions:
    errors: Counter[str] = Counter(f.dimension for f in findings if f.severity == "error")
    out = {}
    for d in DIMENSION_KEYS:
        ds = dims.get(d)
        n = errors.get(d, 0)
        cap = ERROR_CAP_3 if n >= 3 else ERROR_CAP_1 if n >= 1 else 5.0
        if ds.level > cap:
            rules = sorted({f.rule_id for f in findings if f.dimension == d and f.severity == "error"})
            ds = DimensionScore(score=level_to_score(cap), level=cap,
                                rationale=ds.rationale + f"（存在{n}项错误级问题，本维度最高{level_to_score(cap)}分）",
                                evidence=ds.evidence, capped_by=rules)
        out[d] = ds
    return Dimensions(**out)


def veto_reasons(findings: list[Finding]) -> list[str]:
    reasons = []
    for f in findings:
        if f.rule_id == "C-04" and f.severity == "error":
            reasons.append(f.message)
        elif f.rule_id in {"FF-01", "FF-03"} or (f.rule_id == "R-04" and f.severity == "error"):
            reasons.append(f.message)
    return reasons


def overall(dims: Dimensions, findings: list[Finding]) -> tuple[int, list[str]]:
    mean_level = sum(dims.get(d).level for d in DIMENSION_KEYS) / len(DIMENSION_KEYS)
    score = level_to_score(mean_level)
    vetoes = veto_reasons(findings)
    if vetoes and score > VETO_CAP:
        score = VETO_CAP
    return score, vetoes


def finalise(inp: CritiqueInput, critique: CritiqueResult, meta: ReviewMeta) -> Review:
    dims = cap_dimensions(critique.dimensions, inp.findings)
    score, vetoes = overall(dims, inp.findings)
    target = inp.target
    return Review(
        target_id=target.id, project_name=target.project_name or "（未填写项目名称）", score=score,
        grade=grade_for(score), dimensions=dims, findings=inp.findings, suggestions=critique.suggestions,
        precedents=inp.evidence.precedents, indicators=inp.indicators, backend=critique.backend, model=critique.model,
        fallback_reason=critique.fallback_reason, vetoes=vetoes, meta=meta, target=target,
        knowledge=inp.evidence.knowledge if inp.evidence.knowledge.sectors else None)
