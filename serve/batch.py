"""Resumable batch scoring of files and folders (``stancelens score``).

Outputs, beside ``--out FILE``:
- FILE: one row per sentence (JSONL or CSV);
- FILE.summary.jsonl|csv: one row per document;
- FILE.errors.jsonl: one row per record that could not be scored, with the reason;
- FILE.progress.json: a checkpoint rewritten atomically after every committed batch.

The checkpoint stores how many input records are finished and the byte length of each
output at that moment. A resumed run truncates the outputs to those lengths (dropping
rows of a batch that was cut off mid-write) and skips the finished records, so a killed
run loses nothing already committed and never duplicates a row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from stancelens.model.predictor import Predictor
from stancelens.model.schema import SENTENCE_FIELDS
from stancelens.serve.inputs import InputRecord, ReadOptions, count_records, expand_inputs, read_records
from stancelens.serve.summary import (
    SENTENCE_CSV_COLUMNS,
    SUMMARY_CSV_COLUMNS,
    sentence_csv_row,
    summarize,
    summary_csv_row,
)
from tqdm.auto import tqdm

DOCS_PER_BATCH = 16


class ResumeMismatch(RuntimeError):
    """Raised when an existing checkpoint belongs to other inputs or options."""


@dataclass
class ScoreStats:
    documents: int = 0
    sentences: int = 0
    errors: int = 0
    skipped_finished: int = 0
    already_complete: int | None = None  # records of an earlier, finished run of the same job
    outputs: dict[str, str] = field(default_factory=dict)


def output_paths(out: Path, fmt: str) -> dict[str, Path]:
    return {
        "sentences": out,
        "summary": out.with_name(out.name + f".summary.{fmt}"),
        "errors": out.with_name(out.name + ".errors.jsonl"),
        "progress": out.with_name(out.name + ".progress.json"),
    }


def job_identity(
    inputs: list[str],
    options: ReadOptions,
    sentences_mode: bool,
    fmt: str,
    predictor: Predictor,
    loaded_threshold: float | None,
) -> dict[str, str]:
    """Everything that decides a scoring job's output, by name: a resume must match all of it.

    The model is identified by the training run and folder actually resolved (so a new
    ``@champion`` behind the same URI is noticed), the threshold by its effective value.
    """
    training = predictor.meta.training
    threshold = predictor.meta.loaded_threshold if loaded_threshold is None else float(loaded_threshold)
    files = []
    for item in expand_inputs(inputs):
        if item == "-":
            files.append("-")
            continue
        try:
            stat = os.stat(item)
            files.append(f"{item}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            files.append(f"{item}:missing")
    return {
        "--format": fmt,
        "--sentences": str(sentences_mode),
        "--id-field": options.id_field,
        "--text-field": options.text_field,
        "--max-chars": str(options.max_chars),
        "--stdin-format": options.stdin_format,
        "--model": predictor.model_ref,
        "model version": f"{training.get('mlflow_run_id', '')} {predictor.folder or ''}".strip(),
        "--runtime": predictor.runtime,
        "--loaded-threshold": repr(threshold),
        "inputs": hashlib.sha256("\n".join(files).encode("utf-8")).hexdigest()[:16],
    }


def score_files(
    predictor: Predictor,
    inputs: list[str],
    out: Path,
    options: ReadOptions,
    sentences_mode: bool = False,
    fmt: str = "jsonl",
    loaded_threshold: float | None = None,
    restart: bool = False,
    progress: bool = True,
) -> ScoreStats:
    paths = output_paths(Path(out), fmt)
    job = job_identity(inputs, options, sentences_mode, fmt, predictor, loaded_threshold)
    checkpoint = _load_checkpoint(paths["progress"], job, restart, reads_stdin="-" in inputs)
    stats = ScoreStats(outputs={k: str(v) for k, v in paths.items() if k != "progress"})
    if checkpoint.get("complete"):
        stats.already_complete = checkpoint["records_done"]
        stats.errors = _count_lines(paths["errors"])
        return stats
    done = checkpoint["records_done"]
    stats.skipped_finished = done

    handles = {
        name: _open_at(paths[name], checkpoint["offsets"].get(name, 0)) for name in ("sentences", "summary", "errors")
    }
    if fmt == "csv":
        for name, columns in (("sentences", SENTENCE_CSV_COLUMNS), ("summary", SUMMARY_CSV_COLUMNS)):
            if handles[name].tell() == 0:
                handles[name].write(_csv_line(columns))
    try:
        total = count_records(inputs)
        bar = tqdm(
            total=total,
            initial=min(done, total or done),
            unit="doc",
            desc="scoring",
            disable=not progress,
            dynamic_ncols=True,
        )
        records = islice(read_records(inputs, options), done, None)
        while batch := list(islice(records, DOCS_PER_BATCH)):
            _score_batch(predictor, batch, handles, fmt, sentences_mode, loaded_threshold, stats)
            done += len(batch)
            _commit(handles, paths["progress"], job, done, stats, complete=False)
            bar.update(len(batch))
            bar.set_postfix(sentences=stats.sentences, errors=stats.errors)
        bar.close()
        _commit(handles, paths["progress"], job, done, stats, complete=True)
    finally:
        for handle in handles.values():
            handle.close()
    stats.errors = _count_lines(paths["errors"])
    return stats


def _score_batch(
    predictor: Predictor,
    batch: list[InputRecord],
    handles: dict[str, BinaryIO],
    fmt: str,
    sentences_mode: bool,
    threshold: float | None,
    stats: ScoreStats,
) -> None:
    good = [r for r in batch if r.error is None]
    for record in batch:
        if record.error is not None:
            _write_error(handles["errors"], record.doc_id, record.where, record.error)
            stats.errors += 1
    if not good:
        return
    try:
        per_doc = predictor.analyze_documents([r.text for r in good], threshold, sentences=sentences_mode)
    except Exception:  # one bad document must not sink its batch: retry one by one
        per_doc = []
        for record in good:
            try:
                per_doc.append(predictor.analyze_documents([record.text], threshold, sentences=sentences_mode)[0])
            except Exception as exc:
                _write_error(handles["errors"], record.doc_id, record.where, f"analysis failed: {exc}")
                stats.errors += 1
                per_doc.append(None)
    for record, rows in zip(good, per_doc, strict=True):
        if rows is None:
            continue
        for row in rows:
            row = {"doc_id": record.doc_id, **row}
            handles["sentences"].write(_format_row(row, fmt))
        summary = summarize(record.doc_id, rows)
        handles["summary"].write(_csv_line(summary_csv_row(summary)) if fmt == "csv" else _json_line(summary))
        stats.documents += 1
        stats.sentences += len(rows)


def _format_row(row: dict[str, Any], fmt: str) -> bytes:
    if fmt == "csv":
        return _csv_line(sentence_csv_row(row))
    return _json_line({k: row[k] for k in SENTENCE_FIELDS})


def _json_line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")


# A cell starting with one of these is run as a formula by spreadsheet programs; scraped posts
# can start with "=HYPERLINK(...)". Such cells get a leading apostrophe (OWASP's advice), which
# spreadsheets show as text; JSONL output is never altered.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"


def spreadsheet_safe(value: Any) -> Any:
    """Prefix ``'`` to a text cell a spreadsheet would run, and to one that already starts with ``'``.

    The guard is reversible: a cell that starts with ``'`` has had exactly one added, so removing
    it gives the original text, whose length is ``end - start`` and whose ids stay distinct
    (``=x`` -> ``'=x``, ``'=x`` -> ``''=x``). See :func:`unguard`.
    """
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, GUARD)):
        return GUARD + value
    return value


def unguard(cell: str) -> str:
    """The original text of a CSV cell written by :func:`spreadsheet_safe`."""
    return cell[1:] if cell.startswith(GUARD) else cell


def _csv_line(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([spreadsheet_safe(v) for v in values])
    return buffer.getvalue().encode("utf-8")


def _write_error(handle: BinaryIO, doc_id: str, where: str, reason: str) -> None:
    handle.write(_json_line({"doc_id": doc_id, "where": where, "reason": reason}))


def _open_at(path: Path, offset: int) -> BinaryIO:
    """Open for appending after truncating to the last committed length."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "r+b" if path.exists() else "w+b")  # noqa: SIM115 - closed by score_files
    handle.truncate(offset)
    handle.seek(offset)
    return handle


