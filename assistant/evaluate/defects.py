"""Defect-detection benchmark: approved records with one injected, known defect (the injectors;
`defect_bench.py` runs them through `review()` and reports).

Each injector is a pure function ``(target, ctx) -> Target | None`` (None: the defect does not apply
to this record, e.g. no satisfaction indicator to remove), labelled with the rubric dimension it
damages (evals/RUBRIC.md). "Foreign" defects take another record's content, picked
deterministically from the corpus by ``ctx.seed``.

For each record and applicable defect the variant and the original are reviewed with the product's
`review()`, retrieval leave-one-out (neither retrieves the source record). A defect is
**detected** when the variant shows a new warning/error finding on the damaged dimension (a rule
firing more often than on the original) or the damaged dimension's level drops by at least
``DROP`` (0.5 on the 1–5 scale). **False alarms** are counted two ways on unchanged originals:

* *placebo*: the same relative test on a meaning-preserving rewrite of the original (indicator
  rows reversed within their category, ≥/>= spelled the other way): any "detection" there is a
  false alarm of the detector itself;
* *flagged originals*: the share of unchanged approved originals that already carry an
  error-level finding on the dimension or a level below 2.5 (rounds to 2, "serious problems"),
  beside the same share among the variants.

The scorer is cross-fitted like `eval run`: a record that is the source of reference-rated items is
reviewed with a calibration fitted without those items (leave-one-source-out).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.intake.taxonomy import normalise
from assistant.models import Indicator, NormIndicator, Target
from assistant.retrieve.build import main_quantity

DROP = 0.5
FLAG_LEVEL = 2.5
VAGUE = ("有所提高", "进一步提升", "明显改善", "逐步完善", "有效促进")
DEFECT_VERSION = "defects-1"


@dataclass
class DefectContext:
    """What injectors may use besides the target: the corpus (for foreign content) and a seed."""

    records: Sequence[Target] = ()
    seed: int = 0
    _cache: dict[str, Any] = field(default_factory=dict)

    def rng(self, target: Target, defect: str) -> random.Random:
        return random.Random(f"{self.seed}|{defect}|{target.id or target.project_name}")

    def donor(self, target: Target, defect: str, *, need: Callable[[Target], bool] = lambda t: True) -> Target | None:
        """Another record (different id and project name, different sector where both are known)."""
        cands = [r for r in sorted(self.records, key=lambda r: r.id or r.project_name)
                 if r.id != target.id and r.project_name != target.project_name and need(r)]
        far = [r for r in cands if not (r.sector and target.sector and r.sector == target.sector)]
        pool = far or cands
        return self.rng(target, defect).choice(pool) if pool else None


Injector = Callable[[Target, DefectContext], Target | None]


@dataclass(frozen=True)
class Defect:
    name: str
    dimension: str
    description: str
    inject: Injector


# --------------------------------------------------------------------------- helpers


def _norm(t: Target) -> list[NormIndicator]:
    return normalise(t)


def _rows(t: Target, pred: Callable[[NormIndicator], bool]) -> list[int]:
    return sorted({n.index for n in _norm(t) if pred(n)})


def _drop(t: Target, rows: Sequence[int]) -> Target | None:
    if not rows:
        return None
    keep = [ind for i, ind in enumerate(t.indicators) if i not in set(rows)]
    return t.model_copy(update={"indicators": keep}, deep=True)


def _replace(t: Target, changes: dict[int, Indicator]) -> Target | None:
    if not changes:
        return None
    inds = [changes.get(i, ind) for i, ind in enumerate(t.indicators)]
    if inds == list(t.indicators):
        return None
    return t.model_copy(update={"indicators": inds}, deep=True)


def _set_value(ind: Indicator, value: str) -> Indicator:
    return ind.model_copy(update={"value": value, "operator": "", "unit": ""})


def _scale_amounts(t: Target, factor: float) -> Target | None:
    if not t.amount_total_wan:
        return None
    upd: dict[str, Any] = {"amount_total_wan": round(t.amount_total_wan * factor, 4)}
    for k in ("amount_fiscal_wan", "amount_other_wan"):
        v = getattr(t, k)
        if v is not None:
            upd[k] = round(v * factor, 4)
    return t.model_copy(update=upd, deep=True)


# --------------------------------------------------------------------------- injectors


def no_satisfaction(t: Target, ctx: DefectContext) -> Target | None:
    return _drop(t, _rows(t, lambda n: n.level1 == "satisfaction"))


def no_benefit(t: Target, ctx: DefectContext) -> Target | None:
    return _drop(t, _rows(t, lambda n: n.level1 == "benefit"))


def no_cost(t: Target, ctx: DefectContext) -> Target | None:
    return _drop(t, _rows(t, lambda n: n.level1 == "cost"))


def no_annual_goal(t: Target, ctx: DefectContext) -> Target | None:
    if not t.annual_goal.strip():
        return None
    return t.model_copy(update={"annual_goal": ""}, deep=True)


def blank_values(t: Target, ctx: DefectContext) -> Target | None:
    rows = [i for i, ind in enumerate(t.indicators) if ind.value.strip()]
    if len(rows) < 2:
        return None
    pick = ctx.rng(t, "blank_values").sample(rows, k=max(1, len(rows) // 2))
    return _replace(t, {i: _set_value(t.indicators[i], "") for i in pick})


def foreign_indicators(t: Target, ctx: DefectContext) -> Target | None:
    """The output (产出) rows replaced by another project's output rows."""
    mine = _rows(t, lambda n: n.level1 == "output")
    if not mine:
        return None
    donor = ctx.donor(t, "foreign_indicators", need=lambda r: any(n.level1 == "output" for n in _norm(r)))
    if donor is None:
        return None
    theirs = [donor.indicators[i] for i in _rows(donor, lambda n: n.level1 == "output")]
    inds = [ind for i, ind in enumerate(t.indicators) if i not in set(mine)]
    at = min(mine)
    inds[at:at] = [ind.model_copy(deep=True) for ind in theirs]
    return t.model_copy(update={"indicators": inds}, deep=True)


