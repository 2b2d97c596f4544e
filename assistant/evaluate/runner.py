"""`assistant eval run`: the product's own `review()` on rated items, scored against the raters.

* **Same pipeline.** Every prediction is a real `pipeline.review()` call (rules, retrieval,
  critic, report caps), with retrieval leave-one-out: an item never retrieves its own source
  record (``exclude_ids=[source_id]``).
* **Cross-fit (default).** The shipped calibration was fitted on all reference items, so scoring
  those items with it would be in-sample. The run therefore splits the rated items with
  GroupKFold by source record (an original and its defect variants share a fold), fits a
  calibration on the other folds only (`calibrate.fit`, the same code as `eval calibrate`) and
  reviews the held-out fold with ``OfflineCritic(calibration=fold_calibration)``. With the
  ``openai`` backend the fold's offline critic is the LLM critic's fallback. ``crossfit=False``
  evaluates a given calibration as is (e.g. on a separate test split).
* **Mapping to the raters' scale** (documented in evals/README.md): a dimension's model level is
  ``Review.dimensions.<dim>.level`` (1–5, after the report stage's caps); ``overall`` is
  ``Review.score`` (0–100) and the grade follows from the bands (优 ≥ 90, 良 80–89, 中 60–79,
  差 < 60). With several epochs the per-item mean across epochs is scored.
* **Stored.** Runs and predictions go to SQLite (`store.EvalStore`); `compute_metrics` is a pure
  function of the predictions and the ratings, so `rescore` reproduces the metrics exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field
from sklearn.model_selection import GroupKFold

from assistant.critique.offline import SCORER_VERSION, Calibration, OfflineCritic, load_calibration
from assistant.dimensions import DIMENSION_KEYS, grade_for
from assistant.errors import InputError
from assistant.evaluate import calibrate as _cal
from assistant.evaluate.metrics import (
    agreement_report,
    bootstrap_ci,
    consensus,
    qwk,
    qwk_1to5,
    round_consensus,
    round_half_up,
    spearman,
)
from assistant.evaluate.ratings import ItemSource, Rating, load_item_sources, load_ratings, ratings_matrix
from assistant.intake.reader import read_targets
from assistant.models import Review, Strict, Target
from assistant.pipeline import Deps, build_deps
from assistant.pipeline import review as _review
from assistant.settings import Settings

SCORE_KEYS = (*DIMENSION_KEYS, "overall")
METRICS_VERSION = "eval-metrics-1"

MAPPING = (
    "dimension level = Review.dimensions.<dim>.level (1–5, after the report stage's caps; rounded half up "
    "for κ, exact/adjacent agreement, confusion and ordinal α, used as is for Spearman and MAE); "
    "overall = Review.score (0–100); grade = bands 优 ≥ 90, 良 80–89, 中 60–79, 差 < 60; "
    "with several epochs the per-item mean across epochs is scored"
)


class FoldInfo(Strict):
    fold: int
    train_items: list[str]
    test_items: list[str]
    train_groups: list[str]
    test_groups: list[str]
    calibration: dict[str, Any]


class RunConfig(Strict):
    items: str
    ratings: str
    sources: str | None = None
    backend: Literal["offline", "openai"] = "offline"
    epochs: int = 1
    folds: int = 5
    crossfit: bool = True
    calibration: str | None = None  # path of the calibration evaluated as is (crossfit off); None = shipped
    calibration_label: str = ""
    n_boot: int = 2000
    seed: int = 0
    profile: str = "default"
    top_k: int = 5
    corpus: str = ""
    mapping: str = MAPPING
    metrics_version: str = METRICS_VERSION
    skipped_unrated: list[str] = Field(default_factory=list)
    split_seed: int | None = None  # None: GroupKFold's own grouping; else a shuffled grouping
    fold_info: list[FoldInfo] = Field(default_factory=list)
    sources_map: dict[str, dict[str, Any]] = Field(default_factory=dict)  # item → ItemSource fields
    ratings_snapshot: list[dict[str, Any]] = Field(default_factory=list)  # ratings without notes
    warnings: list[str] = Field(default_factory=list)


class Prediction(Strict):
    item_id: str
    epoch: int
    dims: dict[str, float]
    overall: float
    grade: str
    review: dict[str, Any] | None = None


class EvalRun(Strict):
    id: int | None = None
    created: str
    backend: str
    model: str | None = None
    prompt_hash: str | None = None
    corpus_version: str = ""
    config: RunConfig
    metrics: dict[str, Any]
    predictions: list[Prediction] = Field(default_factory=list)


# --------------------------------------------------------------------------- predictions


def prediction_from_review(item_id: str, epoch: int, r: Review, *, keep_review: bool = True) -> Prediction:
    """The documented mapping of a Review onto the raters' scales."""
    dims = {d: float(r.dimensions.get(d).level) for d in DIMENSION_KEYS}
    review = r.model_dump(mode="json", exclude={"indicators"}) if keep_review else None
    return Prediction(item_id=item_id, epoch=epoch, dims=dims, overall=float(r.score), grade=r.grade, review=review)


