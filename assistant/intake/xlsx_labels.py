"""Label vocabulary for reading 绩效目标表 workbooks: header fields, indicator columns, stop rows.

Labels are matched after `norm_label`: whitespace, colons, leading 「其中」/「*」/numbering and
parenthesised remarks are removed, so 「其中：财政拨款（万元）」 matches 「财政拨款」.
"""

from __future__ import annotations

import re
from functools import lru_cache

# field -> (label, priority); a lower priority wins when several labels fill the same field
_HEADER: dict[str, tuple[tuple[str, ...], ...]] = {
    "project_name": (("项目名称", "项目名", "项目全称"),),
    "department": (
        ("主管部门", "预算部门", "主管预算部门", "主管部门及代码", "主管部门名称", "主管单位", "部门名称"),
    ),
    "implementing_unit": (
        ("实施单位", "项目实施单位", "实施单位及代码", "实施单位名称", "项目单位", "申报单位"),
        ("预算单位", "单位名称"),
    ),
    "project_attribute": (("项目属性", "项目性质"),),
    "period": (
        ("实施期", "项目起止时间", "项目期限", "项目实施期", "实施期限", "项目实施期限", "起止时间",
         "实施周期", "项目周期", "项目实施周期", "实施时间", "项目实施时间"),
    ),
    "year": (("预算年度", "年度", "项目年度"),),
    "region": (("所属地区", "地区", "行政区划"),),
    "amount_total": (
        ("年度资金总额", "年度预算资金总额", "年度预算金额", "本年度资金总额", "年度资金"),
        ("资金总额", "项目资金", "预算金额", "项目总金额", "项目预算金额", "项目资金总额", "预算资金",
         "预算数", "项目预算", "资金总额合计", "年度预算", "项目总投资", "总投资"),
        ("实施期资金总额", "中期资金总额"),
    ),
    "amount_fiscal": (
        ("财政拨款", "财政资金", "财政性资金", "财政拨款资金", "当年财政拨款", "一般公共预算拨款"),
        ("本级财政资金", "本级财政拨款", "本级资金"),
        ("上级资金", "上级补助资金", "上级财政资金", "上级补助"),
    ),
    "amount_other": (
        ("其他资金", "其他来源资金", "其他来源"),
        ("自有资金", "自筹资金", "单位自筹", "事业收入", "经营收入", "其他"),
    ),
    "prior_amount": (("上年预算", "上年预算数", "上年预算金额", "上年资金", "上年预算资金"),),
    "annual_goal": (
        ("年度目标", "年度绩效目标", "本年度目标", "本年度绩效目标", "年度总体目标", "年度绩效目标内容"),
    ),
    "long_term_goal": (
        ("实施期目标", "长期目标", "中长期目标", "实施期绩效目标", "中期目标", "长期绩效目标", "实施期总体目标"),
        ("总体目标", "项目总体目标", "整体目标", "绩效目标"),
    ),
}

# group labels: recognised as labels (never as values) but fill no field
GROUP_LABELS = frozenset({
    "资金情况", "项目资金情况", "资金来源", "资金构成", "其中", "绩效指标", "年度绩效指标", "绩效目标表",
    "指标", "金额", "资金", "项目基本情况", "基本信息", "合计", "小计", "目标", "本年度", "中期",
    "实施期资金", "全年", "资金总额及来源",
})

_INDICATOR: dict[str, tuple[tuple[str, ...], ...]] = {
    "level1": (("一级指标", "一级指标名称"),),
    "level2": (("二级指标", "二级指标名称"),),
    "name": (("三级指标", "指标名称", "三级指标名称", "绩效指标名称", "具体指标", "三级指标内容"),),
    "value": (
        ("年度指标值", "年度目标值", "本年度指标值"),
        ("指标值", "目标值", "绩效指标值", "预期目标值", "指标目标值", "绩效目标值", "指标值内容"),
        ("实施期指标值", "中期指标值", "实施期目标值"),
    ),
    "operator": (("计算符号", "运算符号", "指标符号", "符号", "指标运算符"),),
    "unit": (("计量单位", "度量单位", "单位", "指标单位"),),
    "basis": (
        ("指标值设定依据", "绩效标准", "取值依据", "指标值确定依据", "设定依据", "指标值设定依据及数据来源",
         "评价标准", "指标设定依据"),
    ),
    "explanation": (("指标解释", "指标说明", "计算公式", "指标定义", "指标内涵", "指标解释及计算公式"),),
}

