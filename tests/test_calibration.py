"""Temperature scaling, the loaded threshold and ECE (train/calibration.py): no model needed."""

from __future__ import annotations

import numpy as np
import pytest
from stancelens.train.calibration import best_f1_threshold, calibrate, expected_calibration_error, fit_temperature


def test_temperature_softens_overconfident_logits_and_keeps_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    logits = rng.normal(0, 1, (600, 3))
    right = rng.random(600) < 0.7  # the argmax is right 70% of the time...
    logits[np.arange(600), np.where(right, labels, (labels + 1) % 3)] += 12.0  # ...with near-certainty
    t = fit_temperature(logits, labels)
    assert t > 2.0
    assert (np.argmax(logits / t, axis=1) == np.argmax(logits, axis=1)).all()
    assert fit_temperature(np.zeros((0, 3)), []) == 1.0


def test_best_threshold_separates_and_falls_back_on_one_sided_labels():
    threshold, f1 = best_f1_threshold([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0, 0, 0, 1, 1, 1])
    assert 0.3 < threshold <= 0.7 and f1 == pytest.approx(1.0)
    assert best_f1_threshold([0.2, 0.9], [1, 1], default=0.5) == (0.5, 0.0)


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_not():
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.99] * 4, [False] * 4) == pytest.approx(0.99)
    assert np.isnan(expected_calibration_error([], []))


def test_calibrate_reads_rows_and_records_that_carry_each_label():
    labels = ["pro_nrf", "pro_taliban", "neutral"]
    rows = [{"stance_probs": dict(zip(labels, p, strict=True)), "loaded_prob": lp}
            for p, lp in [((0.98, 0.01, 0.01), 0.9), ((0.01, 0.98, 0.01), 0.2), ((0.98, 0.01, 0.01), 0.8),
                          ((0.01, 0.01, 0.98), 0.1)]]  # fmt: skip
    records = [{"stance": "pro_nrf", "loaded": True}, {"stance": "pro_nrf", "loaded": False},
               {"stance": None, "loaded": True}, {"stance": "neutral", "loaded": None}]  # fmt: skip
    temperature, threshold = calibrate(rows, records, labels)
    assert temperature > 1.0  # one confident mistake among two labelled rows: soften
    assert 0.2 < threshold <= 0.8
