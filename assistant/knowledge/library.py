"""The sector indicator library (分行业分领域共性指标) and the unit-cost standards (支出标准): shipped, sourced data
(knowledge/ at the top of the checkout, `assistant._knowledge` in a wheel) plus a bureau's own imported files, which
win over the shipped entries (an indicator of the same sector and name replaces the shipped one; a bureau standard
that matches a draft decides alone) and may be limited to one rule profile.

Every entry keeps its source (and, for standards, the exact quote and the kind of source), so a finding that uses it
can cite it. Loading validates everything first and loads nothing half-way: a bad line raises `InputError` naming the
file, line and field, in Chinese.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from assistant.errors import InputError
from assistant.labels import VALIDATION_CN
from assistant.models import Strict
from assistant.settings import DATA_DIR, IN_CHECKOUT, PACKAGE_DIR, REPO_DIR

SHIPPED_DIR = REPO_DIR / "knowledge" if IN_CHECKOUT else PACKAGE_DIR / "_knowledge"
LIBRARY_FILE = "indicator_library.jsonl"
STANDARDS_FILE = "unit_costs.jsonl"
CITABLE = frozenset({"official_gov_site", "official_doc_copy", "official_news_copy"})  # see knowledge/README.md
SOURCE_TYPE_CN = {"official_gov_site": "政府网站原文", "official_doc_copy": "官方文件转载", "official_news_copy": "官方新闻转载",
                  "news": "新闻报道", "news_mirror": "新闻转载", "news_copy": "新闻转载", "third_party_copy": "第三方转载",
                  "third_party_qa": "第三方问答", "repo_note": "资料摘录", "bureau": "本单位导入"}
Kind = Literal["standard", "cap", "floor", "typical"]
KIND_CN = {"standard": "标准", "cap": "上限", "floor": "下限", "typical": "一般水平"}


_SCOPE_LEVEL = {"national": "全国", "province": "省级", "city": "市级", "county": "县级", "district": "区级",
                "local:": "地方", "local": "地方"}
_SCOPE_WORDS = {"unnamed": "未注明地名", "reference": "参考水平", "average": "平均水平", "report": "据报道",
                "inferred": "推断", "as encoded": "原文如此", "in": ""}


def scope_cn(scope: str) -> str:
    """「national (中央和国家机关)」→「全国（中央和国家机关）」: the library's English scope words in Chinese."""
    text = scope.strip()
    if not text:
        return "适用范围未注明"
    head, _, rest = text.partition(" ")
    level = _SCOPE_LEVEL.get(head.lower())
    if level is None:
        head, rest = "", text
    for en, cn in _SCOPE_WORDS.items():
        rest = re.sub(rf"\b{en}\b", cn, rest)
    rest = re.sub(r"\s*\(\s*", "（", rest).replace(")", "）").replace("（）", "").strip(" ,，")
    rest = re.sub(r"（\s*[,，]\s*", "（", rest).replace("'", "").replace(", ", "，")
    return f"{level}{'：' + rest if rest and not rest.startswith('（') else rest}" if level else rest


_UNIT_CN = ((r"^% of (.+?)(?: \(as encoded\))?$", r"%（占\1）"), (r"^fraction of (.+)$", r"（\1的比例）"),
            (r"^formula \((.+)\)$", r"\1（按公式计算）"), (r"^rule \((.+)\)$", r"（规则：\1）"),
            (r"^倍 \(of (.+)\)$", r"倍（\1的倍数）"), (r"\s*\(increase over prior year\)$", r"（比上年增加）"),
            (r"\s*\(tied to (.+)\)$", r"（与\1挂钩）"), (r"\s*\(province total\)$", r"（全省合计）"),
            (r"\s*\(一次性\)$", r"（一次性）"))


def unit_cn(unit: str) -> str:
    """The library's unit as users read it (「% of 综合定额」→「%（占综合定额）」)."""
    text = unit.strip()
    for pattern, repl in _UNIT_CN:
        text = re.sub(pattern, repl, text)
    return text


def source_cn(source: str) -> str:
    """A source as users see it: the address, and the document's title when the note names one in 《》."""
    url = re.search(r"https?://\S+", source)
    title = re.search(r"《[^》]+》", source)
    if url is not None:
        return url.group(0) + (f" {title.group(0)}" if title else "")
    text = source.strip()
    latin = sum(ch.isascii() and ch.isalpha() for ch in text)
    if re.search(r"[/\\]", text) or latin > len(text) / 3:  # a file path or an English note, not an address
        return "资料摘录（无公开网址）" + (f" {title.group(0)}" if title else "")
    return text


