"""Run one measurement in a fresh interpreter, so its peak RSS and warm-up are its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def worker_env(spin: bool = False) -> dict[str, str]:
    """Environment of every measured process: OpenMP threads sleep when idle unless ``spin``.

    PyTorch's OpenMP threads busy-wait between parallel regions by default. On a machine
    whose cores are shared (other processes, the HTTP server, the load generator) that
    made torch several times slower here, which would measure idle policies rather than
    runtimes; ONNX Runtime's pool is likewise set not to spin (model/onnx_runtime.py).
    """
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if spin:
        env.pop("OMP_WAIT_POLICY", None)
    else:
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def spawn(module: str, args: list[str], timeout: float, spin: bool = False) -> dict[str, Any]:
    """``python -m bench.<module> ARGS --result FILE`` from the project root; returns what it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{module}", *args, "--result", str(out)],
            cwd=ROOT,
            capture_output=True,
            timeout=timeout,
            env=worker_env(spin),
        )
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"bench.{module} {args[:1]} failed:\n{proc.stderr.decode()[-3000:]}")
        return json.loads(out.read_text(encoding="utf-8"))
