"""Checks of the seed set's stand-off annotations (they hold offsets and labels, no text)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from stancelens.model.labels import STANCE_LABELS
from stancelens.model.splitter import split_sentences
from stancelens.train.corpus_validate import check_spans

FIELDS = {"id", "file", "sent_index", "start", "end", "sha1", "stance", "loaded", "loaded_spans", "split"}


def validate_seed_annotations(path: Path, shared: Path) -> tuple[list[str], str]:
    """Problems found, and a one-line note on what could be checked.

    Without ``../shared/seeds`` only the labels can be checked; with it, every
    annotation must match the splitter's sentence and its SHA-1, and every sentence
    of every article must be annotated.
    """
    if not path.is_file():
        return [f"{path}: seed annotations missing"], "missing"
    problems: list[str] = []
    annotations = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path.name}:{line_no}"
        try:
            ann = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON ({exc.msg})")
            continue
        if set(ann) != FIELDS:
            problems.append(f"{where}: fields must be exactly {sorted(FIELDS)} (no text is stored)")
            continue
        if ann["stance"] not in STANCE_LABELS:
            problems.append(f"{where}: stance {ann['stance']!r} invalid")
        annotations.append((where, ann))
    seeds = shared / "seeds"
    if not seeds.is_dir():
        return problems, f"{len(annotations)} annotations; {seeds} absent, text checks skipped"
    by_file: dict[str, list[dict]] = {}
    for where, ann in annotations:
        by_file.setdefault(ann["file"], []).append(ann)
        doc_path = seeds / ann["file"]
        if not doc_path.is_file():
            problems.append(f"{where}: {ann['file']} not in {seeds}")
            continue
        sentence = doc_path.read_text(encoding="utf-8")[ann["start"] : ann["end"]]
        if hashlib.sha1(sentence.encode("utf-8")).hexdigest() != ann["sha1"]:
            problems.append(f"{where}: text at {ann['start']}:{ann['end']} does not match sha1")
        problems.extend(f"{where}: {p}" for p in check_spans(sentence, ann["loaded_spans"], ann["loaded"]))
    for doc_path in sorted(seeds.glob("*.txt")):
        expected = len(split_sentences(doc_path.read_text(encoding="utf-8")))
        got = len(by_file.get(doc_path.name, []))
        if got != expected:
            problems.append(f"{doc_path.name}: {got} annotations for {expected} sentences")
    return problems, f"{len(annotations)} annotations over {len(by_file)} articles, checked against {seeds}"