def _commit(
    handles: dict[str, BinaryIO], progress: Path, job: dict[str, str], done: int, stats: ScoreStats, complete: bool
) -> None:
    offsets = {}
    for name, handle in handles.items():
        handle.flush()
        os.fsync(handle.fileno())
        offsets[name] = handle.tell()
    state = {"job": job, "records_done": done, "offsets": offsets, "complete": complete}
    tmp = progress.with_name(progress.name + ".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, progress)


def _load_checkpoint(path: Path, job: dict[str, str], restart: bool, reads_stdin: bool) -> dict[str, Any]:
    """The checkpoint to resume from; refuses, naming what changed, when it is another job's."""
    fresh = {"records_done": 0, "offsets": {}}
    if restart or not path.exists():
        return fresh
    state = json.loads(path.read_text(encoding="utf-8"))
    before = state.get("job")
    if not isinstance(before, dict):
        raise ResumeMismatch(f"{path} was written by an older version; use --restart to start over")
    changed = [f"{key} ({before.get(key)!r} -> {value!r})" for key, value in job.items() if before.get(key) != value]
    if changed:
        raise ResumeMismatch(
            f"{path} belongs to another job: changed {', '.join(changed)}; use --restart to start over"
        )
    if reads_stdin:
        raise ResumeMismatch(
            f"{path} is a checkpoint of a run that read standard input, which cannot be checked to be the same "
            "input again; use --restart to start over"
        )
    return state


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
