"""``stancelens score`` end to end: the contract, bad input, formats, kill and resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from stancelens.model.techniques import TECHNIQUES, technique_count_columns
from stancelens.serve.summary import SENTENCE_CSV_COLUMNS, SUMMARY_CSV_COLUMNS

from tests.conftest import ROOT, STANCELENS, run_cli

ROW_KEYS = {
    "doc_id", "sent_index", "start", "end", "text", "stance", "stance_probs",
    "loaded", "loaded_prob", "loaded_spans", "windows", "techniques",
}  # fmt: skip


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_row(row: dict, source_text: str | None = None) -> None:
    assert set(row) >= ROW_KEYS
    assert row["stance"] in row["stance_probs"] and set(row["stance_probs"]) == {"pro_nrf", "pro_taliban", "neutral"}
    assert abs(sum(row["stance_probs"].values()) - 1) < 1e-4
    assert row["stance"] == max(row["stance_probs"], key=row["stance_probs"].get)
    assert row["loaded"] in (0, 1) and 0 <= row["loaded_prob"] <= 1
    assert bool(row["loaded_spans"]) == bool(row["loaded"])
    for span in row["loaded_spans"]:
        assert row["text"][span["start"] : span["end"]] == span["text"]
    for span in row["techniques"]:
        assert span["technique"] in TECHNIQUES and 0 <= span["prob"] <= 1
        assert row["text"][span["start"] : span["end"]] == span["text"]
    if source_text is not None:
        assert source_text[row["start"] : row["end"]] == row["text"]


def test_scoring_example_documents_follows_the_contract(trained, tmp_path):
    out = tmp_path / "examples.jsonl"
    proc = run_cli("score", "examples", "--out", str(out), "--model", str(trained["model_dir"]), "--table")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    rows = read_jsonl(out)
    texts = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in (ROOT / "examples").glob("*.txt")}
    doc_ids = {r["doc_id"] for r in rows}
    assert {"examples/kabul_wire_report.txt", "post-1", "post-3"} <= doc_ids
    for row in rows:
        check_row(row, texts.get(row["doc_id"]))
    summaries = read_jsonl(Path(f"{out}.summary.jsonl"))
    assert {s["doc_id"] for s in summaries} == doc_ids
    for summary in summaries:
        assert summary["sentences"] == sum(r["doc_id"] == summary["doc_id"] for r in rows)
        assert abs(sum(summary["stance_shares"].values()) - 1) < 1e-6
        doc_spans = [t["technique"] for r in rows if r["doc_id"] == summary["doc_id"] for t in r["techniques"]]
        assert summary["technique_counts"] == {t: doc_spans.count(t) for t in TECHNIQUES}
    table = proc.stdout.decode()
    assert "kabul_wire_report.txt" in table and "top loaded phrases" in table and "techniques (PTC spans)" in table


def test_default_model_is_the_registry_champion(trained, tmp_path):
    out = tmp_path / "champion.jsonl"
    proc = run_cli("score", "examples/emirate_statement.txt", "--out", str(out), env=trained["env"])
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert len(read_jsonl(out)) == 6


def test_bad_input_table_is_reported_and_the_rest_is_scored(trained, tmp_path):
    long_sentence = " ".join(["resistance"] * 2500 + ["valley"] * 2500) + "."
    good = {
        "normal": "The Taliban said they controlled the district. Residents disputed this.",
        "dari": "طالبان اعلام کردند که پنجشیر را تصرف کرده‌اند.",
        "emoji": "Panjshir stands 🦁🔥 #StandWithPanjshir",
        "control": "Fighting\x07 resumed\x0b near the\x1f pass.",
        "one_long_sentence": long_sentence,
    }
    lines = [json.dumps({"id": k, "text": v}) for k, v in good.items()]
    lines += [
        json.dumps({"id": "empty", "text": "   "}),
        json.dumps({"id": "huge", "text": "word " * 2_100_000}),  # 10.5 MB
        '{"id": "broken", "text": ',
        json.dumps({"id": "number", "text": 42}),
        json.dumps({"id": "no_text"}),
    ]
    data = tmp_path / "in"
    data.mkdir()
    jsonl = data / "records.jsonl"
    jsonl.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "latin1", "text": "caf\xe9"}\n')
    (data / "latin1.txt").write_bytes(b"Kabul caf\xe9 \xff\xfe")
    os.symlink(data / "missing.txt", data / "dangling.txt")
    out = tmp_path / "scored.jsonl"
    proc = run_cli("score", str(data), "--out", str(out), "--model", str(trained["model_dir"]))
    assert proc.returncode == 3, proc.stderr.decode()[-2000:]
    assert "could not be scored" in proc.stderr.decode()
    rows = read_jsonl(out)
    assert {r["doc_id"] for r in rows} == set(good)
    for row in rows:
        check_row(row, good[row["doc_id"]])
    long_rows = [r for r in rows if r["doc_id"] == "one_long_sentence"]
    assert len(long_rows) == 1 and long_rows[0]["windows"] > 1 and long_rows[0]["end"] == len(long_sentence)
    errors = {e["doc_id"]: e["reason"] for e in read_jsonl(Path(f"{out}.errors.jsonl"))}
    reasons = {doc.split("/")[-1]: reason for doc, reason in errors.items()}
    assert reasons["empty"].startswith("text is empty")
    assert "limit is 1,000,000" in reasons["huge"]
    assert any("invalid JSON" in r for r in reasons.values())
    assert "must be a string" in reasons["number"]
    assert "missing field 'text'" in reasons["no_text"]
    assert any("invalid UTF-8" in r for d, r in reasons.items() if "records.jsonl" in d)
    assert "invalid UTF-8" in reasons["latin1.txt"]
    assert "unreadable file" in reasons["dangling.txt"]


def test_csv_input_and_output_and_stdin(trained, tmp_path):
    src = tmp_path / "docs.csv"
    with open(src, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "body"])
        writer.writerow(["a", "Kabul was calm on Friday. Shops reopened."])
        writer.writerow(["b", "Resistance fighters, heroes of the valley, ambushed a convoy."])
    out = tmp_path / "scored.csv"
    proc = run_cli(
        "score", str(src), "--out", str(out), "--format", "csv", "--id-field", "key", "--text-field", "body",
        "--model", str(trained["model_dir"]),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["doc_id"] for r in rows] == ["a", "a", "b"]
    assert list(rows[0]) == SENTENCE_CSV_COLUMNS
    jsonl = tmp_path / "scored.jsonl"
    assert run_cli("score", str(src), "--out", str(jsonl), "--id-field", "key", "--text-field", "body",
                   "--model", str(trained["model_dir"])).returncode == 0  # fmt: skip
    for row, full in zip(rows, read_jsonl(jsonl), strict=True):  # one count column per technique
        assert json.loads(row["techniques"]) == full["techniques"]
        for technique, column in zip(TECHNIQUES, technique_count_columns(), strict=True):
            assert int(row[column]) == sum(t["technique"] == technique for t in full["techniques"])
    with open(f"{out}.summary.csv", newline="", encoding="utf-8") as handle:
        summaries = list(csv.DictReader(handle))
        assert [r["doc_id"] for r in summaries] == ["a", "b"]
        assert list(summaries[0]) == SUMMARY_CSV_COLUMNS

    stdin_out = tmp_path / "stdin.jsonl"
    proc = run_cli(
        "score", "-", "--out", str(stdin_out), "--sentences", "--model", str(trained["model_dir"]),
        input=b"One sentence. Kept whole, not split.",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    rows = read_jsonl(stdin_out)
    assert len(rows) == 1 and rows[0]["doc_id"] == "stdin" and rows[0]["text"].endswith("not split.")


def test_usage_errors_are_clear(trained, tmp_path):
    proc = run_cli(
        "score", "no/such/file.txt", "--out", str(tmp_path / "x.jsonl"), "--model", str(trained["model_dir"])
    )
    assert proc.returncode == 2 and "input not found: no/such/file.txt" in proc.stderr.decode()
    proc = run_cli("score", "examples", "--out", str(tmp_path / "x.jsonl"), "--model", str(tmp_path))
    assert proc.returncode == 2 and "holds no StanceLens model" in proc.stderr.decode()


@pytest.mark.slow
def test_kill_and_resume_loses_nothing_and_duplicates_nothing(trained, tmp_path):
    docs = tmp_path / "many.jsonl"
    with open(docs, "w", encoding="utf-8") as handle:
        for i in range(400):
            text = f"Report {i}: clashes were reported in district {i % 17}. The Taliban claimed {i % 9} captures."
            handle.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")
    reference = tmp_path / "reference.jsonl"
    assert run_cli("score", str(docs), "--out", str(reference), "--model", str(trained["model_dir"])).returncode == 0

    out = tmp_path / "resumed.jsonl"
    progress = Path(f"{out}.progress.json")
    command = [*STANCELENS, "score", str(docs), "--out", str(out), "--model", str(trained["model_dir"])]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if progress.exists() and json.loads(progress.read_text())["records_done"] >= 64:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = json.loads(progress.read_text())
    assert 0 < state["records_done"] < 400 and not state["complete"]
    with open(out, "ab") as handle:  # a row cut off mid-write by the kill
        handle.write(b'{"doc_id": "doc-9999", "sent_ind')

    proc = run_cli("score", str(docs), "--out", str(out), "--model", str(trained["model_dir"]))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert "resumed after" in proc.stdout.decode()
    resumed, expected = read_jsonl(out), read_jsonl(reference)
    keys = [(r["doc_id"], r["sent_index"]) for r in resumed]
    assert len(keys) == len(set(keys)), "duplicated rows after resume"
    assert keys == [(r["doc_id"], r["sent_index"]) for r in expected], "lost or reordered rows after resume"
    for a, b in zip(resumed, expected, strict=True):
        assert a["stance"] == b["stance"]
    summaries = read_jsonl(Path(f"{out}.summary.jsonl"))
    assert [s["doc_id"] for s in summaries] == [f"doc-{i}" for i in range(400)]

    again = run_cli("score", str(docs), "--out", str(out), "--model", str(trained["model_dir"]))
    assert again.returncode == 0 and read_jsonl(out) == resumed  # a finished run is not redone


def test_csv_cells_that_spreadsheets_would_run_as_formulas_are_defused(trained, tmp_path):
    """A scraped post starting with '=' must reach a spreadsheet as text; the JSONL keeps it verbatim."""
    src = tmp_path / "posts.jsonl"
    post = '=HYPERLINK("http://example.invalid","Panjshir news")'
    src.write_text(json.dumps({"id": "-post-1", "text": post}) + "\n", encoding="utf-8")
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"scored.{fmt}"
        proc = run_cli("score", str(src), "--out", str(out), "--format", fmt, "--sentences",
                       "--model", str(trained["model_dir"]))  # fmt: skip
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        if fmt == "csv":
            with open(out, newline="", encoding="utf-8") as handle:
                row = next(csv.DictReader(handle))
            assert row["text"] == "'" + post and row["doc_id"] == "'-post-1"
        else:
            row = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
            assert row["text"] == post and row["doc_id"] == "-post-1"
