"""MLflow pyfunc flavour of StanceLens, logged "from code" so nothing is pickled.

``predict`` takes a DataFrame with a ``text`` column (one document per row, or one
sentence per row with ``params={"sentences": True}``) and returns one row per sentence
with exactly the Predictor's labels and probabilities.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class StanceLensPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        from model.predictor import Predictor

        self.predictor = Predictor.load(context.artifacts["stancelens_model"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = params or {}
        if "text" not in model_input.columns:
            raise ValueError("input needs a 'text' column")
        texts = [str(t) for t in model_input["text"].tolist()]
        threshold = params.get("loaded_threshold")
        threshold = None if threshold is None or threshold < 0 else float(threshold)
        if params.get("sentences"):
            rows = self.predictor.analyze_sentences(texts, threshold)
            for index, row in enumerate(rows):
                row.update(doc_index=index, sent_index=0, start=0, end=len(row["text"]))
        else:
            rows = []
            for index, doc_rows in enumerate(self.predictor.analyze_documents(texts, threshold)):
                for row in doc_rows:
                    row["doc_index"] = index
                    rows.append(row)
        labels = self.predictor.meta.stance_labels
        return pd.DataFrame(
            [
                {
                    "doc_index": r["doc_index"],
                    "sent_index": r["sent_index"],
                    "start": r["start"],
                    "end": r["end"],
                    "text": r["text"],
                    "stance": r["stance"],
                    **{f"prob_{label}": r["stance_probs"][label] for label in labels},
                    "loaded": r["loaded"],
                    "loaded_prob": r["loaded_prob"],
                    "loaded_spans": json.dumps(r["loaded_spans"], ensure_ascii=False),
                }
                for r in rows
            ]
        )


mlflow.models.set_model(StanceLensPyfunc())
