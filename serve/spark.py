"""Batch scoring on Spark: a DataFrame of documents (``id``, ``text``) to sentence rows.

The rows have exactly the columns and values of ``stancelens score`` (same Predictor, so the
same splitter, runtime and thresholds). ``mapInPandas`` runs the Predictor once per Python
worker (loaded on first use and kept), not once per batch. A record that cannot be scored
becomes a row of the errors output, as in the local CLI, and the others are scored.

``score_with_spark`` reads JSONL / Parquet / CSV, hashes document ids into ``parts``
partitions and writes each part's Parquet (``sentences/part=K``, ``errors/part=K``) followed
by a marker (``_parts/K.done``): a re-run after a failure redoes only the parts without one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from stancelens.model.labels import STANCE_LABELS
from stancelens.model.schema import SENTENCE_FIELDS, spark_sentence_ddl

_PREDICTORS: dict[tuple[str, str], Any] = {}  # one Predictor per Python worker process

SENTENCE_DDL = spark_sentence_ddl(STANCE_LABELS)
SENTENCE_COLUMNS = [*SENTENCE_FIELDS, "error"]


def _predictor(model_dir: str, runtime: str) -> Any:
    key = (model_dir, runtime)
    if key not in _PREDICTORS:
        from stancelens.model.predictor import Predictor

        _PREDICTORS[key] = Predictor.load(model_dir, runtime=runtime)
    return _PREDICTORS[key]


def score_batches(
    batches: Iterator[pd.DataFrame], model_dir: str, runtime: str, threshold: float | None, sentences: bool
) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body: documents in, sentence rows (or one error row per bad record) out."""
    from stancelens.model.text_checks import text_problem

    predictor = _predictor(model_dir, runtime)
    for frame in batches:
        out: list[dict[str, Any]] = []
        docs = []
        for doc_id, text in zip(frame["id"], frame["text"], strict=True):
            problem = text_problem(text)
            if doc_id is None or problem is not None:
                reason = "missing field 'id'" if doc_id is None else str(problem)
                out.append({**dict.fromkeys(SENTENCE_COLUMNS), "doc_id": doc_id, "error": reason})
            else:
                docs.append((str(doc_id), text))
        if docs:
            texts = [t for _, t in docs]
            scored = predictor.analyze_documents(texts, threshold, sentences=sentences)
            for (doc_id, _), rows in zip(docs, scored, strict=True):
                for row in rows:
                    fields = {k: row[k] for k in SENTENCE_FIELDS if k != "doc_id"}
                    out.append({**fields, "doc_id": doc_id, "error": None})
        yield pd.DataFrame(out, columns=SENTENCE_COLUMNS, dtype=object)  # None stays None (no NaN in structs)


def read_documents(spark: Any, inputs: list[str], id_field: str = "id", text_field: str = "text") -> Any:
    """A DataFrame ``(id, text)`` from JSONL, Parquet or CSV files or folders (by extension)."""
    from pyspark.sql import functions as F

    frames = []
    for item in inputs:
        suffix = Path(item.rstrip("/")).suffix.lower()
        if suffix == ".parquet" or (Path(item).is_dir() and any(Path(item).glob("*.parquet"))):
            frame = spark.read.parquet(item)
        elif suffix == ".csv":
            frame = spark.read.csv(item, header=True, multiLine=True, escape='"', encoding="UTF-8")
        else:
            frame = spark.read.option("mode", "PERMISSIVE").json(item)
        for name in (id_field, text_field):
            if name not in frame.columns:
                frame = frame.withColumn(name, F.lit(None).cast("string"))
        frames.append(frame.select(F.col(id_field).cast("string").alias("id"), F.col(text_field).alias("text")))
    documents = frames[0]
    for frame in frames[1:]:
        documents = documents.unionByName(frame)
    return documents


def score_dataframe(
    documents: Any, model_dir: str, runtime: str = "onnx", threshold: float | None = None, sentences: bool = False
) -> Any:
    """Sentence rows and error rows (``error`` set) for a DataFrame of documents.

    Spark's readers cast values to the ``string`` columns (a JSON number becomes its digits),
    so unlike the CLI a non-string text is scored as text; missing and empty texts are errors.
    """
    return documents.mapInPandas(
        lambda batches: score_batches(batches, model_dir, runtime, threshold, sentences), schema=SENTENCE_DDL
    )


def score_with_spark(
    spark: Any,
    inputs: list[str],
    out: Path,
    model_dir: str,
    runtime: str = "onnx",
    threshold: float | None = None,
    sentences: bool = False,
    parts: int = 8,
    id_field: str = "id",
    text_field: str = "text",
) -> dict[str, int]:
    """Score ``inputs`` into ``out`` part by part; parts finished by an earlier run are skipped."""
    from pyspark.sql import functions as F

    documents = read_documents(spark, inputs, id_field, text_field)
    documents = documents.withColumn("part", F.pmod(F.hash(F.coalesce(F.col("id"), F.lit(""))), F.lit(parts)))
    markers = out / "_parts"
    markers.mkdir(parents=True, exist_ok=True)
    done = skipped = 0
    for part in range(parts):
        marker = markers / f"{part}.done"
        if marker.exists():
            skipped += 1
            continue
        # spread the part over every executor core (one small input file is a single partition)
        chunk = documents.where(F.col("part") == part).drop("part").repartition(spark.sparkContext.defaultParallelism)
        rows = score_dataframe(chunk, model_dir, runtime, threshold, sentences).persist()
        rows.where(F.col("error").isNull()).drop("error").write.mode("overwrite").parquet(
            str(out / "sentences" / f"part={part}")
        )
        rows.where(F.col("error").isNotNull()).select("doc_id", F.col("error").alias("reason")).write.mode(
            "overwrite"
        ).parquet(str(out / "errors" / f"part={part}"))
        rows.unpersist()
        marker.write_text(json.dumps({"part": part, "of": parts}), encoding="utf-8")
        done += 1
    return {"parts_scored": done, "parts_skipped": skipped}