def make_critic(backend: str, calibration: Calibration, settings: Settings, deps: Deps) -> Any:
    offline = OfflineCritic(calibration=calibration)
    if backend == "offline":
        return offline
    from assistant.critique.llm_factory import make_openai_critic

    return make_openai_critic(settings, fallback=offline)


def _split(targets: Sequence[Target], groups: Sequence[str], folds: int, shuffle_seed: int | None = None
           ) -> list[tuple[list[int], list[int]]]:
    """GroupKFold by source record; `shuffle_seed` draws another grouping (for split-robustness repeats)."""
    n_groups = len(set(groups))
    if n_groups < 2:
        raise InputError("交叉拟合至少需要来自两个不同来源记录的评分项目")
    splitter = GroupKFold(n_splits=min(folds, n_groups), shuffle=shuffle_seed is not None, random_state=shuffle_seed)
    return [(list(a), list(b)) for a, b in splitter.split(list(range(len(targets))), groups=list(groups))]


class _Plan(Strict):
    """Which calibration reviews which rated items (one entry per fold, or one for a given calibration)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    folds: list[tuple[Calibration, list[int]]]
    fold_info: list[FoldInfo] = Field(default_factory=list)
    label: str
    warnings: list[str] = Field(default_factory=list)


def _crossfit_plan(rated: list[Target], source_of: dict[str, str], rating_rows: list[Rating], base: Deps,
                   folds: int, split_seed: int | None) -> _Plan:
    """GroupKFold by source record; each fold's calibration is fitted on the other folds only."""
    cons = _cal.consensus_targets(rating_rows)
    feats = _cal.collect(rated, {k: v for k, v in source_of.items() if k and v}, base)
    groups = [f.group for f in feats]
    plan = _Plan(folds=[], label="crossfit")
    for k, (train, test) in enumerate(_split(rated, groups, folds, split_seed)):
        train_feats = [feats[i] for i in train]
        cal = _cal.fit(train_feats, cons, label=f"crossfit fold {k + 1}")
        info = FoldInfo(fold=k + 1, train_items=sorted(f.item_id for f in train_feats),
                        test_items=sorted(feats[i].item_id for i in test),
                        train_groups=sorted({groups[i] for i in train}),
                        test_groups=sorted({groups[i] for i in test}), calibration=cal.model_dump())
        if set(info.train_groups) & set(info.test_groups):  # GroupKFold guarantees this; keep it checked
            raise AssertionError("cross-fit leak: a source record is on both sides of a fold")
        plan.fold_info.append(info)
        plan.folds.append((cal, list(test)))
    return plan


def _given_plan(n_items: int, calibration_path: Path | str | None, items: Path | str) -> _Plan:
    """The calibration evaluated as is (e.g. on a separate test split), with a warning when it is in-sample."""
    cal = load_calibration(Path(calibration_path) if calibration_path else None)
    plan = _Plan(folds=[(cal, list(range(n_items)))], label=cal.fitted_on or cal.method)
    if cal.method.startswith("default"):
        plan.warnings.append("no usable calibration (missing, or fitted for another feature version): "
                             "the uncalibrated default scorer is evaluated")
    elif cal.n_items and Path(items).name in (cal.fitted_on or ""):
        plan.warnings.append(f"in-sample: the calibration was fitted on {cal.fitted_on}; "
                             "these figures overstate agreement (use cross-fit)")
    return plan


def _predict(jobs: list[tuple[Target, int, Deps]], source_of: dict[str, str], *, workers: int, keep_reviews: bool,
             progress: Callable[[int, int], None] | None) -> list[Prediction]:
    """Review every (item, epoch) with its fold's critic; leave-one-out retrieval by source record."""

    def one(job: tuple[Target, int, Deps]) -> Prediction:
        t, e, d = job
        excl = [source_of[t.id]] if t.id and source_of.get(t.id) else []
        r = _review(t, d, exclude_ids=excl)
        return prediction_from_review(t.id or "", e, r, keep_review=keep_reviews)

    preds: list[Prediction] = []

    def collect(results: Iterable[Prediction]) -> None:
        for p in results:
            preds.append(p)
            if progress:
                progress(len(preds), len(jobs))

    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            collect(pool.map(one, jobs))
    else:
        collect(map(one, jobs))
    return sorted(preds, key=lambda p: (p.item_id, p.epoch))


