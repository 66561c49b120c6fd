"""Labelled records in the ANNOTATION.md format, from every source the project knows.

Sources:
- the written corpus (``data/corpus/*.jsonl``), with its own train/validation/test split;
- the real-text seed set: stand-off labels in ``data/seeds`` over ``../shared/seeds``;
- SemEval-2020 Task 11 (PTC): technique spans, and loaded-language labels (stance missing);
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
# Hashed only where present, so the data versions of records without technique labels stay as they were.
OPTIONAL_RECORD_FIELDS = ("techniques",)


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

    def content(r: Record) -> dict[str, Any]:
        return {k: r.get(k) for k in RECORD_FIELDS} | {k: r[k] for k in OPTIONAL_RECORD_FIELDS if r.get(k) is not None}

    lines = sorted(json.dumps(content(r), sort_keys=True, ensure_ascii=False) for r in records)
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


def ptc_root(shared_dir: str | Path) -> Path:
    return Path(shared_dir) / "data" / "ptc" / "datasets"


def ptc_articles(shared_dir: str | Path, split: str) -> dict[str, str]:
    """PTC article id -> text (title, blank line, one sentence per line)."""
    articles = ptc_root(shared_dir) / f"{split}-articles"
    if not articles.is_dir():
        raise SharedDataMissing(f"{articles} not found: SemEval-2020 Task 11 needs ../shared/data/ptc")
    return {
        p.stem.removeprefix("article"): p.read_text(encoding="utf-8") for p in sorted(articles.glob("article*.txt"))
    }


def ptc_gold(shared_dir: str | Path, split: str) -> list[tuple[str, str, int, int]]:
    """Gold technique spans ``(article_id, technique, start, end)`` in article offsets, file order."""
    labels_dir = ptc_root(shared_dir) / f"{split}-labels-task-flc-tc"
    if not labels_dir.is_dir():
        raise SharedDataMissing(f"{labels_dir} not found: SemEval-2020 Task 11 needs ../shared/data/ptc")
    gold = []
    for label_file in sorted(labels_dir.glob("*.labels")):
        with open(label_file, encoding="utf-8") as handle:
            gold += [
                (row[0], row[1], int(row[2]), int(row[3]))
                for row in csv.reader(handle, delimiter="\t")
                if len(row) >= 4
            ]
    return gold


def ptc_article_id(record: Record) -> str:
    """The PTC article of a line record (``ptc/<split>/<article>#<line>``)."""
    return record["id"].split("/")[2].split("#")[0]


def held_out_article(article_id: str, every: int) -> bool:
    """Every ``every``-th PTC train article (by id) calibrates the technique threshold and never trains."""
    return every > 0 and int(article_id) % every == 0


def ptc_lines(text: str) -> Iterator[tuple[int, int, int]]:
    """``(line_index, start, end)`` of each line of a PTC article that has visible text."""
    offset = 0
    for index, line in enumerate(text.split("\n")):
        start, end = offset, offset + len(line)
        offset = end + 1
        if has_visible_text(line):  # blank, or only zero-width / control characters
            yield index, start, end


def load_semeval(
    shared_dir: str | Path, split: str = "train", max_records: int = 0, loaded_labels: bool = True
) -> list[Record]:
    """One record per non-empty article line, with its technique spans and Loaded_Language spans (no stance).

    Spans crossing a line edge are clipped to the line, so offsets are relative to the record.
    ``techniques`` holds ``[technique, start, end]`` for all 14 PTC techniques (the technique
    head's labels); ``loaded_labels=False`` leaves the loaded-language heads unlabelled, so the
    conflict-specific loaded head learns only from our own annotation.
    """
    spans_by_article: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for article_id, technique, start, end in ptc_gold(shared_dir, split):
        spans_by_article[article_id].append((technique, start, end))
    records: list[Record] = []
    for article_id, text in ptc_articles(shared_dir, split).items():
        for index, start, end in ptc_lines(text):
            techniques = sorted(
                {
                    (technique, max(s, start) - start, min(e, end) - start)
                    for technique, s, e in spans_by_article[article_id]
                    if s < end and e > start
                }
            )
            techniques = [list(t) for t in techniques if t[2] > t[1]]
            loaded = [[s, e] for t, s, e in techniques if t == "Loaded_Language"]
            records.append(
                {
                    "id": f"ptc/{split}/{article_id}#{index}",
                    "text": text[start:end],
                    "stance": None,
                    "loaded": int(bool(loaded)) if loaded_labels else None,
                    "loaded_spans": sorted(loaded) if loaded_labels else None,
                    "techniques": techniques,
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