class LibraryIndicator(Strict):
    """One indicator of a sector, as read in one source (`typical_value` is an example seen, not a threshold)."""

    level1: str
    level2: str
    name: str = Field(min_length=1)
    typical_value: str | None = None
    explain: str = ""
    source: str = ""
    evidence: str = ""

    @field_validator("name", "level1", "level2")
    @classmethod
    def _stripped(cls, v: str) -> str:
        return v.strip()


class Sector(Strict):
    sector: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    core_indicators: list[LibraryIndicator] = Field(default_factory=list)
    notes: str = ""
    profile: str | None = None  # a bureau's entry limited to one rule profile


class UnitCost(Strict):
    """A published expenditure standard, cap, floor or typical level, with its source and the exact phrase read."""

    item: str = Field(min_length=1)
    sector: str = ""
    unit: str = Field(min_length=1)
    value: float | None = None
    low: float | None = None
    high: float | None = None
    scope: str = ""
    year: int | None = None
    kind: Kind = "standard"
    source: str = ""
    quote: str = ""
    evidence: str = ""
    source_type: str = ""
    source_key: str = ""
    via: str = ""
    components: dict[str, Any] | None = None
    also_seen: str = ""
    note: str = ""
    bureau: bool = False  # read from a bureau's imported file (wins over the shipped standards)
    profile: str | None = None

    @field_validator("value", "low", "high")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and (not math.isfinite(v) or v < 0):
            raise ValueError("应为不小于 0 的数字")
        return v

    @property
    def citable(self) -> bool:
        return self.bureau or self.source_type in CITABLE

    @property
    def superseded(self) -> bool:
        """Marked in the library as replaced by a later rule (kept for the record, never applied)."""
        return any(w in self.item for w in ("已被", "已废止", "旧标准", "失效"))

    def level_text(self) -> str:
        """「760元/人天」, 「100–120元/人/天」 (the published figure with its unit)."""
        unit = unit_cn(self.unit)
        if self.value is not None:
            return f"{self.value:g}{unit}"
        if self.low is not None and self.high is not None:
            return f"{self.low:g}–{self.high:g}{unit}"
        if self.high is not None:
            return f"≤{self.high:g}{unit}"
        return f"≥{self.low:g}{unit}" if self.low is not None else unit

    def cited(self) -> str:
        """Where the figure comes from: scope, year, kind of source (users must see how reliable it is)."""
        year = f"{self.year}年" if self.year else "年份未注明"
        kind = "本单位导入" if self.bureau else SOURCE_TYPE_CN.get(self.source_type, self.source_type or "未注明")
        return f"{scope_cn(self.scope)}，{year}，来源：{kind}"


class Library(Strict):
    sectors: list[Sector] = Field(default_factory=list)
    standards: list[UnitCost] = Field(default_factory=list)
    version: str = ""

    def for_profile(self, profile: str | None) -> Library:
        """The entries a review with `profile` uses (bureau entries limited to another profile are left out)."""
        keep = lambda x: x.profile is None or x.profile == profile  # noqa: E731
        own = {s.sector for s in self.sectors if profile is not None and s.profile == profile}
        sectors = [s for s in self.sectors if keep(s) and not (s.profile is None and s.sector in own)]
        return Library(sectors=sectors, standards=[u for u in self.standards if keep(u)], version=self.version)

    def sector(self, name: str) -> Sector | None:
        return next((s for s in self.sectors if s.sector == name), None)


_FIELD_CN = {"sector": "行业", "aliases": "别名", "core_indicators": "指标", "name": "指标名称", "level1": "一级指标",
             "level2": "二级指标", "typical_value": "参考值", "item": "支出项目", "unit": "计量单位", "value": "标准值",
             "low": "下限", "high": "上限", "kind": "类型", "year": "年度", "scope": "适用范围", "source": "来源"}


