"""Training, evaluation, the registry and serving against a shared ``mlflow server`` on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from stancelens.serve.launcher import free_port, running_server

from tests.conftest import run_cli, wait_until_up


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` with its own SQLite backend and artifact root, as a team would run it."""
    base = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{base / 'server.db'}", "--artifacts-destination", str(base / "artifacts"),
        "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(command, cwd=base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{uri}/health", process, "mlflow server")
        yield {"uri": uri, "artifacts": base / "artifacts"}
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_train_register_evaluate_and_serve_through_the_server(tracking_server, small_corpus, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_server["uri"], "STANCELENS_CACHE": str(tmp_path / "cache")}
    proc = run_cli(
        "train",
        "--set", f"data.corpus={small_corpus}", "--set", "data.news=false",
        "--set", "train.max_steps=4", "--set", "train.epochs=1", "--set", "train.batch_size=8",
        "--set", "data.techniques=false",
        "--set", f"tracking.output_dir={tmp_path / 'models'}", "--set", "tracking.experiment=team",
        env=env,
    )  # fmt: skip
    output = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0, output[-3000:]
    assert "promoted to champion" in output
    # the run's artifacts went to the server's artifact root, not to this repository
    assert any(tracking_server["artifacts"].rglob("stancelens.json"))

    evaluated = run_cli("evaluate", "corpus-test", "--model", "models:/stancelens@champion", "--no-baseline",
                        "--out", str(tmp_path / "eval"), env=env)  # fmt: skip
    assert evaluated.returncode == 0, (evaluated.stdout + evaluated.stderr).decode()[-3000:]

    with running_server("models:/stancelens@champion", env) as server:
        card = httpx.get(f"{server.base}/v1/model").json()
        assert card["ref"] == "models:/stancelens@champion"
        body = {"documents": [{"text": "The Taliban said they held the pass."}]}
        assert httpx.post(f"{server.base}/v1/analyze", json=body, timeout=60).status_code == 200
