"""Small user-facing fixes: API docs served from this machine under a strict CSP, a favicon, Chinese where
English leaked (error locations, the audit log, backend and profile names), chart fonts that draw Chinese."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.errors import InputError, NotFoundError, where_cn
from assistant.web import apidocs, wording
from assistant.web.app import CSP_DOCS, WebConfig
from tests.webkit import DRAFT, HTML, api_token, csrf, make_app, ui_login

ROOT = Path(__file__).resolve().parents[1]
WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


@pytest.fixture(scope="module")
def app(tmp_path_factory, deps):
    return make_app(tmp_path_factory.mktemp("ux") / "ux.db", deps, config=WebConfig(rate_per_s=0, login_rate_per_s=0))


# -- API docs and favicon ----------------------------------------------------------------------
def _asset_urls(page: str) -> list[str]:
    return re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"', page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_this_server(app, path):
    c = TestClient(app)
    r = c.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _asset_urls(r.text)
    assert any(u.endswith(".js") for u in urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url  # local, no CDN
        asset = c.get(url)
        assert asset.status_code == 200 and len(asset.content) > 100, url
    assert "<script>" not in r.text and not re.search(r"<script(?![^>]*\bsrc=)", r.text)  # no inline script
    assert "/openapi.json" in r.text and c.get("/openapi.json").status_code == 200


def test_docs_csp_allows_no_inline_script_and_nothing_remote(app):
    r = TestClient(app).get("/docs")
    csp = r.headers["content-security-policy"]
    assert csp == CSP_DOCS
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "http" not in csp and "frame-ancestors 'none'" in csp
    swagger = r.text
    assert "/static/apidocs/swagger-ui-bundle.js" in swagger and "/static/swagger-init.js" in swagger
    init = TestClient(app).get("/static/swagger-init.js").text
    assert "SwaggerUIBundle" in init and "data-openapi-url" in init and "validatorUrl: null" in init


def test_docs_without_the_asset_package_say_so_in_chinese(tmp_path, deps, monkeypatch):
    monkeypatch.setattr(apidocs, "assets_dir", lambda: None)
    c = TestClient(make_app(tmp_path / "d.db", deps))
    r = c.get("/docs")
    assert r.status_code == 503 and "fastapi-offline" in r.text and "/openapi.json" in r.text
    assert c.get("/redoc").status_code == 503


def test_favicon(app):
    c = TestClient(app)
    r = c.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00" and "no-store" not in r.headers["cache-control"]
    svg = c.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.text.startswith("<svg")
    login = c.get("/login", headers=HTML).text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login


@pytest.mark.slow
def test_swagger_ui_renders_in_a_browser_under_the_csp(tmp_path, deps):
    """Chromium loads /docs: Swagger UI draws the operations, no CSP violation, no request leaves the server."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium")
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(tmp_path / "browser.db", deps)  # its own app: the server's shutdown stops the app's executor
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            console: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(f"{base}/docs")
            page.wait_for_selector(".opblock", timeout=20000)
            assert page.locator(".opblock").count() > 10
            browser.close()
    finally:
        server.should_exit = True
    assert not [m for m in console if "Content Security Policy" in m], console
    assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in requests), requests


# -- Chinese instead of identifiers ------------------------------------------------------------
def test_where_reads_in_chinese():
    assert where_cn("unit") == "所属单位" and where_cn("submission 12") == "编号 12"
    assert where_cn("version 9") == "第 9 版" and where_cn("token 3") == "令牌编号 3"
    assert where_cn("第3行 indicators[0].value") == "第3行 indicators[0].value" and where_cn(None) is None
    assert str(InputError("预算单位用户必须填写所属单位", where="unit")) == "所属单位：预算单位用户必须填写所属单位"
    assert str(NotFoundError("未找到该提交记录", where="submission 1")) == "编号 1：未找到该提交记录"


def test_unit_user_without_unit_names_the_field_in_chinese(app):
    admin = ui_login(app, "root")
    r = admin.post("/ui/admin/users", headers=HTML, data={
        "username": "unitX", "password": "long-password", "role": "unit", "unit": "",
        "csrf_token": csrf(admin, "/ui/admin/users")})
    assert r.status_code == 400 and "所属单位：预算单位用户必须填写所属单位" in r.text and "unit：" not in r.text
    r = TestClient(app).post("/api/users", headers=api_token(TestClient(app), "root"),
                             json={"username": "unitY", "password": "long-password", "role": "unit", "unit": ""})
    assert r.status_code == 400 and r.json()["where"] == "unit"  # the API keeps the field name for programs


def test_error_pages_number_submissions_and_versions_in_chinese(app):
    unit = ui_login(app, "unitA")
    r = unit.get("/ui/submissions/987654", headers=HTML)
    assert r.status_code == 404 and "编号 987654" in r.text and "submission" not in r.text
    sid = TestClient(app).post("/api/submissions", json=DRAFT, headers=api_token(TestClient(app), "unitA")).json()["id"]
    r = unit.get(f"/ui/submissions/{sid}/compare", params={"head": "9"}, headers=HTML)
    assert r.status_code == 404 and "第 9 版" in r.text and "version" not in r.text and "v9" not in r.text


