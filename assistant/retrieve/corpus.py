"""The precedent corpus on disk: the shipped records plus a bureau's imported history.

Imported files go to `<db folder>/corpus/*.jsonl`, each record keeping its provenance
(`source_url` = `imported:<file name>` when the file gave none). Records are never edited.

The index over them is built once per corpus version and kept under `<db folder>/index/<key>/`
(key: the corpus files' bytes plus the code that shapes the index), so a restart loads it in
seconds instead of re-segmenting every record. Builds stream the files line by line (no record
stays in RAM) and use worker processes for large corpora.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from assistant.cache import LLMCache
from assistant.errors import InputError
from assistant.intake.reader import read_targets
from assistant.intake.records import content_hash
from assistant.models import Strict, Target
from assistant.retrieve import build as index_build
from assistant.retrieve.dense import DenseIndex, build_dense, missing_count
from assistant.retrieve.embeddings import EmbeddingError, EmbedFn, VectorCache, select_embedder
from assistant.retrieve.index import PrecedentIndex
from assistant.settings import Settings

log = logging.getLogger(__name__)
_PKG = Path(__file__).resolve().parent.parent
# code whose change alters what the index stores (tokens, normalised precedent cards, unit costs)
_INDEX_CODE = ["retrieve/build.py", "retrieve/dense.py", "intake/taxonomy.py", "intake/values.py", "intake/textproc.py", "models.py",
               "intake/records.py", "intake/quantities.py", "data/domain_dict.txt"]
PARALLEL_BYTES = 8 * 1024 * 1024  # corpora larger than this are indexed with worker processes
KEEP_INDEXES = 3
DENSE_NOW_LIMIT = 5000  # records an ordinary start may embed (≈ 1 min); more waits for `assistant corpus index`


class ImportResult(Strict):
    added: int
    duplicates: int
    path: str


def imported_dir(settings: Settings) -> Path:
    return settings.db_path.parent / "corpus"


def index_root(settings: Settings) -> Path:
    return settings.db_path.parent / "index"


def corpus_files(settings: Settings, corpus: Path | None = None) -> list[Path]:
    files = [Path(corpus or settings.corpus_path)]
    folder = imported_dir(settings)
    if corpus is None and folder.is_dir():
        files.extend(sorted(folder.glob("*.jsonl")))
    for f in files:
        if not f.is_file():
            raise InputError("先例库文件不存在", where=str(f))
    return files


def iter_lines(files: list[Path]) -> Iterator[tuple[str, str]]:
    """(JSON text of one record, where) for every record, streaming .jsonl files line by line."""
    for path in files:
        if path.suffix.lower() != ".jsonl":
            for n, t in enumerate(read_targets(path), start=1):
                yield t.model_dump_json(), f"{path.name} 第{n}个对象"
            continue
        with path.open("r", encoding="utf-8-sig", errors="strict") as fh:
            try:
                for n, line in enumerate(fh, start=1):
                    if line.strip():
                        yield line, f"{path.name} 第{n}行"
            except UnicodeDecodeError:
                raise InputError("文件不是 UTF-8 编码，请另存为 UTF-8 后重试", where=str(path)) from None


def load_all(settings: Settings, corpus: Path | None = None) -> list[Target]:
    """Every corpus record as a `Target` (small corpora and tests; the index streams instead)."""
    records: list[Target] = []
    for path in corpus_files(settings, corpus):
        records.extend(read_targets(path))
    return records


def index_key(files: list[Path]) -> str:
    h = hashlib.sha256(index_build.INDEX_FORMAT.encode())
    for rel in _INDEX_CODE:
        h.update((_PKG / rel).read_bytes())
    for path in files:
        h.update(b"\0" + path.name.encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()[:16]


def build_index(files: list[Path], *, folder: Path | None = None, workers: int | None = None) -> PrecedentIndex:
    """Index the files; with `folder`, persist there atomically (a concurrent builder of the same key
    simply loses the race and uses the winner's copy)."""
    if workers is None:
        big = sum(f.stat().st_size for f in files) > PARALLEL_BYTES
        workers = min(4, os.cpu_count() or 1) if big else 1
    facts = index_build.facts_from_lines(iter_lines(files), workers=workers)
    if folder is None:
        return PrecedentIndex(data=index_build.build(facts, index_build.open_db(":memory:")))
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    tmp.mkdir(parents=True)
    try:
        db = index_build.open_db(tmp / "records.sqlite")
        data = index_build.build(facts, db)
        db.close()
        index_build.save(data, tmp)
        try:
            tmp.rename(folder)
        except OSError:  # another process built the same version first
            if not (folder / "stats.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return PrecedentIndex.load(folder)


def _prune(root: Path, keep: Path) -> None:
    olds = sorted((p for p in root.iterdir() if p.is_dir() and p != keep and ".tmp-" not in p.name),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for p in olds[KEEP_INDEXES - 1:]:
        shutil.rmtree(p, ignore_errors=True)


def _tfidf_index(settings: Settings, files: list[Path], *, persist: bool, workers: int | None
                 ) -> tuple[PrecedentIndex, Path | None]:
    """The TF-IDF index of `files`, loaded from its persisted copy or built (and persisted), with its folder."""
    if not persist:
        return build_index(files, workers=workers), None
    root = index_root(settings)
    folder = root / index_key(files)
    if (folder / "stats.json").exists():
        try:
            return PrecedentIndex.load(folder), folder
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            log.warning("persisted index %s unreadable (%s); rebuilding", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    try:
        root.mkdir(parents=True, exist_ok=True)
        index = build_index(files, folder=folder, workers=workers)
    except OSError as exc:  # read-only or full disk: still serve, from memory
        log.warning("cannot persist the index under %s (%s); indexing in memory", root, exc)
        return build_index(files, workers=workers), None
    _prune(root, folder)
    return index, folder


def _vector_cache(settings: Settings) -> VectorCache:
    try:
        return VectorCache(LLMCache(settings.db_path))
    except (OSError, sqlite3.Error) as exc:  # read-only disk: vectors for this process only
        log.warning("embedding cache unavailable (%s)", exc)
        return VectorCache(None)


def attach_dense(index: PrecedentIndex, settings: Settings, *, folder: Path | None,
                 endpoint_call: Callable[[Settings], EmbedFn] | None = None, build_all: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> None:
    """Give the index its dense vectors when an embedding engine runs: loaded from the index folder, or computed
    (only records without a cached vector are embedded). A large corpus without vectors is not embedded during an
    ordinary start (`DENSE_NOW_LIMIT`); `build_all` (assistant corpus index) embeds it, resumably."""
    embedder, mode = select_embedder(settings, endpoint_call=endpoint_call)
    if embedder is None:
        index.attach_dense(None, mode=mode)
        return
    cache = _vector_cache(settings)
    dense = DenseIndex.load(folder, embedder, len(index)) if folder is not None else None
    if dense is None:
        texts = index.dense_texts()
        missing = missing_count(embedder, texts, cache)
        if missing > DENSE_NOW_LIMIT and not build_all:
            index.attach_dense(None, mode=f"词语检索（TF-IDF）；语义检索尚未就绪：{missing} 个先例还没有向量，"
                                          "请运行 assistant corpus index")
            return
        try:
            dense = build_dense(embedder, texts, cache, progress=progress)
        except EmbeddingError as exc:
            index.attach_dense(None, mode=f"词语检索（TF-IDF）；{exc.reason}")
            return
        if folder is not None:
            try:
                dense.save(folder)
            except OSError as exc:
                log.warning("cannot keep the vectors under %s (%s)", folder, exc)
    index.attach_dense(dense, mode=mode, vectors=cache)


def open_index(settings: Settings, corpus: Path | None = None, *, persist: bool = True, workers: int | None = None,
               endpoint_call: Callable[[Settings], EmbedFn] | None = None, build_all: bool = False,
               progress: Callable[[int, int], None] | None = None) -> PrecedentIndex:
    """The index of the current corpus (loaded from its persisted copy, or built and persisted), with dense vectors
    where an embedding engine runs (see `attach_dense`)."""
    index, folder = _tfidf_index(settings, corpus_files(settings, corpus), persist=persist, workers=workers)
    attach_dense(index, settings, folder=folder, endpoint_call=endpoint_call, build_all=build_all, progress=progress)
    return index


def import_file(source: Path | bytes, settings: Settings, *, name: str | None = None,
                filename: str | None = None) -> ImportResult:
    """Add the approved targets of a file (or an uploaded body named `filename`) to the imported corpus,
    skipping tables already there. `name`: the imported file's stem (default: the source's)."""
    shown = Path(filename or (source.name if isinstance(source, Path) else "upload")).name
    if Path(shown).suffix.lower() not in {".jsonl", ".json", ".xlsx"}:
        raise InputError("先例导入只支持 .jsonl、.json 或 .xlsx 文件", where=shown)
    incoming = read_targets(source, name=shown)
    if not incoming:
        raise InputError("文件中没有可导入的绩效目标", where=shown)
    path = Path(shown)
    existing = _existing_hashes(settings)
    folder = imported_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name or path.stem}.jsonl"
    added = dup = 0
    with out.open("a", encoding="utf-8") as fh:
        for t in incoming:
            h = content_hash(t)
            if h in existing:
                dup += 1
                continue
            existing.add(h)
            data = t.model_dump(mode="json")
            data["id"] = data.get("id") or "u-" + hashlib.sha256(f"{path.name}:{h}".encode()).hexdigest()[:10]
            data["source_url"] = data.get("source_url") or f"imported:{path.name}"
            fh.write(json.dumps(data, ensure_ascii=False) + "\n")
            added += 1
    return ImportResult(added=added, duplicates=dup, path=str(out))


def _existing_hashes(settings: Settings) -> set[str]:
    """Content hashes of the corpus, from its index (built now if needed, and needed next anyway)."""
    return _tfidf_index(settings, corpus_files(settings), persist=True, workers=None)[0].content_hashes()
