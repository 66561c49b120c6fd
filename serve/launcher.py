"""Start the real server (``stancelens serve``, uvicorn) as a child process on loopback.

Tests, the browser tests and the benchmark all need a genuine server process rather than an
in-process client, started the same way and stopped reliably; this is that one place.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stancelens.model.registry import PROJECT_ROOT


@dataclass
class ServerProcess:
    base: str
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(
    model: str | Path,
    env: dict[str, str] | None = None,
    runtime: str | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 180.0,
) -> Iterator[ServerProcess]:
    """Run ``stancelens serve`` on a free loopback port until the block ends; wait for /ready first."""
    port = free_port()
    command = [sys.executable, "-m", "stancelens.cli", "serve", "--model", str(model), "--port", str(port)]
    command += ["--host", "127.0.0.1"] + (["--runtime", runtime] if runtime else [])
    sink = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env or dict(os.environ), stdout=sink, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
                raise RuntimeError(f"server exited with code {process.returncode}\n{tail}")
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"{base}/ready", timeout=2) as response,
            ):
                if response.status == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready after {ready_timeout:.0f} s")
            time.sleep(0.2)
        yield ServerProcess(base, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if log_path:
            sink.close()
