"""Tests for assistant.intake.values: table-driven real examples, properties, corpus sweep."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.intake.values import (
    QUALITATIVE_GRADES,
    TIME_UNITS,
    VAGUE_TERMS,
    format_value,
    is_currency_unit,
    is_rate_unit,
    parse_value,
)

DATA_FILES = [ROOT / "corpus" / "approved_targets.jsonl", ROOT / "evals" / "items.jsonl"]

# raw, kind, op, number, unit, date, required flags
CASES: list[tuple[str, str, str | None, float | None, str, str | None, set[str]]] = [
    ("≥95%", "quantitative", ">=", 95, "%", None, set()),
    (">=95%", "quantitative", ">=", 95, "%", None, set()),
    ("≧95%", "quantitative", ">=", 95, "%", None, set()),
    ("＞92％", "quantitative", ">", 92, "%", None, {"fullwidth"}),
    ("＜5％", "quantitative", "<", 5, "%", None, {"fullwidth"}),
    ("＝100％", "quantitative", "=", 100, "%", None, {"fullwidth"}),
    ("≦380万", "quantitative", "<=", 380, "万", None, set()),
    ("不低于90%", "quantitative", ">=", 90, "%", None, {"operator_implied"}),
    ("不少于20个", "quantitative", ">=", 20, "个", None, {"operator_implied"}),
    ("大于等于10157.6平方米", "quantitative", ">=", 10157.6, "平方米", None, {"operator_implied"}),
    ("90%以上", "quantitative", ">=", 90, "%", None, {"operator_implied"}),
    ("95%以上", "quantitative", ">=", 95, "%", None, {"operator_implied"}),
    ("5%以内", "quantitative", "<=", 5, "%", None, {"operator_implied"}),
    ("不超过500万元", "quantitative", "<=", 500, "万元", None, {"operator_implied"}),
    ("控制在500万元以内", "quantitative", "<=", 500, "万元", None, {"operator_implied"}),
    ("100%", "quantitative", None, 100, "%", None, {"no_operator"}),
    ("=100%", "quantitative", "=", 100, "%", None, set()),
    ("≥100%", "quantitative", ">=", 100, "%", None, {"ceiling_operator"}),
    (">100%", "quantitative", ">", 100, "%", None, {"ceiling_operator"}),
    ("≥120%", "quantitative", ">=", 120, "%", None, {"percent_over_100"}),
    ("2280次", "quantitative", None, 2280, "次", None, {"no_operator"}),
    ("1600元/亩", "quantitative", None, 1600, "元/亩", None, {"no_operator"}),
    ("143元/月/人", "quantitative", None, 143, "元/月/人", None, set()),
    ("1130元/月/人", "quantitative", None, 1130, "元/月/人", None, set()),
    ("≤620万/月", "quantitative", "<=", 620, "万/月", None, set()),
    ("1次/月", "quantitative", None, 1, "次/月", None, set()),
    ("50000", "quantitative", None, 50000, "", "2036-11-21", {"no_operator", "no_unit", "possible_excel_date"}),
    ("44561", "quantitative", None, 44561, "", "2021-12-31", {"possible_excel_date"}),
    ("=44,561", "quantitative", "=", 44561, "", "2021-12-31", {"possible_excel_date"}),
    ("80000", "quantitative", None, 80000, "", None, {"no_unit"}),
    ("0.00%", "quantitative", None, 0, "%", None, {"no_operator"}),
    ("1346.0088万平方米", "quantitative", None, 1346.0088, "万平方米", None, set()),
    ("≥0.565km", "quantitative", ">=", 0.565, "km", None, set()),
    ("≥80人数", "quantitative", ">=", 80, "人", None, set()),
    (">=101人/次", "quantitative", ">=", 101, "人/次", None, set()),
    ("490元/平米", "quantitative", None, 490, "元/平方米", None, set()),
    ("约95%", "quantitative", None, 95, "%", None, {"hedged"}),
    ("95%左右", "quantitative", None, 95, "%", None, {"hedged"}),
    ("90-95%", "quantitative", "range", 90, "%", None, set()),
    ("≤30天", "duration", "<=", 30, "天", None, set()),
    ("≤7工作日", "duration", "<=", 7, "工作日", None, set()),
    ("≤2个工作日", "duration", "<=", 2, "工作日", None, set()),
    ("≥1年", "duration", ">=", 1, "年", None, set()),
    ("2023年12月31日前", "deadline", "<=", None, "", "2023-12-31", set()),
    ("≤2025年12月31日", "deadline", "<=", None, "", "2025-12-31", set()),
    ("2021年9月", "deadline", None, None, "", "2021-09", set()),
    ("2023年底", "deadline", "<=", None, "", "2023-12-31", set()),
    ("2025年12月", "deadline", None, None, "", "2025-12", set()),
    ("2025年10月底前", "deadline", "<=", None, "", "2025-10-31", set()),
    ("2020年1月--2020年11月", "deadline", "range", None, "", "2020-11", set()),
    ("2023.07-2024.01", "deadline", "range", None, "", "2024-01", set()),
    ("2020.1.1-2020.12.31", "deadline", "range", None, "", "2020-12-31", set()),
    ("2021年1月-12月", "deadline", "range", None, "", "2021-12", set()),
    ("2021年全年", "deadline", "range", None, "", "2021-12-31", set()),
    ("优良", "qualitative", None, None, "", None, set()),
    ("好", "qualitative", None, None, "", None, set()),
    ("是", "qualitative", None, None, "", None, set()),
    ("否", "qualitative", None, None, "", None, set()),
    ("定性 高中低", "qualitative", None, None, "", None, set()),
    ("达到预期目标", "qualitative", None, None, "", None, set()),
    ("有所提高", "vague", None, None, "", None, {"vague"}),
    ("显著提升", "vague", None, None, "", None, {"vague"}),
    ("提高", "vague", None, None, "", None, {"vague"}),
    ("增加", "vague", None, None, "", None, {"vague"}),
    ("较上年提高", "vague", None, None, "", None, {"vague"}),
    ("基本建立", "vague", None, None, "", None, {"vague", "hedged"}),
    ("持续保障", "vague", None, None, "", None, {"vague"}),
    ("按计划实施", "vague", None, None, "", None, {"vague"}),
    ("及时", "vague", None, None, "", None, {"vague"}),
    ("全年", "vague", None, None, "", None, {"vague"}),
    ("≥**", "unparseable", ">=", None, "", None, {"template_residue"}),
    ("**元/人·月", "unparseable", None, None, "元/人·月", None, {"template_residue"}),
    ("", "empty", None, None, "", None, set()),
    ("   ", "empty", None, None, "", None, set()),
]


@pytest.mark.parametrize(("raw", "kind", "op", "number", "unit", "date", "flags"), CASES)
def test_real_examples(raw, kind, op, number, unit, date, flags):
    pv = parse_value(raw)
    assert pv.raw == raw
    assert pv.kind == kind
    assert pv.op == op
    assert pv.number == (None if number is None else pytest.approx(number))
    assert pv.unit == unit
    assert pv.date == date
    assert flags <= set(pv.flags), pv.flags


@pytest.mark.parametrize(
    ("raw", "terms"),
    [("有所提高", ["有所提高"]), ("显著提升", ["显著", "提升"]), ("进一步提升", ["进一步", "提升"]),
     ("基本建立", ["基本"]), ("及时", ["及时"]), ("≥95%", [])],
)
def test_vague_terms(raw, terms):
    assert parse_value(raw).vague_terms == terms


def test_long_text():
    pv = parse_value("显著促进了学前教育普及及优质发展,大力支持了民办幼儿园发展。")
    assert pv.kind == "vague" and "long_text" in pv.flags
    pv = parse_value("房屋设备、设施的管理到位,环境卫生整洁,车辆停放有序")
    assert pv.kind in ("vague", "qualitative") and "long_text" in pv.flags
    pv = parse_value("暂定量按15次作业且总航时不少于30小时测算")
    assert pv.kind == "qualitative" and "long_text" in pv.flags


def test_columns_merge():
    pv = parse_value("95", unit="%", operator="≥")
    assert (pv.kind, pv.op, pv.number, pv.unit) == ("quantitative", ">=", 95, "%")
    assert "no_operator" not in pv.flags and "no_unit" not in pv.flags
    pv = parse_value("30", unit="个工作日", operator="≤")
    assert (pv.kind, pv.op, pv.unit) == ("duration", "<=", "工作日")
    pv = parse_value("优", operator="定性")
    assert pv.kind == "qualitative"
    pv = parse_value("44561", unit="日期")
    assert pv.kind == "deadline" and pv.date == "2021-12-31"
    pv = parse_value("100", unit="％", operator="大于等于")
    assert "ceiling_operator" in pv.flags


def test_unit_helpers():
    for u in ("元", "万元", "亿元", "万", "元/人", "万元/公里", "元/人·月", "万/月"):
        assert is_currency_unit(u), u
    for u in ("万人", "万平方米", "人", "%", ""):
        assert not is_currency_unit(u), u
    assert is_rate_unit("%") and is_rate_unit("％") and not is_rate_unit("人")
    assert "工作日" in TIME_UNITS and "提高" in VAGUE_TERMS and "达到预期目标" in QUALITATIVE_GRADES


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("≥95%", "≥95%"), (">=95%", "≥95%"), ("不低于90%", "≥90%"), ("2280次", "2280次"), ("≤0.5万元", "≤0.5万元"),
     ("2023年12月31日前", "≤2023-12-31"), ("优良", "优良"), ("", ""), ("≥**", "≥**")],
)
def test_format_value(raw, shown):
    assert format_value(parse_value(raw)) == shown


# --- properties -------------------------------------------------------------

OPS = {"≥": ">=", "≤": "<=", ">": ">", "<": "<", "=": "=", "＞": ">", "＜": "<", "≧": ">=", "≦": "<=",
       ">=": ">=", "<=": "<="}
UNITS = ["%", "人", "次", "元/亩", "万元", "平方米", "天"]
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**7).map(str),
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False).map(str),
)


@given(st.text(max_size=60))
@settings(max_examples=400)
def test_never_raises(text):
    pv = parse_value(text)
    assert pv.raw == text
    format_value(pv)


@given(st.text(max_size=20), st.text(max_size=6), st.text(max_size=6))
@settings(max_examples=200)
def test_never_raises_with_columns(text, unit, op):
    parse_value(text, unit=unit, operator=op)


@given(st.sampled_from(sorted(OPS)), numbers, st.sampled_from(UNITS))
@settings(max_examples=400)
def test_roundtrip_op_number_unit(op, num, unit):
    pv = parse_value(f"{op}{num}{unit}")
    assert pv.op == OPS[op]
    assert pv.number == float(num)
    assert pv.unit == unit
    assert pv.kind == ("duration" if unit == "天" else "quantitative")
    again = parse_value(format_value(pv))
    assert (again.op, again.number, again.unit) == (pv.op, pv.number, pv.unit)


def _to_fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


@given(st.sampled_from(["≥", "≤", ">", "<", "=", ">=", "<="]), numbers, st.sampled_from(UNITS))
@settings(max_examples=200)
def test_fullwidth_equals_ascii(op, num, unit):
    a = parse_value(f"{op}{num}{unit}")
    b = parse_value(_to_fullwidth(f"{op}{num}{unit}"))
    assert (a.kind, a.op, a.number, a.unit) == (b.kind, b.op, b.number, b.unit)
    assert set(a.flags) | {"fullwidth"} == set(b.flags) | {"fullwidth"}


# --- corpus sweep -------------------------------------------------------------


def _corpus_values() -> list[str]:
    out: list[str] = []
    for path in DATA_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.extend(str(i.get("value", "")) for i in json.loads(line).get("indicators", []))
    return out


def test_corpus_sweep():
    values = _corpus_values()
    assert values
    parsed = [parse_value(v) for v in values]
    kinds = Counter(p.kind for p in parsed)
    print("\nkind distribution over corpus values:", dict(kinds.most_common()))
    non_empty = [p for p in parsed if p.kind != "empty"]
    assert kinds["unparseable"] < 0.05 * len(non_empty)
    for p in parsed:
        compact = p.raw.replace(" ", "")
        if compact in ("≥100%", ">=100%", "≧100%", "＞＝100％"):
            assert "ceiling_operator" in p.flags, p.raw
        if p.kind in ("quantitative", "duration"):
            assert p.number is not None
        if p.kind == "deadline" and p.date:
            assert p.date[:2] in ("19", "20")
