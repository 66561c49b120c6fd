"""Inference surfaces: batch scoring of files, the HTTP API and the analyst web page."""

import stancelens.model  # noqa: F401  (switches hub access off before transformers is imported)