STOP_LABELS = frozenset({
    "审核意见", "主管部门审核意见", "财政部门审核意见", "财政审核意见", "部门审核意见", "单位审核意见",
    "填写说明", "填表说明", "备注", "填报人", "联系人", "联系电话", "单位负责人", "审核人", "财务负责人",
    "填报日期", "审核日期", "第三方审核意见", "专家审核意见", "说明",
})


def _index(table: dict[str, tuple[tuple[str, ...], ...]]) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for field, groups in table.items():
        for prio, labels in enumerate(groups):
            for label in labels:
                out.setdefault(label, (field, prio))
    return out


HEADER_LABELS = _index(_HEADER)
INDICATOR_LABELS = _index(_INDICATOR)
ALL_LABELS = frozenset(HEADER_LABELS) | frozenset(INDICATOR_LABELS) | GROUP_LABELS | STOP_LABELS

_PAREN = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]")
_SPACE = re.compile(r"[\s\u3000\u00a0]+")
_LEAD = re.compile(r"^(?:[*＊★※]+|其中[:：]?|[0-9一二三四五六七八九十]+[、.．)）]|[（(][0-9一二三四五六七八九十]+[）)])+")
UNIT_IN_TEXT = re.compile(r"(亿元|万元|千元|元)")
UNIT_NOTE = re.compile(r"(?:金额|资金|计量)?单位\s*[:：]\s*(亿元|万元|千元|元)")
_TO_WAN = {"亿元": 10000.0, "万元": 1.0, "千元": 0.1, "元": 0.0001}


@lru_cache(maxsize=8192)
def norm_label(text: str) -> str:
    """「其中：财政拨款（万元）：」 -> 「财政拨款」."""
    if len(text) > 60:  # labels are short; long texts are values
        return text
    t = _SPACE.sub("", text)
    t = _PAREN.sub("", t)
    t = t.strip(":：;；,，、.。")
    t = _LEAD.sub("", t)
    return t.strip(":：")


def is_label(text: str) -> bool:
    """A label (never a value): header, indicator column, group or stop label, or a 「单位：万元」 note."""
    n = norm_label(text)
    return n in ALL_LABELS or bool(UNIT_NOTE.fullmatch(n))


def unit_factor(text: str) -> float | None:
    """万元 per unit named in a label or value text ('（元）' -> 0.0001); None if no unit named."""
    m = UNIT_IN_TEXT.search(text)
    return _TO_WAN[m.group(1)] if m else None


def note_unit_factor(text: str) -> float | None:
    m = UNIT_NOTE.search(_SPACE.sub("", text))
    return _TO_WAN[m.group(1)] if m else None


def split_inline(text: str) -> tuple[str, str] | None:
    """「项目名称：某某项目」 in one cell -> ('项目名称', '某某项目') when the prefix is a header label."""
    for sep in ("：", ":"):
        if sep in text:
            head, _, rest = text.partition(sep)
            rest = rest.strip()
            n = norm_label(head)
            if rest and n in HEADER_LABELS:
                return n, rest
    return None


def is_stop(text: str) -> bool:
    """A row-leading cell that ends the indicator table (审核意见, 填写说明, signatures…)."""
    n = norm_label(text)
    if n in STOP_LABELS:
        return True
    return any(sep in text and norm_label(text.partition(sep)[0]) in STOP_LABELS for sep in ("：", ":"))


_TITLE = re.compile(r"绩效目标.{0,12}表|绩效指标.{0,6}表|目标申报表")


def is_title(text: str) -> bool:
    """A table title such as 「2023年度项目支出绩效目标表」."""
    return bool(_TITLE.search(text)) and len(text) <= 60


# amount column headers: a row holding both marks the column of the annual amounts
ANNUAL_COLUMN = frozenset({"年度", "本年度", "年度资金总额", "年度资金", "年度金额", "年度预算", "年度预算金额"})
PERIOD_COLUMN = frozenset({"实施期", "中期", "实施期资金总额", "中期资金总额", "实施期金额", "实施期资金"})
AMOUNT_FIELDS = ("amount_total", "amount_fiscal", "amount_other", "prior_amount")
