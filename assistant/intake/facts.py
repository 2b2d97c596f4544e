"""Facts derived once per review from a normalised target: its content hash, the quantity arithmetic and the
instruction-like text. Every later stage reads them from `Facts` instead of recomputing them."""

from __future__ import annotations

from assistant.intake.injection import find_injection
from assistant.intake.quantities import implied_totals, main_quantity
from assistant.intake.records import content_hash
from assistant.models import Facts, NormIndicator, Target


def derive_facts(target: Target, indicators: list[NormIndicator]) -> Facts:
    q = main_quantity(indicators)
    return Facts(content_hash=content_hash(target), main_quantity=q.index if q is not None else None,
                 implied_totals=implied_totals(indicators), instruction_hits=find_injection(target))
