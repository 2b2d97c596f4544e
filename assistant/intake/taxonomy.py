"""Map 一级/二级 indicator labels (88号式, 101号式, legacy 投入, local variants) to the
internal taxonomy, infer categories from names when labels are missing, and build
`NormIndicator` rows. See RULEBOOK §2.2.
"""

from __future__ import annotations

import re

from assistant.intake.quantities import COUNT_UNITS, VAGUE_COUNT_UNITS
from assistant.intake.values import is_currency_unit, is_rate_unit, normalise_text, parse_value
from assistant.models import Indicator, Level1, Level2, NormIndicator, ParsedValue, Target

__all__ = ["classify", "clean_label", "infer_from_name", "normalise", "normalise_row", "split_name_value"]

_L2_FOR_L1: dict[str, Level1] = {
    "quantity": "output", "quality": "output", "timeliness": "output",
    "econ_cost": "cost", "social_cost": "cost", "eco_cost": "cost",
    "econ_benefit": "benefit", "social_benefit": "benefit", "eco_benefit": "benefit",
    "sustainability": "benefit", "satisfaction": "satisfaction", "process": "process",
}

# --- labels -----------------------------------------------------------------


def clean_label(label: str) -> str:
    """Drop whitespace, bracketed notes such as (必填) / (40-50)分, and a trailing 指标/值."""
    s, _ = normalise_text(label or "")
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"[(\[【][^)\]】]*[)\]】]分?", "", s)
    s = re.sub(r"[、,]", "、", s)
    return s


def _level2_from_label(label: str) -> tuple[Level1 | None, Level2 | None]:
    """Map a 二级 label; may return a bare level1 (e.g. '产出指标' used as 二级)."""
    s = clean_label(label)
    if not s:
        return None, None
    if "满意" in s:
        return "satisfaction", "satisfaction"
    if "生态环境成本" in s or "环境成本" in s or "生态成本" in s:
        return "cost", "eco_cost"
    if "社会成本" in s:
        return "cost", "social_cost"
    if "成本" in s or "预算" in s or "投资规模" in s or "经费" in s:
        return "cost", "econ_cost"
    if "数量" in s or "建筑规模" in s:
        return "output", "quantity"
    if "质量" in s:
        return "output", "quality"
    if "时效" in s or "工期" in s or "进度" in s:
        return "output", "timeliness"
    if "可持续" in s or "持续影响" in s or "长效" in s:
        return "benefit", "sustainability"
    if "效益" in s or "影响" in s:
        if "社会" in s:
            return "benefit", "social_benefit"
        if "经济" in s:
            return "benefit", "econ_benefit"
        if "生态" in s or "环境" in s:
            return "benefit", "eco_benefit"
        return "benefit", None
    if "管理" in s or "过程" in s or "监督" in s or "检查" in s or "执行" in s:
        return "process", "process"
    if "产出" in s or "完成" in s:
        return "output", None
    if "效果" in s:
        return "benefit", None
    return None, None


def _level1_from_label(label: str) -> Level1 | None:
    s = clean_label(label)
    if not s:
        return None
    if "满意" in s:
        return "satisfaction"
    if "成本" in s:
        return "cost"
    if "过程" in s or "管理" in s:
        return "process"
    if "效益" in s or "效果" in s or "影响" in s:
        return "benefit"
    if "产出" in s or "完成" in s or "投入" in s:
        return "output"
    return None


# --- names ------------------------------------------------------------------

_SATISFACTION = ("满意度", "满意率", "满意")
_TIMELY = ("及时率", "及时性", "完成时间", "时限", "工期", "开工", "竣工", "完工", "进度", "按时", "时间", "周期",
           "办结", "响应")
_COST = ("成本", "单价", "补助标准", "造价", "概算", "费用", "经费", "预算", "单位投资", "资金支出标准", "收费标准")
_QUALITY = ("合格率", "达标率", "验收", "完好率", "准确率", "成活率", "合格", "达标", "质量", "误差率", "优良率",
            "通过率", "差错率", "故障率", "事故率", "正确率")
_QUALITY_RATE = ("合格率", "达标率", "完好率", "准确率", "成活率", "误差率", "优良率", "通过率", "正确率")
_STRONG_BENEFIT = ("受益", "带动", "增收", "就业", "知晓", "节约", "收入", "产值")
_QUANTITY_NAME = ("数量", "人数", "个数", "户数", "面积", "长度", "里程", "规模", "项目数", "次数", "人员", "台数")
_BENEFIT = ("覆盖", "改善", "减少", "降低", "提高", "提升", "促进", "保障", "水平", "差距", "稳定", "和谐", "生态",
            "环境", "绿化", "节能", "减排", "经济", "产业", "可持续", "长效", "持续", "影响", "发展", "安全", "效益",
            "利用率", "权益", "增强", "缩小", "减轻")
_SUSTAIN = ("可持续", "长效", "持续", "使用年限", "机制", "长期")
_ECO = ("生态", "环境", "绿化", "森林", "空气", "水质", "排放", "减排", "节能", "水土", "污染", "植被", "粪污", "垃圾")
_ECON = ("增收", "收入", "经济", "产值", "节约", "利润", "税收", "就业", "产业", "销售", "营收")


def _has(name: str, words: tuple[str, ...]) -> bool:
    return any(w in name for w in words)


def _benefit_l2(name: str) -> Level2:
    if _has(name, _SUSTAIN):
        return "sustainability"
    if _has(name, _ECO):
        return "eco_benefit"
    if _has(name, _ECON):
        return "econ_benefit"
    return "social_benefit"


