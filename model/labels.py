"""Label vocabulary shared by data, training and prediction (ANNOTATION.md v1.1)."""

from __future__ import annotations

STANCE_LABELS: tuple[str, ...] = ("pro_nrf", "pro_taliban", "neutral")
STANCE_TO_ID: dict[str, int] = {label: i for i, label in enumerate(STANCE_LABELS)}

#: Marks a missing label; every loss ignores it (stance-only or loaded-only records).
IGNORE_INDEX = -100
