"""The one-method critic protocol (its input and output contracts live in `assistant.models`)."""

from __future__ import annotations

from typing import Protocol

from assistant.models import CritiqueInput, CritiqueResult


class Critic(Protocol):
    """A critique backend. `critique` never raises for a bad model answer: it falls back and says so."""

    name: str

    def critique(self, inp: CritiqueInput) -> CritiqueResult: ...
