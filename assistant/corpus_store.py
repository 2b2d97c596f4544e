"""The precedent corpus on disk: the shipped records plus a bureau's imported history.

Imported files go to `<db folder>/corpus/*.jsonl`, each record keeping its provenance
(`source_url` = `imported:<file name>` when the file gave none). Records are never edited.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from assistant.errors import InputError
from assistant.models import Strict, Target
from assistant.records import content_hash, read_targets
from assistant.retrieve import PrecedentIndex
from assistant.settings import Settings


class ImportResult(Strict):
    added: int
    duplicates: int
    path: str


def imported_dir(settings: Settings) -> Path:
    return settings.db_path.parent / "corpus"


def load_all(settings: Settings, corpus: Path | None = None) -> list[Target]:
    records = read_targets(corpus or settings.corpus_path)
    folder = imported_dir(settings)
    if corpus is None and folder.is_dir():
        for path in sorted(folder.glob("*.jsonl")):
            records.extend(read_targets(path))
    return records


def open_index(settings: Settings, corpus: Path | None = None) -> PrecedentIndex:
    return PrecedentIndex(load_all(settings, corpus))


def import_file(path: Path, settings: Settings, *, name: str | None = None) -> ImportResult:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from assistant.importers.xlsx import read_targets as read_xlsx

        incoming = read_xlsx(path)
    elif suffix in {".json", ".jsonl"}:
        incoming = read_targets(path)
    else:
        raise InputError("先例导入只支持 .jsonl、.json 或 .xlsx 文件", where=str(path))
    if not incoming:
        raise InputError("文件中没有可导入的绩效目标", where=str(path))
    existing = {content_hash(t) for t in load_all(settings)}
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
