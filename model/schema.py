"""The one definition of an analysis row and result (OpenAPI for ``/v1/analyze``, JSONL, CSV, Spark).

These models describe the rows the Predictor produces and the CLI, the server, the pyfunc,
Spark and the page exchange; the server returns them as ready-made JSON (no per-request
validation cost) and FastAPI uses these models to document the response in ``/docs`` and
``/openapi.json``. The flat (CSV, pyfunc) and Spark forms below are derived from them.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Sequence

from pydantic import BaseModel, Field
from stancelens.model.techniques import technique_count_columns, technique_counts


class LoadedSpan(BaseModel):
    start: int = Field(description="offset in the sentence text")
    end: int = Field(description="end offset (exclusive) in the sentence text")
    text: str
    prob: float = Field(description="mean token probability of the span")


class TechniqueSpan(BaseModel):
    technique: str = Field(description="one of the 14 PTC technique names (GET /v1/model lists them)")
    start: int = Field(description="offset in the sentence text")
    end: int = Field(description="end offset (exclusive) in the sentence text")
    text: str
    prob: float = Field(description="the span's mean token probability times its technique's probability")


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
    techniques: list[TechniqueSpan] = Field(
        description="PTC propaganda-technique spans, each with its most likely technique (spans never overlap)"
    )


class DocumentSummary(BaseModel):
    doc_id: str
    sentences: int
    stance_counts: dict[str, int]
    stance_shares: dict[str, float]
    loaded_sentences: int
    loaded_share: float
    top_loaded_phrases: list[tuple[str, int]]
    windowed_sentences: int
    technique_counts: dict[str, int] = Field(description="technique spans per PTC technique in the document")


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


def flat_sentence_columns(labels: Sequence[str]) -> list[str]:
    """A sentence row as flat columns (CSV, pyfunc): one ``prob_<label>`` column per stance label,
    the span lists as JSON, and after ``techniques`` one ``n_<technique>`` count column per technique."""
    columns: list[str] = []
    for name in SENTENCE_FIELDS:
        if name == "stance_probs":
            columns += [f"prob_{label}" for label in labels]
        elif name == "techniques":
            columns += [name, *technique_count_columns()]
        else:
            columns.append(name)
    return columns


def flat_sentence_values(row: dict[str, object], labels: Sequence[str]) -> dict[str, object]:
    """One sentence row in the flat form of :func:`flat_sentence_columns` (spans as JSON text)."""
    out: dict[str, object] = {}
    for name in SENTENCE_FIELDS:
        value = row.get(name)
        if name == "stance_probs":
            out.update({f"prob_{label}": value[label] for label in labels})
        elif name in ("loaded_spans", "techniques"):
            out[name] = json.dumps(value, ensure_ascii=False)
            if name == "techniques":
                out.update(zip(technique_count_columns(), technique_counts(value).values(), strict=True))
        else:
            out[name] = value
    return out


_SPARK_TYPES = {str: "string", int: "int", float: "double"}


def _spark_type(annotation: typing.Any, labels: Sequence[str]) -> str:
    if annotation in _SPARK_TYPES:
        return _SPARK_TYPES[annotation]
    if typing.get_origin(annotation) is dict:  # stance_probs: one field per label
        return f"struct<{', '.join(f'{label}: double' for label in labels)}>"
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        fields = ", ".join(f"{n}: {_spark_type(f.annotation, labels)}" for n, f in item.model_fields.items())
        return f"array<struct<{fields}>>"
    raise TypeError(f"no Spark type for {annotation!r}")


def spark_sentence_ddl(labels: Sequence[str]) -> str:
    """The Spark DDL of a sentence row (plus ``error``), derived from :class:`SentenceRow`."""
    fields = [f"{name} {_spark_type(field.annotation, labels)}" for name, field in SentenceRow.model_fields.items()]
    return ", ".join([*fields, "error string"])
