"""Agreement between the assistant's scores and the reference raters (metrics, rating loaders)."""
