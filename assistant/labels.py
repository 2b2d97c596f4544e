"""The Chinese label vocabulary, defined once: indicator categories, header fields, value kinds.

Long forms (产出指标, 数量指标) are what users see in findings, suggestions and exports; short forms
(产出, 数量) are what the LLM prompt's compact indicator lines use.
"""

from __future__ import annotations

LEVEL1_CN: dict[str, str] = {"output": "产出指标", "cost": "成本指标", "benefit": "效益指标",
                             "satisfaction": "满意度指标", "process": "过程管理指标", "unknown": "未分类"}
LEVEL2_CN: dict[str, str] = {"quantity": "数量指标", "quality": "质量指标", "timeliness": "时效指标",
                             "econ_cost": "经济成本指标", "social_cost": "社会成本指标", "eco_cost": "生态环境成本指标",
                             "econ_benefit": "经济效益指标", "social_benefit": "社会效益指标", "eco_benefit": "生态效益指标",
                             "sustainability": "可持续影响指标", "satisfaction": "服务对象满意度指标",
                             "process": "过程管理指标", "unknown": "未分类"}
LEVEL1_SHORT: dict[str, str] = {"output": "产出", "cost": "成本", "benefit": "效益", "satisfaction": "满意度",
                                "process": "过程", "unknown": "未识别"}
LEVEL2_SHORT: dict[str, str] = {"quantity": "数量", "quality": "质量", "timeliness": "时效", "econ_cost": "经济成本",
                                "social_cost": "社会成本", "eco_cost": "生态环境成本", "econ_benefit": "经济效益",
                                "social_benefit": "社会效益", "eco_benefit": "生态效益", "sustainability": "可持续影响",
                                "satisfaction": "满意度", "process": "过程", "unknown": "未识别"}
KIND_CN: dict[str, str] = {"quantitative": "定量", "deadline": "日期/期限", "duration": "时长", "qualitative": "定性",
                           "vague": "模糊", "empty": "空值", "unparseable": "无法解析"}
# Header fields of a target table (findings name them; "unit" is 主管部门 or 实施单位)
FIELD_CN: dict[str, str] = {"project_name": "项目名称", "department": "主管部门", "implementing_unit": "实施单位",
                            "unit": "主管部门/实施单位", "project_attribute": "项目属性", "period": "实施期",
                            "amount_total_wan": "资金总额", "amount_fiscal_wan": "财政拨款", "annual_goal": "年度目标",
                            "long_term_goal": "长期目标", "region": "地区", "year": "年度", "indicators": "指标"}
# Fields of the JSON input (a validation error names them); here `unit` is an indicator's 计量单位
INPUT_FIELD_CN: dict[str, str] = {**FIELD_CN, "unit": "计量单位", "budget_lines": "预算明细",
                                  "prior_indicators": "上年指标", "name": "指标名称", "value": "指标值",
                                  "level1": "一级指标", "level2": "二级指标", "basis": "指标值依据", "operator": "计算符号",
                                  "explanation": "指标解释", "item": "明细项目", "amount_wan": "金额（万元）",
                                  "unit_price": "单价", "quantity": "数量", "amount_other_wan": "其他资金",
                                  "prior_amount_wan": "上年预算"}


# pydantic error types → Chinese (every validator message shown to users goes through this one map)
VALIDATION_CN = {
    "missing": "缺失", "int_parsing": "应为整数", "float_parsing": "应为数字", "string_type": "应为文本",
    "literal_error": "取值不在允许范围内", "greater_than_equal": "过小", "less_than_equal": "过大",
    "greater_than": "过小", "less_than": "过大", "finite_number": "应为有限的数字",
    "string_too_short": "过短", "string_too_long": "过长", "json_invalid": "不是有效的 JSON",
    "model_attributes_type": "应为对象", "dict_type": "应为对象", "model_type": "应为对象", "list_type": "应为列表",
    "extra_forbidden": "是未知字段（拼写错误？）", "bool_parsing": "应为 true/false", "bool_type": "应为 true/false",
    "int_from_float": "应为整数", "string_pattern_mismatch": "格式不符合要求", "too_long": "条目过多",
}

# Review backends (Review.backend, CritiqueResult.backend) as the web pages name them
BACKEND_CN = {"offline": "离线评审", "openai": "大模型评审"}


def indicator_label(index: int, sheet_row: int | None = None) -> str:
    """「第2个指标（Excel 第13行）」: the indicator's position, and its row in the user's workbook when known."""
    return f"第{index + 1}个指标" + (f"（Excel 第{sheet_row}行）" if sheet_row else "")


def indicators_label(rows: list[tuple[int, int | None]], limit: int = 8) -> str:
    """「第1、4个指标」 (with 「（Excel 第12、15行）」 when every row's workbook row is known)."""
    shown = rows[:limit]
    more = "等" if len(rows) > limit else ""
    text = f"第{'、'.join(str(i + 1) for i, _ in shown)}" + (f"等{len(rows)}个指标" if more else "个指标")
    if shown and all(r for _, r in shown):
        text += f"（Excel 第{'、'.join(str(r) for _, r in shown)}{more}行）"
    return text
