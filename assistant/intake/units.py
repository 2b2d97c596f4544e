"""Rate units of money, explicit: 元/人/年, 元/人天, 元/生/天, 万元/公里, 元/亩… → money in 元 per count unit per period.

Used to put a draft's cost indicator or its implied unit cost (budget ÷ main quantity) on the same footing as a
published standard. Only plain money-per-thing units are understood; anything else (percentages, formulas, "tied to
the minimum wage") is `None`, and the checks stay silent rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONEY = {"元": 1.0, "万元": 1e4, "万": 1e4, "千元": 1e3, "百万元": 1e6, "亿元": 1e8, "亿": 1e8}
_PERIODS = {"年": "年", "月": "月", "天": "天", "日": "天", "季": "季", "季度": "季", "个月": "月"}
# 人次 is not 人: a cost per person-time is multiplied by person-times, never by the head count
_COUNT_SYNONYMS = {"生": "人", "名": "人", "位": "人", "学生": "人", "平米": "平方米", "㎡": "平方米", "千米": "公里",
                   "km": "公里", "人日": "人天"}
_COMPOUND = re.compile(r"^(人|生|户|村|辆|台|套)(天|日|月|年)$")  # 人天, 人月, 辆天: a count and a period in one word
PERIODS_PER_YEAR = {"年": 1.0, "季": 4.0, "月": 12.0}  # days per year depend on the work (200 school days): never converted


@dataclass(frozen=True)
class RateUnit:
    """元 per `count` (or per nothing) per `period` (or once)."""

    to_yuan: float  # the money head in 元 (万元 → 10000)
    count: str | None  # 人, 亩, 公里, 村, 学时…
    period: str | None  # 年, 月, 天

    def text(self) -> str:
        return "元" + (f"/{self.count}" if self.count else "") + (f"/{self.period}" if self.period else "")


def parse_rate(unit: str) -> RateUnit | None:
    """'元/人/年' → (1, 人, 年); '元/人天' → (1, 人, 天); '万元/公里' → (1e4, 公里, None); 'formula…' → None."""
    u = re.sub(r"\s+", "", (unit or "").replace("·", "/").replace("／", "/"))
    u = re.sub(r"[（(].*$", "", u)  # "元/人 (一次性)": the note does not change the unit
    parts = [p for p in u.split("/") if p]
    if len(parts) < 2 or parts[0] not in _MONEY:
        return None
    count: str | None = None
    period: str | None = None
    for part in parts[1:]:
        m = _COMPOUND.match(part)
        pieces = [m.group(1), m.group(2)] if m else [part]
        for p in pieces:
            if p in _PERIODS and period is None:
                period = _PERIODS[p]
            elif count is None and not re.search(r"\d|%|倍", p):
                count = _COUNT_SYNONYMS.get(p, p)
            else:
                return None
    return RateUnit(_MONEY[parts[0]], count, period)


def _count_key(u: str) -> str:
    u = u.replace("/", "")  # 人/次 → 人次
    return _COUNT_SYNONYMS.get(u, u)


def same_count(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and _count_key(a) == _count_key(b)


def convert(value: float, frm: RateUnit, to: RateUnit) -> float | None:
    """`value` in unit `frm` expressed in unit `to` (money and period converted; the count must be the same),
    or None when the two do not measure the same thing."""
    if (frm.count or to.count) and not same_count(frm.count, to.count):
        return None
    yuan = value * frm.to_yuan / to.to_yuan
    if frm.period == to.period:
        return yuan
    if frm.period not in PERIODS_PER_YEAR or to.period not in PERIODS_PER_YEAR:
        return None  # a once-off amount is not a yearly one; a year is not a known number of working days
    return yuan * PERIODS_PER_YEAR[frm.period] / PERIODS_PER_YEAR[to.period]


def count_scale(unit: str | None, count: str) -> float | None:
    """How many `count` one `unit` is (人 → 1, 万人 → 10000, 人次 → 1), or None when it counts something else."""
    if same_count(unit, count):
        return 1.0
    for prefix, factor in (("万", 1e4), ("千", 1e3), ("亿", 1e8)):
        if unit and unit.startswith(prefix) and same_count(unit[len(prefix):], count):
            return factor
    return None


def fmt_number(x: float) -> str:
    """A plain figure without scientific notation: 15000, 2.74, 0.03."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    digits = 4 if abs(x) < 1 else 2 if abs(x) < 1e4 else 1
    return f"{x:.{digits}f}".rstrip("0").rstrip(".")


def fmt_money(yuan: float) -> str:
    """「139元」, 「1.44万元」: the figure a reviewer would write."""
    if abs(yuan) >= 1e4:
        return f"{fmt_number(round(yuan / 1e4, 2))}万元"
    return f"{fmt_number(round(yuan, 1 if abs(yuan) >= 100 else 2))}元"
