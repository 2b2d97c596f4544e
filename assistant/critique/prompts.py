"""Prompt files (`prompts/*.md`, Chinese) → rendered chat messages.

Templates use `string.Template` (`$var`), so the JSON braces in them stay literal. The prompt
version stored with each review is `prompt_hash()`: a short sha256 over the files' content.
Target text is only ever placed inside `<target_data>` as JSON with `<` and `>` escaped, so it
cannot close the data block. Pure functions; no network.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from string import Template
from typing import Any

from assistant.dimensions import DIMENSIONS
from assistant.labels import KIND_CN, LEVEL1_SHORT, LEVEL2_SHORT
from assistant.models import CritiqueInput, Finding, Indicator, KnowledgeEvidence, LibraryHint, NormIndicator, Precedent, Target
from assistant.settings import IN_CHECKOUT, PACKAGE_DIR, REPO_DIR

PROMPTS_DIR = REPO_DIR / "prompts" if IN_CHECKOUT else PACKAGE_DIR / "_prompts"
PROMPT_FILES: tuple[str, ...] = ("review_system.md", "review_user.md", "reask.md")
MAX_PRECEDENTS = 3
MAX_PRECEDENT_INDICATORS = 15
MAX_REASK_OUTPUT_CHARS = 6000
LOW_FIT = 0.3  # indicator fits listed to the model (the others are only summarised)
DONOR_SHOWN = 0.1  # a donor overlap below this says nothing


Message = dict[str, str]


# ---------------------------------------------------------------- files, hash, render


def load_prompt(name: str, prompts_dir: Path = PROMPTS_DIR) -> str:
    return (prompts_dir / name).read_text(encoding="utf-8")


def prompt_hash(prompts_dir: Path = PROMPTS_DIR) -> str:
    """Version of the prompt set: sha256 over every prompt file (name + content), 12 hex digits."""
    h = hashlib.sha256()
    for name in PROMPT_FILES:
        h.update(name.encode())
        h.update(b"\0")
        h.update(load_prompt(name, prompts_dir).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:12]


def render(template: str, **values: object) -> str:
    """`string.Template.substitute`: a missing `$var` raises KeyError, braces stay literal."""
    return Template(template).substitute({k: str(v) for k, v in values.items()})


class PromptSet:
    """The three templates, loaded once, with their hash."""

    def __init__(self, prompts_dir: Path = PROMPTS_DIR) -> None:
        self.system = load_prompt("review_system.md", prompts_dir)
        self.user = load_prompt("review_user.md", prompts_dir)
        self.reask = load_prompt("reask.md", prompts_dir)
        self.hash = prompt_hash(prompts_dir)

    def review_messages(self, inp: CritiqueInput) -> list[Message]:
        n = len(inp.target.indicators)
        user = render(
            self.user,
            profile=inp.profile,
            target_json=target_data_json(inp.target),
            indicator_lines=indicator_lines(inp.indicators),
            findings=findings_text(inp.findings),
            caps=caps_text(inp.caps),
            retrieval_notes=retrieval_notes(inp),
            n_precedents=MAX_PRECEDENTS,
            precedents_json=precedents_json(inp.evidence.precedents),
            knowledge_json=knowledge_json(inp.evidence.knowledge),
            n_indicators=n,
            last_index=max(n - 1, 0),
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def reask_messages(self, last_output: str, errors: list[str], *, n_indicators: int) -> list[Message]:
        """Only the static system prompt, the last output and the error list: no target data again."""
        out = (
            last_output
            if len(last_output) <= MAX_REASK_OUTPUT_CHARS
            else last_output[:MAX_REASK_OUTPUT_CHARS] + "…（已截断）"
        )
        user = render(
            self.reask,
            last_output=_escape_tags(out),
            errors="\n".join(f"- {e}" for e in errors) or "- （无）",
            last_index=max(n_indicators - 1, 0),
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


# ---------------------------------------------------------------- sections


def _escape_tags(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _compact(x: Any) -> str:
    return json.dumps(x, ensure_ascii=False, separators=(", ", ": "))


def _dumps(data: dict[str, Any] | list[Any]) -> str:
    """Valid JSON, one field or list item per line (fewer tokens than indent=N), `<`/`>` escaped
    so that target text cannot close </target_data>."""
    lines: list[str] = []
    if isinstance(data, list):
        lines.append("[")
        lines += [f" {_compact(x)}{',' if i < len(data) - 1 else ''}" for i, x in enumerate(data)]
        lines.append("]")
    else:
        lines.append("{")
        items = list(data.items())
        for i, (k, v) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            if isinstance(v, list) and v:
                lines.append(f" {_compact(k)}: [")
                lines += [f"  {_compact(x)}{',' if j < len(v) - 1 else ''}" for j, x in enumerate(v)]
                lines.append(f" ]{comma}")
            else:
                lines.append(f" {_compact(k)}: {_compact(v)}{comma}")
        lines.append("}")
    return _escape_tags("\n".join(lines))


def _indicator_dict(i: int | None, ind: Indicator) -> dict[str, Any]:
    d: dict[str, Any] = {} if i is None else {"index": i}
    d.update(level1=ind.level1, level2=ind.level2, name=ind.name, value=ind.value)
    for extra in ("operator", "unit", "basis", "explanation"):
        if getattr(ind, extra):
            d[extra] = getattr(ind, extra)
    return d


def target_data_json(t: Target) -> str:
    """The target as quoted data. Provenance fields (id, source_url, notes, sector) are left out, and so are header
    fields left empty (the findings say which ones are missing), except the name, the budget and the goal."""
    data: dict[str, Any] = {
        "project_name": t.project_name,
        "department": t.department,
        "implementing_unit": t.implementing_unit,
        "region": t.region,
        "year": t.year,
        "project_attribute": t.project_attribute,
        "period": t.period,
        "amount_total_wan": t.amount_total_wan,
        "amount_fiscal_wan": t.amount_fiscal_wan,
    }
    if t.amount_other_wan is not None:
        data["amount_other_wan"] = t.amount_other_wan
    if t.prior_amount_wan is not None:
        data["prior_amount_wan"] = t.prior_amount_wan
    data["annual_goal"] = t.annual_goal
    data["long_term_goal"] = t.long_term_goal
    keep = {"project_name", "amount_total_wan", "annual_goal"}
    data = {k: v for k, v in data.items() if k in keep or v not in ("", None)}
    data["indicators"] = [_indicator_dict(i, ind) for i, ind in enumerate(t.indicators)]
    if t.budget_lines:
        data["budget_lines"] = [b.model_dump(exclude_defaults=True) for b in t.budget_lines]
    if t.prior_indicators:
        data["prior_indicators"] = [_indicator_dict(None, ind) for ind in t.prior_indicators]
    return _dumps(data)


def _fmt_num(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def indicator_lines(indicators: list[NormIndicator]) -> str:
    if not indicators:
        return "（无指标）"
    lines = []
    op_zh = {">=": "≥", ">": "＞", "=": "＝", "<": "＜", "<=": "≤", "range": "区间"}
    for ni in indicators:
        cat = f"{LEVEL1_SHORT.get(ni.level1, ni.level1)}/{LEVEL2_SHORT.get(ni.level2, ni.level2)}"
        if ni.inferred:
            cat += "（推断）"
        v = ni.value
        parsed = ""
        if v.op or v.number is not None or v.unit or v.date:
            parsed = op_zh.get(v.op or "", "") + _fmt_num(v.number)
            if v.number_high is not None:
                parsed += f"~{_fmt_num(v.number_high)}"
            parsed += v.unit
            if v.date:
                parsed += f" 日期{v.date}"
        marks = [*v.flags, *(f"模糊词:{w}" for w in v.vague_terms)]
        line = f"#{ni.index} {cat} {KIND_CN.get(v.kind, v.kind)}"
        if parsed:
            line += f" {parsed}"
        if marks:
            line += " 标记:" + ",".join(marks)
        lines.append(_escape_tags(line))
    return "\n".join(lines)


def findings_text(findings: list[Finding]) -> str:
    if not findings:
        return "（规则引擎未发现问题）"
    order = {"error": 0, "warning": 1, "info": 2}
    lines = []
    for f in sorted(findings, key=lambda f: order.get(f.severity, 3)):
        where = ""
        if f.indicator_index is not None:
            where = f" 指标#{f.indicator_index}"
        elif f.field:
            where = f" 字段 {f.field}"
        dim = DIMENSIONS.get(f.dimension, f.dimension)
        message = _URL.sub("", f.message)  # the model needs the finding, not the addresses it cites
        lines.append(f"- [{f.severity}] {f.rule_id}（{dim}）{where}：{message}")
    return _escape_tags("\n".join(lines))


_URL = re.compile(r"[；;,，\s]*https?://[^\s）)；;，]+")


def caps_text(caps: dict[str, float]) -> str:
    if not caps:
        return "无（没有 error 级发现）"
    return "；".join(f"{DIMENSIONS.get(d, d)}最高 {c:g} 级" for d, c in caps.items())


def retrieval_notes(inp: CritiqueInput) -> str:
    ev = inp.evidence
    notes: list[str] = []
    if ev.goal_fit is not None:
        notes.append(f"- 年度目标与项目名称/指标的相似度：{ev.goal_fit:.2f}（0–1，越低越可能文不对题）")
    if ev.unit_cost_ratio is not None:
        times = 10**ev.unit_cost_ratio
        notes.append(
            f"- 隐含单位成本与同类案例中位数之比（log10）：{ev.unit_cost_ratio:+.2f}，约为 {times:.2g} 倍"
            "（0 表示持平；+1 表示贵 10 倍；-1 表示便宜 10 倍）"
        )
    if ev.indicator_fit:
        low = "，".join(f"#{i}:{x:.2f}" for i, x in enumerate(ev.indicator_fit) if x < LOW_FIT)
        notes.append(f"- 与本项目及同类指标相似度偏低（<{LOW_FIT}，可能与本项目无关）的指标：{low}" if low
                     else f"- 各指标与本项目及同类指标的相似度都不低于 {LOW_FIT}")
    if ev.donor_overlap is not None and ev.donor_overlap >= DONOR_SHOWN and ev.donor_project:
        notes.append(f"- 产出/效益指标的用词与已批复项目「{ev.donor_project}」的相似度，比与本项目名称和目标的相似度"
                     f"高出 {ev.donor_overlap:.2f}（0 表示不比本项目更像；≥0.25 提示指标可能照搬自该项目）")
    return _escape_tags("\n".join(notes)) if notes else "（无）"


def precedents_json(precedents: list[Precedent]) -> str:
    items = []
    for p in precedents[:MAX_PRECEDENTS]:
        items.append(
            {
                "id": p.id,
                "project_name": p.project_name,
                "similarity": round(p.similarity, 3),
                "region": p.region,
                "year": p.year,
                "amount_total_wan": p.amount_total_wan,
                "indicators": [
                    {
                        "类别": f"{LEVEL1_SHORT.get(i.level1, i.level1)}/{LEVEL2_SHORT.get(i.level2, i.level2)}",
                        "name": i.name,
                        "value": i.value,
                    }
                    for i in p.indicators[:MAX_PRECEDENT_INDICATORS]
                ],
            }
        )
    return _dumps(items) if items else "[]"


def _hint_dict(h: LibraryHint, *, standard: bool) -> dict[str, Any]:
    if standard:
        return {"支出项目": h.name, "标准": h.typical_value, "出处": h.note}
    return {"指标": h.name, "类别": f"{h.level1}/{h.level2}", "参考值": h.typical_value or h.seen_value}


def knowledge_json(ev: KnowledgeEvidence | None) -> str:
    """The sector, the library's core quantity indicators the draft lacks, the published standards that concern
    it and the arithmetic of any broken one: quoted data the model reasons with (the same facts as the rules)."""
    if ev is None or not ev.sectors:
        return "（行业未能确定：不引用行业指标库和支出标准）"
    data: dict[str, Any] = {
        "行业": "；".join(f"{m.sector}（把握度 {m.confidence:.2f}）" for m in ev.sectors),
        "缺少的行业核心数量指标": [_hint_dict(h, standard=False) for h in ev.core_hints] if ev.core_missing else [],
        "相关支出标准": [_hint_dict(h, standard=True) for h in ev.standards[:3]],
        "与标准不符的测算": [{"指标序号": c.indicator_index if c.indicator_index is not None else "按预算÷数量",
                       "测算": c.arithmetic, "标准": f"{c.standard.name} {c.standard.typical_value}",
                       "结论": "高于" if c.verdict == "above" else "低于", "倍数": round(c.ratio, 2)} for c in ev.checks],
    }
    return _dumps({k: v for k, v in data.items() if v})
