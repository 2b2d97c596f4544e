"""Report stage: merge critic scores with rule findings (deterministic caps), overall score and grade.

Merge policy (the same for every backend; README "评分如何形成"):
- A dimension with error-level findings is capped at the lowest cap of those rules (profile data: `error_caps`,
  fitted on the reference ratings; `default_error_cap` for rules without one; three or more error rules on one
  dimension at `many_errors_cap`). The review says which rules capped it and at what level.
- Overall = mean of the four levels × 20 (the reference raters' overall is ≈ 20 × mean level).
- Vetoes (the official scoring notes, README "评分如何形成"): no 产出 or no 效益 indicators, or a cost indicator above the budget
  (FF-01), or all outputs being money inputs → overall capped at 79 (中).
- Grade bands: 优 ≥ 90, 良 80–89, 中 60–79, 差 < 60.
"""

from __future__ import annotations

import re

from assistant.dimensions import DIMENSION_KEYS, dimension_head, grade_for, level_to_score
from assistant.models import CritiqueInput, CritiqueResult, Dimensions, Finding, Review, ReviewMeta
from assistant.rules.catalogue import RULES
from assistant.rules.profiles import Profile, load_profile

VETO_CAP = 79
_HEAD = re.compile(r"^\S{2,6}评分\d+（[\d.]+/5）。")


def cap_dimensions(dims: Dimensions, findings: list[Finding], profile: Profile | None = None) -> Dimensions:
    profile = profile or load_profile("default")
    out = {}
    for d in DIMENSION_KEYS:
        ds = dims.get(d)
        errors = [f.rule_id for f in findings if f.dimension == d and f.severity == "error"]
        rules = sorted(set(errors))
        cap = profile.cap_for(errors)
        if ds.level > cap:
            binding = [r for r in rules if profile.error_caps.get(r, profile.default_error_cap) <= cap] or rules
            why = "、".join(f"{r}（{RULES[r].title}）" if r in RULES else r for r in binding)
            many = f"共{len(errors)}处" if len(errors) >= 3 and cap == profile.many_errors_cap else ""
            head = dimension_head(d, cap)
            rest = _HEAD.sub("", ds.rationale, count=1)  # the critic's own figures would contradict the capped ones
            ds = ds.model_copy(update={
                "score": level_to_score(cap), "level": cap, "capped_by": binding, "cap_level": cap,
                "rationale": head + rest + f"（存在错误级问题 {why}{many}，本维度最高{level_to_score(cap)}分）"})
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


def finalise(inp: CritiqueInput, critique: CritiqueResult, meta: ReviewMeta, profile: Profile | None = None) -> Review:
    dims = cap_dimensions(critique.dimensions, inp.findings, profile)
    score, vetoes = overall(dims, inp.findings)
    target = inp.target
    return Review(
        target_id=target.id, project_name=target.project_name or "（未填写项目名称）", score=score,
        grade=grade_for(score), dimensions=dims, findings=inp.findings, suggestions=critique.suggestions,
        precedents=inp.evidence.precedents, indicators=inp.indicators, backend=critique.backend, model=critique.model,
        fallback_reason=critique.fallback_reason, vetoes=vetoes, meta=meta, target=target,
        knowledge=inp.evidence.knowledge if inp.evidence.knowledge.sectors else None)