def _rated_items(items: Path | str, ratings: Path | str, sources: Path | str | None
                 ) -> tuple[list[Target], list[str], list[Rating], dict[str, ItemSource]]:
    targets = read_targets(Path(items))
    rating_rows = load_ratings(ratings)
    src: dict[str, ItemSource] = load_item_sources(sources) if sources is not None and Path(sources).is_file() else {}
    rated_ids = {r.item_id for r in rating_rows}
    for t in targets:
        if not t.id:
            raise InputError("评估项目缺少 item_id", where=str(items))
    rated = [t for t in targets if t.id in rated_ids]
    if not rated:
        raise InputError("项目文件与评分文件没有共同的 item_id", where=f"{items} / {ratings}")
    return rated, [t.id or "" for t in targets if t.id not in rated_ids], rating_rows, src


def run_eval(
    items: Path | str,
    ratings: Path | str,
    sources: Path | str | None = None,
    *,
    settings: Settings,
    backend: Literal["offline", "openai"] = "offline",
    epochs: int = 1,
    folds: int = 5,
    crossfit: bool = True,
    calibration_path: Path | str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    corpus: Path | None = None,
    profile: str | None = None,
    keep_reviews: bool = True,
    progress: Callable[[int, int], None] | None = None,
    base_deps: Deps | None = None,
    split_seed: int | None = None,
) -> EvalRun:
    """Review every rated item with the real pipeline (cross-fitted unless told not to) and score it."""
    if epochs < 1:
        raise InputError("--epochs 至少为 1")
    rated, skipped, rating_rows, src = _rated_items(items, ratings, sources)
    source_of = {t.id or "": (src[t.id].source_id if t.id in src else "") for t in rated}
    run_settings = settings
    if backend == "openai" and epochs > 1:  # repeated epochs must not be served from the answer cache
        run_settings = settings.model_copy(update={"use_cache": False})
    # profile + precedent index; the critic is replaced per fold below
    base = base_deps or build_deps(settings, profile=profile, backend="offline", corpus=corpus)
    plan = (_crossfit_plan(rated, source_of, rating_rows, base, folds, split_seed) if crossfit
            else _given_plan(len(rated), calibration_path, items))
    if not src:
        plan.warnings.insert(0, "no item sources: retrieval excludes only the item's own id, folds group by item")
    jobs: list[tuple[Target, int, Deps]] = []
    for cal, idx in plan.folds:
        fold_deps = dataclasses.replace(base, critic=make_critic(backend, cal, run_settings, base))
        jobs += [(rated[i], e, fold_deps) for i in idx for e in range(epochs)]
    preds = _predict(jobs, source_of, workers=settings.max_concurrency if backend == "openai" else 1,
                     keep_reviews=keep_reviews, progress=progress)
    reviews = [p.review for p in preds if p.review]
    model = next((r.get("model") for r in reviews if r.get("model")), None) or (
        SCORER_VERSION if backend == "offline" else settings.model)
    prompt_hash = next((r["meta"].get("prompt_hash") for r in reviews if r["meta"].get("prompt_hash")), None)
    config = RunConfig(
        items=str(items), ratings=str(ratings), sources=str(sources) if sources else None, backend=backend,
        epochs=epochs, folds=len(plan.fold_info) if crossfit else 0, crossfit=crossfit,
        calibration=str(calibration_path) if calibration_path else None, calibration_label=plan.label,
        n_boot=n_boot, seed=seed, split_seed=split_seed, profile=base.profile.name, top_k=base.top_k,
        corpus=str(corpus or settings.corpus_path), skipped_unrated=skipped, fold_info=plan.fold_info,
        sources_map={k: v.model_dump() for k, v in src.items() if k in source_of},
        ratings_snapshot=[r.model_dump(exclude={"notes"}, exclude_none=True) for r in rating_rows],
        warnings=plan.warnings,
    )
    metrics = compute_metrics(preds, rating_rows, sources=src, n_boot=n_boot, seed=seed)
    return EvalRun(created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), backend=backend,
                   model=model, prompt_hash=prompt_hash, corpus_version=base.index.version if base.index else "",
                   config=config, metrics=metrics, predictions=preds)


# --------------------------------------------------------------------------- metrics


