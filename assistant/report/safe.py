"""Formula-injection escaping, shared by every exporter.

Spreadsheet programs run text that starts with =, +, -, @ (and, after a tab or carriage return,
the same) as a formula: 「=HYPERLINK("http://evil","点击")」 in a project name must stay text.
`safe_text` prefixes such text with an apostrophe (OWASP "CSV injection" advice) and drops
control characters that XML cannot hold.
"""

from __future__ import annotations

import re
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def safe_text(value: Any) -> str:
    """Text safe to put into any exported cell (xlsx or docx table)."""
    text = "" if value is None else str(value)
    text = _ILLEGAL.sub("", text)
    if text.startswith(_TRIGGERS):
        return "'" + text
    return text
