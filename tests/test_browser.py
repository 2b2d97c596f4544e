"""Headless browser: log in as a unit, submit samples/draft.json, see the grade; resubmit a fixed version
and open the comparison with the previous one; create and revoke one's own API token; as an admin, create
a user, issue and revoke a token, switch the rule profile and watch a batch upload finish.
Screenshots go to screenshots/ (git-ignored).

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
FLAGS = ["--no-sandbox", "--lang=zh-CN", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


class _SlowCritic:
    """The real critic, one second slower for projects named 慢速…, so a batch is seen in progress."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name = inner, getattr(inner, "name", "offline")

    def critique(self, inp):  # type: ignore[no-untyped-def]
        if "慢速" in inp.target.project_name:
            time.sleep(1.0)
        return self.inner.critique(inp)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from assistant.pipeline import build_deps
    from assistant.settings import load_settings
    from assistant.web.app import create_app
    from assistant.web.auth import hash_password
    from assistant.web.store import Store

    settings = load_settings({}, db_path=tmp_path_factory.mktemp("browser") / "b.db")
    store = Store(settings.db_path)
    pw = hash_password("password-123")
    store.create_user(username="unitA", password_hash=pw, role="unit", unit="湘潭市环境卫生管理处")
    store.create_user(username="rev", password_hash=pw, role="reviewer")
    store.create_user(username="root", password_hash=pw, role="admin")
    deps = build_deps(settings)
    deps.critic = _SlowCritic(deps.critic)
    app = create_app(settings, store=store, deps=deps)
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
        _paste_json(page, draft)
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


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium fonts-wqy-microhei)")
def test_admin_manages_users_tokens_profiles_and_batches(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    import json

    import httpx
    from openpyxl import load_workbook

    SHOTS.mkdir(exist_ok=True)
    draft = (ROOT / "samples" / "draft.json").read_text(encoding="utf-8")

    record = json.loads(draft)
    batch = tmp_path / "批量草稿.jsonl"
    batch.write_text("\n".join([json.dumps(dict(record, project_name="慢速：雾炮车抑尘降尘服务"), ensure_ascii=False),
                                "{坏行", json.dumps(dict(record, project_name="慢速：城区道路洒水降尘服务"),
                                                   ensure_ascii=False)]), encoding="utf-8")
    csp_errors: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        ctx = _browser(p, profile)
        page = ctx.new_page()
        page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
        _login(page, server, "root")
        page.wait_for_url(server + "/ui/submissions")
        # users: create a budget-unit account
        page.click("nav >> text=用户")
        page.wait_for_url(server + "/ui/admin/users")
        form = page.locator("[data-testid=create-user]")
        form.locator("input[name=username]").fill("unitNew")
        form.locator("input[name=password]").fill("new-password-1")
        form.locator("select[name=role]").select_option("unit")
        form.locator("input[name=unit]").fill("湘潭市城市管理和综合执法局")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "已创建用户「unitNew」" in page.locator(".notice").inner_text()
        assert page.locator("table.grid tbody tr", has_text="unitNew").count() == 1
        page.screenshot(path=str(SHOTS / "admin_users.png"), full_page=True)
        # tokens: issue one for the new user, see it once, use it, revoke it
        page.click("nav.tabs >> text=API 令牌")
        form = page.locator("[data-testid=create-token]")
        form.locator("select[name=user_id]").select_option(label="unitNew（预算单位）")
        form.locator("input[name=note]").fill("财务系统对接")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        token = page.locator("[data-testid=new-token] code.secret").inner_text().strip()
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(server + "/api/me", headers=bearer).json()["username"] == "unitNew"
        page.screenshot(path=str(SHOTS / "admin_token_once.png"), full_page=True)
        row = page.locator("table.tokens tbody tr", has_text="财务系统对接")
        row.locator("button", has_text="撤销").click()
        page.wait_for_load_state()
        assert "已撤销令牌" in page.locator(".notice").inner_text()
        assert page.locator("[data-testid=new-token]").count() == 0 and token not in page.content()
        assert httpx.get(server + "/api/me", headers=bearer).status_code == 401
        # rule profiles: look at xinjiang, make it the server's profile
        page.click("nav.tabs >> text=规则配置")
        page.click("table.profiles >> text=xinjiang")
        page.wait_for_url(server + "/ui/admin/profiles/xinjiang")
        assert page.locator("table.rules tbody tr").count() >= 40
        page.screenshot(path=str(SHOTS / "admin_profile_detail.png"), full_page=True)
        page.click("text=← 返回规则配置列表")
        page.click("button[data-profile=xinjiang]")
        page.wait_for_load_state()
        assert "已切换为「新疆" in page.locator(".notice").inner_text()
        assert "当前配置" in page.locator("table.profiles tbody tr", has_text="xinjiang").inner_text()
        page.screenshot(path=str(SHOTS / "admin_profiles.png"), full_page=True)
        # batch upload: watch the status page until the job is done
        page.click("header nav >> text=批量上传")
        page.wait_for_url(server + "/ui/batches")
        page.set_input_files("input[name=file]", str(batch))
        page.click("button[type=submit]")
        page.wait_for_url(server + "/ui/batches/*")
        assert page.locator("[data-testid=job-status]").inner_text() in ("排队中", "审核中")
        assert page.locator("meta[http-equiv=refresh]").count() == 1
        page.screenshot(path=str(SHOTS / "batch_running.png"), full_page=True)
        # the page reloads itself (<meta refresh>); a script here would be refused by the strict CSP
        sync_api.expect(page.locator("[data-testid=job-status]")).to_have_text("已完成", timeout=60_000)
        assert page.locator("meta[http-equiv=refresh]").count() == 0
        assert page.locator("[data-testid=job-count]").inner_text() == "3/3"
        assert page.locator("table.job-items a", has_text="查看审核结果").count() == 2
        assert "第2行" in page.locator("table.job-items").inner_text()
        page.screenshot(path=str(SHOTS / "batch_status.png"), full_page=True)
        # the Excel summary: one row per reviewed target, in file order; the bad line is not a target
        with page.expect_download() as download:
            page.click("[data-testid=job-summary]")
        summary = tmp_path / "汇总.xlsx"
        download.value.save_as(summary)
        book = load_workbook(summary)
        rows = list(book["审核汇总"].iter_rows(values_only=True))
        heads = list(rows[0])
        body = [r for r in rows[1:] if isinstance(r[0], int)]
        assert [r[heads.index("项目名称")] for r in body] == ["慢速：雾炮车抑尘降尘服务", "慢速：城区道路洒水降尘服务"]
        assert all(r[heads.index("系统初评等级")] in {"优", "良", "中", "差"} for r in body)
        assert book["等级分布"]._charts
        page.locator("table.job-items a", has_text="查看审核结果").first.click()
        page.wait_for_url(server + "/ui/submissions/*")
        footer = page.locator("main").inner_text()
        assert "评审方式：离线评审" in footer and "规则配置：新疆" in footer and "（xinjiang）" in footer
        page.click("header nav >> text=审计")
        page.wait_for_url(server + "/ui/admin/audit")
        assert "撤销令牌" in page.locator("table.audit").inner_text()
        page.screenshot(path=str(SHOTS / "admin_audit.png"), full_page=True)
        ctx.close()
    assert not csp_errors, csp_errors


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium fonts-wqy-microhei)")
def test_unit_resubmits_compares_and_manages_own_tokens(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    import json

    import httpx

    SHOTS.mkdir(exist_ok=True)
    draft = (ROOT / "samples" / "draft.json").read_text(encoding="utf-8")
    fixed = json.loads(draft)
    fixed["project_name"] = "雾炮车抑尘降尘服务（修改稿）"
    fixed["indicators"][0]["value"] = "≥10辆"  # as suggested, with a unit
    fixed["indicators"][3]["value"] = "≤180天"
    fixed["indicators"][4]["value"] = "≤250万元"  # was the vague 控制在预算内
    fixed["indicators"].insert(6, {"level1": "效益指标", "level2": "生态效益指标", "name": "城区PM10年平均浓度下降",
                                   "value": "≥5%", "basis": "计划标准"})
    csp_errors: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        ctx = _browser(p, profile)
        page = ctx.new_page()
        page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
        _login(page, server, "unitA")
        page.wait_for_url(server + "/ui/submit")
        _paste_json(page, draft)  # the flawed draft
        page.click("button[type=submit]")
        page.wait_for_url(server + "/ui/submissions/*")
        assert page.locator("[data-testid=compare-summary]").count() == 0
        detail = page.url
        resubmit = page.locator("form[action$='/versions']")
        resubmit.locator("textarea[name=json_text]").fill(json.dumps(fixed, ensure_ascii=False, indent=1))
        resubmit.get_by_role("button", name="重新提交").click()
        page.wait_for_url(detail)
        summary = page.locator("[data-testid=compare-summary]")
        assert "与上一版对比" in summary.inner_text() and "v1 → v2" in summary.inner_text()
        summary.screenshot(path=str(SHOTS / "compare_summary.png"))
        page.click("[data-testid=compare-link]")
        page.wait_for_url(server + "/ui/submissions/*/compare?base=1&head=2")
        assert page.locator("h1").inner_text() == "版本对比：雾炮车抑尘降尘服务（修改稿）"
        assert page.locator("[data-testid=score-delta]").inner_text().startswith("↑")
        assert page.locator("[data-testid=resolved] li").count() >= 3
        assert "控制在预算内" in page.locator("[data-testid=resolved]").inner_text()
        rows = page.locator("[data-testid=row-changes]")
        assert "≤250万元" in rows.locator("tr.row-changed", has_text="控制在预算内").inner_text()
        assert "城区PM10年平均浓度下降" in rows.locator("tr.row-added").inner_text()
        assert "项目名称" in page.locator("table.header-changes").inner_text()
        assert "已采纳" in page.locator("table.suggestion-outcomes").inner_text()
        page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
        # one's own API tokens: create (shown once), use, revoke
        page.click("header nav >> text=我的令牌")
        page.wait_for_url(server + "/ui/tokens")
        form = page.locator("[data-testid=create-own-token]")
        form.locator("input[name=note]").fill("财务系统对接")
        form.locator("select[name=days]").select_option("90")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        token = page.locator("[data-testid=new-token] code.secret").inner_text().strip()
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(server + "/api/me", headers=bearer).json()["username"] == "unitA"
        page.screenshot(path=str(SHOTS / "tokens_self_service.png"), full_page=True)
        page.locator("table.tokens tbody tr", has_text="财务系统对接").locator("button", has_text="撤销").click()
        page.wait_for_load_state()
        assert "已撤销令牌" in page.locator(".notice").inner_text() and token not in page.content()
        assert httpx.get(server + "/api/me", headers=bearer).status_code == 401
        ctx.close()
    assert not csp_errors, csp_errors


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium fonts-wqy-microhei)")
def test_unit_picks_library_indicators_without_losing_its_edits(server):
    import json

    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    draft = {"project_name": "2025年干部教育培训班", "department": "某县委组织部", "implementing_unit": "某县委党校",
             "annual_goal": "举办干部培训班3期，培训300人次", "amount_total_wan": 30,
             "indicators": [{"level1": "产出指标", "level2": "数量指标", "name": "培训人次", "value": "≥300人次"},
                            {"level1": "成本指标", "level2": "经济成本指标", "name": "培训费标准", "value": "≤900元/人天"}]}
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        ctx = _browser(p, profile)
        page = ctx.new_page()
        _login(page, server, "unitA")
        page.wait_for_url(server + "/ui/submit")
        _paste_json(page, json.dumps(draft, ensure_ascii=False))
        page.click("button[type=submit]")
        page.wait_for_url(server + "/ui/submissions/*")
        assert "培训/会议" in page.locator("[data-testid=knowledge]").inner_text()
        assert "K-03" in page.locator("table.indicators").inner_text()
        box = page.locator("form[action$='/versions'] textarea[name=json_text]")
        edited = box.input_value().replace("培训300人次", "培训300人次，结业考核合格率95%以上")
        box.fill(edited)  # typed, not saved: going to the library must keep it
        page.click("[data-testid=to-library]")
        page.wait_for_url(server + "/ui/library?*")
        page.locator("input[name=pick]").nth(0).check()
        page.locator("input[name=pick]").nth(2).check()
        page.screenshot(path=str(SHOTS / "library_pick.png"), full_page=True)
        page.get_by_role("button", name="加入修改稿").click()
        page.wait_for_load_state()
        assert "已把 2 个指标" in page.locator("[role=status]").inner_text()
        text = page.locator("form[action$='/versions'] textarea[name=json_text]").input_value()
        assert "结业考核合格率95%以上" in text and len(json.loads(text)["indicators"]) == 4
        page.screenshot(path=str(SHOTS / "library_picked.png"), full_page=True)
        ctx.close()


