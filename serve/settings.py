"""Server settings and limits, read from ``STANCELENS_*`` environment variables (pydantic-settings).

A wrong value is refused at start with the variable named (``STANCELENS_QUEUE_SIZE: Input
should be a valid integer``), never silently replaced by a default.
"""

from __future__ import annotations

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from stancelens.model.registry import DEFAULT_MODEL_REF
from stancelens.model.runtimes import DEFAULT_RUNTIME, RUNTIMES


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STANCELENS_", extra="ignore")

    model_ref: str = Field(DEFAULT_MODEL_REF, description="model folder or registry URI")
    runtime: str = Field(DEFAULT_RUNTIME, description=" | ".join(RUNTIMES))
    max_doc_chars: int = Field(100_000, gt=0, description="characters in one document")
    max_documents: int = Field(64, gt=0, description="documents (or sentences) in one request")
    max_total_chars: int = Field(400_000, gt=0, description="characters across one request")
    max_batch_sentences: int = Field(32, gt=0, description="sentences per forward pass of the worker")
    # How long the worker waits to fill a micro-batch. 0: run what is queued at once. Measured
    # on 2 cores with MiniLM (docs/PERFORMANCE.md), waiting only added latency: batch 1 runs
    # as fast per sentence as batch 32, and random-length micro-batches pay for padding.
    max_wait_ms: float = Field(0.0, ge=0, description="how long a lone request may wait for company")
    queue_size: int = Field(64, gt=0, description="pending requests before the server answers 503")
    # Worker loops, each running whole micro-batches on its own core (ONNX runtimes only; the
    # torch runtimes use one loop and torch's own threads). 0: one per physical core.
    workers: int = Field(0, ge=0, description="worker loops; 0 = one per physical core")
    retry_after_s: int = Field(2, ge=0, description="Retry-After of a 503")
    api_key: str | None = Field(None, description="when set, /v1/* needs the X-API-Key header")

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, value: str) -> str:
        if value not in RUNTIMES:
            raise ValueError(f"must be one of {', '.join(RUNTIMES)}")
        return value

    @field_validator("api_key")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("is set but empty: that would leave the API open; unset it to run without a key")
        return value

    def worker_layout(self, runtime: str) -> tuple[int, int | None]:
        """(worker loops, threads per ONNX call) for the resolved ``runtime``: cores split, never oversubscribed."""
        if not runtime.startswith("onnx"):
            return 1, None
        from stancelens.model.onnx_runtime import physical_cores

        cores = physical_cores()
        loops = max(1, min(self.workers or cores, cores))
        return loops, max(1, cores // loops)

    @property
    def max_body_bytes(self) -> int:
        """Bodies larger than this are refused while they stream in, before any JSON parsing.

        Characters are counted on the decoded text (``max_total_chars``); the byte budget only
        has to leave room for any legal encoding of that many characters: a JSON ``\\\\uXXXX``
        escape takes 6 bytes a character (UTF-8 at most 4), plus 64 KiB for the envelope.
        """
        return self.max_total_chars * 6 + 64 * 1024

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        """Environment, then command-line overrides (``None`` = not given); errors name the variable."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(
                f"STANCELENS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ValueError(problems) from None

    def limits(self) -> dict[str, int]:
        return {
            "max_doc_chars": self.max_doc_chars,
            "max_documents": self.max_documents,
            "max_total_chars": self.max_total_chars,
            "max_body_bytes": self.max_body_bytes,
        }
