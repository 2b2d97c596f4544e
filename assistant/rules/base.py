"""Shared machinery for the rule checks: the context and finding construction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.models import Finding, NormIndicator, Severity, Target
from assistant.rules.catalogue import RULES
from assistant.rules.profiles import Profile

LEVEL1_CN = {"output": "产出指标", "cost": "成本指标", "benefit": "效益指标", "satisfaction": "满意度指标",
             "process": "过程管理指标", "unknown": "未分类"}
LEVEL2_CN = {"quantity": "数量指标", "quality": "质量指标", "timeliness": "时效指标", "econ_cost": "经济成本指标",
             "social_cost": "社会成本指标", "eco_cost": "生态环境成本指标", "econ_benefit": "经济效益指标",
             "social_benefit": "社会效益指标", "eco_benefit": "生态效益指标", "sustainability": "可持续影响指标",
             "satisfaction": "服务对象满意度指标", "process": "过程管理指标", "unknown": "未分类"}
FIELD_CN = {"project_name": "项目名称", "department": "主管部门", "implementing_unit": "实施单位", "unit": "主管部门/实施单位",
            "project_attribute": "项目属性", "period": "实施期", "amount_total_wan": "资金总额", "annual_goal": "年度目标",
            "long_term_goal": "长期目标", "region": "地区", "year": "年度"}


@dataclass
class Ctx:
    target: Target
    indicators: list[NormIndicator]
    profile: Profile
    findings: list[Finding] = field(default_factory=list)

    def emit(self, rule_id: str, message: str, *, index: int | None = None, field: str | None = None,
             severity: Severity | None = None, suggestion: str | None = None) -> None:
        if rule_id in self.profile.disabled:
            return
        info = RULES[rule_id]
        sev = self.profile.severity_overrides.get(rule_id, severity or info.severity)
        self.findings.append(Finding(rule_id=rule_id, dimension=info.dimension, severity=sev, indicator_index=index,
                                     field=field, message=message, suggestion=suggestion or info.fix))

    def by_level1(self, level1: str) -> list[NormIndicator]:
        return [i for i in self.indicators if i.level1 == level1]

    def by_level2(self, level2: str) -> list[NormIndicator]:
        return [i for i in self.indicators if i.level2 == level2]


Check = Callable[[Ctx], None]


def row(ind: NormIndicator) -> str:
    """How a finding names an indicator row for users: 第3行「验收合格率」."""
    name = ind.name or "（无名称）"
    return f"第{ind.index + 1}行「{name}」"


def raw_value(ind: NormIndicator) -> str:
    return ind.value.raw.strip() or "（空）"
