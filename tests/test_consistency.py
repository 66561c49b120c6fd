"""CLI, HTTP server, MLflow pyfunc (in process and served) and the Predictor agree exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from stancelens.model.techniques import TECHNIQUES, technique_count_columns
from stancelens.serve.launcher import free_port, running_server

from tests.conftest import ROOT, run_cli, wait_until_up

SENTENCES = [
    "The Taliban said their forces had taken full control of the valley.",
    "Resistance fighters ambushed a convoy near the Khawak pass, killing nine, the NRF said.",
    "The claim could not be independently verified.",
    "Prices of flour rose sharply in Kabul markets this week.",
    "These terrorist butchers will answer for every village they burned!",
    "Panjshir lies about 150 kilometres north of Kabul.",
    "طالبان اعلام کردند که پنجشیر را تصرف کرده‌اند.",
    "Our heroic Mujahideen brought peace 🇦🇫 #IslamicEmirate",
]
TOLERANCE = 1e-5


def assert_same(rows: list[dict], reference: list[dict], where: str) -> None:
    assert len(rows) == len(reference), where
    for row, ref in zip(rows, reference, strict=True):
        assert row["stance"] == ref["stance"], where
        assert row["loaded"] == ref["loaded"], where
        for label, p in ref["stance_probs"].items():
            assert abs(row["stance_probs"][label] - p) <= TOLERANCE, (where, label)
        assert abs(row["loaded_prob"] - ref["loaded_prob"]) <= TOLERANCE, where
        assert [(s["start"], s["end"]) for s in row["loaded_spans"]] == [
            (s["start"], s["end"]) for s in ref["loaded_spans"]
        ], where
        assert [(t["technique"], t["start"], t["end"], t["text"]) for t in row["techniques"]] == [
            (t["technique"], t["start"], t["end"], t["text"]) for t in ref["techniques"]
        ], where
        for got, want in zip(row["techniques"], ref["techniques"], strict=True):
            assert abs(got["prob"] - want["prob"]) <= TOLERANCE, where


def from_frame(frame: pd.DataFrame) -> list[dict]:
    return [
        {
            "stance": r["stance"],
            "stance_probs": {k: r[f"prob_{k}"] for k in ("pro_nrf", "pro_taliban", "neutral")},
            "loaded": int(r["loaded"]),
            "loaded_prob": r["loaded_prob"],
            "loaded_spans": json.loads(r["loaded_spans"]),
            "techniques": json.loads(r["techniques"]),
        }
        for _, r in frame.iterrows()
    ]


@pytest.fixture(scope="module")
def reference(predictor):
    rows = predictor.analyze_sentences(SENTENCES)
    # the comparisons below must cover technique spans, not only empty lists
    assert not predictor.meta.technique_labels or sum(len(r["techniques"]) for r in rows) >= 2
    return rows


def test_cli_matches_predictor(trained, reference, tmp_path):
    source = tmp_path / "sentences.jsonl"
    source.write_text("\n".join(json.dumps({"id": str(i), "text": s}) for i, s in enumerate(SENTENCES)), "utf-8")
    out = tmp_path / "out.jsonl"
    proc = run_cli("score", str(source), "--sentences", "--out", str(out), env=trained["env"])
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert_same([json.loads(line) for line in out.read_text("utf-8").splitlines()], reference, "cli")


def test_server_matches_predictor(trained, reference):
    with running_server("models:/stancelens@champion", trained["env"]) as server:
        base = server.base
        body = {"documents": [{"id": str(i), "text": s} for i, s in enumerate(SENTENCES)], "sentences": True}
        results = httpx.post(f"{base}/v1/analyze", json=body, timeout=120).json()["results"]
    assert_same([r["sentences"][0] for r in results], reference, "server")


def test_pyfunc_matches_predictor(trained, reference, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["env"]["MLFLOW_TRACKING_URI"])
    mlflow.set_tracking_uri(trained["env"]["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model("models:/stancelens@champion")
    frame = model.predict(pd.DataFrame({"text": SENTENCES}), params={"sentences": True})
    assert_same(from_frame(frame), reference, "pyfunc")
    for (_, row), ref in zip(frame.iterrows(), reference, strict=True):  # one count column per technique
        for technique, column in zip(TECHNIQUES, technique_count_columns(), strict=True):
            assert row[column] == sum(t["technique"] == technique for t in ref["techniques"])
    documents = model.predict(pd.DataFrame({"text": [" ".join(SENTENCES[:3])]}))
    assert list(documents["sent_index"]) == [0, 1, 2]


def test_mlflow_models_serve(trained, reference):
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/stancelens@champion",
        "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    # mlflow starts `uvicorn` by name: the venv's bin must be on PATH, as in an activated venv
    env = {**trained["env"], "PATH": f"{Path(sys.executable).parent}:{trained['env'].get('PATH', '')}"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, "mlflow models serve")
        payload = {"dataframe_records": [{"text": s} for s in SENTENCES], "params": {"sentences": True}}
        response = httpx.post(f"http://127.0.0.1:{port}/invocations", json=payload, timeout=120)
        assert response.status_code == 200, response.text[:1000]
        assert_same(from_frame(pd.DataFrame(response.json()["predictions"])), reference, "mlflow serve")
    finally:
        process.terminate()
        process.wait(timeout=20)
