"""Per-document summaries and the row formats shared by the CLI, the API and the page."""

from __future__ import annotations

from collections import Counter
from typing import Any

from stancelens.model.labels import STANCE_LABELS
from stancelens.model.schema import flat_sentence_columns, flat_sentence_values
from stancelens.model.techniques import technique_count_columns, technique_counts

TOP_PHRASES = 5


def summarize(doc_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sentence counts and shares per stance, loaded share, most frequent loaded phrases, technique counts."""
    n = len(rows)
    counts = Counter(r["stance"] for r in rows)
    phrases = Counter(span["text"].lower() for r in rows for span in r["loaded_spans"])
    loaded = sum(r["loaded"] for r in rows)
    return {
        "doc_id": doc_id,
        "sentences": n,
        "stance_counts": {label: counts[label] for label in STANCE_LABELS},
        "stance_shares": {label: (counts[label] / n if n else 0.0) for label in STANCE_LABELS},
        "loaded_sentences": loaded,
        "loaded_share": loaded / n if n else 0.0,
        "top_loaded_phrases": [[phrase, count] for phrase, count in phrases.most_common(TOP_PHRASES)],
        "windowed_sentences": sum(r.get("windows", 1) > 1 for r in rows),
        "technique_counts": technique_counts([span for r in rows for span in r.get("techniques", [])]),
    }


SENTENCE_CSV_COLUMNS = flat_sentence_columns(STANCE_LABELS)
SUMMARY_CSV_COLUMNS = (
    ["doc_id", "sentences"]
    + [f"share_{label}" for label in STANCE_LABELS]
    + ["loaded_sentences", "loaded_share", "top_loaded_phrases", "windowed_sentences"]
    + technique_count_columns()
)


def sentence_csv_row(row: dict[str, Any]) -> list[Any]:
    """The CSV cells of a sentence row, in :data:`SENTENCE_CSV_COLUMNS` order (probabilities to 6 places)."""
    values = flat_sentence_values(row, STANCE_LABELS)
    return [f"{v:.6f}" if isinstance(v, float) else v for v in (values[c] for c in SENTENCE_CSV_COLUMNS)]


def summary_csv_row(summary: dict[str, Any]) -> list[Any]:
    return (
        [summary["doc_id"], summary["sentences"]]
        + [f"{summary['stance_shares'][label]:.4f}" for label in STANCE_LABELS]
        + [
            summary["loaded_sentences"],
            f"{summary['loaded_share']:.4f}",
            "; ".join(f"{p} ({c})" for p, c in summary["top_loaded_phrases"]),
            summary["windowed_sentences"],
        ]
        + list(summary["technique_counts"].values())
    )
