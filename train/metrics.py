"""Quality metrics shared by training-time validation, the baseline and ``evaluate``.

Everything is computed from predictions in the scoring contract's row format, so the
transformer, the TF-IDF baseline and any future model are measured by the same code.
Records without a stance (PTC) or without loaded labels (RUW) are left out of the
metrics they cannot inform.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score
from stancelens.model.labels import STANCE_LABELS

Row = dict[str, Any]


def stance_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    labels = list(STANCE_LABELS)
    p, r, f, _support = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    out: dict[str, Any] = {
        "stance_macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
        "stance_accuracy": float(np.mean(np.array(gold) == np.array(pred))) if gold else 0.0,
        "stance_n": len(gold),
    }
    for label, pi, ri, fi in zip(labels, p, r, f, strict=True):
        out[f"stance_{label}_precision"] = float(pi)
        out[f"stance_{label}_recall"] = float(ri)
        out[f"stance_{label}_f1"] = float(fi)
    out["confusion_matrix"] = confusion_matrix(gold, pred, labels=labels).tolist() if gold else []
    return out


def loaded_metrics(gold: Sequence[int], pred: Sequence[int], prob: Sequence[float]) -> dict[str, Any]:
    p, r, f, _ = precision_recall_fscore_support(gold, pred, average="binary", zero_division=0)
    out = {"loaded_precision": float(p), "loaded_recall": float(r), "loaded_f1": float(f), "loaded_n": len(gold)}
    out["loaded_roc_auc"] = float(roc_auc_score(gold, prob)) if len(set(gold)) == 2 else float("nan")
    return out


def span_metrics(
    gold_spans: Sequence[Sequence[Sequence[int]]], pred_spans: Sequence[Sequence[Sequence[int]]]
) -> dict[str, float]:
    """Span P/R/F1, exact match and overlap match (at least 50% of the shorter span)."""
    out: dict[str, float] = {}
    for mode in ("exact", "overlap"):
        tp_pred = tp_gold = n_pred = n_gold = 0
        for gold, pred in zip(gold_spans, pred_spans, strict=True):
            n_pred += len(pred)
            n_gold += len(gold)
            tp_pred += sum(any(_match(p, g, mode) for g in gold) for p in pred)
            tp_gold += sum(any(_match(p, g, mode) for p in pred) for g in gold)
        precision = tp_pred / n_pred if n_pred else 0.0
        recall = tp_gold / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.update({f"span_{mode}_precision": precision, f"span_{mode}_recall": recall, f"span_{mode}_f1": f1})
    return out


def _match(pred: Sequence[int], gold: Sequence[int], mode: str) -> bool:
    if mode == "exact":
        return tuple(pred) == tuple(gold)
    overlap = min(pred[1], gold[1]) - max(pred[0], gold[0])
    shorter = min(pred[1] - pred[0], gold[1] - gold[0])
    return shorter > 0 and overlap >= 0.5 * shorter


def score_predictions(records: Sequence[Row], predictions: Sequence[Row]) -> dict[str, Any]:
    """All metrics for predictions aligned one-to-one with gold records."""
    if len(records) != len(predictions):
        raise ValueError(f"{len(records)} records but {len(predictions)} predictions")
    out: dict[str, Any] = {}
    with_stance = [(r, p) for r, p in zip(records, predictions, strict=True) if r.get("stance")]
    if with_stance:
        out.update(stance_metrics([r["stance"] for r, _ in with_stance], [p["stance"] for _, p in with_stance]))
    with_loaded = [(r, p) for r, p in zip(records, predictions, strict=True) if r.get("loaded") is not None]
    if with_loaded:
        out.update(
            loaded_metrics(
                [int(r["loaded"]) for r, _ in with_loaded],
                [int(p["loaded"]) for _, p in with_loaded],
                [float(p["loaded_prob"]) for _, p in with_loaded],
            )
        )
        out.update(
            span_metrics(
                [r["loaded_spans"] or [] for r, _ in with_loaded],
                [[(s["start"], s["end"]) for s in p["loaded_spans"]] for _, p in with_loaded],
            )
        )
    return out


def numeric(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The scalar metrics only, prefixed, ready for ``mlflow.log_metrics``."""
    return {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
    }
