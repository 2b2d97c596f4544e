"""`create_app(settings)`: the FastAPI application (JSON API under /api, Chinese UI elsewhere).

The AssistantError hierarchy is translated here, once: Chinese `{"error", "where"}` bodies with
the right status code, never a traceback. Middleware caps the request body (413), rate-limits
per token / session / IP (429) and puts the security headers (CSP without inline scripts,
nosniff, referrer policy, no framing, no caching of pages) on every response, rejections included.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import AssistantError, ConfigError, InputError, NotFoundError, where_cn
from assistant.intake.xlsx_grid import install_fast_sheet_size
from assistant.labels import VALIDATION_CN
from assistant.settings import Settings
from assistant.web.auth import (
    AuthError,
    ForbiddenError,
    LoginLockout,
    RateLimited,
    RateLimiter,
    UploadSlots,
    hash_password,
    rate_key,
)
from assistant.web.store import Store

log = logging.getLogger("assistant.web")
WEB_DIR = Path(__file__).resolve().parent

_STATUS = {InputError: 400, AuthError: 401, ForbiddenError: 403, NotFoundError: 404, RateLimited: 429,
           ConfigError: 503}
_HTTP_CN = {400: "请求无效", 401: "需要登录", 403: "无权访问", 404: "未找到", 405: "不支持该请求方法",
            406: "无法提供所请求的格式", 413: "上传内容过大", 415: "不支持的内容类型", 422: "请求参数无效",
            429: "请求过于频繁，请稍后再试", 500: "服务器内部错误"}
_FIELD_CN = {"project_name": "项目名称", "indicators": "指标", "final_grade": "最终等级", "opinion": "审核意见",
             "status": "处理结果", "username": "用户名", "password": "密码", "role": "角色", "unit": "单位",
             "completeness": "完整性", "relevance": "相关性", "suitability": "适当性", "fund_fit": "资金匹配性",
             "overall": "总分", "q": "检索词", "k": "返回条数", "format": "导出格式", "file": "文件",
             "name": "名称", "disabled": "停用", "profile": "规则配置", "note": "备注", "user_id": "用户编号",
             "token_id": "令牌编号", "limit": "条数", "base": "基准版本", "head": "对比版本", "version": "版本",
             "days": "有效期"}


class WebConfig(BaseModel):
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    rate_per_s: float = 20.0  # sustained requests per second per token / session / IP (0 = off)
    rate_burst: int = 60
    login_rate_per_s: float = 1.0  # password attempts per IP
    login_burst: int = 10
    lockout_failures: int = Field(default=5, ge=1)  # failed logins for one account within lockout_window_s lock it
    lockout_window_s: float = Field(default=900.0, gt=0)
    lockout_base_s: float = Field(default=60.0, gt=0)  # first lockout; doubles with each further one (max 1 h)
    batch_workers: int = Field(default=2, ge=1, le=16)
    uploads_per_user: int = Field(default=2, ge=1)  # files being parsed / reviewed at once per user (429 beyond)
    max_batch_lines: int = 5000
    secret: str | None = None  # signs CSRF tokens; random per process when unset
    session_idle_s: float = Field(default=3600.0, gt=0)  # a session ends after this long without a request
    session_max_s: float = Field(default=8 * 3600.0, gt=0)  # and this long after login, whatever happens
    login_token_s: float = Field(default=24 * 3600.0, gt=0)  # bearer tokens from POST /api/login expire

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> WebConfig:
        """Defaults, then ASSISTANT_SESSION_IDLE_MINUTES / ASSISTANT_SESSION_MAX_HOURS, then `overrides`."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        for var, field, factor in (("ASSISTANT_SESSION_IDLE_MINUTES", "session_idle_s", 60.0),
                                   ("ASSISTANT_SESSION_MAX_HOURS", "session_max_s", 3600.0),
                                   ("ASSISTANT_LOGIN_TOKEN_HOURS", "login_token_s", 3600.0)):
            raw = (env.get(var) or "").strip()
            if raw:
                try:
                    data[field] = float(raw) * factor
                except ValueError:
                    raise ConfigError(f"环境变量 {var} 应为数字，实际是「{raw}」") from None
        data.update(overrides)
        try:
            return cls(**data)
        except ValueError as exc:
            raise ConfigError(f"网页服务配置无效：{exc}") from None


