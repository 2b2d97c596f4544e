"""Web API: auth, unit isolation, reviewer / expert flows, batches, limits, Chinese errors, CSRF."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.store import MIGRATIONS
from assistant.web.app import WebConfig
from assistant.web.store import Store
from tests.webkit import DRAFT, api_token, make_app

TRACEBACK = re.compile(r"Traceback|File \"|\.py\"|line \d+, in ")


def _make(tmp_path: Path, deps, **config) -> TestClient:
    return TestClient(make_app(tmp_path / "web.db", deps, config=WebConfig(**config)))


@pytest.fixture(scope="module")
def client(tmp_path_factory, deps):
    with _make(tmp_path_factory.mktemp("web"), deps) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(client):
    return {name: api_token(client, name) for name in ("unitA", "unitB", "rev", "exp", "root")}


def _no_traceback(resp) -> None:
    assert not TRACEBACK.search(resp.text), resp.text


def _submit(client, headers, draft=None) -> dict:
    r = client.post("/api/submissions", json=draft or DRAFT, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_login_bad_password_is_401_chinese(client):
    r = client.post("/api/login", json={"username": "unitA", "password": "wrong-password"})
    assert r.status_code == 401
    assert r.json()["error"] == "用户名或密码错误"
    r = client.get("/api/submissions")
    assert r.status_code == 401 and "令牌" in r.json()["error"]
    r = client.get("/api/submissions", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_submit_json_returns_review(client, tokens):
    body = _submit(client, tokens["unitA"])
    sub = body["submission"]
    assert body["version"] == 1 and sub["unit"] == "甲单位"
    assert sub["review"]["grade"] in {"优", "良", "中", "差"}
    assert set(sub["review"]["dimensions"]) == {"completeness", "relevance", "suitability", "fund_fit"}
    assert sub["review"]["project_name"] == DRAFT["project_name"]


def test_submit_multipart_json_and_xlsx(client, tokens, tmp_path):
    files = {"file": ("draft.json", json.dumps(DRAFT, ensure_ascii=False).encode(), "application/json")}
    r = client.post("/api/submissions", files=files, headers=tokens["unitA"])
    assert r.status_code == 201, r.text
    fake = {"file": ("draft.xlsx", b"not a workbook", "application/octet-stream")}
    r = client.post("/api/submissions", files=fake, headers=tokens["unitA"])
    assert r.status_code == 400 and "Excel" in r.json()["error"]
    r = client.post("/api/submissions", files={"file": ("x.exe", b"MZ", "application/octet-stream")},
                    headers=tokens["unitA"])
    assert r.status_code == 400 and "不支持的文件类型" in r.json()["error"]
    template = pytest.importorskip("assistant.intake.xlsx_template")
    path = tmp_path / "blank.xlsx"
    template.write_template(path, style="101")
    r = client.post("/api/submissions", files={"file": ("blank.xlsx", path.read_bytes(), "application/octet-stream")},
                    headers=tokens["unitA"])
    # a blank template has no indicators: a Chinese 400, not a crash
    assert r.status_code in (201, 400), r.text
    _no_traceback(r)
    if r.status_code == 400:
        assert r.json()["error"]


def test_unit_isolation(client, tokens):
    a = _submit(client, tokens["unitA"])["id"]
    b = _submit(client, tokens["unitB"])["id"]
    listed_a = {s["id"] for s in client.get("/api/submissions", headers=tokens["unitA"]).json()}
    assert a in listed_a and b not in listed_a
    # even a unit filter cannot widen a unit user's view
    assert b not in {s["id"] for s in client.get("/api/submissions", params={"unit": "乙单位"},
                                                  headers=tokens["unitA"]).json()}
    for method, url, kw in [("get", f"/api/submissions/{b}", {}),
                            ("get", f"/api/submissions/{b}/export?format=md", {}),
                            ("get", f"/api/submissions/{b}/audit", {}),
                            ("post", f"/api/submissions/{b}/versions", {"json": DRAFT})]:
        r = getattr(client, method)(url, headers=tokens["unitA"], **kw)
        assert r.status_code == 404, (url, r.status_code)
        assert DRAFT["project_name"] not in r.text
        assert "乙单位" not in r.text
    # reviewers see both
    listed = {s["id"] for s in client.get("/api/submissions", headers=tokens["rev"]).json()}
    assert {a, b} <= listed
    assert client.get(f"/api/submissions/{b}", headers=tokens["unitB"]).status_code == 200


def test_resubmit_keeps_versions(client, tokens):
    sid = _submit(client, tokens["unitA"])["id"]
    revised = dict(DRAFT, annual_goal=DRAFT["annual_goal"] + "，全年作业不少于180天")
    r = client.post(f"/api/submissions/{sid}/versions", json=revised, headers=tokens["unitA"])
    assert r.status_code == 201 and r.json()["version"] == 2
    d = client.get(f"/api/submissions/{sid}", headers=tokens["unitA"]).json()
    assert [v["version"] for v in d["versions"]] == [1, 2]
    v1 = client.get(f"/api/submissions/{sid}", params={"version": 1}, headers=tokens["unitA"]).json()
    assert v1["review"]["target"]["annual_goal"] == DRAFT["annual_goal"]
    # reviewers cannot resubmit on a unit's behalf
    assert client.post(f"/api/submissions/{sid}/versions", json=DRAFT, headers=tokens["rev"]).status_code == 403


def test_compare_versions(client, tokens):
    sid = _submit(client, tokens["unitA"])["id"]
    url = f"/api/submissions/{sid}/compare"
    r = client.get(url, headers=tokens["unitA"])  # one version only: nothing to compare with
    assert r.status_code == 404 and "上一版" in r.json()["error"]
    fixed = json.loads(json.dumps(DRAFT))
    fixed["indicators"][4]["value"] = "≤250万元"  # was the vague 控制在预算内
    fixed["indicators"].insert(6, {"level1": "效益指标", "level2": "生态效益指标", "name": "城区PM10年平均浓度下降",
                                   "value": "≥5%"})
    fixed["amount_total_wan"] = 240
    assert client.post(f"/api/submissions/{sid}/versions", json=fixed, headers=tokens["unitA"]).status_code == 201
    assert client.post(f"/api/submissions/{sid}/versions", json=fixed, headers=tokens["unitA"]).status_code == 201
    # defaults: the previous version against the latest (v3 = v2: no changes)
    body = client.get(url, headers=tokens["unitA"]).json()
    assert (body["base_version"], body["head_version"], body["versions"]) == (2, 3, [1, 2, 3])
    assert body["comparison"]["identical"] and body["comparison"]["resolved"] == []
    # head given: base is the one before it
    body = client.get(url, params={"head": 2}, headers=tokens["unitA"]).json()
    assert (body["base_version"], body["head_version"]) == (1, 2)
    c = body["comparison"]
    assert c["score"]["new"] >= c["score"]["old"] and not c["identical"]
    assert any(f["finding"]["rule_id"] == "S-06" for f in c["resolved"])
    assert [h["field"] for h in c["header"]] == ["amount_total_wan"]
    assert {(r["status"], r["head_row"]) for r in c["rows"]} == {("changed", 5), ("added", 7)}
    assert client.get(url, params={"base": 1}, headers=tokens["unitA"]).json()["head_version"] == 3
    # reviewers and experts may compare any unit's submission; another unit may not (404, nothing leaked)
    assert client.get(url, params={"base": 1, "head": 2}, headers=tokens["rev"]).json()["comparison"] == c
    assert client.get(url, headers=tokens["exp"]).status_code == 200
    r = client.get(url, params={"base": 1, "head": 2}, headers=tokens["unitB"])
    assert r.status_code == 404 and DRAFT["project_name"] not in r.text and "甲单位" not in r.text
    assert client.get(url, params={"base": 9}, headers=tokens["unitB"]).status_code == 404
    # missing versions and submissions are Chinese 404s; invalid numbers 422; no login 401
    for params in ({"base": 9}, {"head": 4}, {"base": 1, "head": 7}, {"head": 1}):
        r = client.get(url, params=params, headers=tokens["unitA"])
        assert r.status_code == 404 and r.json()["error"], params
        _no_traceback(r)
    assert client.get("/api/submissions/999999/compare", headers=tokens["rev"]).status_code == 404
    r = client.get(url, params={"base": 0}, headers=tokens["unitA"])
    assert r.status_code == 422 and "基准版本" in r.json()["error"]
    assert client.get(url).status_code == 401


def test_versions_are_immutable(tmp_path):
    store = Store(tmp_path / "x.db")
    store.db.execute("PRAGMA foreign_keys=OFF")
    store.db.execute("INSERT INTO versions VALUES (1, 1, 1, '{}', '{}', 'h', '中', 60, '[]', 'now')")
    with pytest.raises(Exception, match="immutable"):
        store.db.execute("UPDATE versions SET grade = '优'")
    with pytest.raises(Exception, match="immutable"):
        store.db.execute("DELETE FROM versions")
    assert store.migrate() == len(MIGRATIONS) == 8  # idempotent


def test_reviewer_decision_and_audit(client, tokens):
    body = _submit(client, tokens["unitA"])
    sid, n = body["id"], len(body["submission"]["review"]["suggestions"])
    decision = {"final_grade": "中", "opinion": "请补充满意度指标", "accepted": [0] if n else [],
                "rejected": [1] if n > 1 else [], "status": "returned"}
    assert client.post(f"/api/submissions/{sid}/decision", json=decision, headers=tokens["unitA"]).status_code == 403
    r = client.post(f"/api/submissions/{sid}/decision", json=decision, headers=tokens["rev"])
    assert r.status_code == 201, r.text
    d = client.get(f"/api/submissions/{sid}", headers=tokens["unitA"]).json()
    assert d["status"] == "returned" and d["decisions"][-1]["opinion"] == "请补充满意度指标"
    audit = client.get(f"/api/submissions/{sid}/audit", headers=tokens["rev"]).json()
    actions = [(a["user"], a["action"]) for a in audit]
    assert ("unitA", "submitted") in actions and ("rev", "decided") in actions
    bad = dict(decision, accepted=[999])
    r = client.post(f"/api/submissions/{sid}/decision", json=bad, headers=tokens["rev"])
    assert r.status_code == 400 and "超出范围" in r.json()["error"]
    assert client.get("/api/audit", headers=tokens["root"]).status_code == 200
    assert client.get("/api/audit", headers=tokens["rev"]).status_code == 403


def test_expert_rating_stored_and_exported(client, tokens):
    sid = _submit(client, tokens["unitA"])["id"]
    rating = {"completeness": 4, "relevance": 5, "suitability": 3, "fund_fit": 2, "overall": 72, "notes": "成本依据不足"}
    assert client.post(f"/api/submissions/{sid}/ratings", json=rating, headers=tokens["rev"]).status_code == 403
    r = client.post(f"/api/submissions/{sid}/ratings", json=rating, headers=tokens["exp"])
    assert r.status_code == 201
    text = client.get("/api/ratings.jsonl", headers=tokens["exp"]).text
    rows = [json.loads(line) for line in text.splitlines()]
    mine = [x for x in rows if x["item_id"] == f"web-{sid}-v1"]
    assert mine and mine[0]["fund_fit"] == 2 and mine[0]["rater"] == "exp"
    from assistant.evaluate.ratings import Rating

    Rating.model_validate(mine[0])  # feeds the evaluation harness
    r = client.post(f"/api/submissions/{sid}/ratings", json=dict(rating, completeness=9), headers=tokens["exp"])
    assert r.status_code == 422 and "完整性" in r.json()["error"]


def test_batch_job_progress(client, tokens):
    lines = [json.dumps(DRAFT, ensure_ascii=False), "{broken", json.dumps(dict(DRAFT, project_name="第二个项目"),
                                                                      ensure_ascii=False)]
    files = {"file": ("batch.jsonl", "\n".join(lines).encode(), "application/x-ndjson")}
    r = client.post("/api/batches", files=files, headers=tokens["unitA"])
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    for _ in range(200):
        status = client.get(f"/api/batches/{job}", headers=tokens["unitA"]).json()
        if status["status"] == "done":
            break
        time.sleep(0.05)
    assert status["status"] == "done" and status["total"] == 3
    assert status["done"] == 2 and status["failed"] == 1 and status["progress"] == 1.0
    assert "第2行" in next(i["error"] for i in status["items"] if i["error"])
    assert client.get(f"/api/batches/{job}", headers=tokens["unitB"]).status_code == 404


def test_export_formats(client, tokens):
    sid = _submit(client, tokens["unitA"])["id"]
    r = client.get(f"/api/submissions/{sid}/export", params={"format": "md"}, headers=tokens["unitA"])
    assert r.status_code == 200 and "审核等级" in r.text
    r = client.get(f"/api/submissions/{sid}/export", params={"format": "docx"}, headers=tokens["unitA"])
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = client.get(f"/api/submissions/{sid}/export", params={"format": "pdf"}, headers=tokens["unitA"])
    assert r.status_code == 422 and "导出格式" in r.json()["error"]


def test_corpus_search_and_filters(client, tokens):
    r = client.get("/api/corpus/search", params={"q": "雾炮车 抑尘", "k": 3}, headers=tokens["unitA"])
    assert r.status_code == 200 and 1 <= len(r.json()) <= 3
    _submit(client, tokens["unitA"])  # self-contained: under xdist the other tests may run elsewhere
    rows = client.get("/api/submissions", params={"grade": "优"}, headers=tokens["rev"]).json()
    assert all(s["grade"] == "优" for s in rows)
    some = client.get("/api/submissions", headers=tokens["rev"]).json()[0]
    if some["rule_ids"]:
        rule = some["rule_ids"][0]
        rows = client.get("/api/submissions", params={"rule_id": rule}, headers=tokens["rev"]).json()
        assert rows and all(rule in s["rule_ids"] for s in rows)


def test_admin_creates_users(client, tokens):
    new = {"username": "unitC", "password": "long-password", "role": "unit", "unit": "丙单位"}
    assert client.post("/api/users", json=new, headers=tokens["unitA"]).status_code == 403
    r = client.post("/api/users", json=new, headers=tokens["root"])
    assert r.status_code == 201
    r = client.post("/api/users", json=new, headers=tokens["root"])
    assert r.status_code == 400 and "已存在" in r.json()["error"]
    r = client.post("/api/users", json=dict(new, username="unitD", unit=""), headers=tokens["root"])
    assert r.status_code == 400 and r.json()["where"] == "unit"
    uid = client.get("/api/users", headers=tokens["root"]).json()[-1]["id"]
    tok = client.post(f"/api/users/{uid}/tokens", headers=tokens["root"]).json()["token"]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {tok}"}).json()["unit"] == "丙单位"


def test_bad_json_names_field_in_chinese(client, tokens):
    r = client.post("/api/submissions", content=b"{not json", headers={**tokens["unitA"],
                                                                        "Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON 格式错误" in r.json()["error"]
    bad = dict(DRAFT, amount_total_wan="二百五十")
    r = client.post("/api/submissions", json=bad, headers=tokens["unitA"])
    assert r.status_code in (400, 422)
    assert "amount_total_wan" in r.json()["error"] and "数字" in r.json()["error"]
    r = client.post("/api/submissions", json={"project_name": "x"}, headers=tokens["unitA"])
    assert r.status_code == 400 and "indicators" in r.json()["error"]
    r = client.post("/api/submissions/1/decision", json={"final_grade": "甲", "status": "passed"},
                    headers=tokens["rev"])
    assert r.status_code == 422 and "最终等级" in r.json()["error"] and r.json()["where"] == "final_grade"
    for resp in (r, client.get("/api/submissions/abc", headers=tokens["rev"]), client.get("/api/nowhere")):
        _no_traceback(resp)
        assert re.search(r"[\u4e00-\u9fff]", resp.json()["error"])


def test_oversize_upload_is_413_chinese(tmp_path, deps):
    with _make(tmp_path, deps, max_body_bytes=4096) as c:
        tok = c.post("/api/login", json={"username": "unitA", "password": "password-123"}).json()["token"]
        big = {"file": ("big.json", b" " * 10_000, "application/json")}
        r = c.post("/api/submissions", files=big, headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 413 and "上传内容过大" in r.json()["error"]

        def chunks():  # no Content-Length: the streamed body is counted
            for _ in range(10):
                yield b"x" * 1000

        r = c.post("/api/submissions", content=chunks(), headers={"Authorization": f"Bearer {tok}",
                                                                   "Content-Type": "application/json"})
        assert r.status_code == 413


def test_rate_limit_per_token_429(tmp_path, deps):
    with _make(tmp_path, deps, rate_per_s=0.5, rate_burst=5) as c:
        tok = c.post("/api/login", json={"username": "unitA", "password": "password-123"}).json()["token"]
        codes = [c.get("/api/me", headers={"Authorization": f"Bearer {tok}"}).status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and codes[-1] == 429
        r = c.get("/api/me", headers={"Authorization": f"Bearer {tok}"})
        assert r.headers["Retry-After"] and "频繁" in r.json()["error"]
        other = c.post("/api/login", json={"username": "unitB", "password": "password-123"}).json()["token"]
        assert c.get("/api/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200
