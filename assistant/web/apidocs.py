"""/docs (Swagger UI), /redoc (ReDoc) and /favicon.ico, served from this machine: no CDN, so the API pages
work on an intranet.

The Swagger UI and ReDoc files come from the `fastapi-offline` package (its static folder, mounted at
/static/apidocs); we use only its files, not its app factory. FastAPI's own docs HTML starts Swagger UI with
an inline script, so the pages are written here instead and Swagger UI starts from /static/swagger-init.js:
the docs pages keep `script-src 'self'` (see app.CSP_DOCS). Without the package the pages say so in Chinese.
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static/apidocs"
STATIC = Path(__file__).resolve().parent / "static"
_FAVICON_CACHE = {"Cache-Control": "public, max-age=86400"}


def assets_dir() -> Path | None:
    """The folder holding swagger-ui-bundle.js, swagger-ui.css and redoc.standalone.js, or None."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    needed = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
    return folder if all((folder / name).is_file() for name in needed) else None


def _page(title: str, head: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n"
            f'<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">\n{head}</head>\n'
            f"<body>\n{body}\n</body>\n</html>\n")


def _missing(title: str, openapi_url: str) -> HTMLResponse:
    body = (f"<h1>{html.escape(title)}</h1>\n<p>本机未安装 API 文档页面所需的文件（Python 包 fastapi-offline），"
            f"请联系管理员安装：<code>pip install fastapi-offline</code>。</p>\n"
            f'<p>接口说明（OpenAPI JSON）仍可下载：<a href="{html.escape(openapi_url)}">{html.escape(openapi_url)}</a></p>')
    return HTMLResponse(_page(title, "", body), status_code=503)


def install(app: FastAPI) -> None:
    """Mount the docs assets and add /docs, /redoc and /favicon.ico (create the app with docs_url=None,
    redoc_url=None). Call before mounting /static, so /static/apidocs is matched first."""
    folder = assets_dir()
    if folder is not None:
        app.mount(ASSETS_URL, StaticFiles(directory=str(folder)), name="apidocs")
    openapi_path = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        title = f"{app.title} · 接口文档"
        if folder is None:
            return _missing(title, root + openapi_path)
        head = f'<link rel="stylesheet" href="{root}{ASSETS_URL}/swagger-ui.css">\n'
        body = (f'<div id="swagger-ui" data-openapi-url="{html.escape(root + openapi_path)}"></div>\n'
                f'<script src="{root}{ASSETS_URL}/swagger-ui-bundle.js"></script>\n'
                f'<script src="{root}/static/swagger-init.js"></script>')
        return HTMLResponse(_page(title, head, body))

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        title = f"{app.title} · 接口文档（ReDoc）"
        if folder is None:
            return _missing(title, root + openapi_path)
        body = (f'<redoc spec-url="{html.escape(root + openapi_path)}"></redoc>\n'
                f'<script src="{root}{ASSETS_URL}/redoc.standalone.js"></script>')
        return HTMLResponse(_page(title, "", body))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon", headers=_FAVICON_CACHE)
