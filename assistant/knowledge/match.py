"""Sector knowledge applied to a draft: which sector(s) it belongs to, whether it has the physical-output indicator
its kind of project needs, and how its costs compare with published standards.

* Sectors: the library's aliases found in the name, goal and indicators, plus the similarity of the draft to each
  sector's indicators (dense vectors where an embedding engine runs, character bigrams otherwise). Below a confidence
  floor the answer is "unknown" and nothing sector-specific is said.
* Core quantity: a confident sector whose library lists quantity indicators (河道治理长度, 送戏村数…) while no
  indicator of the draft measures any of them.
* Standards: a cost indicator in a rate unit (元/人/年…) or the implied unit cost (budget ÷ the quantity in the
  standard's count unit, per year, month or day when that can be told) against a standard, cap, floor or typical
  level of the draft's sector whose item matches the draft; units are converted explicitly, a multi-year budget is
  never compared with a yearly figure, and unknown units stay silent.
In evaluation, library entries read from an excluded corpus record's own source are not used (leave-one-out).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from assistant.intake.values import parse_value
from assistant.knowledge.library import Library, LibraryIndicator, Sector, UnitCost, source_cn
from assistant.knowledge.units import convert, fmt_money, parse_rate, same_count
from assistant.models import KnowledgeEvidence, LibraryHint, NormIndicator, SectorMatch, StandardCheck, Target
from assistant.retrieve.dense import record_text

Vectorise = Callable[[Sequence[str]], np.ndarray]  # texts → L2-normalised rows

GENERIC_ALIASES = frozenset({"改造", "维修", "维护", "购置", "采购", "装备", "研究", "咨询", "督查", "报酬", "气象"})
CORE_CONFIDENCE = 0.6  # a sector this sure before its core indicators are asked for
MARGIN = 0.006  # how far the closest sector must stand out from the next one (dense cosine) to be named alone
# similarities, dense ones as cosines centred on the library's own mean (raw e5 cosines all sit near 0.9)
COVER = 0.33  # a draft indicator measures a library indicator from this similarity on
COVER_LEXICAL = 0.5  # the same with character bigrams (Dice)
IMPLIED_MATCH = 0.55  # the project is what a standard's item is about (budget ÷ quantity is held against it)
STATED_MATCH = 0.40  # a cost indicator is what a standard's item is about (by its own name, or with the project's)
IMPLIED_LEXICAL = 0.5
STATED_LEXICAL = 0.45
TIE = 0.06  # standards this close in similarity to the best one are tiers of one rule (一类/二类/三类培训…)
IMPLIED_TOLERANCE = 2.5  # implied unit cost this many times above a cap / below a floor before it is flagged
# unit-cost sector (unit_costs.jsonl) → library sectors it concerns
SECTOR_MAP: dict[str, tuple[str, ...]] = {
    "社会保障/社会救助": ("补助发放类",), "乡村振兴/雨露计划": ("补助发放类",), "社会保障/儿童福利": ("补助发放类",),
    "三公经费/培训费": ("培训/会议",), "三公经费/培训费(师资费)": ("培训/会议",), "三公经费/会议费": ("培训/会议",),
    "乡村振兴/培训": ("培训/会议", "乡村振兴产业扶持"), "卫生健康/基本公卫": ("基本公共卫生服务",),
    "卫生健康/医疗保障": ("基本公共卫生服务",), "教育/学生资助": ("学校建设/教育补助", "补助发放类"),
    "乡村振兴/教育帮扶": ("学校建设/教育补助", "补助发放类"), "林业/造林": ("绿化/造林",),
    "林业/退耕还林": ("绿化/造林",), "林业/森林抚育": ("绿化/造林",), "林业/生态护林员": ("绿化/造林",),
    "林业/公益林": ("绿化/造林",), "基层治理/村干部报酬": ("村干部报酬",), "基层治理/村级运转": ("村干部报酬",),
    "就业/公益性岗位": ("就业补贴",), "就业/社保补贴": ("就业补贴",), "就业/创业担保贷款": ("创业担保贷款",),
    "气象/人工影响天气": ("气象/人工增雨",), "信息化/建设": ("信息化",), "信息化/运维": ("信息化",),
    "信息化/安全": ("信息化",), "社会保障/居民养老": ("社会保障/养老服务",), "社会保障/残疾人康复": ("补助发放类",),
    "社会保障/残疾人": ("补助发放类",), "农业农村/人居环境(改厕)": ("农村人居环境",), "交通/公路": ("农村公路",),
    "农业/高标准农田": ("农田水利",), "三公经费/差旅费": (),
}


def bigrams(text: str) -> set[str]:
    t = re.sub(r"[\s\W\d_]+", "", text)
    return {t[i:i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def dice(a: str, b: str) -> float:
    x, y = bigrams(a), bigrams(b)
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else 0.0


def _library_sectors(std: UnitCost, names: Sequence[str]) -> list[str]:
    """The library sectors a standard concerns (by the map, by prefix, or by the same name for a bureau's own)."""
    wanted = SECTOR_MAP.get(std.sector, (std.sector,))
    return [n for n in names if any(n.startswith(w) or n == w for w in wanted if w)]


def period_years(target: Target) -> int:
    """How many calendar years the project period spans (1 when not told)."""
    years = sorted({int(y) for y in re.findall(r"(?:19|20)\d{2}", target.period or "")})
    if len(years) < 2:
        return 1
    months = re.findall(r"(?:19|20)\d{2}[.\-/年](\d{1,2})", target.period)
    if len(months) >= 2 and years[-1] - years[0] == 1 and int(months[-1]) < int(months[0]):
        return 1  # 2023.07–2024.01: within twelve months
    return years[-1] - years[0] + 1


@dataclass
class KnowledgeBase:
    """A library ready to match drafts: its texts, and their vectors when an embedding engine runs."""

    library: Library
    vectorise: Vectorise | None = None

    def __post_init__(self) -> None:
        self._indicators = [(s, i) for s in self.library.sectors for i in s.core_indicators]
        self._sector_names = [s.sector for s in self.library.sectors]
        self._ind_vec: np.ndarray | None = None
        self._std_vec: np.ndarray | None = None
        self._profile_vec: np.ndarray | None = None
        self._ind_raw: np.ndarray | None = None
        if self.vectorise is not None:
            self._ind_raw = self.vectorise([i.name for _, i in self._indicators])
            self._ind_mean, self._ind_vec = _centred(self._ind_raw)
            self._profile_vec = self.vectorise([f"{s.sector}：{'、'.join(s.aliases)}" for s in self.library.sectors])
            self._std_mean, self._std_vec = _centred(self.vectorise([u.item for u in self.library.standards]))

    # ------------------------------------------------------------------------------ sectors

    def _sector_vectors(self, excluded_sources: frozenset[str]) -> np.ndarray:
        """Per sector: its name and aliases plus the mean of its indicators (those read in excluded sources left
        out), L2-normalised."""
        assert self._profile_vec is not None and self._ind_vec is not None
        rows = []
        for k, sector in enumerate(self.library.sectors):
            members = [j for j, (sec, ind) in enumerate(self._indicators)
                       if sec is sector and ind.source not in excluded_sources]
            assert self._ind_raw is not None
            v = self._profile_vec[k] + (self._ind_raw[members].mean(axis=0) if members else 0.0)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)

    def classify(self, target: Target, indicators: list[NormIndicator], draft_vec: np.ndarray | None,
                 excluded_sources: frozenset[str] = frozenset()) -> list[SectorMatch]:
        """The draft's sector (one, or [] for an honest "unknown"): a library alias in the project name, or the
        closest sector by meaning when it stands out from the next one (or an alias in the goal or indicators
        agrees with it)."""
        name, goal = target.project_name, target.annual_goal
        inds = " ".join(i.name for i in indicators)
        alias = [sum(2.0 if a in name else 1.0 if a in goal else 0.5 if a in inds else 0.0
                     for a in s.aliases if len(a) >= 2) for s in self.library.sectors]
        in_name = [any(len(a) >= 2 and a in name and a not in GENERIC_ALIASES for a in s.aliases)
                   for s in self.library.sectors]
        if not self.library.sectors:
            return []
        if draft_vec is not None and self._profile_vec is not None:
            sims = self._sector_vectors(excluded_sources) @ draft_vec
        else:
            sims = np.array([max((dice(f"{name}{goal}", i.name) for i in s.core_indicators), default=0.0)
                             for s in self.library.sectors])
        order = np.argsort(-sims)
        top, second = int(order[0]), float(sims[order[1]]) if len(order) > 1 else 0.0
        margin = float(sims[top]) - second
        named = sorted((k for k in range(len(alias)) if in_name[k]), key=lambda k: (-alias[k], -sims[k]))
        if named:  # the project name says it
            k = int(named[0])
            return [SectorMatch(sector=self._sector_names[k], confidence=round(min(1.0, 0.6 + alias[k] / 10), 3),
                                by="名称")]
        if alias[top] >= 1.0 or margin >= MARGIN:
            conf = min(1.0, 0.4 + alias[top] / 10 + margin * 20)
            return [SectorMatch(sector=self._sector_names[top], confidence=round(conf, 3),
                                by="语义+别名" if alias[top] else ("语义" if draft_vec is not None else "词语"))]
        return []

    # ------------------------------------------------------------------------------ core quantity

    def _covered(self, indicators: list[NormIndicator], entries: list[int], vectors: np.ndarray | None) -> bool:
        """Whether a draft indicator measures one of `entries`: by meaning, or a quantity in the same count unit."""
        units = {u for j in entries if (u := _count_unit(self._indicators[j][1].typical_value))}
        if any(i.level2 == "quantity" and i.value.number and any(same_count(i.value.unit, u) for u in units)
               for i in indicators):
            return True
        if vectors is not None and self._ind_vec is not None:
            return bool(len(vectors)) and bool((self._centre_ind(vectors) @ self._ind_vec[entries].T).max() >= COVER)
        return any(dice(i.name, self._indicators[j][1].name) >= COVER_LEXICAL for i in indicators for j in entries)

    def _centre_ind(self, vectors: np.ndarray) -> np.ndarray:
        return _centred(vectors, self._ind_mean)[1]

    def core_quantity(self, sector: Sector, indicators: list[NormIndicator], vectors: np.ndarray | None,
                      excluded_sources: set[str]) -> tuple[bool, list[LibraryHint]]:
        """(whether the draft misses the sector's physical-output quantity, the library entries to cite). Said only
        where the library knows the sector's quantities from at least two sources."""
        entries = [j for j, (s, i) in enumerate(self._indicators)
                   if s is sector and i.level2 == "数量指标" and i.source not in excluded_sources and _countable(i)]
        if len({self._indicators[j][1].source for j in entries}) < 2:
            return False, []
        if self._covered(indicators, entries, vectors):
            return False, []
        return True, [indicator_hint(sector, self._indicators[j][1]) for j in _central(entries, self._ind_vec)[:3]]

    # ------------------------------------------------------------------------------ standards

    def _standard_sims(self, sectors: list[SectorMatch], texts: list[str], year: int | None) -> dict[int, np.ndarray]:
        """Standard index → its similarity to each of `texts`, for the standards of the draft's sectors in a rate
        unit the arithmetic understands (superseded ones left out, one version per item and scope)."""
        names = {m.sector for m in sectors}
        cands = [k for k, std in enumerate(self.library.standards) if not std.superseded
                 and parse_rate(std.unit) is not None and set(_library_sectors(std, self._sector_names)) & names]
        cands = _current_versions(self.library.standards, cands, year)
        if not cands or not texts:
            return {}
        if self.vectorise is not None and self._std_vec is not None:
            sims = _centred(self.vectorise(texts), self._std_mean)[1] @ self._std_vec[cands].T
            return {k: sims[:, n] for n, k in enumerate(cands)}
        return {k: np.array([dice(t, self.library.standards[k].item) for t in texts]) for k in cands}

    def _floors(self) -> tuple[float, float]:
        """(item similarity for the implied unit cost, for a stated cost indicator)."""
        return (IMPLIED_MATCH, STATED_MATCH) if self.vectorise is not None else (IMPLIED_LEXICAL, STATED_LEXICAL)

    def search(self, query: str, *, k: int = 10, sector: str | None = None) -> list[tuple[LibraryHint, float]]:
        """Library indicators and standards closest to `query` (by meaning, or by characters without an engine),
        optionally within one sector (a substring of its name)."""
        entries: list[tuple[LibraryHint, str]] = [(indicator_hint(s, i), i.name) for s, i in self._indicators]
        entries += [(standard_hint(u), u.item) for u in self.library.standards]
        keep = [n for n, (h, _) in enumerate(entries) if not sector or sector in h.sector]
        if not keep:
            return []
        if self.vectorise is not None and self._ind_raw is not None:
            q = self.vectorise([query])[0]
            texts = [entries[n][1] for n in keep]
            scores = self.vectorise(texts) @ q
        else:
            scores = np.array([dice(query, entries[n][1]) + (0.5 if query in entries[n][1] else 0.0) for n in keep])
        order = np.argsort(-scores)[:k]
        return [(entries[keep[i]][0], round(float(scores[i]), 4)) for i in order]

    def check(self, target: Target, indicators: list[NormIndicator], *,
              excluded_sources: frozenset[str] = frozenset()) -> KnowledgeEvidence:
        named = [i for i in indicators if i.name.strip()]
        draft_vec = self.vectorise([record_text(target)])[0] if self.vectorise is not None else None
        sectors = self.classify(target, named, draft_vec, excluded_sources)
        if not sectors:
            return KnowledgeEvidence(library_version=self.library.version)
        vecs = self.vectorise([i.name for i in named]) if self.vectorise is not None and named else None
        sector = self.library.sector(sectors[0].sector)
        missing, hints = (False, []) if sector is None or sectors[0].confidence < CORE_CONFIDENCE else \
            self.core_quantity(sector, named, vecs, set(excluded_sources))
        costs = [i for i in named if is_cost_row(i)]
        texts = [target.project_name, *(f"{target.project_name} {i.name}" for i in costs), *(i.name for i in costs)]
        sims = self._standard_sims(sectors, texts, project_year(target))
        floor_implied, floor = self._floors()
        stds = self.library.standards
        by_project = _bureau_first(stds, sorted((k for k in sims if sims[k][0] >= floor_implied), key=lambda k: -sims[k][0]))
        implied = _decide([(float(sims[k][0]), _implied(target, named, stds[k])) for k in by_project])
        checks = [implied] if implied is not None else []
        for n, ind in enumerate(costs, start=1):
            term = core_term(ind.name)
            best = {k: max(float(v[n]), float(v[n + len(costs)]),
                           floor + 0.05 if term and term in stds[k].item else 0.0) for k, v in sims.items()}
            ranked = _bureau_first(stds, sorted((k for k in best if best[k] >= floor), key=lambda k: -best[k]))
            stated = _decide([(best[k], _stated(ind, stds[k])) for k in ranked])
            if stated is not None:
                checks.append(stated)
        consulted = [c.standard for c in checks] + [standard_hint(stds[k]) for k in by_project[:4]]
        unique = list({(h.name, h.typical_value, h.note): h for h in consulted}.values())
        return KnowledgeEvidence(library_version=self.library.version, sectors=sectors, core_missing=missing,
                                 core_hints=hints, standards=unique[:5], checks=checks)


