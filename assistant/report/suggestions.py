"""The rule re-check of suggested revisions, for every backend: each suggestion is applied to the draft and the
rules are run again on its row (suggestions that touch different rows are checked together, in one run). A
suggestion that leaves an error-level finding on its row is dropped; warnings it leaves are named in its reason.
Runs after the critic, before the report stage."""

from __future__ import annotations

import re

from assistant.intake.injection import indicator_texts, scan
from assistant.intake.quantities import implied_totals, main_quantity
from assistant.intake.taxonomy import normalise_row
from assistant.models import CritiqueInput, CritiqueResult, Facts, Finding, Indicator, Suggestion, Target
from assistant.rules.engine import run_rules
from assistant.rules.profiles import Profile


def _apply(rows: list[Indicator], s: Suggestion) -> int | None:
    """Apply one suggestion to `rows` in place; the row it touches (None for remove / a bad index)."""
    if s.action == "add":
        rows.append(Indicator(level1=s.level1, level2=s.level2, name=s.name, value=s.value))
        return len(rows) - 1
    if s.action == "revise" and s.indicator_index is not None and 0 <= s.indicator_index < len(rows):
        old = rows[s.indicator_index]
        rows[s.indicator_index] = old.model_copy(update={"name": s.name or old.name, "value": s.value or old.value,
                                                         "operator": "" if s.value else old.operator,
                                                         "unit": "" if s.value else old.unit})
        return s.indicator_index
    return None


def apply_suggestion(target: Target, s: Suggestion) -> tuple[Target, int] | None:
    """The target with the suggestion applied, and the row it touches (None for remove / bad index)."""
    rows = list(target.indicators)
    idx = _apply(rows, s)
    return None if idx is None else (target.model_copy(update={"indicators": rows}), idx)


def findings_after(inp: CritiqueInput, suggestions: list[Suggestion], profile: Profile) -> list[list[Finding]]:
    """For suggestions that touch different rows, applied together: the findings on each one's row. Only the
    touched rows are normalised and scanned again; the other rows and their facts are the review's own."""
    rows = list(inp.target.indicators)
    touched = [_apply(rows, s) for s in suggestions]
    new_target = inp.target.model_copy(update={"indicators": rows})
    norm = list(inp.indicators)
    hits = [h for h in inp.facts.instruction_hits if h.index not in touched]
    for idx in sorted({i for i in touched if i is not None}):
        row = normalise_row(idx, rows[idx])
        if idx < len(norm):
            norm[idx] = row
        else:
            norm.append(row)
        hits += scan(indicator_texts(idx, rows[idx]))
    q = main_quantity(norm)
    facts = Facts(content_hash=inp.facts.content_hash, main_quantity=q.index if q is not None else None,
                  implied_totals=implied_totals(norm), instruction_hits=hits)
    found = run_rules(new_target, norm, profile, facts=facts)
    return [[f for f in found if idx is not None and f.indicator_index == idx] for idx in touched]


def _passes(suggestions: list[Suggestion]) -> list[list[int]]:
    """Suggestions in groups that touch different rows (two revisions of one row, or two additions of the same
    indicator, go to separate groups), so each group is checked with one run of the rules."""
    groups: list[tuple[set[object], list[int]]] = []
    for k, s in enumerate(suggestions):
        key: object = ("row", s.indicator_index) if s.action == "revise" else ("add", s.name.strip())
        for keys, members in groups:
            if key not in keys:
                keys.add(key)
                members.append(k)
                break
        else:
            groups.append(({key}, [k]))
    return [members for _, members in groups]


def _for(s: Suggestion, message: str) -> str:
    """A finding's message about a suggested new row names it as 新增指标, not by a row the draft does not have."""
    return _ROW.sub("新增指标「", message, count=1) if s.action == "add" else message


_ROW = re.compile(r"第\d+行「")


def library_suggestions(inp: CritiqueInput, result: CritiqueResult, *, limit: int = 2) -> CritiqueResult:
    """Add the sector library's core quantity indicators the draft lacks (K-01), with their published value where
    it can stand as a target as written, for every backend; an indicator already suggested is not repeated."""
    k = inp.evidence.knowledge
    if not k.core_missing:
        return result
    have = {s.name for s in result.suggestions}
    extra = [Suggestion(action="add", level1=h.level1, level2=h.level2, name=h.name, value=h.typical_value or "",
                        source="library", library_source=h.source,
                        reason=f"本类项目（{h.sector}）常设此数量指标，参考值取自公开的绩效目标表，请按本项目实际填写")
             for h in k.core_hints if h.typical_value and h.name not in have][:limit]
    return result.model_copy(update={"suggestions": [*result.suggestions, *extra]}) if extra else result


def recheck_suggestions(inp: CritiqueInput, result: CritiqueResult, profile: Profile) -> CritiqueResult:
    found: dict[int, list[Finding]] = {}
    for members in _passes(result.suggestions):
        for k, fs in zip(members, findings_after(inp, [result.suggestions[k] for k in members], profile),
                         strict=True):
            found[k] = fs
    kept: list[Suggestion] = []
    for k, s in enumerate(result.suggestions):
        if any(f.severity == "error" for f in found[k]):
            continue
        warnings = [f for f in found[k] if f.severity == "warning"]
        if warnings:
            notes = "；".join(f"{f.rule_id} {_for(s, f.message)}" for f in warnings)
            s = s.model_copy(update={"reason": f"{s.reason}（规则提示：{notes}）"})
        kept.append(s)
    return result.model_copy(update={"suggestions": kept})
