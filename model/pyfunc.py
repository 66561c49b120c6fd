"""MLflow pyfunc flavour of StanceLens, logged "from code" so nothing is pickled.

``predict`` takes a DataFrame with a ``text`` column (one document per row, or one
sentence per row with ``params={"sentences": True}``) and returns one row per sentence
with exactly the Predictor's labels and probabilities.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel
from stancelens.model.schema import flat_sentence_columns, flat_sentence_values
from stancelens.model.text_checks import text_problem


def output_columns(labels: list[str]) -> list[str]:
    """The columns of every predict() frame, good rows and bad rows alike: the flat sentence row
    (model/schema.py) with the input row's position for the document id and an ``error`` column."""
    flat = [c for c in flat_sentence_columns(labels) if c not in ("doc_id", "windows")]
    return ["doc_index", *flat, "error"]


class StanceLensPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        from stancelens.model.predictor import Predictor

        self.predictor = Predictor.load(context.artifacts["stancelens_model"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = params or {}
        if "text" not in model_input.columns:
            raise ValueError("input needs a 'text' column")
        values = model_input["text"].tolist()
        threshold = params.get("loaded_threshold")
        threshold = None if threshold is None or threshold < 0 else float(threshold)
        # A bad row (None, a number, empty text) is reported in the ``error`` column and
        # skipped; it is never scored as the string "None" and never sinks the other rows.
        problems = {i: text_problem(v) for i, v in enumerate(values)}
        good = [i for i, p in problems.items() if p is None]
        texts = [values[i] for i in good]
        rows: list[dict[str, Any]] = []
        scored_docs = self.predictor.analyze_documents(texts, threshold, sentences=bool(params.get("sentences")))
        for index, doc_rows in zip(good, scored_docs, strict=True):
            rows.extend({**row, "doc_index": index} for row in doc_rows)
        labels = self.predictor.meta.stance_labels
        out = [{**flat_sentence_values(r, labels), "doc_index": r["doc_index"], "error": None} for r in rows]
        out += [{"doc_index": i, "sent_index": None, "error": f"{p.code}: {p}"} for i, p in problems.items() if p]
        frame = pd.DataFrame(out, columns=output_columns(labels))
        return frame.sort_values(["doc_index", "sent_index"], na_position="first", kind="stable").reset_index(drop=True)


mlflow.models.set_model(StanceLensPyfunc())
