"""Span decoding and token labelling on the offsets that break naive code."""

from __future__ import annotations

import pytest
from stancelens.model.encoder import resolve_encoder_path
from stancelens.model.labels import IGNORE_INDEX
from stancelens.model.spans import CharSpan, decode_spans, merge_spans, snap_to_words, token_labels_for_spans


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_encoder_path()), local_files_only=True)


def encode(tokenizer, text: str) -> list[tuple[int, int]]:
    enc = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    return [(0, 0) if sp else tuple(o) for o, sp in zip(enc["offset_mapping"], enc["special_tokens_mask"], strict=True)]


def probs_for(offsets: list[tuple[int, int]], text: str, words: set[str]) -> list[float]:
    """High probability on tokens inside the given words, low elsewhere."""
    out = []
    for start, end in offsets:
        hit = end > start and any(text.find(w) <= start and end <= text.find(w) + len(w) for w in words if w in text)
        out.append(0.9 if hit else 0.1)
    return out


def spans_text(text: str, spans: list[CharSpan]) -> list[str]:
    return [text[s.start : s.end] for s in spans]


@pytest.mark.parametrize(
    ("text", "marked", "expected"),
    [
        # unicode quotes are not part of the span
        ("He called them “terrorists”, then left.", {"“terrorists”"}, ["terrorists"]),
        # hyphenated and multi-word phrases stay one span
        ("A Pakistan-backed puppet regime, critics said.", {"Pakistan-backed puppet regime"},
         ["Pakistan-backed puppet regime"]),
        # separate phrases give separate spans
        ("Heroes of the valley faced the invaders at dawn.", {"Heroes", "invaders"}, ["Heroes", "invaders"]),
    ],
    ids=["unicode-quotes", "hyphenated-multiword", "separate-phrases"],
)  # fmt: skip
def test_marked_words_decode_to_word_spans(tokenizer, text, marked, expected):
    offsets = encode(tokenizer, text)
    probs = probs_for(offsets, text, marked)
    assert spans_text(text, decode_spans(text, offsets, probs, 0.5)) == expected


def test_subword_tokens_merge_into_the_whole_word(tokenizer):
    text = "The Panjshiris denounced the warmongers."
    offsets = encode(tokenizer, text)
    # mark only the first sub-word piece of "warmongers": decoding must snap to the word
    first_piece = next(i for i, (s, e) in enumerate(offsets) if text[s:e].lower().startswith("war"))
    probs = [0.9 if i == first_piece else 0.1 for i in range(len(offsets))]
    assert spans_text(text, decode_spans(text, offsets, probs, 0.5)) == ["warmongers"]


def test_trailing_punctuation_is_trimmed(tokenizer):
    text = "They are puppets!!!"
    offsets = encode(tokenizer, text)
    probs = [0.9 if e > s else 0.0 for s, e in offsets]  # every real token, punctuation included
    assert spans_text(text, decode_spans(text, offsets, probs, 0.5)) == ["They are puppets"]


def test_nothing_above_threshold_gives_no_span(tokenizer):
    text = "Clashes were reported near the river."
    offsets = encode(tokenizer, text)
    assert decode_spans(text, offsets, [0.2] * len(offsets), 0.5) == []


def test_snap_to_words_grows_and_trims():
    text = "the “barbaric” raid"
    start = text.index("arbar")
    assert snap_to_words(text, start, start + 3) == (text.index("barbaric"), text.index("barbaric") + 8)
    assert snap_to_words(text, text.index("“"), text.index("”") + 1) == (5, 13)


def test_token_labels_follow_spans_and_ignore_specials(tokenizer):
    text = "A terrorist regime ruled."
    offsets = encode(tokenizer, text)
    labels = token_labels_for_spans(offsets, [[2, 18]])
    marked = [text[s:e] for (s, e), lab in zip(offsets, labels, strict=True) if lab == 1]
    assert marked == ["terrorist", "regime"]
    assert labels[0] == IGNORE_INDEX and labels[-1] == IGNORE_INDEX
    assert all(lab == IGNORE_INDEX for lab in token_labels_for_spans(offsets, None))


def test_merge_spans_unions_overlaps_from_windows():
    merged = merge_spans([CharSpan(10, 20, 0.6), CharSpan(0, 4, 0.7), CharSpan(15, 25, 0.9)])
    assert [(s.start, s.end) for s in merged] == [(0, 4), (10, 25)]
    assert merged[1].prob == 0.9


def test_fallback_span_is_never_a_function_word(tokenizer):
    from stancelens.model.spans import best_token_span

    text = "only a handful of rebels remained"
    offsets = encode(tokenizer, text)
    probs = [0.45 if text[s:e] == "of" else 0.3 if text[s:e] == "handful" else 0.1 for s, e in offsets]
    span = best_token_span(text, offsets, probs)
    assert text[span.start : span.end] == "handful"
