"""Streaming readers for every input the scorer accepts, one record at a time.

Readers never hold a whole file in memory and never raise on a bad record: a record
that cannot be read becomes an ``InputRecord`` with an ``error`` so the batch carries
on and the reason lands in the errors file.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stancelens.model.text_checks import text_problem, valid_unicode

READABLE_SUFFIXES = (".txt", ".jsonl", ".csv")
DEFAULT_MAX_CHARS = 1_000_000


@dataclass
class InputRecord:
    doc_id: str
    text: str | None
    where: str
    error: str | None = None


@dataclass
class ReadOptions:
    id_field: str = "id"
    text_field: str = "text"
    max_chars: int = DEFAULT_MAX_CHARS
    stdin_format: str = "txt"


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files in the order given; folders expanded recursively in sorted order; ``-`` kept."""
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if item == "-":
            out.append(item)
        elif path.is_dir():
            # broken links are kept so that they are reported as unreadable, not silently skipped
            out.extend(
                str(p)
                for p in sorted(path.rglob("*"))
                if (p.is_file() or p.is_symlink()) and p.suffix.lower() in READABLE_SUFFIXES
            )
        else:
            out.append(item)
    return out


def read_records(inputs: list[str], options: ReadOptions) -> Iterator[InputRecord]:
    for item in expand_inputs(inputs):
        if item == "-":
            yield from _read_stream(sys.stdin.buffer, "stdin", options.stdin_format, options)
            continue
        path = Path(item)
        suffix = path.suffix.lower()
        if suffix not in READABLE_SUFFIXES:
            yield InputRecord(item, None, item, f"unsupported file type {suffix or '(none)'}; use .txt, .jsonl or .csv")
            continue
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            yield InputRecord(item, None, item, f"unreadable file: {exc.strerror or exc}")
            continue
        with handle:
            yield from _read_stream(handle, item, suffix.lstrip("."), options)


def count_records(inputs: list[str]) -> int | None:
    """A cheap estimate for the progress bar (lines for JSONL/CSV, files for text)."""
    total = 0
    for item in expand_inputs(inputs):
        if item == "-":
            return None
        path = Path(item)
        try:
            if path.suffix.lower() == ".txt":
                total += 1
            else:
                with open(path, "rb") as handle:
                    total += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
                total -= path.suffix.lower() == ".csv"
        except OSError:
            total += 1
    return max(total, 0)


def _read_stream(handle: io.BufferedIOBase, name: str, kind: str, options: ReadOptions) -> Iterator[InputRecord]:
    if kind == "txt":
        raw = handle.read(options.max_chars * 4 + 1)
        extra = handle.read(1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield InputRecord(name, None, name, f"invalid UTF-8 at byte {exc.start}")
            return
        if extra or len(text) > options.max_chars:
            yield InputRecord(
                name, None, name, f"document is longer than the limit of {options.max_chars:,} characters (--max-chars)"
            )
            return
        yield _checked(name, text, name, options)
    elif kind == "jsonl":
        yield from _read_jsonl(handle, name, options)
    elif kind == "csv":
        yield from _read_csv(handle, name, options)
    else:
        yield InputRecord(name, None, name, f"unknown input format {kind!r}")


def _read_jsonl(handle: io.BufferedIOBase, name: str, options: ReadOptions) -> Iterator[InputRecord]:
    for line_no, raw in enumerate(handle, start=1):
        where = f"{name}:{line_no}"
        if not raw.strip():
            continue
        fallback_id = where
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield InputRecord(fallback_id, None, where, f"invalid UTF-8 at byte {exc.start}")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield InputRecord(fallback_id, None, where, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            yield InputRecord(fallback_id, None, where, "a JSONL line must be a JSON object")
            continue
        yield _from_mapping(obj, where, options)


def _read_csv(handle: io.BufferedIOBase, name: str, options: ReadOptions) -> Iterator[InputRecord]:
    # utf-8-sig: a byte-order mark (Excel writes one) must not become part of the first column name
    text_stream = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="strict", newline="")
    csv.field_size_limit(max(options.max_chars * 4, 1 << 20))
    reader = csv.DictReader(text_stream)
    row_no = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            yield InputRecord(
                f"{name}:{row_no + 1}",
                None,
                f"{name}:{row_no + 1}",
                f"invalid UTF-8 at byte {exc.start}; rest of file skipped",
            )
            return
        except csv.Error as exc:
            yield InputRecord(
                f"{name}:{row_no + 1}", None, f"{name}:{row_no + 1}", f"malformed CSV: {exc}; rest of file skipped"
            )
            return
        row_no += 1
        yield _from_mapping(row, f"{name}:{row_no}", options)


def _from_mapping(obj: dict, where: str, options: ReadOptions) -> InputRecord:
    doc_id = obj.get(options.id_field)
    # an id with a lone surrogate ("\ud800" in JSON) cannot be written as UTF-8: keep it readable
    doc_id = where if doc_id in (None, "") else valid_unicode(str(doc_id))
    if options.text_field not in obj:
        return InputRecord(doc_id, None, where, f"missing field {options.text_field!r} (--text-field)")
    text = obj[options.text_field]
    if not isinstance(text, str):
        return InputRecord(
            doc_id, None, where, f"field {options.text_field!r} must be a string, got {type(text).__name__}"
        )
    return _checked(doc_id, text, where, options)


def _checked(doc_id: str, text: str, where: str, options: ReadOptions) -> InputRecord:
    problem = text_problem(text)
    if problem is not None:
        return InputRecord(doc_id, None, where, str(problem))
    if len(text) > options.max_chars:
        return InputRecord(
            doc_id,
            None,
            where,
            f"document has {len(text):,} characters; the limit is {options.max_chars:,} (--max-chars)",
        )
    return InputRecord(doc_id, text, where)
