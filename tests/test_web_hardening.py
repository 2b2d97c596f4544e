"""Web hardening: login rate limit and account lockout, forwarded headers, expert rating visibility, Secure
cookies, per-user upload slots, the xlsx table cap, deeply nested JSON everywhere, temp paths in errors."""

from __future__ import annotations

import io
import json
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.errors import InputError
from assistant.web.app import WebConfig
from assistant.web.auth import RateLimited, UploadSlots
from tests.webkit import DRAFT, HTML, PW, USERS, api_token, csrf, make_app, ui_login

USERS2 = (*USERS, ("exp2", "expert", ""))
DEEP = "[" * 1000 + "]" * 1000  # 2 KB, 1,000 levels


def _client(tmp_path: Path, deps: Any, **config: Any) -> TestClient:
    from tests.webkit import Clock

    clock = Clock()
    app = make_app(tmp_path / "web.db", deps, users=USERS2, clock=clock, config=WebConfig(**config))
    app.state.test_clock = clock
    return TestClient(app)


def _submit(client: TestClient, headers: dict[str, str]) -> int:
    r = client.post("/api/submissions", json=DRAFT, headers=headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


# -- 2. login limits -----------------------------------------------------------------------------
def test_spoofed_forwarded_for_does_not_escape_the_login_limit(tmp_path, deps):
    client = _client(tmp_path, deps, login_burst=10, login_rate_per_s=0.001)
    codes = []
    for i in range(40):  # a different made-up account and client address each time: only the peer address counts
        r = client.post("/api/login", json={"username": f"nobody{i}", "password": "wrong-password"},
                        headers={"X-Forwarded-For": f"10.0.{i}.{i}", "X-Real-IP": f"10.1.{i}.1"})
        codes.append(r.status_code)
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
    assert "登录尝试过于频繁" in r.json()["error"]


def _login_from(app: Any, ip: str, password: str) -> Any:
    with TestClient(app, client=(ip, 50000)) as c:
        return c.post("/api/login", json={"username": "unitA", "password": password})


def test_account_lockout_holds_across_client_addresses_and_backs_off(tmp_path, deps):
    client = _client(tmp_path, deps, login_burst=1000)
    app, clock = client.app, client.app.state.test_clock
    for i in range(5):
        assert _login_from(app, f"192.0.2.{i}", "wrong-password").status_code == 401
    r = _login_from(app, "198.51.100.7", PW)  # right password, new address: still locked
    assert r.status_code == 429 and "锁定" in r.json()["error"] and "分钟后" in r.json()["error"]
    assert 30 < int(r.headers["Retry-After"]) <= 60
    ui = TestClient(app, client=("203.0.113.9", 1))  # the UI form is locked too
    page = ui.post("/login", data={"username": "UNITA", "password": PW, "csrf_token": csrf(ui)}, headers=HTML,
                   follow_redirects=False)
    assert page.status_code == 429 and "锁定" in page.text
    clock.advance(1.5)  # the first lockout is one minute
    for _ in range(5):
        assert _login_from(app, "192.0.2.50", "wrong-password").status_code == 401
    clock.advance(1.5)  # the second lockout is two minutes
    assert _login_from(app, "192.0.2.51", PW).status_code == 429
    clock.advance(1)
    assert _login_from(app, "192.0.2.52", PW).status_code == 200  # and a success resets the account
    for _ in range(4):
        assert _login_from(app, "192.0.2.53", "wrong-password").status_code == 401
    assert _login_from(app, "192.0.2.54", PW).status_code == 200
    assert _login_from(app, "192.0.2.55", PW).status_code == 200  # other accounts never were affected


def test_serve_trusts_forwarded_headers_only_from_configured_proxies(tmp_path, monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    import assistant.web.app as web_app
    from assistant.cli.serve import proxy_options, serve_command

    assert proxy_options((), {}) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    assert proxy_options((), {"ASSISTANT_TRUSTED_PROXIES": " 10.0.0.2, 10.0.0.3"})["forwarded_allow_ips"] \
        == "10.0.0.2,10.0.0.3"
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append(kw))
    monkeypatch.setattr(web_app, "create_app", lambda *a, **kw: object())
    monkeypatch.delenv("ASSISTANT_TRUSTED_PROXIES", raising=False)
    for extra in ([], ["--trusted-proxy", "10.9.8.7"]):
        result = CliRunner().invoke(serve_command, ["--db", str(tmp_path / "s.db"), *extra])
        assert result.exit_code == 0, result.output
    assert seen[0]["proxy_headers"] is False
    assert seen[1]["proxy_headers"] is True and seen[1]["forwarded_allow_ips"] == "10.9.8.7"


# -- 3. expert ratings -------------------------------------------------------------------------------
RATING = {"completeness": 4, "relevance": 5, "suitability": 3, "fund_fit": 2, "notes": "依据不足"}


def test_experts_see_other_ratings_only_after_their_own(tmp_path, deps):
    client = _client(tmp_path, deps)
    tok = {n: api_token(client, n) for n in ("unitA", "exp", "exp2", "root")}
    sid = _submit(client, tok["unitA"])
    assert client.post(f"/api/submissions/{sid}/ratings", json=RATING, headers=tok["exp2"]).status_code == 201

    def raters(who: str) -> set[str]:
        text = client.get("/api/ratings.jsonl", headers=tok[who]).text
        return {json.loads(line)["rater"] for line in text.splitlines()}

    exp_ui, rev_ui = ui_login(client.app, "exp"), ui_login(client.app, "rev")
    assert raters("exp") == set() and raters("root") == {"exp2"}
    assert "exp2（v1" not in exp_ui.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert "exp2（v1" in rev_ui.get(f"/ui/submissions/{sid}", headers=HTML).text  # reviewers see all
    assert client.post(f"/api/submissions/{sid}/ratings", json=dict(RATING, completeness=2),
                       headers=tok["exp"]).status_code == 201
    assert raters("exp") == {"exp", "exp2"}
    assert "exp2（v1" in exp_ui.get(f"/ui/submissions/{sid}", headers=HTML).text


# -- 4. Secure cookies over https --------------------------------------------------------------------
@pytest.mark.parametrize("base_url", ["https://testserver", "http://testserver"])
def test_session_cookie_is_secure_over_https(tmp_path, deps, base_url):
    app = make_app(tmp_path / "web.db", deps)
    c = TestClient(app, base_url=base_url)
    r = c.post("/login", data={"username": "unitA", "password": PW, "csrf_token": csrf(c)}, headers=HTML,
               follow_redirects=False)
    assert r.status_code == 303
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert ("Secure" in cookie) is base_url.startswith("https")


# -- 1. uploads ---------------------------------------------------------------------------------------
def test_upload_slots_bound_parses_per_user(tmp_path, deps):
    slots = UploadSlots(2)
    with slots.hold(1), slots.hold(1), slots.hold(2):
        with pytest.raises(RateLimited, match="您有上传正在处理"), slots.hold(1):
            pass
    with slots.hold(1), slots.hold(1):
        pass  # released
    client = _client(tmp_path, deps)
    tok = api_token(client, "unitA")
    ui = ui_login(client.app, "unitA")
    files = {"file": ("draft.json", json.dumps(DRAFT, ensure_ascii=False).encode(), "application/json")}
    with ExitStack() as busy:
        for _ in range(2):
            busy.enter_context(client.app.state.upload_slots.hold(client.app.state.store.user_by_name("unitA")["id"]))
        r = client.post("/api/submissions", files=files, headers=tok)
        assert r.status_code == 429 and r.json()["error"] == "您有上传正在处理，请稍后再试"
        assert client.post("/api/batches", files=files, headers=tok).status_code == 429
        page = ui.post("/ui/submit", data={"csrf_token": csrf(ui, "/ui/submit")}, files=files, headers=HTML)
        assert page.status_code == 429 and "您有上传正在处理" in page.text
        assert client.post("/api/submissions", files=files, headers=api_token(client, "root")).status_code == 201
    assert client.post("/api/submissions", files=files, headers=tok).status_code == 201


def _workbook(rows: int) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("申报表")
    ws.append(["项目名称", "测试项目"])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"])
    for i in range(rows):
        ws.append(["产出指标", "数量指标", f"指标{i}", f"{i}个"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_table_cap_stops_early_and_names_file_and_sheet(tmp_path, deps):
    from assistant.intake.xlsx_grid import MAX_ROWS_PER_TABLE, Cell, read_grid, table_row_cap

    class Sheet:
        consumed = 0

        def reset_dimensions(self) -> None:
            pass

        def iter_rows(self, max_col: int) -> Any:
            class C:
                value = "x"
                number_format = "General"

            for _ in range(100_000):
                Sheet.consumed += 1
                yield [C()]

    with pytest.raises(InputError, match=f"{MAX_ROWS_PER_TABLE} 行指标上限"), table_row_cap():
        read_grid(Sheet(), "表1", None, table_start=lambda row: row.get(1, Cell("")).text == "项目名称")
    assert Sheet.consumed < MAX_ROWS_PER_TABLE + 100  # stopped while streaming, not after 100k rows
    client = _client(tmp_path, deps)
    tok = api_token(client, "unitA")
    ok = client.post("/api/submissions", files={"file": ("小表.xlsx", _workbook(30), "application/octet-stream")},
                     headers=tok)
    assert ok.status_code == 201, ok.text
    r = client.post("/api/submissions", files={"file": ("我的申报表.xlsx", _workbook(2000), "application/octet-stream")},
                    headers=tok)
    body = r.json()
    assert r.status_code == 400 and "500 行指标上限" in body["error"] and "申报表" in (body["where"] or "")
    assert "我的申报表.xlsx" in body["error"] + (body["where"] or "")
    big = {"file": ("批量.xlsx", _workbook(2000), "application/octet-stream")}
    r = client.post("/api/batches", files=big, headers=tok)
    assert r.status_code == 400 and "500 行指标上限" in r.json()["error"], r.text


# -- 5. nested JSON, temp paths -----------------------------------------------------------------------
def _fill(path: str, sid: int) -> str:
    return (path.replace("{submission_id}", str(sid)).replace("{user_id}", "1").replace("{token_id}", "1")
            .replace("{name}", "x").replace("{job_id}", "1"))


def test_deeply_nested_json_is_400_everywhere(tmp_path, deps):
    client = _client(tmp_path, deps)
    root = api_token(client, "root")
    sid = _submit(client, root)
    paths = client.get("/openapi.json").json()["paths"]
    routes = [(m.upper(), p) for p, ops in paths.items() for m in ops
              if m in ("post", "put", "patch") and ops[m].get("requestBody")]
    assert len(routes) >= 10
    for method, path in routes:
        url = _fill(path, sid)
        headers = {} if path == "/api/login" else root
        as_json = client.request(method, url, content=DEEP, headers={**headers, "Content-Type": "application/json"})
        as_file = client.request(method, url, files={"file": ("deep.json", DEEP.encode(), "application/json")},
                                 headers=headers)
        for r in (as_json, as_file):
            # 400 where the body is read as a target or file; 422 (the API's answer to any body of the wrong shape)
            # where a typed body expects an object and gets a list
            assert r.status_code in (400, 422), (method, path, r.status_code, r.text)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["error"]), r.text
    ui = ui_login(client.app, "root")
    for url, data in (("/ui/submit", {"json_text": DEEP}), (f"/ui/submissions/{sid}/versions", {"json_text": DEEP})):
        r = ui.post(url, data={**data, "csrf_token": csrf(ui, "/ui/submit")}, headers=HTML)
        assert r.status_code == 400 and "嵌套层数" in r.text, (url, r.status_code)
    r = ui.post("/ui/batches", data={"csrf_token": csrf(ui, "/ui/submit")}, headers=HTML,
                files={"file": ("deep.json", DEEP.encode(), "application/json")})
    assert r.status_code == 400, r.text[:300]


def test_corpus_import_errors_show_no_server_temp_path(tmp_path, deps):
    client = _client(tmp_path, deps)
    root = api_token(client, "root")
    tmp = tempfile.gettempdir()
    for name, data in (("语料.xlsx", b"PK\x03\x04 broken"), ("语料.jsonl", b"{broken\n"), ("语料.json", DEEP.encode())):
        r = client.post("/api/corpus/import", files={"file": (name, data, "application/octet-stream")},
                        headers=root)
        assert r.status_code == 400, (name, r.text)
        text = json.dumps(r.json(), ensure_ascii=False)
        assert tmp not in text and "upload." not in text and name in text, text
