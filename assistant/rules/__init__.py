"""Rule pre-check: the catalogue, checks per dimension, profiles and the engine."""
