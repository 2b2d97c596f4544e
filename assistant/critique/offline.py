"""The offline critic: rule findings + precedent evidence → per-dimension scores, no network.

How a score is formed (documented in README "评分如何形成"):
1. `features.extract` turns the findings and retrieval evidence into numbers per dimension
   (error and warning counts, counts of key rules, shares such as vague values or orphan indicators).
2. A linear scorer per dimension maps them to the raters' 1–5 scale; a dimension that cannot be judged at all
   (`features.UNUSABLE`: fund fit without a budget) gets the rubric's level 1 ("missing or unusable") instead.
   The shipped coefficients (assistant/data/calibration.json) were fitted by `assistant eval calibrate` on reference ratings;
   without a calibration file a transparent default applies: 5 − 0.9 × errors − 0.35 × warnings.
3. The report stage applies the deterministic caps (report.py) and forms the overall score and grade.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from assistant.critique.features import (
    DONOR_NOTE,
    FEATURE_VERSION,
    SUITABILITY_CRITERIA,
    anchored_rules,
    extract,
    scored_rules,
    suitability_rows,
    unusable,
)
from assistant.dimensions import DIMENSION_KEYS, dimension_head, level_to_score
from assistant.errors import ConfigError
from assistant.labels import indicators_label
from assistant.models import (
    CritiqueInput,
    CritiqueResult,
    Dimensions,
    DimensionScore,
    Finding,
    NormIndicator,
    Strict,
    Suggestion,
)
from assistant.rules.catalogue import RULES

CALIBRATION_PATH = Path(__file__).resolve().parent.parent / "data" / "calibration.json"
SCORER_VERSION = "offline-1"

_POSITIVE = {
    "completeness": "表头、年度目标和产出、效益、满意度等指标要素基本齐全",
    "relevance": "目标和指标围绕本项目内容设置",
    "suitability": "指标值量化、明确，目标水平基本合理",
    "fund_fit": "成本指标与资金总额基本一致，资金与产出规模相称",
}


class DimensionModel(Strict):
    intercept: float
    coef: dict[str, float]


class Calibration(Strict):
    feature_version: str
    fitted_on: str = ""
    n_items: int = 0
    method: str = ""
    dimensions: dict[str, DimensionModel]
    cv: dict[str, dict[str, float]] = {}


def default_calibration() -> Calibration:
    dims = {}
    for d in DIMENSION_KEYS:
        coef = {"n_error": -0.9, "n_warning": -0.35}
        dims[d] = DimensionModel(intercept=5.0, coef=coef)
    return Calibration(feature_version=FEATURE_VERSION, method="default: 5 − 0.9×错误 − 0.35×警告", dimensions=dims)


def load_calibration(path: Path | None = None) -> Calibration:
    path = path or CALIBRATION_PATH
    if not path.is_file():
        return default_calibration()
    try:
        cal = Calibration.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"校准文件 {path} 无效：{exc}") from None
    if cal.feature_version != FEATURE_VERSION:
        return default_calibration()
    return cal


def save_calibration(cal: Calibration, path: Path | None = None) -> Path:
    path = path or CALIBRATION_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cal.model_dump(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def predict_levels(feats: dict[str, dict[str, float]], cal: Calibration) -> dict[str, float]:
    out = {}
    for d in DIMENSION_KEYS:
        m = cal.dimensions[d]
        raw = m.intercept + sum(w * feats[d].get(name, 0.0) for name, w in m.coef.items())
        out[d] = 1.0 if unusable(feats[d], d) else round(min(5.0, max(1.0, raw)), 2)
    return out


def _titles(findings: list[Finding]) -> str:
    counts = Counter(f.rule_id for f in findings)
    parts = []
    for rule_id, n in counts.most_common(4):
        title = RULES[rule_id].title
        parts.append(f"{title}（{n}处）" if n > 1 else title)
    rest = sum(n for _, n in counts.most_common()[4:])
    return "；".join(parts) + (f"；另{rest}项见下方问题清单" if rest else "")  # the count above always adds up


def rationale(dim: str, level: float, findings: list[Finding], notes: list[str] | None = None,
              scored: tuple[set[str], bool] | None = None) -> str:
    """Score, what lowered it, and the findings. With `scored` (rules that fed a weighted feature, whether all
    warnings count) the warnings that did not affect the score are labelled advisory (未计入本维度评分，仍建议修改);
    error-level findings always count (they cap the dimension in the report stage)."""
    mine = [f for f in findings if f.dimension == dim and f.severity != "info"]
    head = dimension_head(dim, level)
    extra = "".join(f"{n}。" for n in notes or [])
    if not mine:
        return head + (extra or _POSITIVE[dim] + "。")
    rules, all_warnings = scored or (set(), True)
    counted = [f for f in mine if f.severity == "error" or all_warnings or f.rule_id in rules]
    advisory = [f for f in mine if f not in counted]
    text = head
    if counted:
        errors = sum(1 for f in counted if f.severity == "error")
        warns = len(counted) - errors
        sev = "、".join(x for x in (f"{errors}项错误" if errors else "", f"{warns}项警告" if warns else "") if x)
        text += f"发现{sev}：" + _titles(counted) + "。"
    text += extra
    if advisory:
        lead = "另有" if counted or extra else "发现"
        text += f"{lead}{len(advisory)}项警告未计入本维度评分（仍建议修改）：" + _titles(advisory) + "。"
    return text


def _rows_label(inp: CritiqueInput, rows: list[int], limit: int) -> str:
    sheet = {i.index: i.sheet_row for i in inp.indicators}
    return indicators_label([(r, sheet.get(r)) for r in rows], limit)


def suitability_notes(inp: CritiqueInput, coef: dict[str, float]) -> tuple[list[str], list[int]]:
    """The 适当性 criteria that lowered the score, with their rows (weighted features only)."""
    parts, rows = [], set()
    for key, found in suitability_rows(inp).items():
        if found and coef.get(key, 0.0):
            parts.append(f"{_rows_label(inp, found, 6)}{SUITABILITY_CRITERIA[key][1]}")
            rows |= set(found)
    return ([("扣分主要来自：" + "；".join(parts))] if parts else []), sorted(rows)


_FUND_NOTES = {
    "no_quantity": "没有带计量单位的产出数量指标，无法按“资金÷数量”估算单位成本",
    "fund_unverified": "没有能与资金总额相互印证的“单位成本×数量”（成本标准与数量指标折算后，单项或各项之和均不在总额的"
                       "75%–135%之内）",
}
_UNUSABLE_NOTE = {"fund_fit": "未填资金总额，无法判断资金与产出是否匹配，按评分细则“缺失或无法使用”计最低分"}


_NO_PRODUCT_NOTE = "没有可以相乘的单位成本和数量指标，无法用“单位成本×数量”与资金总额相互印证"


def fund_notes(feats: dict[str, float], coef: dict[str, float], *, has_products: bool = True
               ) -> tuple[list[str], list[int]]:
    """The 资金匹配性 deficits that no rule finding names (weighted features only), or why it scores 1. Without any
    unit cost × quantity product the note says so instead of describing a comparison that was never made."""
    if unusable(feats, "fund_fit"):
        return [_UNUSABLE_NOTE["fund_fit"]], []
    notes = [text if key != "fund_unverified" or has_products else _NO_PRODUCT_NOTE
             for key, text in _FUND_NOTES.items() if feats.get(key) and coef.get(key, 0.0)]
    return notes, []


# Indicator names that say their own unit: 配备车辆数 → 辆, 服务周期 (a time indicator) → 天.
_NAME_UNITS: tuple[tuple[str, str], ...] = (("车辆数", "辆"), ("人次", "人次"), ("人数", "人"), ("户数", "户"),
                                             ("场次", "场"), ("次数", "次"), ("个数", "个"), ("天数", "天"))
_DAY_NAMES = ("周期", "工期", "时限", "天数")


def implied_unit(ind: NormIndicator) -> str:
    """The unit an indicator's name implies, or "" when the name does not say."""
    for word, unit in _NAME_UNITS:
        if ind.name.endswith(word):
            return unit
    if ind.level2 == "timeliness" and any(ind.name.endswith(w) for w in _DAY_NAMES):
        return "天"
    return ""


