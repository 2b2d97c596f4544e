"""Scale benchmark: index build, retrieval, rules and full offline review at growing corpus sizes,
then a 3,244-target offline batch end to end through `run_batch`.

    .venv/bin/python bench/bench_scale.py [--sizes 50,10000,100000] [--queries 100] [--budget 60]
                                          [--workers N] [--batch-corpus 100000] [--batch-n 3244]

Corpora above the 41 shipped records are synthetic (bench/synth.py: real records recombined, ids
`syn-…`, source_url "synthetic"); they live in a temp folder only, never in corpus/.
Per size, one process writes the corpus as JSONL and builds the persisted index from it (streaming,
as `corpus_store.open_index` does); a second, fresh process loads that index and reviews drafts, so
"serve MB" is the peak RSS of a process that serves reviews, not of the build. `--budget` caps the
seconds spent on queries per size (the count is printed). Caveat: recombined records repeat the
shipped vocabulary (≈1k terms), so posting lists are longer than a real corpus's (pessimistic for
query time) while the tokenizer cache hits more often than on real text (optimistic for build time).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]


# ------------------------------------------------------------------------------------------ one size


def rss_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def dense_phase(index, folder: Path, embed_full: int, sample: int) -> dict:
    """Vectors for every record with the local model (`VectorCache` in the folder, chunks committed as they finish).
    Above `embed_full` records, `sample` of them are embedded to measure the rate and the rest are noisy copies of
    those vectors (the serving cost is the same; the embedding time is then projected from the measured rate)."""
    import numpy as np

    from assistant.cache import LLMCache
    from assistant.retrieve.dense import DenseIndex, build_dense
    from assistant.retrieve.embeddings import LocalE5, VectorCache, local_unavailable

    if local_unavailable():
        return {"embed_s": float("nan"), "embed_rate": float("nan"), "embed_projected": False}
    texts = index.dense_texts()
    e5 = LocalE5()
    e5.embed(["预热"])
    cache = VectorCache(LLMCache(folder / "vectors.db"))
    todo = texts if len(texts) <= embed_full else texts[:sample]
    t = time.perf_counter()
    dense = build_dense(e5, todo, cache)
    spent = time.perf_counter() - t
    rate = len(set(todo)) / spent
    if len(todo) < len(texts):
        rng = np.random.default_rng(0)
        picks = dense.vectors[rng.integers(0, len(todo), len(texts))]
        noisy = picks + rng.normal(0, 0.02, picks.shape).astype(np.float32)
        dense = DenseIndex(e5, (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32))
    dense.save(folder / "index")
    return {"embed_s": len(set(texts)) / rate if len(todo) < len(texts) else spent, "embed_rate": rate,
            "embed_projected": len(todo) < len(texts)}


def build_phase(size: int, folder: Path, workers: int | None, embed_full: int = 10_000, sample: int = 1000) -> dict:
    """Write the corpus as JSONL (streamed), then index it the way `open_index` does: streaming, persisted; then its
    vectors (`dense_phase`)."""
    from synth import iter_corpus_of_size, write_jsonl

    from assistant.retrieve.corpus import build_index

    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    corpus = write_jsonl(iter_corpus_of_size(size), folder / "corpus.jsonl")
    synth_s = time.perf_counter() - t
    rss_synth = rss_mb()
    t = time.perf_counter()
    index = build_index([corpus], folder=folder / "index", workers=workers)
    build_s = time.perf_counter() - t
    build_rss = max(rss_mb(), rss_children_mb())
    dense = dense_phase(index, folder, embed_full, sample)
    disk = sum(f.stat().st_size for f in (folder / "index").iterdir())
    return {"size": size, "synth_s": synth_s, "rss_synth_mb": rss_synth, "build_s": build_s,
            "build_rss_mb": build_rss, "dense_rss_mb": rss_mb(), "index_mb": disk / 2**20,
            "corpus_mb": corpus.stat().st_size / 2**20, "terms": index.data.meta["terms"], **dense}


def serve_phase(folder: Path, queries: int, budget: float) -> dict:
    """A fresh process: load the persisted index and review drafts (what a server or batch does)."""
    from synth import drafts

    from assistant.pipeline import build_deps, review
    from assistant.retrieve.dense import DenseIndex
    from assistant.retrieve.embeddings import LocalE5, local_unavailable
    from assistant.retrieve.index import PrecedentIndex
    from assistant.settings import load_settings

    t = time.perf_counter()
    index = PrecedentIndex.load(folder / "index")
    dense = None if local_unavailable() else DenseIndex.load(folder / "index", LocalE5(), len(index))
    index.attach_dense(dense, mode="dense" if dense is not None else "tfidf")
    load_s = time.perf_counter() - t
    deps = build_deps(load_settings({}), index=index)
    sample = drafts(queries)
    review(sample[0], deps)  # warm up (jieba dictionary, regexes)
    search_ms, retrieve_ms, rules_ms, review_ms = [], [], [], []
    t_end = time.perf_counter() + budget
    for d in sample:
        t = time.perf_counter()
        index.search(d.project_name, k=deps.top_k)  # what a user types into corpus search
        search_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        rv = review(d, deps)
        review_ms.append((time.perf_counter() - t) * 1000)
        retrieve_ms.append(rv.meta.timings_ms["retrieve"])
        rules_ms.append(rv.meta.timings_ms["rules"])
        if time.perf_counter() > t_end:
            break
    return {"load_s": load_s, "serve_rss_mb": rss_mb(), "n_queries": len(review_ms),
            "search_p50": pct(search_ms, 50), "search_p95": pct(search_ms, 95),
            "retrieve_p50": pct(retrieve_ms, 50), "retrieve_p95": pct(retrieve_ms, 95),
            "rules_p50": pct(rules_ms, 50), "rules_p95": pct(rules_ms, 95),
            "review_p50": pct(review_ms, 50), "review_p95": pct(review_ms, 95)}


def batch_child(n: int, db: Path, inp: Path, folder: Path) -> None:
    from synth import drafts, write_jsonl

    from assistant.batch import run_batch
    from assistant.pipeline import build_deps
    from assistant.retrieve.index import PrecedentIndex
    from assistant.settings import load_settings

    write_jsonl(drafts(n, seed=7), inp)
    t = time.perf_counter()
    index = PrecedentIndex.load(folder / "index")
    build_s = time.perf_counter() - t
    print(json.dumps({"event": "built", "build_s": build_s, "t": time.time()}), flush=True)
    deps = build_deps(load_settings({}), index=index)
    report = run_batch(inp, deps=deps, db_path=db, job_name="bench", max_concurrency=1)
    print(json.dumps({"event": "done", "build_s": build_s, "elapsed_s": report.elapsed_s, "reviewed": report.reviewed,
                      "skipped_existing": report.skipped_existing, "done": report.done,
                      "errors": len(report.errors), "rss_peak_mb": rss_mb()}), flush=True)


def _rows(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    con = sqlite3.connect(str(db), timeout=10)
    try:
        return con.execute("SELECT count(*) FROM batch_results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _events(log: Path) -> dict:
    out: dict = {}
    for line in log.read_text().splitlines():
        ev = json.loads(line)
        if ev["event"] == "built":
            out["build_s"] = ev["build_s"]
        if ev["event"] == "done":
            out.update(finished=True, **{k: v for k, v in ev.items() if k != "event"})
    return out


def run_batch_bench(corpus_size: int, n: int, timeout: float, folder: Path, kill_at: float = 0.0) -> dict:
    """The batch end to end in a child process. With `kill_at` (0–1), the child is killed with SIGKILL once
    that share of targets is committed, then started again on the same database: the second run must
    skip exactly what the first committed and review only the rest."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    db, inp = tmp / "batch.db", tmp / "drafts.jsonl"
    cmd = [sys.executable, __file__, "--batch-child", str(corpus_size), "--batch-n", str(n), "--db", str(db),
           "--inp", str(inp), "--dir", str(folder)]
    out: dict = {"corpus": corpus_size, "n": n}
    if kill_at:
        log = tmp / "killed.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(cmd, stdout=fh)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and _rows(db) < kill_at * n and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        out["killed_after"] = _rows(db)
    log = tmp / "child.log"
    built_at = None
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
        if built_at is None and '"built"' in log.read_text():
            built_at = time.monotonic()
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        rows = _rows(db)
        spent = time.monotonic() - (built_at or time.monotonic())
        out.update(finished=False, reviewed=rows, review_s=spent,
                   projected_s=(spent / rows * n) if rows else float("inf"))
    else:
        out.update(_events(log))
    out["rows_final"] = _rows(db)
    return out


