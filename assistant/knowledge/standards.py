"""Costs against published standards: which standards may be held against a draft, the arithmetic, and when a
figure is reported. Pure functions over the library's entries and a draft's parsed indicators.

A figure is reported only when it breaks the standard under every reading of the draft (every quantity row in the
standard's count unit, every duration row) and breaks every standard that matches the draft about as well
(tiers such as 一类/二类/三类培训, or several places' figures): it is then held against the most lenient one. A
standard is held against a draft only where it can be: a national scope or a place the draft names; a cap, floor or
standard (a "typical" level or a scale reference is not a threshold); not historical, superseded or a partial share;
a subsidy rate only against a subsidy. Entries read in third-party copies give a notice, not a warning (the library's
README: leads to confirm before an opinion cites them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

from assistant.intake.quantities import durations, quantities_in
from assistant.intake.units import RateUnit, convert, fmt_money, fmt_number, parse_rate
from assistant.knowledge.library import UnitCost, source_cn, unit_cn
from assistant.models import LibraryHint, NormIndicator, StandardCheck, Target

IMPLIED_TOLERANCE = 2.5  # budget ÷ quantity this many times off a standard before it is reported
STATED_TOLERANCE = {"cap": 1.05, "floor": 1.05, "standard": 1.5}  # a stated rate against each kind
CHECKED_KINDS = frozenset({"cap", "floor", "standard"})
CONFIRMED_SOURCES = frozenset({"official_gov_site", "official_doc_copy", "official_news_copy", "news", "news_mirror",
                               "news_copy"})
_NOT_A_THRESHOLD = re.compile(r"historical|not a benchmark|shares|no total|context only|scale reference", re.I)
_SUBSIDY = re.compile(r"补助|补贴|资助|救助|奖补|报酬|津贴|助学|生活费|护理费|抚恤")

Outcome = StandardCheck | Literal["n/a"] | None  # broken, not applicable, or applies and holds
NOT_APPLICABLE: Literal["n/a"] = "n/a"


# ---------------------------------------------------------------------------------- which standards apply


def checkable(std: UnitCost) -> bool:
    """A threshold that findings may rest on: a rate unit, a cap/floor/standard, not historical or partial."""
    return (std.kind in CHECKED_KINDS and parse_rate(std.unit) is not None and not std.superseded
            and not _NOT_A_THRESHOLD.search(std.note))


def confirmed(std: UnitCost) -> bool:
    return std.bureau or std.source_type in CONFIRMED_SOURCES


_SCOPE_PLACE = re.compile(r"^(?:province|city|county|district|local:?)\s+(?:in\s+)?([^\s(（,，;；]+)", re.I)


def scope_place(scope: str) -> str | None:
    """The place a local standard applies to, without its administrative suffix (湖北, 柳州, 平利, 合肥市瑶海);
    '' for a national scope; None when a local scope does not name its place."""
    s = scope.strip()
    if not s or s.lower().startswith("national"):
        return ""
    m = _SCOPE_PLACE.match(s)
    if m is None or "unnamed" in s[:40]:
        return None
    return re.sub(r"(省|市|县|区|自治区|经济技术开发区)$", "", m.group(1)) or None


def applies_to(std: UnitCost, target: Target) -> bool:
    """National standards apply everywhere, a bureau's own to its reviews, a local one where the draft names the
    place (region, department, unit or project name)."""
    if std.bureau:
        return True
    place = scope_place(std.scope)
    if place == "":
        return True
    if place is None:
        return False
    where = f"{target.region}{target.department}{target.implementing_unit}{target.project_name}"
    return place in where


def subsidy_fits(std: UnitCost, text: str) -> bool:
    """A subsidy rate (造林补助 元/亩) is no yardstick for a full cost (造林成本): only for a subsidy."""
    return not _SUBSIDY.search(std.item) or bool(_SUBSIDY.search(text))


def current_versions(standards: Sequence[UnitCost], cands: list[int], year: int | None) -> list[int]:
    """One version per (item, scope): the latest in force in `year` (the latest of all when the year is unknown,
    the earliest when all are later)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for k in cands:
        groups.setdefault((standards[k].item, standards[k].scope), []).append(k)
    keep = []
    for members in groups.values():
        dated = sorted(members, key=lambda k: standards[k].year or 0)
        in_force = [k for k in dated if year is None or (standards[k].year or 0) <= year]
        keep.append(in_force[-1] if in_force else dated[0])
    return sorted(keep)


