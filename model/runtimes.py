"""The inference runtimes, and which one ``auto`` (the default) picks on this CPU for this model.

Measured on 2 CPU cores (docs/PERFORMANCE.md, bench/bench_inference.py):

- ``onnx`` (ONNX Runtime, fp32) gives the same outputs as PyTorch (largest stance
  probability difference 0.000 on the real test split and the seed set) and is faster
  than it, most of all on the small batches a server sees. Its result for a sentence
  does not depend on the other sentences of its batch.
- ``torch-bf16`` (bf16 autocast) is the fast path of CPUs with AMX tiles, where a bf16
  matmul runs several times faster than fp32. With AVX-512 BF16 alone it ran 1.1-1.2x
  ``onnx`` offline but 0.5x in the server (torch pays per call on single-sentence
  requests), and auto must give the CLI, the server and the pyfunc the same numbers, so
  it stays opt-in there (``--runtime torch-bf16`` for archives); elsewhere bf16 is emulated.
- ``onnx-int8`` is faster than ``onnx`` with unchanged F1, but dynamic quantization
  scales activations per batch, so a sentence's probabilities move with its batch
  neighbours: opt in for large archives where speed beats exact reproducibility.
- ``torch`` is the reference; ``torch-int8`` fails the accuracy bar and is kept for
  comparison only.

``auto`` picks ``torch-bf16`` only where the CPU has AMX *and* the model folder's parity
record (``runtime_parity.json``, written by training) shows that bf16 passed
:data:`model.parity.AUTO_BAR` on every labelled set; everywhere else it picks ``onnx``
(``torch`` for an in-memory model, which has no folder to cache an export beside).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RUNTIMES = ("auto", "torch", "torch-int8", "torch-bf16", "onnx", "onnx-int8")
DEFAULT_RUNTIME = "auto"
DETECT = "detect"  # choose_runtime: probe this CPU (tests pass a capability instead)


@dataclass(frozen=True)
class RuntimeChoice:
    runtime: str
    reason: str


def choose_runtime(folder: Path | None, bf16_kind: str | None = DETECT) -> RuntimeChoice:
    """What ``auto`` means for the model in ``folder`` on this CPU, and why (shown by /v1/model and the CLI)."""
    from stancelens.model.parity import AUTO_BAR, ParityRecord

    if folder is None:
        return RuntimeChoice("torch", "in-memory model: no folder to cache an ONNX export beside")
    if bf16_kind == DETECT:
        from stancelens.model.hardware import cpu_bf16_kind

        bf16_kind = cpu_bf16_kind()
    if bf16_kind is None:
        return RuntimeChoice("onnx", "this CPU has no native bf16 (or STANCELENS_DISABLE_BF16 is set): fp32 ONNX")
    if bf16_kind != "amx":
        return RuntimeChoice(
            "onnx",
            f"{bf16_kind} without AMX: torch-bf16 is a little faster offline but about half as fast as fp32 ONNX"
            " in the server (docs/PERFORMANCE.md), and every interface must give the same numbers: fp32 ONNX",
        )
    record = ParityRecord.load(Path(folder))
    if record is None or not any(r["runtime"] == "torch-bf16" for r in record.rows):
        return RuntimeChoice("onnx", "AMX present, but the model has no bf16 parity record: fp32 ONNX")
    if not record.holds("torch-bf16", AUTO_BAR):
        return RuntimeChoice("onnx", "AMX present, but bf16 failed the automatic parity bar for this model")
    sets = ", ".join(sorted({r["set"] for r in record.rows}))
    return RuntimeChoice("torch-bf16", f"AMX present and bf16 passed the automatic parity bar on {sets}")


def resolve_runtime(requested: str, folder: Path | None) -> RuntimeChoice:
    """The concrete runtime for ``requested`` (``auto`` decided by :func:`choose_runtime`)."""
    if requested not in RUNTIMES:
        raise ValueError(f"unknown runtime {requested!r}; choose one of {', '.join(RUNTIMES)}")
    if requested == "auto":
        return choose_runtime(folder)
    return RuntimeChoice(requested, "asked for")