# No inline scripts or styles anywhere in our pages. /docs and /redoc (apidocs.py: Swagger UI and ReDoc from
# local files, Swagger UI started by a script file) still allow no inline script and nothing from elsewhere;
# they only let the two libraries set inline styles (ReDoc writes <style> elements) and ReDoc run its search
# in a blob: worker.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
CSP_DOCS = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
_DOCS_PATHS = ("/docs", "/redoc")


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-security-policy", (CSP_DOCS if path in _DOCS_PATHS else CSP).encode()),
               (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"same-origin"), (b"cross-origin-opener-policy", b"same-origin"),
               (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]
    if not path.startswith("/static/"):
        headers.append((b"cache-control", b"no-store"))
    return headers


def error_body(message: str, where: str | None = None) -> dict[str, Any]:
    return {"error": message, "where": where}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def _where_shown(where: str | None) -> str | None:
    """`where` on the HTML error page: Chinese (the JSON body keeps the field name a program reads)."""
    shown = where_cn(where)
    return _FIELD_CN.get(where, shown) if where and shown == where else shown


def _error_response(request: Request, status: int, message: str, where: str | None = None,
                    retry_after_s: int = 1) -> Response:
    if status == 401 and _wants_html(request):
        return RedirectResponse("/login", status_code=303)
    if _wants_html(request):
        tpl = request.app.state.templates
        return tpl.TemplateResponse(request, "error.html", {"status": status, "message": message,
                                                             "where": _where_shown(where), "user": None},
                                    status_code=status)
    headers = {"Retry-After": str(retry_after_s)} if status == 429 else None
    return JSONResponse(error_body(message, where), status_code=status, headers=headers)


def _explain_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    msgs, first = [], None
    for e in list(exc.errors())[:5]:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "form")]
        name = ".".join(f"{p}（{_FIELD_CN[p]}）" if p in _FIELD_CN else p for p in loc) or "请求体"
        first = first or ".".join(loc) or "body"
        msgs.append(f"字段 {name} {VALIDATION_CN.get(e.get('type', ''), '无效')}")
    return "；".join(msgs) or "请求无效", first


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(AssistantError)
    async def _assistant_error(request: Request, exc: AssistantError) -> Response:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        return _error_response(request, status, exc.message, exc.where,
                               retry_after_s=exc.retry_after_s if isinstance(exc, RateLimited) else 1)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        message, where = _explain_validation(exc)
        return _error_response(request, 422, message, where)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = _HTTP_CN.get(exc.status_code, "请求失败")
        return _error_response(request, exc.status_code, message)

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> Response:
        # json.loads on a body nested ~1,000 levels deep (the readers bound nesting themselves; this is the net)
        return _error_response(request, 400, "请求内容嵌套层数过深，无法处理：请提交普通的 JSON 对象", "body")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        return _error_response(request, 500, "服务器内部错误，请稍后重试或联系管理员")


class _LimitsMiddleware:
    """Pure ASGI: body size cap (Content-Length and streamed), rate limiting, security headers."""

    def __init__(self, app: Any, *, config: WebConfig, limiter: RateLimiter, login_limiter: RateLimiter) -> None:
        self.app, self.config, self.limiter, self.login_limiter = app, config, limiter, login_limiter

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.requests import Request as _Req

        request = _Req(scope)
        path, method = scope["path"], scope["method"]
        extra = security_headers(path)
        original_send = send

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in names]
            await original_send(message)

        send = send_with_headers
        if path in ("/login", "/api/login") and method == "POST":
            ip = request.client.host if request.client else "?"
            if not self.login_limiter.allow(ip):
                return await self._reject(scope, receive, send, 429, "登录尝试过于频繁，请稍后再试")
        elif (path.startswith("/api") or method == "POST") and not self.limiter.allow(rate_key(request)):
            return await self._reject(scope, receive, send, 429, _HTTP_CN[429])
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        too_big_msg = f"上传内容过大：上限 {limit / 1048576:.0f} MB"
        if declared and declared.isdigit() and int(declared) > limit:
            return await self._reject(scope, receive, send, 413, too_big_msg)
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(scope, receive, send, 413, too_big_msg)

    async def _reject(self, scope: dict, receive: Any, send: Any, status: int, message: str) -> None:
        headers = {"Retry-After": "1"} if status == 429 else None
        body = json.dumps(error_body(message), ensure_ascii=False)
        await Response(body, status_code=status, media_type="application/json", headers=headers)(scope, receive, send)