def foreign_goal(t: Target, ctx: DefectContext) -> Target | None:
    donor = ctx.donor(t, "foreign_goal", need=lambda r: len(r.annual_goal.strip()) >= 8)
    if donor is None or donor.annual_goal == t.annual_goal:
        return None
    return t.model_copy(update={"annual_goal": donor.annual_goal}, deep=True)


def vague_values(t: Target, ctx: DefectContext) -> Target | None:
    rows = _rows(t, lambda n: n.level1 == "output" and n.value.kind in ("quantitative", "duration", "deadline"))
    return _replace(t, {i: _set_value(t.indicators[i], VAGUE[k % len(VAGUE)]) for k, i in enumerate(rows)})


def satisfaction_100(t: Target, ctx: DefectContext) -> Target | None:
    rows = _rows(t, lambda n: n.level1 == "satisfaction")
    return _replace(t, {i: _set_value(t.indicators[i], "100%") for i in rows})


def low_quality_bar(t: Target, ctx: DefectContext) -> Target | None:
    rows = _rows(t, lambda n: n.level2 == "quality")
    return _replace(t, {i: _set_value(t.indicators[i], "≥50%") for i in rows})


_GE = re.compile(r"^\s*(≥|>=|＞=|>|＞|大于等于|不低于)")


def reversed_operator(t: Target, ctx: DefectContext) -> Target | None:
    """≥ turned into ≤ on the quantity and quality targets (operators pointing the wrong way)."""
    rows = _rows(t, lambda n: n.level2 in ("quantity", "quality") and n.value.op in (">=", ">"))
    changes = {}
    for i in rows:
        ind = t.indicators[i]
        if ind.operator:
            changes[i] = ind.model_copy(update={"operator": "≤"})
        elif _GE.match(ind.value):
            changes[i] = ind.model_copy(update={"value": _GE.sub("≤", ind.value, count=1)})
    return _replace(t, changes)


def budget_x10(t: Target, ctx: DefectContext) -> Target | None:
    return _scale_amounts(t, 10.0)


def budget_div10(t: Target, ctx: DefectContext) -> Target | None:
    return _scale_amounts(t, 0.1)


def cost_over_budget(t: Target, ctx: DefectContext) -> Target | None:
    """A total-cost indicator three times the budget."""
    if not t.amount_total_wan:
        return None
    cost_rows = _rows(t, lambda n: n.level1 == "cost")
    if cost_rows:
        ref = t.indicators[cost_rows[0]]
        l1, l2 = ref.level1, ref.level2
    else:
        l1, l2 = "成本指标", "经济成本指标"
    new = Indicator(level1=l1, level2=l2, name="项目总成本", value=f"≤{t.amount_total_wan * 3:g}万元")
    at = (max(cost_rows) + 1) if cost_rows else len(t.indicators)
    inds = list(t.indicators)
    inds.insert(at, new)
    return t.model_copy(update={"indicators": inds}, deep=True)


