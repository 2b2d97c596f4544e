"""Leave-one-out retrieval quality on the shipped corpus, using the `sector` labels.

1. Corpus: for each record with a sector label, query with the record itself (its own id excluded)
   and measure the share of the top-3 precedents that have the same sector (precision@3), plus
   hit@3 (at least one same-sector record in the top 3). Unlabelled precedents count as misses.
2. Eval items (evals/items.jsonl, sources in evals/item_sources.jsonl): query with the item, excluding
   the item's own source record; does the top-3 contain a record of the source's sector?
Each figure is also given "strict": additionally excluding records with the same project name
(the corpus holds a few re-publications of one project), and "labelled": the pool restricted to
sector-labelled records (most records carry no label, and an unlabelled precedent always counts as a
miss); each next to the chance level (a random top-3 from the same pool).

    .venv/bin/python bench/bench_retrieval_quality.py [--k 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from math import comb
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.intake.reader import read_targets  # noqa: E402
from assistant.intake.records import parse_target  # noqa: E402
from assistant.retrieve.index import PrecedentIndex, project_text  # noqa: E402


def chance_hit(n_pool: int, n_same: int, k: int) -> float:
    """P(at least one of k random picks from n_pool is among n_same)."""
    if n_pool < k:
        return 1.0 if n_same else 0.0
    return 1 - comb(n_pool - n_same, k) / comb(n_pool, k)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=3)
    k = ap.parse_args().k

    corpus = read_targets(REPO / "corpus" / "approved_targets.jsonl")
    index = PrecedentIndex(corpus)
    by_id = {t.id: t for t in corpus}
    sectors = Counter(t.sector for t in corpus if t.sector)
    labelled = [t for t in corpus if t.sector]
    print(f"corpus: {len(corpus)} records, {len(labelled)} with a sector label: "
          + ", ".join(f"{s} {n}" for s, n in sectors.most_common()))
    print()

    def same_name_ids(name: str) -> list[str]:
        return [t.id or "" for t in corpus if name and t.project_name == name]

    print(f"1) corpus leave-one-out, top-{k}")
    unlabelled = [t.id or "" for t in corpus if not t.sector]
    for mode in ("plain", "strict", "labelled"):
        strict = mode == "strict"
        prec, hits, chance_p, chance_h = [], [], [], []
        for t in labelled:
            excl = [t.id or ""] + (same_name_ids(t.project_name) if strict else [])
            excl += unlabelled if mode == "labelled" else []
            top = index.search(project_text(t), k=k, exclude_ids=excl)
            same = [r for r, _ in top if r.sector == t.sector]
            prec.append(len(same) / k)
            hits.append(1.0 if same else 0.0)
            pool = [r for r in corpus if r.id not in set(excl)]
            n_same = sum(1 for r in pool if r.sector == t.sector)
            chance_p.append(n_same / len(pool))
            chance_h.append(chance_hit(len(pool), n_same, k))
        label = {"plain": "own id excluded", "strict": "strict (same project name also excluded)",
                 "labelled": "pool = labelled records only"}[mode]
        n = len(labelled)
        print(f"   {label:<42} n={n:>2}  same-sector share of top-{k}: {sum(prec) / n:.1%} "
              f"(chance {sum(chance_p) / n:.1%});  hit@{k}: {sum(hits) / n:.1%} (chance {sum(chance_h) / n:.1%})")

    sources = {}
    for line in (REPO / "evals" / "item_sources.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            sources[d["item_id"]] = d.get("source_id")
    items = [parse_target(json.loads(line), where="items", require=False)
             for line in (REPO / "evals" / "items.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    print()
    print(f"2) eval items ({len(items)}), own source excluded, top-{k}")
    for mode in ("plain", "strict", "labelled"):
        strict = mode == "strict"
        hits, prec, chance_h, n_lab = [], [], [], 0
        for it in items:
            src = by_id.get(sources.get(it.id or ""))
            if src is None or not src.sector:
                continue
            n_lab += 1
            excl = [src.id or ""] + (same_name_ids(src.project_name) if strict else [])
            excl += unlabelled if mode == "labelled" else []
            top = index.search(project_text(it), k=k, exclude_ids=excl)
            same = [r for r, _ in top if r.sector == src.sector]
            hits.append(1.0 if same else 0.0)
            prec.append(len(same) / k)
            pool = [r for r in corpus if r.id not in set(excl)]
            chance_h.append(chance_hit(len(pool), sum(1 for r in pool if r.sector == src.sector), k))
        label = {"plain": "own source excluded", "strict": "strict (same project name also excluded)",
                 "labelled": "pool = labelled records only"}[mode]
        print(f"   {label:<42} n={n_lab:>2} (items whose source has a sector)  hit@{k}: {sum(hits) / n_lab:.1%} "
              f"(chance {sum(chance_h) / n_lab:.1%});  same-sector share: {sum(prec) / n_lab:.1%}")
    n_src = sum(1 for it in items if by_id.get(sources.get(it.id or "")))
    print(f"   ({n_src}/{len(items)} items have a source record in the corpus)")


if __name__ == "__main__":
    main()
