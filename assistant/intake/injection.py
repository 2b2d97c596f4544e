"""The one detector of instruction-like text (prompt injection) in a target's fields.

Every text field that reaches the LLM prompt is scanned. Rule X-01 reports the hits to users, and the LLM critic
keeps its scores at or below the offline review's wherever a hit exists. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from assistant.models import Indicator, InstructionHit, Target

_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(忽略|无视|忘记|不要理会|跳过)(掉)?(以上|之前|前面|上面|上述|先前|所有|全部|此前)",
        r"(直接|请|务必|一律|必须)(将|把)?(本项目|该项目|本表|此表|该表)?(评|打|给|判)(为|成|予|定为)?(优|满分|5分|五分|最高分|高分|通过)",
        r"(评|打|给)(为|成)?(满分|最高分)",
        r"评为优秀?",
        r"给予?满分",
        r"你(现在|从现在起)?(是|扮演|充当)(一个|一名)?",
        r"(系统提示|系统指令|提示词|system\s*prompt)",
        r"ignore\s+(all\s+)?(the\s+)?(previous|prior|above|earlier)",
        r"disregard\s+(all\s+)?(the\s+)?(previous|prior|above|earlier|instructions)",
        r"you\s+are\s+now",
        r"new\s+instructions?",
        r"assistant\s*:",
        r"</?\s*(system|assistant|user|target_data|precedents_data)\s*>",
        r"<\|im_(start|end)\|>",
        r"###\s*(指令|instruction)",
        r"[\"“]?level[\"”]?\s*[:：]\s*5",
    )
)
_HEADER_FIELDS = ("project_name", "department", "implementing_unit", "region", "project_attribute", "period",
                  "annual_goal", "long_term_goal")
_INDICATOR_FIELDS = ("level1", "level2", "name", "value", "basis", "operator", "unit", "explanation")
_BUDGET_FIELDS = ("item", "unit_price", "basis", "quantity_unit")


def indicator_texts(i: int, ind: Indicator) -> Iterator[tuple[str, int | None, str]]:
    """(field path, row, text) for the text fields of indicator row `i`."""
    for f in _INDICATOR_FIELDS:
        yield f"indicators[{i}].{f}", i, getattr(ind, f)


def target_texts(t: Target) -> Iterator[tuple[str, int | None, str]]:
    """(field path, indicator row or None, text) for every text field of a target."""
    for f in _HEADER_FIELDS:
        yield f, None, getattr(t, f)
    for i, ind in enumerate(t.indicators):
        yield from indicator_texts(i, ind)
    for i, p in enumerate(t.prior_indicators):
        for f in _INDICATOR_FIELDS:
            yield f"prior_indicators[{i}].{f}", None, getattr(p, f)
    for i, b in enumerate(t.budget_lines):
        for f in _BUDGET_FIELDS:
            yield f"budget_lines[{i}].{f}", None, getattr(b, f)


def find_injection(target: Target) -> list[InstructionHit]:
    """Instruction-like text inside a target's fields (empty when clean); one hit per field."""
    return scan(target_texts(target))


def scan(texts: Iterable[tuple[str, int | None, str]]) -> list[InstructionHit]:
    """Instruction-like text in (field path, row, text) triples; one hit per field."""
    hits: list[InstructionHit] = []
    for where, index, text in texts:
        if not text:
            continue
        for pat in _PATTERNS:
            m = pat.search(text)
            if m:
                start, end = max(0, m.start() - 4), min(len(text), m.end() + 8)
                hits.append(InstructionHit(field=where, index=index, match=m.group(0), snippet=text[start:end]))
                break
    return hits
