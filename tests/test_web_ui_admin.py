"""Admin and batch pages: role checks, CSRF, users, tokens shown once and revoked, rule profiles,
corpus import, audit log, the batch upload → status page flow, and an expired session."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.critique.offline import OfflineCritic
from assistant.web.app import WebConfig
from tests.webkit import USERS, Clock, make_app

ROOT = Path(__file__).resolve().parents[1]
DRAFT = json.loads((ROOT / "samples" / "draft.json").read_text(encoding="utf-8"))
HTML = {"Accept": "text/html"}
ADMIN_PAGES = ["/ui/admin/users", "/ui/admin/tokens", "/ui/admin/profiles", "/ui/admin/profiles/default",
               "/ui/admin/corpus", "/ui/admin/audit"]


class SometimesFallsBack:
    """The offline critic, reporting an LLM fallback for projects named …超时… (as the LLM critic would)."""

    name = "openai"

    def __init__(self) -> None:
        self.offline = OfflineCritic()

    def critique(self, inp):  # type: ignore[no-untyped-def]
        result = self.offline.critique(inp)
        if "超时" in inp.target.project_name:
            result = result.model_copy(update={"fallback_reason": "LLM 接口超时，已改用离线评审"})
        return result


@pytest.fixture(scope="module")
def app(tmp_path_factory, deps):
    clock = Clock()
    application = make_app(tmp_path_factory.mktemp("uiadmin") / "ui.db",
                           dataclasses.replace(deps, critic=SometimesFallsBack()), users=(USERS[0], USERS[2]),
                           clock=clock, config=WebConfig(rate_per_s=0, login_rate_per_s=0))
    application.state.test_clock = clock
    return application


def _csrf(client: TestClient, url: str = "/login") -> str:
    page = client.get(url, headers=HTML)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _login(app, name: str, pw: str = "password-123") -> TestClient:
    c = TestClient(app)
    r = c.post("/login", data={"username": name, "password": pw, "csrf_token": _csrf(c)}, headers=HTML,
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


@pytest.fixture(scope="module")
def admin(app):
    return _login(app, "root", "root-password")


def _post(c: TestClient, url: str, form_url: str, data: dict, **kw):
    return c.post(url, data={"csrf_token": _csrf(c, form_url), **data}, headers=HTML, **kw)


def test_admin_pages_are_admin_only(app, admin):
    for name in ("unitA", "rev"):
        c = _login(app, name)
        for url in ADMIN_PAGES:
            r = c.get(url, headers=HTML)
            assert r.status_code == 403 and "管理员" in r.text, (name, url)
        assert "/ui/admin/users" not in c.get("/ui/submissions", headers=HTML).text
        r = _post(c, "/ui/admin/profiles/active", "/ui/submissions", {"name": "xinjiang"})
        assert r.status_code == 403
    anonymous = TestClient(app)
    r = anonymous.get("/ui/admin/users", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    for url in ADMIN_PAGES:
        r = admin.get(url, headers=HTML)
        assert r.status_code == 200, url
        assert 'class="tabs"' in r.text


def test_admin_creates_and_disables_user(app, admin):
    r = admin.post("/ui/admin/users", data={"username": "unitC", "password": "long-password", "role": "unit",
                                             "unit": "丙单位"}, headers=HTML)
    assert r.status_code == 403  # no CSRF token
    r = _post(admin, "/ui/admin/users", "/ui/admin/users", {"username": "unitC", "password": "long-password",
                                                               "role": "unit", "unit": "丙单位"})
    assert r.status_code == 200 and "已创建用户「unitC」" in r.text and "丙单位" in r.text
    r = _post(admin, "/ui/admin/users", "/ui/admin/users", {"username": "unitD", "password": "short", "role": "unit",
                                                               "unit": "丁"})
    assert r.status_code == 400 and "密码（至少 8 位）" in r.text
    r = _post(admin, "/ui/admin/users", "/ui/admin/users", {"username": "unitE", "password": "long-password",
                                                               "role": "unit", "unit": ""})
    assert r.status_code == 400 and "必须填写所属单位" in r.text
    unit_c = _login(app, "unitC", "long-password")
    uid = app.state.store.user_by_name("unitC")["id"]
    r = _post(admin, f"/ui/admin/users/{uid}/disabled", "/ui/admin/users", {"disabled": "1"})
    assert r.status_code == 200 and "已停用用户「unitC」" in r.text
    r = unit_c.get("/ui/submit", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = unit_c.get("/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = unit_c.post("/login", data={"username": "unitC", "password": "long-password", "csrf_token": token},
                    headers=HTML)
    assert r.status_code == 401 and "已停用" in r.text


def test_token_shown_once_and_revoked(app, admin):
    uid = app.state.store.user_by_name("unitA")["id"]
    r = _post(admin, "/ui/admin/tokens", "/ui/admin/tokens", {"user_id": str(uid), "note": "财务系统对接"})
    assert r.status_code == 200 and "只显示这一次" in r.text
    token = re.search(r'<code class="secret">([^<]+)</code>', r.text).group(1)
    api = TestClient(app)
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/me", headers=bearer).json()["username"] == "unitA"
    listing = admin.get("/ui/admin/tokens", headers=HTML).text
    assert token not in listing and token[:6] in listing and "财务系统对接" in listing
    tid = max(t["id"] for t in app.state.store.list_tokens(user_id=uid))
    r = _post(admin, f"/ui/admin/tokens/{tid}/revoke", "/ui/admin/tokens", {})
    assert r.status_code == 200 and "已撤销令牌" in r.text and "已撤销</td>" in r.text
    r = api.get("/api/me", headers=bearer)
    assert r.status_code == 401


def test_admin_switches_and_uploads_profiles(app, admin):
    page = admin.get("/ui/admin/profiles/xinjiang", headers=HTML).text
    assert "三级指标最少个数" in page and "C-09" in page and "（已调整）" in page
    r = _post(admin, "/ui/admin/profiles/active", "/ui/admin/profiles", {"name": "xinjiang"})
    assert r.status_code == 200 and "已切换为「新疆" in r.text
    assert app.state.store.get_setting("active_profile") == "xinjiang"
    r = _post(admin, "/ui/admin/profiles", "/ui/admin/profiles", {"json_text": '{"name": "x", "disabled": ["Q-1"]}'})
    assert r.status_code == 400 and "title（标题） 缺失" in r.text
    files = {"file": ("bureau.json", json.dumps({"name": "bureau", "title": "本局配置", "disabled": ["S-06"]},
                                                ensure_ascii=False).encode(), "application/json")}
    r = admin.post("/ui/admin/profiles", data={"csrf_token": _csrf(admin, "/ui/admin/profiles")}, files=files,
                   headers=HTML)
    assert r.status_code == 200 and "已保存自定义规则配置「本局配置」" in r.text
    unit = _login(app, "unitA")
    form = unit.get("/ui/submit", headers=HTML).text
    assert 'value="bureau"' in form and "服务器当前配置（新疆" in form
    r = _post(unit, "/ui/submit", "/ui/submit", {"json_text": json.dumps(DRAFT, ensure_ascii=False),
                                                 "profile": "bureau"}, follow_redirects=False)
    sid = int(r.headers["location"].rsplit("/", 1)[1])
    page = unit.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert "规则配置：本局配置（bureau）" in page and "[S-06]" not in page
    r = _post(unit, "/ui/submit", "/ui/submit", {"json_text": json.dumps(DRAFT, ensure_ascii=False),
                                                 "profile": "nope"})
    assert r.status_code == 400 and "未知的规则配置" in r.text
    r = _post(admin, "/ui/admin/profiles/bureau/delete", "/ui/admin/profiles", {})
    assert "已删除规则配置" in r.text
    _post(admin, "/ui/admin/profiles/active", "/ui/admin/profiles", {"name": "default"})


def test_corpus_import_and_audit_pages(app, admin):
    record = dict(DRAFT, project_name="导入的先例项目", id="imp-1")
    files = {"file": ("history.jsonl", json.dumps(record, ensure_ascii=False).encode(), "application/x-ndjson")}
    r = admin.post("/ui/admin/corpus", data={"csrf_token": _csrf(admin, "/ui/admin/corpus")}, files=files,
                   headers=HTML)
    assert r.status_code == 200 and "新增 1 条，重复 0 条" in r.text
    r = admin.post("/ui/admin/corpus", data={"csrf_token": _csrf(admin, "/ui/admin/corpus")}, files=files,
                   headers=HTML)
    assert "新增 0 条，重复 1 条" in r.text
    bad = {"file": ("notes.txt", b"hello", "text/plain")}
    r = admin.post("/ui/admin/corpus", data={"csrf_token": _csrf(admin, "/ui/admin/corpus")}, files=bad,
                   headers=HTML)
    assert r.status_code == 400 and ".jsonl" in r.text
    page = admin.get("/ui/admin/audit", headers=HTML).text
    assert "导入先例" in page and "root" in page
    filtered = admin.get("/ui/admin/audit", params={"action": "corpus_imported"}, headers=HTML).text
    assert "导入先例" in filtered and "创建用户</td>" not in filtered


def test_batch_upload_page_flow(app):
    unit = _login(app, "unitA")
    assert "批量上传" in unit.get("/ui/submit", headers=HTML).text
    lines = [json.dumps(DRAFT, ensure_ascii=False), "{broken",
             json.dumps(dict(DRAFT, project_name="接口超时的项目"), ensure_ascii=False)]
    files = {"file": ("drafts.jsonl", "\n".join(lines).encode(), "application/x-ndjson")}
    r = unit.post("/ui/batches", data={"csrf_token": _csrf(unit, "/ui/batches"), "profile": "central101"},
                  files=files, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    assert re.fullmatch(r"/ui/batches/\d+", url)
    for _ in range(400):
        page = unit.get(url, headers=HTML).text
        if "已完成" in page:
            break
        assert 'http-equiv="refresh"' in page  # reloads itself while running
        time.sleep(0.05)
    assert 'http-equiv="refresh"' not in page
    assert "3/3" in page and "失败 1" in page and "改用离线评审 1" in page and "central101" in page
    assert "第2行" in page and "LLM 接口超时" in page
    links = re.findall(r'href="/ui/submissions/(\d+)"', page)
    assert len(links) == 2
    assert "雾炮车" in unit.get(f"/ui/submissions/{links[0]}", headers=HTML).text
    assert url in unit.get("/ui/batches", headers=HTML).text
    bad = {"file": ("drafts.csv", b"a,b", "text/csv")}
    r = unit.post("/ui/batches", data={"csrf_token": _csrf(unit, "/ui/batches")}, files=bad, headers=HTML)
    assert r.status_code == 400 and "批量上传只支持" in r.text
    rev = _login(app, "rev")
    assert rev.get("/ui/batches", headers=HTML).status_code == 403
    assert rev.get(url, headers=HTML).status_code == 403
    other = _login(app, "root", "root-password")
    assert other.get(url, headers=HTML).status_code == 200  # admins see every job


def test_expired_session_redirects_to_login(app):
    unit = _login(app, "unitA")
    assert unit.get("/ui/batches", headers=HTML, follow_redirects=False).status_code == 200
    clock = app.state.test_clock
    clock.t += app.state.config.session_idle_s + 1
    try:
        r = unit.get("/ui/batches", headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    finally:
        clock.t -= app.state.config.session_idle_s + 1


def test_every_user_manages_own_tokens(app, admin):
    from assistant.web.auth import token_hash
    from assistant.web.ui_tokens import MAX_ACTIVE

    rev, api, store = _login(app, "rev"), TestClient(app), app.state.store
    page = rev.get("/ui/tokens", headers=HTML)
    assert page.status_code == 200 and "我的 API 令牌" in page.text and "暂无令牌" in page.text
    assert 'href="/ui/tokens"' in rev.get("/ui/submissions", headers=HTML).text  # linked from the header
    assert rev.post("/ui/tokens", data={"note": "x", "days": "30"}, headers=HTML).status_code == 403  # no CSRF
    r = _post(rev, "/ui/tokens", "/ui/tokens", {"note": "审核脚本", "days": "30"})
    assert r.status_code == 200 and "只显示这一次" in r.text and "有效期：30 天" in r.text
    token = re.search(r'<code class="secret">([^<]+)</code>', r.text).group(1)
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/me", headers=bearer).json()["username"] == "rev"
    row = store.token_row(token_hash(token), kind="api")
    assert row["t_expires_s"] - row["t_created_s"] == 30 * 86400
    listing = rev.get("/ui/tokens", headers=HTML).text
    assert token not in listing and token[:6] in listing and "审核脚本" in listing and "撤销" in listing
    # another user's token is not found on this page, for an admin too (admins use the admin page)
    for other in (_login(app, "unitA"), admin):
        r = _post(other, f"/ui/tokens/{row['t_id']}/revoke", "/ui/tokens", {})
        assert r.status_code == 404 and "审核脚本" not in r.text
    assert api.get("/api/me", headers=bearer).status_code == 200
    assert "审核脚本" not in admin.get("/ui/tokens", headers=HTML).text
    assert "审核脚本" not in _login(app, "unitA").get("/ui/tokens", headers=HTML).text
    assert _post(rev, "/ui/tokens/999999/revoke", "/ui/tokens", {}).status_code == 404
    r = _post(rev, "/ui/tokens", "/ui/tokens", {"note": "x", "days": "7"})
    assert r.status_code == 400 and "请选择有效期" in r.text
    # revoking one's own works at once
    r = _post(rev, f"/ui/tokens/{row['t_id']}/revoke", "/ui/tokens", {})
    assert r.status_code == 200 and "已撤销令牌" in r.text and "已撤销</td>" in r.text
    assert api.get("/api/me", headers=bearer).status_code == 401
    # a long-lived one, then the cap on active tokens
    r = _post(rev, "/ui/tokens", "/ui/tokens", {"note": "长期对接", "days": "0"})
    token = re.search(r'<code class="secret">([^<]+)</code>', r.text).group(1)
    assert store.token_row(token_hash(token), kind="api")["t_expires_s"] is None
    assert "直至撤销" in rev.get("/ui/tokens", headers=HTML).text
    for _ in range(MAX_ACTIVE - 1):
        assert _post(rev, "/ui/tokens", "/ui/tokens", {"note": "批量", "days": "30"}).status_code == 200
    r = _post(rev, "/ui/tokens", "/ui/tokens", {"note": "再来一个", "days": "30"})
    assert r.status_code == 400 and "上限" in r.text and 'class="secret"' not in r.text
    actions = {(a["user"], a["action"]) for a in store.audit_rows(limit=2000)}
    assert ("rev", "token_issued_for") in actions and ("rev", "token_revoked") in actions
