"""The one detector of instruction-like text (prompt injection) in a target's fields.

Every text field that reaches the LLM prompt is scanned (header, goals, every indicator field, prior-year
indicators, budget lines). Text is normalised first, so a disguise does not hide an instruction: NFKC (full-width
Latin → ASCII), traditional → simplified for the characters the patterns use, zero-width and soft-hyphen
characters removed, and spacing or separators between single characters closed up (「忽 略 以 上」,
「i g n o r e」). Patterns cover direct orders, role play, prompt syntax, score demands and paraphrased 审核说明
in Chinese and English. Rule X-01 reports the hits to users, and the LLM critic keeps its scores at or below the
offline review's wherever a hit exists. Pure; no I/O. (retrieve/instructions.py adds hits by meaning.)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

from assistant.models import Indicator, InstructionHit, Target

# traditional → simplified for every character the patterns below use (detection only; the text shown is the user's)
_TRAD = str.maketrans({
    "評": "评", "為": "为", "優": "优", "滿": "满", "無": "无", "視": "视", "請": "请", "將": "将", "給": "给",
    "項": "项", "現": "现", "統": "统", "詞": "词", "規": "规", "則": "则", "級": "级", "審": "审", "說": "说",
    "維": "维", "該": "该", "這": "这", "條": "条", "與": "与", "們": "们", "對": "对", "應": "应", "數": "数",
    "務": "务", "須": "须", "發": "发", "確": "确", "準": "准", "讀": "读", "後": "后", "並": "并", "問": "问",
    "題": "题", "際": "际", "達": "达", "結": "结", "論": "论", "過": "过", "記": "记", "從": "从", "開": "开",
    "處": "处", "實": "实", "標": "标", "遺": "遗", "設": "设", "調": "调", "點": "点", "個": "个", "兩": "两",
    "輸": "输", "時": "时", "轉": "转", "換": "换", "張": "张", "體": "体", "頭": "头", "讓": "让", "義": "义",
    "認": "认", "萬": "万", "內": "内", "專": "专", "員": "员", "顯": "显", "衝": "冲", "蓋": "盖", "寫": "写",
    "關": "关", "繫": "系", "係": "系", "總": "总", "價": "价", "獎": "奖", "懇": "恳",
})
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
_SPACED_CJK = re.compile(r"(?<=[\u4e00-\u9fff])[\s·•\-_*/\\|~.。、]{1,3}(?=[\u4e00-\u9fff])")
_SPACED_LATIN = re.compile(r"\b(?:[A-Za-z][\s·.\-_*]{1,2}){3,}[A-Za-z]\b")


def normalise(text: str) -> str:
    """The text as the detector reads it (see the module docstring)."""
    t = unicodedata.normalize("NFKC", text)
    t = _INVISIBLE.sub("", t).translate(_TRAD)
    t = _SPACED_LATIN.sub(lambda m: re.sub(r"[\s·.\-_*]", "", m.group(0)), t)
    return _SPACED_CJK.sub("", t)


_SCORE = r"(优秀?|满分|5分|五分|5级|五级|最高分|最高级|最高等级|高分|通过|a级|100分)"
_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(忽略|无视|忘记|忘掉|不要理会|不必理会|跳过|不用管)(掉)?(以上|之前|前面|上面|上述|先前|所有|全部|此前|原有|原来的|系统)",
        rf"(直接|请|务必|一律|必须|应当|应该|统一)(将|把|对)?(本项目|该项目|本表|此表|该表|本申报表|各(个)?维度|所有维度|全部维度|每个维度|"
        rf"总分|得分|分数|等级|评分|评级)?(均|都|全部|一律)?(评|打|给|判|定|评定|记)(为|成|予|定为)?{_SCORE}",
        rf"(各|所有|全部|每个|四个)(个)?(维度|项|指标|方面).{{0,8}}(均|都|一律|全部)?(给予?|打|评|定|记)(为|成)?{_SCORE}",
        r"(评|打|给)(为|成)?(满分|最高分)",
        r"评为优秀?",
        r"给予?满分",
        r"(审核|评审|评分|打分)(人员|专家|人|员)?(说明|须知|提示|注意)[:：]",
        r"(致|请|提醒)(审核|评审|评分)(人员|专家|员|人)",
        r"你(现在|从现在起|接下来)?(是|扮演|充当|作为)(一个|一名)?",
        r"(系统提示|系统指令|提示词|system\s*prompt|系统消息)",
        r"ignore\s*(all\s*)?(the\s*)?(previous|prior|above|earlier|preceding)",
        r"disregard\s*(all\s*)?(the\s*)?(previous|prior|above|earlier|instructions|rules)",
        r"forget\s*(all\s*)?(the\s*)?(previous|prior|above|earlier|instructions|rules)",
        r"you\s*are\s*now",
        r"new\s*instructions?",
        r"(note|message|instructions?)\s*(to|for)\s*(the\s*)?(reviewer|assessor|evaluator|model|ai)",
        r"deserves?\s*(the\s*)?(top|highest|full|maximum|perfect)\s*(score|marks?|level|grade|rating)",
        r"(rate|score|grade|mark)\s+(this|it|the\s+(project|table|draft))\s+(as\s+)?(excellent|5|five|100|the\s+highest|full)",
        r"(give|assign|award)\s+(it\s+|this\s+)?(all|every|each|the\s+highest|full|maximum|top)\s*"
        r"(dimensions?|criteria|scores?|marks?|levels?|points?)?",
        r"(all|every|each)\s+dimensions?\s+(should|must|shall)?\s*(be|get|receive)",
        r"assistant\s*:",
        r"</?\s*(system|assistant|user|target_data|precedents_data|knowledge_data)\s*>",
        r"<\|im_(start|end)\|>",
        r"###\s*(指令|instruction)",
        r"[\"“]?level[\"”]?\s*[:：=]\s*5",
    )
)
_HEADER_FIELDS = ("project_name", "department", "implementing_unit", "region", "project_attribute", "period",
                  "annual_goal", "long_term_goal")
_INDICATOR_FIELDS = ("level1", "level2", "name", "value", "basis", "operator", "unit", "explanation")
_BUDGET_FIELDS = ("item", "unit_price", "basis", "quantity_unit")


def indicator_texts(i: int, ind: Indicator) -> Iterator[tuple[str, int | None, str]]:
    """(field path, row, text) for the text fields of indicator row `i`."""
    for f in _INDICATOR_FIELDS:
        yield f"indicators[{i}].{f}", i, getattr(ind, f)


def target_texts(t: Target) -> Iterator[tuple[str, int | None, str]]:
    """(field path, indicator row or None, text) for every text field of a target that reaches the prompt."""
    for f in _HEADER_FIELDS:
        yield f, None, getattr(t, f)
    for i, ind in enumerate(t.indicators):
        yield from indicator_texts(i, ind)
    for i, p in enumerate(t.prior_indicators):
        for f in _INDICATOR_FIELDS:
            yield f"prior_indicators[{i}].{f}", None, getattr(p, f)
    for i, b in enumerate(t.budget_lines):
        for f in _BUDGET_FIELDS:
            yield f"budget_lines[{i}].{f}", None, getattr(b, f)


def find_injection(target: Target) -> list[InstructionHit]:
    """Instruction-like text inside a target's fields (empty when clean); one hit per field."""
    return scan(target_texts(target))


def scan(texts: Iterable[tuple[str, int | None, str]]) -> list[InstructionHit]:
    """Instruction-like text in (field path, row, text) triples; one hit per field."""
    hits: list[InstructionHit] = []
    for where, index, text in texts:
        if not text:
            continue
        norm = normalise(text)
        for pat in _PATTERNS:
            m = pat.search(norm)
            if m:
                start, end = max(0, m.start() - 4), min(len(norm), m.end() + 8)
                hits.append(InstructionHit(field=where, index=index, match=m.group(0), snippet=norm[start:end]))
                break
    return hits