def bureau_first(standards: Sequence[UnitCost], ranked: list[int]) -> list[int]:
    """A bureau's own standards, where any matches, decide alone (they win over the shipped ones)."""
    own = [k for k in ranked if standards[k].bureau]
    return own or ranked


_GENERIC_COST_WORDS = re.compile(r"标准|成本|人均|平均|单位|每人|每天|每生|综合|定额|控制|不超过|支出|金额|[\W\d_a-zA-Z]+")


def core_term(name: str) -> str | None:
    """What a cost indicator is about, with the generic words taken off (培训费标准 → 培训费); None when under three
    characters remain (补助标准 says too little to name a standard)."""
    term = _GENERIC_COST_WORDS.sub("", name)
    return term if len(term) >= 3 else None


def item_key(item: str) -> str | None:
    """What a standard is about, for finding it by the project's name: the item's first phrase without generic
    words and a trailing 费 (培训费综合定额 → 培训; 会议费综合定额 一类会议 → 会议; 生态护林员 补助 → 生态护林员)."""
    head = re.split(r"[\s(（]", item.strip(), maxsplit=1)[0]
    key = re.sub(r"综合定额|定额|标准|补助|补贴|费率|单价|平均造价|基本|国家|全国|最低|人均|财政", "", head)
    key = re.sub(r"费$", "", key)
    return key if len(key) >= 2 else None


# ---------------------------------------------------------------------------------- periods and readings


def project_year(target: Target) -> int | None:
    """The budget year: the table's own, else the first year of the period or in the project name."""
    if target.year:
        return target.year
    found = re.findall(r"(?:19|20)\d{2}", f"{target.period} {target.project_name}")
    return int(found[0]) if found else None


_YEAR_MONTH = re.compile(r"((?:19|20)\d{2})\s*[.\-/年]\s*(\d{1,2})")


def period_months(target: Target) -> int | None:
    """Months the project period covers, when it can be told (2024年7月-12月 → 6; 2023.07-2024.01 → 7; 2021-2023 → 36);
    None when the period is not given."""
    text = target.period or ""
    pairs = [(int(y), int(m)) for y, m in _YEAR_MONTH.findall(text) if 1 <= int(m) <= 12]
    if len(pairs) >= 2:
        (y1, m1), (y2, m2) = pairs[0], pairs[-1]
        return max(1, (y2 - y1) * 12 + m2 - m1 + 1)
    if len(pairs) == 1:
        tail = re.search(r"[-—~至到]\s*(\d{1,2})\s*月", text[text.find(str(pairs[0][0])):])
        if tail and 1 <= int(tail.group(1)) <= 12:
            return max(1, int(tail.group(1)) - pairs[0][1] + 1)
    years = sorted({int(y) for y in re.findall(r"(?:19|20)\d{2}", text)})
    if years:
        return 12 * (years[-1] - years[0] + 1)
    return None


def period_years(target: Target) -> int:
    """How many calendar years' worth the project period spans (1 when not told or within twelve months)."""
    months = period_months(target)
    return 1 if months is None or months <= 12 else math.ceil(months / 12)


# ---------------------------------------------------------------------------------- arithmetic


def standard_hint(std: UnitCost) -> LibraryHint:
    return LibraryHint(sector=std.sector, level1="成本指标", level2="经济成本指标", name=std.item,
                       typical_value=std.level_text(), seen_value=std.quote, source=source_cn(std.source),
                       note=std.cited(), own=std.bureau, kind="standard")


def verdict(value: float, std: UnitCost, *, tolerance: float) -> tuple[Literal["above", "below"], float] | None:
    """('above' | 'below', ratio) when `value` (in the standard's unit) breaks it: a cap only upwards, a floor only
    downwards, a standard either way."""
    high = std.high if std.high is not None else std.value
    low = std.low if std.low is not None else std.value
    if std.kind != "floor" and high and value > high * tolerance:
        return "above", value / high
    if std.kind != "cap" and low and value < low / tolerance:
        return "below", value / low
    return None


