"""A CJK font for the evaluation charts, chosen by file so a stale matplotlib font cache cannot hide it.

matplotlib lists fonts from a cache built when it first ran; a font installed later (fonts-wqy-microhei after
the cache) is missing from it, and Chinese labels then render as boxes. So known font files are registered
directly (`font_manager.addfont`), then the cached names are tried, then the system font folders are scanned
once for a CJK file. Without any CJK font the charts use English labels (`cjk_family()` is None).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

# Well-known locations: Debian/Ubuntu (fonts-wqy-*, fonts-noto-cjk), Fedora, Arch, macOS, Windows
KNOWN_FILES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
KNOWN_NAMES: tuple[str, ...] = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC",
                                "Source Han Sans SC", "Source Han Sans CN", "Droid Sans Fallback", "PingFang SC",
                                "Heiti SC", "Microsoft YaHei", "SimHei")
_FILE_HINTS = ("wqy", "notosanscjk", "notosanssc", "sourcehansans", "droidsansfallback", "pingfang", "msyh",
               "simhei", "uming", "ukai")
PROBE = "完整性"  # a chosen font must draw these


def _draws_chinese(path: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
        return all(font.get_char_index(ord(ch)) for ch in PROBE)
    except (OSError, RuntimeError, ValueError):
        return False


def _register(path: str) -> str | None:
    """Add a font file to matplotlib and return its family name, if it draws Chinese."""
    from matplotlib import font_manager

    if not Path(path).is_file() or not _draws_chinese(path):
        return None
    try:
        font_manager.fontManager.addfont(path)
        return str(font_manager.FontProperties(fname=path).get_name())
    except (OSError, RuntimeError, ValueError):
        return None


def _system_candidates() -> list[str]:
    from matplotlib import font_manager

    try:
        files = font_manager.findSystemFonts()
    except Exception:  # a broken fc-list or an unreadable font folder: no scan
        return []
    return sorted(f for f in files if any(h in Path(f).name.lower().replace("-", "") for h in _FILE_HINTS))


@lru_cache(maxsize=1)
def cjk_family() -> str | None:
    """The family name of a CJK font matplotlib can use now (registered if needed), or None."""
    from matplotlib import font_manager

    for path in KNOWN_FILES:
        name = _register(path)
        if name:
            return name
    cached = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for name in KNOWN_NAMES:
        if name in cached and _draws_chinese(cached[name]):
            return name
    for path in _system_candidates():  # installed after the cache was built, somewhere unusual
        name = _register(path)
        if name:
            return name
    return None


def configure(plt: Any) -> bool:
    """Point matplotlib's sans-serif list at the CJK font; False when there is none (use English labels)."""
    family = cjk_family()
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["font.sans-serif"] = [*([family] if family else []), "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return family is not None
