"""What counts as analysable text: one rule shared by the Predictor, CLI, server and pyfunc.

A text must be a ``str`` that can be written as UTF-8 (no lone surrogates such as a JSON
``"\\ud800"``) and must hold at least one visible character: whitespace, control and
format characters (zero-width space, BOM, NUL, bidi marks) alone are empty.
"""

from __future__ import annotations

import unicodedata

# Unicode categories that carry nothing to analyse: controls, formats (ZWSP, BOM, bidi),
# surrogates, unassigned and separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Cn", "Co", "Zs", "Zl", "Zp"})


class TextProblem(ValueError):
    """A text that cannot be analysed; ``code`` is the API's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def valid_unicode(value: str) -> str:
    """``value`` with lone surrogates replaced by U+FFFD, so it can be written as UTF-8 (for ids)."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def has_visible_text(text: str) -> bool:
    return any(not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE for ch in text)


def text_problem(text: object) -> TextProblem | None:
    """Why ``text`` cannot be analysed, or ``None`` when it can."""
    if not isinstance(text, str):
        return TextProblem("invalid_type", f"text must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return TextProblem("invalid_text", f"text holds a lone surrogate at character {exc.start} (not valid Unicode)")
    if not has_visible_text(text):
        return TextProblem("empty_text", "text is empty (only whitespace, control or zero-width characters)")
    return None
