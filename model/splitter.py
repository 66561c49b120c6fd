"""Sentence splitting that keeps character offsets into the original document.

Offsets matter more than the cut itself: every score, span and stand-off annotation
points back into the analyst's original text, so the splitter never rewrites text.
Blingfire is used because it is fast, deterministic and needs no downloaded data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import blingfire

_LINE_BLOCK = re.compile(r"[^\n]+")


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence as a half-open character range ``[start, end)`` of its document."""

    start: int
    end: int


def split_sentences(text: str) -> list[SentenceSpan]:
    """Split ``text`` into sentences; lines are hard boundaries (headlines, bullets).

    Whitespace around each sentence is excluded from its range, and empty lines yield
    nothing, so ``text[s.start:s.end]`` is always a non-empty, stripped sentence.
    """
    spans: list[SentenceSpan] = []
    for line in _LINE_BLOCK.finditer(text):
        block = line.group()
        if not block.strip():
            continue
        _, offsets = blingfire.text_to_sentences_and_offsets(block)
        for start, end in offsets:
            piece = block[start:end]
            stripped_left = len(piece) - len(piece.lstrip())
            stripped_right = len(piece) - len(piece.rstrip())
            real_start = line.start() + start + stripped_left
            real_end = line.start() + end - stripped_right
            if real_end > real_start:
                spans.append(SentenceSpan(real_start, real_end))
    return spans