def _decide(ranked: list[tuple[float, Outcome]]) -> StandardCheck | None:
    """The best-matching standard whose units allow the arithmetic decides, with the standards as close to the
    draft as it (tiers of one rule whose tier the draft does not tell): a figure is flagged only when it breaks
    all of them, and held against the most lenient."""
    applicable = [(sim, o) for sim, o in ranked if o != _NOT_APPLICABLE]
    if not applicable:
        return None
    band = [o for sim, o in applicable if sim >= applicable[0][0] - TIE]
    broken = [o for o in band if isinstance(o, StandardCheck)]
    if len(broken) < len(band) or len({o.verdict for o in broken}) > 1:
        return None
    lenient = min(broken, key=lambda o: abs(math.log(o.ratio)) if o.ratio > 0 else math.inf)
    return lenient.model_copy(update={"tiers": len(band)})


_GENERIC_COST_WORDS = re.compile(r"标准|成本|人均|平均|单位|每人|每天|每生|综合|定额|控制|不超过|支出|金额|[\W\d_]+")


def core_term(name: str) -> str | None:
    """What a cost indicator is about, with the generic words taken off (培训费标准 → 培训费); None when under three
    characters remain (补助标准 says too little to name a standard)."""
    term = _GENERIC_COST_WORDS.sub("", name)
    return term if len(term) >= 3 else None


