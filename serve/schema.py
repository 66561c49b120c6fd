"""The documented shape of an analysis result (OpenAPI for ``/v1/analyze``).

These models describe the rows the Predictor produces and the CLI, the server and the page
exchange; the server returns them as ready-made JSON (no per-request validation cost) and
FastAPI uses these models to document the response in ``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class LoadedSpan(BaseModel):
    start: int = Field(description="offset in the sentence text")
    end: int = Field(description="end offset (exclusive) in the sentence text")
    text: str
    prob: float = Field(description="mean token probability of the span")


class SentenceRow(BaseModel):
    doc_id: str
    sent_index: int
    start: int = Field(description="offset of the sentence in the document")
    end: int = Field(description="end offset (exclusive) in the document; text == document[start:end]")
    text: str
    stance: str = Field(description="pro_nrf | pro_taliban | neutral")
    stance_probs: dict[str, float] = Field(description="calibrated probability per stance label")
    loaded: int = Field(description="1 when loaded_prob reaches the threshold")
    loaded_prob: float
    loaded_spans: list[LoadedSpan]
    windows: int = Field(description="> 1: the sentence was read in overlapping 128-token windows")


class DocumentSummary(BaseModel):
    doc_id: str
    sentences: int
    stance_counts: dict[str, int]
    stance_shares: dict[str, float]
    loaded_sentences: int
    loaded_share: float
    top_loaded_phrases: list[tuple[str, int]]
    windowed_sentences: int


class DocumentResult(BaseModel):
    doc_id: str
    sentences: list[SentenceRow]
    summary: DocumentSummary


class ModelUsed(BaseModel):
    ref: str
    runtime: str


class AnalyzeResponse(BaseModel):
    model: ModelUsed
    loaded_threshold: float
    results: list[DocumentResult]


# The order of a sentence row's fields in every output (JSONL, Spark Parquet).
SENTENCE_FIELDS: tuple[str, ...] = tuple(SentenceRow.model_fields)
