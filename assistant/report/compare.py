"""Compare two versions of a target and their reviews: what changed, and were the problems fixed.

Pure logic, no I/O: `compare(base_target, base_review, head_target, head_review) -> Comparison`.

Indicator rows are matched in passes over the rows still unmatched: (1) the same 一级 + 二级 label and
normalised name, (2) the same name alone (a row moved to another category), (3) a similar name under
the same 一级 label (a reworded row), (4) the same position under the same 一级 label. Findings are
matched by rule id and *anchor*: the matched row pair, the header field, or the table as a whole, never
by row number, so rows that merely shift produce no spurious resolved/new pairs. Within one anchor,
findings pair by message (row numbers blanked), then in order.
"""

from __future__ import annotations

import re
from collections import defaultdict
from difflib import SequenceMatcher
from typing import Literal

from pydantic import BaseModel, Field

from assistant.dimensions import DIMENSIONS
from assistant.intake.taxonomy import clean_label, split_name_value
from assistant.intake.values import normalise_text, parse_value
from assistant.models import Finding, Grade, Indicator, Review, Suggestion, Target

__all__ = ["Comparison", "DimensionDelta", "FieldChange", "FindingRef", "RowChange", "ScoreDelta",
           "SuggestionOutcome", "compare", "compare_reviews", "HEADER_FIELDS", "INDICATOR_FIELDS"]

HEADER_FIELDS: dict[str, str] = {
    "project_name": "项目名称", "department": "主管部门", "implementing_unit": "实施单位", "region": "地区",
    "year": "年度", "project_attribute": "项目属性", "period": "实施期", "amount_total_wan": "资金总额（万元）",
    "amount_fiscal_wan": "财政资金（万元）", "amount_other_wan": "其他资金（万元）",
    "prior_amount_wan": "上年预算（万元）", "annual_goal": "年度目标", "long_term_goal": "长期目标",
}
INDICATOR_FIELDS: dict[str, str] = {
    "level1": "一级指标", "level2": "二级指标", "name": "三级指标", "value": "指标值", "operator": "计算符号",
    "unit": "计量单位", "basis": "指标值设定依据", "explanation": "指标解释",
}
GRADE_ORDER: dict[str, int] = {"差": 0, "中": 1, "良": 2, "优": 3}
SIMILAR_NAME = 0.6  # SequenceMatcher ratio for "the same indicator, reworded"

MatchedBy = Literal["name", "name_only", "similar", "position"]


# -- contracts -------------------------------------------------------------------------------
class FieldChange(BaseModel):
    field: str
    label: str = Field(description="字段中文名")
    old: str
    new: str


class RowChange(BaseModel):
    status: Literal["added", "removed", "changed"]
    base_row: int | None = Field(default=None, description="基准版本中的行号（从 1 起）")
    head_row: int | None = Field(default=None, description="对比版本中的行号（从 1 起）")
    base: Indicator | None = None
    head: Indicator | None = None
    changes: list[FieldChange] = Field(default_factory=list, description="变化的字段（原值 → 新值）")
    matched_by: MatchedBy | None = Field(default=None, description="两行如何对应：同名、仅名称、名称相近、同一位置")


class ScoreDelta(BaseModel):
    old: int
    new: int
    delta: int
    old_grade: Grade
    new_grade: Grade
    direction: Literal["up", "down", "same"] = Field(description="得分变化方向")
    grade_direction: Literal["up", "down", "same"] = Field(description="等级变化方向")


class DimensionDelta(BaseModel):
    key: str
    label: str
    old: int
    new: int
    delta: int


class FindingRef(BaseModel):
    finding: Finding = Field(description="问题（已解决的取基准版本的，新出现与仍未解决的取对比版本的）")
    indicator: str = Field(default="", description="所在指标名称；表头或整表问题为空")
    base_row: int | None = Field(default=None, description="基准版本中的行号（从 1 起）")
    head_row: int | None = Field(default=None, description="对比版本中的行号（从 1 起）")
    note: str = ""


class SuggestionOutcome(BaseModel):
    index: int = Field(description="基准版本审核结果中修改建议的序号（从 0 起）")
    suggestion: Suggestion
    status: Literal["adopted", "partial", "not_adopted"]
    head_row: int | None = Field(default=None, description="体现该建议的对比版本行号（从 1 起）")
    detail: str = ""


class Comparison(BaseModel):
    header: list[FieldChange] = Field(default_factory=list, description="表头字段变化")
    rows: list[RowChange] = Field(default_factory=list, description="新增、删除、修改的指标行（未变化的不列出）")
    unchanged_rows: int = 0
    score: ScoreDelta
    dimensions: list[DimensionDelta]
    resolved: list[FindingRef] = Field(default_factory=list, description="已解决：基准版本有、对比版本没有")
    new: list[FindingRef] = Field(default_factory=list, description="新出现：对比版本才有")
    still_open: list[FindingRef] = Field(default_factory=list, description="仍未解决：两版都有")
    suggestions: list[SuggestionOutcome] = Field(default_factory=list, description="基准版本修改建议的采纳情况")
    base_profile: str = ""
    head_profile: str = ""
    identical: bool = Field(description="两版内容（表头与指标）完全相同")

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)


