"""Which technique a span is: a linear classifier over the encoder's view of the span.

The token technique head finds *where* propaganda is (span identification) well, but naming
the technique from per-token probabilities alone is weak (PTC dev TC micro-F1 0.39 in the
first technique run). Techniques are properties of whole phrases, so a span is described by
its tokens' hidden states (mean and max), the token head's mean probabilities, its sentence's
mean hidden state and its length, and a multinomial logistic regression (fitted after the
network, on PTC train spans, its regularisation picked on held-out PTC articles) names it.

The classifier is a few arrays in ``technique_classifier.safetensors`` beside the weights:
standardisation, coefficients and intercepts, in the order of ``meta.technique_labels``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

CLASSIFIER_FILE = "technique_classifier.safetensors"


def span_features(hidden: np.ndarray, probs: np.ndarray, context: np.ndarray, n_chars: int) -> np.ndarray:
    """One span's features.

    ``hidden`` and ``probs`` hold the span's tokens (hidden states; technique probabilities),
    ``context`` the hidden states of every token of the sentence(s) the span lies in.
    """
    if not len(hidden):  # a span between tokens (never produced by decoding): its context stands in
        hidden, probs = context[:1], np.zeros((1, probs.shape[1]), dtype=np.float32)
    return np.concatenate(
        [hidden.mean(0), hidden.max(0), probs.mean(0), context.mean(0), [np.log1p(n_chars), np.log1p(len(hidden))]]
    ).astype(np.float32)


@dataclass
class TechniqueClassifier:
    """Standardise, then softmax(W x + b) over the techniques."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_techniques, n_features)
    intercept: np.ndarray  # (n_techniques,)

    @classmethod
    def fit(
        cls, features: np.ndarray, labels: Sequence[str], techniques: Sequence[str], c: float
    ) -> TechniqueClassifier:
        """Multinomial logistic regression with L2 strength ``1/c``; unseen techniques are never predicted."""
        from sklearn.linear_model import LogisticRegression

        mean = features.mean(0)
        scale = features.std(0)
        scale[scale == 0] = 1.0
        coef = np.zeros((len(techniques), features.shape[1]), dtype=np.float32)
        intercept = np.full(len(techniques), -1e4, dtype=np.float32)
        seen = sorted(set(labels))
        if len(seen) == 1:  # nothing to learn: the one technique seen
            intercept[list(techniques).index(seen[0])] = 0.0
            return cls(mean.astype(np.float32), scale.astype(np.float32), coef, intercept)
        model = LogisticRegression(max_iter=3000, C=c).fit((features - mean) / scale, list(labels))
        # two classes: sklearn keeps one row (the second class against the first); softmax over [0, w.x+b] equals it
        rows = model.coef_ if len(model.classes_) > 2 else np.vstack([np.zeros_like(model.coef_), model.coef_])
        biases = model.intercept_ if len(model.classes_) > 2 else np.array([0.0, model.intercept_[0]])
        for row, name in enumerate(model.classes_):
            k = list(techniques).index(name)
            coef[k], intercept[k] = rows[row], biases[row]
        return cls(mean.astype(np.float32), scale.astype(np.float32), coef, intercept)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n_spans, n_techniques) probabilities, each row summing to 1."""
        z = ((features - self.mean) / self.scale) @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, folder: Path) -> None:
        arrays = {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}
        save_file(
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}, str(folder / CLASSIFIER_FILE)
        )

    @classmethod
    def load(cls, folder: Path | None) -> TechniqueClassifier | None:
        """The folder's classifier, or None (a model without one names spans by the token head)."""
        path = Path(folder) / CLASSIFIER_FILE if folder is not None else None
        if path is None or not path.is_file():
            return None
        arrays = load_file(str(path))
        return cls(arrays["mean"], arrays["scale"], arrays["coef"], arrays["intercept"])
