"""The library in the web app: units browse a sector and pick its indicators into their draft (put in the re-submit
box, not submitted); admins import a bureau's own file (Excel template), which the next review uses, and remove it;
errors name the sheet, row and field; the JSON API does the same."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from tests.webkit import HTML, api_token, csrf, make_app, ui_login

TRAINING = {"project_name": "2025年干部教育培训班", "department": "某县委组织部", "implementing_unit": "某县委党校",
            "annual_goal": "举办干部培训班3期，培训300人次", "amount_total_wan": 30,
            "indicators": [{"level1": "产出指标", "level2": "数量指标", "name": "培训人次", "value": "≥300人次"},
                           {"level1": "成本指标", "level2": "经济成本指标", "name": "培训费标准", "value": "≤700元/人天"}]}


@pytest.fixture(scope="module")
def app(tmp_path_factory, deps):
    from assistant.web.app import WebConfig

    return make_app(tmp_path_factory.mktemp("lib") / "w.db", deps, config=WebConfig(rate_per_s=0, login_rate_per_s=0))


def _submit(c: TestClient, target: dict) -> int:
    r = c.post("/ui/submit", data={"csrf_token": csrf(c, "/ui/submit"), "json_text": json.dumps(target, ensure_ascii=False)},
               headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _box(page: str) -> dict:
    import html

    return json.loads(html.unescape(re.search(r'<textarea name="json_text" rows="\d+">(.*?)</textarea>', page, re.S).group(1)))


def _keys(page: str) -> list[tuple[str, str]]:
    import html

    return [(k, html.unescape(n)) for k, n in re.findall(r'name="pick" value="([0-9a-f]{12})" aria-label="选用 ([^"]+)"', page)]


def test_unit_picks_library_indicators_into_its_draft_and_keeps_its_edits(app) -> None:
    unit = ui_login(app, "unitA")
    sid = _submit(unit, TRAINING)
    page = unit.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert "培训/会议" in page and "到行业指标库选用指标" in page
    edited = json.loads(json.dumps(TRAINING))
    edited["annual_goal"] = "举办干部培训班3期，培训300人次，考核合格率95%以上"  # typed before leaving for the library
    r = unit.post(f"/ui/submissions/{sid}/draft", headers=HTML, follow_redirects=False,
                  data={"csrf_token": csrf(unit, f"/ui/submissions/{sid}"), "next": "library",
                        "json_text": json.dumps(edited, ensure_ascii=False)})
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/library?")
    keys = _keys(unit.get(r.headers["location"], headers=HTML).text)
    assert len(keys) >= 3
    for pick in (keys[0], keys[1]):  # two rounds: the first pick survives the second
        r = unit.post(f"/ui/submissions/{sid}/library", headers=HTML,
                      data={"csrf_token": csrf(unit, f"/ui/submissions/{sid}"), "pick": [pick[0]]})
        assert r.status_code == 200 and "已把 1 个指标" in r.text
    draft = _box(unit.get(f"/ui/submissions/{sid}", headers=HTML).text)
    names = [i["name"] for i in draft["indicators"]]
    assert names[:2] == ["培训人次", "培训费标准"] and names[2:] == [keys[0][1], keys[1][1]]
    assert draft["annual_goal"] == edited["annual_goal"] and all("value" in i for i in draft["indicators"])
    assert len(unit.get(f"/api/submissions/{sid}", headers=api_token(unit, "unitA")).json()["versions"]) == 1
    r = unit.post(f"/ui/submissions/{sid}/versions", headers=HTML, follow_redirects=False,
                  data={"csrf_token": csrf(unit, f"/ui/submissions/{sid}"), "json_text": json.dumps(draft, ensure_ascii=False)})
    assert r.status_code == 303
    after = unit.get(f"/ui/submissions/{sid}", headers=HTML).text
    assert 'data-testid="working-draft"' not in after  # submitted: the working draft is gone


def test_pick_messages_say_what_was_not_added(app) -> None:
    unit = ui_login(app, "unitA")
    sid = _submit(unit, TRAINING)
    keys = _keys(unit.get(f"/ui/library?sector=培训/会议&submission={sid}", headers=HTML).text)
    picks = [k for k, _ in keys[:3]] + ["000000000000"]
    r = unit.post(f"/ui/submissions/{sid}/library", headers=HTML, data={"csrf_token": csrf(unit, "/ui/submit"), "pick": picks})
    assert "1 个条目已不在指标库中" in r.text
    r = unit.post(f"/ui/submissions/{sid}/library", headers=HTML, data={"csrf_token": csrf(unit, "/ui/submit"), "pick": picks[:1]})
    assert "修改稿中已有同名指标" in r.text
    r = unit.post(f"/ui/submissions/{sid}/draft", headers=HTML, follow_redirects=True,
                  data={"csrf_token": csrf(unit, "/ui/submit"), "next": "discard", "json_text": ""})
    assert "已放弃修改稿" in r.text and _box(r.text)["indicators"][-1]["name"] == "培训费标准"


def test_picking_nothing_or_as_another_role_is_refused(app) -> None:
    unit = ui_login(app, "unitA")
    sid = _submit(unit, TRAINING)
    r = unit.post(f"/ui/submissions/{sid}/library", headers=HTML, data={"csrf_token": csrf(unit, f"/ui/submissions/{sid}")})
    assert r.status_code == 400 and "没有选择任何指标" in r.text
    other = ui_login(app, "unitB")
    assert other.get(f"/ui/library?submission={sid}", headers=HTML).status_code in (403, 404)
    rev = ui_login(app, "rev")
    r = rev.post(f"/ui/submissions/{sid}/library", headers=HTML, data={"csrf_token": csrf(rev, "/ui/library"), "pick": "x"})
    assert r.status_code == 403
    page = rev.get(f"/ui/library?submission={sid}&sector=培训/会议", headers=HTML).text
    assert 'name="pick"' not in page and "加入修改稿" not in page


def test_library_search_api_and_page(app) -> None:
    unit = ui_login(app, "unitA")
    tok = api_token(unit, "unitA")
    rows = unit.get("/api/library", params={"q": "营养餐", "k": 5}, headers=tok).json()
    assert len(rows) == 5 and all(r["source"] for r in rows) and any("营养" in r["name"] for r in rows)
    assert unit.get("/api/library", headers=tok).status_code == 400
    sectors = unit.get("/api/library/sectors", headers=tok).json()
    assert len(sectors) == 25 and sum(s["indicators"] for s in sectors) == 341
    page = unit.get("/ui/library", params={"q": "河道"}, headers=HTML).text
    assert "河道" in page and 'name="pick"' not in page  # no draft to pick into
    assert "没有找到匹配的条目" in unit.get("/ui/library", params={"q": "zzqqww"}, headers=HTML).text


def _template_with(tmp_path, std_row: list) -> bytes:
    from openpyxl import load_workbook

    from assistant.knowledge.importer import write_template

    path = write_template(tmp_path / "t.xlsx")
    wb = load_workbook(path)
    for c, v in enumerate(std_row, start=1):
        wb["支出标准"].cell(row=3, column=c, value=v)
    wb.save(path)
    return path.read_bytes()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_admin_imports_a_bureau_standard_that_the_next_review_uses_then_removes_it(app, tmp_path) -> None:
    admin = ui_login(app, "root")
    unit = ui_login(app, "unitA")
    before = unit.get(f"/api/submissions/{_submit(unit, TRAINING)}", headers=api_token(unit, "unitA")).json()
    assert not [f for f in before["review"]["findings"] if f["rule_id"] == "K-03"]  # 700 is within the 760 cap
    assert admin.get("/ui/admin/library/template").headers["content-type"] == XLSX
    data = _template_with(tmp_path, ["县直机关培训费综合定额", "三公经费/培训费", "元/人天", "400", "", "", "上限", "本县", "2024",
                                     "某县培训费管理办法", "每人每天不超过400元"])
    r = admin.post("/ui/admin/library", headers=HTML, data={"csrf_token": csrf(admin, "/ui/admin/library"), "profile": ""},
                   files={"file": ("本县支出标准.xlsx", data, XLSX)})
    assert r.status_code == 200 and "支出标准 1 条" in r.text and "所有规则配置" in r.text
    after = unit.get(f"/api/submissions/{_submit(unit, TRAINING)}", headers=api_token(unit, "unitA")).json()
    k03 = [f for f in after["review"]["findings"] if f["rule_id"] == "K-03"]
    assert k03 and "县直机关培训费综合定额" in k03[0]["message"] and "本单位导入" in k03[0]["message"]
    files = admin.get("/api/admin/library/files", headers=api_token(admin, "root")).json()
    assert [f["standards"] for f in files] == [1]
    r = admin.post(f"/ui/admin/library/{files[0]['name']}/delete", headers=HTML,
                   data={"csrf_token": csrf(admin, "/ui/admin/library")})
    assert "已删除导入文件" in r.text
    again = unit.get(f"/api/submissions/{_submit(unit, TRAINING)}", headers=api_token(unit, "unitA")).json()
    assert not [f for f in again["review"]["findings"] if f["rule_id"] == "K-03"]
    assert "导入指标库" in admin.get("/ui/admin/audit", headers=HTML).text


def test_a_bad_bureau_file_names_sheet_row_and_field_and_loads_nothing(app, tmp_path) -> None:
    admin = ui_login(app, "root")
    data = _template_with(tmp_path, ["县直机关培训费", "三公经费/培训费", "元/人天", "四百", "", "", "上限", "", "", "", ""])
    r = admin.post("/ui/admin/library", headers=HTML, data={"csrf_token": csrf(admin, "/ui/admin/library")},
                   files={"file": ("bad.xlsx", data, XLSX)})
    assert r.status_code == 400 and "支出标准" in r.text and "第3行" in r.text and "标准值" in r.text
    assert admin.get("/api/admin/library/files", headers=api_token(admin, "root")).json() == []
    r = admin.post("/api/admin/library/import", headers=api_token(admin, "root"), params={"profile": "nope"},
                   files={"file": ("ok.xlsx", _template_with(tmp_path, ["x", "", "元/人", "1", "", "", "标准", "", "", "", ""]), XLSX)})
    assert r.status_code in (400, 404) and "nope" in r.text
    unit = ui_login(app, "unitA")
    assert unit.get("/ui/admin/library", headers=HTML).status_code == 403
    assert unit.post("/api/admin/library/import", headers=api_token(unit, "unitA"),
                     files={"file": ("a.jsonl", b"{}", "application/x-ndjson")}).status_code == 403
