"""``stancelens data validate``: every rule the corpus must keep, checked in one pass.

A violation names the file, line and rule, so a bad edit is fixed in seconds; CI runs
this and fails on any violation.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stancelens.model.labels import STANCE_LABELS
from stancelens.train.corpus_build import near_duplicate_pairs

SPLITS = ("train", "validation", "test")
HARD_CASE_TAGS = (
    "reported_claim",
    "hedged_claim",
    "two_sided",
    "denial",
    "casualty_or_gain",
    "quoted_loaded",
    "plain_partisan",
    "irony",
)
MIN_STANCE_SHARE = 0.25
MIN_LOADED_SHARE = 0.30
MIN_TAG_SHARE = 0.05


@dataclass
class ValidationReport:
    records: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    near_duplicates_across_splits: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


def check_spans(text: str, spans: Any, loaded: Any) -> list[str]:
    """Rules for one record's spans: bounds, order, word boundaries, agreement with the flag."""
    problems = []
    if not isinstance(spans, list):
        return ["loaded_spans must be a list"]
    if loaded not in (0, 1):
        problems.append(f"loaded must be 0 or 1, got {loaded!r}")
    if bool(spans) != bool(loaded):
        problems.append("loaded must be 1 exactly when loaded_spans is non-empty")
    previous_end = -1
    for span in spans:
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) for x in span)):
            problems.append(f"span {span!r} is not [start, end]")
            continue
        start, end = span
        if not 0 <= start < end <= len(text):
            problems.append(f"span {span} is outside the text (length {len(text)})")
            continue
        if start < previous_end:
            problems.append(f"span {span} overlaps or precedes the previous span")
        previous_end = end
        piece = text[start:end]
        if piece != piece.strip():
            problems.append(f"span {span} {piece!r} starts or ends with whitespace")
        if (start > 0 and text[start - 1].isalnum() and text[start].isalnum()) or (
            end < len(text) and text[end - 1].isalnum() and text[end].isalnum()
        ):
            problems.append(f"span {span} {piece!r} cuts a word")
    return problems


