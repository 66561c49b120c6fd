"""Shared fixtures: a real (tiny) model trained through the CLI into a throwaway MLflow store.

Nothing here is mocked: the session trains the actual network for a few steps with the
same command users run, registers it, and every test of scoring, serving and the page
uses that model. It is small and undertrained, so tests assert on behaviour and
consistency, never on quality.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# fp32 numerics everywhere, whatever CPU runs CI: with bf16, ``--runtime auto`` could pick
# torch-bf16 on an AMX machine, whose probabilities move (by ~0.006) with batch neighbours, and
# the tests that CLI, server, pyfunc and Spark agree within 1e-5 would measure the CPU. The
# bf16 paths are tested on their own, with this variable removed (test_hardware, test_runtimes).
os.environ.setdefault("STANCELENS_DISABLE_BF16", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STANCELENS = [sys.executable, "-m", "stancelens.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, input: bytes | None = None, timeout: int = 600):
    """Run the real ``stancelens`` command and return the completed process."""
    return subprocess.run([*STANCELENS, *args], cwd=ROOT, env=env, input=input, capture_output=True, timeout=timeout)


@pytest.fixture(scope="session")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment pointing MLflow and the model cache at a fresh temporary store."""
    base = tmp_path_factory.mktemp("store")
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{base / 'mlflow.db'}"
    env["STANCELENS_CACHE"] = str(base / "cache")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 12th record of the real corpus, splits kept: enough to train a few steps quickly."""
    folder = tmp_path_factory.mktemp("corpus")
    for path in sorted((ROOT / "data" / "corpus").glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        (folder / path.name).write_text("\n".join(lines[::12]) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def trained(
    store_env: dict[str, str], small_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """Train a tiny model with ``stancelens train`` (a few steps) and register it as champion."""
    out_dir = tmp_path_factory.mktemp("models")
    proc = run_cli(
        "train",
        "--set", f"data.corpus={small_corpus}",
        "--set", "data.news=false",  # the real-news path is trained in test_training
        "--set", "train.max_steps=6",
        "--set", "train.epochs=1",
        "--set", "train.batch_size=8",
        "--set", f"tracking.output_dir={out_dir}",
        "--set", "tracking.experiment=tests",
        env=store_env,
    )  # fmt: skip
    output = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, output[-4000:]
    folder = Path(re.search(r"model folder: (\S+)", output).group(1))
    run_id = re.search(r"mlflow run:\s+(\S+)", output).group(1)
    return {"model_dir": folder, "run_id": run_id, "output": output, "env": store_env}


@pytest.fixture(scope="session")
def model_dir(trained: dict[str, object]) -> Path:
    return trained["model_dir"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def predictor(model_dir: Path):
    from stancelens.model.predictor import Predictor

    return Predictor.load(model_dir)


def wait_until_up(url: str, process: subprocess.Popen, what: str, timeout: float = 180) -> None:
    """Poll ``url`` until it answers 200; fail with the child's stderr if it exits first."""
    import contextlib
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else what
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{what} did not start"
        time.sleep(0.5)


def needs_shared(*parts: str) -> pytest.MarkDecorator:
    """Skip cleanly, with the reason, when the third-party data in ../shared is absent."""
    path = SHARED.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present (third-party data lives in ../shared)")
