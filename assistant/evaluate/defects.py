"""Defect-detection benchmark: approved records with one injected, known defect.

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
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from assistant.dimensions import DIMENSION_KEYS
from assistant.models import Indicator, NormIndicator, Review, Strict, Target
from assistant.taxonomy import normalise

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
    from assistant.index_build import main_quantity

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


# --------------------------------------------------------------------------- detection


class Outcome(Strict):
    record_id: str
    defect: str
    dimension: str
    by_finding: bool
    by_drop: bool
    detected: bool
    delta_level: float
    delta_overall: int
    flagged_variant: bool
    flagged_original: bool
    new_rules: list[str] = Field(default_factory=list)


class DefectRow(Strict):
    defect: str
    dimension: str
    description: str
    n: int
    recall: float | None
    recall_finding: float | None
    recall_drop: float | None
    mean_delta_level: float | None
    flagged_variants: float | None
    false_alarm_originals: float | None  # same records, unchanged originals flagged on this dimension
    missed: list[str] = Field(default_factory=list)


class DefectReport(Strict):
    version: str = DEFECT_VERSION
    corpus: str
    corpus_version: str
    n_records: int
    seed: int
    backend: str
    scorer: str
    drop: float = DROP
    flag_level: float = FLAG_LEVEL
    rows: list[DefectRow]
    by_dimension: dict[str, dict[str, float | int | None]]
    placebo_false_alarm: dict[str, float | None]  # per dimension, relative detector on placebo rewrites
    originals_flagged: dict[str, float | None]  # per dimension, all originals
    outcomes: list[Outcome] = Field(default_factory=list)


def _rule_counts(r: Review, dim: str) -> Counter[str]:
    return Counter(f.rule_id for f in r.findings if f.dimension == dim and f.severity in ("error", "warning"))


def flagged(r: Review, dim: str) -> bool:
    return r.dimensions.get(dim).level < FLAG_LEVEL or any(
        f.dimension == dim and f.severity == "error" for f in r.findings)


def compare(original: Review, variant: Review, dim: str) -> tuple[bool, bool, float, list[str]]:
    before, after = _rule_counts(original, dim), _rule_counts(variant, dim)
    new = sorted(k for k in after if after[k] > before.get(k, 0))
    delta = variant.dimensions.get(dim).level - original.dimensions.get(dim).level
    return bool(new), delta <= -DROP + 1e-9, float(delta), new


def _mean(xs: Sequence[float | bool]) -> float | None:
    return float(sum(xs) / len(xs)) if xs else None


def run_defects(
    *,
    settings: Any,
    corpus: Path | None = None,
    seed: int = 0,
    names: Sequence[str] | None = None,
    backend: str = "offline",
    crossfit: bool = True,
    calibration_path: Path | None = None,
    eval_items: Path | None = None,
    eval_ratings: Path | None = None,
    eval_sources: Path | None = None,
    profile: str | None = None,
    record_ids: Sequence[str] | None = None,
) -> DefectReport:
    """Inject every catalogue defect into every approved record and measure detection."""
    from assistant.corpus_store import load_all
    from assistant.critique.offline import load_calibration
    from assistant.evaluate import calibrate as _cal
    from assistant.evaluate.ratings import load_item_sources, load_ratings
    from assistant.evaluate.runner import make_critic
    from assistant.pipeline import Deps, build_deps, review
    from assistant.records import read_targets

    unknown = [n for n in names or () if n not in BY_NAME]
    if unknown:
        from assistant.errors import InputError

        raise InputError(f"未知缺陷类型：{', '.join(unknown)}（可选：{', '.join(BY_NAME)}）")
    base = build_deps(settings, profile=profile, backend="offline", corpus=corpus)
    records = [r for r in load_all(settings, corpus) if r.id and r.indicators]
    ctx = DefectContext(records=records, seed=seed)  # donors come from the whole corpus
    if record_ids:
        records = [r for r in records if r.id in set(record_ids)]

    # scorer per record: leave-one-source-out when the record is the source of rated items
    cal_cache: dict[str, Any] = {}
    if crossfit and eval_items and eval_ratings and Path(eval_items).is_file() and Path(eval_ratings).is_file():
        items = read_targets(Path(eval_items))
        ratings = load_ratings(eval_ratings)
        src = {k: v.source_id for k, v in load_item_sources(eval_sources).items()} if (
            eval_sources and Path(eval_sources).is_file()) else {}
        cons = _cal.consensus_targets(ratings)
        feats = _cal.collect([t for t in items if t.id in cons], src, base)
        groups = {f.group for f in feats}

        def cal_for(rid: str) -> Any:
            key = rid if rid in groups else ""
            if key not in cal_cache:
                cal_cache[key] = _cal.fit([f for f in feats if f.group != key], cons,
                                          label=f"leave-source-out {key or 'none'}")
            return cal_cache[key]

        scorer = "cross-fitted: records that are sources of rated items use a calibration fitted without those items"
    else:
        fixed = load_calibration(calibration_path)

        def cal_for(rid: str) -> Any:
            return fixed

        scorer = f"calibration as is: {calibration_path or 'shipped'} ({fixed.fitted_on or fixed.method})"

    deps_cache: dict[int, Any] = {}

    def deps_for(rid: str) -> Any:
        cal = cal_for(rid)
        if id(cal) not in deps_cache:
            deps_cache[id(cal)] = Deps(critic=make_critic(backend, cal, settings, base), profile=base.profile,
                                       index=base.index, top_k=base.top_k)
        return deps_cache[id(cal)]

    outcomes: list[Outcome] = []
    placebo_hits: dict[str, list[bool]] = defaultdict(list)
    orig_flags: dict[str, list[bool]] = defaultdict(list)
    for rec in records:
        deps = deps_for(rec.id or "")
        excl = [rec.id or ""]
        r0 = review(rec, deps, exclude_ids=excl)
        p = placebo(rec, ctx).model_copy(update={"id": f"{rec.id}~placebo"})
        rp = review(p, deps, exclude_ids=excl)
        for d in DIMENSION_KEYS:
            f, dr, _, _ = compare(r0, rp, d)
            placebo_hits[d].append(f or dr)
            orig_flags[d].append(flagged(r0, d))
        for defect, variant in inject_all(rec, ctx, names):
            rv = review(variant, deps, exclude_ids=excl)
            f, dr, delta, new = compare(r0, rv, defect.dimension)
            outcomes.append(Outcome(record_id=rec.id or "", defect=defect.name, dimension=defect.dimension,
                                    by_finding=f, by_drop=dr, detected=f or dr, delta_level=round(delta, 3),
                                    delta_overall=rv.score - r0.score, flagged_variant=flagged(rv, defect.dimension),
                                    flagged_original=flagged(r0, defect.dimension), new_rules=new))

    rows = []
    for defect in CATALOGUE:
        if names and defect.name not in names:
            continue
        outs = [o for o in outcomes if o.defect == defect.name]
        rows.append(DefectRow(
            defect=defect.name, dimension=defect.dimension, description=defect.description, n=len(outs),
            recall=_mean([o.detected for o in outs]), recall_finding=_mean([o.by_finding for o in outs]),
            recall_drop=_mean([o.by_drop for o in outs]), mean_delta_level=_mean([o.delta_level for o in outs]),
            flagged_variants=_mean([o.flagged_variant for o in outs]),
            false_alarm_originals=_mean([o.flagged_original for o in outs]),
            missed=[o.record_id for o in outs if not o.detected]))
    by_dim: dict[str, dict[str, float | int | None]] = {}
    for d in DIMENSION_KEYS:
        outs = [o for o in outcomes if o.dimension == d]
        by_dim[d] = {"n": len(outs), "recall": _mean([o.detected for o in outs]),
                     "placebo_false_alarm": _mean(placebo_hits[d]), "originals_flagged": _mean(orig_flags[d]),
                     "variants_flagged": _mean([o.flagged_variant for o in outs])}
    return DefectReport(
        corpus=str(corpus or settings.corpus_path), corpus_version=base.index.version if base.index else "",
        n_records=len(records), seed=seed, backend=backend, scorer=scorer, rows=rows, by_dimension=by_dim,
        placebo_false_alarm={d: _mean(v) for d, v in placebo_hits.items()},
        originals_flagged={d: _mean(v) for d, v in orig_flags.items()}, outcomes=outcomes)


# --------------------------------------------------------------------------- rendering


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.0f}%"


def to_markdown(rep: DefectReport) -> str:
    out = ["# 缺陷检出基准 (defect-detection benchmark)", "",
           f"- corpus: {rep.corpus} (version {rep.corpus_version}, {rep.n_records} approved records)",
           f"- backend: {rep.backend}; scorer: {rep.scorer}",
           f"- seed: {rep.seed}; retrieval leave-one-out (a variant never retrieves its source record)",
           f"- detected = a new warning/error finding on the damaged dimension, or its level dropping by ≥ {rep.drop}",
           f"- flagged = an error-level finding on the dimension or a level below {rep.flag_level}", "",
           "| defect | dimension | description | n | recall | by finding | by score drop | mean Δlevel "
           "| variants flagged | originals flagged (false alarm) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep.rows:
        dl = "—" if r.mean_delta_level is None else f"{r.mean_delta_level:+.2f}"
        out.append(f"| {r.defect} | {r.dimension} | {r.description} | {r.n} | {_pct(r.recall)} | "
                   f"{_pct(r.recall_finding)} | {_pct(r.recall_drop)} | {dl} | {_pct(r.flagged_variants)} | "
                   f"{_pct(r.false_alarm_originals)} |")
    out += ["", "## By dimension", "",
            "| dimension | variants | recall | placebo false alarm | originals flagged | variants flagged |",
            "|---|---|---|---|---|---|"]
    for d, v in rep.by_dimension.items():
        out.append(f"| {d} | {v['n']} | {_pct(v['recall'])} | {_pct(v['placebo_false_alarm'])} | "
                   f"{_pct(v['originals_flagged'])} | {_pct(v['variants_flagged'])} |")
    out += ["", "Placebo = the original rewritten without changing its meaning (rows reordered within their "
            "category, ≥ spelled >= and back); a \"detection\" there is a false alarm of the detector. "
            "Originals flagged = unchanged approved records the screen would already flag on that dimension."]
    return "\n".join(out)


def to_text(rep: DefectReport) -> str:
    lines = [f"{'缺陷':<20}{'维度':<14}{'n':>4}{'检出率':>8}{'原件误报':>10}"]
    for r in rep.rows:
        lines.append(f"{r.defect:<20}{r.dimension:<14}{r.n:>4}{_pct(r.recall):>8}{_pct(r.false_alarm_originals):>10}")
    lines.append("安慰剂误报：" + "  ".join(f"{d}={_pct(v)}" for d, v in rep.placebo_false_alarm.items()))
    return "\n".join(lines)