# -- normalisation ---------------------------------------------------------------------------
_PUNCT = re.compile(r"[\s,，。.、:：;；!！?？()（）\[\]【】「」『』“”\"'‘’《》<>〈〉\-—_/\\|·•]+")


def _norm(text: str) -> str:
    s, _ = normalise_text(text or "")
    return _PUNCT.sub("", s).lower()


def _norm_value(text: str) -> str:
    s, _ = normalise_text(text or "")
    s = s.replace(">=", "≥").replace("<=", "≤")  # full-width ％ is already % after normalise_text
    return re.sub(r"\s+", "", s).lower()


def _level(label: str) -> str:
    s = clean_label(label)
    return s[:-2] if s.endswith("指标") and len(s) > 2 else s


def _name_key(ind: Indicator) -> str:
    name = ind.name
    if not ind.value.strip():
        split = split_name_value(name)  # 道路硬化≥0.565km with an empty value is the row 道路硬化
        if split:
            name = split[0]
    return _norm(name)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- rows ------------------------------------------------------------------------------------
def match_rows(base: list[Indicator], head: list[Indicator]) -> dict[int, tuple[int, MatchedBy]]:
    """base row index → (head row index, how they were matched); unmatched rows are absent."""
    pairs: dict[int, tuple[int, MatchedBy]] = {}
    taken: set[int] = set()

    def free_base() -> list[int]:
        return [i for i in range(len(base)) if i not in pairs]

    def free_head() -> list[int]:
        return [j for j in range(len(head)) if j not in taken]

    def pair(i: int, j: int, how: MatchedBy) -> None:
        pairs[i] = (j, how)
        taken.add(j)

    for how, key in (("name", lambda r: (_level(r.level1), _level(r.level2), _name_key(r))),
                     ("name_only", lambda r: _name_key(r))):
        waiting: dict[object, list[int]] = defaultdict(list)
        for j in free_head():
            if _name_key(head[j]):
                waiting[key(head[j])].append(j)
        for i in free_base():
            if _name_key(base[i]) and waiting.get(key(base[i])):
                pair(i, waiting[key(base[i])].pop(0), how)  # type: ignore[arg-type]
    candidates = []
    for i in free_base():
        for j in free_head():
            a, b = _name_key(base[i]), _name_key(head[j])
            if a and b and _level(base[i].level1) == _level(head[j].level1):
                ratio = SequenceMatcher(None, a, b).ratio()
                if ratio >= SIMILAR_NAME:
                    candidates.append((-ratio, abs(i - j), i, j))
    for _, _, i, j in sorted(candidates):
        if i not in pairs and j not in taken:
            pair(i, j, "similar")
    for i in free_base():
        if i < len(head) and i not in taken and _level(base[i].level1) == _level(head[i].level1):
            pair(i, i, "position")
    return pairs


def _row_changes(old: Indicator, new: Indicator) -> list[FieldChange]:
    out = []
    for field, label in INDICATOR_FIELDS.items():
        a, b = getattr(old, field), getattr(new, field)
        same = _norm_value(a) == _norm_value(b) if field == "value" else a.strip() == b.strip()
        if not same:
            out.append(FieldChange(field=field, label=label, old=a, new=b))
    return out


def _rows(base: list[Indicator], head: list[Indicator],
          pairs: dict[int, tuple[int, MatchedBy]]) -> tuple[list[RowChange], int]:
    rows: list[tuple[float, RowChange]] = []
    unchanged = 0
    matched_head = {j for j, _ in pairs.values()}
    for i, old in enumerate(base):
        if i not in pairs:
            # a removed row sorts just after the head row that follows its nearest matched predecessor
            before = [pairs[k][0] for k in range(i) if k in pairs]
            rows.append(((max(before) if before else -1) + 0.5, RowChange(status="removed", base_row=i + 1, base=old)))
            continue
        j, how = pairs[i]
        changes = _row_changes(old, head[j])
        if not changes:
            unchanged += 1
            continue
        rows.append((j, RowChange(status="changed", base_row=i + 1, head_row=j + 1, base=old, head=head[j],
                                  changes=changes, matched_by=how)))
    for j, new in enumerate(head):
        if j not in matched_head:
            rows.append((j, RowChange(status="added", head_row=j + 1, head=new)))
    return [r for _, r in sorted(rows, key=lambda x: x[0])], unchanged


