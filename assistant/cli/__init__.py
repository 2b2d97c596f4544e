"""Command line: `assistant review | rules | profiles | corpus … | eval … | template | serve`.

Errors from the AssistantError hierarchy are translated here, once: a Chinese message on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.cli.errors import EXIT_INPUT, EXIT_PARTIAL, handle_errors
from assistant.cli.outputs import check_output, force_option
from assistant.errors import AssistantError, InputError


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


@click.group()
@click.version_option(package_name="performance-target-assistant")
def main() -> None:
    """绩效目标审核助手：规则预审 + 先例检索 + 评审（离线或大模型）。"""


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="markdown", show_default=True)
@click.option("--profile", default=None, help="规则配置：default / central101 / xinjiang 或 JSON 文件")
@click.option("--backend", type=click.Choice(["offline", "openai"]), default=None, help="默认取 ASSISTANT_BACKEND，否则 offline")
@click.option("--corpus", type=click.Path(path_type=Path), default=None, help="先例库 JSONL（默认内置语料 + 已导入）")
@click.option("--no-cache", is_flag=True, help="不使用大模型结果缓存")
@click.option("--export", "export_path", type=click.Path(path_type=Path), default=None, help="导出审核意见表 .docx / .xlsx")
@force_option
@handle_errors
def review(file: Path, fmt: str, profile: str | None, backend: str | None, corpus: Path | None, no_cache: bool,
           export_path: Path | None, force: bool) -> None:
    """审核绩效目标表（.json / .jsonl 批量 / .xlsx）。"""
    from assistant.intake.reader import read_source
    from assistant.pipeline import build_deps
    from assistant.pipeline import review as run_review
    from assistant.report.export import check_export_path
    from assistant.report.markdown import to_markdown
    from assistant.settings import load_settings

    if export_path is not None:
        check_export_path(export_path)
        check_output(export_path, force=force, inputs=[file], option="--export")
    settings = load_settings(use_cache=False if no_cache else None)
    numbered = read_source(file)
    if len(numbered) == 1 and isinstance(numbered[0].item, AssistantError):
        raise numbered[0].item
    items = [it.item for it in numbered]
    deps = build_deps(settings, profile=profile, backend=backend, corpus=corpus)
    reviews, failures = [], 0
    batch = len(items) > 1
    bar = click.progressbar(items, label="审核中", file=sys.stderr, show_pos=True, show_eta=True) if batch else None
    iterable = bar if bar is not None else items
    with bar if bar is not None else _nullcontext():
        for item in iterable:
            if isinstance(item, AssistantError):
                failures += 1
                click.echo(f"\n跳过：{item}", err=True)
                if fmt == "json":
                    _echo_json({"error": item.message, "where": item.where, "line": getattr(item, "line", None)})
                continue
            r = run_review(item, deps)
            reviews.append(r)
            if fmt == "json":
                _echo_json(public_json(r))
            else:
                click.echo(to_markdown(r))
    if export_path is not None and reviews:
        from assistant.report.export import write_export

        write_export(reviews, export_path)
        click.echo(f"已导出：{export_path}", err=True)
    if batch:
        tokens = sum(r.meta.usage.prompt_tokens + r.meta.usage.completion_tokens for r in reviews)
        click.echo(f"完成 {len(reviews)} 项，失败 {failures} 项" + (f"，消耗 tokens {tokens}" if tokens else ""), err=True)
    if failures:
        sys.exit(EXIT_PARTIAL if reviews else EXIT_INPUT)


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def public_json(r: Any) -> dict[str, Any]:
    """The CLI's JSON contract for one review (see README)."""
    data = r.model_dump(mode="json", exclude={"target", "indicators"})
    data["dimensions"] = {k: v for k, v in data["dimensions"].items()}
    return data


@main.command()
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="markdown", show_default=True)
@click.option("--profile", default="default", show_default=True)
@handle_errors
def rules(fmt: str, profile: str) -> None:
    """列出规则目录。"""
    from assistant.rules.catalogue import RULES
    from assistant.rules.profiles import load_profile

    prof = load_profile(profile)
    rows = [{"id": r.id, "dimension": r.dimension, "severity": prof.severity_overrides.get(r.id, r.severity),
             "title": r.title, "fix": r.fix, "source": r.source} for r in RULES.values() if r.id not in prof.disabled]
    if fmt == "json":
        _echo_json(rows)
        return
    from assistant.dimensions import DIMENSIONS

    click.echo(f"规则配置：{prof.name}（{prof.title}），共{len(rows)}条\n")
    for r in rows:
        click.echo(f"{r['id']:<6} {DIMENSIONS[r['dimension']]:<5} {r['severity']:<7} {r['title']}")


