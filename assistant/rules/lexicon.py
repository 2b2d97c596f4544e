"""Name lexicons used by the rule checks (RULEBOOK §5)."""

from __future__ import annotations

import re

POSITIVE_NAME = ("覆盖率", "合格率", "达标率", "完成率", "知晓率", "满意度", "满意率", "入学率", "就业率", "完好率",
                 "准确率", "受益", "成活率", "保存率", "使用率", "利用率", "办结率", "及时率", "接种率", "治愈率")
NEGATIVE_NAME = ("故障率", "投诉率", "事故率", "发生率", "差错率", "超标率", "返工率", "流失率", "逾期", "失误率",
                 "单位成本", "总成本", "成本", "办结时限", "响应时间", "完成时间", "能耗", "死亡率", "发病率")
RATE_NAME = re.compile(r"(率|比例|占比|比率|满意度|百分比)$|率[（(]|满意度")
SATISFACTION_NAME = re.compile(r"满意")
QUALITY_NAME = ("合格率", "达标率", "验收", "完好率", "准确率", "优良率", "通过率")
PROCESS_NAME = ("预算执行率", "资金到位率", "资金拨付率", "拨付率", "拨付及时率", "结余率", "科目调整", "支出到位率",
                "资金到位及时率", "资金使用率", "资金支付率", "执行进度", "支付进度", "资金下达")
INPUT_NAME = ("金额", "资金", "经费", "支出", "投入", "拨款", "预算")
BUDGET_RESTATE = ("不超预算", "控制在预算", "预算内", "成本控制率", "预算执行", "不超过预算", "预算成本")
TOTAL_COST_NAME = ("总成本", "总投资", "总费用", "项目成本", "项目总", "成本控制", "投资额", "预算", "经费", "资金总")
UNIT_COST_HINT = ("单位", "单价", "人均", "生均", "每", "标准", "/")
GENERIC_SATISFACTION = ("满意度", "社会满意度", "群众满意度", "上级部门满意度", "公众满意度", "满意度指标", "服务对象满意度")
CATEGORY_LABELS = ("数量指标", "质量指标", "时效指标", "成本指标", "经济成本指标", "社会成本指标", "生态环境成本指标",
                   "经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标", "满意度指标", "服务对象满意度指标",
                   "产出指标", "效益指标")
SLOGAN_NAME = ("确保", "保证", "做好", "落实", "推进", "切实", "积极", "大力")


def has_any(text: str, words: tuple[str, ...]) -> str | None:
    for w in words:
        if w in text:
            return w
    return None


def polarity(name: str) -> str | None:
    """'positive' / 'negative' / None (unknown) from the indicator name."""
    neg = has_any(name, NEGATIVE_NAME)
    pos = has_any(name, POSITIVE_NAME)
    if neg and not (pos and len(pos) > len(neg)):
        if neg == "成本" and ("节约" in name or "降低" in name):
            return "positive"
        return "negative"
    return "positive" if pos else None
