"""`assistant serve`: the web service with an embedded SQLite database and the offline backend."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from assistant.cli.errors import handle_errors


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=8000, show_default=True, type=int, help="端口")
@click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite 数据库路径（默认 var/assistant.db 或 ASSISTANT_DB）")
@click.option("--init-admin", "init_admin", default=None, metavar="USER:PASS", help="首次启动时创建的管理员")
@click.option("--max-upload-mb", default=10, show_default=True, type=int, help="上传大小上限（MB）")
@click.option("--session-idle-minutes", type=click.FloatRange(min=1), default=None,
              help="网页会话闲置多久后失效（分钟，默认 60 或 ASSISTANT_SESSION_IDLE_MINUTES）")
@click.option("--session-max-hours", type=click.FloatRange(min=0.1), default=None,
              help="网页会话登录后最长有效期（小时，默认 8 或 ASSISTANT_SESSION_MAX_HOURS）")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="IP",
              help="可信反向代理的地址（可多次给出；默认无，或 ASSISTANT_TRUSTED_PROXIES，逗号分隔）："
                   "只有来自这些地址的 X-Forwarded-For / X-Forwarded-Proto 才被采信")
@handle_errors
def serve_command(host: str, port: int, db: Path | None, init_admin: str | None, max_upload_mb: int,
                  session_idle_minutes: float | None, session_max_hours: float | None,
                  trusted_proxies: tuple[str, ...]) -> None:
    """启动网页服务与 JSON API（FastAPI + uvicorn）。"""
    import uvicorn

    from assistant.settings import load_settings
    from assistant.web.app import WebConfig, create_app, ensure_admin
    from assistant.web.store import Store

    settings = load_settings(db_path=db)
    store = Store(settings.db_path)
    user = password = None
    if init_admin:
        user, sep, password = init_admin.partition(":")
        if not sep or not user or len(password) < 8:
            raise click.BadParameter("格式应为 用户名:密码（密码至少 8 位）", param_hint="--init-admin")
    generated = ensure_admin(store, username=user, password=password)
    if generated:
        click.echo(f"已创建管理员 admin，初始密码（只显示这一次）：{generated}", err=True)
    click.echo("正在加载先例库与评审模型……", err=True)
    overrides: dict[str, float] = {"max_body_bytes": max_upload_mb * 1024 * 1024}
    if session_idle_minutes is not None:
        overrides["session_idle_s"] = session_idle_minutes * 60
    if session_max_hours is not None:
        overrides["session_max_s"] = session_max_hours * 3600
    app = create_app(settings, config=WebConfig.from_env(**overrides), store=store)
    click.echo(f"绩效目标审核助手已启动：http://{host}:{port}/  （API 文档：http://{host}:{port}/docs）")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False,
                **proxy_options(trusted_proxies))


def proxy_options(trusted: tuple[str, ...] | list[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """uvicorn's forwarded-header settings: trusted only from the proxies the admin names (none by default).

    uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1, so anyone on the host could pick the client
    address the login rate limiter sees."""
    env = os.environ if environ is None else environ
    names = [p.strip() for p in trusted if p.strip()] or \
        [p.strip() for p in (env.get("ASSISTANT_TRUSTED_PROXIES") or "").split(",") if p.strip()]
    if not names:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(names)}
