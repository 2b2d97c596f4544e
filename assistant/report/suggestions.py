"""The rule re-check of suggested revisions, for every backend: each suggestion is applied to the draft and the
rules are run again on its row (suggestions that touch different rows are checked together, in one run). A
suggestion is dropped when it leaves an error on its row, or leaves any finding its row had before (a revision
must resolve what was wrong with the row: 「100%」 → 「≥100%」 still sets satisfaction at 100 %); new warnings it
brings are named in its reason. One revision per row is kept (the first that passes), so a row never shows two
conflicting revisions. Runs after the critic, before the report stage."""

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
                                                         "unit": "" if s.value else old.unit,
                                                         "level1": s.level1 or old.level1, "level2": s.level2 or old.level2})
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


_ROW = re.compile(r"第\d+个指标(（Excel 第\d+行）)?「")


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


_VALUE_RULES = re.compile(r"^(S-\d+|C-07|C-08|FF-04|FF-07|K-03)$")  # what a new value of the row can resolve


def _unresolved(s: Suggestion, inp: CritiqueInput, left: set[str]) -> bool:
    """Whether a revision leaves a finding of its row it should have resolved: the value findings when it changes
    only the value, every finding when it also renames or re-files the row."""
    old = inp.target.indicators[s.indicator_index] if s.indicator_index is not None else None
    only_value = old is not None and (s.name or old.name) == old.name and (s.level1 or old.level1) == old.level1 \
        and (s.level2 or old.level2) == old.level2
    return any(_VALUE_RULES.match(r) for r in left) if only_value else bool(left)


def _renames(s: Suggestion, inp: CritiqueInput) -> bool:
    old = inp.target.indicators[s.indicator_index] if s.indicator_index is not None else None
    return old is not None and bool(s.name) and s.name != old.name


def recheck_suggestions(inp: CritiqueInput, result: CritiqueResult, profile: Profile) -> CritiqueResult:
    found: dict[int, list[Finding]] = {}
    for members in _passes(result.suggestions):
        for k, fs in zip(members, findings_after(inp, [result.suggestions[k] for k in members], profile),
                         strict=True):
            found[k] = fs
    before: dict[int, set[str]] = {}
    for f in inp.findings:
        if f.indicator_index is not None:
            before.setdefault(f.indicator_index, set()).add(f.rule_id)
    kept: list[Suggestion] = []
    revised: set[int] = set()
    for k, s in enumerate(result.suggestions):
        if any(f.severity == "error" for f in found[k]):
            continue
        row = s.indicator_index if s.action == "revise" else None
        if row is not None and (_unresolved(s, inp, {f.rule_id for f in found[k]} & before.get(row, set()))
                                or row in revised):
            continue  # leaves what was wrong with the row, or a revision of this row was already kept
        had = before.get(row, set()) if row is not None else set()
        if "R-02" in had and not _renames(s, inp):
            continue  # the row is advised to be deleted: a new value for it would contradict that
        if any(f.severity == "warning" and f.rule_id not in had for f in found[k]):
            continue  # a new row, or a revision, that our own rules would warn about is no advice
        if row is not None:
            revised.add(row)
        warnings = [f for f in found[k] if f.severity == "warning"]
        if warnings:
            notes = "；".join(f"{f.rule_id} {_for(s, f.message)}" for f in warnings)
            s = s.model_copy(update={"reason": f"{s.reason}（规则提示：{notes}）"})
        kept.append(s)
    return result.model_copy(update={"suggestions": kept})
