"""Sentence splitting for news text, keeping character offsets into the original document.

Offsets matter more than the cut itself: every score, span and stand-off annotation points
back into the analyst's original text, so the splitter never rewrites text; a sentence is
always ``text[start:end]``, stripped, and may contain the soft line breaks of wrapped prose.

Why rules and not a library: the general-purpose splitters available offline (blingfire
among them) keep "Kabul fell. Mr. Saleh fled." together, cut "Dr." off its name and never
split "fell.The". News needs three things they lack, all decided here:

1. **Lines.** A blank line, a bullet or a headline-like line ends a sentence; a single line
   break inside running prose (text hard-wrapped at a fixed width) does not.
2. **Abbreviations.** Titles before names ("Mr.", "Gen."), initials ("A. Saleh") and
   numbering ("No. 5") never end a sentence; a dotted acronym ("U.S.") ends one only when
   an ordinary sentence opener follows ("...the U.S. The next day...").
3. **Missing spaces** after a full stop ("fell.The") are a boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence as a half-open character range ``[start, end)`` of its document."""

    start: int
    end: int


# Words that precede a name or a number, so a full stop after them never ends a sentence.
TITLE_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof gen lt col maj capt cpt sgt cmdr adm brig sen rep gov pres amb hon rev st mt "
    "no nos vol fig art dept sec vs jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# After a dotted acronym ("U.S.") a boundary needs one of these as the next word.
SENTENCE_OPENERS = frozenset(
    "the a an he she it they we i you this that these those there in on at but and however his her "
    "their its our my after before when while since as if meanwhile earlier later according some "
    "many most no one two several officials taliban".split()
)

# A line ending in one of these runs on into the next line.
FUNCTION_WORDS = frozenset(
    "the a an of to in on at by for from with and or but that which who whose as its their his her "
    "our is are was were be been has have had will would than into over under about against".split()
)

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_BULLET = re.compile(r"^\s*(?:[-•*–—▪►]\s|\d{1,2}[.)]\s)")
_TERMINAL = re.compile(r"[.!?…][\"'”’)\]]*$")
# A candidate end: terminal punctuation with any closing quotes or brackets, then either
# whitespace or (the missing-space case) directly an upper-case word.
_CANDIDATE = re.compile(r"[.!?…]+[\"'”’)\]]*(?:\s+|(?=[A-Z][a-z]))")
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?…]*[\"'”’)\]]*\s*$")
_WORD_END = re.compile(r"[a-z]{2}$|[)\]\"”’]$")
_HAS_WORD = re.compile(r"\w")
_WORD_AFTER = re.compile(r"[\"'“‘(\[]*(\w+)")
_WRAP_MIN_CHARS = 40
_WRAP_MAX_WIDTH = 100
_WRAP_SHARE_OF_LONGEST = 0.6


def _lines(paragraph: str, offset: int) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in paragraph.split("\n"):
        spans.append((offset + pos, offset + pos + len(line)))
        pos += len(line) + 1
    return spans


def _looks_like_headline(line: str) -> bool:
    """Title Case with no final punctuation: "Taliban Claim Victory in Panjshir"."""
    words = [w for w in re.findall(r"[A-Za-z][\w'’-]*", line) if len(w) >= 4]
    return len(words) >= 2 and sum(w[0].isupper() for w in words) >= 0.75 * len(words)


def _is_soft_break(prev: str, nxt: str, longest: int) -> bool:
    """Whether a single line break between ``prev`` and ``nxt`` is wrapping, not a boundary."""
    prev, nxt = prev.rstrip(), nxt.strip()
    if not prev or not nxt or _BULLET.match(nxt):
        return False
    if _TERMINAL.search(prev):
        return True  # the sentence rules below decide, as for a space
    if nxt[0].islower():
        return True
    if _looks_like_headline(prev):
        return False
    if prev[-1] in ",(-–—" or prev.rsplit(None, 1)[-1].lower() in FUNCTION_WORDS:
        return True  # "...determined to prevent the\nTaliban from seizing..."
    wrapped = longest <= _WRAP_MAX_WIDTH  # fixed-width wrapping, not a caption above a long paragraph
    return wrapped and len(prev) >= _WRAP_MIN_CHARS and len(prev) >= _WRAP_SHARE_OF_LONGEST * longest


