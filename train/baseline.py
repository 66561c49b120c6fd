"""TF-IDF + logistic regression baseline for stance and the loaded flag, plus a span lexicon.

It is refitted in seconds from the same training records, so every transformer run and
every evaluation can put a baseline beside it on exactly the same splits.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import mlflow
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from stancelens.model.labels import STANCE_LABELS
from stancelens.train import tracking
from stancelens.train.config import Config
from stancelens.train.metrics import numeric, score_predictions


def _features() -> FeatureUnion:
    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, lowercase=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True)),
        ]
    )


class TfidfBaseline:
    """Two linear classifiers over word and character n-grams, and a phrase lexicon for spans."""

    def __init__(self, seed: int = 13):
        self.seed = seed
        self.stance = make_pipeline(
            _features(), LogisticRegression(max_iter=2000, C=5.0, class_weight="balanced", random_state=seed)
        )
        self.loaded = make_pipeline(
            _features(), LogisticRegression(max_iter=2000, C=5.0, class_weight="balanced", random_state=seed)
        )
        self.lexicon: list[re.Pattern[str]] = []

    def fit(self, records: Sequence[dict[str, Any]]) -> TfidfBaseline:
        with_stance = [r for r in records if r.get("stance")]
        with_loaded = [r for r in records if r.get("loaded") is not None]
        self.stance.fit([r["text"] for r in with_stance], [r["stance"] for r in with_stance])
        self.loaded.fit([r["text"] for r in with_loaded], [int(r["loaded"]) for r in with_loaded])
        self.lexicon = _span_lexicon(with_loaded)
        return self

    def predict_rows(self, texts: Sequence[str], threshold: float = 0.5) -> list[dict[str, Any]]:
        stance_probs = self.stance.predict_proba(list(texts))
        classes = list(self.stance.classes_)
        loaded_probs = self.loaded.predict_proba(list(texts))[:, list(self.loaded.classes_).index(1)]
        rows = []
        for text, probs, loaded_p in zip(texts, stance_probs, loaded_probs, strict=True):
            by_label = {
                label: float(probs[classes.index(label)]) if label in classes else 0.0 for label in STANCE_LABELS
            }
            loaded = int(loaded_p >= threshold)
            spans = _find_spans(text, self.lexicon) if loaded else []
            rows.append(
                {
                    "text": text,
                    "stance": max(by_label, key=by_label.get),
                    "stance_probs": by_label,
                    "loaded": loaded,
                    "loaded_prob": float(loaded_p),
                    "loaded_spans": [{"start": s, "end": e, "text": text[s:e], "prob": 1.0} for s, e in spans],
                }
            )
        return rows


def _span_lexicon(records: Sequence[dict[str, Any]]) -> list[re.Pattern[str]]:
    """Phrases annotated as loaded in training that are loaded at least half the time they occur."""
    as_span: Counter[str] = Counter()
    for r in records:
        for start, end in r.get("loaded_spans") or []:
            as_span[r["text"][start:end].lower()] += 1
    patterns = []
    for phrase, count in as_span.items():
        pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", re.IGNORECASE)
        occurrences = sum(len(pattern.findall(r["text"])) for r in records)
        if count >= 1 and count / max(occurrences, 1) >= 0.5:
            patterns.append(pattern)
    return sorted(patterns, key=lambda p: -len(p.pattern))


def _find_spans(text: str, lexicon: Sequence[re.Pattern[str]]) -> list[tuple[int, int]]:
    taken = np.zeros(len(text), dtype=bool)
    spans = []
    for pattern in lexicon:
        for match in pattern.finditer(text):
            if not taken[match.start() : match.end()].any():
                taken[match.start() : match.end()] = True
                spans.append((match.start(), match.end()))
    return sorted(spans)


def run_baseline(config: Config, data: Any, experiment_id: str) -> dict[str, Any]:
    """Fit on the bundle's training records and log validation and test metrics as a run."""
    with mlflow.start_run(experiment_id=experiment_id, run_name="tfidf-baseline"):
        mlflow.set_tags({"model_kind": "baseline"})
        tracking.log_run_inputs(config.flat(), data.info())
        baseline = TfidfBaseline(config.train.seed).fit(data.train)
        results = {}
        for name, records in (("val", data.validation), ("test", data.test)):
            if not records:
                continue
            metrics = score_predictions(records, baseline.predict_rows([r["text"] for r in records]))
            mlflow.log_metrics(numeric(metrics, f"{name}_"))
            tracking.log_confusion_matrix(
                metrics.get("confusion_matrix", []), list(STANCE_LABELS), f"confusion_{name}.png", f"baseline {name}"
            )
            results[name] = metrics
        return results