def _readings(target: Target, indicators: Sequence[NormIndicator], unit: RateUnit
              ) -> list[tuple[float, str, int]] | None:
    """Every (元 per count per period, arithmetic, quantity row) the draft supports; None when none."""
    budget = target.amount_total_wan
    months = period_months(target)
    if not budget or budget <= 0 or unit.count is None:
        return None
    if months is not None and months > 12 and unit.period is not None:
        return None  # a multi-year total is never compared with a yearly figure
    qtys = quantities_in(indicators, unit.count)
    if not qtys:
        return None
    out = []
    for qty, n in qtys:
        base = f"{fmt_number(budget)}万元 ÷ {fmt_number(qty.value.number or 0)}{qty.value.unit}"
        per_count = budget * 1e4 / n
        if unit.period == "天":
            out += [(per_count / (d.value.number or 1), f"{base} ÷ {fmt_number(d.value.number or 0)}天", qty.index)
                    for d in durations(indicators)]
        elif unit.period == "月":
            m = months or 12
            out.append((per_count / m, f"{base} ÷ {m}个月", qty.index))
        elif unit.period == "年" and months is not None and months < 12:
            out.append((per_count * 12 / months, f"{base} ÷ {months}个月 × 12", qty.index))
        else:
            out.append((per_count, base, qty.index))
    return out or None


def implied(target: Target, indicators: Sequence[NormIndicator], std: UnitCost) -> Outcome:
    """Budget ÷ quantity (÷ days, per month or per year as the standard is) held against `std`; reported only when
    every reading of the draft breaks it the same way, with the reading closest to the standard."""
    unit = parse_rate(std.unit)
    readings = _readings(target, indicators, unit) if unit is not None else None
    if unit is None or readings is None:
        return NOT_APPLICABLE
    results = [(verdict(yuan / unit.to_yuan, std, tolerance=IMPLIED_TOLERANCE), yuan, steps, q)
               for yuan, steps, q in readings]
    if any(v is None for v, *_ in results) or len({v[0] for v, *_ in results if v}) > 1:
        return None
    v, yuan, steps, q = min(results, key=lambda r: abs(math.log(r[0][1])) if r[0] and r[0][1] > 0 else math.inf)
    assert v is not None
    per = (unit.count or "") + (f"·{unit.period}" if unit.period else "")
    return StandardCheck(standard=standard_hint(std), indicator_index=None, quantity_index=q,
                         value=round(yuan / unit.to_yuan, 4), unit=std.unit, verdict=v[0], ratio=round(v[1], 3),
                         arithmetic=f"{steps} ≈ {fmt_money(yuan)}/{per}", confirmed=confirmed(std))


def stated(ind: NormIndicator, std: UnitCost) -> Outcome:
    """A cost indicator in a rate unit, converted to the standard's unit and held against it."""
    unit = parse_rate(std.unit)
    v = ind.value
    own = parse_rate(v.unit) if v.kind == "quantitative" and v.number is not None else None
    if unit is None or own is None or v.number is None:
        return NOT_APPLICABLE
    value = convert(v.number, own, unit)
    if value is None:
        return NOT_APPLICABLE
    found = verdict(value, std, tolerance=STATED_TOLERANCE.get(std.kind, 1.5))
    if found is None:
        return None
    shown = v.raw.strip() + (f"（折合 {fmt_number(value)}{unit_cn(std.unit)}）" if own != unit else "")
    return StandardCheck(standard=standard_hint(std), indicator_index=ind.index, value=round(value, 4), unit=std.unit,
                         verdict=found[0], ratio=round(found[1], 3), arithmetic=shown, confirmed=confirmed(std))


def decide(ranked: list[tuple[float, Outcome]]) -> StandardCheck | None:
    """The applicable standards that match the draft are alternatives it does not choose between (classes of
    training, places, tiers): a figure is reported only when it breaks all of them the same way, against the most
    lenient."""
    band = [o for _, o in ranked if o != NOT_APPLICABLE]
    if not band:
        return None
    broken = [o for o in band if isinstance(o, StandardCheck)]
    if len(broken) < len(band) or len({o.verdict for o in broken}) > 1:
        return None
    lenient = min(broken, key=lambda o: abs(math.log(o.ratio)) if o.ratio > 0 else math.inf)
    return lenient.model_copy(update={"tiers": len(band)})
