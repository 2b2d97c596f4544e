"""Web API administration: roles, token listing and revocation, disabling users, rule profiles
(list, detail, upload, active profile, per-submission choice), session expiry with an injected
clock, security headers, batch uploads of .json / .xlsx, and the schema migration."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.errors import ConfigError
from assistant.rules.catalogue import RULES
from assistant.store import MIGRATIONS
from assistant.web.app import CSP, WebConfig, create_app
from assistant.web.store import Store
from tests.webkit import DRAFT, HTML, PW, ROOT, USERS, Clock, api_token, make_app, ui_login


def _app(tmp_path: Path, deps, *, clock=None, **config):
    return make_app(tmp_path / "web.db", deps, users=USERS[:3], clock=clock,
                    config=WebConfig(rate_per_s=0, login_rate_per_s=0, **config))


@pytest.fixture(scope="module")
def client(tmp_path_factory, deps):
    with TestClient(_app(tmp_path_factory.mktemp("admin"), deps)) as c:
        yield c


_token = api_token


@pytest.fixture(scope="module")
def tok(client):
    return {n: _token(client, n) for n in ("root", "unitA", "unitB", "rev")}


def _rules(review: dict) -> set[str]:
    return {f["rule_id"] for f in review["findings"]}


_ui_login = ui_login


# -- authorisation -----------------------------------------------------------------------------
def test_admin_endpoints_refuse_other_roles(client, tok):
    calls = [("get", "/api/users", {}), ("post", "/api/users", {"json": {"username": "x1", "password": "long-pass",
                                                                            "role": "unit", "unit": "丙"}}),
             ("patch", "/api/users/2", {"json": {"disabled": True}}), ("post", "/api/users/2/tokens", {}),
             ("get", "/api/audit", {}), ("put", "/api/active-profile", {"json": {"name": "xinjiang"}}),
             ("post", "/api/profiles", {"json": {"name": "mine", "title": "我的"}}),
             ("delete", "/api/profiles/mine", {}),
             ("post", "/api/corpus/import", {"files": {"file": ("a.jsonl", b"{}", "application/json")}})]
    for who in ("unitA", "rev"):
        for method, url, kw in calls:
            r = client.request(method.upper(), url, headers=tok[who], **kw)
            assert r.status_code == 403, (who, method, url, r.status_code, r.text)
            assert "管理员" in r.json()["error"]
    assert client.get("/api/active-profile", headers=tok["unitA"]).json()["name"] == "default"


# -- tokens ------------------------------------------------------------------------------------
def test_tokens_listed_without_secret_and_revoked_at_once(client, tok):
    users = {u["username"]: u["id"] for u in client.get("/api/users", headers=tok["root"]).json()}
    r = client.post(f"/api/users/{users['unitB']}/tokens", params={"note": "对接系统"}, headers=tok["root"])
    assert r.status_code == 201, r.text
    issued = r.json()
    secret, tid = issued["token"], issued["id"]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/me", headers=bearer).json()["username"] == "unitB"
    listed = client.get("/api/tokens", headers=tok["root"]).json()
    mine = next(t for t in listed if t["id"] == tid)
    assert mine["prefix"] == secret[:6] and mine["note"] == "对接系统" and mine["active"]
    assert mine["last_used"]  # the /api/me call above
    assert secret not in json.dumps(listed) and "hash" not in json.dumps(listed)
    # stored as a hash only
    rows = client.app.state.store.db.execute("SELECT token_hash FROM tokens").fetchall()
    assert all(secret not in r[0] for r in rows) and all(len(r[0]) == 64 for r in rows)
    r = client.delete(f"/api/tokens/{tid}", headers=tok["root"])
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["revoked"]
    r = client.get("/api/me", headers=bearer)
    assert r.status_code == 401 and "撤销" in r.json()["error"]
    assert client.delete("/api/tokens/999999", headers=tok["root"]).status_code == 404


def test_user_revokes_own_token_only(client, tok):
    own = _token(client, "unitA")
    listed = client.get("/api/tokens", headers=own).json()
    assert listed and {t["username"] for t in listed} == {"unitA"}
    current = next(t for t in listed if t["current"])
    others = [t for t in client.get("/api/tokens", headers=tok["root"]).json() if t["username"] != "unitA"]
    assert client.delete(f"/api/tokens/{others[0]['id']}", headers=own).status_code == 404
    assert client.get("/api/me", headers=tok["root"]).status_code == 200
    assert client.delete(f"/api/tokens/{current['id']}", headers=own).status_code == 200
    assert client.get("/api/me", headers=own).status_code == 401
    assert client.get("/api/me", headers=tok["unitA"]).status_code == 200  # another token of the same user


def test_disabling_user_ends_tokens_and_sessions(tmp_path, deps):
    app = _app(tmp_path, deps)
    with TestClient(app) as c:
        root = _token(c, "root", "root-password")
        unit = _token(c, "unitB")
        browser = _ui_login(app, "unitB")
        assert browser.get("/ui/submit", headers=HTML).status_code == 200
        uid = next(u["id"] for u in c.get("/api/users", headers=root).json() if u["username"] == "unitB")
        me = next(u["id"] for u in c.get("/api/users", headers=root).json() if u["username"] == "root")
        r = c.patch(f"/api/users/{me}", json={"disabled": True}, headers=root)
        assert r.status_code == 400 and "自己" in r.json()["error"]
        r = c.patch(f"/api/users/{uid}", json={"disabled": True}, headers=root)
        assert r.status_code == 200 and r.json()["disabled"] is True
        assert c.get("/api/me", headers=unit).status_code == 401
        r = browser.get("/ui/submit", headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        r = c.post("/api/login", json={"username": "unitB", "password": PW})
        assert r.status_code == 401 and "停用" in r.json()["error"]
        r = c.post(f"/api/users/{uid}/tokens", headers=root)
        assert r.status_code == 400 and "停用" in r.json()["error"]
        assert c.patch(f"/api/users/{uid}", json={"disabled": False}, headers=root).json()["disabled"] is False
        assert c.get("/api/me", headers=unit).status_code == 401  # revoked tokens stay revoked
        assert c.get("/api/me", headers=_token(c, "unitB")).status_code == 200
        assert c.patch("/api/users/999999", json={"disabled": True}, headers=root).status_code == 404


# -- profiles ----------------------------------------------------------------------------------
def test_profiles_listed_with_content(client, tok):
    rows = client.get("/api/profiles", headers=tok["unitA"]).json()
    names = {p["name"]: p for p in rows}
    assert {"default", "central101", "xinjiang"} <= set(names) and names["default"]["active"]
    assert all(p["builtin"] for p in rows if p["name"] in ("default", "central101", "xinjiang"))
    d = client.get("/api/profiles/xinjiang", headers=tok["unitA"]).json()
    assert d["thresholds"]["min_indicators"] == 7 and d["thresholds"]["quant_share_strict"] is True
    rules = {r["id"]: r for r in d["rules"]}
    assert len(rules) == len(RULES)
    assert rules["C-09"]["severity"] == "error" and rules["C-09"]["default_severity"] == "warning"
    assert all(r["enabled"] for r in rules.values())
    r = client.get("/api/profiles/nowhere", headers=tok["unitA"])
    assert r.status_code == 404 and "规则配置" in r.json()["error"]


def test_submission_chooses_profile(client, tok):
    base = client.post("/api/submissions", json=DRAFT, headers=tok["unitA"]).json()["submission"]["review"]
    r = client.post("/api/submissions", params={"profile": "central101"}, json=DRAFT, headers=tok["unitA"])
    assert r.status_code == 201, r.text
    chosen = r.json()["submission"]["review"]
    assert base["meta"]["profile"] == "default" and chosen["meta"]["profile"] == "central101"
    assert "C-01" in _rules(chosen) and "C-01" not in _rules(base)  # 101 requires 主管部门/实施期… in the header
    r = client.post("/api/submissions", params={"profile": "hainan"}, json=DRAFT, headers=tok["unitA"])
    assert r.status_code == 400 and "未知的规则配置" in r.json()["error"] and "xinjiang" in r.json()["error"]
    r = client.post("/api/submissions", params={"profile": "../etc/passwd"}, json=DRAFT, headers=tok["unitA"])
    assert r.status_code == 422 and "规则配置" in r.json()["error"]
    sid = r0 = client.post("/api/submissions", json=DRAFT, headers=tok["unitA"]).json()["id"]
    assert r0
    r = client.post(f"/api/submissions/{sid}/versions", params={"profile": "central101"}, json=DRAFT,
                    headers=tok["unitA"])
    assert r.status_code == 201 and r.json()["submission"]["review"]["meta"]["profile"] == "central101"


def test_custom_profile_upload_disables_rule(client, tok):
    assert "S-06" in _rules(client.post("/api/submissions", json=DRAFT, headers=tok["unitA"]).json()["submission"]
                            ["review"])
    body = {"name": "no-s06", "title": "本局配置（不查 S-06）", "disabled": ["S-06"],
            "severity_overrides": {"C-11": "error"}}
    r = client.post("/api/profiles", json=body, headers=tok["root"])
    assert r.status_code == 201, r.text
    assert r.json() == {"name": "no-s06", "title": body["title"], "style": "88", "builtin": False, "active": False}
    r = client.post("/api/submissions", params={"profile": "no-s06"}, json=DRAFT, headers=tok["unitA"])
    review = r.json()["submission"]["review"]
    assert "S-06" not in _rules(review) and review["meta"]["profile"] == "no-s06"
    assert {f["severity"] for f in review["findings"] if f["rule_id"] == "C-11"} == {"error"}
    d = client.get("/api/profiles/no-s06", headers=tok["root"]).json()
    assert not next(x for x in d["rules"] if x["id"] == "S-06")["enabled"]
    # the same PrecedentIndex object serves every profile, and per-profile deps are cached
    from assistant.web.profiles import deps_for

    state = client.app.state
    first = deps_for(state, "no-s06")
    assert first is deps_for(state, "no-s06") and first.index is state.deps.index
    assert deps_for(state, "default") is state.deps
    # multipart upload of a .json file replaces it
    files = {"file": ("no-s06.json", json.dumps(dict(body, title="改名了"), ensure_ascii=False).encode(), "x/y")}
    assert client.post("/api/profiles", files=files, headers=tok["root"]).json()["title"] == "改名了"
    assert deps_for(state, "no-s06") is not first
    assert client.delete("/api/profiles/no-s06", headers=tok["root"]).json() == {"name": "no-s06"}
    r = client.post("/api/submissions", params={"profile": "no-s06"}, json=DRAFT, headers=tok["unitA"])
    assert r.status_code == 400


@pytest.mark.parametrize("payload, expected", [
    (b"{oops", "JSON 格式错误"),
    (b"[1, 2]", "JSON 对象"),
    (b'{"name": "x", "title": "t", "min_indicators": "seven"}', "min_indicators（三级指标最少个数） 应为整数"),
    (b'{"name": "x", "title": "t", "colour": "red"}', "未知字段"),
    (b'{"title": "t"}', "name（名称） 缺失"),
    (b'{"name": "x", "title": "t", "disabled": ["Z-99"]}', "未知的规则编号：Z-99"),
    (b'{"name": "x", "title": "t", "severity_overrides": {"C-01": "fatal"}}', "取值不在允许范围内"),
    (b'{"name": "Bad Name!", "title": "t"}', "小写字母"),
    (b'{"name": "default", "title": "t"}', "内置规则配置"),
    (b'{"name": "x", "title": "t", "min_quant_share": 1e400}', "0 到 10"),
    (b'{"name": "x", "title": "t", "required_header": ["salary"]}', "未知字段：salary"),
    (b"", "为空"),
    ("\ufeff{".encode("utf-16"), "UTF-8"),
])
def test_bad_profile_upload_is_chinese_400(client, tok, payload, expected):
    r = client.post("/api/profiles", content=payload, headers={**tok["root"], "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert expected in r.json()["error"], r.json()
    assert "Traceback" not in r.text


def test_active_profile_is_admin_only_and_persisted(tmp_path, deps):
    app = _app(tmp_path, deps)
    with TestClient(app) as c:
        root, unit = _token(c, "root", "root-password"), _token(c, "unitA")
        assert c.put("/api/active-profile", json={"name": "central101"}, headers=unit).status_code == 403
        r = c.put("/api/active-profile", json={"name": "hainan"}, headers=root)
        assert r.status_code == 400 and "未知的规则配置" in r.json()["error"]
        r = c.put("/api/active-profile", json={"name": "central101"}, headers=root)
        assert r.status_code == 200 and r.json()["name"] == "central101"
        review = c.post("/api/submissions", json=DRAFT, headers=unit).json()["submission"]["review"]
        assert review["meta"]["profile"] == "central101" and "C-01" in _rules(review)
        assert next(p for p in c.get("/api/profiles", headers=unit).json() if p["active"])["name"] == "central101"
        r = c.post("/api/profiles", json={"name": "mine", "title": "我的"}, headers=root)
        assert r.status_code == 201
        c.put("/api/active-profile", json={"name": "mine"}, headers=root)
        r = c.delete("/api/profiles/mine", headers=root)
        assert r.status_code == 400 and "正在使用" in r.json()["error"]
        assert c.delete("/api/profiles/xinjiang", headers=root).status_code == 400
    again = create_app(app.state.settings, deps=deps, store=Store(app.state.settings.db_path))
    with TestClient(again) as c:
        assert c.get("/api/active-profile", headers=_token(c, "unitA")).json()["name"] == "mine"


# -- sessions ----------------------------------------------------------------------------------
def test_session_idle_timeout(tmp_path, deps):
    clock = Clock()
    app = _app(tmp_path, deps, clock=clock, session_idle_s=3600, session_max_s=8 * 3600)
    c = _ui_login(app, "unitA")
    for _ in range(3):  # activity keeps the session alive past one idle period
        clock.advance(50)
        assert c.get("/ui/submit", headers=HTML, follow_redirects=False).status_code == 200
    clock.advance(61)
    r = c.get("/ui/submit", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/ui/submit", headers={"Accept": "application/json"}).status_code == 401
    n = app.state.store.db.execute("SELECT count(*) FROM tokens WHERE kind = 'session'").fetchone()[0]
    assert n == 0  # the ended session's row is gone


def test_session_absolute_lifetime(tmp_path, deps):
    clock = Clock()
    app = _app(tmp_path, deps, clock=clock, session_idle_s=3600, session_max_s=8 * 3600)
    c = _ui_login(app, "unitA")
    for _ in range(9):  # busy all day: every 50 minutes
        clock.advance(50)
        assert c.get("/ui/submissions", headers=HTML, follow_redirects=False).status_code == 200
    clock.advance(40)  # 8 h 10 min after login
    r = c.get("/ui/submissions", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    api = TestClient(app)  # API tokens are not sessions: they last until revoked
    assert api.get("/api/me", headers=_token(api, "unitA")).status_code == 200


def test_user_issues_own_token_through_the_api(tmp_path, deps):
    clock = Clock()
    app = _app(tmp_path, deps, clock=clock)
    api = TestClient(app)
    mine = _token(api, "unitB")
    r = api.post("/api/tokens", json={"note": "财务系统对接", "days": 30}, headers=mine)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["username"] == "unitB" and body["token"]
    own = {"Authorization": f"Bearer {body['token']}"}
    assert api.get("/api/me", headers=own).json()["username"] == "unitB"
    listed = {t["id"]: t for t in api.get("/api/tokens", headers=mine).json()}
    assert listed[body["id"]]["note"] == "财务系统对接" and listed[body["id"]]["expires"]
    assert body["token"] not in r.text.replace(body["token"], "", 1)  # the secret appears once only
    assert api.post("/api/tokens", json={"days": 7}, headers=mine).status_code == 422  # only 30/90/365/0
    clock.advance(30 * 24 * 60 + 1)
    assert api.get("/api/me", headers=own).status_code == 401
    fresh = _token(api, "unitB")
    for _ in range(19):  # the fresh login token + 19 more reach the cap of 20 active tokens
        assert api.post("/api/tokens", json={"days": 0}, headers=fresh).status_code == 201
    over = api.post("/api/tokens", json={}, headers=fresh)
    assert over.status_code == 400 and "上限" in over.json()["error"]


def test_login_tokens_expire_but_issued_tokens_do_not(tmp_path, deps):
    clock = Clock()
    app = _app(tmp_path, deps, clock=clock, login_token_s=24 * 3600)
    api = TestClient(app)
    mine, root = _token(api, "unitA"), _token(api, "root", "root-password")
    r = api.post("/api/users/2/tokens", headers=root)
    assert r.status_code == 201, r.text
    issued = {"Authorization": f"Bearer {r.json()['token']}"}
    listed = {t["note"]: t for t in api.get("/api/tokens", headers=mine).json()}
    assert listed["登录"]["expires"] and listed["登录"]["active"]
    clock.advance(24 * 60 - 1)
    assert api.get("/api/me", headers=mine).status_code == 200
    clock.advance(2)
    r = api.get("/api/me", headers=mine)
    assert r.status_code == 401 and "已过期" in r.json()["error"]
    assert api.get("/api/me", headers=issued).status_code == 200  # integration tokens last until revoked
    fresh = _token(api, "root", "root-password")
    rows = {t["id"]: t for t in api.get("/api/tokens", headers=fresh).json()}
    assert any(not t["active"] and t["revoked"] is None and t["expires"] for t in rows.values())


def test_logout_deletes_session_row(tmp_path, deps):
    app = _app(tmp_path, deps)
    c = _ui_login(app, "unitA")
    count = "SELECT count(*) FROM tokens WHERE kind = 'session'"
    assert app.state.store.db.execute(count).fetchone()[0] == 1
    page = c.get("/ui/submit", headers=HTML)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    cookie = c.cookies.get("session")
    assert c.post("/logout", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False).status_code == 303
    assert app.state.store.db.execute(count).fetchone()[0] == 0
    replay = TestClient(app, cookies={"session": cookie})
    assert replay.get("/ui/submit", headers=HTML, follow_redirects=False).status_code == 303


def test_session_settings_from_env():
    cfg = WebConfig.from_env({"ASSISTANT_SESSION_IDLE_MINUTES": "30", "ASSISTANT_SESSION_MAX_HOURS": "2"})
    assert cfg.session_idle_s == 1800 and cfg.session_max_s == 7200
    assert WebConfig.from_env({}).session_idle_s == 3600 and WebConfig.from_env({}).session_max_s == 8 * 3600
    with pytest.raises(ConfigError, match="ASSISTANT_SESSION_IDLE_MINUTES"):
        WebConfig.from_env({"ASSISTANT_SESSION_IDLE_MINUTES": "一小时"})
    with pytest.raises(ConfigError):
        WebConfig.from_env({"ASSISTANT_SESSION_MAX_HOURS": "-1"})


# -- headers -----------------------------------------------------------------------------------
def test_security_headers_everywhere(tmp_path, deps):
    app = _app(tmp_path, deps, max_body_bytes=2048)
    with TestClient(app) as c:
        responses = [c.get("/login", headers=HTML), c.get("/api/me"), c.get("/static/style.css"),
                     c.get("/ui/nowhere", headers=HTML), c.get("/openapi.json"),
                     c.post("/api/submissions", content=b"x" * 5000, headers={"Content-Type": "application/json"})]
        assert responses[-1].status_code == 413
        for r in responses:
            csp = r.headers["content-security-policy"]
            assert csp == CSP
            script = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
            assert "'unsafe-inline'" not in script and "frame-ancestors 'none'" in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin" and r.headers["x-frame-options"] == "DENY"
        assert responses[0].headers["cache-control"] == "no-store"
        assert "no-store" not in responses[2].headers.get("cache-control", "")
        docs = c.get("/docs")  # Swagger UI from this server (tests/test_ux_small.py): no CDN, no inline script
        assert "http" not in docs.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_templates_have_no_inline_script_or_style():
    folder = ROOT / "assistant" / "web" / "templates"
    for path in folder.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text and " style=" not in text and "<style" not in text, path.name
        assert not re.search(r"\son[a-z]+=", text), path.name  # no inline event handlers


# -- batches -----------------------------------------------------------------------------------
def _wait(c: TestClient, job: int, headers) -> dict:
    for _ in range(400):
        status = c.get(f"/api/batches/{job}", headers=headers).json()
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(status)


def test_batch_json_array_with_profile(client, tok):
    rows = [DRAFT, dict(DRAFT, project_name="第二个项目"), {"project_name": "缺指标"}]
    files = {"file": ("targets.json", json.dumps(rows, ensure_ascii=False).encode(), "application/json")}
    r = client.post("/api/batches", params={"profile": "central101"}, files=files, headers=tok["unitA"])
    assert r.status_code == 202, r.text
    status = _wait(client, r.json()["id"], tok["unitA"])
    assert (status["total"], status["done"], status["failed"], status["fallbacks"]) == (3, 2, 1, 0)
    assert status["filename"] == "targets.json" and status["profile"] == "central101"
    ok = [i for i in status["items"] if i["submission_id"]]
    assert [i["project_name"] for i in ok] == [DRAFT["project_name"], "第二个项目"]
    review = client.get(f"/api/submissions/{ok[0]['submission_id']}", headers=tok["unitA"]).json()["review"]
    assert review["meta"]["profile"] == "central101"
    bad = next(i for i in status["items"] if i["error"])
    assert bad["line"] == 3 and "indicators" in bad["error"]
    r = client.post("/api/batches", files={"file": ("x.csv", b"a,b", "text/csv")}, headers=tok["unitA"])
    assert r.status_code == 400 and ".xlsx" in r.json()["error"]
    r = client.post("/api/batches", files=files, params={"profile": "nope"}, headers=tok["unitA"])
    assert r.status_code == 400 and "未知的规则配置" in r.json()["error"]
    assert client.post("/api/batches", files=files, headers=tok["rev"]).status_code == 403


def batch_workbook(path: Path, names: list[str]) -> Path:
    """A workbook with one simple 绩效目标表 per sheet (the sample draft under different names)."""
    from openpyxl import Workbook

    wb = Workbook()
    for i, name in enumerate(names):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = f"表{i + 1}"
        for row in [["项目支出绩效目标表"], ["项目名称", name], ["主管部门", DRAFT["department"]],
                    ["实施单位", DRAFT["implementing_unit"]], ["资金总额（万元）", DRAFT["amount_total_wan"]],
                    ["年度目标", DRAFT["annual_goal"]], ["一级指标", "二级指标", "三级指标", "指标值"],
                    *[[x["level1"], x["level2"], x["name"], x["value"]] for x in DRAFT["indicators"]]]:
            ws.append(row)
    wb.save(path)
    return path


def test_batch_xlsx_workbook(client, tok, tmp_path):
    path = batch_workbook(tmp_path / "many.xlsx", [DRAFT["project_name"], "另一个项目"])
    files = {"file": ("many.xlsx", path.read_bytes(), "application/octet-stream")}
    r = client.post("/api/batches", files=files, headers=tok["unitA"])
    assert r.status_code == 202, r.text
    status = _wait(client, r.json()["id"], tok["unitA"])
    assert (status["total"], status["done"], status["failed"]) == (2, 2, 0), status
    assert [i["project_name"] for i in status["items"]] == [DRAFT["project_name"], "另一个项目"]
    assert [i["line"] for i in status["items"]] == [1, 2]
    fake = {"file": ("many.xlsx", b"not a workbook", "application/octet-stream")}
    r = client.post("/api/batches", files=fake, headers=tok["unitA"])
    assert r.status_code == 400 and "Excel" in r.json()["error"]


# -- migration ---------------------------------------------------------------------------------
def test_migration_2_keeps_api_tokens_and_drops_old_sessions(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
    for sql in MIGRATIONS[0]:
        conn.execute(sql)
    conn.execute("INSERT INTO migrations VALUES (1, '2025-01-01T00:00:00+00:00')")
    conn.execute("INSERT INTO users VALUES (1, 'u', 'h', 'unit', '甲', '2025-01-01T00:00:00+00:00')")
    conn.execute("INSERT INTO tokens VALUES ('apihash', 1, 'api', '2025-01-01T00:00:00+00:00')")
    conn.execute("INSERT INTO tokens VALUES ('sesshash', 1, 'session', '2025-01-01T00:00:00+00:00')")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.user_for_token("apihash", kind="api")["username"] == "u"
    assert store.token_row("sesshash", kind="session") is None
    row = store.list_tokens()[0]
    assert row["created"].startswith("2025-01-01") and row["revoked"] is None
    assert store.token_row("apihash", kind="api")["t_created_s"] == 1735689600.0
    assert store.migrate() == len(MIGRATIONS)
