"""Review features for the offline scorer: rule findings and precedent evidence → numbers per dimension.

The feature list is versioned (`FEATURE_VERSION`): a stored calibration is only used
when it was fitted on the same features.

Relevance (f7) follows the rubric's three questions (evals/RUBRIC.md 相关性), each a deficit:
* `ungrounded_share`: share of output/benefit indicators sharing no specific word with the project's
  name and goals (`ungrounded`; "indicators measure what this project funds, not boilerplate");
* `goal_misfit`: the annual goal is not grounded in the name and indicators ("the goal matches the
  project"; the continuous form of R-01);
* `donor_overlap`: the output/benefit indicators resemble another approved project more than that project
  resembles this one (`PrecedentIndex.indicator_donor`; "not another project's work").
They replaced f6's rule counts (misfit_count, orphan_share, n_warning), which cross-validated at κ≈0.12.

Suitability (f8) follows the rubric's list (evals/RUBRIC.md 适当性), one share of named rows per criterion
(`suitability_rows`): not quantified, not specific (vague or placeholder values), ambition (≥100%, 100 %
satisfaction, trivially low bars; S-04/S-05/S-12/S-13/S-01, a bare or ≥ 100 %), operator direction (S-03), unit
misfit (S-09/S-11, a quantity without unit, or a percentage on a name that measures no rate or proportion) and
time rows without a date or rate (S-10/S-17). They replaced f7's vague/hundred/no-unit shares and severity counts
(κ≈0.41 → 0.72 cross-validated).

f9: fund fit counts a budget reconciled by the *sum* of several unit cost × quantity products as verified
(`reconciles`: the raters add 流转土地 + 景点 + 设施 to reach the budget), and a draft without a budget gets the rubric's
level 1 for fund fit (`UNUSABLE`).
"""

from __future__ import annotations

import re
from collections import Counter

from assistant.dimensions import DIMENSION_KEYS
from assistant.intake.facts import judged_for_grounding
from assistant.models import CritiqueInput, ImpliedTotal, NormIndicator

FEATURE_VERSION = "f11"
DONOR_NOTE = 0.25  # donor_overlap at which the rationale names the approved project (explanation only)

# Rules whose counts are features of their own (beyond the per-severity totals).
KEY_RULES: dict[str, tuple[str, ...]] = {
    "completeness": ("C-02", "C-04", "C-05", "C-07", "C-08", "C-09", "C-10", "C-16"),
    "relevance": ("R-01", "R-02", "R-05", "R-08", "R-10", "R-04"),
    "suitability": ("S-06", "S-12", "S-05", "S-13", "S-10", "S-03", "S-14", "S-11"),
    "fund_fit": ("FF-01", "FF-02", "FF-04", "FF-05", "FF-06", "FF-07", "FF-09", "FF-10"),
}


# Candidate feature sets per dimension: few, strong features (54 rated items can't support many). Calibration
# chooses one set per dimension by grouped cross-validation inside its own training items (`calibrate.fit_nested`),
# so evaluation folds never see the choice made on them. Every feature measures a problem (0 = none), so a draft
# without problems scores 5. f11 adds sector knowledge: `core_missing` (K-01) and `standard_conflict` (K-02/K-03).
_COMPLETENESS = ["n_error", "n_warning", "no_output", "no_benefit", "no_satisfaction", "few_indicators",
                 "empty_share", "no_goal", "no_labels", "no_cost", "rule_C-04", "rule_C-05", "rule_C-08"]
_COMPLETENESS_RUBRIC = ["no_goal", "no_output", "no_benefit", "no_satisfaction", "no_cost", "few_indicators",
                        "empty_share", "no_labels", "rule_C-08"]
_FUND = ["no_quantity", "fund_unverified", "fund_conflict", "rule_FF-04", "no_cost", "n_error", "n_warning"]
_FUND_RUBRIC = ["no_quantity", "fund_unverified", "fund_conflict", "rule_FF-04", "no_cost"]
FEATURE_SETS: dict[str, dict[str, list[str]]] = {
    "completeness": {"f10": _COMPLETENESS, "f10+core": [*_COMPLETENESS, "core_missing"],
                     "rubric": _COMPLETENESS_RUBRIC, "rubric+core": [*_COMPLETENESS_RUBRIC, "core_missing"]},
    "relevance": {"f10": ["ungrounded_share", "goal_misfit", "donor_overlap"]},
    "suitability": {"f10": ["unquantified_share", "unspecific_share", "ambition_share", "operator_share",
                            "unit_misfit_share", "untimed_share"]},
    "fund_fit": {"f10": _FUND, "f10+standards": [*_FUND, "standard_conflict"], "rubric": _FUND_RUBRIC,
                 "rubric+standards": [*_FUND_RUBRIC, "standard_conflict"]},
}
SCORER_FEATURES: dict[str, list[str]] = {  # every feature any candidate set uses
    d: list(dict.fromkeys(f for names in sets.values() for f in names)) for d, sets in FEATURE_SETS.items()}


