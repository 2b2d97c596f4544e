"""即填即用: library indicators a unit picks into its draft. Each library entry has a stable key (its sector and
content, not its position, so a bureau import does not shift what a form refers to); a picked entry becomes an
indicator row with the library's value where that value could stand as a target, and an empty value otherwise
(the rules then ask for it: a value seen in another county's table is a starting point, never this project's)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from assistant.knowledge.library import Library
from assistant.knowledge.match import indicator_hint, name_key
from assistant.models import Indicator, LibraryHint, Target

MAX_PICKS = 30


def entry_key(hint: LibraryHint) -> str:
    text = "|".join((hint.sector, hint.level1, hint.level2, hint.name, hint.seen_value or "", hint.source))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def entries(library: Library, sector: str | None = None) -> list[tuple[str, LibraryHint]]:
    """(key, hint) for every library indicator, or those of one sector (its exact name)."""
    out = []
    for s in library.sectors:
        if sector and s.sector != sector:
            continue
        out += [(entry_key(h), h) for h in (indicator_hint(s, i) for i in s.core_indicators)]
    return out


def add_to_draft(target: Target, library: Library, keys: Sequence[str]) -> tuple[Target, list[LibraryHint], list[str]]:
    """(the draft with the picked indicators appended, the entries added, the names skipped because the draft
    already has an indicator of that name). Unknown keys are ignored (the library may have changed since the page
    was shown); at most MAX_PICKS at once."""
    wanted = list(dict.fromkeys(keys))[:MAX_PICKS]
    by_key = dict(entries(library))
    have = {name_key(i.name) for i in target.indicators}
    added: list[LibraryHint] = []
    skipped: list[str] = []
    rows = list(target.indicators)
    for key in wanted:
        hint = by_key.get(key)
        if hint is None:
            continue
        if name_key(hint.name) in have:
            skipped.append(hint.name)
            continue
        have.add(name_key(hint.name))
        rows.append(Indicator(level1=hint.level1, level2=hint.level2, name=hint.name, value=hint.typical_value or ""))
        added.append(hint)
    return target.model_copy(update={"indicators": rows}), added, skipped