def _validate(kind: type[Sector] | type[UnitCost], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise InputError("应为一个 JSON 对象", where=where)
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise InputError(_explain(exc), where=where) from None


def _explain(exc: ValidationError) -> str:
    """Chinese, with the library's own field names (标准值, not the target's 指标值)."""
    msgs = []
    for e in exc.errors()[:3]:
        names = [f"{p}（{_FIELD_CN[p]}）" if isinstance(p, str) and p in _FIELD_CN else str(p) for p in e["loc"]]
        why = str((e.get("ctx") or {}).get("error") or "") if e["type"] == "value_error" else ""
        if e["loc"] and e["loc"][-1] == "kind":
            why = "应为 standard、cap、floor 或 typical（标准、上限、下限、一般水平）"
        msgs.append(f"字段 {'.'.join(names)} {why or VALIDATION_CN.get(e['type'], e['msg'])}")
    return "；".join(msgs)


def parse_lines(lines: Iterable[tuple[str, str]], where_of: dict[int, str] | None = None
                ) -> tuple[list[Sector], list[UnitCost]]:
    """(JSON text, where) lines → sectors and standards; each line is one or the other (told by its fields). Any
    bad line raises before anything is returned. `where_of` receives id(entry) → its line, for later messages."""
    from assistant.intake.reader import load_json

    sectors: list[Sector] = []
    standards: list[UnitCost] = []
    for text, where in lines:
        if not text.strip():
            continue
        data = load_json(text, where=where, with_line=False)
        if isinstance(data, dict) and "core_indicators" in data:
            sectors.append(_validate(Sector, data, where))
            if where_of is not None:
                where_of.update({id(i): where for i in sectors[-1].core_indicators})
        elif isinstance(data, dict) and "item" in data:
            standards.append(_validate(UnitCost, data, where))
            if where_of is not None:
                where_of[id(standards[-1])] = where
        else:
            raise InputError("既不是行业指标（需要 sector 和 core_indicators）也不是支出标准（需要 item 和 unit）",
                             where=where)
    return sectors, standards


def _jsonl(path: Path) -> Iterator[tuple[str, str]]:
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        yield line, f"{path.name} 第{n}行"


def imported_dir(db_path: Path | None = None) -> Path:
    """Where a bureau's own library files live (beside the database)."""
    return (db_path.parent if db_path is not None else DATA_DIR) / "knowledge"


def merge(base: Library, extra_sectors: list[Sector], extra_standards: list[UnitCost]) -> Library:
    """`base` with a bureau's entries: a bureau sector of the same name adds its indicators and replaces shipped ones
    of the same name; bureau standards are added (when one matches a draft, it decides alone: see match.py)."""
    sectors = {(s.sector, s.profile): s.model_copy(deep=True) for s in base.sectors}
    for s in extra_sectors:
        key = (s.sector, s.profile)
        old = sectors.get(key) or sectors.get((s.sector, None))
        if old is None:
            sectors[key] = s
            continue
        names = {i.name for i in s.core_indicators}
        kept = [i for i in old.core_indicators if i.name not in names]
        sectors[key] = old.model_copy(update={"core_indicators": [*s.core_indicators, *kept], "profile": s.profile,
                                              "aliases": list(dict.fromkeys([*s.aliases, *old.aliases]))})
    # shipped standards are all kept (one item is often published for several years and places); a bureau file
    # replaces only an earlier bureau entry with the same item, unit, scope, year and profile
    standards = list(base.standards)
    own = {(u.item, u.unit, u.scope, u.year, u.profile): k for k, u in enumerate(standards) if u.bureau}
    for u in extra_standards:
        std_key = (u.item, u.unit, u.scope, u.year, u.profile)
        if std_key in own:
            standards[own[std_key]] = u
        else:
            own[std_key] = len(standards)
            standards.append(u)
    return Library(sectors=list(sectors.values()), standards=standards)


@lru_cache(maxsize=8)
def _load(shipped: Path, imported: Path | None, stamp: tuple[tuple[str, float], ...]) -> Library:
    sectors, standards = parse_lines([*_jsonl(shipped / LIBRARY_FILE), *_jsonl(shipped / STANDARDS_FILE)])
    lib = Library(sectors=sectors, standards=standards)
    if imported is not None and imported.is_dir():
        for path in sorted(imported.glob("*.jsonl")):
            more_s, more_u = parse_lines(_jsonl(path))
            for u in more_u:
                u.bureau = True
            lib = merge(lib, more_s, more_u)
    import hashlib

    lib.version = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:10]
    return lib


def load_library(db_path: Path | None = None, *, shipped: Path = SHIPPED_DIR) -> Library:
    """The shipped library and standards plus the bureau's imported files (cached until a file changes)."""
    imported = imported_dir(db_path)
    files = [shipped / LIBRARY_FILE, shipped / STANDARDS_FILE, *sorted(imported.glob("*.jsonl"))]
    stamp = tuple((str(p), p.stat().st_mtime) for p in files if p.is_file())
    return _load(shipped, imported, stamp)
