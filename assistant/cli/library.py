"""`assistant library …`: the sector indicator library and unit-cost standards (search, import, template)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assistant.cli.errors import handle_errors


@click.group("library")
def library_group() -> None:
    """行业指标库与支出标准：检索（即填即用）、导入本单位的指标库和支出标准、生成导入模板。"""


@library_group.command("search")
@click.argument("query")
@click.option("--sector", default=None, help="只在名称含此文字的行业中检索")
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--profile", default=None, help="规则配置（本单位按配置导入的条目只在该配置下使用）")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@handle_errors
def search(query: str, sector: str | None, k: int, profile: str | None, fmt: str) -> None:
    """按指标名称或支出项目检索指标库和支出标准（给出参考值和来源）。"""
    from assistant.knowledge.base import knowledge_for
    from assistant.knowledge.library import load_library
    from assistant.pipeline import open_precedents
    from assistant.settings import load_settings

    settings = load_settings()
    index = open_precedents(settings)
    kb = knowledge_for(load_library(settings.db_path), profile or settings.profile, index)
    hits = kb.search(query, k=k, sector=sector)
    rows = [{"sector": h.sector, "level1": h.level1, "level2": h.level2, "name": h.name,
             "kind": h.kind, "typical_value": h.typical_value, "seen_value": h.seen_value, "source": h.source, "note": h.note,
             "score": score} for h, score in hits]
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("没有找到。")
    for r in rows:
        value = r["typical_value"] or (f"（原文：{r['seen_value']}）" if r["seen_value"] else "（无参考值）")
        where = f"（{r['note']}）" if r["kind"] == "standard" else ""
        click.echo(f"{r['sector']} · {'支出标准' if r['kind'] == 'standard' else r['level2'] or r['level1']} · "
                   f"{r['name']}：{value}{where}\n    来源：{r['source']}")


@library_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--profile", default=None, help="只在此规则配置下使用（默认：所有配置）")
@click.option("--name", default=None, help="导入后的文件名（默认取源文件名；同名导入会替换上次的）")
@handle_errors
def import_cmd(file: Path, profile: str | None, name: str | None) -> None:
    """导入本单位的指标库和支出标准（.jsonl，或 assistant library template 生成的 .xlsx）；全部校验通过才会导入。"""
    from assistant.knowledge.importer import import_library
    from assistant.knowledge.library import imported_dir
    from assistant.settings import load_settings

    if profile:
        from assistant.rules.profiles import load_profile

        load_profile(profile)  # an unknown profile is an error now, not a silently unused file
    result = import_library(file, load_settings().db_path, profile=profile, name=name)
    scope = f"（仅用于规则配置 {result.profile}）" if result.profile else ""
    click.echo(f"已导入 {result.sectors} 个行业的 {result.indicators} 项指标、{result.standards} 条支出标准{scope} → "
               f"{imported_dir(load_settings().db_path) / result.file}{'（替换了上次同名导入）' if result.replaced else ''}")


@library_group.command("template")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="输出 .xlsx 文件")
@click.option("--force", is_flag=True, help="覆盖已存在的文件")
@handle_errors
def template(output: Path, force: bool) -> None:
    """生成本单位指标库和支出标准的 Excel 导入模板（工作表「指标库」「支出标准」）。"""
    from assistant.errors import InputError
    from assistant.knowledge.importer import write_template

    if output.suffix.lower() != ".xlsx":
        raise InputError("模板文件须以 .xlsx 结尾", where=str(output))
    if output.exists() and not force:
        raise InputError("文件已存在：为免覆盖已填写的内容，请换一个文件名或加 --force", where=str(output))
    write_template(output)
    click.echo(f"已生成指标库导入模板：{output}")


@library_group.command("sectors")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@handle_errors
def sectors(fmt: str) -> None:
    """列出指标库中的行业及其指标、支出标准数量。"""
    from assistant.knowledge.library import load_library
    from assistant.settings import load_settings

    lib = load_library(load_settings().db_path)
    rows = [{"sector": s.sector, "indicators": len(s.core_indicators), "aliases": s.aliases,
             "profile": s.profile} for s in lib.sectors]
    if fmt == "json":
        click.echo(json.dumps({"sectors": rows, "standards": len(lib.standards)}, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r['sector']}：{r['indicators']} 项指标" + (f"（规则配置 {r['profile']}）" if r["profile"] else ""))
    click.echo(f"支出标准：{len(lib.standards)} 条")
