"""Labelled records in the ANNOTATION.md format, from every source the project knows.

Sources:
- the written corpus (``data/corpus/*.jsonl``), with its own train/validation/test split;
- the real-text seed set: stand-off labels in ``data/seeds`` over ``../shared/seeds``;
- SemEval-2020 Task 11 (PTC): loaded-language labels only (stance missing);
- RUW: stance only, mapped from its two targets (loaded missing).

Third-party text is only ever read from ``../shared`` at run time, never stored.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stancelens.model.text_checks import has_visible_text

Record = dict[str, Any]
RECORD_FIELDS = ("id", "text", "stance", "loaded", "loaded_spans", "source", "split")


class SharedDataMissing(FileNotFoundError):
    """Raised when a source that lives in ``../shared`` is not on this machine."""


def read_jsonl(path: Path) -> Iterator[Record]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_corpus(corpus_dir: str | Path) -> list[Record]:
    """All written-corpus records, in file then line order."""
    files = sorted(Path(corpus_dir).glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no *.jsonl files in {corpus_dir}")
    return [record for path in files for record in read_jsonl(path)]


def split_records(records: list[Record], split: str) -> list[Record]:
    return [r for r in records if r.get("split") == split]


def records_digest(records: list[Record]) -> str:
    """Order-independent content hash of records, logged as the data version."""
    lines = sorted(
        json.dumps({k: r.get(k) for k in RECORD_FIELDS}, sort_keys=True, ensure_ascii=False) for r in records
    )
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


# --- real-text seed set -----------------------------------------------------------

SEED_ANNOTATIONS = Path("data/seeds/seed_annotations.jsonl")


def load_seed_set(shared_dir: str | Path, annotations: str | Path = SEED_ANNOTATIONS) -> list[Record]:
    """Rebuild the seed sentences from ``../shared/seeds`` and attach the stand-off labels.

    Each annotation carries the SHA-1 of its sentence, so a changed article or splitter
    is reported instead of silently mislabelling text.
    """
    seeds = Path(shared_dir) / "seeds"
    if not seeds.is_dir():
        raise SharedDataMissing(f"{seeds} not found: the seed set needs ../shared/seeds")
    texts: dict[str, str] = {}
    records = []
    for ann in read_jsonl(Path(annotations)):
        if ann["file"] not in texts:
            texts[ann["file"]] = (seeds / ann["file"]).read_text(encoding="utf-8")
        sentence = texts[ann["file"]][ann["start"] : ann["end"]]
        if hashlib.sha1(sentence.encode("utf-8")).hexdigest() != ann["sha1"]:
            raise ValueError(f"{ann['id']}: the text at {ann['start']}:{ann['end']} no longer matches its annotation")
        records.append(
            {
                "id": ann["id"],
                "text": sentence,
                "stance": ann["stance"],
                "loaded": ann["loaded"],
                "loaded_spans": ann["loaded_spans"],
                "source": f"seed/{ann['file']}",
                "split": "seed",
            }
        )
    return records


def seed_documents(shared_dir: str | Path) -> dict[str, str]:
    seeds = Path(shared_dir) / "seeds"
    if not seeds.is_dir():
        raise SharedDataMissing(f"{seeds} not found")
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(seeds.glob("*.txt"))}


# --- SemEval-2020 Task 11 (PTC) -----------------------------------------------------


def load_semeval(shared_dir: str | Path, split: str = "train", max_records: int = 0) -> list[Record]:
    """One record per non-empty article line, with its Loaded_Language spans (no stance).

    Spans crossing a line edge are clipped to the line; each span is then snapped to the
    line's text so offsets are relative to the record.
    """
    root = Path(shared_dir) / "data" / "ptc" / "datasets"
    articles = root / f"{split}-articles"
    labels_dir = root / f"{split}-labels-task-flc-tc"
    if not articles.is_dir():
        raise SharedDataMissing(f"{articles} not found: SemEval-2020 Task 11 needs ../shared/data/ptc")
    spans_by_article: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for label_file in labels_dir.glob("*.labels"):
        with open(label_file, encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                if len(row) >= 4 and row[1] == "Loaded_Language":
                    spans_by_article[row[0]].append((int(row[2]), int(row[3])))
    records: list[Record] = []
    for path in sorted(articles.glob("article*.txt")):
        article_id = path.stem.removeprefix("article")
        text = path.read_text(encoding="utf-8")
        offset = 0
        for index, line in enumerate(text.split("\n")):
            start, end = offset, offset + len(line)
            offset = end + 1
            if not has_visible_text(line):  # blank, or only zero-width / control characters
                continue
            spans = sorted(
                {
                    (max(s, start) - start, min(e, end) - start)
                    for s, e in spans_by_article[article_id]
                    if s < end and e > start
                }
            )
            spans = [list(span) for span in spans if span[1] > span[0]]
            records.append(
                {
                    "id": f"ptc/{split}/{article_id}#{index}",
                    "text": line,
                    "stance": None,
                    "loaded": int(bool(spans)),
                    "loaded_spans": spans,
                    "source": f"ptc/{split}",
                    "split": "train" if split == "train" else "ptc_dev",
                }
            )
    return records[:max_records] if max_records else records


# --- RUW two-target stance ----------------------------------------------------------


def ruw_stance(russia: str, ukraine: str) -> str:
    """Map Russia/Ukraine stances onto the two-sided scheme.

    Russia plays the role of the party in power and Ukraine that of the resistance, so
    favour for Ukraine or hostility to Russia counts towards ``pro_nrf`` and the reverse
    towards ``pro_taliban``; balanced or absent stances are ``neutral``.
    """
    score = {"FAVOR": 1, "AGAINST": -1}.get(ukraine, 0) - {"FAVOR": 1, "AGAINST": -1}.get(russia, 0)
    return "pro_nrf" if score > 0 else "pro_taliban" if score < 0 else "neutral"


def load_ruw(shared_dir: str | Path, split: str = "train", max_records: int = 0) -> list[Record]:
    """RUW tweets with mapped stance and no loaded-language labels."""
    path = Path(shared_dir) / "data" / "ruw" / f"raw_{split}_Russia_Ukraine.csv"
    if not path.is_file():
        raise SharedDataMissing(f"{path} not found: RUW needs ../shared/data/ruw")
    records = []
    # the released CSV has a few bytes that are not UTF-8; they are replaced, not fatal
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            text = (row.get("Tweet") or "").strip()
            if not text:
                continue
            records.append(
                {
                    "id": f"ruw/{split}#{index}",
                    "text": text,
                    "stance": ruw_stance(row["Stance 1"], row["Stance 2"]),
                    "loaded": None,
                    "loaded_spans": None,
                    "source": f"ruw/{split}",
                    "split": "train",
                }
            )
    return records[:max_records] if max_records else records
