"""Post-hoc calibration fitted on validation data, so probabilities mean what they say.

Stance: temperature scaling (one scalar dividing the logits; it changes confidence,
never the predicted label). Loaded language: the sentence threshold that maximises F1
on validation. Both are stored in the model's metadata and applied by the Predictor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import precision_recall_curve

TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.25), np.log(8.0), 121))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature minimising validation negative log-likelihood (grid search, robust)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return 1.0
    nll = [-_log_softmax(logits / t)[np.arange(len(labels)), labels].mean() for t in TEMPERATURE_GRID]
    return float(TEMPERATURE_GRID[int(np.argmin(nll))])


def best_f1_threshold(probs: Sequence[float], labels: Sequence[int], default: float = 0.5) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of ``prob >= threshold``; the default when labels are one-sided."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:  # empty, all negative or all positive: nothing to separate
        return default, 0.0
    precision, recall, thresholds = precision_recall_curve(labels, np.asarray(probs))
    f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
    best = int(np.argmax(f1[:-1]))
    return float(thresholds[best]), float(f1[best])


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE over equal-width confidence bins."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(error)


def calibrate(rows: Sequence[dict], records: Sequence[dict], labels: Sequence[str]) -> tuple[float, float]:
    """Temperature and loaded threshold from uncalibrated predictions on validation records.

    Log-probabilities stand in for logits: they differ by a per-row constant, to which
    softmax is blind, so scaling them by 1/T is exact temperature scaling.
    """
    index = {label: i for i, label in enumerate(labels)}
    stance = [(row, rec) for row, rec in zip(rows, records, strict=True) if rec.get("stance")]
    log_probs = np.log(np.clip([[row["stance_probs"][lab] for lab in labels] for row, _ in stance], 1e-12, None))
    temperature = fit_temperature(
        log_probs.reshape(len(stance), len(labels)), [index[rec["stance"]] for _, rec in stance]
    )
    loaded = [(row, rec) for row, rec in zip(rows, records, strict=True) if rec.get("loaded") is not None]
    threshold, _ = best_f1_threshold(
        [row["loaded_prob"] for row, _ in loaded], [int(rec["loaded"]) for _, rec in loaded]
    )
    return temperature, threshold
