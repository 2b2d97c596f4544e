"""Sector knowledge: the shipped library and standards (sourced), a bureau's own files (validated as a whole,
Chinese errors naming row and field), unit arithmetic, honest sector classification, and the checks K-01..K-03 with
their arithmetic and sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import InputError
from assistant.intake.reader import read_targets
from assistant.intake.units import convert, parse_rate
from assistant.knowledge.importer import import_library, write_template
from assistant.knowledge.library import SHIPPED_DIR, load_library
from assistant.knowledge.match import KnowledgeBase
from assistant.knowledge.standards import period_years
from assistant.models import Indicator, Target
from assistant.pipeline import review

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus" / "approved_targets.jsonl"


def test_shipped_library_is_the_shared_data_with_every_source_kept() -> None:
    lib = load_library(shipped=SHIPPED_DIR)
    assert len(lib.sectors) == 25 and sum(len(s.core_indicators) for s in lib.sectors) == 341
    assert len(lib.standards) == 106
    assert all(i.source for s in lib.sectors for i in s.core_indicators)
    assert all(u.source and u.quote and u.source_type for u in lib.standards)


@pytest.mark.parametrize("unit,count,period,to_yuan", [
    ("元/人/年", "人", "年", 1.0), ("元/人天", "人", "天", 1.0), ("元/生/天", "人", "天", 1.0),
    ("万元/公里", "公里", None, 1e4), ("元/村/年", "村", "年", 1.0), ("元/人 (一次性)", "人", None, 1.0),
    ("元/人·月", "人", "月", 1.0)])
def test_rate_units_are_read_explicitly(unit: str, count: str, period: str | None, to_yuan: float) -> None:
    r = parse_rate(unit)
    assert r is not None and (r.count, r.period, r.to_yuan) == (count, period, to_yuan)


def test_units_that_cannot_be_reckoned_are_none_and_conversions_are_explicit() -> None:
    for unit in ("% of 硬件投资 (as encoded)", "formula (元/人/月)", "倍 (of 当地低保标准)", "rule (LPR-150BP)", "元"):
        assert parse_rate(unit) is None
    monthly, yearly = parse_rate("元/人/月"), parse_rate("万元/人/年")
    assert monthly and yearly and convert(500, monthly, yearly) == pytest.approx(0.6)  # 500元/月 = 0.6万元/年
    assert convert(3, parse_rate("元/生/天"), parse_rate("元/亩")) is None  # different things: no answer
    assert convert(1000, parse_rate("元/人"), parse_rate("元/人/年")) is None  # once-off is not yearly


def test_period_spans() -> None:
    assert period_years(Target(period="2023.07-2024.01")) == 1
    assert period_years(Target(period="2021-2023")) == 3 and period_years(Target(period="")) == 1


def _draft(**kw: object) -> Target:
    base = dict(project_name="", annual_goal="", amount_total_wan=None, indicators=[])
    return Target.model_validate({**base, **kw})


def test_unknown_sector_is_an_honest_answer_and_says_nothing(deps) -> None:
    t = _draft(project_name="辅警人员经费", annual_goal="保障辅警工资按时发放", amount_total_wan=2565,
               indicators=[Indicator(level1="产出指标", level2="数量指标", name="辅警人数", value="512人")])
    r = review(t, deps)
    assert not [f for f in r.findings if f.rule_id.startswith("K-")]


def test_missing_core_quantity_names_library_entries_with_sources(deps) -> None:
    """Raters: 「无书记人数等实物量」 — a cadre-pay table whose quantity is a percentage."""
    rec = next(json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines()
               if json.loads(x)["id"] == "t-5a30afbebd")  # 党支部书记补贴
    rec.pop("id")
    r = review(Target.model_validate(rec), deps, exclude_ids=["t-5a30afbebd"])
    k01 = [f for f in r.findings if f.rule_id == "K-01"]
    assert k01 and "村干部报酬" in k01[0].message and "来源：http" in k01[0].message
    assert k01[0].dimension == "completeness"


def test_a_cost_above_the_published_cap_cites_scope_year_source_and_arithmetic(deps) -> None:
    t = _draft(project_name="2025年干部教育培训班", annual_goal="举办乡科级干部培训班3期，培训300人次",
               amount_total_wan=30,
               indicators=[Indicator(level1="产出指标", level2="数量指标", name="培训人次", value="≥300人次"),
                           Indicator(level1="成本指标", level2="经济成本指标", name="培训费标准", value="≤900元/人天"),
                           Indicator(level1="满意度指标", level2="服务对象满意度指标", name="参训人员满意度",
                                     value="≥90%")])
    r = review(t, deps)
    k03 = [f for f in r.findings if f.rule_id == "K-03"]
    assert k03 and k03[0].indicator_index == 1, [f.message for f in r.findings]
    msg = k03[0].message
    assert "≤900元/人天" in msg and "高于" in msg and "元/人天" in msg and "来源" in msg
    assert any(w in msg for w in ("national", "市直", "中央")) or "年" in msg


def _training(value: str) -> Target:
    return _draft(project_name="2025年干部教育培训班", annual_goal="举办干部培训班3期，培训300人次", amount_total_wan=30,
                  indicators=[Indicator(level1="产出指标", level2="数量指标", name="培训人次", value="≥300人次"),
                              Indicator(level1="成本指标", level2="经济成本指标", name="培训费标准", value=value)])


def test_tiers_the_draft_does_not_name_are_held_leniently(deps) -> None:
    """一类/二类/三类培训 caps (760/650/550 元/人天): 600 breaks the lower tiers but not the first, and the draft
    does not say which class its training is, so nothing is flagged; 900 breaks all and is held against 760."""
    assert not [f for f in review(_training("≤600元/人天"), deps).findings if f.rule_id == "K-03"]
    k03 = [f for f in review(_training("≤900元/人天"), deps).findings if f.rule_id == "K-03"]
    assert len(k03) == 1 and "760" in k03[0].message and "旧标准" not in k03[0].message


def test_the_prompt_quotes_the_same_knowledge_as_the_rules(deps) -> None:
    from assistant.critique.prompts import PromptSet
    from assistant.pipeline import prepare

    inp = prepare(_training("≤900元/人天"), deps)
    user = PromptSet().review_messages(inp)[1]["content"]
    block = user.split("<knowledge_data>")[1].split("</knowledge_data>")[0]
    assert "培训" in block and "900" in block and "760" in block and "高于" in block
    unknown = prepare(_draft(project_name="辅警人员经费", annual_goal="保障辅警工资按时发放"), deps)
    assert "行业未能确定" in PromptSet().review_messages(unknown)[1]["content"]


def test_no_knowledge_check_compares_a_multi_year_total_with_a_yearly_standard(deps) -> None:
    t = _draft(project_name="村干部报酬", annual_goal="保障230名村干部报酬按时发放", period="2021-2023",
               amount_total_wan=3.0,
               indicators=[Indicator(level1="产出指标", level2="数量指标", name="村干部人数", value="230人")])
    assert not [f for f in review(t, deps).findings if f.rule_id == "K-02"]


def test_library_search_json(deps) -> None:
    from click.testing import CliRunner

    from assistant.cli import main

    res = CliRunner().invoke(main, ["library", "search", "营养餐", "--format", "json", "--k", "3"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 3 and all(r["source"] for r in rows)
    assert any("营养" in r["name"] for r in rows)


# -- a bureau's own library -------------------------------------------------------------------------


def _row(ws, r: int, values: list) -> None:
    for c, v in enumerate(values, start=1):
        ws.cell(row=r, column=c, value=v)


def test_bureau_library_from_the_excel_template_extends_and_overrides(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = write_template(tmp_path / "lib.xlsx")
    wb = load_workbook(path)
    _row(wb["指标库"], 3, ["农村公路/道路硬化", "通组路", "产出指标", "数量指标", "通组路硬化里程", "≥3公里", "", "本县2024年表"])
    _row(wb["支出标准"], 3, ["村主职干部基本报酬", "基层治理/村干部报酬", "元/人/年", "52000", "", "", "下限", "本县", "2024",
                          "本县文件", "每人每年不低于5.2万元"])
    wb.save(path)
    db = tmp_path / "var" / "a.db"
    result = import_library(path, db, profile="xinjiang")
    assert (result.indicators, result.standards, result.profile) == (1, 1, "xinjiang")  # example rows skipped
    lib = load_library(db)
    mine = lib.for_profile("xinjiang")
    road = mine.sector("农村公路/道路硬化")
    assert road and road.core_indicators[0].name == "通组路硬化里程"
    pay = [u for u in mine.standards if u.item == "村主职干部基本报酬"]
    assert len(pay) == 2 and {u.value for u in pay} == {40000, 52000}  # the shipped one (湖北) and the bureau's
    assert not any(u.profile == "xinjiang" for u in lib.for_profile("default").standards)


S = "三公经费/培训费"


@pytest.mark.parametrize("row,needle", [
    (["多余项目", S, "", "50", "", "", "标准", "", "", "", ""], "计量单位"),
    (["项目", S, "元/人/年", "五十", "", "", "标准", "", "", "", ""], "不是数字"),
    (["项目", S, "元/人/年", "", "", "", "标准", "", "", "", ""], "至少填写一项"),
    (["项目", S, "人/年", "50", "", "", "标准", "", "", "", ""], "无法用于测算"),
    (["项目", S, "元/人/年", "50", "", "", "上下限", "", "", "", ""], "类型"),
    (["项目", S, "元/人/年", "", "500", "300", "标准", "", "", "", ""], "下限 500 大于上限 300"),
    (["项目", "", "元/人/年", "50", "", "", "标准", "", "", "", ""], "字段 行业 为空"),
    (["项目", "不存在的行业", "元/人/年", "50", "", "", "标准", "", "", "", ""], "不是指标库中的行业"),
    (["项目", S, "元/人/年", "-5", "", "", "标准", "", "", "", ""], "不小于 0"),
])
def test_bad_standard_rows_name_the_sheet_row_and_field_and_load_nothing(tmp_path: Path, row: list,
                                                                          needle: str) -> None:
    from openpyxl import load_workbook

    path = write_template(tmp_path / "lib.xlsx")
    wb = load_workbook(path)
    _row(wb["支出标准"], 3, ["好的项目", S, "元/人/年", "50", "", "", "标准", "", "", "", ""])
    _row(wb["支出标准"], 4, row)
    wb.save(path)
    db = tmp_path / "var" / "a.db"
    with pytest.raises(InputError) as exc:
        import_library(path, db)
    assert needle in str(exc.value) and "「支出标准」第4行" in str(exc.value)
    assert not list((db.parent / "knowledge").glob("*.jsonl")) if (db.parent / "knowledge").exists() else True


def test_duplicates_and_wrong_sheets_are_errors(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "wrong.xlsx")
    with pytest.raises(InputError, match="找不到工作表「指标库」"):
        import_library(tmp_path / "wrong.xlsx", tmp_path / "a.db")
    line = {"sector": "文化", "aliases": [], "core_indicators": [
        {"level1": "产出指标", "level2": "数量指标", "name": "送戏村数", "typical_value": "≥70村"},
        {"level1": "产出指标", "level2": "数量指标", "name": "送戏村数", "typical_value": "≥80村"}]}
    (tmp_path / "dup.jsonl").write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="重复"):
        import_library(tmp_path / "dup.jsonl", tmp_path / "a.db")
    (tmp_path / "bad.jsonl").write_text('{"item": "x", "unit": "元/人", "value": "abc"}\n', encoding="utf-8")
    with pytest.raises(InputError) as exc:
        import_library(tmp_path / "bad.jsonl", tmp_path / "a.db")
    assert "bad.jsonl 第1行" in str(exc.value) and "value" in str(exc.value)


def test_moved_columns_and_unknown_categories_are_errors(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = write_template(tmp_path / "lib.xlsx")
    wb = load_workbook(path)
    wb["指标库"].cell(row=1, column=6, value="来源")
    wb["指标库"].cell(row=1, column=8, value="参考值")
    wb.save(path)
    with pytest.raises(InputError, match="第1行第6列表头应为「参考值」"):
        import_library(path, tmp_path / "a.db")
    path = write_template(tmp_path / "lib2.xlsx")
    wb = load_workbook(path)
    _row(wb["指标库"], 3, ["农村公路/道路硬化", "", "产出", "数量指标", "通组路里程", "≥3公里", "", "本县"])
    wb.save(path)
    with pytest.raises(InputError, match="一级指标「产出」应为"):
        import_library(path, tmp_path / "a.db")


def test_jsonl_duplicates_name_their_lines(tmp_path: Path) -> None:
    std = {"item": "县培训费", "sector": "三公经费/培训费", "unit": "元/人天", "value": 400, "kind": "cap"}
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(std, ensure_ascii=False) for _ in range(2)), encoding="utf-8")
    with pytest.raises(InputError) as exc:
        import_library(tmp_path / "d.jsonl", tmp_path / "a.db")
    assert "d.jsonl 第2行" in str(exc.value) and "第1行" in str(exc.value)


def test_an_import_keeps_every_shipped_standard_and_replaces_only_its_own(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    line = {"sector": "文化", "aliases": [], "core_indicators": [
        {"level1": "产出指标", "level2": "数量指标", "name": "送戏村数", "typical_value": "≥70村"}]}
    (tmp_path / "x.jsonl").write_text(json.dumps(line, ensure_ascii=False), encoding="utf-8")
    first = import_library(tmp_path / "x.jsonl", db, profile="xinjiang")
    assert len(load_library(db).standards) == 106 and not first.replaced
    again = import_library(tmp_path / "x.jsonl", db, profile="xinjiang")
    other = import_library(tmp_path / "x.jsonl", db)
    assert again.replaced and again.file == first.file and not other.replaced and other.file != first.file


def test_lexical_matching_works_without_an_embedding_engine() -> None:
    kb = KnowledgeBase(load_library(shipped=SHIPPED_DIR))
    hits = kb.search("培训人次", k=3)
    assert hits and "培训" in hits[0][0].name
    t = read_targets(CORPUS)[0]
    assert kb.check(t, []).library_version == kb.library.version
