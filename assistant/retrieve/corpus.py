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
import time
from collections.abc import Iterator
from pathlib import Path

from assistant.errors import InputError
from assistant.intake.reader import read_targets
from assistant.intake.records import content_hash
from assistant.models import Strict, Target
from assistant.retrieve import build as index_build
from assistant.retrieve.index import PrecedentIndex
from assistant.settings import Settings

log = logging.getLogger(__name__)
_PKG = Path(__file__).resolve().parent.parent
# code whose change alters what the index stores (tokens, normalised precedent cards, unit costs)
_INDEX_CODE = ["retrieve/build.py", "intake/taxonomy.py", "intake/values.py", "intake/textproc.py", "models.py",
               "intake/records.py", "intake/quantities.py", "data/domain_dict.txt"]
PARALLEL_BYTES = 8 * 1024 * 1024  # corpora larger than this are indexed with worker processes
KEEP_INDEXES = 3


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


def open_index(settings: Settings, corpus: Path | None = None, *, persist: bool = True,
               workers: int | None = None) -> PrecedentIndex:
    """The index of the current corpus: loaded from its persisted copy, or built (and persisted)."""
    files = corpus_files(settings, corpus)
    if not persist:
        return build_index(files, workers=workers)
    root = index_root(settings)
    folder = root / index_key(files)
    if (folder / "stats.json").exists():
        try:
            return PrecedentIndex.load(folder)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            log.warning("persisted index %s unreadable (%s); rebuilding", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    try:
        root.mkdir(parents=True, exist_ok=True)
        index = build_index(files, folder=folder, workers=workers)
    except OSError as exc:  # read-only or full disk: still serve, from memory
        log.warning("cannot persist the index under %s (%s); indexing in memory", root, exc)
        return build_index(files, workers=workers)
    _prune(root, folder)
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
    return open_index(settings).content_hashes()
