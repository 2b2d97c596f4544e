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


# Rates where lower is better (RULEBOOK §5: 反向指标), and conditions that make a 检出率 one of them.
NEGATIVE_RATE = ("故障率", "投诉率", "事故率", "发生率", "差错率", "超标率", "返工率", "流失率", "失误率", "死亡率", "发病率",
                 "患病率", "失业率", "辍学率", "不良率", "缺陷率", "不合格率", "空置率", "损耗率", "漏损率", "返贫率", "逾期率",
                 "违约率", "违规率", "复发率", "感染率", "误报率", "漏报率", "延误率", "退回率", "脱落率", "淘汰率")
BAD_CONDITION = re.compile(r"不良|贫血|龋|近视|肥胖|低体重|患|病|超标|不合格|违规|违法|残留|阳性|隐患|问题|缺陷|污染")
_TRAILING_NOTE = re.compile(r"\s*[（(][^（()）]*[）)]\s*$")


def _rate_polarity(name: str) -> str | None | bool:
    """For a name that measures a rate: 'positive' / 'negative' / None (a rate whose direction the name does not
    tell: ask, never flip); False when the name is not a rate."""
    core = _TRAILING_NOTE.sub("", name.strip())
    if not re.search(r"(率|比例|占比|比率)$", core):
        return False
    if has_any(core, NEGATIVE_RATE):
        return "negative"
    if re.search(r"(检出|阳性|检测|筛查)率$", core):  # 营养不良检出率 ↓, but 隐患检出率 is debatable: say nothing
        return "negative" if BAD_CONDITION.search(core) and not re.search(r"隐患|问题|违规|违法", core) else None
    rate_words = tuple(w for w in POSITIVE_NAME if w.endswith("率"))
    return "positive" if has_any(core, rate_words) else None


def polarity(name: str) -> str | None:
    """'positive' / 'negative' / None (unknown) from the indicator name. A rate is judged by the rate it names
    (受益学生营养不良检出率 is a 检出率 of a condition: lower is better), not by other words in the name."""
    rate = _rate_polarity(name)
    if rate is not False:
        return rate if isinstance(rate, str) else None
    neg = has_any(name, NEGATIVE_NAME)
    pos = has_any(name, POSITIVE_NAME)
    if neg and not (pos and len(pos) > len(neg)):
        if neg == "成本" and ("节约" in name or "降低" in name):
            return "positive"
        return "negative"
    return "positive" if pos else None