class _TooLarge(Exception):
    pass


def ensure_admin(store: Store, *, username: str | None = None, password: str | None = None) -> str | None:
    """Create the admin on first start. Returns a generated password (to print once) or None."""
    if username and store.user_by_name(username) is None:
        store.create_user(username=username, password_hash=hash_password(password or ""), role="admin")
        store.audit("system", "user_created", f"user:{username}", {"role": "admin"})
        return None
    if store.count_users() == 0:
        generated = secrets.token_urlsafe(12)
        store.create_user(username="admin", password_hash=hash_password(generated), role="admin")
        store.audit("system", "user_created", "user:admin", {"role": "admin", "bootstrap": True})
        return generated
    return None


def create_app(settings: Settings, *, deps: Any = None, config: WebConfig | None = None,
               store: Store | None = None, clock: Callable[[], float] | None = None) -> FastAPI:
    """`clock` (epoch seconds; default time.time) decides session expiry, so tests can move time."""
    from fastapi.templating import Jinja2Templates

    from assistant.web import (
        api,
        api_admin,
        api_library,
        apidocs,
        ui,
        ui_admin,
        ui_batch,
        ui_compare,
        ui_library,
        ui_tokens,
        wording,
    )

    config = config or WebConfig.from_env()
    install_fast_sheet_size()  # an uploaded sheet without <dimension> is not scanned whole before being read
    if deps is None:
        from assistant.pipeline import build_deps

        deps = build_deps(settings)
    executor = ThreadPoolExecutor(max_workers=config.batch_workers, thread_name_prefix="batch")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from assistant.web.batches import resume_unfinished

        resumed = resume_unfinished(app.state)
        if resumed:
            log.warning("resumed %d batch job(s) interrupted by a restart: %s", len(resumed), resumed)
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="绩效目标审核助手 API", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="预算单位提交绩效目标草稿并获取审核意见；审核人员处理队列；专家评分。"
                              "除 /api/login 外均需 `Authorization: Bearer <令牌>`。")
    app.state.settings = settings
    app.state.deps = deps
    app.state.config = config
    app.state.store = store or Store(settings.db_path)
    app.state.secret = config.secret or secrets.token_hex(32)
    app.state.executor = executor
    app.state.clock = clock or time.time
    app.state.upload_slots = UploadSlots(config.uploads_per_user)
    app.state.lockout = LoginLockout(config.lockout_failures, config.lockout_window_s, config.lockout_base_s)
    app.state.profile_deps = {}  # (profile name, body) -> (base deps, deps for that profile)
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    templates.env.globals.update(wording.TEMPLATE_GLOBALS)
    app.state.templates = templates
    _install_handlers(app)
    app.add_middleware(_LimitsMiddleware, config=config,
                       limiter=RateLimiter(config.rate_per_s, config.rate_burst),
                       login_limiter=RateLimiter(config.login_rate_per_s, config.login_burst))
    app.include_router(api.router)
    app.include_router(api_admin.router)
    app.include_router(api_library.router)
    app.include_router(ui.router)
    app.include_router(ui_admin.router)
    app.include_router(ui_batch.router)
    app.include_router(ui_compare.router)
    app.include_router(ui_tokens.router)
    app.include_router(ui_library.router)
    apidocs.install(app)  # /docs, /redoc, /favicon.ico; mounts /static/apidocs before /static
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")
    return app

