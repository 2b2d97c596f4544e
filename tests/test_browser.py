"""Headless browser: log in as a unit, submit samples/draft.json, see the grade. Screenshots go to screenshots/.

Drives the system chromium (/usr/bin/chromium) through Python playwright (no browser download);
skips cleanly when either is absent.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from assistant.settings import load_settings
    from assistant.web.app import create_app
    from assistant.web.auth import hash_password
    from assistant.web.store import Store

    settings = load_settings({}, db_path=tmp_path_factory.mktemp("browser") / "b.db")
    store = Store(settings.db_path)
    pw = hash_password("password-123")
    store.create_user(username="unitA", password_hash=pw, role="unit", unit="湘潭市环境卫生管理处")
    store.create_user(username="rev", password_hash=pw, role="reviewer")
    app = create_app(settings, store=store)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _browser(p, user_data: str):  # type: ignore[no-untyped-def]
    return p.chromium.launch_persistent_context(user_data, executable_path=CHROMIUM, headless=True, args=FLAGS,
                                                viewport={"width": 1280, "height": 900}, locale="zh-CN")


def _login(page, base: str, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", "password-123")
    page.click("button[type=submit]")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium fonts-wqy-microhei)")
def test_unit_submits_draft_and_sees_grade(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    draft = (ROOT / "samples" / "draft.json").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        ctx = _browser(p, profile)
        page = ctx.new_page()
        _login(page, server, "unitA")
        page.wait_for_url(server + "/ui/submit")
        page.screenshot(path=str(SHOTS / "submit.png"), full_page=True)
        page.fill("textarea[name=json_text]", draft)
        page.click("button[type=submit]")
        page.wait_for_url(server + "/ui/submissions/*")
        grade = page.locator("[data-testid=grade] .grade").inner_text()
        assert grade in {"优", "良", "中", "差"}
        assert page.locator("h1").first.inner_text() == "雾炮车抑尘降尘服务"
        assert page.locator("table.indicators tbody tr").count() >= 5
        page.screenshot(path=str(SHOTS / "result.png"), full_page=True)
        url = page.url
        ctx.close()
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        ctx = _browser(p, profile)
        page = ctx.new_page()
        _login(page, server, "rev")
        page.wait_for_url(server + "/ui/submissions")
        page.screenshot(path=str(SHOTS / "queue.png"), full_page=True)
        page.goto(url)
        radios = page.locator("input[type=radio][value=accept]")
        if radios.count():
            radios.first.check()
        page.fill("textarea[name=opinion]", "请补充满意度指标后重新报送。")
        page.screenshot(path=str(SHOTS / "review.png"), full_page=True)
        page.click("button[value=returned]")
        page.wait_for_load_state()
        assert "请补充满意度指标后重新报送。" in page.content()
        assert "退回修改" in page.locator("main").inner_text()
        ctx.close()