def _blocks(text: str) -> list[tuple[int, int]]:
    """Ranges of text between hard line boundaries (paragraphs, bullets, headlines)."""
    blocks: list[tuple[int, int]] = []
    start = 0
    for brk in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        lines = _lines(text[start:end], start)
        longest = max(e - s for s, e in lines)
        block_start = lines[0][0]
        for (s1, e1), (s2, e2) in pairwise(lines):
            if not _is_soft_break(text[s1:e1], text[s2:e2], longest):
                blocks.append((block_start, e1))
                block_start = s2
        blocks.append((block_start, lines[-1][1]))
        if brk:
            start = brk.end()
    return blocks


def _is_boundary(before: str, mark: str, after: str) -> bool:
    """Whether the terminal punctuation ``mark`` between ``before`` and ``after`` ends a sentence."""
    if not after:
        return True
    first = after.lstrip("\"'“‘([")[:1]
    if not first or first.islower() or first in ",;:.!?…":
        return False  # lower case, or an ellipsis written ". . ." that runs on
    if re.fullmatch(r"\s*\d{1,2}", before):
        return False  # "1. Talks resumed." numbering
    if not mark.startswith("."):
        return True
    word_match = _WORD_BEFORE.search(before + ".")
    word = word_match.group(1) if word_match else ""
    bare = word.rstrip(".").lower()
    if bare in TITLE_ABBREVIATIONS:
        return False  # "Mr. Saleh", "Sept. 9"
    if len(bare) == 1 and word.isupper() and _follows_name_or_start(before[: -len(word.rstrip("."))]):
        return False  # "A. Massoud", "Ahmad S. Massoud"; but "platform X. Taliban ..." ends
    if re.fullmatch(r"(?:[A-Za-z]\.){1,}[A-Za-z]", word.rstrip(".")):
        next_word = _WORD_AFTER.match(after)
        opener = next_word.group(1).lower() if next_word else ""
        return opener in SENTENCE_OPENERS or opener in TITLE_ABBREVIATIONS  # "U.S. The", "U.S. Mr."
    return True


def _follows_name_or_start(before: str) -> bool:
    previous = re.findall(r"[\w.]+", before)
    return not previous or previous[-1][:1].isupper()


def _split_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    cuts, sentence_start = [], start
    for match in _CANDIDATE.finditer(text, start, end):
        mark = match.group().rstrip()
        if mark == "":
            continue
        missing_space = not match.group()[-1:].isspace()
        if missing_space and not _WORD_END.search(text[sentence_start : match.start()]):
            continue  # missing-space case only after a real word: not "U.S" or "3.5"
        if _is_boundary(text[sentence_start : match.start()], mark, text[match.end() : end]):
            cuts.append((sentence_start, match.start() + len(mark)))
            sentence_start = match.end()
    cuts.append((sentence_start, end))
    return cuts


def split_sentences(text: str) -> list[SentenceSpan]:
    """Split ``text`` into stripped, non-empty sentences as offsets into ``text``."""
    spans: list[SentenceSpan] = []
    for block_start, block_end in _blocks(text):
        block_spans: list[SentenceSpan] = []
        for start, end in _split_block(text, block_start, block_end):
            piece = text[start:end]
            real_start = start + len(piece) - len(piece.lstrip())
            real_end = end - (len(piece) - len(piece.rstrip()))
            if real_end <= real_start:
                continue
            if block_spans and not _HAS_WORD.search(text, real_start, real_end):
                block_spans[-1] = SentenceSpan(block_spans[-1].start, real_end)  # ". . ." stays with its sentence
            else:
                block_spans.append(SentenceSpan(real_start, real_end))
        spans.extend(block_spans)
    return spans
