"""The 14 propaganda techniques of SemEval-2020 Task 11 (PTC), and their spans in a sentence.

The names are PTC's own (``Name_Calling,Labeling`` with its comma), so predictions can be
scored by, and compared with, the official task; the one-line definitions follow Da San
Martino et al. (EMNLP 2019), the corpus's guideline. ``Loaded_Language`` appears here with
PTC's definition; the sentence flag and ``loaded_spans`` remain the conflict-specific head
that ANNOTATION.md trains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from stancelens.model.spans import decode_spans, merge_spans

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


def decode_technique_spans(
    text: str,
    labels: Sequence[str],
    window_offsets: Sequence[Sequence[tuple[int, int]]],
    window_probs: Sequence[np.ndarray],
    threshold: float,
) -> list[dict[str, Any]]:
    """Word-aligned spans of each technique in one sentence, from per-token probabilities.

    ``window_probs[w]`` has one row per token of window ``w`` and one column per label. Each
    technique is decoded on its own, so spans of different techniques may overlap, as in
    PTC; spans of one technique found in overlapping windows are merged.
    """
    out: list[dict[str, Any]] = []
    for k, technique in enumerate(labels):
        spans = []
        for offsets, probs in zip(window_offsets, window_probs, strict=True):
            spans.extend(decode_spans(text, offsets, probs[:, k], threshold))
        for span in merge_spans(spans):
            out.append(
                {
                    "technique": technique,
                    "start": span.start,
                    "end": span.end,
                    "text": text[span.start : span.end],
                    "prob": float(span.prob),
                }
            )
    return sorted(out, key=lambda s: (s["start"], s["end"], s["technique"]))
