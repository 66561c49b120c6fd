"""The self-describing model folder: the only format the project saves and loads.

Layout::

    model.safetensors   all weights (encoder and heads); never a pickle
    config.json         the encoder's Hugging Face config
    tokenizer files     the fast tokenizer, so offsets map back to characters
    stancelens.json     label maps, thresholds, calibration, training metadata

Loading builds the encoder from its config and fills it from safetensors, so it never
executes pickled code and never touches the network.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from stancelens.model.labels import STANCE_LABELS
from stancelens.model.network import StanceLensModel
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

FORMAT_VERSION = 1
META_FILE = "stancelens.json"
WEIGHTS_FILE = "model.safetensors"


class ModelFolderError(ValueError):
    """Raised when a folder is not a usable StanceLens model folder."""


@dataclass
class ModelMeta:
    """Everything besides weights that prediction needs to behave as validated."""

    stance_labels: list[str] = field(default_factory=lambda: list(STANCE_LABELS))
    loaded_threshold: float = 0.5
    span_threshold: float = 0.5
    stance_temperature: float = 1.0
    max_length: int = 128
    window_stride: int = 32
    # PTC technique names of the technique head, in output order; empty: the model has no such head
    technique_labels: list[str] = field(default_factory=list)
    technique_threshold: float = 0.5
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def label_to_id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.stance_labels)}


def new_model(
    encoder_path: Path, dropout: float = 0.1, n_techniques: int = 0
) -> tuple[StanceLensModel, PreTrainedTokenizerBase]:
    """A fresh multi-task model over a pretrained local encoder, with its fast tokenizer."""
    encoder = AutoModel.from_pretrained(str(encoder_path), local_files_only=True, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_path), local_files_only=True)
    _require_fast(tokenizer, encoder_path)
    return StanceLensModel(encoder, dropout=dropout, n_techniques=n_techniques), tokenizer


def save_model_folder(
    model: StanceLensModel, tokenizer: PreTrainedTokenizerBase, meta: ModelMeta, folder: Path
) -> Path:
    """Write the model folder; tensors are made contiguous because safetensors requires it."""
    n_techniques = model.technique_head.out_features if model.technique_head is not None else 0
    if n_techniques != len(meta.technique_labels):
        raise ModelFolderError(
            f"the network has {n_techniques} technique outputs but the metadata names {len(meta.technique_labels)}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    model.encoder.config.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / META_FILE).write_text(json.dumps(asdict(meta), indent=2, sort_keys=True), encoding="utf-8")
    return folder


def read_meta(folder: Path) -> ModelMeta:
    """Read ``stancelens.json``, refusing folders from an unknown format version."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise ModelFolderError(f"{folder} is not a StanceLens model folder: {META_FILE} is missing")
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("format_version") != FORMAT_VERSION:
        raise ModelFolderError(f"{path}: format_version {raw.get('format_version')} is not {FORMAT_VERSION}")
    return ModelMeta(**raw)


def write_meta(folder: Path, meta: ModelMeta) -> None:
    """Rewrite only the metadata, e.g. after calibration, leaving the weights untouched."""
    (Path(folder) / META_FILE).write_text(json.dumps(asdict(meta), indent=2, sort_keys=True), encoding="utf-8")


def load_model_folder(folder: Path) -> tuple[StanceLensModel, PreTrainedTokenizerBase, ModelMeta]:
    """Load a saved model folder in eval mode, on CPU."""
    folder = Path(folder)
    meta = read_meta(folder)
    if not (folder / WEIGHTS_FILE).is_file():
        raise ModelFolderError(f"{folder} has no {WEIGHTS_FILE}")
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    encoder = AutoModel.from_config(config)
    model = StanceLensModel(encoder, n_stance=len(meta.stance_labels), n_techniques=len(meta.technique_labels))
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)), strict=True)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    _require_fast(tokenizer, folder)
    return model, tokenizer, meta


def weights_digest(folder: Path) -> str:
    """Short content hash of the weights, used to key derived artefacts (ONNX, quantized)."""
    import hashlib

    digest = hashlib.sha256()
    with open(Path(folder) / WEIGHTS_FILE, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _require_fast(tokenizer: PreTrainedTokenizerBase, where: Path) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ModelFolderError(f"{where}: a fast tokenizer is required (character offsets for spans)")