def _f(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def mean_predictions(preds: Sequence[Prediction | Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """{item: {dim: mean over epochs, overall: mean over epochs}}."""
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in preds:
        p = p if isinstance(p, Prediction) else Prediction.model_validate({k: v for k, v in p.items() if k != "review"})
        for d, v in p.dims.items():
            acc[p.item_id][d].append(float(v))
        acc[p.item_id]["overall"].append(float(p.overall))
    return {i: {d: float(np.mean(v)) for d, v in row.items()} for i, row in acc.items()}


def stability(preds: Sequence[Prediction], ratings: Sequence[Rating] | None = None) -> dict[str, Any] | None:
    """Repeat-run stability across epochs: per key the mean (over items) of the sample SD across
    epochs, and the share of items whose rounded level (overall: grade) is not the same in every epoch;
    plus each epoch's κ against the raters' consensus."""
    epochs = sorted({p.epoch for p in preds})
    if len(epochs) < 2:
        return None
    by_item: dict[str, dict[int, Prediction]] = defaultdict(dict)
    for p in preds:
        by_item[p.item_id][p.epoch] = p
    items = sorted(i for i, row in by_item.items() if len(row) == len(epochs))
    out: dict[str, Any] = {"epochs": len(epochs), "n_items": len(items), "per_key": {}}
    cons_by_key: dict[str, dict[str, float]] = {}
    if ratings:
        for key in SCORE_KEYS:
            ids, mats = ratings_matrix(ratings, key)
            c = consensus(mats)
            cons_by_key[key] = {i: float(v) for i, v in zip(ids, c, strict=False)}
    for key in SCORE_KEYS:
        mat = np.array([[by_item[i][e].overall if key == "overall" else by_item[i][e].dims[key] for e in epochs]
                        for i in items])
        if mat.size == 0:
            continue
        sd = mat.std(axis=1, ddof=1)
        if key == "overall":
            labels = [[grade_for(v) for v in row] for row in mat]
            changed = float(np.mean([len(set(row)) > 1 for row in labels]))
        else:
            r = round_half_up(mat)
            changed = float(np.mean((r != r[:, :1]).any(axis=1)))
        per_epoch: list[float | None] = []
        if key in cons_by_key:
            cons = np.array([cons_by_key[key].get(i, np.nan) for i in items])
            for j in range(len(epochs)):
                if key == "overall":
                    per_epoch.append(_f(qwk(mat[:, j], round_consensus(cons), min_rating=0, max_rating=100)))
                else:
                    per_epoch.append(_f(qwk_1to5(mat[:, j], round_consensus(cons))))
        out["per_key"][key] = {"mean_sd": float(sd.mean()), "max_sd": float(sd.max()),
                               "share_changed": changed, "qwk_per_epoch": per_epoch}
    return out


def model_vs_loo_consensus(pred: Mapping[str, Mapping[str, float]], ratings: Sequence[Rating], *,
                           n_boot: int, seed: int) -> dict[str, Any]:
    """Apples-to-apples with the rater baseline: for each rater r, the model against the rounded mean
    of the raters other than r (the same consensus rater r is scored against), and each rater's
    baseline κ with a bootstrap CI (resampling items)."""
    out: dict[str, Any] = {}
    for key in SCORE_KEYS:
        ids, mats = ratings_matrix(ratings, key)
        model = np.array([pred.get(i, {}).get(key, np.nan) for i in ids], dtype=float)
        keep = ~np.isnan(model)
        if not keep.any():
            continue
        model = model[keep]
        mats = {r: v[keep] for r, v in mats.items()}

        def kappa(a: Any, b: Any, key: str = key) -> float:
            return qwk(a, b, min_rating=0, max_rating=100) if key == "overall" else qwk_1to5(a, b)

        row: dict[str, Any] = {"model_qwk": {}, "model_spearman": {}, "rater_qwk": {}, "rater_qwk_ci": {},
                               "model_qwk_ci": {}}
        for r, vals in mats.items():
            others = {o: v for o, v in mats.items() if o != r}
            if not others:
                continue
            ref = consensus(others)
            ref_r = round_consensus(ref)
            row["model_qwk"][r] = _f(kappa(model, ref_r))
            row["model_spearman"][r] = _f(spearman(model, ref))
            row["rater_qwk"][r] = _f(kappa(vals, ref_r))
            lo, hi = bootstrap_ci(kappa, vals, ref_r, n=n_boot, seed=seed)
            row["rater_qwk_ci"][r] = [_f(lo), _f(hi)]
            lo, hi = bootstrap_ci(kappa, model, ref_r, n=n_boot, seed=seed)
            row["model_qwk_ci"][r] = [_f(lo), _f(hi)]
        out[key] = row
    return out


def by_defect(pred: Mapping[str, Mapping[str, float]], ratings: Sequence[Rating],
              sources: Mapping[str, ItemSource | Mapping[str, Any]]) -> dict[str, Any]:
    """Per defect kind in the rated set: the damaged dimension's mean consensus and mean model level."""
    srcs = {k: (v if isinstance(v, ItemSource) else ItemSource.model_validate(v)) for k, v in sources.items()}
    cons: dict[str, dict[str, float]] = {}
    for key in DIMENSION_KEYS:
        ids, mats = ratings_matrix(ratings, key)
        for i, v in zip(ids, consensus(mats), strict=False):
            cons.setdefault(i, {})[key] = float(v)
    groups: dict[str, list[str]] = defaultdict(list)
    for item, s in srcs.items():
        if item in pred:
            groups[s.defect or "original"].append(item)
    out = {}
    for defect, items in sorted(groups.items()):
        dim = next((srcs[i].dimension for i in items if srcs[i].dimension), None)
        dims = [dim] if dim else list(DIMENSION_KEYS)
        c = [np.mean([cons[i][d] for d in dims]) for i in items if i in cons]
        m = [np.mean([pred[i][d] for d in dims]) for i in items]
        out[defect] = {"n": len(items), "dimension": dim, "consensus_mean": _f(float(np.mean(c))) if c else None,
                       "model_mean": _f(float(np.mean(m))),
                       "mae": _f(float(np.mean([abs(a - b) for a, b in zip(m, c, strict=False)]))) if c else None}
    return out


def compute_metrics(preds: Sequence[Prediction | Mapping[str, Any]], ratings: Sequence[Rating | Mapping[str, Any]],
                    *, sources: Mapping[str, Any] | None = None, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Everything the reports show, as a pure function of the stored predictions and the ratings."""
    rows = [r if isinstance(r, Rating) else Rating.model_validate(r) for r in ratings]
    plist = [p if isinstance(p, Prediction) else
             Prediction.model_validate({k: v for k, v in p.items() if k != "review"}) for p in preds]
    pred = mean_predictions(plist)
    report = agreement_report(pred, rows, n_boot=n_boot, seed=seed)
    return {
        "metrics_version": METRICS_VERSION,
        "n_predictions": len(plist),
        "epochs": len({p.epoch for p in plist}),
        "agreement": report.model_dump(),
        "loo_consensus": model_vs_loo_consensus(pred, rows, n_boot=n_boot, seed=seed),
        "stability": stability(plist, rows),
        "by_defect": by_defect(pred, rows, sources) if sources else {},
    }


# --------------------------------------------------------------------------- storage


def save_run(run: EvalRun, store: Any) -> int:
    run.id = store.save_run(
        backend=run.backend, model=run.model, prompt_hash=run.prompt_hash, corpus_version=run.corpus_version,
        config=run.config.model_dump(), metrics=run.metrics, predictions=[p.model_dump() for p in run.predictions],
        created=run.created)
    return run.id


def load_run(store: Any, run_id: int, *, with_reviews: bool = False) -> EvalRun:
    row = store.get_run(run_id)
    preds = [Prediction.model_validate(p) for p in store.predictions(run_id, with_review=with_reviews)]
    return EvalRun(id=row["id"], created=row["created"], backend=row["backend"], model=row["model"] or None,
                   prompt_hash=row["prompt_hash"] or None, corpus_version=row["corpus_version"] or "",
                   config=RunConfig.model_validate(row["config"]), metrics=row["metrics"], predictions=preds)


def rescore(store: Any, run_id: int, *, ratings: Path | str | None = None, n_boot: int | None = None,
            seed: int | None = None) -> EvalRun:
    """Recompute a stored run's metrics from its stored predictions; no backend is called.

    By default against the ratings snapshot stored with the run; ``ratings`` scores the same
    predictions against another file (e.g. a panel's own ratings)."""
    run = load_run(store, run_id)
    rows: list[Any] = load_ratings(ratings) if ratings else run.config.ratings_snapshot
    if not rows:
        raise InputError(f"评估运行 {run_id} 没有保存评分，请用 --ratings 指定评分文件")
    run.metrics = compute_metrics(run.predictions, rows, sources=run.config.sources_map,
                                  n_boot=run.config.n_boot if n_boot is None else n_boot,
                                  seed=run.config.seed if seed is None else seed)
    return run
