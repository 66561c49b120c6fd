"""Hostile or careless use of ``stancelens score`` and the pyfunc: clean answers, nothing mixed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mlflow
import pandas as pd
from stancelens.serve.batch import unguard

from tests.conftest import run_cli


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(trained, *args, input: bytes | None = None):
    return run_cli("score", *args, "--model", str(trained["model_dir"]), env=trained["env"], input=input)


def test_resume_refuses_another_threshold_or_runtime_naming_the_change(trained, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"d{i}.txt").write_text(f"Fighters entered district {i}. Residents fled.", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    first = score(trained, str(docs), "--out", str(out))
    assert first.returncode == 0, first.stderr.decode()[-2000:]
    rows = read_jsonl(out)
    other = score(trained, str(docs), "--out", str(out), "--loaded-threshold", "0.2")
    assert other.returncode == 2
    assert b"--loaded-threshold" in other.stderr and b"--restart" in other.stderr
    runtime = score(trained, str(docs), "--out", str(out), "--runtime", "torch")
    assert runtime.returncode == 2 and b"--runtime" in runtime.stderr
    assert read_jsonl(out) == rows  # nothing was appended by the refused runs
    again = score(trained, str(docs), "--out", str(out))
    assert again.returncode == 0 and b"already complete" in again.stdout
    restarted = score(trained, str(docs), "--out", str(out), "--loaded-threshold", "0.2", "--restart")
    assert restarted.returncode == 0 and len(read_jsonl(out)) == len(rows)


def test_stdin_is_never_resumed_silently(trained, tmp_path):
    out = tmp_path / "stdin.jsonl"
    first = score(trained, "-", "--out", str(out), input=b"Kabul fell. Saleh fled.")
    assert first.returncode == 0
    second = score(trained, "-", "--out", str(out), input=b"A different text entirely.")
    assert second.returncode == 2 and b"standard input" in second.stderr


def test_csv_input_with_a_byte_order_mark(trained, tmp_path):
    src = tmp_path / "excel.csv"
    src.write_bytes("\ufeffid,text\nr1,Fighters held the pass.\nr2,Prices rose in Kabul.\n".encode())
    out = tmp_path / "bom.jsonl"
    proc = score(trained, str(src), "--out", str(out))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert {r["doc_id"] for r in read_jsonl(out)} == {"r1", "r2"}


def test_csv_guard_is_reversible_and_keeps_ids_distinct(trained, tmp_path):
    src = tmp_path / "posts.jsonl"
    posts = [{"id": "=x", "text": "-20 fighters surrendered."}, {"id": "'=x", "text": "'Quoted' claim spread."}]
    src.write_text("".join(json.dumps(p) + "\n" for p in posts), encoding="utf-8")
    out = tmp_path / "guarded.csv"
    proc = score(trained, str(src), "--out", str(out), "--format", "csv", "--sentences")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["doc_id"] for r in rows] == ["'=x", "''=x"]  # distinct, and unguard() restores both
    assert [unguard(r["doc_id"]) for r in rows] == ["=x", "'=x"]
    for row, post in zip(rows, posts, strict=True):
        text = unguard(row["text"])
        assert text == post["text"] and len(text) == int(row["end"]) - int(row["start"])


def test_pyfunc_reports_bad_rows_and_scores_the_rest(trained, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["env"]["MLFLOW_TRACKING_URI"])
    mlflow.set_tracking_uri(trained["env"]["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model("models:/stancelens@champion")
    frame = model.predict(pd.DataFrame({"text": ["Kabul fell.", None, 7, "", "\u200b", "The valley held."]}))
    good = frame[frame["error"].isna()]
    bad = frame[frame["error"].notna()]
    assert sorted(good["doc_index"].tolist()) == [0, 5]
    assert sorted(bad["doc_index"].tolist()) == [1, 2, 3, 4]
    assert "None" not in good["text"].tolist()
    assert all(code in e for code, e in zip(["invalid_type", "invalid_type", "empty_text", "empty_text"],
                                            bad.sort_values("doc_index")["error"], strict=True))  # fmt: skip


def test_logged_model_declares_what_it_imports(trained, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["env"]["MLFLOW_TRACKING_URI"])
    mlflow.set_tracking_uri(trained["env"]["MLFLOW_TRACKING_URI"])
    path = mlflow.artifacts.download_artifacts(f"runs:/{trained['run_id']}/model/requirements.txt")
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    names = {line.split("==")[0].strip().lower() for line in lines if "==" in line}
    assert {"onnxruntime", "onnx", "scikit-learn", "psutil", "torch", "transformers"} <= names
