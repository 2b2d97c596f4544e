"""Run the rule checks over a normalised target. Pure: no I/O, no LLM."""

from __future__ import annotations

from assistant.critique.base import RetrievalEvidence
from assistant.models import Finding, NormIndicator, Target
from assistant.rules import checks_completeness, checks_evidence, checks_fund, checks_relevance, checks_suitability
from assistant.rules.base import Ctx
from assistant.rules.catalogue import RULES
from assistant.rules.profiles import Profile

ALL_CHECKS = [
    *checks_completeness.CHECKS,
    *checks_relevance.CHECKS,
    *checks_suitability.CHECKS,
    *checks_fund.CHECKS,
]
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def run_rules(target: Target, indicators: list[NormIndicator], profile: Profile,
              evidence: RetrievalEvidence | None = None) -> list[Finding]:
    """All findings for a target, sorted by severity then row. Evidence adds R-01/R-02/FF-05."""
    ctx = Ctx(target=target, indicators=indicators, profile=profile)
    for check in ALL_CHECKS:
        check(ctx)
    if evidence is not None:
        checks_evidence.run(ctx, evidence)
    return sort_findings(ctx.findings)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (_SEVERITY_ORDER[f.severity], -1 if f.indicator_index is None
                                           else f.indicator_index, f.rule_id))


def rule_ids() -> list[str]:
    return list(RULES)