def _header(base: Target, head: Target) -> list[FieldChange]:
    out = []
    for field, label in HEADER_FIELDS.items():
        a, b = _text(getattr(base, field)), _text(getattr(head, field))
        if a.strip() != b.strip():
            out.append(FieldChange(field=field, label=label, old=a, new=b))
    lines = [[(x.item, x.amount_wan, x.quantity, x.quantity_unit, x.unit_price) for x in t.budget_lines]
             for t in (base, head)]
    if lines[0] != lines[1]:
        def describe(t: Target) -> str:
            total = sum(x.amount_wan or 0 for x in t.budget_lines)
            return f"{len(t.budget_lines)} 行，合计 {total:g} 万元" if t.budget_lines else "（无）"

        out.append(FieldChange(field="budget_lines", label="预算明细", old=describe(base), new=describe(head)))
    return out


# -- findings --------------------------------------------------------------------------------
_ROW_REF = re.compile(r"第\s*\d+\s*(行|张)")


def _anchor(f: Finding, side: str, n_rows: int, pair_of: dict[int, int]) -> tuple:
    if f.indicator_index is not None and 0 <= f.indicator_index < n_rows:
        k = pair_of.get(f.indicator_index)
        return ("pair", k) if k is not None else (side, f.indicator_index)
    if f.field:
        return ("field", f.field)
    return ("table",)


def _findings(base: Review, head: Review, base_rows: list[Indicator], head_rows: list[Indicator],
              pairs: dict[int, tuple[int, MatchedBy]]) -> tuple[list[FindingRef], list[FindingRef], list[FindingRef]]:
    base_pair = {i: k for k, i in enumerate(sorted(pairs))}
    head_pair = {pairs[i][0]: k for i, k in base_pair.items()}
    head_of = {i: j for i, (j, _) in pairs.items()}
    base_of = {j: i for i, j in head_of.items()}
    groups: dict[tuple, tuple[list[Finding], list[Finding]]] = defaultdict(lambda: ([], []))
    for f in base.findings:
        groups[(f.rule_id, _anchor(f, "base", len(base_rows), base_pair))][0].append(f)
    for f in head.findings:
        groups[(f.rule_id, _anchor(f, "head", len(head_rows), head_pair))][1].append(f)

    def ref(f: Finding, *, old: bool, note: str = "") -> FindingRef:
        idx = f.indicator_index
        rows = base_rows if old else head_rows
        in_range = idx is not None and 0 <= idx < len(rows)
        if not in_range:
            return FindingRef(finding=f, note=note)
        assert idx is not None
        b = idx if old else base_of.get(idx)
        h = head_of.get(idx) if old else idx
        return FindingRef(finding=f, indicator=rows[idx].name, base_row=None if b is None else b + 1,
                          head_row=None if h is None else h + 1, note=note)

    resolved, new, still_open = [], [], []
    for (_, anchor), (olds, news) in groups.items():
        olds, news = list(olds), list(news)
        for f in list(news):  # same message (row numbers blanked) first, then in order
            same = next((o for o in olds if _ROW_REF.sub("#", o.message) == _ROW_REF.sub("#", f.message)), None)
            if same is not None:
                olds.remove(same)
                news.remove(f)
                still_open.append(ref(f, old=False))
        while olds and news:
            olds.pop(0)
            still_open.append(ref(news.pop(0), old=False))
        gone = anchor[0] == "base"
        resolved += [ref(f, old=True, note="该指标已删除" if gone else "") for f in olds]
        new += [ref(f, old=False, note="新增的指标" if anchor[0] == "head" else "") for f in news]
    order = {"error": 0, "warning": 1, "info": 2}

    def key(r: FindingRef) -> tuple:
        return order[r.finding.severity], r.head_row or r.base_row or 0, r.finding.rule_id

    return sorted(resolved, key=key), sorted(new, key=key), sorted(still_open, key=key)


# -- suggestions -----------------------------------------------------------------------------
def _value_matches(actual: str, suggested: str) -> bool:
    if _norm_value(actual) == _norm_value(suggested):
        return True
    a, s = parse_value(actual), parse_value(suggested)
    return (a.kind == s.kind == "quantitative" and a.op == s.op and a.number == s.number
            and a.number_high == s.number_high and (not s.unit or a.unit == s.unit))


Adoption = Literal["adopted", "partial", "not_adopted"]
Outcome = tuple[Adoption, int | None, str]  # status, head row (1-based), detail


