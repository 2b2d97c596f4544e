"""Retrieval quality on the hand-labelled sets in evals/ (evals/LABELS.md): hit@1, hit@3 and MRR for TF-IDF, dense
and fused (reciprocal-rank) rankings, at project level (retrieval_labels.jsonl: which approved tables a reviewer
would accept as the same kind of project) and at indicator level (indicator_paraphrases.jsonl: a unit's wording →
the sector library's indicator). Also the precision / recall of the precedent similarity floor.

    .venv/bin/python bench/bench_retrieval_labels.py

Caveat printed with the figures: the labels are small (23 project queries with a relevant table, 66 paraphrase
pairs) and the text representation and the floor were chosen on them, so treat the figures as optimistic.
"""

from __future__ import annotations

import json
import platform
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.intake.reader import read_targets  # noqa: E402
from assistant.intake.textproc import tokens  # noqa: E402
from assistant.retrieve import build as index_build  # noqa: E402
from assistant.retrieve.dense import DenseIndex, record_text  # noqa: E402
from assistant.retrieve.embeddings import LocalE5, local_unavailable, rrf  # noqa: E402
from assistant.retrieve.index import DENSE_FLOOR, PrecedentIndex  # noqa: E402

EVALS = ROOT / "evals"


def rank_of(ranking: Sequence[str], relevant: set[str]) -> int | None:
    return next((k + 1 for k, d in enumerate(ranking) if d in relevant), None)


def summary(ranks: list[int | None]) -> str:
    n = len(ranks)
    h1 = sum(1 for r in ranks if r == 1) / n
    h3 = sum(1 for r in ranks if r is not None and r <= 3) / n
    mrr = sum(1 / r for r in ranks if r) / n
    return f"{h1:6.2f} {h3:6.2f} {mrr:6.2f}"


def project_level(e5: LocalE5) -> None:
    corpus = read_targets(ROOT / "corpus" / "approved_targets.jsonl")
    items = {t.id: t for t in read_targets(EVALS / "items.jsonl")}
    by_id = {t.id: t for t in corpus}
    labels = [json.loads(line) for line in (EVALS / "retrieval_labels.jsonl").read_text(encoding="utf-8").splitlines()]
    index = PrecedentIndex(corpus)
    dense = DenseIndex(e5, e5.embed([record_text(t) for t in corpus]))
    ids = index.data.ids
    ranks: dict[str, list[int | None]] = {"TF-IDF": [], "dense": [], "fused (RRF)": []}
    floor = {f: [0, 0, 0, 0, 0] for f in sorted({0.15, 0.18, 0.22, DENSE_FLOOR, 0.30})}  # tp, fp, fn, empty ok, empties
    for lab in labels:
        qid = lab.get("item_id") or lab["corpus_id"]
        t = items.get(qid) or by_id[qid]
        excl = {lab.get("source_id") or qid}
        rel = set(lab["relevant"])
        lex = [ids[r] for r, _ in index._search_rows(index_build.project_tokens(t), k=40, exclude_ids=excl)]
        q = dense.centre(e5.embed([record_text(t)])[0])
        top = dense.top(q, k=40, skip=lambda r, excl=excl: ids[r] in excl)  # type: ignore[misc]
        den = [ids[r] for r, _ in top]
        for f, acc in floor.items():
            shown = {ids[r] for r, s in top[:5] if s >= f}
            acc[0] += len(shown & rel)
            acc[1] += len(shown - rel)
            acc[2] += len(rel - shown)
            acc[3] += (not rel) and not shown
            acc[4] += not rel
        if rel:
            ranks["TF-IDF"].append(rank_of(lex, rel))
            ranks["dense"].append(rank_of(den, rel))
            ranks["fused (RRF)"].append(rank_of([d for d, _ in rrf([lex, den])], rel))
    n = len(ranks["TF-IDF"])
    print(f"\nProject level: {n} queries with at least one relevant approved table (of {len(labels)})")
    print(f"{'ranking':<14}{'hit@1':>6} {'hit@3':>6} {'MRR':>6}")
    for name, rs in ranks.items():
        print(f"{name:<14}{summary(rs)}")
    print("\nSimilarity floor on the dense (centred) cosine, top 5 shown:")
    print(f"{'floor':<8}{'precision':>10}{'recall':>8}  queries without a relevant table that show nothing")
    for f, (tp, fp, fn, ok, empties) in floor.items():
        mark = "  ← DENSE_FLOOR" if f == DENSE_FLOOR else ""
        print(f"{f:<8.2f}{tp / max(1, tp + fp):>10.2f}{tp / max(1, tp + fn):>8.2f}  {ok}/{empties}{mark}")


def _lexical_ranker(names: list[str]) -> Callable[[str], list[int]]:
    """TF-IDF over jieba tokens and character bigrams of the library's indicator names."""
    def feats(text: str) -> Counter[str]:
        toks = [x for x in tokens(text) if x != "<num>"]
        return Counter(toks + [text[i:i + 2] for i in range(len(text) - 1)])

    docs = [feats(n) for n in names]
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())

    def vec(c: Counter[str]) -> dict[str, float]:
        v = {k: (1 + np.log(m)) * (np.log((1 + len(docs)) / (1 + df.get(k, 0))) + 1) for k, m in c.items()}
        z = float(np.sqrt(sum(x * x for x in v.values()))) or 1.0
        return {k: x / z for k, x in v.items()}

    vecs = [vec(d) for d in docs]

    def rank(query: str) -> list[int]:
        q = vec(feats(query))
        return sorted(range(len(vecs)), key=lambda i: -sum(q.get(k, 0.0) * w for k, w in vecs[i].items()))

    return rank


def indicator_level(e5: LocalE5) -> None:
    from assistant.knowledge.library import load_library

    names = sorted({ind.name for sector in load_library().sectors for ind in sector.core_indicators})
    pairs = [json.loads(line) for line in (EVALS / "indicator_paraphrases.jsonl").read_text(encoding="utf-8").splitlines()]
    lexical = _lexical_ranker(names)
    lib = DenseIndex(e5, e5.embed(names))
    ranks: dict[str, list[int | None]] = {"TF-IDF": [], "dense": [], "fused (RRF)": []}
    for p in pairs:
        wanted = {p["target"], *(a["target"] for a in p.get("alt_targets", []))}
        lex = [names[i] for i in lexical(p["query"])]
        q = lib.centre(e5.embed([p["query"]])[0])
        den = [names[r] for r, _ in lib.top(q, k=50, skip=lambda r: False)]
        ranks["TF-IDF"].append(rank_of(lex, wanted))
        ranks["dense"].append(rank_of(den, wanted))
        ranks["fused (RRF)"].append(rank_of([d for d, _ in rrf([lex[:50], den])], wanted))
    print(f"\nIndicator level: {len(pairs)} unit wordings → {len(names)} library indicator names")
    print(f"{'ranking':<14}{'hit@1':>6} {'hit@3':>6} {'MRR':>6}")
    for name, rs in ranks.items():
        print(f"{name:<14}{summary(rs)}")


def main() -> None:
    print(f"machine: {platform.machine()} | Python {platform.python_version()}")
    why = local_unavailable()
    if why:
        print(f"dense model unavailable: {why}")
        return
    e5 = LocalE5()
    project_level(e5)
    try:
        indicator_level(e5)
    except ImportError:
        print("\n(indicator level: the sector library is not in this build)")
    print("\nCaveat: small labelled sets; the record text (name + goal + indicator names), the centring and the floor "
          "were chosen on them, so these figures are optimistic.")


if __name__ == "__main__":
    main()
