"""Human-readable tables of a scoring run, for the terminal."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from stancelens.model.techniques import TECHNIQUES, technique_count_columns
from stancelens.serve.batch import output_paths

COLOURS = {"pro_nrf": "\033[32m", "pro_taliban": "\033[31m", "neutral": "\033[37m"}
RESET = "\033[0m"
TOP_TECHNIQUES = 3


def print_tables(out: Path, fmt: str, width: int = 90) -> None:
    paths = output_paths(Path(out), fmt)
    colours = COLOURS if sys.stdout.isatty() else {}
    reset = RESET if colours else ""
    rows = _read(paths["sentences"], fmt)
    print(f"{'doc':18s} {'#':>3s} {'stance':12s} {'p':>5s} {'LL':>4s}  sentence (loaded spans in [brackets])")
    for row in rows:
        text = row["text"]
        spans = json.loads(row["loaded_spans"]) if isinstance(row["loaded_spans"], str) else row["loaded_spans"]
        for span in sorted(spans, key=lambda s: -s["start"]):
            text = text[: span["start"]] + "[" + text[span["start"] : span["end"]] + "]" + text[span["end"] :]
        text = " ".join(text.split())
        text = text if len(text) <= width else text[: width - 1] + "…"
        prob = row["stance_probs"][row["stance"]] if "stance_probs" in row else float(row[f"prob_{row['stance']}"])
        colour = colours.get(row["stance"], "")
        print(
            f"{Path(str(row['doc_id'])).name[-18:]:18s} {int(row['sent_index']):3d} {colour}{row['stance']:12s}{reset} "
            f"{prob:5.2f} {float(row['loaded_prob']):4.2f}  {text}"
        )
    print()
    print(
        f"{'document':30s} {'sent':>4s} {'pro_nrf':>8s} {'pro_tal':>8s} {'neutral':>8s} {'loaded':>7s}"
        "  top loaded phrases | techniques (PTC spans)"
    )
    for summary in _read(paths["summary"], fmt):
        if fmt == "csv":
            shares = [float(summary[f"share_{k}"]) for k in ("pro_nrf", "pro_taliban", "neutral")]
            phrases, loaded = summary["top_loaded_phrases"], float(summary["loaded_share"])
            counts = {t: int(summary[c]) for t, c in zip(TECHNIQUES, technique_count_columns(), strict=True)}
        else:
            shares = [summary["stance_shares"][k] for k in ("pro_nrf", "pro_taliban", "neutral")]
            phrases = ", ".join(p for p, _ in summary["top_loaded_phrases"])
            loaded = summary["loaded_share"]
            counts = summary["technique_counts"]
        top = sorted(((n, t) for t, n in counts.items() if n), reverse=True)[:TOP_TECHNIQUES]
        print(
            f"{Path(str(summary['doc_id'])).name[-30:]:30s} {int(summary['sentences']):4d} "
            + " ".join(f"{s:8.0%}" for s in shares)
            + f" {loaded:7.0%}  {phrases} | {', '.join(f'{t} {n}' for n, t in top) or '-'}"
        )


def _read(path: Path, fmt: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            return list(csv.DictReader(handle))
        return [json.loads(line) for line in handle if line.strip()]
