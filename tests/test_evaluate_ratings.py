"""Rating loaders: JSONL reference set, CSV/xlsx with Chinese or English headers, bad rows."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

ROOT = Path(__file__).resolve().parents[1]

from assistant.errors import InputError  # noqa: E402
from assistant.evaluate.ratings import (  # noqa: E402
    GRADE_MIDPOINTS,
    Rating,
    load_item_sources,
    load_items,
    load_ratings,
    ratings_matrix,
)

EVALS = ROOT / "evals"


def write_csv(path: Path, rows: list[list[Any]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]], sheet: str = "评分", blank_rows: int = 0) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for _ in range(blank_rows):
        ws.append([])
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


ZH_HEADER = ["项目", "评审人", "完整性", "相关性", "适当性", "资金匹配性", "总分", "等级", "完整性备注"]


# --------------------------------------------------------------------------- reference files


def test_load_reference_ratings() -> None:
    ratings = load_ratings(EVALS / "ratings.jsonl")
    assert len(ratings) == 162
    assert {r.rater for r in ratings} == {"r1", "r2", "r3"}
    assert len({r.item_id for r in ratings}) == 54
    first = ratings[0]
    assert (first.item_id, first.rater, first.completeness, first.overall, first.grade) == ("item-002", "r1", 1, 30.0, "差")
    assert first.overall_from == "score" and set(first.notes) == {"completeness", "relevance", "suitability", "fund_fit"}


def test_load_items_and_sources() -> None:
    items = load_items(EVALS / "items.jsonl")
    assert len(items) == 54 and all(it["item_id"] and "indicators" in it for it in items)
    sources = load_item_sources(EVALS / "item_sources.jsonl")
    assert set(sources) == {it["item_id"] for it in items}
    assert sources["item-003"].defect == "foreign_indicators" and sources["item-003"].dimension == "relevance"
    assert sources["item-002"].defect is None


def test_ratings_matrix_aligns_and_marks_missing() -> None:
    ratings = [
        Rating(item_id="b", rater="r1", completeness=4, overall=80),
        Rating(item_id="a", rater="r1", completeness=2),
        Rating(item_id="a", rater="r2", completeness=3, overall=60),
    ]
    ids, mats = ratings_matrix(ratings, "completeness")
    assert ids == ["a", "b"] and list(mats) == ["r1", "r2"]
    assert mats["r1"].tolist() == [2.0, 4.0]
    assert mats["r2"][0] == 3.0 and math.isnan(mats["r2"][1])
    _, overall = ratings_matrix(ratings, "overall")
    assert math.isnan(overall["r1"][0]) and overall["r1"][1] == 80.0
    with pytest.raises(ValueError):
        ratings_matrix(ratings, "beauty")


def test_rating_contract_is_strict() -> None:
    with pytest.raises(ValueError):
        Rating(item_id="a", rater="r1", completeness=6)
    with pytest.raises(ValueError):
        Rating(item_id="a", rater="r1", colour="red")  # type: ignore[call-arg]


# --------------------------------------------------------------------------- good files


def test_csv_chinese_headers(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "评分.csv",
        [
            ["序号", "项目名称", *ZH_HEADER],
            [1, "绿化养护", "item-1", "张三", 4, "5", " 3 ", "4分", "82.5", "良", "缺满意度"],
            [2, "道路", "item-2", "张三", 2, 3, 3, 2, "", "", ""],
            [3, "", "", "", "", "", "", "", "", "", ""],  # blank row: skipped
        ],
    )
    r1, r2 = load_ratings(path)
    assert (r1.item_id, r1.rater, r1.completeness, r1.relevance, r1.suitability, r1.fund_fit) == ("item-1", "张三", 4, 5, 3, 4)
    assert r1.overall == 82.5 and r1.grade == "良" and r1.notes == {"completeness": "缺满意度"}
    assert r2.overall is None and r2.grade is None and r2.overall_from is None


def test_csv_english_headers_gbk_and_suffixes(tmp_path: Path) -> None:
    header = ["Item_ID", "Rater", "Completeness (1-5)", "relevance", "Suitability", "fund_fit", "Overall", "Grade", "Notes"]
    path = write_csv(tmp_path / "r.csv", [header, ["x", "r9", 5, 4, 4, 5, 91, "优", "好"]])
    (r,) = load_ratings(path)
    assert r.completeness == 5 and r.overall == 91 and r.grade == "优" and r.notes == {"overall": "好"}
    gbk = write_csv(tmp_path / "gbk.csv", [["项目编号", "评审专家", "完整性（1-5分）", "总分"], ["x", "李四", 3, 65]], "gbk")
    (g,) = load_ratings(gbk)
    assert g.rater == "李四" and g.completeness == 3 and g.grade == "中"  # grade derived from overall


def test_xlsx_with_deductions(tmp_path: Path) -> None:
    rows = [
        ["项目", "评审人", "完整性", "相关性", "完整性扣分", "相关性扣分", "适当性扣分", "扣分说明"],
        ["item-1", "r1", 4, 4, 5, 10, None, "缺成本指标"],
        ["item-2", "r1", 3, 3, 0, 0, 0, None],
    ]
    path = write_xlsx(tmp_path / "扣分.xlsx", rows, blank_rows=1)
    a, b = load_ratings(path)
    assert a.overall == 85 and a.grade == "良" and a.overall_from == "deductions"
    assert a.notes == {"deductions": "缺成本指标"}
    assert b.overall == 100 and b.grade == "优"


def test_total_wins_over_deductions(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [["项目", "评审人", "总分", "扣分"], ["a", "r1", 70, 10], ["b", "r1", "", 45]])
    a, b = load_ratings(path)
    assert (a.overall, a.overall_from) == (70, "score")
    assert (b.overall, b.overall_from, b.grade) == (55, "deductions", "差")


def test_grades_only_use_band_midpoints(tmp_path: Path) -> None:
    rows = [["项目", "评审人", "等级"]] + [[f"i{k}", "r1", g] for k, g in enumerate(["优", "良好", "中", "差"])]
    path = write_xlsx(tmp_path / "g.xlsx", rows)
    got = load_ratings(path)
    assert [(r.grade, r.overall, r.overall_from) for r in got] == [
        ("优", 95, "grade"), ("良", 85, "grade"), ("中", 70, "grade"), ("差", 45, "grade")
    ]
    assert GRADE_MIDPOINTS == {"优": 95, "良": 85, "中": 70, "差": 45}


def test_xlsx_named_sheet(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表为评分"])
    ws = wb.create_sheet("评分")
    ws.append(["item_id", "rater", "fund_fit"])
    ws.append(["a", "r1", 2])
    wb.save(tmp_path / "two.xlsx")
    (r,) = load_ratings(tmp_path / "two.xlsx", sheet="评分")
    assert r.fund_fit == 2
    with pytest.raises(InputError, match="没有工作表"):
        load_ratings(tmp_path / "two.xlsx", sheet="不存在")


# --------------------------------------------------------------------------- bad rows

BAD_CASES = [
    # (row, message fragment, column named in `where`)
    (["item-1", "r1", "四", 4, 4, 4, 80, "良"], "不是数字", "完整性"),
    (["item-1", "r1", 4, 6, 4, 4, 80, "良"], "超出1–5范围", "相关性"),
    (["item-1", "r1", 4, 4, 3.5, 4, 80, "良"], "整数", "适当性"),
    (["item-1", "r1", 4, 4, 4, 4, 120, "良"], "超出0–100范围", "总分"),
    (["item-1", "r1", 4, 4, 4, 4, 80, "甲"], "未知等级", "等级"),
    (["item-1", "r1", 4, 4, 4, 4, 95, "差"], "不一致", "等级"),
    (["", "r1", 4, 4, 4, 4, 80, "良"], "缺少项目编号", "项目"),
    (["item-1", "", 4, 4, 4, 4, 80, "良"], "缺少评审人", "评审人"),
]


@pytest.mark.parametrize(("row", "message", "column"), BAD_CASES)
def test_csv_bad_rows_name_file_row_and_column(tmp_path: Path, row: list[Any], message: str, column: str) -> None:
    good = ["item-0", "r1", 4, 4, 4, 4, 80, "良"]
    path = write_csv(tmp_path / "bad.csv", [ZH_HEADER[:-1], good, row])
    with pytest.raises(InputError) as info:
        load_ratings(path)
    err = info.value
    assert message in err.message
    assert err.where == f"bad.csv 第3行 {column}"
    assert "bad.csv 第3行" in str(err)


@pytest.mark.parametrize(("row", "message", "column"), BAD_CASES[:3])
def test_xlsx_bad_rows_name_sheet_row_and_column(tmp_path: Path, row: list[Any], message: str, column: str) -> None:
    path = write_xlsx(tmp_path / "bad.xlsx", [ZH_HEADER[:-1], row])
    with pytest.raises(InputError) as info:
        load_ratings(path)
    letter = "CDE"[BAD_CASES.index((row, message, column))]
    assert message in info.value.message
    assert info.value.where == f"bad.xlsx[评分] 第2行 {letter}列 {column}"


def test_jsonl_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = {"item_id": "a", "rater": "r1", "completeness": 3, "overall": 60, "grade": "中"}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "rater": "r2", "fund_fit": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_ratings(path)
    assert info.value.where == "r.jsonl 第3行 fund_fit" and "不是数字" in info.value.message
    path.write_text(json.dumps(good) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match="JSON") as info:
        load_ratings(path)
    assert info.value.where == "r.jsonl 第2行"


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="缺少列"):
        load_ratings(write_csv(tmp_path / "nocol.csv", [["项目", "完整性"], ["a", 3]]))
    with pytest.raises(InputError, match="重复评分"):
        load_ratings(write_csv(tmp_path / "dup.csv", [["项目", "评审人", "完整性"], ["a", "r1", 3], ["a", "r1", 4]]))
    with pytest.raises(InputError, match="重复"):
        load_ratings(write_csv(tmp_path / "dupcol.csv", [["项目", "评审人", "完整性", "completeness"], ["a", "r1", 3, 3]]))
    with pytest.raises(InputError, match="扣分合计"):
        load_ratings(write_csv(tmp_path / "ded.csv", [["项目", "评审人", "扣分1", "扣分2"], ["a", "r1", 60, 50]]))
    with pytest.raises(InputError, match="不支持"):
        load_ratings(write_csv(tmp_path / "r.txt", [["项目"]]))
    with pytest.raises(InputError, match="不存在"):
        load_ratings(tmp_path / "missing.csv")


def test_load_items_errors(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"project_name": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="item_id") as info:
        load_items(path)
    assert info.value.where == "items.jsonl 第1行 item_id"
    path.write_text(json.dumps({"item_id": "a", "year": "明年"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_items(path)
    assert info.value.where == "items.jsonl 第1行 year"
    path.write_text(json.dumps({"item_id": "a", "source_id": "s", "dimension": "beauty"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_item_sources(path)
    assert info.value.where == "items.jsonl 第1行 dimension"
