"""Property-based tests (hypothesis) over the public entry points, with hostile Unicode.

Invariants: no exception escapes except the documented refusal, every sentence row's text is
``doc[start:end]``, every span lies inside its sentence, every bad record reaches the errors
file, and nothing is scored twice.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stancelens.model.predictor import EmptyTextError
from stancelens.model.spans import decode_spans
from stancelens.model.splitter import split_sentences
from stancelens.model.text_checks import text_problem
from stancelens.serve.batch import score_files
from stancelens.serve.inputs import ReadOptions, read_records

# Characters real input throws at us: RTL scripts, combining marks, zero-width and bidi
# controls, NUL and other controls, lone surrogates, emoji, and plenty of ordinary text.
HOSTILE = st.sampled_from(
    [*"ab .!?\n\t'\"“”-:;,()", "\u200b", "\u200f", "\ufeff", "\x00", "\x07", "\u0301", "\ud800", "🦁", "د", "پ"]
)
WORDS = st.sampled_from(["Kabul", "fell", "Mr.", "U.S.", "Taliban", "valley", "the", "3.5", "A.", "...", "\n\n"])
TEXT = st.lists(st.one_of(HOSTILE, WORDS, st.characters()), max_size=60).map("".join)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(TEXT)
@settings(max_examples=400, deadline=None)
def test_splitter_cuts_are_stripped_ordered_and_lose_only_whitespace(text):
    spans = split_sentences(text)
    position = 0
    for span in spans:
        piece = text[span.start : span.end]
        assert piece and piece == piece.strip()
        assert text[position : span.start].strip() == ""  # only whitespace between sentences
        position = span.end
    assert text[position:].strip() == ""


@given(
    st.text(alphabet="ab -'’.,", max_size=40),
    st.lists(st.tuples(st.integers(0, 45), st.integers(0, 8), st.floats(0, 1)), max_size=20),
    st.floats(0.05, 0.95),
)
@settings(max_examples=400, deadline=None)
def test_decoded_spans_lie_inside_the_text_in_order(text, tokens, threshold):
    offsets = sorted((min(a, len(text)), min(a + n, len(text))) for a, n, _ in tokens)
    probs = [p for _, _, p in tokens]
    spans = decode_spans(text, offsets, probs, threshold)
    previous_end = -1
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        assert span.start > previous_end
        assert text[span.start : span.end] == text[span.start : span.end].strip()
        previous_end = span.end


@given(st.lists(TEXT, min_size=1, max_size=3))
@FAST
def test_predictor_rows_index_their_documents(predictor, documents):
    good = [d for d in documents if text_problem(d) is None]
    if len(good) != len(documents):
        try:
            predictor.analyze_documents(documents)
        except EmptyTextError:
            return
        raise AssertionError("a document with nothing to analyse was accepted")
    for doc, rows in zip(documents, predictor.analyze_documents(documents), strict=True):
        for row in rows:
            assert row["text"] == doc[row["start"] : row["end"]]
            for span in row["loaded_spans"]:
                assert 0 <= span["start"] < span["end"] <= len(row["text"])
                assert span["text"] == row["text"][span["start"] : span["end"]]


VALUE = st.one_of(st.none(), st.integers(), st.booleans(), TEXT, st.lists(st.integers(), max_size=2))
RECORD = st.one_of(
    st.fixed_dictionaries({"id": VALUE, "text": VALUE}),
    st.fixed_dictionaries({"text": VALUE}),
    st.fixed_dictionaries({"id": VALUE}),
    st.dictionaries(st.text(max_size=5), VALUE, max_size=3),
)
JSONL_LINE = st.one_of(RECORD.map(lambda r: json.dumps(r)), st.text(max_size=20), st.just("[1, 2]"), st.just("null"))


def _jsonl_bytes(lines: list[str]) -> bytes:
    return "".join(line.replace("\n", " ") + "\n" for line in lines).encode("utf-8", "surrogatepass")


@given(st.lists(JSONL_LINE, min_size=1, max_size=12))
@FAST
def test_jsonl_reader_accounts_for_every_line(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("jsonl") / "in.jsonl"
    path.write_bytes(_jsonl_bytes(lines))
    records = list(read_records([str(path)], ReadOptions()))
    assert len(records) == sum(1 for line in lines if line.replace("\n", " ").strip())
    for record in records:
        assert (record.error is None) == (record.text is not None)
        if record.text is not None:
            assert text_problem(record.text) is None


@given(st.lists(st.tuples(VALUE, VALUE), min_size=1, max_size=8))
@FAST
def test_csv_reader_accounts_for_every_row(tmp_path_factory, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text"])
    for doc_id, text in rows:
        writer.writerow(["" if doc_id is None else str(doc_id), "" if text is None else str(text)])
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass"))
    records = list(read_records([str(path)], ReadOptions()))
    assert records  # every file yields rows or a reported error, never an exception
    for record in records:
        assert (record.error is None) == (record.text is not None)


@given(st.lists(RECORD, min_size=1, max_size=6))
@example(records=[{"id": "\ud800", "text": None}])  # found by this test: an id that is no valid UTF-8
@FAST
def test_scoring_reports_every_bad_record_and_scores_nothing_twice(predictor, tmp_path_factory, records):
    folder = tmp_path_factory.mktemp("score")
    path = folder / "in.jsonl"
    path.write_bytes(_jsonl_bytes([json.dumps(r) for r in records]))
    out = folder / "out.jsonl"
    stats = score_files(predictor, [str(path)], out, ReadOptions(), progress=False)
    errors = [json.loads(line) for line in Path(f"{out}.errors.jsonl").read_text("utf-8").splitlines()]
    summaries = [json.loads(line) for line in Path(f"{out}.summary.jsonl").read_text("utf-8").splitlines()]
    assert len(errors) + len(summaries) == len(records)
    assert stats.documents == len(summaries) and stats.errors == len(errors)
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert sum(s["sentences"] for s in summaries) == len(rows)  # each record's rows written once
    for summary in summaries:
        own = [r["sent_index"] for r in rows if r["doc_id"] == summary["doc_id"]]
        assert len(own) % summary["sentences"] == 0 and sorted(set(own)) == list(range(summary["sentences"]))