def _revised(s: Suggestion, old: Indicator, new: Indicator, j: int) -> Outcome:
    wanted, done, missed = 0, [], []
    if s.value and not _value_matches(old.value, s.value):
        wanted += 1
        if _value_matches(new.value, s.value):
            done.append(f"指标值已改为「{new.value}」")
        elif _norm_value(new.value) == _norm_value(old.value):
            missed.append(f"指标值仍为「{new.value or '（空）'}」")
        else:
            missed.append(f"指标值改为「{new.value or '（空）'}」，与建议不同")
    if s.name and _norm(s.name) != _name_key(old):
        wanted += 1
        if _norm(s.name) == _name_key(new):
            done.append(f"名称已改为「{new.name}」")
    for field in ("level1", "level2"):
        suggested = getattr(s, field)
        if suggested and _level(suggested) != _level(getattr(old, field)):
            wanted += 1
            if _level(suggested) == _level(getattr(new, field)):
                done.append(f"{INDICATOR_FIELDS[field]}已改为「{getattr(new, field)}」")
    status: Adoption = "adopted" if wanted and len(done) == wanted else "partial" if done else "not_adopted"
    return status, j + 1, "；".join(done + missed)


def _added(s: Suggestion, head_rows: list[Indicator], fresh: list[int]) -> Outcome:
    """An added indicator counts when a row of that name appears that the base version did not have."""
    target = _norm(s.name)
    if not target:
        return "not_adopted", None, ""
    for j in fresh:
        if _name_key(head_rows[j]) == target:
            row = head_rows[j]
            if not s.value or _value_matches(row.value, s.value):
                return "adopted", j + 1, f"已新增「{row.name}」"
            return "partial", j + 1, f"已新增「{row.name}」，指标值为「{row.value}」"
    similar = sorted((-SequenceMatcher(None, target, _name_key(head_rows[j])).ratio(), j) for j in fresh
                     if _name_key(head_rows[j]))
    if similar and -similar[0][0] >= SIMILAR_NAME:
        j = similar[0][1]
        return "partial", j + 1, f"新增了相近的指标「{head_rows[j].name}」"
    return "not_adopted", None, ""


def _suggestions(base: Review, base_rows: list[Indicator], head_rows: list[Indicator],
                 pairs: dict[int, tuple[int, MatchedBy]]) -> list[SuggestionOutcome]:
    base_names = {_name_key(r) for r in base_rows}
    fresh = [j for j, r in enumerate(head_rows) if _name_key(r) not in base_names]
    out = []
    for k, s in enumerate(base.suggestions):
        i = s.indicator_index
        outcome: Outcome
        if s.action == "add":
            outcome = _added(s, head_rows, fresh)
        elif i is None or not 0 <= i < len(base_rows):
            outcome = ("not_adopted", None, "建议所指的指标行不存在")
        elif s.action == "remove":
            outcome = ("adopted", None, "该指标已删除") if i not in pairs else ("not_adopted", pairs[i][0] + 1, "")
        elif i not in pairs:
            outcome = ("not_adopted", None, "该指标已删除，未按建议修改")
        else:
            j = pairs[i][0]
            outcome = _revised(s, base_rows[i], head_rows[j], j)
        status, row, detail = outcome
        out.append(SuggestionOutcome(index=k, suggestion=s, status=status, head_row=row, detail=detail))
    return out


# -- entry points ----------------------------------------------------------------------------
def _direction(delta: float) -> Literal["up", "down", "same"]:
    return "up" if delta > 0 else "down" if delta < 0 else "same"


def compare(base_target: Target, base_review: Review, head_target: Target, head_review: Review) -> Comparison:
    """What changed from `base` (the earlier version, usually) to `head`, and which problems were fixed."""
    base_rows, head_rows = base_target.indicators, head_target.indicators
    pairs = match_rows(base_rows, head_rows)
    rows, unchanged = _rows(base_rows, head_rows, pairs)
    header = _header(base_target, head_target)
    resolved, new, still_open = _findings(base_review, head_review, base_rows, head_rows, pairs)
    score = ScoreDelta(old=base_review.score, new=head_review.score, delta=head_review.score - base_review.score,
                       old_grade=base_review.grade, new_grade=head_review.grade,
                       direction=_direction(head_review.score - base_review.score),
                       grade_direction=_direction(GRADE_ORDER[head_review.grade] - GRADE_ORDER[base_review.grade]))
    dims = []
    for key, label in DIMENSIONS.items():
        a, b = base_review.dimensions.get(key).score, head_review.dimensions.get(key).score
        dims.append(DimensionDelta(key=key, label=label, old=a, new=b, delta=b - a))
    return Comparison(header=header, rows=rows, unchanged_rows=unchanged, score=score, dimensions=dims,
                      resolved=resolved, new=new, still_open=still_open,
                      suggestions=_suggestions(base_review, base_rows, head_rows, pairs),
                      base_profile=base_review.meta.profile, head_profile=head_review.meta.profile,
                      identical=not header and not rows)


def compare_reviews(base: Review, head: Review) -> Comparison:
    """`compare` with the targets the reviews carry."""
    return compare(base.target, base, head.target, head)