def validate_corpus(corpus_dir: Path, check_balance: bool = True) -> ValidationReport:
    report = ValidationReport()
    seen_ids: dict[str, str] = {}
    seen_texts: dict[str, str] = {}
    for path in sorted(Path(corpus_dir).glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                where = f"{path.name}:{line_no}"
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    report.violations.append(f"{where}: invalid JSON ({exc.msg})")
                    continue
                problems = _check_record(record)
                if record.get("id") in seen_ids:
                    problems.append(f"duplicate id (also at {seen_ids[record['id']]})")
                key = " ".join(str(record.get("text", "")).lower().split())
                if key in seen_texts:
                    problems.append(f"duplicate text (also at {seen_texts[key]})")
                seen_ids.setdefault(record.get("id"), where)
                seen_texts.setdefault(key, where)
                report.violations.extend(f"{where}: {p}" for p in problems)
                record["_where"] = where
                report.records.append(record)
    if not report.records:
        report.violations.append(f"no records in {corpus_dir}")
        return report
    _check_leakage(report)
    if check_balance:
        _check_balance(report)
    return report


def _check_record(record: dict[str, Any]) -> list[str]:
    problems = []
    for name, kind in (("id", str), ("text", str), ("stance", str), ("source", str), ("split", str)):
        if not isinstance(record.get(name), kind) or not record.get(name):
            problems.append(f"field {name!r} must be a non-empty {kind.__name__}")
    if problems:
        return problems
    if record["text"] != record["text"].strip():
        problems.append("text has leading or trailing whitespace")
    if record["stance"] not in STANCE_LABELS:
        problems.append(f"stance {record['stance']!r} is not one of {', '.join(STANCE_LABELS)}")
    if record["split"] not in SPLITS:
        problems.append(f"split {record['split']!r} is not one of {', '.join(SPLITS)}")
    if not record["source"].startswith("written/"):
        problems.append("source of a corpus sentence must be written/<register>")
    for tag in record.get("tags", []):
        if tag not in HARD_CASE_TAGS:
            problems.append(f"unknown tag {tag!r}")
    problems.extend(check_spans(record["text"], record.get("loaded_spans"), record.get("loaded")))
    return problems


def _check_leakage(report: ValidationReport) -> None:
    records = report.records
    topic_splits: dict[str, set[str]] = defaultdict(set)
    for record in records:
        topic_splits[record.get("topic", "")].add(record["split"])
    for topic, splits in sorted(topic_splits.items()):
        if len(splits) > 1:
            report.violations.append(f"topic {topic!r} appears in several splits: {sorted(splits)}")
    for a, b, sim in near_duplicate_pairs([r["text"] for r in records]):
        if records[a]["split"] != records[b]["split"]:
            report.near_duplicates_across_splits += 1
            report.violations.append(
                f"{records[a]['_where']} ({records[a]['split']}) ~ {records[b]['_where']} ({records[b]['split']}): "
                f"near-duplicate across splits (cosine {sim:.2f})"
            )


def _check_balance(report: ValidationReport) -> None:
    n = len(report.records)
    stances = Counter(r["stance"] for r in report.records)
    for label in STANCE_LABELS:
        if stances[label] / n < MIN_STANCE_SHARE:
            report.violations.append(
                f"balance: {label} is {stances[label] / n:.1%} of the corpus (< {MIN_STANCE_SHARE:.0%})"
            )
    loaded = sum(r.get("loaded") == 1 for r in report.records)
    if loaded / n < MIN_LOADED_SHARE:
        report.violations.append(f"balance: loaded is {loaded / n:.1%} of the corpus (< {MIN_LOADED_SHARE:.0%})")
    for label in STANCE_LABELS:
        if not any(r.get("loaded") == 1 and r["stance"] == label for r in report.records):
            report.violations.append(f"balance: no loaded sentence with stance {label}")
    tags = Counter(t for r in report.records for t in r.get("tags", []))
    for tag in HARD_CASE_TAGS:
        if tags[tag] / n < MIN_TAG_SHARE:
            report.violations.append(
                f"balance: hard case {tag} is {tags[tag] / n:.1%} of the corpus (< {MIN_TAG_SHARE:.0%})"
            )


def composition_table(records: list[dict[str, Any]]) -> str:
    """Register x stance x loaded counts, as a Markdown table (also used in the datasheet)."""
    cells: Counter[tuple[str, str, int]] = Counter()
    for r in records:
        cells[(r["source"].split("/", 1)[-1], r["stance"], int(r.get("loaded") or 0))] += 1
    registers = sorted({key[0] for key in cells})
    header = (
        ["register"] + [f"{s} {'L' if lo else '-'}" for s in STANCE_LABELS for lo in (0, 1)] + ["total", "loaded %"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def count(register: str, stance: str, loaded: int) -> int:
        return sum(
            v for (reg, st, lo), v in cells.items() if st == stance and lo == loaded and register in (reg, "all")
        )

    for register in [*registers, "all"]:
        row = [count(register, s, lo) for s in STANCE_LABELS for lo in (0, 1)]
        total = sum(row)
        loaded_share = sum(count(register, s, 1) for s in STANCE_LABELS) / total if total else 0.0
        lines.append("| " + " | ".join([register] + [str(v) for v in row] + [str(total), f"{loaded_share:.0%}"]) + " |")
    return "\n".join(lines)


def split_table(records: list[dict[str, Any]]) -> str:
    lines = ["| split | n | " + " | ".join(STANCE_LABELS) + " | loaded |", "|---|---|---|---|---|---|"]
    for split in SPLITS:
        part = [r for r in records if r["split"] == split]
        stances = Counter(r["stance"] for r in part)
        loaded = sum(r.get("loaded") == 1 for r in part)
        lines.append(
            f"| {split} | {len(part)} | " + " | ".join(str(stances[s]) for s in STANCE_LABELS) + f" | {loaded} |"
        )
    return "\n".join(lines)


def tag_table(records: list[dict[str, Any]]) -> str:
    n = len(records) or 1
    tags = Counter(t for r in records for t in r.get("tags", []))
    lines = ["| hard case | n | share |", "|---|---|---|"]
    lines += [f"| {tag} | {tags[tag]} | {tags[tag] / n:.1%} |" for tag in HARD_CASE_TAGS]
    return "\n".join(lines)
