"""Facts derived once per review from a normalised target: its content hash, the quantity arithmetic and the
instruction-like text. Every later stage reads them from `Facts` instead of recomputing them."""

from __future__ import annotations

import re

from assistant.intake.injection import find_injection
from assistant.intake.quantities import implied_totals, main_quantity
from assistant.intake.records import content_hash
from assistant.intake.textproc import content_tokens
from assistant.models import Facts, NormIndicator, Target


def derive_facts(target: Target, indicators: list[NormIndicator]) -> Facts:
    q = main_quantity(indicators)
    return Facts(content_hash=content_hash(target), main_quantity=q.index if q is not None else None,
                 implied_totals=implied_totals(indicators), instruction_hits=find_injection(target),
                 ungrounded=ungrounded(target, indicators))


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


_BENEFICIARIES = re.compile(r"^(受益|服务|覆盖|惠及)[\u4e00-\u9fff]{0,6}(人数|户数|人次|村数|对象数)$")


def judged_for_grounding(ind: NormIndicator) -> bool:
    """Rows whose name should say what this project funds: not satisfaction, timeliness or cost rows, nor a count
    of beneficiaries, whose names are generic by nature (受益群众满意度, 完成时间, 人均成本, 受益群众人数)."""
    return (bool(ind.name.strip()) and ind.level1 not in {"satisfaction", "cost"} and ind.level2 != "timeliness"
            and not _BENEFICIARIES.match(ind.name.strip()))


def ungrounded(target: Target, indicators: list[NormIndicator]) -> list[int]:
    """Rows (of the judged kinds) that share no specific word with the project's own name and goals: none of
    their content words (generic words such as 完成率, 社会效益 dropped) has a two-character piece that occurs
    in the project name, annual goal or long-term goal. A name made only of generic words counts as
    ungrounded too (boilerplate that would fit any project), unless the project's name or goals state it word for
    word (「工程验收合格率」 in a goal that sets 工程验收合格率≥95%)."""
    text = " ".join([target.project_name, target.annual_goal, target.long_term_goal])
    ctx, compact = _bigrams(text), _compact(text)
    return [ind.index for ind in indicators
            if judged_for_grounding(ind) and not any(_bigrams(t) & ctx for t in content_tokens(ind.name))
            and not (len(_compact(ind.name)) >= 4 and _compact(ind.name) in compact)]


def _compact(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text)

