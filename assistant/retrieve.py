"""Retrieval over approved targets: jieba + TF-IDF (offline default).

Project-level precedents (top-k similar approved projects), indicator-level hints
(which indicators and values similar projects used for a category the draft lacks),
and evidence features for the critic (indicator grounding, implied unit cost).
In evaluation a target never retrieves its own source record (`exclude_ids`).
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from assistant.critique.base import RetrievalEvidence
from assistant.errors import InputError
from assistant.models import NormIndicator, Precedent, PrecedentIndicator, Suggestion, Target
from assistant.rules.base import LEVEL2_CN
from assistant.rules.lexicon import COUNT_UNITS
from assistant.taxonomy import normalise
from assistant.textproc import content_tokens, tokens

_WANTED = (("output", "quantity"), ("output", "quality"), ("output", "timeliness"), ("cost", None),
           ("benefit", None), ("satisfaction", None))
_L1_CN = {"output": "产出指标", "cost": "成本指标", "benefit": "效益指标", "satisfaction": "满意度指标"}


def project_text(t: Target) -> str:
    names = " ".join(i.name for i in t.indicators)
    return f"{t.project_name} {t.project_name} {t.annual_goal} {names}"


def _analyzer(text: str) -> list[str]:
    return tokens(text)


def main_quantity(indicators: list[NormIndicator]) -> NormIndicator | None:
    """The first output quantity with a count unit: the denominator of the implied unit cost."""
    for ind in indicators:
        v = ind.value
        if ind.level2 == "quantity" and v.kind == "quantitative" and v.number and v.number > 0 and v.unit in COUNT_UNITS \
                and v.unit not in {"万元", "元", "万"}:
            return ind
    return None


class PrecedentIndex:
    """TF-IDF index over approved target records (each a `Target` with an id)."""

    def __init__(self, records: list[Target]) -> None:
        if not records:
            raise InputError("先例库为空：请先导入已批复的绩效目标（assistant corpus import）")
        self.records = records
        self.by_id = {r.id: r for r in records if r.id}
        self.normalised = [normalise(r) for r in records]
        self.vectorizer = TfidfVectorizer(analyzer=_analyzer, lowercase=False, sublinear_tf=True, min_df=1)
        self.matrix = self.vectorizer.fit_transform([project_text(r) for r in records])
        self._doc_freq = self._indicator_token_df()
        self.version = hashlib.sha256(
            "\n".join(sorted(json.dumps(r.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
                             for r in records)).encode()).hexdigest()[:12]
        self._unit_costs = self._collect_unit_costs()
        from assistant.records import content_hash

        self.by_content = {content_hash(r): r.id for r in records if r.id}
        # per-record token sets for indicator_fit, computed once (a query only subtracts excluded records)
        self._rec_tokens = [self._record_tokens(r) for r in records]
        self._rec_df: Counter[str] = Counter(t for toks in self._rec_tokens for t in toks)
        self._rows_by_id: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            self._rows_by_id.setdefault(r.id or "", []).append(i)

    # -- construction helpers -------------------------------------------------
    def _indicator_token_df(self) -> Counter[str]:
        df: Counter[str] = Counter()
        for rec in self.records:
            seen: set[str] = set()
            for ind in rec.indicators:
                seen |= content_tokens(ind.name)
            df.update(seen)
        return df

    def _collect_unit_costs(self) -> dict[str, list[tuple[str, float]]]:
        out: dict[str, list[tuple[str, float]]] = {}
        for rec, inds in zip(self.records, self.normalised):
            q = main_quantity(inds)
            if q is None or not rec.amount_total_wan or q.value.number is None:
                continue
            out.setdefault(q.value.unit, []).append((rec.id or "", rec.amount_total_wan / q.value.number))
        return out

    # -- queries ----------------------------------------------------------------
    def _search_rows(self, text: str, *, k: int, exclude_ids: Iterable[str]) -> list[tuple[int, float]]:
        if not text.strip():
            return []
        excluded = set(exclude_ids)
        q = self.vectorizer.transform([text])
        sims = (self.matrix @ q.T).toarray().ravel()
        want = min(len(sims), k + len(excluded))
        top = np.argpartition(-sims, want - 1)[:want] if want < len(sims) else np.arange(len(sims))
        order = top[np.lexsort((top, -sims[top]))]
        out: list[tuple[int, float]] = []
        for i in order:
            if self.records[i].id in excluded or sims[i] <= 0:
                continue
            out.append((int(i), float(sims[i])))
            if len(out) >= k:
                break
        return out

    def search(self, text: str, *, k: int = 5, exclude_ids: Iterable[str] = ()) -> list[tuple[Target, float]]:
        return [(self.records[i], s) for i, s in self._search_rows(text, k=k, exclude_ids=exclude_ids)]

    def precedents(self, target: Target, *, k: int = 5, exclude_ids: Iterable[str] = ()) -> list[Precedent]:
        found = self._search_rows(project_text(target), k=k, exclude_ids=exclude_ids)
        out = []
        for row, sim in found:
            rec, inds = self.records[row], self.normalised[row]
            out.append(Precedent(
                id=rec.id or "", project_name=rec.project_name or "（未注明项目名称）", similarity=round(sim, 4),
                region=rec.region, year=rec.year, amount_total_wan=rec.amount_total_wan, source_url=rec.source_url,
                indicators=[PrecedentIndicator(level1=i.level1, level2=i.level2, name=i.name, value=i.value.raw)
                            for i in inds if i.name.strip() and i.value.kind != "empty"][:30]))
        return out

    def hints(self, indicators: list[NormIndicator], precedents: list[Precedent], *, per_category: int = 2
              ) -> list[Suggestion]:
        """For each category the draft lacks, the indicators similar approved projects used there."""
        have = {(i.level1, i.level2) for i in indicators if i.name.strip()}
        have_l1 = {l1 for l1, _ in have}
        out: list[Suggestion] = []
        for l1, l2 in _WANTED:
            if (l2 and (l1, l2) in have) or (not l2 and l1 in have_l1):
                continue
            taken = 0
            for prec in precedents:
                for pi in prec.indicators:
                    if pi.level1 == l1 and (l2 is None or pi.level2 == l2) and pi.value and taken < per_category:
                        out.append(Suggestion(
                            action="add", level1=_L1_CN[l1], level2=LEVEL2_CN.get(pi.level2, ""), name=pi.name,
                            value=pi.value, source="precedent", precedent_id=prec.id,
                            precedent_project=prec.project_name,
                            reason=f"草稿缺少{LEVEL2_CN.get(l2, _L1_CN[l1]) if l2 else _L1_CN[l1]}；相似的已批复项目"
                                   f"「{prec.project_name}」设置了此指标"))
                        taken += 1
                if taken >= per_category:
                    break
        return out

    def _record_tokens(self, rec: Target) -> set[str]:
        return content_tokens(" ".join([rec.project_name, rec.annual_goal, *(i.name for i in rec.indicators)]))

    def indicator_fit(self, target: Target, indicators: list[NormIndicator], *,
                      exclude_ids: Iterable[str] = ()) -> list[float]:
        """1 = fine; 0 = the indicator's specific words are absent from this project's header and goals
        but name another approved project (copied from elsewhere). Words used by ≥ 15 % of projects are generic."""
        excluded = set(exclude_ids) | {target.id}
        context = content_tokens(" ".join([target.project_name, target.annual_goal, target.long_term_goal,
                                           target.implementing_unit, target.department]))
        context_chars = set("".join(context))
        limit = max(2, math.ceil(0.15 * len(self.records)))
        excluded_rows = [i for e in excluded if e for i in self._rows_by_id.get(e, [])]

        def df(t: str) -> int:
            return self._rec_df.get(t, 0) - sum(1 for i in excluded_rows if t in self._rec_tokens[i])
        fits = []
        for ind in indicators:
            specific = {t for t in content_tokens(ind.name) if self._doc_freq.get(t, 0) < limit}
            loose = {t for t in specific if t not in context and sum(c in context_chars for c in t) < 2}
            if not loose:
                fits.append(1.0)
                continue
            distinctive = {t for t in loose if len(t) >= 3 and 0 < df(t) <= 2}
            foreign = bool(distinctive)
            fits.append(0.0 if foreign else 1.0 - len(loose) / (len(specific) + 1))
        return fits

    def goal_fit(self, target: Target, *, exclude_ids: Iterable[str] = ()) -> float | None:
        """Grounding of the annual goal in the project name and indicators (0–1); None without a goal."""
        goal = content_tokens(target.annual_goal)
        if not goal:
            return None
        ctx = content_tokens(target.project_name + " " + " ".join(i.name for i in target.indicators))
        chars = set("".join(ctx))
        grounded = sum(1 for t in goal if t in ctx or sum(c in chars for c in t) >= 2)
        return grounded / len(goal)

    def unit_cost_ratio(self, target: Target, indicators: list[NormIndicator], *,
                        exclude_ids: Iterable[str] = ()) -> float | None:
        """log10 of the draft's implied unit cost over the median of approved projects with the same unit."""
        q = main_quantity(indicators)
        if q is None or not target.amount_total_wan or not q.value.number:
            return None
        excluded = set(exclude_ids)
        peers = [c for rid, c in self._unit_costs.get(q.value.unit, []) if rid not in excluded]
        if len(peers) < 2:
            return None
        return math.log10((target.amount_total_wan / q.value.number) / statistics.median(peers))

    def evidence(self, target: Target, indicators: list[NormIndicator], *, k: int = 5,
                 exclude_ids: Iterable[str] = ()) -> RetrievalEvidence:
        excluded = list(exclude_ids)
        precs = self.precedents(target, k=k, exclude_ids=excluded)
        return RetrievalEvidence(
            precedents=precs, hints=self.hints(indicators, precs),
            indicator_fit=self.indicator_fit(target, indicators, exclude_ids=excluded),
            goal_fit=self.goal_fit(target, exclude_ids=excluded),
            unit_cost_ratio=self.unit_cost_ratio(target, indicators, exclude_ids=excluded))
