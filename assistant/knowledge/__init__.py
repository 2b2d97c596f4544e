"""knowledge stage: the sector indicator library and published unit-cost standards applied to a draft."""
