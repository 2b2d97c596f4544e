"""Retrieval over approved targets: jieba + TF-IDF, and dense project vectors where an embedding engine runs.

Project-level precedents (similar approved projects, ranked by the dense vectors when present, else by TF-IDF; only
those above a similarity floor count as similar), indicator-level hints (which indicators and values those projects
used for a category the draft lacks), and evidence features for the critic (indicator grounding, goal fit, implied
unit cost, donor project; TF-IDF, as the calibrated scorer was fitted on them). In evaluation a target never
retrieves its own source record (`exclude_ids`).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from assistant.errors import InputError
from assistant.intake.facts import judged_for_grounding
from assistant.intake.quantities import main_quantity, split_unit
from assistant.intake.textproc import content_tokens, tokens
from assistant.intake.values import is_currency_unit, is_time_unit, parse_value
from assistant.labels import LEVEL1_CN, LEVEL2_CN
from assistant.models import Facts, NormIndicator, Precedent, RetrievalEvidence, Suggestion, Target
from assistant.retrieve import build as index_build
from assistant.retrieve.build import IndexData
from assistant.retrieve.dense import DenseIndex, record_text
from assistant.retrieve.embeddings import EmbeddingError, VectorCache

__all__ = ["PrecedentIndex", "project_text"]

# Similarity floors, read off evals/retrieval_labels.jsonl (bench/bench_retrieval_labels.py): about the 99th
# percentile of the similarity between projects a reviewer would not accept as the same kind of project.
DENSE_FLOOR = 0.25  # centred cosine of the project vectors
LEXICAL_FLOOR = 0.15  # TF-IDF cosine (name twice, goal, indicator names)
_WANTED = (("output", "quantity"), ("output", "quality"), ("output", "timeliness"), ("cost", None),
           ("benefit", None), ("satisfaction", None))


def project_text(t: Target) -> str:
    names = " ".join(i.name for i in t.indicators)
    return f"{t.project_name} {t.project_name} {t.annual_goal} {names}"


def _median_sorted(a: np.ndarray) -> float:
    n = len(a)
    return float(a[n // 2]) if n % 2 else float((a[n // 2 - 1] + a[n // 2]) / 2)


class PrecedentIndex:
    """TF-IDF index over approved target records.

    `PrecedentIndex(records)` indexes a list in memory (tests, evaluation); `PrecedentIndex(data=…)` wraps
    a built or loaded `IndexData` (corpus_store persists large corpora). Only the top-k rows of a
    query are read back from the index's SQLite file, so RAM holds no `Target` objects.
    """

    def __init__(self, records: Iterable[Target] | None = None, *, data: IndexData | None = None) -> None:
        if data is None:  # build() refuses an empty corpus with the same message as below
            data = index_build.build(map(index_build.record_facts, records or []), index_build.open_db(":memory:"))
        if not data.ids:
            raise InputError("先例库为空：请先导入已批复的绩效目标（assistant corpus import）")
        self.data = data
        self.version = data.version
        self._lock = threading.Lock()
        self.dense: DenseIndex | None = None
        self.vectors: VectorCache | None = None
        self.mode = "词语检索（TF-IDF）"

    def attach_dense(self, dense: DenseIndex | None, *, mode: str, vectors: VectorCache | None = None) -> None:
        """Rank precedents with `dense` (None: TF-IDF alone); `mode` says so to users."""
        self.dense, self.mode, self.vectors = dense, mode, vectors

    @classmethod
    def load(cls, folder: Path) -> PrecedentIndex:
        return cls(data=index_build.load(folder))

    def __len__(self) -> int:
        return len(self.data.ids)

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        with self._lock:
            return self.data.db.execute(sql, args).fetchall()

    def _rows(self, column: str, rows: list[int]) -> dict[int, str]:
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        return dict(self._query(f"SELECT row, {column} FROM rec WHERE row IN ({marks})", tuple(rows)))

    def _rows_of_ids(self, ids: set[str], columns: str) -> list[tuple]:
        ids = {i for i in ids if i}
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self._query(f"SELECT {columns} FROM rec WHERE id IN ({marks})", tuple(ids))

    def content_id(self, chash: str) -> str | None:
        """The id of an indexed record with this content hash (the same table already in the corpus)."""
        got = self._query("SELECT id FROM rec WHERE chash = ? AND id != '' ORDER BY row DESC LIMIT 1", (chash,))
        return got[0][0] if got else None

    def source_urls(self, ids: Iterable[str]) -> frozenset[str]:
        """The published source of each indexed record among `ids` (to leave its library entries out as well)."""
        rows = self._rows_of_ids(set(ids), "target")
        urls = {Target.model_validate_json(t).source_url for (t,) in rows}
        return frozenset(u for u in urls if u)

    def dense_texts(self) -> list[str]:
        """Each record's text for its vector, in row order."""
        return [t for (t,) in self._query("SELECT dtext FROM rec ORDER BY row", ())]

    def content_hashes(self) -> set[str]:
        return {h for (h,) in self._query("SELECT chash FROM rec", ())}

    # -- queries ----------------------------------------------------------------
    def _vector(self, toks: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """A query's term columns and l2-normalised TF-IDF weights (None when no term is in the vocabulary)."""
        vocab = self.data.vocab
        counts: dict[int, int] = {}
        for t in toks:
            j = vocab.get(t)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return None
        cols = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * self.data.idf[cols]
        w /= np.linalg.norm(w)
        return cols, w.astype(np.float32)

    def _search_rows(self, toks: list[str], *, k: int, exclude_ids: Iterable[str]) -> list[tuple[int, float]]:
        q = self._vector(toks)
        if q is None:
            return []
        excluded = set(exclude_ids)
        rows, sims = self.data.postings.scores(*q)
        want = k + len(excluded)
        if want < len(sims):
            top = np.argpartition(-sims, want - 1)[:want]
            rows, sims = rows[top], sims[top]
        order = np.lexsort((rows, -sims))
        ids = self.data.ids
        out: list[tuple[int, float]] = []
        for i in order:
            row, sim = int(rows[i]), float(sims[i])
            if ids[row] in excluded or sim <= 1e-9:
                continue
            out.append((row, sim))
            if len(out) >= k:
                break
        return out

    def search(self, text: str, *, k: int = 5, exclude_ids: Iterable[str] = ()) -> list[tuple[Target, float]]:
        """Records closest to a free-text query, above the similarity floor: by the dense vectors when present, else
        by TF-IDF."""
        found = self._ranked(text, lambda: tokens(text), k=k, excluded=set(exclude_ids))[0]
        docs = self._rows("target", [r for r, _, _ in found])
        return [(Target.model_validate_json(docs[r]), s) for r, s, _ in found]

    def _dense_rows(self, query: np.ndarray, *, k: int, excluded: set[str]) -> list[tuple[int, float]]:
        assert self.dense is not None
        ids = self.data.ids
        return self.dense.top(query, k=k, skip=lambda r: ids[r] in excluded)

    def _ranked(self, text: str, toks: Callable[[], list[str]], *, k: int, excluded: set[str]
                ) -> tuple[list[tuple[int, float, str]], str | None]:
        """(row, similarity, "semantic" | "lexical") best first, and a note when the semantic search failed. The
        query is embedded on another thread while jieba segments it (and, in a fresh process, loads its dictionary)."""
        pending = self.dense.query_async(text, self.vectors) if self.dense is not None else None
        lexical = self._search_rows(toks(), k=max(k, 20), exclude_ids=excluded)
        if pending is not None:
            try:
                query = pending.result()
            except EmbeddingError as exc:
                note = f"语义检索本次不可用（{exc.reason}），已改用词语检索"
            else:
                lex = dict(lexical)
                rows = self._dense_rows(query, k=k, excluded=excluded)
                # a record kept on its words is shown with its word similarity (the number users see is the one
                # that passed its floor)
                return [(r, s, "semantic") if s >= DENSE_FLOOR else (r, lex[r], "lexical") for r, s in rows
                        if s >= DENSE_FLOOR or lex.get(r, 0.0) >= LEXICAL_FLOOR], None
        else:
            note = None
        return [(r, s, "lexical") for r, s in lexical[:k] if s >= LEXICAL_FLOOR], note

    def precedents(self, target: Target, *, k: int = 5, exclude_ids: Iterable[str] = ()) -> list[Precedent]:
        """Approved projects of the same kind (above the similarity floor), best first."""
        return self.precedents_noted(target, k=k, exclude_ids=exclude_ids)[0]

    def precedents_noted(self, target: Target, *, k: int = 5, exclude_ids: Iterable[str] = ()
                         ) -> tuple[list[Precedent], str | None]:
        """`precedents`, and a note for users when none is close or the semantic search failed."""
        found, note = self._ranked(record_text(target), lambda: index_build.project_tokens(target), k=k,
                                   excluded=set(exclude_ids))
        cards = self._rows("card", [r for r, _, _ in found])
        precs = [Precedent.model_validate_json(cards[row]).model_copy(update={"similarity": round(sim, 4),
                                                                               "match": match})
                 for row, sim, match in found]
        if not precs:
            note = (note + "；" if note else "") + (
                f"先例库（{len(self)}个已批复项目）中没有与本项目相近的项目，未列出参考案例；"
                "可由管理员导入本单位的历史批复绩效目标作为先例")
        return precs, note

    def hints(self, indicators: list[NormIndicator], precedents: list[Precedent], *, per_category: int = 2,
              budget: float | None = None) -> list[Suggestion]:
        """For each category the draft lacks, the indicators similar approved projects used there. A count or a money
        total belongs to its project's scale: it is suggested only from a precedent of about the draft's size."""
        have = {(i.level1, i.level2) for i in indicators if i.name.strip()}
        have_l1 = {l1 for l1, _ in have}
        out: list[Suggestion] = []
        for l1, l2 in _WANTED:
            if (l2 and (l1, l2) in have) or (not l2 and l1 in have_l1):
                continue
            taken = 0
            for prec in precedents:
                for pi in prec.indicators:
                    if pi.level1 == l1 and (l2 is None or pi.level2 == l2) and pi.value and taken < per_category \
                            and (l1 != "cost" or transferable_cost(pi.value)) \
                            and (scale_free(pi.value) or same_scale(budget, prec.amount_total_wan)):
                        out.append(Suggestion(
                            action="add", level1=LEVEL1_CN[l1], level2=LEVEL2_CN.get(pi.level2, ""), name=pi.name,
                            value=pi.value, source="precedent", precedent_id=prec.id,
                            precedent_project=prec.project_name,
                            reason=f"草稿缺少{LEVEL2_CN.get(l2, LEVEL1_CN[l1]) if l2 else LEVEL1_CN[l1]}；相似的已批复项目"
                                   f"「{prec.project_name}」设置了此指标"))
                        taken += 1
                if taken >= per_category:
                    break
        return out

    def indicator_fit(self, target: Target, indicators: list[NormIndicator], *,
                      exclude_ids: Iterable[str] = ()) -> list[float]:
        """1 = fine; 0 = the indicator's specific words are absent from this project's header and goals
        but name another approved project (copied from elsewhere). Words used by ≥ 15 % of projects are generic."""
        excluded = set(exclude_ids) | {target.id or ""}
        context = content_tokens(" ".join([target.project_name, target.annual_goal, target.long_term_goal,
                                           target.implementing_unit, target.department]))
        context_chars = set("".join(context))
        limit = max(2, math.ceil(0.15 * len(self.data.ids)))
        excluded_sets = [set(toks.split()) for (toks,) in self._rows_of_ids(excluded, "tokens")]
        doc_freq, rec_df = self.data.indicator_df, self.data.record_df

        def df(t: str) -> int:
            return rec_df.get(t, 0) - sum(1 for s in excluded_sets if t in s)
        fits = []
        for ind in indicators:
            specific = {t for t in content_tokens(ind.name) if doc_freq.get(t, 0) < limit}
            loose = {t for t in specific if t not in context and sum(c in context_chars for c in t) < 2}
            if not loose or not judged_for_grounding(ind):
                fits.append(1.0)  # grounded, or a kind of row whose name is generic by nature (satisfaction, cost,
                continue          # timeliness, a count of beneficiaries): judged by other rules, not here
            distinctive = {t for t in loose if len(t) >= 3 and 0 < df(t) <= 2}
            foreign = bool(distinctive) and not (specific - loose)  # a row naming the project's own subject is not foreign
            fits.append(0.0 if foreign else 1.0 - len(loose) / (len(specific) + 1))
        return fits

    def goal_fit(self, target: Target) -> float | None:
        """Grounding of the annual goal in the project name and indicators (0–1); None without a goal."""
        goal = content_tokens(target.annual_goal)
        if not goal:
            return None
        ctx = content_tokens(target.project_name + " " + " ".join(i.name for i in target.indicators))
        chars = set("".join(ctx))
        grounded = sum(1 for t in goal if t in ctx or sum(c in chars for c in t) >= 2)
        return grounded / len(goal)

    def indicator_donor(self, target: Target, indicators: list[NormIndicator], *,
                        exclude_ids: Iterable[str] = ()) -> tuple[float | None, str | None, str | None]:
        """Do the output and benefit indicators come from another approved project? The approved record
        closest to the specific words of those indicator names alone, and how much closer it is to them than
        to the draft's own name and goal: cos(indicators, record) − cos(name + goal, record), floored at 0
        (with the record's id and project name).
        One sparse product over the query terms' posting rows plus a binary search per name/goal term."""
        excluded = [*exclude_ids, target.id or ""]
        toks = [t for i in indicators if i.name.strip() and i.level1 in ("output", "benefit")
                for t in sorted(index_build.content_of(tokens(i.name)))]  # specific words: short posting rows
        found = self._search_rows(toks, k=1, exclude_ids=excluded)
        if not found:
            return None, None, None
        row, sim = found[0]
        own = self._vector(index_build.document(tokens(target.project_name), tokens(target.annual_goal), []))
        base = self.data.postings.similarity_to_row(*own, row) if own is not None else 0.0
        name = Precedent.model_validate_json(self._rows("card", [row])[row]).project_name
        if _same_name(name, target.project_name):
            return 0.0, None, None  # the same project's earlier table: carrying its indicators over is no copying
        return round(max(0.0, sim - base), 4), self.data.ids[row], name

    def unit_cost_ratio(self, target: Target, indicators: list[NormIndicator], *,
                        exclude_ids: Iterable[str] = (), facts: Facts | None = None) -> float | None:
        """log10 of the draft's implied unit cost over the median of approved projects with the same unit."""
        if facts is None:
            q = main_quantity(indicators)
        else:
            q = indicators[facts.main_quantity] if facts.main_quantity is not None else None
        if q is None or not target.amount_total_wan or not q.value.number:
            return None
        peers = self.data.unit_costs.get(q.value.unit)
        if peers is None:
            return None
        drop = [c for u, c in self._rows_of_ids(set(exclude_ids), "unit, cost") if u == q.value.unit and c is not None]
        if drop:
            used: set[int] = set()
            for c in drop:
                i = int(np.searchsorted(peers, c))
                while i in used:
                    i += 1
                used.add(i)
            peers = np.delete(peers, sorted(i for i in used if i < len(peers)))
        if len(peers) < 2:
            return None
        return math.log10((target.amount_total_wan / q.value.number) / _median_sorted(peers))

    def evidence(self, target: Target, indicators: list[NormIndicator], *, k: int = 5,
                 exclude_ids: Iterable[str] = (), facts: Facts | None = None) -> RetrievalEvidence:
        excluded = list(exclude_ids)
        precs, note = self.precedents_noted(target, k=k, exclude_ids=excluded)
        donor, donor_id, donor_project = self.indicator_donor(target, indicators, exclude_ids=excluded)
        return RetrievalEvidence(
            retrieved=True, mode=self.mode, note=note, donor_overlap=donor, donor_id=donor_id,
            donor_project=donor_project, precedents=precs,
            hints=self.hints(indicators, precs, budget=target.amount_total_wan),
            indicator_fit=self.indicator_fit(target, indicators, exclude_ids=excluded),
            goal_fit=self.goal_fit(target),
            unit_cost_ratio=self.unit_cost_ratio(target, indicators, exclude_ids=excluded, facts=facts))


_PERIODS = frozenset({"年", "月", "季", "季度", "天", "日", "周", "期"})


def transferable_cost(value: str) -> bool:
    """Whether another project's cost value can be suggested as is: a unit cost per counted thing (元/人, 元/人·天,
    万元/公里); never a total (30万元) or a total per period (620万/月), which belong to that project's scale."""
    unit = parse_value(value).unit
    if not unit:
        return False
    head, per = split_unit(unit)
    return is_currency_unit(head) and any(p not in _PERIODS for p in per)


def scale_free(value: str) -> bool:
    """Whether a precedent's value means the same in a project of another size: a share (%), a unit cost, a duration
    or a date; not a count (142万人) or a money total."""
    v = parse_value(value)
    if v.kind in ("deadline", "duration"):
        return True
    if v.kind != "quantitative":
        return False  # qualitative, vague or empty: the rules judge it when it is re-checked
    unit = v.unit or ""
    return unit in ("%", "‰") or is_time_unit(unit) or transferable_cost(value)


def same_scale(budget: float | None, other: float | None) -> bool:
    return bool(budget and other and budget > 0 and 0.5 <= other / budget <= 2)


_YEARS = re.compile(r"(19|20)\d{2}年?(度)?")
_PUNCT = re.compile(r"[\s\W_]+")


def _same_name(a: str, b: str) -> bool:
    """Two project names that differ only in the year, spacing or punctuation (the same project, another table)."""
    def norm(x: str) -> str:
        return _PUNCT.sub("", _YEARS.sub("", x or ""))
    return bool(norm(a)) and norm(a) == norm(b)
