"""Shared machinery for the rule checks: the context and finding construction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.models import Facts, Finding, NormIndicator, RetrievalEvidence, Severity, Target
from assistant.rules.catalogue import RULES
from assistant.rules.profiles import Profile


@dataclass
class Ctx:
    target: Target
    indicators: list[NormIndicator]
    profile: Profile
    facts: Facts
    evidence: RetrievalEvidence = field(default_factory=RetrievalEvidence)
    findings: list[Finding] = field(default_factory=list)

    def emit(self, rule_id: str, message: str, *, index: int | None = None, field: str | None = None,
             severity: Severity | None = None, suggestion: str | None = None) -> None:
        if rule_id in self.profile.disabled:
            return
        info = RULES[rule_id]
        sev = self.profile.severity_overrides.get(rule_id, severity or info.severity)
        self.findings.append(Finding(rule_id=rule_id, dimension=info.dimension, severity=sev, indicator_index=index,
                                     field=field, message=message, suggestion=suggestion or info.fix))

    def indicator(self, index: int) -> NormIndicator:
        return self.indicators[index]


Check = Callable[[Ctx], None]


def row(ind: NormIndicator) -> str:
    """How a finding names an indicator for users: 第3个指标「验收合格率」, with its workbook row when known."""
    name = ind.name or "（无名称）"
    return f"{ind.label()}「{name}」"


def raw_value(ind: NormIndicator) -> str:
    return ind.value.raw.strip() or "（空）"