# The rubric's level 1 ("missing or unusable") where a dimension cannot be judged at all: without a budget there is no
# money to match against the outputs. A fixed anchor, not a learned weight (a panel's ratings may hold no such draft);
# the linear model is fitted and applied only to the other drafts.
UNUSABLE: dict[str, str] = {"fund_fit": "no_budget"}


def unusable(feats: dict[str, float], dim: str) -> bool:
    return dim in UNUSABLE and bool(feats.get(UNUSABLE[dim], 0.0))


def anchored_rules(feats: dict[str, float], dim: str) -> frozenset[str]:
    """Rules whose findings set the level through the anchor (FF-09 for fund fit without a budget)."""
    return FEATURE_RULES.get(UNUSABLE[dim], frozenset()) if unusable(feats, dim) else frozenset()


def feature_names(dim: str) -> list[str]:
    return SCORER_FEATURES[dim]


def _cap(x: float, hi: float = 3.0) -> float:
    return float(min(x, hi))


# 适当性 criteria (RUBRIC.md): criterion → (rules whose row findings count, Chinese label for the rationale)
SUITABILITY_CRITERIA: dict[str, tuple[frozenset[str], str]] = {
    "unquantified_share": (frozenset(), "未量化（定性、模糊或空值）"),
    "unspecific_share": (frozenset({"S-06", "S-14", "S-16", "S-19"}), "表述模糊或无法考核"),
    "ambition_share": (frozenset({"S-01", "S-04", "S-05", "S-12", "S-13"}), "目标水平不当（≥100%、满意度100%或门槛过低）"),
    "operator_share": (frozenset({"S-03"}), "运算符号方向错误"),
    "unit_misfit_share": (frozenset({"S-09", "S-11"}), "计量单位与指标不符（含无单位、非比率指标用%）"),
    "untimed_share": (frozenset({"S-10", "S-17"}), "时效指标没有日期、时限或完成率"),
}
# A name that measures a rate, share or change: the only kind of indicator a percentage fits.
_RATE_LIKE = re.compile(r"率|比例|占比|比重|百分|满意|覆盖|普及|增长|增幅|降幅|下降|降低|提高|提升|减少|节约|幅度|进度|程度")


def percent_misfit(ind: NormIndicator) -> bool:
    """A percentage target on a name that is not a rate or proportion (维护社会稳定 ≥95%): the unit does not fit."""
    v = ind.value
    return v.kind == "quantitative" and v.is_percent and bool(ind.name.strip()) and not _RATE_LIKE.search(ind.name)


def suitability_rows(inp: CritiqueInput) -> dict[str, list[int]]:
    """Named rows failing each 适当性 criterion of the rubric (a row can fail several)."""
    rules: dict[int, set[str]] = {}
    for f in inp.findings:
        if f.dimension == "suitability" and f.indicator_index is not None and f.severity != "info":
            rules.setdefault(f.indicator_index, set()).add(f.rule_id)
    out: dict[str, list[int]] = {k: [] for k in SUITABILITY_CRITERIA}
    for ind in inp.indicators:
        if not ind.name.strip():
            continue
        v, rr = ind.value, rules.get(ind.index, set())
        hit = {k: bool(rr & ids) for k, (ids, _) in SUITABILITY_CRITERIA.items()}
        hit["unquantified_share"] = v.kind in {"qualitative", "vague", "unparseable", "empty"}
        hit["unspecific_share"] |= v.kind == "vague"
        hit["ambition_share"] |= v.number == 100 and v.is_percent and v.op in {">=", ">", None}
        hit["unit_misfit_share"] |= percent_misfit(ind) or (v.kind == "quantitative" and not v.unit)
        for k, b in hit.items():
            if b:
                out[k].append(ind.index)
    return out


# Which rule findings feed each scorer feature: the rationale says which listed findings lowered the score
# and which are advisory only (their features got no weight in the fitted calibration).
FEATURE_RULES: dict[str, frozenset[str]] = {
    "no_output": frozenset({"C-04"}), "no_benefit": frozenset({"C-04"}), "no_satisfaction": frozenset({"C-04"}),
    "few_indicators": frozenset({"C-09"}), "empty_share": frozenset({"C-07"}), "no_goal": frozenset({"C-02"}),
    "no_labels": frozenset({"C-16"}),
    "ungrounded_share": frozenset({"R-02"}), "goal_misfit": frozenset({"R-01"}),
    "unquantified_share": frozenset({"S-06", "S-09", "S-14", "S-16"}),
    **{k: ids for k, (ids, _) in SUITABILITY_CRITERIA.items() if ids},
    "no_budget": frozenset({"FF-09"}), "fund_unverified": frozenset({"FF-02"}), "no_cost": frozenset({"FF-06"}),
    "fund_conflict": frozenset({"FF-01", "FF-02", "FF-10", "FF-05"}),
    "core_missing": frozenset({"K-01"}), "standard_conflict": frozenset({"K-02", "K-03"}),
}