def rule_suggestions(inp: CritiqueInput) -> list[Suggestion]:
    """Concrete revisions the rules can derive by themselves (value fixes)."""
    out: list[Suggestion] = []
    inds = {i.index: i for i in inp.indicators}
    for f in inp.findings:
        ind = inds.get(f.indicator_index) if f.indicator_index is not None else None
        if ind is None:
            continue
        v = ind.value
        new = None
        if f.rule_id == "S-12":
            new = "=100%"
        elif f.rule_id == "S-05" and v.number is not None and v.number >= 100:
            new = "≥90%"
        elif f.rule_id == "S-03" and v.op and v.number is not None:
            flip = {">=": "≤", ">": "<", "<=": "≥", "<": ">"}[v.op] if v.op in {">=", ">", "<=", "<"} else None
            new = f"{flip}{v.number:g}{v.unit}" if flip else None
        elif f.rule_id == "S-18" and v.number is not None:
            unit = v.unit or implied_unit(ind)
            new = (f"≥{v.number:g}{unit}" if "成本" not in ind.name else f"≤{v.number:g}{unit}") if unit else None
        if new:
            out.append(Suggestion(action="revise", indicator_index=ind.index, level1=ind.level1_label,
                                  level2=ind.level2_label, name=ind.name, value=new, original=v.raw,
                                  reason=f"{RULES[f.rule_id].title}：{f.suggestion}", source="rules"))
    return out