def _is_count(pv: ParsedValue | None) -> bool:
    if pv is None or pv.kind != "quantitative":
        return False
    head = re.split(r"[/·.]", pv.unit, maxsplit=1)[0]
    return bool(head) and (head in COUNT_UNITS or head in VAGUE_COUNT_UNITS or head.endswith(("人", "个", "次", "米", "亩")))


def infer_from_name(name: str, value: ParsedValue | None = None,
                    level1_hint: Level1 | None = None) -> tuple[Level1, Level2]:
    """Keyword rules on the indicator name (and parsed value) → (level1, level2)."""
    n = clean_label(name) if name else ""
    pv = value
    if level1_hint == "process":
        return "process", "process"
    if level1_hint == "satisfaction":
        return "satisfaction", "satisfaction"
    if _has(n, _SATISFACTION):
        return "satisfaction", "satisfaction"
    if level1_hint == "cost":
        if "社会" in n:
            return "cost", "social_cost"
        if _has(n, _ECO):
            return "cost", "eco_cost"
        return "cost", "econ_cost"
    if level1_hint == "benefit":
        return "benefit", _benefit_l2(n)
    money = pv is not None and pv.kind == "quantitative" and is_currency_unit(pv.unit)
    if _has(n, _QUALITY_RATE):
        return "output", "quality"
    if _has(n, _TIMELY) or (pv is not None and pv.kind in ("deadline", "duration")):
        return "output", "timeliness"
    if _has(n, _COST):
        return "cost", "econ_cost"
    if _has(n, _QUALITY):
        return "output", "quality"
    if level1_hint != "output" and _has(n, _STRONG_BENEFIT):
        return "benefit", _benefit_l2(n)
    if _has(n, _QUANTITY_NAME) or _is_count(pv):
        return "output", "quantity"
    if money:
        return ("output", "quantity") if level1_hint == "output" else ("cost", "econ_cost")
    if level1_hint != "output" and _has(n, _BENEFIT):
        return "benefit", _benefit_l2(n)
    if n.endswith("率") or (pv is not None and is_rate_unit(pv.unit)):
        return "output", "quality"
    if level1_hint == "output":
        return "output", "quantity" if pv is not None and pv.kind == "quantitative" else "quality"
    if pv is not None and pv.kind in ("vague", "qualitative") and n:
        return "benefit", _benefit_l2(n)
    return "unknown", "unknown"


def classify(level1_label: str, level2_label: str, name: str,
             value: ParsedValue | None = None) -> tuple[Level1, Level2, bool]:
    """Labels (+ name, + optional parsed value) → (level1, level2, inferred_from_name)."""
    l1 = _level1_from_label(level1_label)
    l2_l1, l2 = _level2_from_label(level2_label)
    if l2 is not None:
        if l1 == "process":
            return "process", "process", False
        return _L2_FOR_L1[l2], l2, False
    hint: Level1 | None = l2_l1 or l1
    if l1 == "process":
        hint = "process"
    if hint is None:
        return (*infer_from_name(name, value), True)
    return (*infer_from_name(name, value, hint), True)


# --- values embedded in names -----------------------------------------------

_OP_IN_NAME = re.compile(r"(≥|≤|>=|<=|≧|≦|＞|＜|>|<|=|＝|不低于|不少于|不超过|不高于|大于等于|小于等于|大于|小于)\s*\d")
_TAIL_VALUE = re.compile(r"(?<=[\u4e00-\u9fff)）])(\d+(?:\.\d+)?\s*(?:%|％|[\u4e00-\u9fffA-Za-z/]{0,6}))$")


def split_name_value(name: str) -> tuple[str, str] | None:
    """`道路硬化≥0.565km` → ('道路硬化', '≥0.565km'); `满意度96%` → ('满意度', '96%'); else None."""
    s = (name or "").strip()
    m = _OP_IN_NAME.search(s)
    if m and m.start() > 0:
        head, tail = s[: m.start()].strip(" :：,，"), s[m.start():].strip()
        if head and parse_value(tail).kind in ("quantitative", "duration", "deadline"):
            return head, tail
    m = _TAIL_VALUE.search(s)
    if m and m.start() > 0:
        head, tail = s[: m.start()].strip(" :：,，"), m.group(1).strip()
        pv = parse_value(tail)
        if head and pv.kind in ("quantitative", "duration") and (pv.unit == "%" or "%" in tail or "％" in tail or pv.unit):
            return head, tail
    return None


def normalise(target: Target) -> list[NormIndicator]:
    """Target indicators → NormIndicator rows (0-based `index`, original labels kept)."""
    return [normalise_row(i, ind) for i, ind in enumerate(target.indicators)]


def normalise_row(i: int, ind: Indicator) -> NormIndicator:
    """One indicator row → its NormIndicator (row `i`)."""
    name = ind.name.strip()
    from_name = False
    raw_value = ind.value
    if not ind.value.strip():
        split = split_name_value(name)
        if split:
            name, raw_value = split
            from_name = True
    pv = parse_value(raw_value, unit=ind.unit, operator=ind.operator)
    if from_name:
        pv = pv.model_copy(update={"flags": [*pv.flags, "value_from_name"]})
    l1, l2, inferred = classify(ind.level1, ind.level2, name, pv)
    return NormIndicator(
        index=i, name=name, level1=l1, level2=l2, level1_label=ind.level1, level2_label=ind.level2,
        inferred=inferred, value=pv, basis=ind.basis, explanation=ind.explanation, sheet_row=ind.sheet_row,
    )
