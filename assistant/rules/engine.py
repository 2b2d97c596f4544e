"""Run the rule checks over a normalised target. Pure: no I/O, no LLM."""

from __future__ import annotations

from assistant.intake.facts import derive_facts
from assistant.models import Facts, Finding, NormIndicator, RetrievalEvidence, Target
from assistant.rules import (
    checks_completeness,
    checks_evidence,
    checks_fund,
    checks_knowledge,
    checks_relevance,
    checks_suitability,
)
from assistant.rules.base import Ctx
from assistant.rules.profiles import Profile

ALL_CHECKS = [
    *checks_completeness.CHECKS,
    *checks_relevance.CHECKS,
    *checks_suitability.CHECKS,
    *checks_fund.CHECKS,
    *checks_evidence.CHECKS,
    *checks_knowledge.CHECKS,
]
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def run_rules(target: Target, indicators: list[NormIndicator], profile: Profile,
              evidence: RetrievalEvidence | None = None, *, facts: Facts | None = None) -> list[Finding]:
    """All findings for a target, sorted by severity then row. Retrieved evidence adds R-01/R-02/FF-05.
    `facts` (derived once per review by the pipeline) is derived here when a caller has none."""
    ctx = Ctx(target=target, indicators=indicators, profile=profile,
              facts=facts if facts is not None else derive_facts(target, indicators),
              evidence=evidence if evidence is not None else RetrievalEvidence())
    for check in ALL_CHECKS:
        check(ctx)
    return sort_findings(ctx.findings)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (_SEVERITY_ORDER[f.severity], -1 if f.indicator_index is None
                                           else f.indicator_index, f.rule_id))
