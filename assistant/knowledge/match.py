"""Sector knowledge applied to a draft: which sector(s) it belongs to, whether it has the physical-output indicator
its kind of project needs, and how its costs compare with published standards.

* Sectors: the library's aliases found in the name, goal and indicators, plus the similarity of the draft to each
  sector's indicators (dense vectors where an embedding engine runs, character bigrams otherwise). Below a confidence
  floor the answer is "unknown" and nothing sector-specific is said.
* Core quantity: a confident sector whose library lists physical quantity indicators (河道治理长度, 送戏村数…) while
  the draft has no output row counting anything physical (only rates, money or words).
* Standards: a cost indicator in a rate unit (元/人/年…) or the implied unit cost (budget ÷ the quantity in the
  standard's count unit, per year, month or day when that can be told) against a standard, cap, floor or typical
  level of the draft's sector whose item matches the draft; units are converted explicitly, a multi-year budget is
  never compared with a yearly figure, and unknown units stay silent.
In evaluation, library entries read from an excluded corpus record's own source are not used (leave-one-out).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.intake.quantities import is_count_unit
from assistant.intake.values import parse_value
from assistant.knowledge.library import Library, LibraryIndicator, Sector, UnitCost, source_cn
from assistant.knowledge.standards import (
    applies_to,
    bureau_first,
    checkable,
    core_term,
    current_versions,
    decide,
    implied,
    item_key,
    project_year,
    standard_hint,
    stated,
    subsidy_fits,
)
from assistant.models import KnowledgeEvidence, LibraryHint, NormIndicator, SectorMatch, StandardCheck, Target
from assistant.retrieve.dense import record_text

Vectorise = Callable[[Sequence[str]], np.ndarray]  # texts → L2-normalised rows

GENERIC_ALIASES = frozenset({"改造", "维修", "维护", "购置", "采购", "装备", "研究", "咨询", "督查", "报酬", "气象"})
CORE_CONFIDENCE = 0.6  # a sector this sure before its core indicators are asked for
MARGIN = 0.006  # how far the closest sector must stand out from the next one (dense cosine) to be named alone
# similarities, dense ones as cosines centred on the library's own mean (raw e5 cosines all sit near 0.9)
SEARCH_FLOOR = 0.28  # centred cosine of a search hit (unrelated text scores under 0.2)
SEARCH_FLOOR_LEXICAL = 0.25
IMPLIED_MATCH = 0.55  # the project is what a standard's item is about (budget ÷ quantity is held against it)
STATED_MATCH = 0.40  # a cost indicator is what a standard's item is about (by its own name, or with the project's)
IMPLIED_LEXICAL = 0.5
STATED_LEXICAL = 0.45
# unit-cost sector (unit_costs.jsonl) → library sectors it concerns
SECTOR_MAP: dict[str, tuple[str, ...]] = {
    "社会保障/社会救助": ("补助发放类",), "乡村振兴/雨露计划": ("补助发放类",), "社会保障/儿童福利": ("补助发放类",),
    "三公经费/培训费": ("培训/会议",), "三公经费/培训费(师资费)": ("培训/会议",), "三公经费/会议费": ("培训/会议",),
    "乡村振兴/培训": ("培训/会议", "乡村振兴产业扶持"), "卫生健康/基本公卫": ("基本公共卫生服务",),
    "卫生健康/医疗保障": ("基本公共卫生服务", "补助发放类"), "教育/学生资助": ("学校建设/教育补助", "补助发放类"),
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
        self._search: tuple[np.ndarray, np.ndarray] | None = None
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
        by_standard = self._sectors_named_by_standards(name)
        in_name = [any(len(a) >= 2 and a in name and a not in GENERIC_ALIASES for a in s.aliases)
                   or s.sector in by_standard for s in self.library.sectors]
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

    def _sectors_named_by_standards(self, name: str) -> set[str]:
        """Library sectors of the standards whose subject the project name states (生态护林员, 营养改善计划)."""
        out: set[str] = set()
        for std in self.library.standards:
            key = item_key(std.item)
            if key and len(key) >= 3 and key in name:
                out.update(_library_sectors(std, self._sector_names))
        return out

    # ------------------------------------------------------------------------------ core quantity

    @staticmethod
    def _has_physical_quantity(indicators: list[NormIndicator]) -> bool:
        """Whether an output row counts something physical (500人, 8个, 12公里, 1万亩): then the draft has a quantity
        indicator, whichever library entry it corresponds to, and K-01 stays silent."""
        return any(i.level1 == "output" and i.value.kind == "quantitative" and i.value.number
                   and (is_count_unit(i.value.unit) or i.value.unit.startswith("万") and is_count_unit(i.value.unit[1:]))
                   for i in indicators)

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
        if self._has_physical_quantity(indicators):
            return False, []
        hints, seen = [], set()
        for j in _central(entries, self._ind_vec):
            key = name_key(self._indicators[j][1].name)
            if key not in seen:
                seen.add(key)
                hints.append(indicator_hint(sector, self._indicators[j][1]))
        return True, hints[:3]

    # ------------------------------------------------------------------------------ standards

    def _standard_sims(self, sectors: list[SectorMatch], target: Target, texts: list[str]) -> dict[int, np.ndarray]:
        """Standard index → its similarity to each of `texts`, for the standards that may be held against this
        draft: of its sectors, checkable (see standards.checkable), in force in its year, for its place."""
        names = {m.sector for m in sectors}
        stds = self.library.standards
        cands = [k for k, std in enumerate(stds) if checkable(std) and applies_to(std, target)
                 and set(_library_sectors(std, self._sector_names)) & names]
        cands = current_versions(stds, cands, project_year(target))
        if not cands or not texts:
            return {}
        if self.vectorise is not None and self._std_vec is not None:
            sims = _centred(self.vectorise(texts), self._std_mean)[1] @ self._std_vec[cands].T
            return {k: sims[:, n] for n, k in enumerate(cands)}
        return {k: np.array([dice(t, stds[k].item) for t in texts]) for k in cands}

    def _floors(self) -> tuple[float, float]:
        """(item similarity for the implied unit cost, for a stated cost indicator)."""
        return (IMPLIED_MATCH, STATED_MATCH) if self.vectorise is not None else (IMPLIED_LEXICAL, STATED_LEXICAL)

    def _checks(self, target: Target, named: list[NormIndicator], sectors: list[SectorMatch]
                ) -> tuple[list[StandardCheck], list[int]]:
        """(the standards broken, the standards that concern the project as a whole)."""
        costs = [i for i in named if is_cost_row(i)]
        texts = [target.project_name, *(f"{target.project_name} {i.name}" for i in costs), *(i.name for i in costs)]
        sims = self._standard_sims(sectors, target, texts)
        floor_implied, floor = self._floors()
        stds = self.library.standards
        name = target.project_name
        project = {k: max(float(v[0]), floor_implied if (key := item_key(stds[k].item)) and key in name else 0.0)
                   for k, v in sims.items() if subsidy_fits(stds[k], name)}
        by_project = bureau_first(stds, sorted((k for k in project if project[k] >= floor_implied),
                                               key=lambda k: -project[k]))
        found = decide([(project[k], implied(target, named, stds[k])) for k in by_project])
        checks = [found] if found is not None else []
        for n, ind in enumerate(costs, start=1):
            term = core_term(ind.name)
            best = {k: max(float(v[n]), float(v[n + len(costs)]), floor + 0.05 if term and term in stds[k].item else 0.0)
                    for k, v in sims.items() if subsidy_fits(stds[k], ind.name)}
            ranked = bureau_first(stds, sorted((k for k in best if best[k] >= floor), key=lambda k: -best[k]))
            found = decide([(best[k], stated(ind, stds[k])) for k in ranked])
            if found is not None:
                checks.append(found)
        return checks, by_project

    def search(self, query: str, *, k: int = 10, sector: str | None = None) -> list[tuple[LibraryHint, float]]:
        """Library indicators and standards closest to `query` (by meaning, or by characters without an engine),
        optionally within one sector (a substring of its name)."""
        entries: list[tuple[LibraryHint, str]] = [(indicator_hint(s, i), i.name) for s, i in self._indicators]
        entries += [(standard_hint(u), u.item) for u in self.library.standards]
        keep = [n for n, (h, _) in enumerate(entries) if not sector or sector in h.sector]
        if not keep:
            return []
        contains = np.array([len(query) >= 2 and query in entries[n][1] for n in keep], dtype=float)
        if self.vectorise is not None and self._ind_raw is not None:
            if self._search is None:  # every entry's vector, centred on their mean (raw e5 cosines all sit near 0.8)
                self._search = _centred(self.vectorise([t for _, t in entries]))
            mean, matrix = self._search
            scores = matrix[keep] @ _centred(self.vectorise([query]), mean)[1][0] + 0.3 * contains
            floor = SEARCH_FLOOR
        else:
            scores = np.array([dice(query, entries[n][1]) for n in keep]) + 0.5 * contains
            floor = SEARCH_FLOOR_LEXICAL
        order = [i for i in np.argsort(-scores)[:k] if scores[i] >= floor]  # nothing rather than unrelated entries
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
        checks, by_project = self._checks(target, named, sectors)
        stds = self.library.standards
        consulted = [c.standard for c in checks] + [standard_hint(stds[k]) for k in by_project[:4]]
        unique = list({(h.name, h.typical_value, h.note): h for h in consulted}.values())
        return KnowledgeEvidence(library_version=self.library.version, sectors=sectors, core_missing=missing,
                                 core_hints=hints, standards=unique[:5], checks=checks)


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


def name_key(name: str) -> str:
    """An indicator name compared as a reader would: full/half-width and spacing ignored (培训班次（会议次数） =
    培训班次(会议次数))."""
    return re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", name))


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
