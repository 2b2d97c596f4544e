"""The reviewer's workbench: decisions shown on the page and carried by every export, the queue (search, filters,
sort, paging, Excel summary with a grade chart, duplicates), the Excel route for units (blank template, upload),
batch summaries and changing one's own password."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from assistant.intake.records import parse_target
from assistant.models import Review, ReviewerDecision
from assistant.pipeline import review as run_review
from assistant.report import decision as D
from assistant.report.export import export_bytes
from assistant.report.xlsx import QUEUE_HEADS
from tests.webkit import DRAFT, HTML, PW, api_token, csrf, make_app, ui_login

SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)", re.I)  # an inline script (the CSP refuses it)


@pytest.fixture(scope="module")
def base_review(deps) -> Review:
    return run_review(parse_target(json.loads(json.dumps(DRAFT)), where="draft", require=True), deps)


@pytest.fixture
def app(tmp_path, deps) -> FastAPI:
    return make_app(tmp_path / "wb.db", deps)


def _seed(app: FastAPI, review: Review, *, user: str = "unitA", name: str = "", score: int | None = None,
          grade: str | None = None, content: str | None = None) -> int:
    """A submission straight into the store (no review run): a copy of `review` with another name / score / hash."""
    store = app.state.store
    row = store.user_by_name(user)
    meta = review.meta.model_copy(update={"content_hash": content if content is not None else f"h-{name}"})
    rv = review.model_copy(update={"project_name": name or review.project_name, "meta": meta,
                                   "score": review.score if score is None else score,
                                   "grade": grade or review.grade})
    target = review.target.model_copy(update={"project_name": rv.project_name})
    return store.create_submission(unit=row["unit"], user_id=row["id"], target=target, review=rv)


def _decide(c: TestClient, sid: int, **form: str) -> None:
    data = {"csrf_token": csrf(c, f"/ui/submissions/{sid}"), "version": "1", "final_grade": "良", "opinion": "",
            "status": "passed", **form}
    r = c.post(f"/ui/submissions/{sid}/decision", data=data, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text


def _queue_ids(page: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', page)]


def _sheet_rows(data: bytes, sheet: str = "审核汇总") -> tuple[Any, list[tuple]]:
    wb = load_workbook(io.BytesIO(data))
    return wb, list(wb[sheet].iter_rows(values_only=True))


# -- decisions: the page and the exports ------------------------------------------------------------------------
def test_decision_shown_per_suggestion_and_beside_machine_grade(app, base_review):
    assert len(base_review.suggestions) >= 3
    sid = _seed(app, base_review, name="雾炮车抑尘降尘服务")
    rev = ui_login(app, "rev")
    before = rev.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert 'data-testid="final-grade"' not in before and "审核人最终等级" not in before.split("修改建议")[0]
    _decide(rev, sid, s_0="accept", s_1="reject", final_grade="良", opinion="同意，成本指标按建议修改。")
    for who in ("rev", "unitA"):
        page = ui_login(app, who).get(f"/ui/submissions/{sid}", headers=HTML).text
        head = page.split('data-testid="final-grade"')[1].split("</div>\n  </div>")[0]
        assert "审核人最终等级" in head and 'g-良">良' in head
        machine = page.split('data-testid="grade"')[1].split("</div>\n  </div>")[0]
        assert "系统评分" in machine and f">{base_review.grade}<" in machine
        marks = re.findall(r'data-testid="outcome">(.*?)</td>', page)
        assert len(marks) == len(base_review.suggestions)
        assert "已采纳" in marks[0] and "未采纳" in marks[1] and "未处理" in marks[2]
        assert "同意，成本指标按建议修改。" in page and 'data-testid="export-docx"' in page
        assert not SCRIPT.search(page)
    # the reviewer's form starts from the last decision on this version
    page = rev.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert re.search(r'name="s_0" value="accept" checked', page) and re.search(r'name="s_1" value="reject" checked', page)
    assert re.search(r"<option selected>良</option>", page)


def test_exports_carry_the_decision_and_stay_unchanged_without_one(app, base_review, tmp_path):
    sid = _seed(app, base_review, name="雾炮车抑尘降尘服务")
    unit = ui_login(app, "unitA")
    plain_docx = unit.get(f"/ui/submissions/{sid}/export?format=docx").content
    texts = "\n".join(p.text for p in Document(io.BytesIO(plain_docx)).paragraphs)
    assert D.SECTION_TITLE not in texts and D.MACHINE_LABEL not in texts
    plain_md = unit.get(f"/ui/submissions/{sid}/export?format=md").text
    assert plain_md == export_bytes(app.state.store.review(sid)[1], "md").decode()  # as before decisions existed
    accepted = base_review.suggestions[0]
    _decide(ui_login(app, "rev"), sid, s_0="accept", s_2="reject", final_grade="良", opinion="=同意，按建议修改")
    docx = Document(io.BytesIO(unit.get(f"/ui/submissions/{sid}/export?format=docx").content))
    cells = [[c.text for c in row.cells] for t in docx.tables for row in t.rows]
    heads = next(r for r in cells if r[0] == D.FINAL_LABEL and len(r) == 4)
    values = cells[cells.index(heads) + 1]
    assert heads[1].startswith(D.MACHINE_LABEL) and values[0] == "良"
    assert values[1] == f"{base_review.grade}（{base_review.score} 分）"
    summary = {r[0]: r[1] for r in cells if len(r) == 2}
    assert summary["审核人"] == "rev" and summary["审核结论"] == "审核通过" and summary[D.FINAL_LABEL] == "良"
    assert summary["审核意见"] == "'=同意，按建议修改"  # formula-like text escaped
    revisions = [r for r in cells if len(r) == 5 and r[1] in ("已采纳", "未采纳")]
    assert [(r[0], r[1]) for r in revisions] == [("1", "已采纳"), ("3", "未采纳")]
    assert accepted.value and accepted.value in revisions[0][3]
    assert any(p.text == f"九、{D.SECTION_TITLE}" for p in docx.paragraphs)
    wb = load_workbook(io.BytesIO(unit.get(f"/ui/submissions/{sid}/export?format=xlsx").content))
    flat = [str(v) for row in wb["审核意见表"].iter_rows(values_only=True) for v in row if v is not None]
    assert f"九、{D.SECTION_TITLE}" in flat and D.FINAL_LABEL in flat and "已采纳" in flat and "未采纳" in flat
    assert f"{D.MACHINE_LABEL}等级（系统评分）" in flat and "审核等级" not in flat
    assert all(not v.startswith("=") for v in flat)
    md = unit.get(f"/ui/submissions/{sid}/export?format=md").text
    assert f"**{D.FINAL_LABEL}：良**" in md and f"**{D.MACHINE_LABEL}：{base_review.grade}**" in md
    assert md.index(f"## {D.SECTION_TITLE}") < md.index("## 分项评分") and "| 1 | 已采纳 |" in md
    # the API export is the same document; another unit still gets nothing
    tok = api_token(TestClient(app), "unitA")
    r = TestClient(app).get(f"/api/submissions/{sid}/export", params={"format": "md"}, headers=tok)
    assert r.status_code == 200 and D.SECTION_TITLE in r.text
    other = api_token(TestClient(app), "unitB")
    assert TestClient(app).get(f"/api/submissions/{sid}/export", headers=other).status_code == 404


def test_decision_belongs_to_its_version(base_review):
    d = ReviewerDecision(reviewer="rev", created="2025-03-01T09:30:00+00:00", version=1, status="returned",
                         final_grade="中", accepted=[0, 99], rejected=[1])
    rows = D.revision_rows(base_review, d)
    assert [r.number for r in rows] == [1, 2]  # an index the review does not have is skipped
    assert D.status_text(d) == "退回修改" and D.when(d) == "2025-03-01 09:30（UTC）"
    assert "尚未审核" == D.short(base_review, None)


# -- the queue ----------------------------------------------------------------------------------------------------
def test_queue_search_filters_sort_and_paging(app, base_review):
    ids = [_seed(app, base_review, name=f"项目{k:02d}", score=40 + k) for k in range(55)]
    other = _seed(app, base_review, user="unitB", name="乙单位的道路清扫", score=99, grade="优")
    rev = ui_login(app, "rev")
    first = rev.get("/ui/submissions", headers=HTML).text
    assert "共 56 项，第 1/2 页" in first and len(_queue_ids(first)) == 50
    assert 'data-testid="pager"' in first and "下一页" in first
    second = rev.get("/ui/submissions?page=2", headers=HTML).text
    assert len(_queue_ids(second)) == 6 and not set(_queue_ids(first)) & set(_queue_ids(second))
    assert _queue_ids(rev.get("/ui/submissions?page=99", headers=HTML).text) == _queue_ids(second)  # last page
    assert rev.get("/ui/submissions?page=x&sort=nonsense&grade=甲", headers=HTML).status_code == 200
    # search: project name, unit, number
    assert _queue_ids(rev.get("/ui/submissions?q=项目07", headers=HTML).text) == [ids[7]]
    assert _queue_ids(rev.get("/ui/submissions?q=乙单位", headers=HTML).text) == [other]
    by_number = _queue_ids(rev.get(f"/ui/submissions?q={ids[3]}", headers=HTML).text)  # the number, or names with it
    assert ids[3] in by_number and set(by_number) == {ids[3]} | {ids[k] for k in range(55) if str(ids[3]) in f"项目{k:02d}"}
    assert _queue_ids(rev.get("/ui/submissions?q=%25", headers=HTML).text) == []  # LIKE wildcards are literal
    # sort
    asc = _queue_ids(rev.get("/ui/submissions?sort=score_asc", headers=HTML).text)
    assert asc[:3] == ids[:3]
    assert _queue_ids(rev.get("/ui/submissions?sort=score_desc", headers=HTML).text)[:2] == [other, ids[54]]
    assert _queue_ids(rev.get("/ui/submissions?sort=project&q=项目", headers=HTML).text)[:2] == ids[:2]
    # filters: grade and status; the page links keep them
    graded = rev.get("/ui/submissions?grade=优", headers=HTML).text
    assert _queue_ids(graded) == [other]
    _decide(rev, ids[0], final_grade="优", status="returned")
    assert set(_queue_ids(rev.get("/ui/submissions?grade=优", headers=HTML).text)) == {other, ids[0]}
    assert _queue_ids(rev.get("/ui/submissions?status=returned", headers=HTML).text) == [ids[0]]
    assert _queue_ids(rev.get("/ui/submissions?status=returned&grade=差", headers=HTML).text) == []
    page = rev.get("/ui/submissions?q=项目&sort=score_asc", headers=HTML).text
    assert "page=2" in page and "q=%E9%A1%B9%E7%9B%AE" in page and "sort=score_asc" in page
    # a unit sees only its own, whatever it searches for
    assert _queue_ids(ui_login(app, "unitA").get("/ui/submissions?q=乙单位", headers=HTML).text) == []
    # the API takes the same filters and says how many there are
    client = TestClient(app)
    tok = api_token(client, "rev")
    r = client.get("/api/submissions", params={"q": "项目", "sort": "score_asc", "limit": 5}, headers=tok)
    assert r.status_code == 200 and r.headers["x-total-count"] == "55" and [s["id"] for s in r.json()] == ids[:5]
    assert client.get("/api/submissions", params={"sort": "bad"}, headers=tok).status_code == 422


def test_queue_shows_final_grade_status_and_duplicates(app, base_review):
    a = _seed(app, base_review, name="雾炮车抑尘降尘服务", content="same")
    b = _seed(app, base_review, name="雾炮车抑尘降尘服务（再报）", content="same")
    c = _seed(app, base_review, name="另一个项目", content="other")
    foreign = _seed(app, base_review, user="unitB", name="乙单位同内容", content="same")
    rev = ui_login(app, "rev")
    _decide(rev, a, final_grade="良", status="passed")
    page = rev.get("/ui/submissions", headers=HTML).text
    row = page.split(f'<tr data-id="{a}">')[1].split("</tr>")[0]
    assert re.search(r'class="grade g-良"[^>]*>良<', row) and "审核人最终等级" in row
    assert f"系统初评 {base_review.grade}" in row
    assert "审核通过" in row and "rev" in row
    assert f"与编号{b}内容相同" in row and f"与编号{foreign}内容相同" in row
    row_c = page.split(f'<tr data-id="{c}">')[1].split("</tr>")[0]
    assert "内容相同" not in row_c and "审核人最终等级" not in row_c and "待审核" in row_c
    # a unit is told only about its own unit's duplicates
    unit = ui_login(app, "unitA").get("/ui/submissions", headers=HTML).text
    row = unit.split(f'<tr data-id="{a}">')[1].split("</tr>")[0]
    assert f"与编号{b}内容相同" in row and f"编号{foreign}" not in unit
    tok = api_token(TestClient(app), "rev")
    body = {s["id"]: s for s in TestClient(app).get("/api/submissions", headers=tok).json()}
    assert body[a]["final_grade"] == "良" and body[a]["grade"] == base_review.grade and body[a]["decided_by"] == "rev"
    assert body[b]["duplicate_of"] == [a, foreign] and body[c]["duplicate_of"] == []
    # a resubmitted version has no decision yet: the machine grade is shown again
    store = app.state.store
    store.add_version(a, user_id=store.user_by_name("unitA")["id"], target=base_review.target, review=base_review)
    row = rev.get("/ui/submissions", headers=HTML).text.split(f'<tr data-id="{a}">')[1].split("</tr>")[0]
    assert "审核人最终等级" not in row and "待审核" in row


def test_queue_excel_summary_with_grade_chart(app, base_review):
    a = _seed(app, base_review, name="甲项目", score=92, grade="优", content="x")
    b = _seed(app, base_review, name="乙项目", score=61, grade="中", content="x")
    _seed(app, base_review, user="unitB", name="丙项目", score=30, grade="差")
    rev = ui_login(app, "rev")
    _decide(rev, a, s_0="accept", s_1="reject", final_grade="良", opinion="小幅修改后通过")
    page = rev.get("/ui/submissions?q=项目&sort=score_desc", headers=HTML).text
    href = re.search(r'href="([^"]+)" data-testid="queue-export"', page).group(1).replace("&amp;", "&")
    r = rev.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb, rows = _sheet_rows(r.content)
    assert rows[0] == QUEUE_HEADS and wb.sheetnames == ["审核汇总", "等级分布"]
    col = {h: k for k, h in enumerate(QUEUE_HEADS)}
    body = [x for x in rows[1:] if isinstance(x[0], int)]
    assert [x[col["项目名称"]] for x in body] == ["甲项目", "乙项目", "丙项目"]  # the queue's order
    first = body[0]
    assert first[col["编号"]] == a and first[col["系统初评等级"]] == "优" and first[col["系统初评总分"]] == 92
    assert first[col[D.FINAL_LABEL]] == "良" and first[col["状态"]] == "审核通过"
    assert "采纳建议 1 条，未采纳 1 条" in first[col["审核人意见"]] and "小幅修改后通过" in first[col["审核人意见"]]
    assert first[col["重复提交"]] == f"与编号{b}内容相同"
    assert all(isinstance(first[col[h]], int) for h in ("完整性", "相关性", "适当性", "资金匹配性"))
    assert len(first[col["主要问题"]].split("\n")) == 3
    assert body[1][col[D.FINAL_LABEL]] is None and body[1][col["审核人意见"]] == "尚未审核"
    dist = wb["等级分布"]
    assert [tuple(x) for x in dist.iter_rows(min_row=1, max_row=5, values_only=True)] == [
        ("等级", "系统初评（项目数）", "审核人最终等级（项目数）"), ("优", 1, 0), ("良", 0, 1), ("中", 1, 0), ("差", 1, 0)]
    chart = dist._charts[0]
    assert chart.type == "col" and len(chart.series) == 2
    # filters apply to the download; a unit's download holds only its own projects
    _, rows = _sheet_rows(rev.get("/ui/submissions/export.xlsx?grade=差").content)
    assert [x[col["项目名称"]] for x in rows[1:] if isinstance(x[0], int)] == ["丙项目"]
    _, rows = _sheet_rows(ui_login(app, "unitB").get("/ui/submissions/export.xlsx").content)
    assert [x[col["项目名称"]] for x in rows[1:] if isinstance(x[0], int)] == ["丙项目"]
    client = TestClient(app)
    r = client.get("/api/submissions/summary.xlsx", params={"q": "甲项目"}, headers=api_token(client, "rev"))
    assert r.status_code == 200 and [x[2] for x in _sheet_rows(r.content)[1][1:] if isinstance(x[0], int)] == ["甲项目"]


def test_batch_job_summary(app):
    client = TestClient(app)
    tok = api_token(client, "unitA")
    lines = [json.dumps(DRAFT, ensure_ascii=False), "{broken", json.dumps(DRAFT, ensure_ascii=False),
             json.dumps(dict(DRAFT, project_name="第二个项目"), ensure_ascii=False)]
    r = client.post("/api/batches", files={"file": ("b.jsonl", "\n".join(lines).encode(), "application/x-ndjson")},
                    headers=tok)
    job = r.json()["id"]
    app.state.executor.shutdown(wait=True)  # the job has run
    r = client.get(f"/api/batches/{job}/summary.xlsx", headers=tok)
    assert r.status_code == 200, r.text
    wb, rows = _sheet_rows(r.content)
    names = [x[2] for x in rows[1:] if isinstance(x[0], int)]
    assert names == [DRAFT["project_name"], "第二个项目"]  # file order, the repeated line once
    assert "等级分布" in wb.sheetnames and wb["等级分布"]._charts
    assert client.get(f"/api/batches/{job}/summary.xlsx", headers=api_token(client, "unitB")).status_code == 404
    ui = ui_login(app, "unitA").get(f"/ui/batches/{job}/summary.xlsx")
    assert ui.status_code == 200 and ui.content[:2] == b"PK"


# -- the Excel route for units --------------------------------------------------------------------------------------
def fill_template(data: bytes, *, name: str, rows: list[tuple[str, str, str]], goal: str = "") -> bytes:
    """Fill a downloaded blank template as a unit would: the project name beside its label, each (二级指标, 三级指标,
    指标值) in the first free row of that 二级指标's block."""
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    for row in ws.iter_rows():
        for cell in row:
            if cell.value == "项目名称":
                ws.cell(row=cell.row, column=cell.column + 1, value=name)
            elif cell.value == "年度目标" and goal:
                ws.cell(row=cell.row, column=cell.column + 1, value=goal)
    for level2, indicator, value in rows:
        start = next(c.row for c in ws["B"] if c.value == level2)
        free = next(r for r in range(start, start + 3) if not ws.cell(row=r, column=3).value)
        ws.cell(row=free, column=3, value=indicator)
        ws.cell(row=free, column=4, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_unit_downloads_template_uploads_it_and_sees_advice(app):
    unit = ui_login(app, "unitA")
    page = unit.get("/ui/submit", headers=HTML).text
    assert 'href="/ui/template.xlsx?style=88"' in page and 'href="/ui/template.xlsx?style=101"' in page
    form = page.split('action="/ui/submit"')[1]
    assert form.index('type="file"') < form.index("<details") < form.index('name="json_text"')
    assert "<details class=\"advanced\">" in form and not SCRIPT.search(page)
    for style in ("88", "101"):
        r = unit.get(f"/ui/template.xlsx?style={style}")
        assert r.status_code == 200 and f"target-template-{style}.xlsx" in r.headers["content-disposition"]
        assert f"{style}号文" in (load_workbook(io.BytesIO(r.content)).properties.title or "")
    bad = unit.get("/ui/template.xlsx?style=99", headers=HTML)
    assert bad.status_code == 400 and "88 或 101" in bad.text
    filled = fill_template(unit.get("/ui/template.xlsx?style=88").content, name="城区道路洒水降尘服务",
                           rows=[("数量指标", "洒水车辆数", "10"), ("时效指标", "服务周期", "180")])
    r = unit.post("/ui/submit", data={"csrf_token": csrf(unit, "/ui/submit")}, headers=HTML, follow_redirects=False,
                  files={"file": ("申报表.xlsx", filled, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert r.status_code == 303, r.text
    page = unit.get(r.headers["location"], headers=HTML).text
    assert "城区道路洒水降尘服务" in page and "洒水车辆数" in page and "逐行指标" in page
    assert "没有计量单位" in page and 'data-testid="export-docx"' in page and "下载审核意见表" in page
    # a pasted JSON that fails keeps the advanced box open with the text in it
    r = unit.post("/ui/submit", data={"csrf_token": csrf(unit, "/ui/submit"), "json_text": "{oops"}, headers=HTML)
    assert r.status_code == 400 and "<details class=\"advanced\" open>" in r.text and "{oops" in r.text
    client = TestClient(app)
    r = client.get("/api/template.xlsx", params={"style": "101"}, headers=api_token(client, "unitA"))
    assert r.status_code == 200 and r.content[:2] == b"PK"


# -- one's own password ---------------------------------------------------------------------------------------------
def test_password_change_in_the_browser(app):
    other_device = ui_login(app, "rev")
    login_token = api_token(TestClient(app), "rev")
    me = ui_login(app, "rev")
    assert "当前密码" in me.get("/ui/password", headers=HTML).text

    def change(current: str, new: str, confirm: str | None = None) -> Any:
        data = {"csrf_token": csrf(me, "/ui/password"), "current_password": current, "new_password": new,
                "confirm_password": new if confirm is None else confirm}
        return me.post("/ui/password", data=data, headers=HTML)

    for args, message in ((("wrong-password", "new-password-1"), "当前密码不正确"),
                          ((PW, "short"), "新密码至少需要 8 个字符"),
                          ((PW, "new-password-1", "new-password-2"), "两次输入的新密码不一致"),
                          ((PW, PW), "新密码不能与当前密码相同")):
        r = change(*args)
        assert r.status_code == 400 and message in r.text and "Traceback" not in r.text
    assert me.post("/ui/password", data={"current_password": PW, "new_password": "x" * 9}, headers=HTML).status_code == 403
    r = change(PW, "new-password-1")
    assert r.status_code == 200 and "密码已修改" in r.text and "其他 2 处登录已退出" in r.text
    assert me.get("/ui/submissions", headers=HTML, follow_redirects=False).status_code == 200  # still signed in
    assert other_device.get("/ui/submissions", headers=HTML, follow_redirects=False).status_code == 303
    assert TestClient(app).get("/api/me", headers=login_token).status_code == 401
    assert TestClient(app).post("/api/login", json={"username": "rev", "password": PW}).status_code == 401
    ui_login(app, "rev", "new-password-1")
    audit = app.state.store.audit_rows()
    row = next(a for a in audit if a["action"] == "password_changed")
    assert row["user"] == "rev" and "new-password" not in row["detail"] and PW not in row["detail"]


def test_password_change_through_the_api(app):
    client = TestClient(app)
    tok = api_token(client, "unitA")
    browser = ui_login(app, "unitA")
    r = client.post("/api/me/password", json={"current_password": "nope", "new_password": "long-enough-1"}, headers=tok)
    assert r.status_code == 400 and r.json() == {"error": "当前密码不正确", "where": "current_password"}
    r = client.post("/api/me/password", json={"current_password": PW, "new_password": "short"}, headers=tok)
    assert r.status_code == 400 and "至少需要 8 个字符" in r.json()["error"]
    r = client.post("/api/me/password", json={"current_password": PW, "new_password": "long-enough-1"}, headers=tok)
    assert r.status_code == 200 and r.json() == {"changed": True, "sessions_ended": 1}
    assert client.get("/api/me", headers=tok).status_code == 200  # the token that made the change still works
    assert browser.get("/ui/submissions", headers=HTML, follow_redirects=False).status_code == 303
    assert client.post("/api/login", json={"username": "unitA", "password": "long-enough-1"}).status_code == 200
    assert client.post("/api/me/password", json={"current_password": PW, "new_password": "x" * 9}).status_code == 401


def test_decision_module_renders_suggestion_content(base_review):
    add = next((s for s in base_review.suggestions if s.action == "add"), None)
    revise = next(s for s in base_review.suggestions if s.action == "revise")
    text = D.suggestion_content(base_review, revise)
    row = base_review.target.indicators[revise.indicator_index or 0]
    assert text.startswith(f"第{(revise.indicator_index or 0) + 1}行「{row.name}」") and "→" in text
    if add is not None:
        assert f"「{add.name}」" in D.suggestion_content(base_review, add)
    assert Path(D.__file__).name == "decision.py"
