"""Synthetic precedent corpora for benchmarks, built by recombining real approved records.

Each synthetic record takes its project name from one real record, its goals from another, its
header fields (unit, amount, year) from a third and its indicator rows from several, kept within
their first-level category. Every record is labelled synthetic: id `syn-…`, source_url "synthetic",
notes "synthetic benchmark record". These records exist only in memory or under a temp/bench
folder: they are never written into corpus/ and never shipped as precedents.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from assistant.intake.reader import read_targets
from assistant.models import Target
from assistant.settings import REPO_DIR

REAL_CORPUS = REPO_DIR / "corpus" / "approved_targets.jsonl"
_QUALIFIERS = ["", "", "一期", "二期", "（续建）", "提升", "改造", "配套", "专项", "补助"]


def real_records(path: Path = REAL_CORPUS) -> list[Target]:
    return read_targets(path)


def synthesize(n: int, *, seed: int = 0, base: list[Target] | None = None, prefix: str = "syn") -> list[Target]:
    """`n` synthetic targets recombined from `base` (default: the shipped corpus)."""
    return list(iter_synthesize(n, seed=seed, base=base, prefix=prefix))


def iter_synthesize(n: int, *, seed: int = 0, base: list[Target] | None = None, prefix: str = "syn"
                    ) -> Iterator[Target]:
    """The same records as `synthesize`, one at a time (a 100k corpus is never held in memory)."""
    src = base or real_records()
    rng = random.Random(seed)
    names = [r.project_name for r in src if r.project_name]
    goals = [r.annual_goal for r in src if r.annual_goal] or [""]
    longs = [r.long_term_goal for r in src if r.long_term_goal] or [""]
    rows_by_l1: dict[str, list] = {}
    for r in src:
        for ind in r.indicators:
            rows_by_l1.setdefault(ind.level1 or "", []).append(ind)
    years = sorted({r.year for r in src if r.year}) or [2023]
    for i in range(n):
        a, c = rng.choice(src), rng.choice(src)
        template = rng.choice(src)  # the shape: how many rows of each first-level category
        indicators = []
        for ind in template.indicators:
            pool = rows_by_l1.get(ind.level1 or "", [ind])
            indicators.append(rng.choice(pool).model_copy())
        name = rng.choice(names) + rng.choice(_QUALIFIERS)
        amount = c.amount_total_wan
        if amount:
            amount = round(amount * rng.uniform(0.5, 2.0), 2)
        yield Target(
            id=f"{prefix}-{seed}-{i:06d}", project_name=name, implementing_unit=a.implementing_unit,
            department=c.department, region=c.region, year=rng.choice(years), project_attribute=a.project_attribute,
            amount_total_wan=amount, annual_goal=rng.choice(goals), long_term_goal=rng.choice(longs),
            indicators=indicators, source_url="synthetic", sector=a.sector, notes="synthetic benchmark record")


def iter_corpus_of_size(size: int, *, seed: int = 0) -> Iterator[Target]:
    """`corpus_of_size`, streamed."""
    real = real_records()
    if size <= len(real):
        yield from real[:size]
        return
    yield from real
    yield from iter_synthesize(size - len(real), seed=seed, base=real)


def corpus_of_size(size: int, *, seed: int = 0) -> list[Target]:
    """The real records plus synthetic ones up to `size` (or a prefix of the real ones if smaller)."""
    real = real_records()
    if size <= len(real):
        return real[:size]
    return real + synthesize(size - len(real), seed=seed, base=real)


def drafts(n: int, *, seed: int = 1) -> list[Target]:
    """`n` synthetic drafts to review (no id: the batch treats them as new submissions)."""
    out = []
    for t in synthesize(n, seed=seed, prefix="draft"):
        out.append(t.model_copy(update={"id": None, "notes": "synthetic benchmark draft"}))
    return out


def write_jsonl(targets: Iterable[Target], path: Path) -> Path:
    path = Path(path)
    if path.resolve().is_relative_to((REPO_DIR / "corpus").resolve()):
        raise ValueError("synthetic records must never be written into corpus/")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for t in targets:
            fh.write(json.dumps(t.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n")
    return path
