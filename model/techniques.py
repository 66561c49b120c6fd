"""The 14 propaganda techniques of SemEval-2020 Task 11 (PTC), and their spans in a sentence.

Spans are found where any technique's token probability reaches the model's threshold, and
each is then named by the span classifier (model/technique_classifier.py). Spans of different
techniques may overlap in PTC; here each found span carries its single most likely technique.

The names are PTC's own (``Name_Calling,Labeling`` with its comma), so predictions can be
scored by, and compared with, the official task; the one-line definitions follow Da San
Martino et al. (EMNLP 2019), the corpus's guideline. ``Loaded_Language`` appears here with
PTC's definition; the sentence flag and ``loaded_spans`` remain the conflict-specific head
that ANNOTATION.md trains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from stancelens.model.spans import decode_spans, merge_spans
from stancelens.model.technique_classifier import TechniqueClassifier, span_features

TECHNIQUE_DEFINITIONS: dict[str, str] = {
    "Appeal_to_Authority": "a claim is true because an authority or expert says so, with no other evidence",
    "Appeal_to_fear-prejudice": "support is sought by stoking anxiety or panic about an alternative, or prejudice",
    "Bandwagon,Reductio_ad_hitlerum": "join because everyone does / reject because a hated group supports it",
    "Black-and-White_Fallacy": "two alternatives are presented as the only possibilities when more exist",
    "Causal_Oversimplification": "one cause is assumed for an issue that has many",
    "Doubt": "the credibility of someone or something is questioned",
    "Exaggeration,Minimisation": "something is made larger, better or worse than it is, or played down",
    "Flag-Waving": "an idea is justified by playing on strong national or group feeling",
    "Loaded_Language": "words or phrases with strong emotional implications, used to sway the audience",
    "Name_Calling,Labeling": "the object of the campaign is labelled as something the audience fears, hates or loves",
    "Repetition": "the same message is repeated over and over so the audience accepts it",
    "Slogans": "a brief, striking phrase, often with labelling and stereotyping",
    "Thought-terminating_Cliches": "a short, generic phrase that discourages critical thought and debate",
    "Whataboutism,Straw_Men,Red_Herring": "an opponent is discredited by charging hypocrisy, misrepresented, or "
    "the subject is changed to an irrelevant one",
}
TECHNIQUES: tuple[str, ...] = tuple(TECHNIQUE_DEFINITIONS)


def technique_slug(technique: str) -> str:
    """A column-safe name: ``Name_Calling,Labeling`` -> ``name_calling_labeling``."""
    return re.sub(r"[^a-z0-9]+", "_", technique.lower()).strip("_")


def technique_count_columns() -> list[str]:
    """One count column per technique in the flat outputs (CSV, pyfunc)."""
    return [f"n_{technique_slug(t)}" for t in TECHNIQUES]


def technique_counts(spans: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Spans per technique, every technique present (zero when absent)."""
    counts = dict.fromkeys(TECHNIQUES, 0)
    for span in spans:
        counts[span["technique"]] += 1
    return counts


@dataclass
class TokenStates:
    """One sentence's tokens over all its windows: character offsets, technique probabilities, hidden states."""

    offsets: list[tuple[int, int]]  # special tokens carry (0, 0)
    probs: np.ndarray  # (n_tokens, n_techniques)
    hidden: np.ndarray  # (n_tokens, hidden_size)

    def real(self) -> np.ndarray:
        return np.array([b > a for a, b in self.offsets], dtype=bool)

    def inside(self, start: int, end: int, shift: int = 0) -> np.ndarray:
        """Tokens that overlap ``[start, end)``; token offsets are shifted by ``shift`` first."""
        return np.array([b > a and shift + a < end and start < shift + b for a, b in self.offsets], dtype=bool)


SpanParts = Sequence[tuple[TokenStates, np.ndarray]]  # the sentences a span lies in, with its tokens' mask in each


def parts_features(parts: SpanParts, n_chars: int) -> np.ndarray:
    """The span classifier's features of a span (see technique_classifier.span_features)."""
    hidden = np.concatenate([states.hidden[mask] for states, mask in parts])
    probs = np.concatenate([states.probs[mask] for states, mask in parts])
    context = np.concatenate([states.hidden[states.real()] for states, _ in parts])
    return span_features(hidden, probs, context, n_chars)


def technique_probabilities(parts: SpanParts, n_chars: int, classifier: TechniqueClassifier | None) -> np.ndarray:
    """A span's probability per technique.

    With a classifier (the model folder's), the span's features decide; without one, the token
    head's mean probabilities over the span, normalised.
    """
    if classifier is None:
        probs = np.concatenate([states.probs[mask] for states, mask in parts])
        mean = probs.mean(0) if len(probs) else np.ones(parts[0][0].probs.shape[1])
        return mean / mean.sum()
    return classifier.probabilities(parts_features(parts, n_chars)[None, :])[0]


def decode_technique_spans(
    text: str,
    labels: Sequence[str],
    window_offsets: Sequence[Sequence[tuple[int, int]]],
    states: TokenStates,
    threshold: float,
    classifier: TechniqueClassifier | None,
) -> list[dict[str, Any]]:
    """Technique spans of one sentence: where propaganda is, then which technique it is.

    A span is a run of words whose highest technique probability reaches ``threshold`` in some
    window (span identification); it is named by :func:`technique_probabilities` (technique
    classification). ``prob`` is the span's mean token probability times its technique's.
    """
    if not labels:
        return []
    spans = []
    start = 0
    for offsets in window_offsets:
        peak = states.probs[start : start + len(offsets)].max(axis=1)
        spans.extend(decode_spans(text, offsets, peak, threshold))
        start += len(offsets)
    out = []
    for span in merge_spans(spans):
        probs = technique_probabilities(
            [(states, states.inside(span.start, span.end))], span.end - span.start, classifier
        )
        best = int(np.argmax(probs))
        out.append(
            {
                "technique": labels[best],
                "start": span.start,
                "end": span.end,
                "text": text[span.start : span.end],
                "prob": float(span.prob * probs[best]),
            }
        )
    return out
