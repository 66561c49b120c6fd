"""Run the real server (``stancelens serve``, uvicorn) as a separate process on loopback."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import ROOT, STANCELENS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(model: str | Path, env: dict[str, str], extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Start the server, wait until /ready says the model is loaded, yield its base URL, stop it."""
    port = free_port()
    process = subprocess.Popen(
        [*STANCELENS, "serve", "--model", str(model), "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**env, **(extra_env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("server did not become ready in 120 s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
