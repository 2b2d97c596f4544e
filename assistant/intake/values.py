"""Parse indicator target values (指标值) into operator / number / unit / date / kind.

`parse_value` is pure and never raises. Lexicons are exported for the rule engine.
See RULEBOOK §2.4 (value forms) and §5.1 (vague wording).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import math
import re
from functools import lru_cache

from assistant.models import ParsedValue, ValueKind

__all__ = [
    "VAGUE_TERMS",
    "VAGUE_VALUE_WORDS",
    "HEDGE_TERMS",
    "QUALITATIVE_GRADES",
    "TIME_UNITS",
    "CURRENCY_UNITS",
    "RATE_UNITS",
    "DATE_UNIT_HINTS",
    "parse_value",
    "format_value",
    "normalise_unit",
    "normalise_text",
    "find_vague_terms",
    "is_currency_unit",
    "is_rate_unit",
    "is_time_unit",
]

# --- lexicons ---------------------------------------------------------------

VAGUE_TERMS: tuple[str, ...] = (
    "进一步", "明显改善", "明显提升", "有效促进", "有效提升", "有效保障", "有所提高", "有所改善",
    "有所提升", "显著", "大幅", "大力", "全面提升", "不断", "持续", "稳步", "逐步", "较好", "良好",
    "较高", "基本", "力争", "争取", "尽量", "原则上", "约", "左右", "若干", "部分", "一批", "多项",
    "确保", "保证", "做好", "落实", "推进", "切实", "积极", "应保尽保", "按时", "及时", "按月",
    "提高", "提升", "增加", "改善", "加强", "完善",
)
# Extra words that are vague when they stand alone in a value cell (not in §5.1 verbatim).
VAGUE_VALUE_WORDS: tuple[str, ...] = (
    "全年", "按计划", "明显", "有所", "较上年", "缩小", "减轻", "增强", "减少", "降低", "促进",
    "保障", "优化", "改进", "到位", "不超预算", "控制在预算内", "预算内",
)
HEDGE_TERMS: tuple[str, ...] = ("约", "左右", "力争", "争取", "尽量", "基本", "原则上", "大约", "大概")
BUDGET_RESTATED: tuple[str, ...] = ("不超预算", "控制在预算内", "预算内", "预算标准内", "不超过预算")

QUALITATIVE_GRADES: tuple[str, ...] = (
    "优", "良", "优良", "优秀", "好", "较好", "良好", "中", "一般", "差", "合格", "不合格", "达标",
    "未达标", "是", "否", "有", "无", "高", "低", "高中低", "优良中差", "达到", "部分达到", "未达到",
    "达成", "部分达成", "未达成", "达到预期", "达到预期目标", "部分达到预期目标", "未达到预期目标",
    "有效", "长期", "稳定", "正常", "正常运行", "满意", "基本满意", "不满意", "完成", "已完成",
    "符合", "符合要求", "不符合", "通过", "通过验收", "提升", "降低",
)
TIME_UNITS: tuple[str, ...] = ("天", "日", "工作日", "小时", "分钟", "月", "个月", "年", "周", "个星期", "星期", "秒")
CURRENCY_UNITS: tuple[str, ...] = ("元", "万元", "亿元", "万", "千元", "百万元", "美元", "角", "分钱")
RATE_UNITS: tuple[str, ...] = ("%", "‰", "百分比", "百分点", "个百分点")
DATE_UNIT_HINTS: tuple[str, ...] = ("日期", "年月日", "年-月-日", "年月", "时间", "date", "yyyy-mm-dd", "截止日期")

_UNIT_MAP = {"％": "%", "平米": "平方米", "个工作日": "工作日", "人数": "人", "㎡": "平方米", "m²": "平方米", "m2": "平方米"}

# operators: (pattern, op, implied) longest first
_OP_WORDS: list[tuple[str, str, bool]] = [
    ("大于或等于", ">=", True), ("小于或等于", "<=", True), ("大于等于", ">=", True), ("小于等于", "<=", True),
    ("高于等于", ">=", True), ("低于等于", "<=", True), (">=", ">=", False), ("=>", ">=", False),
    ("<=", "<=", False), ("=<", "<=", False), ("==", "=", False), ("≥", ">=", False), ("≤", "<=", False),
    ("不低于", ">=", True), ("不少于", ">=", True), ("不小于", ">=", True), ("至少", ">=", True),
    ("达到", ">=", True), ("不高于", "<=", True), ("不超过", "<=", True), ("不多于", "<=", True),
    ("不大于", "<=", True), ("不超", "<=", True), ("最多", "<=", True), ("控制在", "<=", True),
    ("大于", ">", True), ("高于", ">", True), ("超过", ">", True), ("多于", ">", True),
    ("小于", "<", True), ("低于", "<", True), ("少于", "<", True), ("等于", "=", True),
    (">", ">", False), ("<", "<", False), ("=", "=", False),
]
_SUFFIX_OPS: list[tuple[str, str]] = [
    ("及以上", ">="), ("或以上", ">="), ("以上", ">="), ("及以下", "<="), ("或以下", "<="), ("以下", "<="),
    ("以内", "<="), ("之内", "<="), ("内", "<="),
]
_OP_SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "=": "="}

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_UNIT_CHARS = r"[%‰A-Za-zμ³²\u4e00-\u9fff/·.\-]"
_QUANT_RE = re.compile(rf"^(?P<num>{_NUM})(?P<unit>{_UNIT_CHARS}{{0,12}}?)$")
_RANGE_RE = re.compile(rf"^(?P<a>{_NUM})(?P<u1>%|{_UNIT_CHARS}{{0,6}}?)(?:-|~|至|到|—)(?P<b>{_NUM})(?P<unit>{_UNIT_CHARS}{{0,12}}?)$")
_PLACEHOLDER_RE = re.compile(r"\*+|[xX]{2,}|×{2,}|○{2,}|…{2,}|_{2,}")
_LONG_TEXT_LEN = 15

# --- helpers ----------------------------------------------------------------


def normalise_text(s: str) -> tuple[str, bool]:
    """Map full-width forms to ASCII and ≧/≦ to ≥/≤; return (text, had_fullwidth)."""
    out: list[str] = []
    fw = False
    for ch in s:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
            fw = True
        elif ch == "\u3000":
            out.append(" ")
            fw = True
        elif ch == "≧":
            out.append("≥")
        elif ch == "≦":
            out.append("≤")
        else:
            out.append(ch)
    return "".join(out), fw


def normalise_unit(unit: str) -> str:
    """Light unit normalisation: ％→%, 平米→平方米, 个工作日→工作日, 人数→人."""
    u, _ = normalise_text((unit or "").strip())
    u = re.sub(r"\s+", "", u)
    for k, v in _UNIT_MAP.items():
        u = u.replace(k, v)
    return u


def is_time_unit(unit: str) -> bool:
    return normalise_unit(unit) in TIME_UNITS


def is_currency_unit(unit: str) -> bool:
    """True for 元, 万元, 亿元, 万 (money) and compounds such as 元/人, 万元/公里, 元/人·月."""
    u = normalise_unit(unit)
    if not u:
        return False
    head = re.split(r"[/·.]", u, maxsplit=1)[0]
    return head in CURRENCY_UNITS


def is_rate_unit(unit: str) -> bool:
    return normalise_unit(unit) in RATE_UNITS


@lru_cache(maxsize=1)
def _vague_re() -> re.Pattern[str]:
    lex = sorted(set(VAGUE_TERMS) | set(VAGUE_VALUE_WORDS), key=lambda w: (-len(w), w))
    return re.compile("|".join(map(re.escape, lex)))


def find_vague_terms(text: str) -> list[str]:
    """Greedy longest-match scan for VAGUE_TERMS + VAGUE_VALUE_WORDS; no overlaps (a compiled
    alternation, longest word first, is the same left-to-right scan)."""
    found: list[str] = []
    for m in _vague_re().finditer(text):
        if m.group() not in found:
            found.append(m.group())
    return found


def _to_float(s: str) -> float:
    return float(s.replace(",", ""))


def _excel_iso(n: int) -> str:
    return (_dt.date(1899, 12, 30) + _dt.timedelta(days=n)).isoformat()


def _iso(y: int, m: int | None, d: int | None, end: bool = False) -> str | None:
    """ISO date; `end` means the last day of the month / year when not given."""
    if not 1900 <= y <= 2100:
        return None
    if m is None:
        return f"{y:04d}-12-31" if end else f"{y:04d}"
    if not 1 <= m <= 12:
        return None
    if d is None:
        if end:
            return f"{y:04d}-{m:02d}-{calendar.monthrange(y, m)[1]:02d}"
        return f"{y:04d}-{m:02d}"
    if not 1 <= d <= calendar.monthrange(y, m)[1]:
        return None
    return f"{y:04d}-{m:02d}-{d:02d}"


_CN_DATE = re.compile(r"^(\d{4})年(?:(\d{1,2})月(?:(\d{1,2})[日号])?)?(底|末|全年)?$")
_SEP_DATE = re.compile(r"^(\d{4})([./-])(\d{1,2})(?:\2(\d{1,2}))?$")
_PART_DATE = re.compile(r"^(\d{1,2})月(?:(\d{1,2})[日号])?(底|末)?$")
_RANGE_SEPS = ("--", "——", "—", "–", "~", "至", "到", "-")


def _single_date(s: str, *, in_range: bool = False, year: int | None = None) -> tuple[str | None, bool] | None:
    """Parse one date; returns (iso, is_whole_year) or None. `year` is inherited for `12月`."""
    m = _CN_DATE.match(s)
    if m:
        y = int(m.group(1))
        mo = int(m.group(2)) if m.group(2) else None
        d = int(m.group(3)) if m.group(3) else None
        tail = m.group(4) or ""
        iso = _iso(y, mo, d, end=bool(tail) or mo is None)
        return (iso, tail == "全年") if iso else None
    m = _SEP_DATE.match(s)
    if m and (in_range or m.group(2) != "." or m.group(4)):
        y, mo = int(m.group(1)), int(m.group(3))
        d = int(m.group(4)) if m.group(4) else None
        iso = _iso(y, mo, d)
        return (iso, False) if iso else None
    m = _PART_DATE.match(s)
    if m and in_range:
        mo = int(m.group(1))
        d = int(m.group(2)) if m.group(2) else None
        iso = _iso(year, mo, d, end=bool(m.group(3))) if year else None
        return (iso, False) if iso else None
    return None


def _parse_date(s: str) -> tuple[str | None, str | None, list[str]] | None:
    """Return (iso, op, flags) for a deadline/date-range string, else None."""
    flags: list[str] = []
    op: str | None = None
    body = s
    for pre in ("截至", "截止", "于", "在"):
        if body.startswith(pre):
            body = body[len(pre):]
    for sym, o in (("≤", "<="), ("<=", "<="), ("<", "<"), ("≥", ">="), (">=", ">="), ("=", "=")):
        if body.startswith(sym):
            op, body = o, body[len(sym):]
            break
    m = re.match(r"^(.*?)(之前|以前|前|以内|之内|内)?(完成|到位|竣工|完工|开工|交付|实施|结束|发放|建成)?(之前|以前|前)?$", body)
    core = body
    if m and m.group(1):
        core = m.group(1)
        if m.group(2) or m.group(4):
            op = op or "<="
    if not core or not core[0].isdigit():
        return None
    one = _single_date(core)
    if one:
        iso, whole_year = one
        if whole_year:
            op = "range"
        elif core.endswith(("底", "末")):
            op = op or "<="
        return iso, op, flags
    for sep in _RANGE_SEPS:
        start = 0
        while (i := core.find(sep, start)) > 0:
            left, right = core[:i], core[i + len(sep):]
            start = i + 1
            a = _single_date(left, in_range=True)
            if not a:
                continue
            b = _single_date(right, in_range=True, year=int(a[0][:4]) if a[0] else None)
            if b and b[0]:
                return b[0], "range", flags
    m = _PART_DATE.match(core)
    if m:
        return None, op, ["no_year"]
    return None


def _strip_op(s: str) -> tuple[str, str | None, bool, list[str]]:
    """Remove leading operator words/symbols; return (rest, op, implied, flags)."""
    flags: list[str] = []
    for hedge in ("大约", "约", "力争", "争取", "原则上", "基本"):
        if s.startswith(hedge):
            s = s[len(hedge):]
            flags.append("hedged")
    if s.startswith("±"):
        flags.append("plus_minus")
        return s[1:], "<=", True, flags
    for word, op, implied in _OP_WORDS:
        if s.startswith(word):
            rest = s[len(word):]
            for hedge in ("约",):
                if rest.startswith(hedge):
                    rest = rest[len(hedge):]
                    flags.append("hedged")
            return rest, op, implied, flags
    return s, None, False, flags


def _strip_suffix(s: str) -> tuple[str, str | None, list[str]]:
    flags: list[str] = []
    op: str | None = None
    for hedge in ("左右",):
        if s.endswith(hedge):
            s = s[: -len(hedge)]
            flags.append("hedged")
    for word, o in _SUFFIX_OPS:
        if s.endswith(word) and len(s) > len(word) and s[-len(word) - 1] not in "/":
            s, op = s[: -len(word)], o
            break
    if s.endswith("左右"):
        s = s[:-2]
        flags.append("hedged")
    return s, op, flags


def _add(flags: list[str], *names: str) -> None:
    for n in names:
        if n not in flags:
            flags.append(n)


# --- main entry -------------------------------------------------------------


def parse_value(raw: str, *, unit: str = "", operator: str = "") -> ParsedValue:
    """Parse a value cell (plus optional 计量单位 / 计算符号 columns). Never raises."""
    text = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
    try:
        return _parse(text, unit if isinstance(unit, str) else str(unit or ""),
                      operator if isinstance(operator, str) else str(operator or ""))
    except Exception:  # pragma: no cover - defensive
        return ParsedValue(raw=text, kind="unparseable", flags=["parse_error"])


def _parse(raw: str, unit_col: str, op_col: str) -> ParsedValue:
    norm, fw = normalise_text(raw)
    s = re.sub(r"\s+", " ", norm).strip()
    op_c, fw2 = normalise_text(op_col.strip())
    unit_c = normalise_unit(unit_col)
    flags: list[str] = ["fullwidth"] if (fw or fw2) else []
    qualitative_hint = op_c.startswith("定性")
    if qualitative_hint:
        op_c = ""
    if not s:
        return ParsedValue(raw=raw, kind="empty", unit=unit_c, flags=flags)
    compact = s.replace(" ", "")
    if _PLACEHOLDER_RE.search(compact):  # template residue: ≥**, **元/人·月, XX%
        return _placeholder(raw, compact, op_c, unit_c, flags)
    if op_c and _strip_op(compact)[1] is None:  # merge a separate operator column
        compact = op_c.replace(" ", "") + compact
    d = _parse_date(compact)  # dates and deadlines
    if d is not None:
        iso, op, f2 = d
        _add(flags, *f2)
        return ParsedValue(raw=raw, kind="deadline", op=op, date=iso, flags=flags)
    number = _number(raw, compact, unit_c, flags)  # op + number + unit (+ suffix)
    return number if number is not None else _text(raw, compact, unit_c, flags, qualitative_hint)


def _placeholder(raw: str, compact: str, op_c: str, unit_c: str, flags: list[str]) -> ParsedValue:
    rest, op, implied, f2 = _strip_op(_PLACEHOLDER_RE.sub("", compact))
    if not op and op_c:
        op = _strip_op(op_c)[1]
    rest, sop, _ = _strip_suffix(rest)
    u = normalise_unit(rest) if re.fullmatch(f"{_UNIT_CHARS}{{0,12}}", rest) else ""
    _add(flags, "template_residue")
    return ParsedValue(raw=raw, kind="unparseable", op=op or sop, unit=u or unit_c, flags=flags)


def _number(raw: str, compact: str, unit_c: str, flags: list[str]) -> ParsedValue | None:
    """`≥95%`, `不少于200人`, `30-50万元`, an Excel date serial…; None when the text is not a number."""
    rest, op, implied, f_op = _strip_op(compact)
    _add(flags, *f_op)
    rest, sop, f_suf = _strip_suffix(rest)
    _add(flags, *f_suf)
    if sop and not op:
        op, implied = sop, True
    m = _QUANT_RE.match(rest)
    rng = None if m else _RANGE_RE.match(rest)
    if not (m or rng):
        return None
    if rng:
        number, high = _to_float(rng.group("a")), _to_float(rng.group("b"))
        u = normalise_unit(rng.group("unit") or rng.group("u1"))
        op, implied = "range", False
    else:
        assert m is not None
        number, high = _to_float(m.group("num")), None
        u = normalise_unit(m.group("unit"))
    if not math.isfinite(number) or (high is not None and not math.isfinite(high)):
        # hundreds of digits overflow to inf: not a target anyone can meet, and never to be used in arithmetic
        _add(flags, "number_out_of_range")
        return ParsedValue(raw=raw, kind="unparseable", op=None if op == "range" else op, unit=u or unit_c, flags=flags)
    date_col = bool(unit_c) and any(h in unit_c for h in DATE_UNIT_HINTS)
    if not u and unit_c and not date_col:
        u = unit_c
    if implied:
        _add(flags, "operator_implied")
    kind: ValueKind = "quantitative"
    date = None
    num_txt = m.group("num") if m else ""
    if m and not u and re.fullmatch(r"\d{5}|\d{2},\d{3}", num_txt) and 36000 <= number <= 55000:
        _add(flags, "possible_excel_date")
        date = _excel_iso(int(number))
        if date_col:
            kind = "deadline"
    if kind == "quantitative" and u in TIME_UNITS:
        kind = "duration"
    if kind == "quantitative":
        if op is None:
            _add(flags, "no_operator")
        if not u:
            _add(flags, "no_unit")
        if u == "%":
            if number > 100 or (high is not None and high > 100):
                _add(flags, "percent_over_100")
            if number == 100 and op in (">=", ">"):
                _add(flags, "ceiling_operator")
    vt = [t for t in find_vague_terms(compact) if t in HEDGE_TERMS or t in ("左右",)]
    if vt:
        _add(flags, "hedged", "vague")
    return ParsedValue(raw=raw, kind=kind, op=op, number=number, number_high=high, unit=u,
                       date=date, flags=flags, vague_terms=vt)


def _text(raw: str, compact: str, unit_c: str, flags: list[str], qualitative_hint: bool) -> ParsedValue:
    """A value without a number: a grade, a yes/no, vague wording, a restated budget or unreadable text."""
    vt = find_vague_terms(compact)
    body = compact[2:].strip() if compact.startswith("定性") else compact
    if compact.startswith("定性"):
        qualitative_hint = True
    is_long = len(compact) > _LONG_TEXT_LEN or (len(compact) > 8 and re.search(r"[,;。，；、]", compact))
    if is_long:
        _add(flags, "long_text")
    if any(h in compact for h in HEDGE_TERMS) and any(t in HEDGE_TERMS for t in vt):
        _add(flags, "hedged")
    budget = re.search(r"(?:不超|控制在|不超过|不突破).{0,6}预算", compact)
    if budget or any(b in compact for b in BUDGET_RESTATED):
        _add(flags, "budget_restated")
        if not vt:
            vt = [budget.group(0) if budget else next(b for b in BUDGET_RESTATED if b in compact)]
    if body in QUALITATIVE_GRADES or (body and set(body) <= set("优良中差高低好") and len(body) <= 4):
        vt = [t for t in vt if t != "部分"]  # 部分达到/部分达成 is a defined grade
        if vt:
            _add(flags, "vague")
        return ParsedValue(raw=raw, kind="qualitative", unit=unit_c, flags=flags, vague_terms=vt)
    if vt:
        _add(flags, "vague")
        return ParsedValue(raw=raw, kind="vague", unit=unit_c, flags=flags, vague_terms=vt)
    if qualitative_hint or is_long or re.search(r"[\u4e00-\u9fff]", compact) and not re.search(r"\d", compact):
        return ParsedValue(raw=raw, kind="qualitative", unit=unit_c, flags=flags)
    return ParsedValue(raw=raw, kind="unparseable", unit=unit_c, flags=flags)


def _fmt_num(n: float | None) -> str:
    if n is None:
        return ""
    return (f"{n:.6f}").rstrip("0").rstrip(".") if n != int(n) else str(int(n))


def format_value(pv: ParsedValue) -> str:
    """Render a ParsedValue as a canonical display string, e.g. `≥95%`."""
    if pv.kind == "empty":
        return ""
    if pv.kind in ("quantitative", "duration") and pv.number is not None:
        if pv.op == "range":
            return f"{_fmt_num(pv.number)}-{_fmt_num(pv.number_high)}{pv.unit}"
        return f"{_OP_SYMBOL.get(pv.op or '', '')}{_fmt_num(pv.number)}{pv.unit}"
    if pv.kind == "deadline" and pv.date and pv.op != "range":
        return f"{_OP_SYMBOL.get(pv.op or '', '')}{pv.date}"
    if pv.kind == "unparseable" and "template_residue" in pv.flags:
        return f"{_OP_SYMBOL.get(pv.op or '', '')}**{pv.unit}"
    return pv.raw.strip()
