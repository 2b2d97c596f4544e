"""`assistant batch FILE`: a resumable overnight batch with a progress bar (ETA) on stderr.

Registered in the main CLI as the `batch` command; also runnable as `python -m assistant.cli.batch`.
Exit codes: 0 all reviewed, 2 bad input/config, 3 finished with bad lines or paused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.cli.errors import EXIT_PARTIAL, handle_errors
from assistant.cli.outputs import check_output, force_option


def make_deps(backend: str | None, *, profile: str | None = None, corpus: Path | None = None,
              concurrency: int | None = None) -> Any:
    from assistant.pipeline import build_deps
    from assistant.settings import load_settings

    settings = load_settings(backend=backend, max_concurrency=concurrency)
    return build_deps(settings, profile=profile, backend=backend, corpus=corpus)


def earlier_export(path: Path) -> bool:
    """Whether `path` is empty or an earlier `--out` export of a batch (the database keeps every result, so
    writing it again loses nothing: a rerun with the same --out just works)."""
    try:
        with path.open("r", encoding="utf-8") as fh:
            first = fh.readline(1 << 20)
    except (OSError, UnicodeDecodeError):
        return False
    if not first.strip():
        return path.stat().st_size == 0
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, dict) and {"job_id", "line", "status", "review"} <= row.keys()


def render_text(report: Any) -> str:
    lines = [f"批处理 {report.job_id}：{'已完成' if report.status == 'done' else '已暂停'}",
             f"  共 {report.total} 行；已入库 {report.done}；本次评审 {report.reviewed}；"
             f"跳过已完成 {report.skipped_existing}；错误 {len(report.errors)}；改用离线评审 {len(report.fallbacks)}",
             f"  用时 {report.elapsed_s:.1f} 秒；tokens {report.tokens.prompt_tokens}+{report.tokens.completion_tokens}"
             + (f"；数据库忙重试 {report.db_retries} 次" if report.db_retries else "")]
    if report.pause_reason:
        lines.append(f"  暂停原因：{report.pause_reason}")
    if report.errors:
        lines.append("错误行：")
        lines += [f"  {e.message}" for e in report.errors[:50]]
        if len(report.errors) > 50:
            lines.append(f"  ……另有 {len(report.errors) - 50} 行")
    if report.fallbacks:
        lines.append("改用离线评审的目标：")
        lines += [f"  第{f.line}行 {f.project}：{f.reason}" for f in report.fallbacks[:50]]
        if len(report.fallbacks) > 50:
            lines.append(f"  ……另有 {len(report.fallbacks) - 50} 个")
    return "\n".join(lines)


@click.command("batch")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--job", "job", default=None, help="作业名（同名作业可续跑；默认由文件路径生成）")
@click.option("--db", "db", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="结果数据库（默认 ASSISTANT_DB）")
@click.option("--backend", type=click.Choice(["offline", "openai"]), default=None)
@click.option("--profile", default=None)
@click.option("--corpus", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--concurrency", type=click.IntRange(1, 64), default=None, help="并发评审数（默认 ASSISTANT_MAX_CONCURRENCY）")
@click.option("--retry-fallbacks", is_flag=True, help="重新评审上次改用离线评审的目标")
@click.option("--pause-after-fallbacks", type=click.IntRange(1), default=None,
              help="连续这么多目标改用离线评审时暂停（模型服务故障）")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="把本作业全部结果导出为 JSONL")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@click.option("--no-progress", is_flag=True, help="不显示进度条")
@force_option
@handle_errors
def batch_command(file: Path, job: str | None, db: Path | None, backend: str | None, profile: str | None,
                  corpus: Path | None, concurrency: int | None, retry_fallbacks: bool,
                  pause_after_fallbacks: int | None, out: Path | None, fmt: str, no_progress: bool,
                  force: bool) -> None:
    """批量审核 FILE（.jsonl/.json/.xlsx），每条结果立即入库；中断后重新运行会跳过已完成的目标。"""
    from assistant.batch import export_results, run_batch
    from assistant.settings import load_settings

    settings = load_settings(backend=backend)
    db_path = db or settings.db_path
    if out is not None:  # before the run: a mistyped --out must not cost a night's work or a file
        check_output(out, force=force, inputs=[file, db_path, corpus], option="--out", may_replace=earlier_export)
    deps = make_deps(backend, profile=profile, corpus=corpus, concurrency=concurrency)
    n = concurrency or (settings.max_concurrency if (backend or settings.backend) == "openai" else 1)
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if no_progress:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="批量审核", file=sys.stderr, show_pos=True,
                                    show_eta=True, show_percent=True)
            bar.__enter__()
        bar.update(1)

    try:
        report = run_batch(file, deps=deps, db_path=db_path, job_name=job, max_concurrency=n, progress=progress,
                           retry_fallbacks=retry_fallbacks, pause_after_fallbacks=pause_after_fallbacks)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if out is not None:
        export_results(report.job_id, out, db_path=db_path)
    if fmt == "json":
        click.echo(json.dumps(report.model_dump(mode="json"), ensure_ascii=False))
    else:
        click.echo(render_text(report))
        if out is not None:
            click.echo(f"结果已导出：{out}")
    if report.errors or report.status == "paused":
        sys.exit(EXIT_PARTIAL)


if __name__ == "__main__":
    batch_command()