def relevance_notes(inp: CritiqueInput) -> tuple[list[str], list[int]]:
    """What the relevance features saw beyond the rule findings (shown in the rationale), and the rows."""
    rows = inp.facts.ungrounded
    notes = []
    if rows:
        notes.append(f"{len(rows)}项指标（{_rows_label(inp, rows, 8)}）的名称与项目名称和目标没有共同的具体内容，"
                     "看不出衡量的是本项目的资金产出")
    ev = inp.evidence
    if ev.donor_overlap is not None and ev.donor_overlap >= DONOR_NOTE and ev.donor_id:
        other = f"「{ev.donor_project}」" if ev.donor_project else ev.donor_id
        notes.append(f"产出和效益指标与已批复项目{other}的指标高度相似，而该项目与本项目名称和目标不同，疑似照搬")
    return notes, rows


class OfflineCritic:
    """Rules + precedents + a learned linear scorer. Deterministic, no network."""

    name = "offline"

    def __init__(self, calibration: Calibration | None = None) -> None:
        self.calibration = calibration or load_calibration()

    def critique(self, inp: CritiqueInput) -> CritiqueResult:
        feats = extract(inp)
        levels = predict_levels(feats, self.calibration)
        dims = {}
        cal = self.calibration.dimensions
        extra = {"relevance": relevance_notes(inp), "suitability": suitability_notes(inp, cal["suitability"].coef),
                 "fund_fit": fund_notes(feats["fund_fit"], cal["fund_fit"].coef,
                                        has_products=bool(inp.facts.implied_totals))}
        for d in DIMENSION_KEYS:
            notes, rows = extra.get(d, ([], []))
            evidence = sorted({f.indicator_index for f in inp.findings
                               if f.dimension == d and f.indicator_index is not None} | set(rows))
            rules, all_warnings = scored_rules(feats[d], cal[d].coef)
            text = rationale(d, levels[d], inp.findings, notes, (rules | anchored_rules(feats[d], d), all_warnings))
            dims[d] = DimensionScore(score=level_to_score(levels[d]), level=levels[d], rationale=text,
                                     evidence=evidence)
        suggestions = rule_suggestions(inp) + list(inp.evidence.hints)
        return CritiqueResult(dimensions=Dimensions(**dims), suggestions=suggestions, backend=self.name,
                              scorer_version=SCORER_VERSION,
                              params={"scorer": SCORER_VERSION, "calibration": self.calibration.method or "fitted",
                                      "feature_version": self.calibration.feature_version})
