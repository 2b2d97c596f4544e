"""`assistant eval …`: calibration and cross-validated agreement with reference ratings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, cast

import click

from assistant.cli.errors import handle_errors
from assistant.cli.outputs import check_output, force_option
from assistant.settings import REPO_DIR

EVALS = REPO_DIR / "evals"
Backend = Literal["offline", "openai"]




def _load(items: Path, ratings: Path, sources: Path | None):
    from assistant.evaluate.calibrate import consensus_targets
    from assistant.evaluate.ratings import load_item_sources, load_ratings
    from assistant.intake.reader import read_targets

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
@force_option
@handle_errors
def calibrate(items: Path, ratings: Path, sources: Path, folds: int, out: Path | None, fmt: str, force: bool) -> None:
    """用评分数据拟合离线评分器（分组交叉验证报告留出折上的一致性），并保存。"""
    if out is not None:
        check_output(out, force=force, inputs=[items, ratings, sources], option="--out")

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



@eval_group.command("caps")
@click.option("--items", type=click.Path(path_type=Path), default=EVALS / "items.jsonl", show_default=True)
@click.option("--ratings", type=click.Path(path_type=Path), default=EVALS / "ratings.jsonl", show_default=True)
@click.option("--sources", type=click.Path(path_type=Path), default=EVALS / "item_sources.jsonl", show_default=True)
@click.option("--profile", default=None, help="作为基础的规则配置（默认 default）")
@click.option("--profile-out", type=click.Path(path_type=Path), default=None,
              help="写出带拟合上限的规则配置 JSON（可用 eval run --profile 评估，或导入网页规则配置）")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@force_option
@handle_errors
def caps_cmd(items: Path, ratings: Path, sources: Path, profile: str | None, profile_out: Path | None, fmt: str,
             force: bool) -> None:
    """由评分拟合各条错误级规则对所属维度的上限（评分人在出现该问题的项目上给到的等级）。"""
    if profile_out is not None:
        check_output(profile_out, force=force, inputs=[items, ratings, sources], option="--profile-out")
    from assistant.evaluate import calibrate as cal
    from assistant.evaluate.caps import caps_table, fit_caps
    from assistant.evaluate.ratings import load_item_sources, load_ratings
    from assistant.intake.reader import read_targets
    from assistant.pipeline import build_deps
    from assistant.settings import load_settings

    rows_r = load_ratings(ratings)
    src = load_item_sources(sources) if sources.is_file() else {}
    rated = {r.item_id for r in rows_r}
    targets = [t for t in read_targets(items) if t.id in rated]
    deps = build_deps(load_settings(), backend="offline", profile=profile)
    feats = cal.collect(targets, {k: v.source_id for k, v in src.items()}, deps)
    cons = cal.consensus_targets(rows_r)
    table = caps_table(feats, cons)
    if profile_out is not None:
        fitted = deps.profile.model_copy(update={"name": profile_out.stem, "error_caps": fit_caps(feats, cons)})
        profile_out.write_text(fitted.model_dump_json(indent=1), encoding="utf-8")
    if fmt == "json":
        click.echo(json.dumps(table, ensure_ascii=False))
    else:
        click.echo(f"{'规则':<7}{'维度':<14}{'项目数':>5}{'评分均值':>8}{'最高':>6}{'上限':>6}  名称")
        for r in table:
            cap = "—" if r["cap"] is None else f"{r['cap']:g}"
            click.echo(f"{r['rule']:<7}{r['dimension']:<14}{r['n']:>5}{r['mean']:>8.2f}{r['max']:>6.2f}{cap:>6}  {r['title']}")
    if profile_out is not None:
        click.echo(f"已写出规则配置：{profile_out}（在这些评分上拟合，用同一批评分评估会偏乐观）", err=True)


# --------------------------------------------------------------------------- eval run / rescore / runs


def _emit(text: str, out: Path | None, label: str) -> None:
    if out is None:
        click.echo(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"{label}：{out}", err=True)


def _store():
    from assistant.evaluate.store import EvalStore
    from assistant.settings import load_settings

    return EvalStore.from_settings(load_settings())


@eval_group.command("run")
@click.argument("items", required=False, type=click.Path(path_type=Path), default=EVALS / "items.jsonl")
@click.argument("ratings", required=False, type=click.Path(path_type=Path), default=EVALS / "ratings.jsonl")
@click.option("--sources", type=click.Path(path_type=Path), default=EVALS / "item_sources.jsonl", show_default=True,
              help="item → source record (leave-one-out retrieval, cross-fit groups)")
@click.option("--backend", type=click.Choice(["offline", "openai"]), default="offline", show_default=True)
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(1, 20), help="重复运行次数（稳定性）")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--no-crossfit", is_flag=True, help="不交叉拟合，直接评估给定校准（如独立测试集）")
@click.option("--calibration", type=click.Path(path_type=Path), default=None,
              help="与 --no-crossfit 一起：要评估的校准文件（默认内置）")
@click.option("--profile", default=None, help="规则配置")
@click.option("--corpus", type=click.Path(path_type=Path), default=None, help="先例库 JSONL")
@click.option("--n-boot", default=2000, show_default=True, type=click.IntRange(0, 100000), help="bootstrap 次数")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--repeats", default=0, show_default=True, type=click.IntRange(0, 100),
              help="另按N种随机分组重复交叉拟合，报告一致性的均值、标准差和范围（稳健性）")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "html"]), default="markdown", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="报告文件（默认输出到终端）")
@click.option("--figures", "figures_dir", type=click.Path(path_type=Path), default=None, help="另存图表 PNG 的目录")
@click.option("--no-store", is_flag=True, help="不把本次运行存入数据库")
@click.option("--replay", type=click.Path(path_type=Path), default=None,
              help="已记录的模型答案 JSONL：经本机 OpenAI 兼容的回放接口走完整的 openai 后端（不调用模型）")
@click.option("--skip-bad-answers", is_flag=True,
              help="与 --replay 一起：跳过无法使用的答案行（逐行列出），这些项目改用离线评审并计入报告")
@force_option
@handle_errors
def run_cmd(items: Path, ratings: Path, sources: Path, backend: str, epochs: int, folds: int, no_crossfit: bool,
            calibration: Path | None, profile: str | None, corpus: Path | None, n_boot: int, seed: int, repeats: int,
            fmt: str, out: Path | None, figures_dir: Path | None, no_store: bool, replay: Path | None,
            skip_bad_answers: bool, force: bool) -> None:
    """用产品同一个 review() 审核已评分项目，报告与参考评分的一致性（默认交叉拟合、留一检索）。"""
    if out is not None:
        check_output(out, force=force, inputs=[items, ratings, sources, calibration, corpus, replay], option="--out")
    if replay is not None:
        from assistant.evaluate.llm_run import replay_settings
        from assistant.evaluate.replay import load_answers, serving
        from assistant.intake.reader import read_targets

        targets = {t.id: t for t in read_targets(items) if t.id}
        skipped: list[str] | None = [] if skip_bad_answers else None
        answers = load_answers(replay, targets, skipped=skipped)
        for why in skipped or []:
            click.echo(f"跳过：{why}", err=True)
        with serving(answers, targets) as server:
            click.echo(f"回放 {len(answers)} 条已记录答案：{server.base_url}", err=True)
            _run(items, ratings, sources, "openai", epochs, folds, no_crossfit, calibration, profile, corpus, n_boot,
                 seed, repeats, fmt, out, figures_dir, no_store, llm=(replay_settings, server, answers))
        return
    _run(items, ratings, sources, backend, epochs, folds, no_crossfit, calibration, profile, corpus, n_boot, seed,
         repeats, fmt, out, figures_dir, no_store, llm=None)


def _run(items: Path, ratings: Path, sources: Path, backend: str, epochs: int, folds: int, no_crossfit: bool,
         calibration: Path | None, profile: str | None, corpus: Path | None, n_boot: int, seed: int, repeats: int,
         fmt: str, out: Path | None, figures_dir: Path | None, no_store: bool, *, llm: Any) -> None:
    import sys

    from assistant.errors import InputError
    from assistant.evaluate.report import render, save_figures
    from assistant.evaluate.runner import run_eval, save_run
    from assistant.settings import load_settings

    if calibration is not None and not no_crossfit:
        raise InputError("--calibration 需与 --no-crossfit 一起使用（交叉拟合会为每折重新拟合）")
    if repeats and no_crossfit:
        raise InputError("--repeats 只用于交叉拟合（不同的分组方式）")
    settings = load_settings()
    if llm is not None:
        settings = llm[0](settings, llm[1])
    with click.progressbar(length=1, label="评估中", file=sys.stderr, show_pos=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(1)

        result = run_eval(items, ratings, sources if sources and sources.is_file() else None,
                          settings=settings, backend=cast(Backend, backend), epochs=epochs, folds=folds,
                          crossfit=not no_crossfit, calibration_path=calibration, n_boot=n_boot, seed=seed,
                          corpus=corpus, profile=profile, progress=progress)
    if repeats:
        from assistant.evaluate.splits import split_repeats
        from assistant.pipeline import build_deps

        base = build_deps(settings, profile=profile, backend="offline", corpus=corpus)
        with click.progressbar(length=repeats, label="重复分组", file=sys.stderr, show_pos=True) as bar:
            def once(split_seed: int) -> Any:
                run = run_eval(items, ratings, sources if sources and sources.is_file() else None,
                               settings=settings, backend=cast(Backend, backend), epochs=epochs, folds=folds, n_boot=0,
                               seed=seed, corpus=corpus, profile=profile, keep_reviews=False, base_deps=base,
                               split_seed=split_seed)
                bar.update(1)
                return run
            result.metrics["split_repeats"] = split_repeats(once, repeats)
    if backend == "openai":
        from assistant.evaluate.llm_run import llm_summary, ratings_means
        from assistant.evaluate.ratings import load_ratings

        server, answers = (llm[1], llm[2]) if llm is not None else (None, None)
        result.metrics["llm"] = llm_summary(result.predictions, ratings_means(load_ratings(ratings)), answers=answers,
                                            server=server)
        _warn_fallbacks(result.metrics["llm"])
    if not no_store:
        store = _store()
        try:
            save_run(result, store)
        finally:
            store.close()
        click.echo(f"已保存评估运行 #{result.id}（{store.path}）", err=True)
    if figures_dir is not None:
        for p in save_figures(result, figures_dir):
            click.echo(f"图表：{p}", err=True)
    _emit(render(result, fmt), out, "报告")



def _warn_fallbacks(summary: dict[str, Any]) -> None:
    if summary["fell_back"]:
        reasons = "；".join(f"{k}（{v}项）" for k, v in summary["fallback_reasons"].items())
        click.echo(f"注意：{summary['fell_back']}/{summary['n_reviews']} 项改用了离线评审：{reasons}", err=True)
    replay = summary.get("replay")
    if replay and replay.get("prompt_changed"):
        click.echo(f"注意：{replay['prompt_changed']} 项的提示词与记录答案时不同（答案仍反映模型对该表的判断）", err=True)


@eval_group.command("answers")
@click.argument("run_id", type=int)
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="输出 JSONL（可用于 eval run --replay）")
@force_option
@handle_errors
def answers_cmd(run_id: int, out: Path, force: bool) -> None:
    """导出一次 openai 评估运行中模型的原始答案（每项一行：item_id、prompt_sha256、answer）。"""
    from assistant.errors import InputError
    from assistant.evaluate.replay import answers_from_run

    check_output(out, force=force, option="-o")
    store = _store()
    try:
        rows = answers_from_run(store.predictions(run_id, with_review=True))
    finally:
        store.close()
    if not rows:
        raise InputError(f"评估运行 {run_id} 没有保存模型答案（只有 --backend openai 的运行才有）")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(r.model_dump_json(exclude_none=True) + "\n" for r in rows), encoding="utf-8")
    click.echo(f"已导出 {len(rows)} 条模型答案：{out}")


@eval_group.command("replay-server")
@click.argument("answers", type=click.Path(path_type=Path))
@click.option("--items", type=click.Path(path_type=Path), default=EVALS / "items.jsonl", show_default=True)
@click.option("--port", default=8799, show_default=True, type=click.IntRange(0, 65535))
@handle_errors
def replay_server_cmd(answers: Path, items: Path, port: int) -> None:
    """把已记录的模型答案作为 OpenAI 兼容接口提供（按草稿内容匹配项目），Ctrl-C 结束。"""
    import time

    from assistant.evaluate.replay import load_answers, serving
    from assistant.intake.reader import read_targets

    targets = {t.id: t for t in read_targets(items) if t.id}
    recorded = load_answers(answers, targets)
    with serving(recorded, targets, port=port) as server:
        click.echo(f"回放接口：OPENAI_BASE_URL={server.base_url} ASSISTANT_MODEL={server.model}（{len(recorded)} 条答案）")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            click.echo(f"已结束：应答 {len(server.served)} 次，无记录 {server.missing} 次", err=True)


@eval_group.command("rescore")
@click.argument("run_id", type=int)
@click.option("--ratings", type=click.Path(path_type=Path), default=None, help="改用此评分文件（默认运行时保存的评分）")
@click.option("--n-boot", default=None, type=click.IntRange(0, 100000), help="默认沿用该运行的设置")
@click.option("--save", is_flag=True, help="把重新计算的指标写回该运行")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "html"]), default="markdown", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None)
@force_option
@handle_errors
def rescore_cmd(run_id: int, ratings: Path | None, n_boot: int | None, save: bool, fmt: str, out: Path | None,
                force: bool) -> None:
    """由已保存的预测重新计算指标（不调用任何后端）。"""
    if out is not None:
        check_output(out, force=force, inputs=[ratings], option="--out")

    from assistant.evaluate.report import render
    from assistant.evaluate.runner import rescore

    store = _store()
    try:
        result = rescore(store, run_id, ratings=ratings, n_boot=n_boot)
        if save:
            store.update_metrics(run_id, result.metrics)
    finally:
        store.close()
    _emit(render(result, fmt), out, "报告")



@eval_group.command("runs")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@handle_errors
def runs_cmd(fmt: str) -> None:
    """列出已保存的评估运行。"""

    store = _store()
    try:
        rows = store.list_runs()
    finally:
        store.close()
    summary = []
    for r in rows:
        dims = r["metrics"].get("agreement", {}).get("dimensions", {})
        summary.append({
            "id": r["id"], "created": r["created"], "backend": r["backend"], "model": r["model"],
            "prompt_hash": r["prompt_hash"], "corpus_version": r["corpus_version"],
            "items": r["config"].get("items"), "epochs": r["config"].get("epochs"),
            "crossfit": r["config"].get("crossfit"), "n_predictions": r["n_predictions"],
            "qwk": {k: (v.get("qwk") if v.get("qwk") is None else round(v["qwk"], 3)) for k, v in dims.items()},
        })
    if fmt == "json":
        click.echo(json.dumps(summary, ensure_ascii=False, indent=1))
        return
    if not summary:
        click.echo("尚无评估运行（assistant eval run）")
        return
    for s in summary:
        q = " ".join(f"{k}={'—' if v is None else f'{v:.2f}'}" for k, v in s["qwk"].items())
        click.echo(f"#{s['id']:<4} {s['created']}  {s['backend']}/{s['model'] or '—'}  "
                   f"{'crossfit' if s['crossfit'] else 'as-is'}  epochs={s['epochs']}  "
                   f"n={s['n_predictions']}  corpus={s['corpus_version']}  {q}")



# --------------------------------------------------------------------------- eval defects


@eval_group.command("defects")
@click.option("--corpus", type=click.Path(path_type=Path), default=None, help="已批复记录 JSONL（默认内置先例库）")
@click.option("--defect", "names", multiple=True, help="只运行这些缺陷类型（可重复）")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--backend", type=click.Choice(["offline", "openai"]), default="offline", show_default=True)
@click.option("--items", type=click.Path(path_type=Path), default=EVALS / "items.jsonl", show_default=True,
              help="交叉拟合所用评分项目")
@click.option("--ratings", type=click.Path(path_type=Path), default=EVALS / "ratings.jsonl", show_default=True)
@click.option("--sources", type=click.Path(path_type=Path), default=EVALS / "item_sources.jsonl", show_default=True)
@click.option("--no-crossfit", is_flag=True, help="直接用给定校准（默认内置），不留源拟合")
@click.option("--calibration", type=click.Path(path_type=Path), default=None)
@click.option("--profile", default=None)
@click.option("--list", "list_only", is_flag=True, help="只列出缺陷目录")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown", "text"]), default="markdown", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None)
@force_option
@handle_errors
def defects_cmd(corpus: Path | None, names: tuple[str, ...], seed: int, backend: str, items: Path, ratings: Path,
                sources: Path, no_crossfit: bool, calibration: Path | None, profile: str | None, list_only: bool,
                fmt: str, out: Path | None, force: bool) -> None:
    """缺陷检出基准：向已批复记录注入单一已知缺陷，报告各类缺陷的检出率与原件误报率。"""
    if out is not None:
        check_output(out, force=force, inputs=[corpus, items, ratings, sources, calibration], option="--out")

    from assistant.evaluate.defect_bench import run_defects, to_markdown, to_text
    from assistant.evaluate.defects import CATALOGUE
    from assistant.settings import load_settings

    if list_only:
        for d in CATALOGUE:
            click.echo(f"{d.name:<20}{d.dimension:<14}{d.description}")
        return
    rep = run_defects(settings=load_settings(), corpus=corpus, seed=seed, names=list(names) or None,
                      backend=backend, crossfit=not no_crossfit and calibration is None,
                      calibration_path=calibration, eval_items=items, eval_ratings=ratings,
                      eval_sources=sources, profile=profile)
    if fmt == "json":
        text = rep.model_dump_json(indent=1)
    elif fmt == "text":
        text = to_text(rep)
    else:
        text = to_markdown(rep)
    _emit(text, out, "报告")

