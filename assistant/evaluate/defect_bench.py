"""Running the defect-detection benchmark (`assistant eval defects`) and rendering its report.

The injectors and the benchmark's definitions (detected, placebo, flagged) are in `defects.py`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from assistant.dimensions import DIMENSION_KEYS
from assistant.errors import InputError
from assistant.evaluate.defects import (
    BY_NAME,
    CATALOGUE,
    DEFECT_VERSION,
    DROP,
    FLAG_LEVEL,
    DefectContext,
    inject_all,
    placebo,
)
from assistant.models import Review, Strict, Target

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


def _calibration_for(settings: Any, base: Any, *, crossfit: bool, calibration_path: Path | None,
                     eval_items: Path | None, eval_ratings: Path | None, eval_sources: Path | None
                     ) -> tuple[Callable[[str], Any], str]:
    """(record id → the calibration that scores it, description). Cross-fitted: a record that is the source of
    rated items is scored with a calibration fitted without those items."""
    from assistant.critique.offline import load_calibration
    from assistant.evaluate import calibrate as _cal
    from assistant.evaluate.ratings import load_item_sources, load_ratings
    from assistant.intake.reader import read_targets

    if not (crossfit and eval_items and eval_ratings and Path(eval_items).is_file() and Path(eval_ratings).is_file()):
        fixed = load_calibration(calibration_path)
        return (lambda rid: fixed), f"calibration as is: {calibration_path or 'shipped'} ({fixed.fitted_on or fixed.method})"
    items = read_targets(Path(eval_items))
    ratings = load_ratings(eval_ratings)
    src = {k: v.source_id for k, v in load_item_sources(eval_sources).items()} if (
        eval_sources and Path(eval_sources).is_file()) else {}
    cons = _cal.consensus_targets(ratings)
    feats = _cal.collect([t for t in items if t.id in cons], src, base)
    groups = {f.group for f in feats}
    cache: dict[str, Any] = {}

    def cal_for(rid: str) -> Any:
        key = rid if rid in groups else ""
        if key not in cache:
            cache[key] = _cal.fit([f for f in feats if f.group != key], cons, label=f"leave-source-out {key or 'none'}")
        return cache[key]

    return cal_for, "cross-fitted: records that are sources of rated items use a calibration fitted without those items"


def _record_outcomes(rec: Target, deps: Any, ctx: DefectContext, names: Sequence[str] | None,
                     placebo_hits: dict[str, list[bool]], orig_flags: dict[str, list[bool]]) -> list[Outcome]:
    """The original, its placebo rewrite and every injected defect of one record, reviewed and compared."""
    from assistant.pipeline import review

    excl = [rec.id or ""]
    r0 = review(rec, deps, exclude_ids=excl)
    p = placebo(rec, ctx).model_copy(update={"id": f"{rec.id}~placebo"})
    rp = review(p, deps, exclude_ids=excl)
    for d in DIMENSION_KEYS:
        f, dr, _, _ = compare(r0, rp, d)
        placebo_hits[d].append(f or dr)
        orig_flags[d].append(flagged(r0, d))
    out = []
    for defect, variant in inject_all(rec, ctx, names):
        rv = review(variant, deps, exclude_ids=excl)
        f, dr, delta, new = compare(r0, rv, defect.dimension)
        out.append(Outcome(record_id=rec.id or "", defect=defect.name, dimension=defect.dimension,
                           by_finding=f, by_drop=dr, detected=f or dr, delta_level=round(delta, 3),
                           delta_overall=rv.score - r0.score, flagged_variant=flagged(rv, defect.dimension),
                           flagged_original=flagged(r0, defect.dimension), new_rules=new))
    return out


def _rows(outcomes: list[Outcome], names: Sequence[str] | None) -> list[DefectRow]:
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
    return rows


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
    from assistant.evaluate.runner import make_critic
    from assistant.pipeline import build_deps
    from assistant.retrieve.corpus import load_all

    unknown = [n for n in names or () if n not in BY_NAME]
    if unknown:
        raise InputError(f"未知缺陷类型：{', '.join(unknown)}（可选：{', '.join(BY_NAME)}）")
    base = build_deps(settings, profile=profile, backend="offline", corpus=corpus)
    records = [r for r in load_all(settings, corpus) if r.id and r.indicators]
    ctx = DefectContext(records=records, seed=seed)  # donors come from the whole corpus
    if record_ids:
        records = [r for r in records if r.id in set(record_ids)]
    cal_for, scorer = _calibration_for(settings, base, crossfit=crossfit, calibration_path=calibration_path,
                                       eval_items=eval_items, eval_ratings=eval_ratings, eval_sources=eval_sources)
    deps_cache: dict[int, Any] = {}

    def deps_for(rid: str) -> Any:
        cal = cal_for(rid)
        if id(cal) not in deps_cache:
            deps_cache[id(cal)] = dataclasses.replace(base, critic=make_critic(backend, cal, settings, base))
        return deps_cache[id(cal)]

    outcomes: list[Outcome] = []
    placebo_hits: dict[str, list[bool]] = defaultdict(list)
    orig_flags: dict[str, list[bool]] = defaultdict(list)
    for rec in records:
        outcomes += _record_outcomes(rec, deps_for(rec.id or ""), ctx, names, placebo_hits, orig_flags)
    by_dim: dict[str, dict[str, float | int | None]] = {}
    for d in DIMENSION_KEYS:
        outs = [o for o in outcomes if o.dimension == d]
        by_dim[d] = {"n": len(outs), "recall": _mean([o.detected for o in outs]),
                     "placebo_false_alarm": _mean(placebo_hits[d]), "originals_flagged": _mean(orig_flags[d]),
                     "variants_flagged": _mean([o.flagged_variant for o in outs])}
    return DefectReport(
        corpus=str(corpus or settings.corpus_path), corpus_version=base.index.version if base.index else "",
        n_records=len(records), seed=seed, backend=backend, scorer=scorer, rows=_rows(outcomes, names),
        by_dimension=by_dim, placebo_false_alarm={d: _mean(v) for d, v in placebo_hits.items()},
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
