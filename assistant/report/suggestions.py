"""The rule re-check of suggested revisions, for every backend: each suggestion is applied to the draft and the
rules are run again on that row. A suggestion that leaves an error-level finding on its row is dropped; warnings
it leaves are named in its reason. Runs after the critic, before the report stage."""

from __future__ import annotations

from assistant.intake.taxonomy import normalise
from assistant.models import CritiqueInput, CritiqueResult, Finding, Indicator, Suggestion, Target
from assistant.rules.engine import run_rules
from assistant.rules.profiles import Profile


def apply_suggestion(target: Target, s: Suggestion) -> tuple[Target, int] | None:
    """The target with the suggestion applied, and the row it touches (None for remove / bad index)."""
    rows = list(target.indicators)
    if s.action == "add":
        rows.append(Indicator(level1=s.level1, level2=s.level2, name=s.name, value=s.value))
        idx = len(rows) - 1
    elif s.action == "revise" and s.indicator_index is not None and 0 <= s.indicator_index < len(rows):
        old = rows[s.indicator_index]
        rows[s.indicator_index] = old.model_copy(update={"name": s.name or old.name, "value": s.value or old.value,
                                                         "operator": "" if s.value else old.operator,
                                                         "unit": "" if s.value else old.unit})
        idx = s.indicator_index
    else:
        return None
    return target.model_copy(update={"indicators": rows}), idx


def findings_after(target: Target, s: Suggestion, profile: Profile) -> list[Finding]:
    """The findings on the suggested row once the suggestion is applied."""
    applied = apply_suggestion(target, s)
    if applied is None:
        return []
    new_target, idx = applied
    return [f for f in run_rules(new_target, normalise(new_target), profile) if f.indicator_index == idx]


def recheck_suggestions(inp: CritiqueInput, result: CritiqueResult, profile: Profile) -> CritiqueResult:
    kept: list[Suggestion] = []
    for s in result.suggestions:
        found = findings_after(inp.target, s, profile)
        if any(f.severity == "error" for f in found):
            continue
        warnings = [f for f in found if f.severity == "warning"]
        if warnings:
            notes = "；".join(f"{f.rule_id} {f.message}" for f in warnings)
            s = s.model_copy(update={"reason": f"{s.reason}（规则提示：{notes}）"})
        kept.append(s)
    return result.model_copy(update={"suggestions": kept})