def output_x100(t: Target, ctx: DefectContext) -> Target | None:
    """The main quantity target ×100: outputs far too large for the money."""
    q = main_quantity(_norm(t))
    if q is None or q.value.number is None:
        return None
    ind = t.indicators[q.index]
    num = q.value.number
    text = f"{num:g}"
    src = ind.value
    m = re.search(re.escape(text) if text in src else r"\d+(?:\.\d+)?", src)
    if not m:
        return None
    new_value = src[: m.start()] + f"{num * 100:g}" + src[m.end():]
    return _replace(t, {q.index: ind.model_copy(update={"value": new_value})})


def strip_units(t: Target, ctx: DefectContext) -> Target | None:
    """Units removed from the count/quantity targets (≥20平方米 → ≥20)."""
    rows = _rows(t, lambda n: n.level2 == "quantity" and n.value.kind == "quantitative" and bool(n.value.unit)
                 and n.value.unit != "%")
    changes = {}
    for i in rows:
        ind = t.indicators[i]
        m = re.match(r"^(\s*[^\d]*\d+(?:\.\d+)?)", ind.value)
        if m and m.group(1) != ind.value:
            changes[i] = ind.model_copy(update={"value": m.group(1), "unit": ""})
    return _replace(t, changes)


CATALOGUE: tuple[Defect, ...] = (
    Defect("no_satisfaction", "completeness", "满意度指标全部删除", no_satisfaction),
    Defect("no_benefit", "completeness", "效益指标全部删除", no_benefit),
    Defect("no_cost", "completeness", "成本指标全部删除", no_cost),
    Defect("no_annual_goal", "completeness", "年度目标删除", no_annual_goal),
    Defect("blank_values", "completeness", "一半指标的指标值清空", blank_values),
    Defect("strip_units", "completeness", "数量指标去掉计量单位", strip_units),
    Defect("foreign_indicators", "relevance", "产出指标换成另一项目的产出指标", foreign_indicators),
    Defect("foreign_goal", "relevance", "年度目标换成另一项目的目标", foreign_goal),
    Defect("vague_values", "suitability", "产出指标值改为“有所提高”等模糊表述", vague_values),
    Defect("satisfaction_100", "suitability", "满意度目标设为100%", satisfaction_100),
    Defect("low_quality_bar", "suitability", "质量指标目标降为≥50%", low_quality_bar),
    Defect("reversed_operator", "suitability", "数量/质量指标≥改为≤", reversed_operator),
    Defect("budget_x10", "fund_fit", "预算金额×10", budget_x10),
    Defect("budget_div10", "fund_fit", "预算金额÷10", budget_div10),
    Defect("cost_over_budget", "fund_fit", "新增高于预算总额的总成本指标（3倍）", cost_over_budget),
    Defect("output_x100", "fund_fit", "主要数量指标×100", output_x100),
)
BY_NAME = {d.name: d for d in CATALOGUE}


def placebo(t: Target, ctx: DefectContext) -> Target:
    """A meaning-preserving rewrite: rows reversed within each category, ≥ and >= swapped."""
    norm = {n.index: n.level1 for n in _norm(t)}
    order: dict[str, list[int]] = defaultdict(list)
    for i in range(len(t.indicators)):
        order[norm.get(i, "unknown")].append(i)
    seen: list[str] = []
    for i in range(len(t.indicators)):
        cat = norm.get(i, "unknown")
        if cat not in seen:
            seen.append(cat)
    new_order = [i for cat in seen for i in reversed(order[cat])]

    def swap(v: str) -> str:
        if v.startswith("≥"):
            return ">=" + v[1:]
        if v.startswith(">="):
            return "≥" + v[2:]
        if v.startswith("≤"):
            return "<=" + v[1:]
        if v.startswith("<="):
            return "≤" + v[2:]
        return v

    inds = [t.indicators[i].model_copy(update={"value": swap(t.indicators[i].value)}) for i in new_order]
    return t.model_copy(update={"indicators": inds}, deep=True)


def inject_all(t: Target, ctx: DefectContext, names: Sequence[str] | None = None) -> list[tuple[Defect, Target]]:
    out = []
    for d in CATALOGUE:
        if names and d.name not in names:
            continue
        v = d.inject(t, ctx)
        if v is not None:
            out.append((d, v.model_copy(update={"id": f"{t.id}~{d.name}"})))
    return out
