"""The sector indicator library in the web app: browse and search it (every signed-in user), pick its indicators
into a draft (units), and import or remove a bureau's own 指标库 / 支出标准 files (admins). After an import or a
removal the server's review dependencies are rebuilt, so the next review uses the new entries."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.errors import InputError, NotFoundError
from assistant.knowledge.base import knowledge_for
from assistant.knowledge.importer import LibraryImport, import_library
from assistant.knowledge.library import Library, imported_dir, load_library, parse_lines
from assistant.knowledge.match import KnowledgeBase, standard_hint
from assistant.knowledge.picks import entries, entry_key
from assistant.models import LibraryHint
from assistant.web import profiles, service
from assistant.web.auth import User


class LibraryEntry(BaseModel):
    key: str = Field(description="条目编号（选用到草稿时使用）")
    kind: str = Field(description="指标 / 支出标准")
    sector: str
    level1: str = ""
    level2: str = ""
    name: str
    typical_value: str | None = Field(default=None, description="可直接作为目标值的参考值；无则为空")
    seen_value: str | None = Field(default=None, description="来源中的原值（可能是说明或占位）")
    source: str = ""
    note: str = ""
    score: float | None = None


class ImportedFile(BaseModel):
    name: str
    profile: str | None = None
    sectors: int
    indicators: int
    standards: int
    modified: str


def kb_for(app_state: Any, profile: str | None) -> KnowledgeBase:
    deps = profiles.deps_for(app_state, profile)
    if deps.knowledge is not None:
        return deps.knowledge
    return knowledge_for(load_library(app_state.settings.db_path), deps.profile.name, deps.index)


def _entry(key: str, h: LibraryHint, kind: str, score: float | None = None) -> LibraryEntry:
    return LibraryEntry(key=key, kind=kind, sector=h.sector, level1=h.level1, level2=h.level2, name=h.name,
                        typical_value=h.typical_value, seen_value=h.seen_value, source=h.source, note=h.note, score=score)


def browse(kb: KnowledgeBase, *, query: str = "", sector: str = "", k: int = 50) -> list[LibraryEntry]:
    """A sector's indicators (all of them), or the entries closest to `query` (indicators and standards)."""
    lib = kb.library
    if query.strip():
        return [_entry(entry_key(h) if h.kind == "indicator" else "", h, "指标" if h.kind == "indicator" else "支出标准",
                       score) for h, score in kb.search(query.strip()[:100], k=k, sector=sector or None)]
    if sector:
        inds = [_entry(key, h, "指标") for key, h in entries(lib, sector)]
        return inds + standards_of(lib, sector)
    return []


def standards_of(lib: Library, sector: str) -> list[LibraryEntry]:
    from assistant.knowledge.match import SECTOR_MAP

    wanted = {s for s, mapped in SECTOR_MAP.items() if sector in mapped} | {sector}
    return [_entry("", standard_hint(u), "支出标准") for u in lib.standards if u.sector in wanted]


def sector_counts(lib: Library) -> list[tuple[str, int]]:
    return [(s.sector, len(s.core_indicators)) for s in lib.sectors]


def summary(app_state: Any) -> dict[str, Any]:
    profile = profiles.resolve(app_state, None).name
    lib = load_library(app_state.settings.db_path).for_profile(profile)
    return {"sectors": len(lib.sectors), "indicators": sum(len(s.core_indicators) for s in lib.sectors),
            "standards": len(lib.standards), "version": lib.version, "profile": profile,
            "files": imported_files(app_state)}


def imported_files(app_state: Any) -> list[ImportedFile]:
    folder = imported_dir(app_state.settings.db_path)
    out = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        try:
            text = path.read_text(encoding="utf-8")
            sectors, standards = parse_lines((line, path.name) for line in text.splitlines())
        except (OSError, InputError):
            continue
        profile = next((s.profile for s in sectors if s.profile), None) or next(
            (u.profile for u in standards if u.profile), None)
        when = dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        out.append(ImportedFile(name=path.name, profile=profile, sectors=len(sectors),
                                indicators=sum(len(s.core_indicators) for s in sectors), standards=len(standards),
                                modified=when))
    return out


def _refresh(app_state: Any) -> None:
    """Rebuild the server's knowledge after the library files changed (profile deps follow the base deps)."""
    with service._deps_lock:
        deps = app_state.deps
        knowledge = knowledge_for(load_library(app_state.settings.db_path), deps.profile.name, deps.index)
        app_state.deps = dataclasses.replace(deps, knowledge=knowledge)


def import_upload(app_state: Any, user: User, filename: str, data: bytes, profile: str | None) -> LibraryImport:
    service.require(user, "admin")
    if profile:
        profiles.resolve(app_state, profile)  # an unknown profile is an error, not a silent no-op
    name = Path(filename or "library.jsonl").name
    result = import_library(data, app_state.settings.db_path, filename=name, profile=profile or None)
    _refresh(app_state)
    app_state.store.audit(user.username, "library_imported", f"library:{result.file}",
                          {"indicators": result.indicators, "standards": result.standards, "profile": profile or ""})
    return result


def delete_imported(app_state: Any, user: User, name: str) -> None:
    service.require(user, "admin")
    folder = imported_dir(app_state.settings.db_path)
    path = folder / Path(name).name
    if path.suffix != ".jsonl" or not path.is_file():
        raise NotFoundError(f"没有名为「{name}」的导入文件")
    path.unlink()
    _refresh(app_state)
    app_state.store.audit(user.username, "library_deleted", f"library:{path.name}")