def test_audit_log_reads_as_chinese_pairs(app):
    admin = ui_login(app, "root")
    admin.post("/ui/admin/users", headers=HTML, data={
        "username": "unitZ", "password": "long-password", "role": "unit", "unit": "戊单位",
        "csrf_token": csrf(admin, "/ui/admin/users")})
    page = admin.get("/ui/admin/audit", headers=HTML).text
    assert '{"' not in page and "&#34;" not in page and "&quot;" not in page.split("<table")[1]
    assert "用户名：unitZ；角色：预算单位；所属单位：戊单位" in page
    assert "user:" not in page.split("<table")[1].replace('title="user:', "")


def test_audit_detail_values():
    class Req:
        class state:  # noqa: N801
            profile_titles = {"default": "通用（88号式，成本在产出下）"}

    detail = json.dumps({"version": 2, "final_grade": "B", "status": "returned", "accepted": [0, 2], "rejected": [],
                         "profile": "default", "bootstrap": True, "content_hash": "a" * 64})
    pairs = dict(wording.audit_detail(detail, Req))
    assert pairs == {"版本": "2", "最终等级": "B", "处理结果": "退回修改", "采纳的建议": "第 1、3 条", "不采纳的建议": "无",
                     "规则配置": "通用（88号式，成本在产出下）", "首次启动自动创建": "是", "内容指纹": "a" * 12}
    assert wording.audit_detail("plain text", Req) == [("", "plain text")]
    assert wording.audit_object("submission:3") == "提交 编号 3" and wording.audit_object("odd") == "odd"
    assert wording.backend_cn("offline") == "离线评审" and wording.backend_cn("openai") == "大模型评审"


def test_batch_pages_show_the_profile_title(app):
    from assistant.rules.profiles import load_profile

    unit = ui_login(app, "unitA")
    files = {"file": ("drafts.jsonl", json.dumps(DRAFT, ensure_ascii=False).encode(), "application/x-ndjson")}
    r = unit.post("/ui/batches", data={"csrf_token": csrf(unit, "/ui/batches"), "profile": "xinjiang"},
                  files=files, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    title = load_profile("xinjiang").title
    for url in (r.headers["location"], "/ui/batches"):
        page = unit.get(url, headers=HTML).text
        assert f">{html.escape(title, quote=False)}<" in page, url
        assert ">xinjiang<" not in page


# -- chart fonts -------------------------------------------------------------------------------
@pytest.fixture
def fresh_fonts():
    from assistant.evaluate import fonts

    fonts.cjk_family.cache_clear()
    yield fonts
    fonts.cjk_family.cache_clear()


@pytest.mark.skipif(not WQY.is_file(), reason="fonts-wqy-microhei not installed")
def test_chart_font_is_cjk_when_the_file_exists(fresh_fonts):
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    family = fresh_fonts.cjk_family()
    assert family == "WenQuanYi Micro Hei"
    assert fresh_fonts.configure(plt) and plt.rcParams["font.sans-serif"][0] == family
    found = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]), fallback_to_default=False)
    assert Path(found).name == WQY.name


@pytest.mark.skipif(not WQY.is_file(), reason="fonts-wqy-microhei not installed")
def test_chart_font_found_when_the_font_cache_predates_it(tmp_path):
    """A matplotlib font cache built before the CJK font was installed: the font is still used."""
    import matplotlib
    from matplotlib import font_manager

    cache = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    if not cache.is_file():
        pytest.skip("no matplotlib font cache to copy")
    data = json.loads(cache.read_text(encoding="utf-8"))
    data["ttflist"] = [f for f in data["ttflist"] if "wqy" not in f["fname"].lower()]
    (tmp_path / cache.name).write_text(json.dumps(data), encoding="utf-8")
    code = ("from matplotlib import font_manager as fm\n"
            "print(any('WenQuanYi' in f.name for f in fm.fontManager.ttflist))\n"
            "from assistant.evaluate.fonts import cjk_family\nprint(cjk_family())\n")
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MPLCONFIGDIR": str(tmp_path)},
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "WenQuanYi", "Micro", "Hei"]


def test_charts_use_english_labels_without_a_cjk_font(fresh_fonts, monkeypatch):
    import warnings

    from assistant.evaluate import report

    monkeypatch.setattr(fresh_fonts, "KNOWN_FILES", ())
    monkeypatch.setattr(fresh_fonts, "KNOWN_NAMES", ())
    monkeypatch.setattr(fresh_fonts, "_system_candidates", lambda: [])
    assert fresh_fonts.cjk_family() is None
    assert report._label("completeness") == "completeness" and report._label("overall", tick=True) == "overall (0–100)"
    dims = {k: {"qwk": 0.5, "qwk_ci": {"low": 0.2, "high": 0.7}, "baseline": {"qwk": {"A": 0.6}},
                "confusion": [[1, 0], [0, 1]], "labels": ["3", "4"]} for k in report.KEYS}
    metrics = {"agreement": {"dimensions": dims, "raters": ["A"]}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn
        assert report.plot_ci_bars(metrics)[:4] == b"\x89PNG"
        assert report.plot_confusions(metrics)[:4] == b"\x89PNG"
