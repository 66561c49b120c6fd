"""Training, data loading, evaluation and experiment tracking for StanceLens."""

import stancelens.model  # noqa: F401  (switches hub access off before transformers is imported)
