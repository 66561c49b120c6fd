"""Server settings and limits, all overridable by ``STANCELENS_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from model.registry import DEFAULT_MODEL_REF
from model.runtimes import DEFAULT_RUNTIME


@dataclass
class ServerSettings:
    model_ref: str = DEFAULT_MODEL_REF
    runtime: str = DEFAULT_RUNTIME
    max_doc_chars: int = 100_000  # characters in one document
    max_documents: int = 64  # documents (or sentences) in one request
    max_total_chars: int = 400_000  # characters across one request
    max_batch_sentences: int = 32  # sentences per forward pass of the worker
    # How long the worker waits to fill a micro-batch. 0: run what is queued at once. Measured
    # on 2 cores with MiniLM (docs/PERFORMANCE.md), waiting only added latency: batch 1 runs
    # as fast per sentence as batch 32, and random-length micro-batches pay for padding.
    max_wait_ms: float = 0.0
    queue_size: int = 64  # pending requests before the server answers 503
    # Worker loops, each running whole micro-batches on its own core (ONNX runtimes only; the
    # torch runtimes use one loop and torch's own threads). 0: one per physical core.
    workers: int = 0
    retry_after_s: int = 2
    api_key: str | None = None  # when set, /v1/* needs the X-API-Key header

    def worker_layout(self) -> tuple[int, int | None]:
        """(worker loops, threads per ONNX call): the cores split between loops, never oversubscribed."""
        if not self.runtime.startswith("onnx"):
            return 1, None
        from model.onnx_runtime import physical_cores

        cores = physical_cores()
        loops = max(1, min(self.workers or cores, cores))
        return loops, max(1, cores // loops)

    @property
    def max_body_bytes(self) -> int:
        """Bodies larger than this are refused while they stream in, before any JSON parsing.

        Characters are counted on the decoded text (``max_total_chars``); the byte budget only
        has to leave room for any legal encoding of that many characters: a JSON ``\\uXXXX``
        escape takes 6 bytes a character (UTF-8 at most 4), plus 64 KiB for the envelope.
        """
        return self.max_total_chars * 6 + 64 * 1024

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"STANCELENS_{f.name.upper()}")
            if raw is not None:
                values[f.name] = raw if f.type in ("str", "str | None") else type(getattr(cls(), f.name))(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("api_key") is not None and not str(values["api_key"]).strip():
            raise ValueError(
                "STANCELENS_API_KEY is set but empty: that would leave the API open; unset it to run without a key"
            )
        return cls(**values)

    def limits(self) -> dict[str, int]:
        return {
            "max_doc_chars": self.max_doc_chars,
            "max_documents": self.max_documents,
            "max_total_chars": self.max_total_chars,
            "max_body_bytes": self.max_body_bytes,
        }
