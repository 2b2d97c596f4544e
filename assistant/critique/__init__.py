"""Critique backends: `offline` (default, no network) and `openai` (any OpenAI-compatible endpoint)."""
