"""`assistant eval …`: calibration and cross-validated agreement with reference ratings."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assistant.settings import REPO_DIR

EVALS = REPO_DIR / "evals"


def _handle(fn):  # late import avoids a cycle with assistant.cli
    from assistant.cli import handle_errors

    return handle_errors(fn)


def _load(items: Path, ratings: Path, sources: Path | None):
    from assistant.evaluate.calibrate import consensus_targets
    from assistant.evaluate.ratings import load_item_sources, load_ratings
    from assistant.records import read_targets

    targets = read_targets(items)
    src = {}
    if sources is not None and sources.is_file():
        src = {k: v.source_id for k, v in load_item_sources(sources).items()}
    ratings_list = load_ratings(ratings)
    return targets, src, ratings_list, consensus_targets(ratings_list)


@click.group("eval")
def eval_group() -> None:
    """评估：与参考评分的一致性、校准。"""


@eval_group.command("calibrate")
@click.option("--items", type=click.Path(path_type=Path), default=EVALS / "items.jsonl", show_default=True)
@click.option("--ratings", type=click.Path(path_type=Path), default=EVALS / "ratings.jsonl", show_default=True)
@click.option("--sources", type=click.Path(path_type=Path), default=EVALS / "item_sources.jsonl", show_default=True)
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="校准文件（默认 assistant/data/calibration.json）")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
def calibrate(items: Path, ratings: Path, sources: Path, folds: int, out: Path | None, fmt: str) -> None:
    """用评分数据拟合离线评分器（分组交叉验证报告留出折上的一致性），并保存。"""

    @_handle
    def run() -> None:
        from assistant.critique.offline import save_calibration
        from assistant.evaluate.calibrate import collect, cross_validate, fit
        from assistant.pipeline import build_deps
        from assistant.settings import load_settings

        targets, src, _, consensus = _load(items, ratings, sources)
        deps = build_deps(load_settings())
        feats = collect(targets, src, deps)
        cv = cross_validate(feats, consensus, folds=folds)
        cal = fit(feats, consensus, label=f"{items.name}+{ratings.name}")
        cal.cv = cv.metrics
        path = save_calibration(cal, out)
        if fmt == "json":
            click.echo(json.dumps({"path": str(path), "cv": cv.metrics}, ensure_ascii=False))
            return
        click.echo(f"已保存校准：{path}（{len(feats)}项，{cv.folds}折分组交叉验证）")
        click.echo(f"{'维度':<14}{'校准前QWK':>10}{'校准后QWK':>10}{'校准后Spearman':>16}")
        from assistant.dimensions import DIMENSION_KEYS

        for d in DIMENSION_KEYS:
            before, after = cv.metrics[f"default.{d}"], cv.metrics[f"calibrated.{d}"]
            click.echo(f"{d:<14}{before['qwk']:>10.3f}{after['qwk']:>10.3f}{after['spearman']:>16.3f}")

    run()
