"""The one-method backend protocol and its input contract."""

from __future__ import annotations

from typing import Protocol

from pydantic import Field

from assistant.models import (
    CritiqueResult,
    Finding,
    NormIndicator,
    Precedent,
    Strict,
    Suggestion,
    Target,
)


class RetrievalEvidence(Strict):
    """What retrieval found for a target (computed once, shared by all backends)."""

    precedents: list[Precedent] = Field(default_factory=list)
    # indicator-level suggestions drawn from precedents for categories the draft lacks
    hints: list[Suggestion] = Field(default_factory=list)
    # similarity of each indicator to the project's own name/goal and to precedent indicators (0–1)
    indicator_fit: list[float] = Field(default_factory=list)
    goal_fit: float | None = None  # similarity of the annual goal to the project name/indicators
    # implied unit cost (万元 per unit of the main quantity) and how it compares to precedents
    unit_cost_ratio: float | None = None  # log10(draft unit cost / median precedent unit cost)
    # how much closer the draft's output/benefit indicator names are to another approved project than that
    # project is to the draft's own name and goal (TF-IDF cosine difference, 0–1; high = copied indicators)
    donor_overlap: float | None = None
    donor_id: str | None = None  # that approved project
    donor_project: str | None = None  # its project name


class CritiqueInput(Strict):
    target: Target
    indicators: list[NormIndicator]
    findings: list[Finding]
    evidence: RetrievalEvidence
    profile: str = "default"


class Critic(Protocol):
    """A critique backend. `critique` never raises for a bad model answer: it falls back and says so."""

    name: str

    def critique(self, inp: CritiqueInput) -> CritiqueResult: ...
