"""Tests for assistant.intake.taxonomy: label variants, name inference, value-in-name split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

from assistant.intake.taxonomy import classify, normalise, split_name_value  # noqa: E402
from assistant.models import Indicator, Target  # noqa: E402

DATA_FILES = [ROOT / "corpus" / "approved_targets.jsonl", ROOT / "evals" / "items.jsonl"]


def _targets() -> list[Target]:
    out: list[Target] = []
    for path in DATA_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                out.append(Target.model_validate({k: v for k, v in d.items() if k in Target.model_fields}))
    return out


@pytest.mark.parametrize(
    ("l1", "l2", "expected"),
    [
        # 88 style
        ("产出指标", "数量指标", ("output", "quantity")),
        ("产出指标", "质量指标", ("output", "quality")),
        ("产出指标", "时效指标", ("output", "timeliness")),
        ("产出指标", "成本指标", ("cost", "econ_cost")),
        ("效益指标", "经济效益指标", ("benefit", "econ_benefit")),
        ("效益指标", "社会效益指标", ("benefit", "social_benefit")),
        ("效益指标", "生态效益指标", ("benefit", "eco_benefit")),
        ("效益指标", "环境效益指标", ("benefit", "eco_benefit")),
        ("效益指标", "可持续影响指标", ("benefit", "sustainability")),
        ("满意度指标", "服务对象满意度指标", ("satisfaction", "satisfaction")),
        ("满意度指标", "社会公众或服务对象满意度", ("satisfaction", "satisfaction")),
        # 101 style
        ("成本指标", "经济成本指标", ("cost", "econ_cost")),
        ("成本指标", "社会成本指标", ("cost", "social_cost")),
        ("成本指标", "生态环境成本指标", ("cost", "eco_cost")),
        ("成本指标(0-20)分", "生态环境成本指标", ("cost", "eco_cost")),
        ("产出指标 (40-50)分", "数量指标", ("output", "quantity")),
        # legacy 投入
        ("投入", "时效目标", ("output", "timeliness")),
        ("投入指标", "成本目标", ("cost", "econ_cost")),
        # local variants
        ("产出指标", "数量指标 (必填硬性指标)", ("output", "quantity")),
        ("产出指标", "质量指标(必填)", ("output", "quality")),
        ("效益指标", "经济效益 指标 (选填)", ("benefit", "econ_benefit")),
        ("产出值", "数量值", ("output", "quantity")),
        ("产出值", "成本值", ("cost", "econ_cost")),
        ("效益值", "可持续影响值", ("benefit", "sustainability")),
        ("过程管理指标", "计划管理指标", ("process", "process")),
        ("过程管理指标", "资金管理指标", ("process", "process")),
        ("过程管理指标", "项目管理指标", ("process", "process")),
        ("过程管理指标", "监督检查指标", ("process", "process")),
        ("预期产出指标", "数量指标(或建筑规模指标)", ("output", "quantity")),
        ("预期产出指标", "时效指标(工期指标、形象进度指标)", ("output", "timeliness")),
        ("预期产出指标", "预算(或投资规模)控制指标", ("cost", "econ_cost")),
        ("效果指标", "社会、经济、生态效益 指标", ("benefit", "social_benefit")),
        ("效益指标", "可持续性发展影响指标", ("benefit", "sustainability")),
        ("满意度指标", "服务对象或受益者满意度指标", ("satisfaction", "satisfaction")),
        ("实施效果指标", "满意度指标", ("satisfaction", "satisfaction")),
        ("项目完成指标", "时效指标", ("output", "timeliness")),
        ("项目效益指标", "社会效益指标", ("benefit", "social_benefit")),
        ("", "成本指标", ("cost", "econ_cost")),
    ],
)
def test_label_variants(l1, l2, expected):
    got = classify(l1, l2, "某指标")
    assert got == (*expected, False)


def test_level1_only_infers_level2():
    assert classify("满意度指标", "", "参训学员满意度") == ("satisfaction", "satisfaction", True)
    assert classify("实施效果指标", "产出指标", "竣工验收合格率")[:2] == ("output", "quality")
    assert classify("实施效果指标", "产出指标", "建设项目个数(含续建)")[:2] == ("output", "quantity")
    assert classify("实施效果指标", "效益指标", "完工项目县畜禽粪污综合利用率")[:2] == ("benefit", "eco_benefit")
    assert classify("效益指标", "", "带动农民增收")[:2] == ("benefit", "econ_benefit")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("道路硬化", "≥0.565km", ("output", "quantity")),
        ("项目(工程)验收合格率", "≥100%", ("output", "quality")),
        ("受益贫困人口满意度", "≥96%", ("satisfaction", "satisfaction")),
        ("受益建档立卡贫困人口数", "≥23人", ("benefit", "social_benefit")),
        ("高血压患者管理人数", "142万人", ("output", "quantity")),
        ("开工时限", "2021年7月", ("output", "timeliness")),
        ("是否按时足额发放", "≥95%", ("output", "timeliness")),
        ("项目成本概算", "≤3584万元", ("cost", "econ_cost")),
        ("节约多招录正式民警资金支出", "≥1500万元", ("benefit", "econ_benefit")),
        ("促进社会和谐稳定", "好", ("benefit", "social_benefit")),
        ("项目持续期", "基本建立", ("benefit", "sustainability")),
        ("居民健康素养水平", "不断提高", ("benefit", "social_benefit")),
        ("职工对职业病防治社会知晓率", "较上年提高", ("benefit", "social_benefit")),
        ("辅警人员", "=512人", ("output", "quantity")),
        ("养殖动物成活率(目标)", "≥95%", ("output", "quality")),
        ("提高森林覆盖率", "", ("benefit", "eco_benefit")),
    ],
)
def test_unlabeled_inference(name, value, expected):
    t = Target(indicators=[Indicator(name=name, value=value)])
    (ni,) = normalise(t)
    assert (ni.level1, ni.level2) == expected
    assert ni.inferred is True


def test_split_name_value():
    assert split_name_value("道路硬化≥0.565km") == ("道路硬化", "≥0.565km")
    assert split_name_value("受益人数≥23人") == ("受益人数", "≥23人")
    assert split_name_value("满意度96%") == ("满意度", "96%")
    assert split_name_value("2型糖尿病患者管理人数") is None
    assert split_name_value("0-6岁儿童眼保健和视力检查覆盖率") is None
    t = Target(indicators=[
        Indicator(name="道路硬化≥0.565km"), Indicator(name="受益人数≥23人"), Indicator(name="满意度96%"),
    ])
    rows = normalise(t)
    assert [r.name for r in rows] == ["道路硬化", "受益人数", "满意度"]
    assert [(r.value.op, r.value.number, r.value.unit) for r in rows] == [
        (">=", 0.565, "km"), (">=", 23, "人"), (None, 96, "%"),
    ]
    assert all("value_from_name" in r.value.flags for r in rows)
    assert [(r.level1, r.level2) for r in rows] == [
        ("output", "quantity"), ("benefit", "social_benefit"), ("satisfaction", "satisfaction"),
    ]


def test_normalise_fields_and_columns():
    t = Target(indicators=[
        Indicator(level1="产出指标", level2="数量指标", name="培训人数", value="500", unit="人次", operator="≥",
                  basis="计划标准", explanation="实际培训人次"),
        Indicator(level1="成本指标", level2="", name="人均培训成本", value="≤300元/人"),
    ])
    a, b = normalise(t)
    assert (a.index, a.level1, a.level2, a.inferred) == (0, "output", "quantity", False)
    assert (a.value.op, a.value.number, a.value.unit) == (">=", 500, "人次")
    assert (a.level1_label, a.level2_label, a.basis, a.explanation) == ("产出指标", "数量指标", "计划标准", "实际培训人次")
    assert (b.index, b.level1, b.level2, b.inferred) == (1, "cost", "econ_cost", True)


def test_every_corpus_label_maps():
    counts: Counter[tuple[str, str]] = Counter()
    unlabeled = 0
    for t in _targets():
        for ni in normalise(t):
            counts[(ni.level1, ni.level2)] += 1
            if ni.level1_label.strip() or ni.level2_label.strip():
                assert ni.level1 != "unknown", (ni.level1_label, ni.level2_label, ni.name)
                assert ni.level2 != "unknown", (ni.level1_label, ni.level2_label, ni.name)
            else:
                unlabeled += 1
                assert ni.inferred
                assert ni.level1 != "unknown", ni.name
    assert unlabeled >= 50
    print("\ncategory distribution:", dict(counts.most_common()))
