"""Between character spans and token labels, in both directions.

Training needs a 0/1 label per token from annotated character spans; prediction needs
character spans back from per-token probabilities. Sub-word tokens, unicode quotes and
trailing punctuation make the naive mapping wrong, so decoded spans are snapped to
whole words and trimmed of punctuation that the annotation guideline never includes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from stancelens.model.labels import IGNORE_INDEX

# Characters that never start or end a loaded phrase (quotes, brackets, punctuation).
_EDGE_JUNK = set(" \t\n\r.,;:!?\"'()[]{}«»“”‘’„‚…-–—/\\*#@_")


def _is_word_char(char: str) -> bool:
    return char.isalnum()


@dataclass(frozen=True)
class CharSpan:
    """A half-open character range ``[start, end)`` with the model's confidence in it."""

    start: int
    end: int
    prob: float


def token_labels_for_spans(offsets: Sequence[tuple[int, int]], spans: Sequence[Sequence[int]] | None) -> list[int]:
    """1 for tokens overlapping an annotated span, 0 otherwise, IGNORE for special tokens.

    ``spans=None`` means the record has no loaded-language annotation at all, so every
    token is ignored rather than taught "not loaded".
    """
    labels: list[int] = []
    for start, end in offsets:
        if start == end or spans is None:  # special tokens and padding carry (0, 0)
            labels.append(IGNORE_INDEX)
        else:
            labels.append(int(any(start < s_end and s_start < end for s_start, s_end in spans)))
    return labels


def snap_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a range to whole words, then trim punctuation and spaces from both edges."""
    while start > 0 and _is_word_char(text[start - 1]) and start < len(text) and _is_word_char(text[start]):
        start -= 1
    while end < len(text) and end > 0 and _is_word_char(text[end - 1]) and _is_word_char(text[end]):
        end += 1
    while start < end and text[start] in _EDGE_JUNK:
        start += 1
    while end > start and text[end - 1] in _EDGE_JUNK:
        end -= 1
    return start, end


def decode_spans(
    text: str,
    offsets: Sequence[tuple[int, int]],
    token_probs: Sequence[float],
    threshold: float,
) -> list[CharSpan]:
    """Merge runs of tokens at or above ``threshold`` into word-aligned character spans.

    Two marked tokens belong to one span when only whitespace or joining punctuation
    (hyphen, apostrophe) separates them, so "Pakistan-backed puppet" stays one phrase.
    The span's probability is the mean of its tokens' probabilities.
    """
    runs: list[tuple[int, int, list[float]]] = []
    for (start, end), prob in zip(offsets, token_probs, strict=True):
        if start == end or prob < threshold:
            continue
        if runs and _joinable(text[runs[-1][1] : start]):
            last_start, _, probs = runs[-1]
            runs[-1] = (last_start, end, [*probs, float(prob)])
        else:
            runs.append((start, end, [float(prob)]))
    spans: list[CharSpan] = []
    for start, end, probs in runs:
        start, end = snap_to_words(text, start, end)
        if end <= start:
            continue
        prob = sum(probs) / len(probs)
        if spans and start <= spans[-1].end:
            previous = spans.pop()
            start, end = min(start, previous.start), max(end, previous.end)
            prob = max(prob, previous.prob)
        spans.append(CharSpan(start, end, prob))
    return spans


def best_token_span(text: str, offsets: Sequence[tuple[int, int]], token_probs: Sequence[float]) -> CharSpan | None:
    """The single most likely loaded word, used when the sentence is flagged but no run clears the bar.

    Function words and punctuation are never offered: a flagged sentence with a span "of"
    would mislead more than it helps.
    """
    candidates = []
    for (start, end), prob in zip(offsets, token_probs, strict=True):
        if end <= start:
            continue
        word_start, word_end = snap_to_words(text, start, end)
        word = text[word_start:word_end].lower()
        if len(word) >= 3 and any(c.isalpha() for c in word) and word not in ENGLISH_STOP_WORDS:
            candidates.append((prob, start, end))
    if not candidates:
        return None
    prob, start, end = max(candidates)
    start, end = snap_to_words(text, start, end)
    return CharSpan(start, end, float(prob)) if end > start else None


def merge_spans(spans: Sequence[CharSpan]) -> list[CharSpan]:
    """Union overlapping spans (e.g. from overlapping windows of a long sentence)."""
    merged: list[CharSpan] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if merged and span.start <= merged[-1].end:
            last = merged.pop()
            merged.append(CharSpan(last.start, max(last.end, span.end), max(last.prob, span.prob)))
        else:
            merged.append(span)
    return merged


def _joinable(gap: str) -> bool:
    return gap == "" or gap.isspace() or gap in {"-", "'", "’", "‑"}