def scored_rules(feats: dict[str, float], coef: dict[str, float]) -> tuple[set[str], bool]:
    """(rules whose findings lowered this dimension's score, whether every warning counts via `n_warning`)."""
    rules: set[str] = set()
    all_warnings = False
    for name, w in coef.items():
        if not w or not feats.get(name, 0.0):
            continue
        if name == "n_warning":
            all_warnings = True
        elif name.startswith("rule_"):
            rules.add(name[5:])
        else:
            rules |= FEATURE_RULES.get(name, frozenset())
    return rules, all_warnings


RECONCILE_BAND = (0.75, 1.35)  # implied total ÷ budget counted as reconciling (fund_unverified)


def reconciles(budget: float | None, totals: list[ImpliedTotal]) -> bool:
    """Whether unit cost × quantity accounts for the budget: one product, or the sum over the cost rows that each
    have a quantity (a budget made of several components: 流转土地 475元/亩 × 60亩 + 景观 2875元/个 × 4个 + …),
    within `RECONCILE_BAND` of the budget."""
    if budget is None or budget <= 0:
        return False
    lo, hi = RECONCILE_BAND
    per_row: dict[int, float] = {}
    for t in totals:
        if t.quantity_index is None:
            continue
        if lo <= t.total_wan / budget <= hi:
            return True
        per_row.setdefault(t.cost_index, t.total_wan)
    return len(per_row) > 1 and lo <= sum(per_row.values()) / budget <= hi


def extract(inp: CritiqueInput) -> dict[str, dict[str, float]]:
    """Feature dict per dimension."""
    by_dim: dict[str, Counter[str]] = {d: Counter() for d in DIMENSION_KEYS}
    sev: dict[str, Counter[str]] = {d: Counter() for d in DIMENSION_KEYS}
    for f in inp.findings:
        by_dim[f.dimension][f.rule_id] += 1
        sev[f.dimension][f.severity] += 1
    named = [i for i in inp.indicators if i.name.strip()]
    n = max(1, len(named))
    levels = {i.level1 for i in named}
    ev = inp.evidence
    out: dict[str, dict[str, float]] = {}
    for dim in DIMENSION_KEYS:
        feats = {"n_error": _cap(sev[dim]["error"], 6), "n_warning": _cap(sev[dim]["warning"], 8)}
        for r in KEY_RULES[dim]:
            feats[f"rule_{r}"] = _cap(by_dim[dim][r])
        out[dim] = feats
    c04 = [f.message for f in inp.findings if f.rule_id == "C-04"]
    out["completeness"].update(
        no_output=float("output" not in levels and bool(named)),
        no_benefit=float(any("效益" in m for m in c04)),
        no_satisfaction=float(any("满意度" in m for m in c04)),
        few_indicators=max(0.0, 6 - len(named)) / 6,
        empty_share=sum(1 for i in inp.indicators if i.value.kind == "empty") / max(1, len(inp.indicators)),
        no_goal=float(not inp.target.annual_goal.strip()),
        no_labels=float(bool(named) and levels <= {"unknown"} or all(i.inferred for i in named)),
        no_cost=float(bool(named) and not any(i.level1 == "cost" for i in named)),  # 成本指标 is a required category
        core_missing=float(inp.evidence.knowledge.core_missing),
    )
    judged = [i for i in named if judged_for_grounding(i)]
    out["relevance"].update(
        goal_misfit=0.0 if ev.goal_fit is None else max(0.0, 0.5 - ev.goal_fit) * 2,
        ungrounded_share=len(inp.facts.ungrounded) / max(1, len(judged)),
        donor_overlap=ev.donor_overlap or 0.0,
    )
    out["suitability"].update({k: len(v) / n for k, v in suitability_rows(inp).items()})
    cost = [i for i in named if i.level1 == "cost"]
    budget = inp.target.amount_total_wan
    out["fund_fit"].update(
        no_cost=float(not cost),
        no_budget=float(inp.target.amount_total_wan is None),
        fund_unverified=float(not reconciles(budget, inp.facts.implied_totals)),
        no_quantity=float(inp.facts.main_quantity is None),
        fund_conflict=_cap(sum(by_dim["fund_fit"][r] for r in ("FF-01", "FF-02", "FF-10", "FF-05"))),
        standard_conflict=_cap(float(len(inp.evidence.knowledge.checks)), 2.0),
    )
    return out


def vector(feats: dict[str, float], dim: str, names: list[str] | None = None) -> list[float]:
    return [float(feats.get(name, 0.0)) for name in (names or feature_names(dim))]
