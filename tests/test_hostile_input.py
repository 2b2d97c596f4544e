"""Hostile input: invalid money (NaN, ±Infinity, 1e309, negatives) refused on every path with a Chinese error naming
the field; overflowing indicator numbers kept out of arithmetic; HTML in user text inert in the Markdown export;
deep nesting, a non-UTF-8 line and a folder given as a file answered in Chinese without a traceback."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from openpyxl import Workbook
from pydantic import ValidationError

from assistant.cli import main
from assistant.errors import InputError
from assistant.intake.quantities import implied_totals
from assistant.intake.reader import read_source, read_targets
from assistant.intake.values import parse_value
from assistant.models import BudgetLine, Indicator, Target
from assistant.pipeline import review
from assistant.report.markdown import md_cell, md_text, to_markdown
from tests.webkit import DRAFT, api_token, make_app

TRACEBACK = re.compile(r"Traceback|File \"|line \d+, in ")
BAD_NUMBERS = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "1e309": "Infinity", "-3.5": "-3.5"}
MONEY_FIELDS = ("amount_total_wan", "amount_fiscal_wan", "amount_other_wan", "prior_amount_wan")


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ASSISTANT_BACKEND", "ASSISTANT_PROFILE", "ASSISTANT_CORPUS", "OPENAI_BASE_URL", "OPENAI_API_KEY",
                "ASSISTANT_MODEL", "ASSISTANT_TOP_K", "ASSISTANT_DENSE_RETRIEVAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASSISTANT_DB", str(tmp_path / "x.db"))


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _draft_text(field: str, literal: str) -> str:
    """The sample draft with `field` set to a raw JSON number literal (NaN and 1e309 as a client would send them)."""
    body = json.dumps(dict(DRAFT, **{field: 0}), ensure_ascii=False)
    return body.replace(f'"{field}": 0', f'"{field}": {literal}', 1)


def _assert_clean_error(res: Result, *needles: str) -> None:
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert res.stderr.startswith("错误："), res.stderr
    assert not TRACEBACK.search(res.output) and res.stdout == ""
    for n in needles:
        assert n in res.stderr, (n, res.stderr)


# ---------------------------------------------------------------------------- money: the contract


@pytest.mark.parametrize("field", MONEY_FIELDS)
@pytest.mark.parametrize("literal", list(BAD_NUMBERS))
def test_target_money_must_be_finite_and_not_negative(field: str, literal: str) -> None:
    with pytest.raises(InputError) as err:
        read_source(_draft_text(field, literal).encode(), name="x.json")
    msg = str(err.value)
    assert field in msg and "必须是不小于 0 的有限数字" in msg and f"收到 {BAD_NUMBERS[literal]}" in msg, msg
    assert "Input should" not in msg and "Value error" not in msg


def test_valid_money_still_accepted() -> None:
    [t] = read_targets(_draft_text("amount_total_wan", "0").encode(), name="x.json")
    assert t.amount_total_wan == 0
    t = Target(project_name="x", amount_total_wan="12.5", budget_lines=[BudgetLine(amount_wan=3, quantity=0)])
    assert t.amount_total_wan == 12.5


@pytest.mark.parametrize("field", ["amount_wan", "quantity"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, "1e309"])
def test_budget_line_numbers_must_be_finite_and_not_negative(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match="必须是不小于 0 的有限数字"):
        BudgetLine(**{field: value})
    data = dict(DRAFT, budget_lines=[{"item": "车辆租赁", field: value}])
    with pytest.raises(InputError) as err:
        read_source(json.dumps(data, ensure_ascii=False).encode(), name="x.json")
    assert f"budget_lines（预算明细）[0].{field}" in str(err.value), str(err.value)


# ---------------------------------------------------------------------------- money: every way in


def test_cli_review_json_with_nan_budget_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(_draft_text("amount_total_wan", "NaN"), encoding="utf-8")
    _assert_clean_error(run("review", str(path)), "amount_total_wan", "资金总额", "必须是不小于 0 的有限数字", "收到 NaN")
    path.write_text(_draft_text("amount_fiscal_wan", "1e309"), encoding="utf-8")
    _assert_clean_error(run("review", str(path)), "amount_fiscal_wan", "财政拨款", "Infinity")


def test_cli_jsonl_bad_money_line_fails_alone(tmp_path: Path) -> None:
    good = json.dumps(DRAFT, ensure_ascii=False)
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join([good, _draft_text("amount_total_wan", "-Infinity"), good,
                               _draft_text("prior_amount_wan", "-20")]), encoding="utf-8")
    res = run("review", str(path), "--format", "json")
    assert res.exit_code == 3, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r.get("line") for r in rows if "error" in r] == [2, 4]
    assert rows[0]["grade"] and rows[2]["grade"]
    assert "amount_total_wan" in rows[1]["error"] and "-Infinity" in rows[1]["error"]
    assert "prior_amount_wan" in rows[3]["error"] and "收到 -20" in rows[3]["error"]
    assert "第2行" in res.stderr and "第4行" in res.stderr and not TRACEBACK.search(res.output)


def _workbook(tmp_path: Path, amount: object) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "申报表"
    ws.append(["项目名称", "雾炮车抑尘降尘服务"])
    ws.append(["年度资金总额（万元）", amount])
    ws.append(["一级指标", "二级指标", "三级指标", "指标值"])
    ws.append(["产出指标", "数量指标", "作业车辆", "≥10辆"])
    path = tmp_path / "表.xlsx"
    wb.save(path)
    return path


@pytest.mark.parametrize("amount", [-100, "-100万元"])
def test_xlsx_negative_amount_is_a_chinese_error_naming_the_cell(tmp_path: Path, amount: object) -> None:
    path = _workbook(tmp_path, amount)
    with pytest.raises(InputError) as err:
        read_source(path)
    msg = str(err.value)
    assert "工作表「申报表」第2行" in msg and "资金总额" in msg and "必须是不小于 0 的有限数字" in msg and "-100" in msg
    _assert_clean_error(run("review", str(path)), "第2行", "资金总额")
    assert read_targets(_workbook(tmp_path, 100))[0].amount_total_wan == 100  # a valid amount still reads


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, deps):
    with TestClient(make_app(tmp_path_factory.mktemp("web") / "web.db", deps)) as c:
        yield c, api_token(c, "unitA")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e309", "-5"])
def test_web_api_refuses_bad_money_and_stores_nothing(web, literal: str) -> None:
    client, headers = web
    before = client.get("/api/submissions", headers=headers).json()
    body = _draft_text("amount_total_wan", literal)
    r = client.post("/api/submissions", content=body.encode(), headers={**headers, "Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    err = r.json()["error"]
    assert "amount_total_wan" in err and "必须是不小于 0 的有限数字" in err and not TRACEBACK.search(r.text), err
    assert client.get("/api/submissions", headers=headers).json() == before
    ok = client.post("/api/submissions", json=DRAFT, headers=headers)
    assert ok.status_code == 201 and ok.json()["submission"]["review"]["target"]["amount_total_wan"] is not None


# ---------------------------------------------------------------------------- cost values in indicator rows


def test_overflowing_indicator_number_is_unparseable_and_kept_out_of_arithmetic(deps) -> None:
    huge = "9" * 400
    assert parse_value(f"≤{huge}元/人·天").kind == "unparseable"
    assert "number_out_of_range" in parse_value(f"1-{huge}人").flags
    assert parse_value("≤-5元/人·天").number is None  # a negative cost never reaches the arithmetic either
    draft = dict(DRAFT, indicators=[*DRAFT["indicators"],
                                    {"level1": "成本指标", "level2": "经济成本指标", "name": "作业成本",
                                     "value": f"≤{huge}元/人·天"},
                                    {"level1": "成本指标", "level2": "经济成本指标", "name": "补助标准",
                                     "value": "≤-5元/人·天"}])
    r = review(Target.model_validate(draft), deps)
    n = len(DRAFT["indicators"])
    assert all(math.isfinite(t.total_wan) for t in implied_totals(r.indicators))
    assert {f.indicator_index for f in r.findings if f.rule_id == "S-16"} >= {n, n + 1}
    json.dumps(r.model_dump(mode="json"), allow_nan=False)  # nothing non-finite anywhere in the review


# ---------------------------------------------------------------------------- HTML in the Markdown export

HOSTILE = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "a|b\nc")


def test_markdown_export_escapes_html_in_every_user_string(deps) -> None:
    s, img, pipe = HOSTILE
    rows = [Indicator(level1="产出指标", level2="数量指标", name=f"作业车辆{s}", value=f"≥10辆{img}"),
            Indicator(level1="效益指标", level2="社会效益指标", name=pipe, value=f"有所提高{s}"),
            Indicator(level1="成本指标", level2="经济成本指标", name=img, value=pipe)]
    t = Target.model_validate(dict(DRAFT, project_name=f"雾炮车{s}{img}", annual_goal=f"{s}{pipe}",
                                   indicators=[*DRAFT["indicators"], *(r.model_dump() for r in rows)]))
    r = review(t, deps)
    assert any("<script>" in f.message or "<img" in f.message for f in r.findings)  # user text is quoted
    md = to_markdown(r)
    assert "<script" not in md and "<img" not in md and "</script" not in md
    assert "&lt;script>alert(1)&lt;/script>" in md and "&lt;img src=x onerror=alert(1)>" in md
    assert md.splitlines()[0] == f"# 绩效目标审核意见：雾炮车{md_text(s)}{md_text(img)}"
    pipes = None
    for line in md.splitlines():  # every table row keeps its header's columns; no user line break starts a line
        assert not line.startswith(("c", "<")), line
        if not line.startswith("|"):
            pipes = None
            continue
        pipes = pipes or line.count("|")
        assert line.count("|") == pipes, line
    assert "a｜b c" in md


def test_md_text_keeps_text_readable() -> None:
    assert md_text("R&D 研发 ≥95%") == "R&D 研发 ≥95%"
    assert md_text("&lt;b&gt; & &#60;") == "&amp;lt;b&amp;gt; & &amp;#60;"  # shown as typed, not decoded
    assert md_text("<=475元/亩，>=4个，a < b") == "<=475元/亩，>=4个，a < b"  # comparisons stay readable
    assert md_text("<!-- x --><?php") == "&lt;!-- x -->&lt;?php"
    assert md_text("a\r\nb\nc") == "a b c"
    assert md_cell("a|b\nc<i>") == "a｜b c&lt;i>"


# ---------------------------------------------------------------------------- structure: nesting, encoding, folders


def test_cli_deeply_nested_json_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 1000 + "]" * 1000, encoding="utf-8")
    _assert_clean_error(run("review", str(path)), "嵌套层数")
    path.write_text('{"project_name": ' + "[" * 1000 + "]" * 1000 + "}", encoding="utf-8")
    _assert_clean_error(run("review", str(path)), "嵌套层数")


def test_cli_jsonl_deep_and_non_utf8_lines_fail_alone(tmp_path: Path) -> None:
    good = json.dumps(DRAFT, ensure_ascii=False).encode("utf-8")
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join([good, b"[" * 1000 + b"]" * 1000, good,
                                 json.dumps(dict(DRAFT, project_name="乙"), ensure_ascii=False).encode("gbk")]))
    res = run("review", str(path), "--format", "json")
    assert res.exit_code == 3, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r.get("line") for r in rows if "error" in r] == [2, 4]
    assert "嵌套层数" in rows[1]["error"] and "UTF-8" in rows[3]["error"]
    assert rows[0]["grade"] and rows[2]["grade"]
    assert "第2行" in res.stderr and "第4行" in res.stderr and not TRACEBACK.search(res.output)


def test_cli_review_of_a_folder_is_a_chinese_error(tmp_path: Path) -> None:
    _assert_clean_error(run("review", str(tmp_path)), "文件夹")