@main.command()
@handle_errors
def profiles() -> None:
    """列出可用的规则配置。"""
    from assistant.rules.profiles import available_profiles, load_profile

    for name in available_profiles():
        p = load_profile(name)
        click.echo(f"{name:<12} {p.title}")


@main.group()
def corpus() -> None:
    """先例库：检索与导入已批复的绩效目标。"""


def _progress(label: str) -> Any:
    """A progress callback (done, total) that draws a bar on stderr once there is something to wait for."""
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    return update


@corpus.command("search")
@click.argument("query")
@click.option("--k", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@handle_errors
def corpus_search(query: str, k: int, fmt: str) -> None:
    """按项目名称、目标或指标检索相似的已批复项目。"""
    from assistant.pipeline import open_precedents
    from assistant.settings import load_settings

    index = open_precedents(load_settings())
    hits = index.search(query, k=k)
    rows = [{"id": t.id, "project_name": t.project_name, "similarity": round(s, 4), "region": t.region,
             "year": t.year, "amount_total_wan": t.amount_total_wan, "source_url": t.source_url} for t, s in hits]
    if fmt == "json":
        _echo_json(rows)
        return
    click.echo(f"检索方式：{index.mode}", err=True)
    if not rows:
        click.echo("没有找到相似的项目。")
    for r in rows:
        click.echo(f"{r['similarity']:.3f}  {r['project_name']}  （{r['region'] or '地区未注明'} {r['year'] or ''}）")


@corpus.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="导入后的文件名（默认取源文件名）")
@handle_errors
def corpus_import(file: Path, name: str | None) -> None:
    """导入本单位已批复的绩效目标（.jsonl / .json / .xlsx）作为先例。"""
    from assistant.retrieve.corpus import import_file
    from assistant.settings import load_settings

    settings = load_settings()
    result = import_file(file, settings, name=name)
    click.echo(f"已导入 {result.added} 项（跳过重复 {result.duplicates} 项）→ {result.path}")
    if result.added:
        from assistant.pipeline import open_precedents

        index = open_precedents(settings, build_all=True, progress=_progress("计算新先例的向量"))
        click.echo(f"先例库索引已更新：{len(index)} 项，版本 {index.version}；检索方式：{index.mode}")


@corpus.command("index")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="建索引的进程数（默认自动）")
@handle_errors
def corpus_index(workers: int | None) -> None:
    """建立（或载入已有的）先例库索引和语义向量，并显示其规模、版本和检索方式；先例库很大时可提前运行（可中断后续跑）。"""
    import time

    from assistant.pipeline import open_precedents
    from assistant.retrieve.corpus import corpus_files, index_key, index_root
    from assistant.settings import load_settings

    settings = load_settings()
    t = time.perf_counter()
    index = open_precedents(settings, workers=workers, build_all=True, progress=_progress("计算先例向量"))
    files = corpus_files(settings)
    click.echo(f"先例库：{len(index)} 项，{index.data.meta.get('terms', 0)} 个词，版本 {index.version}")
    click.echo(f"检索方式：{index.mode}")
    click.echo(f"来源文件：{len(files)} 个；索引位置：{index_root(settings) / index_key(files)}")
    click.echo(f"用时 {time.perf_counter() - t:.1f} 秒")


@click.command("template")
@click.option("--style", type=click.Choice(["88", "101"]), default="88", show_default=True,
              help="88：成本在产出下；101：成本为一级指标")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="输出 .xlsx 文件")
@force_option
@handle_errors
def template_command(style: str, output: Path, force: bool) -> None:
    """生成空白的绩效目标申报表 Excel 模板（填好后可直接 assistant review）。"""
    from assistant.intake.xlsx_template import write_template

    if output.suffix.lower() != ".xlsx":
        raise InputError("模板文件须以 .xlsx 结尾", where=str(output))
    check_output(output, force=force, option="-o")
    write_template(output, style="101" if style == "101" else "88")
    click.echo(f"已生成模板：{output}")


def _register_optional() -> None:
    """Command groups that live in their own modules (evaluation, templates, web)."""
    from assistant.cli.evaluate import eval_group

    main.add_command(eval_group)
    from assistant.cli.batch import batch_command
    from assistant.cli.library import library_group

    main.add_command(library_group)

    main.add_command(batch_command)
    main.add_command(template_command)
    from assistant.cli.serve import serve_command

    main.add_command(serve_command)


_register_optional()
