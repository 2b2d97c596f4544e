"""Server-rendered UI: login with CSRF, submit, result page, reviewer and expert forms, isolation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.webkit import csrf, make_app, ui_login

ROOT = Path(__file__).resolve().parents[1]
DRAFT_TEXT = (ROOT / "samples" / "draft.json").read_text(encoding="utf-8")
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def app(tmp_path_factory, deps):
    return make_app(tmp_path_factory.mktemp("ui") / "ui.db", deps, admin=False)


_csrf = csrf
_login = ui_login


def _submit(c: TestClient) -> int:
    r = c.post("/ui/submit", data={"json_text": DRAFT_TEXT, "csrf_token": _csrf(c, "/ui/submit")}, headers=HTML,
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_form_post_without_csrf_is_rejected(app):
    c = TestClient(app)
    r = c.post("/login", data={"username": "unitA", "password": "password-123"}, headers=HTML)
    assert r.status_code == 403 and "CSRF" in r.text
    c = _login(app, "unitA")
    r = c.post("/ui/submit", data={"json_text": DRAFT_TEXT}, headers=HTML)
    assert r.status_code == 403
    r = c.post("/ui/submit", data={"json_text": DRAFT_TEXT, "csrf_token": "forged.0000"}, headers=HTML)
    assert r.status_code == 403
    # a cookie without the matching form field is not enough, nor a field for someone else's cookie
    other = TestClient(app)
    token = _csrf(other)
    r = c.post("/ui/submit", data={"json_text": DRAFT_TEXT, "csrf_token": token}, headers=HTML)
    assert r.status_code == 403


def test_unauthenticated_pages_redirect_to_login(app):
    c = TestClient(app)
    r = c.get("/ui/submissions", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "登录" in c.get("/login").text


def test_unit_submits_and_sees_result(app):
    c = _login(app, "unitA")
    sid = _submit(c)
    page = c.get(f"/ui/submissions/{sid}", headers=HTML)
    assert page.status_code == 200
    assert "雾炮车抑尘降尘服务" in page.text and "分项评分" in page.text and "逐行指标" in page.text
    assert re.search(r'class="grade big g-[优良中差]"', page.text)
    assert "采纳" not in page.text  # units don't get the reviewer's buttons
    assert "我的提交" in c.get("/ui/submissions", headers=HTML).text
    bad = c.post("/ui/submit", data={"json_text": "{oops", "csrf_token": _csrf(c, "/ui/submit")}, headers=HTML)
    assert bad.status_code == 400 and "JSON 格式错误" in bad.text and "Traceback" not in bad.text


def test_unit_cannot_open_other_units_page(app):
    sid = _submit(_login(app, "unitB"))
    c = _login(app, "unitA")
    for url in (f"/ui/submissions/{sid}", f"/ui/submissions/{sid}/export?format=md"):
        r = c.get(url, headers=HTML)
        assert r.status_code == 404 and "雾炮车" not in r.text
    assert f"/ui/submissions/{sid}\"" not in c.get("/ui/submissions", headers=HTML).text


def test_reviewer_decides_and_expert_rates_via_forms(app):
    sid = _submit(_login(app, "unitA"))
    rev = _login(app, "rev")
    page = rev.get(f"/ui/submissions/{sid}", headers=HTML)
    assert "审核通过" in page.text and "退回修改" in page.text
    data = {"csrf_token": _csrf(rev, f"/ui/submissions/{sid}"), "final_grade": "良", "opinion": "基本可行",
            "status": "passed", "version": "1"}
    if 'name="s_0"' in page.text:
        data["s_0"] = "accept"
    r = rev.post(f"/ui/submissions/{sid}/decision", data=data, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    page = rev.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert "审核记录" in page and "基本可行" in page
    exp = _login(app, "exp")
    data = {"csrf_token": _csrf(exp, f"/ui/submissions/{sid}"), "completeness": "4", "relevance": "4",
            "suitability": "3", "fund_fit": "3", "overall": "", "notes": "", "version": "1"}
    r = exp.post(f"/ui/submissions/{sid}/ratings", data=data, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert "已有评分 1 条" in exp.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert json.loads(json.dumps(app.state.store.ratings(sid)))[0]["expert"] == "exp"


def test_resubmission_compared_with_previous_version(app):
    c = _login(app, "unitA")
    sid = _submit(c)
    page = c.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert "与上一版对比" not in page  # a first version has nothing to compare with
    assert c.get(f"/ui/submissions/{sid}/compare", headers=HTML).status_code == 404
    fixed = json.loads(DRAFT_TEXT)
    fixed["indicators"][4]["value"] = "≤250万元"
    fixed["indicators"].insert(6, {"level1": "效益指标", "level2": "生态效益指标", "name": "城区PM10年平均浓度下降",
                                   "value": "≥5%"})
    r = c.post(f"/ui/submissions/{sid}/versions", headers=HTML, follow_redirects=False,
               data={"json_text": json.dumps(fixed, ensure_ascii=False),
                     "csrf_token": _csrf(c, f"/ui/submissions/{sid}")})
    assert r.status_code == 303
    page = c.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert "与上一版对比" in page and 'data-testid="compare-summary"' in page
    assert f"/ui/submissions/{sid}/compare?base=1&head=2" in page
    page = c.get(f"/ui/submissions/{sid}/compare", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "版本对比" in text and "v1" in text and "v2" in text
    assert re.search(r'class="sc-arrow (up|down|same)"', text)
    resolved = text.split('data-testid="resolved"')[1].split("</section>")[0]
    assert "S-06" in resolved and "控制在预算内" in resolved
    rows = text.split('data-testid="row-changes"')[1].split("</table>")[0]
    assert "<del>控制在预算内</del> → <ins>≤250万元</ins>" in rows
    assert "tag-added" in rows and "城区PM10年平均浓度下降" in rows
    assert "<script" not in text and "style=" not in text  # the CSP allows neither
    # version picker: the same version on both sides shows no changes; garbage falls back to the defaults
    same = c.get(f"/ui/submissions/{sid}/compare?base=2&head=2", headers=HTML).text
    assert "完全相同" in same and "指标没有变化" in same
    assert c.get(f"/ui/submissions/{sid}/compare?base=x&head=", headers=HTML).status_code == 200
    assert c.get(f"/ui/submissions/{sid}/compare?base=5", headers=HTML).status_code == 404
    # reviewers may look; another unit may not
    assert "版本对比" in _login(app, "rev").get(f"/ui/submissions/{sid}/compare", headers=HTML).text
    r = _login(app, "unitB").get(f"/ui/submissions/{sid}/compare", headers=HTML)
    assert r.status_code == 404 and "雾炮车" not in r.text