def _paste_json(page, text: str) -> None:  # type: ignore[no-untyped-def]
    """On 提交草稿 the JSON box is the collapsed 高级 option under the Excel upload: open it, then paste."""
    page.click("details.advanced summary")
    page.fill("details.advanced textarea[name=json_text]", text)


def _fill_template(path: Path, *, name: str, goal: str, rows: list[tuple[str, str, str]]) -> dict[str, int]:
    """Fill the downloaded blank 申报表 as a unit would: the project name and annual goal beside their labels, each
    (二级指标, 三级指标, 指标值) in the first free row of that 二级指标's block. A value starting with 「=」 is stored as
    text, as Excel keeps it when typed with a leading apostrophe. Returns each indicator's worksheet row."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb.active
    for row in ws.iter_rows():
        for cell in row:
            if cell.value in ("项目名称", "年度目标"):
                ws.cell(row=cell.row, column=cell.column + 1, value=name if cell.value == "项目名称" else goal)
    where: dict[str, int] = {}
    for level2, indicator, value in rows:
        start = next(c.row for c in ws["B"] if c.value == level2)
        free = next(r for r in range(start, start + 3) if not ws.cell(row=r, column=3).value)
        ws.cell(row=free, column=3, value=indicator)
        cell = ws.cell(row=free, column=4, value=value)
        if value.startswith("="):
            cell.data_type = "s"  # text, not a formula
        where[indicator] = free
    wb.save(path)
    return where


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium fonts-wqy-microhei)")
def test_unit_fills_excel_template_and_reviewer_decision_reaches_the_exports(server, tmp_path):
    """A unit downloads the blank 88-style template, fills it (a satisfaction target typed as the text 「=100%」),
    uploads it and sees the row-by-row advice naming the Excel rows; a reviewer accepts one suggestion, rejects
    another and passes it with a grade other than the machine's: the page, the queue (searched by a word of the
    project name) and both exported 审核意见表 (.docx, .xlsx) say so, with the machine grade labelled as such."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from docx import Document
    from openpyxl import load_workbook

    SHOTS.mkdir(exist_ok=True)
    blank = tmp_path / "申报表.xlsx"
    name = "老城区主干道机扫洒水保洁服务"
    csp_errors: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        ctx = _browser(p, profile)
        page = ctx.new_page()
        page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
        _login(page, server, "unitA")
        page.wait_for_url(server + "/ui/submit")
        # another project in the queue, which the search below must hide
        _paste_json(page, (ROOT / "samples" / "draft.json").read_text(encoding="utf-8"))
        page.click("button[type=submit]")
        page.wait_for_url(server + "/ui/submissions/*")
        page.click("header nav >> text=提交草稿")
        page.wait_for_url(server + "/ui/submit")
        assert not page.locator("details.advanced textarea[name=json_text]").is_visible()  # JSON is the advanced way
        with page.expect_download() as download:
            page.click("[data-testid=template-88]")
        download.value.save_as(blank)
        where = _fill_template(blank, name=name, goal="全年对城区主干道洒水降尘，改善空气质量",
                               rows=[("数量指标", "洒水车辆数", "10"), ("数量指标", "洒水道路里程", "≥120公里"),
                                     ("时效指标", "服务周期", "180"), ("服务对象满意度指标", "市民满意度", "=100%")])
        page.set_input_files("input[name=file]", str(blank))
        page.screenshot(path=str(SHOTS / "submit_excel.png"), full_page=True)
        page.click("button[type=submit]")
        page.wait_for_url(server + "/ui/submissions/*")
        detail = page.url
        assert page.locator("h1").first.inner_text() == name
        machine = page.locator("[data-testid=grade] .grade").inner_text()
        assert machine in {"优", "良", "中", "差"}
        rows = page.locator("table.indicators tbody tr")
        vehicles = rows.filter(has_text="洒水车辆数").inner_text()
        assert f"第1个指标（Excel 第{where['洒水车辆数']}行）「洒水车辆数」" in vehicles and "没有计量单位" in vehicles
        assert "建议：" in vehicles
        satisfaction = rows.filter(has_text="市民满意度")
        assert satisfaction.locator("td").nth(4).inner_text() == "=100%"  # read as text, not as a formula
        said = satisfaction.locator("td").nth(5).inner_text()
        assert f"第4个指标（Excel 第{where['市民满意度']}行）「市民满意度」" in said and "100%" in said and "建议：" in said
        fixes = page.locator("table.suggestions tbody tr")
        assert "≥10辆" in fixes.filter(has_text="洒水车辆数：10").inner_text()
        assert "≥90%" in fixes.filter(has_text="市民满意度：=100%").inner_text()
        assert page.locator("[data-testid=export-docx]").is_visible()
        assert page.locator("[data-testid=final-grade]").count() == 0
        page.screenshot(path=str(SHOTS / "result_excel.png"), full_page=True)
        ctx.close()
    final = "良" if machine != "良" else "中"
    opinion = "同意车辆数按建议修改，服务周期按原值。"
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        ctx = _browser(p, profile)
        page = ctx.new_page()
        page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
        _login(page, server, "rev")
        page.wait_for_url(server + "/ui/submissions")
        # the queue: a word of the project name finds it and hides the others
        assert page.locator("table.queue tbody tr", has_text="雾炮车抑尘降尘服务").count() >= 1
        page.fill("[data-testid=queue-filters] input[name=q]", "机扫")
        page.click("[data-testid=queue-filters] button[type=submit]")
        page.wait_for_url(server + "/ui/submissions?*")
        queue = page.locator("table.queue tbody tr")
        assert queue.count() == 1 and name in queue.first.inner_text()
        assert "雾炮车" not in page.locator("table.queue").inner_text()
        assert page.locator("[data-testid=queue-count]").inner_text().startswith("共 1 项")
        page.screenshot(path=str(SHOTS / "queue_search.png"), full_page=True)
        page.click(f"table.queue >> text={name}")
        page.wait_for_url(detail)
        accepted = page.locator("table.suggestions tbody tr", has_text="洒水车辆数：10")
        rejected = page.locator("table.suggestions tbody tr", has_text="服务周期：180")
        accepted.locator("input[type=radio][value=accept]").check()
        rejected.locator("input[type=radio][value=reject]").check()
        numbers = (accepted.locator("td").first.inner_text(), rejected.locator("td").first.inner_text())
        page.select_option("select[name=final_grade]", final)
        page.fill("textarea[name=opinion]", opinion)
        page.click("button[value=passed]")
        page.wait_for_url(detail)
        assert page.locator("[data-testid=final-grade] .grade").inner_text() == final
        assert "审核人最终等级" in page.locator("[data-testid=final-grade]").inner_text()
        assert "系统评分" in page.locator("[data-testid=grade]").inner_text()
        assert page.locator("[data-testid=grade] .grade").inner_text() == machine
        def outcome(text: str) -> str:
            return page.locator("table.suggestions tbody tr", has_text=text).locator("[data-testid=outcome]").inner_text()

        assert outcome("洒水车辆数：10") == "已采纳" and outcome("服务周期：180") == "未采纳"
        assert outcome("市民满意度：=100%") == "未处理"
        record = page.locator("[data-testid=decisions] tbody tr").first.inner_text()
        assert opinion in record and "审核通过" in record
        assert f"采纳 #{numbers[0]}" in record and f"未采纳 #{numbers[1]}" in record
        page.screenshot(path=str(SHOTS / "decision.png"), full_page=True)
        with page.expect_download() as download:
            page.click("[data-testid=export-docx]")
        docx_path = tmp_path / "审核意见表.docx"
        download.value.save_as(docx_path)
        with page.expect_download() as download:
            page.click("[data-testid=export-xlsx]")
        xlsx_path = tmp_path / "审核意见表.xlsx"
        download.value.save_as(xlsx_path)
        page.goto(server + "/ui/submissions")
        page.fill("[data-testid=queue-filters] input[name=q]", "主干道")
        page.click("[data-testid=queue-filters] button[type=submit]")
        page.wait_for_url(server + "/ui/submissions?*")
        row = page.locator("table.queue tbody tr", has_text=name)
        assert row.count() == 1 and "审核通过" in row.inner_text()
        assert row.locator("[data-testid=queue-grade] .grade").inner_text() == final
        assert "审核人最终等级" in row.locator("[data-testid=queue-grade]").inner_text()
        assert f"系统初评 {machine}" in row.inner_text()
        page.screenshot(path=str(SHOTS / "queue_decided.png"), full_page=True)
        ctx.close()
    assert not csp_errors, csp_errors
    doc = Document(str(docx_path))
    cells = [[c.text for c in r.cells] for t in doc.tables for r in t.rows]
    summary = {r[0]: r[1] for r in cells if len(r) == 2}
    assert summary["审核人最终等级"] == final and summary["审核结论"] == "审核通过" and summary["审核人"] == "rev"
    assert summary["审核意见"] == opinion
    assert summary["系统初评（系统评分）"].startswith(machine) and summary["系统初评（系统评分）"].endswith("分）")
    handled = [r for r in cells if len(r) == 5 and r[1] in ("已采纳", "未采纳")]
    marked = {r[1]: (r[0], r[3]) for r in handled}
    assert len(handled) == 2 and marked["已采纳"][0] == numbers[0] and marked["未采纳"][0] == numbers[1]
    assert "洒水车辆数" in marked["已采纳"][1] and "≥10辆" in marked["已采纳"][1] and "服务周期" in marked["未采纳"][1]
    assert any(p.text == "九、审核人意见" for p in doc.paragraphs)
    sheet = load_workbook(xlsx_path)["审核意见表"]
    flat = [str(v) for r in sheet.iter_rows(values_only=True) for v in r if v is not None]
    assert "九、审核人意见" in flat and "审核人最终等级" in flat and final in flat and opinion in flat
    assert "系统初评等级（系统评分）" in flat and any(v.startswith(machine) and v.endswith("分）") for v in flat)
    assert "已采纳" in flat and "未采纳" in flat and any("≥10辆" in v for v in flat)