def _bureau_first(standards: Sequence[UnitCost], ranked: list[int]) -> list[int]:
    """A bureau's own standards, where any matches, decide alone (they win over the shipped ones)."""
    own = [k for k in ranked if standards[k].source_type == "bureau"]
    return own or ranked


def project_year(target: Target) -> int | None:
    """The budget year: the table's own, else the first year of the period or in the project name."""
    if target.year:
        return target.year
    found = re.findall(r"(?:19|20)\d{2}", f"{target.period} {target.project_name}")
    return int(found[0]) if found else None


def _current_versions(standards: Sequence[UnitCost], cands: list[int], year: int | None) -> list[int]:
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


def is_cost_row(ind: NormIndicator) -> bool:
    return ind.level1 == "cost" or "成本" in ind.name or "标准" in ind.name


def _centred(rows: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mean, rows centred on it and L2-normalised)."""
    m = rows.mean(axis=0) if mean is None else mean
    c = rows - m
    norms = np.linalg.norm(c, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m, c / norms


_COUNT_NAME = re.compile(r"数量|人数|次数|个数|户数|面积|长度|里程|场次|村数|人次|班次|天数|座数|台数|套数")


def _countable(ind: LibraryIndicator) -> bool:
    """A library quantity that counts physical output (a count unit, or a counting name without a value); many
    sources file rates such as 接种率 ≥90% under 数量指标."""
    if ind.typical_value:
        pv = parse_value(ind.typical_value)
        if pv.kind == "quantitative" and pv.unit:
            return pv.unit != "%" and not pv.unit.startswith(("元", "万元"))
    return bool(_COUNT_NAME.search(ind.name))


def _count_unit(value: str | None) -> str | None:
    pv = parse_value(value or "")
    return pv.unit if pv.kind == "quantitative" and pv.unit and pv.unit != "%" else None


def _central(entries: list[int], vectors: np.ndarray | None) -> list[int]:
    """Entries in order of how typical they are of their group (most similar to the others first)."""
    if vectors is None or len(entries) < 3:
        return entries
    sub = vectors[entries]
    return [entries[i] for i in np.argsort(-(sub @ sub.T).sum(axis=1))]


def indicator_hint(sector: Sector, ind: LibraryIndicator) -> LibraryHint:
    value = ind.typical_value if ind.typical_value and usable_value(ind.typical_value) else None
    return LibraryHint(sector=sector.sector, level1=ind.level1, level2=ind.level2, name=ind.name, typical_value=value,
                       seen_value=ind.typical_value, source=source_cn(ind.source), note=ind.explain)


def usable_value(value: str) -> bool:
    """A typical value that could stand as a target as written (not a placeholder, note or ≥100 %)."""
    pv = parse_value(value)
    if pv.kind not in {"quantitative", "deadline", "duration"} or "template_residue" in pv.flags or not pv.unit:
        return False
    return not (pv.unit == "%" and pv.number is not None and pv.number >= 100 and pv.op in {">=", ">", None})


def standard_hint(std: UnitCost) -> LibraryHint:
    return LibraryHint(sector=std.sector, level1="成本指标", level2="经济成本指标", name=std.item,
                       typical_value=std.level_text(), seen_value=std.quote, source=source_cn(std.source), note=std.cited())


# ---------------------------------------------------------------------------------- arithmetic


def _verdict(value: float, std: UnitCost, *, tolerance: float) -> tuple[Literal['above', 'below'], float] | None:
    """('above' | 'below', ratio) when `value` (in the standard's unit) breaks the standard, else None."""
    ref_high = std.high if std.high is not None else std.value
    ref_low = std.low if std.low is not None else std.value
    if std.kind == "cap" and ref_high:
        return ("above", value / ref_high) if value > ref_high * tolerance else None
    if std.kind == "floor" and ref_low:
        return ("below", value / ref_low) if value < ref_low / tolerance else None
    if ref_high and value > ref_high * tolerance:
        return "above", value / ref_high
    if ref_low and value < ref_low / tolerance:
        return "below", value / ref_low
    return None


def _quantity(indicators: list[NormIndicator], count: str) -> NormIndicator | None:
    for ind in indicators:
        v = ind.value
        if ind.level1 == "output" and v.kind == "quantitative" and v.number and v.number > 0 \
                and same_count(v.unit, count):
            return ind
    return None


def _days(indicators: list[NormIndicator]) -> NormIndicator | None:
    for ind in indicators:
        v = ind.value
        if v.number and v.number > 0 and v.unit in ("天", "日") and ind.level1 != "cost":
            return ind
    return None


_NOT_APPLICABLE = "n/a"
Outcome = StandardCheck | str | None  # a broken standard, _NOT_APPLICABLE, or None (applies and holds)


def _implied(target: Target, indicators: list[NormIndicator], std: UnitCost) -> Outcome:
    """Budget ÷ the quantity in the standard's count unit (÷ days or months when the standard is per day or month),
    held against the standard; _NOT_APPLICABLE when the units do not allow the arithmetic."""
    unit = parse_rate(std.unit)
    budget = target.amount_total_wan
    if unit is None or not budget or budget <= 0 or unit.count is None:
        return _NOT_APPLICABLE
    if unit.period is not None and period_years(target) > 1:
        return _NOT_APPLICABLE  # a multi-year total is never compared with a yearly figure
    qty = _quantity(indicators, unit.count)
    if qty is None or not qty.value.number:
        return _NOT_APPLICABLE
    yuan = budget * 1e4 / qty.value.number
    steps = [f"{budget:g}万元 ÷ {qty.value.number:g}{qty.value.unit}"]
    if unit.period == "天":
        days = _days(indicators)
        if days is None or not days.value.number:
            return _NOT_APPLICABLE
        yuan /= days.value.number
        steps.append(f"÷ {days.value.number:g}天")
    elif unit.period == "月":
        yuan /= 12
        steps.append("÷ 12个月")
    value = yuan / unit.to_yuan
    verdict = _verdict(value, std, tolerance=IMPLIED_TOLERANCE)
    if verdict is None:
        return None
    per = f"{unit.count}" + (f"·{unit.period}" if unit.period else "")
    return StandardCheck(standard=standard_hint(std), indicator_index=None, quantity_index=qty.index, value=round(value, 4),
                         unit=std.unit, verdict=verdict[0], ratio=round(verdict[1], 3),
                         arithmetic=" ".join(steps) + f" ≈ {fmt_money(yuan)}/{per}")


def _stated(ind: NormIndicator, std: UnitCost) -> Outcome:
    """A cost indicator stated in a rate unit, converted to the standard's unit and held against it."""
    unit = parse_rate(std.unit)
    v = ind.value
    own = parse_rate(v.unit) if v.kind == "quantitative" and v.number is not None else None
    if unit is None or own is None or v.number is None:
        return _NOT_APPLICABLE
    value = convert(v.number, own, unit)
    if value is None:
        return _NOT_APPLICABLE
    verdict = _verdict(value, std, tolerance=1.05)
    if verdict is None:
        return None
    shown = v.raw.strip() + (f"（折合 {value:.4g}{std.unit}）" if own != unit else "")
    return StandardCheck(standard=standard_hint(std), indicator_index=ind.index, value=round(value, 4), unit=std.unit,
                         verdict=verdict[0], ratio=round(verdict[1], 3), arithmetic=shown)
