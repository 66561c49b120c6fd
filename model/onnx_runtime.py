"""ONNX Runtime backends (fp32 and dynamically quantized int8) for fast CPU inference.

The network is exported once per set of weights and the ``.onnx`` files are cached in
``<model folder>/onnx/``, named by :func:`model.io.weights_digest`, so a retrained model
can never be served from a stale export and a restart does not pay for the export again.
Post-processing stays in the Predictor: this module only replaces the forward pass.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from stancelens.model.backends import Logits
from stancelens.model.io import weights_digest
from stancelens.model.network import StanceLensModel, mean_pool
from stancelens.model.registry import cache_dir
from torch import nn

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

OPSET = 17
ONNX_DIR = "onnx"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("stance_logits", "loaded_logits", "token_logits", "technique_logits", "hidden")
# An exported fp32 graph that differs from PyTorch by more than this (in logits) is refused
# rather than cached: it would silently change every prediction the server makes.
EXPORT_TOLERANCE = 1e-3

# File name of each artefact after the weights digest. Bump a tag whenever the export or the
# quantization recipe changes, so that files built by an older recipe are never reused.
ARTEFACT_TAGS = {"fp32": "fp32-v3", "int8": "int8-v4"}  # v3/v4: technique logits and hidden states
# Feed-forward matmuls (not the attention output projection) of an encoder layer, as named
# by the TorchScript exporter: ``/encoder/encoder/layer.3/intermediate/dense/MatMul``.
_FFN_MATMUL = re.compile(r"/layer\.(\d+)/(?:intermediate|output)/dense/MatMul$")

# Counts real exports and quantizations, so tests can show that a cached artefact is reused.
build_counter: dict[str, int] = {"fp32": 0, "int8": 0}


class OnnxExportError(RuntimeError):
    """Raised when the exported graph does not reproduce the PyTorch network."""


class _ExportWrapper(nn.Module):
    """The network as a function of two tensors to a tuple of five tensors.

    ONNX graphs take positional tensors and return tensors, not dataclasses; token type
    ids are always zero for our single-segment input, so making them inside the graph
    keeps the served interface identical to :class:`model.backends.TorchBackend`.
    """

    def __init__(self, network: StanceLensModel):
        super().__init__()
        self.network = network

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        net = self.network
        hidden = net.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        # Dropout is the identity in eval mode, so it is left out of the graph.
        pooled = mean_pool(hidden, attention_mask)
        return (
            net.stance_head(pooled),
            net.loaded_head(pooled).squeeze(-1),
            net.token_head(hidden).squeeze(-1),
            net.technique_logits(hidden),
            hidden,
        )


def physical_cores() -> int:
    """Physical cores: hyper-threads share one core's vector units, so more threads only add contention."""
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover - psutil is a project dependency
        cores = None
    return max(1, cores or os.cpu_count() or 1)


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """ONNX Runtime options for low-latency single-process CPU inference.

    One pool of intra-op threads, one per physical core, that sleep rather than spin when
    idle; no inter-op parallelism (the graph is a chain, there is nothing to run side by
    side); all graph optimizations (constant folding, GELU and LayerNorm fusions).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    # Idle pool threads sleep instead of spinning: on a small CPU shared with the HTTP event
    # loop, the tokenizer and other processes, spinning threads steal the cores the rest of
    # the request needs (measured on 2 cores: 3% slower offline when idle, but 50% faster
    # offline and 40% faster in the server when other processes use the cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _write_atomically(target: Path, build: Callable[[Path], None]) -> None:
    """Build into a temporary file in the same folder, then rename it over the target.

    ``os.replace`` is atomic on one file system, so a reader (another server process, a
    test) sees either no file or a complete one, never a half-written graph.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".onnx.tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        build(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; the export is as readable as the model folder
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _sample_inputs(batch: int = 2, length: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch, so the exported graph is traced through the masking path."""
    ids = torch.randint(1000, 2000, (batch, length), dtype=torch.int64)
    mask = torch.ones((batch, length), dtype=torch.int64)
    mask[-1, length // 2 :] = 0
    return ids, mask


def export_fp32(network: StanceLensModel, target: Path) -> None:
    """Export the network to ONNX with the TorchScript exporter, dynamic in batch and length.

    The TorchScript-based exporter (``dynamo=False``) is used because it handles the Hugging
    Face BERT graph with dynamic axes reliably and needs no extra packages; opset 17 has
    LayerNormalization as one op, which ONNX Runtime maps to its fused kernel.
    """
    wrapper = _ExportWrapper(network).eval()
    ids, mask = _sample_inputs()

    def build(path: Path) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns that shape checks in the attention-mask code become constants;
            # they are the same for every input here, and _check_export runs another shape.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index operator")
            torch.onnx.export(
                wrapper,
                (ids, mask),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "stance_logits": {0: "batch"},
                    "loaded_logits": {0: "batch"},
                    "token_logits": {0: "batch", 1: "sequence"},
                    "technique_logits": {0: "batch", 1: "sequence"},
                    "hidden": {0: "batch", 1: "sequence"},
                },
                do_constant_folding=True,
            )
        _check_export(wrapper, path)

    _write_atomically(target, build)
    build_counter["fp32"] += 1


def _check_export(wrapper: _ExportWrapper, path: Path) -> None:
    """Refuse an export whose outputs differ from PyTorch on a batch of another shape than the trace's."""
    import onnxruntime as ort

    ids, mask = _sample_inputs(batch=3, length=11)
    with torch.no_grad():
        expected = [t.numpy() for t in wrapper(ids, mask)]
    session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    worst = max(float(np.abs(e - g).max(initial=0.0)) for e, g in zip(expected, got, strict=True))
    if worst > EXPORT_TOLERANCE:
        raise OnnxExportError(f"ONNX export differs from PyTorch by {worst:.2e} (tolerance {EXPORT_TOLERANCE})")


def fp32_matmuls(source: Path) -> list[str]:
    """The matmuls int8 would hurt most: the feed-forward blocks of the first half of the layers.

    Dynamic quantization gives each activation tensor one scale for the whole batch, so a
    few outlier channels cost every other value its precision. In MiniLM those outliers
    sit in the early feed-forward blocks. On a fine-tuned model (corpus test split),
    quantizing every matmul changed 3.9% of stance labels and moved loaded F1 by 0.013;
    keeping these six of the 39 in fp32 changed 1.1% of labels and no loaded flag, for
    roughly half of the all-int8 speed-up of the forward pass.
    """
    import onnx

    graph = onnx.load(str(source), load_external_data=False).graph
    ffn = {node.name: int(m.group(1)) for node in graph.node if (m := _FFN_MATMUL.search(node.name))}
    if not ffn:
        log.warning("%s: no encoder feed-forward matmuls recognised; quantizing every matmul", source.name)
        return []
    keep_below = math.ceil((max(ffn.values()) + 1) / 2)
    return sorted(name for name, layer in ffn.items() if layer < keep_below)


def _drop_preprocess_hint(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the MatMul/Gemm weights (activations quantized per batch at run time).

    Dynamic quantization needs no calibration data, and int8 weights are a quarter of
    the size: on CPUs with VNNI the encoder's matrix products run on int8 dot products.
    Weights are quantized per output channel; the most outlier-prone matmuls stay fp32
    (see :func:`fp32_matmuls`), because accuracy parity with fp32 comes before speed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def build(path: Path) -> None:
        # quantize_dynamic logs (on the root logger) a hint to run ORT's pre-processing first;
        # it runs shape inference itself, and pre-fusing with the transformer optimizer measured slower.
        root = logging.getLogger()
        root.addFilter(_drop_preprocess_hint)
        try:
            _quantize(path)
        finally:
            root.removeFilter(_drop_preprocess_hint)

    def _quantize(path: Path) -> None:
        quantize_dynamic(
            model_input=str(source),
            model_output=str(path),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Gemm"],
            nodes_to_exclude=fp32_matmuls(source),
        )

    _write_atomically(target, build)
    build_counter["int8"] += 1


def artefact_paths(folder: Path, digest: str | None = None) -> dict[str, Path]:
    """Where the exports of the weights in ``folder`` live: ``onnx/<digest>-<tag>.onnx`` (see ARTEFACT_TAGS).

    Beside the model when that folder is writable (or already holds them); otherwise in
    the user's cache (``$STANCELENS_CACHE/onnx``), so a model on a read-only mount still
    gets its fast path. The digest in the name keeps exports of different weights apart.
    """
    folder = Path(folder)
    digest = digest or weights_digest(folder)
    names = {kind: f"{digest}-{tag}.onnx" for kind, tag in ARTEFACT_TAGS.items()}
    beside = folder / ONNX_DIR
    if any((beside / name).is_file() for name in names.values()) or _writable(beside):
        base = beside
    else:
        base = cache_dir() / ONNX_DIR
    return {kind: base / name for kind, name in names.items()}


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


def ensure_artefact(folder: Path, network: StanceLensModel, quantize: bool) -> Path:
    """The cached ONNX file for these weights, built on first use and reused afterwards."""
    paths = artefact_paths(folder)
    if not paths["fp32"].is_file() and not (quantize and paths["int8"].is_file()):
        log.info("exporting %s to ONNX (first use of these weights)", folder)
        export_fp32(network, paths["fp32"])
    if not quantize:
        return paths["fp32"]
    if not paths["int8"].is_file():
        log.info("quantizing %s to int8", paths["fp32"].name)
        quantize_int8(paths["fp32"], paths["int8"])
    return paths["int8"]


class OnnxBackend:
    """The forward pass on ONNX Runtime's CPU execution provider."""

    def __init__(self, model_path: Path, quantize: bool = False, threads: int | None = None):
        import onnxruntime as ort

        self.model_path = Path(model_path)
        self.name = "onnx-int8" if quantize else "onnx"
        self.session = ort.InferenceSession(
            str(self.model_path), session_options(threads), providers=["CPUExecutionProvider"]
        )

    @classmethod
    def from_folder(
        cls, folder: Path, network: StanceLensModel, quantize: bool = False, threads: int | None = None
    ) -> OnnxBackend:
        """Load (exporting and quantizing on first use) the ONNX graph of the model in ``folder``."""
        return cls(ensure_artefact(Path(folder), network, quantize), quantize=quantize, threads=threads)

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> Logits:
        feeds = {
            "input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
        }
        stance, loaded, token, technique, hidden = self.session.run(list(OUTPUT_NAMES), feeds)
        return Logits(stance=stance, loaded=loaded, token=token, technique=technique, hidden=hidden)