# ------------------------------------------------------------------------------------------ main


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def child(args: list[str], timeout: float) -> dict:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"rc={res.returncode}: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,10000,100000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of queries per size at most")
    ap.add_argument("--size-timeout", type=float, default=1800.0)
    ap.add_argument("--workers", type=int, default=None, help="index build processes (default: automatic)")
    ap.add_argument("--embed-full", type=int, default=10_000, help="embed every record up to this corpus size")
    ap.add_argument("--embed-sample", type=int, default=1000, help="records embedded to measure the rate above it")
    ap.add_argument("--batch-corpus", type=int, default=100000, help="corpus size for the batch (0: skip)")
    ap.add_argument("--batch-n", type=int, default=3244)
    ap.add_argument("--batch-timeout", type=float, default=600.0)
    ap.add_argument("--kill-resume", type=float, default=0.5,
                    help="also kill -9 the batch at this share done, then resume it (0: skip)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folders (corpus, index)")
    ap.add_argument("--phase", choices=["build", "serve"], help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--batch-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--inp", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase == "build":
        print(json.dumps(build_phase(a.size, a.dir, a.workers, a.embed_full, a.embed_sample)))
        return
    if a.phase == "serve":
        print(json.dumps(serve_phase(a.dir, a.queries, a.budget)))
        return
    if a.batch_child is not None:
        batch_child(a.batch_n, a.db, a.inp, a.dir)
        return

    print(f"# bench_scale — {machine()}")
    print("# corpora > 41 records are synthetic recombinations of the shipped records (temp folder, never corpus/)")
    print("# build: streamed from JSONL into a persisted index (own process); serve: a fresh process loads it")
    print("# embed: vectors for every record with the local model; 'p' = projected from the rate measured on a sample")
    hdr = (f"{'size':>7} {'build s':>8} {'build MB':>8} {'embed s':>9} {'emb/s':>6} {'index MB':>8} {'load s':>6} "
           f"{'serve MB':>8} {'n q':>4} {'search p50/p95':>15} {'retrieve p50/p95':>17} {'rules p50/p95':>14} "
           f"{'review p50/p95 ms':>18}")
    print(hdr, flush=True)
    folders: dict[int, Path] = {}
    sizes = [int(s) for s in a.sizes.split(",") if s]
    if a.batch_corpus and a.batch_corpus not in sizes:
        sizes.append(a.batch_corpus)
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"bench_scale_{size}_"))
        try:
            wargs = (["--workers", str(a.workers)] if a.workers else []) + [
                "--embed-full", str(a.embed_full), "--embed-sample", str(a.embed_sample)]
            b = child(["--phase", "build", "--size", str(size), "--dir", str(folder), *wargs], a.size_timeout)
            r = child(["--phase", "serve", "--dir", str(folder), "--queries", str(a.queries),
                       "--budget", str(a.budget)], a.size_timeout)
        except (subprocess.TimeoutExpired, RuntimeError) as exc:
            print(f"{size:>7} FAILED: {exc}", flush=True)
            continue
        folders[size] = folder
        embed = f"{b['embed_s']:.0f}{'p' if b['embed_projected'] else ''}"
        print(f"{size:>7} {b['build_s']:>8.1f} {b['build_rss_mb']:>8.0f} {embed:>9} {b['embed_rate']:>6.1f} "
              f"{b['index_mb']:>8.1f} {r['load_s']:>6.2f} "
              f"{r['serve_rss_mb']:>8.0f} {r['n_queries']:>4} {r['search_p50']:>6.1f} / {r['search_p95']:>6.1f} "
              f"{r['retrieve_p50']:>7.1f} / {r['retrieve_p95']:>6.1f} {r['rules_p50']:>5.2f} / {r['rules_p95']:>5.2f} "
              f"{r['review_p50']:>8.1f} / {r['review_p95']:>7.1f}", flush=True)
    if a.batch_corpus and a.batch_corpus in folders:
        b = run_batch_bench(a.batch_corpus, a.batch_n, a.batch_timeout, folders[a.batch_corpus])
        if b.get("finished"):
            print(f"# batch: {b['reviewed']} targets, offline, corpus {a.batch_corpus}: {b['elapsed_s']:.1f} s "
                  f"({b['reviewed'] / b['elapsed_s']:.1f}/s) + index load {b.get('build_s', 0):.1f} s, "
                  f"peak RSS {b['rss_peak_mb']:.0f} MB, errors {b['errors']}")
        else:
            print(f"# batch: corpus {a.batch_corpus}: stopped after {a.batch_timeout:.0f} s with {b['reviewed']} of "
                  f"{a.batch_n} committed ({b['review_s']:.0f} s of reviewing): projected {b['projected_s'] / 60:.1f} min")
        if a.kill_resume:
            k = run_batch_bench(a.batch_corpus, a.batch_n, a.batch_timeout, folders[a.batch_corpus], a.kill_resume)
            lost = a.batch_n - k["rows_final"]
            print(f"# kill -9 after {k['killed_after']} committed, then resumed: skipped {k.get('skipped_existing')}, "
                  f"reviewed {k.get('reviewed')}, rows {k['rows_final']}/{a.batch_n} "
                  f"({'nothing lost or redone' if lost == 0 and k.get('skipped_existing') == k['killed_after'] else 'MISMATCH'})")
    if not a.keep:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
