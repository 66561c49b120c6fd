"""``stancelens score --engine spark`` on a local[2] session equals the local CLI, row for row."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_cli

pytest.importorskip("pyspark", reason="the [spark] extra is not installed")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a JDK")

DOCS = [
    {"id": "a", "text": "The Taliban said they captured the district. The resistance denied it."},
    {"id": "b", "text": "Kabul fell.The valley held out for weeks.\n\nAid agencies asked for access."},
    {"id": "c", "text": "   "},
    {"id": "d", "text": "Mr. Saleh spoke from Panjshir on Sept. 3 and called for resistance."},
]


def test_spark_rows_equal_the_local_cli_and_bad_records_are_reported(trained, tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    local = tmp_path / "local.jsonl"
    proc = run_cli("score", str(src), "--out", str(local), "--model", str(trained["model_dir"]), env=trained["env"])
    assert proc.returncode == 3, proc.stderr.decode()[-2000:]  # one bad record
    expected = [json.loads(line) for line in local.read_text(encoding="utf-8").splitlines()]

    out = tmp_path / "spark_out"
    env = {**trained["env"], "SPARK_MASTER": "local[2]"}
    args = ["score", "--engine", "spark", str(src), "--out", str(out), "--model", str(trained["model_dir"])]
    proc = run_cli(*args, "--parts", "3", env=env, timeout=900)
    assert proc.returncode == 3, (proc.stdout + proc.stderr).decode()[-3000:]
    import pandas as pd

    rows = pd.read_parquet(out / "sentences").drop(columns=["part"]).to_dict("records")
    errors = pd.read_parquet(out / "errors").to_dict("records")
    assert [e["doc_id"] for e in errors] == ["c"] and "empty" in errors[0]["reason"]
    key = lambda r: (r["doc_id"], r["sent_index"])  # noqa: E731
    rows, expected = sorted(rows, key=key), sorted(expected, key=key)
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        for field in ("doc_id", "sent_index", "start", "end", "text", "stance", "loaded", "windows"):
            assert got[field] == want[field], field
        assert abs(got["loaded_prob"] - want["loaded_prob"]) < 1e-5
        assert all(abs(got["stance_probs"][k] - want["stance_probs"][k]) < 1e-5 for k in want["stance_probs"])
        assert [(s["start"], s["end"], s["text"]) for s in got["loaded_spans"]] == [
            (s["start"], s["end"], s["text"]) for s in want["loaded_spans"]
        ]
        assert [(t["technique"], t["start"], t["end"], t["text"]) for t in got["techniques"]] == [
            (t["technique"], t["start"], t["end"], t["text"]) for t in want["techniques"]
        ]

    again = run_cli(*args, "--parts", "3", env=env, timeout=900)
    assert b"0 parts scored, 3 already done" in again.stdout
