"""A real ``stancelens serve`` under concurrent clients: latency, throughput, errors, peak RSS.

The load generator is importable (tests drive it against the real server too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.spawn import worker_env

CLIENT_LEVELS = (1, 8, 32)
# Requests each client sends at each concurrency level; the level stops earlier at its time cap.
REQUESTS_PER_CLIENT = {1: 300, 8: 100, 32: 60}


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak RSS of another process, from /proc (Linux)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


@contextlib.contextmanager
def running_server(folder: Path, runtime: str, log_path: Path) -> Iterator[tuple[str, int]]:
    """A real ``stancelens serve`` (uvicorn) on a free loopback port; stopped on exit."""
    from stancelens.serve.launcher import running_server as launch

    with launch(folder, env=worker_env(), runtime=runtime, log_path=log_path) as server:
        yield server.base, server.process.pid


class KeepAliveConnection:
    """One HTTP/1.1 keep-alive connection speaking just enough HTTP for ``POST /v1/analyze``.

    The load generator shares the 2 cores with the server it measures, so its own cost
    per request is part of what gets measured. httpx spent about 3.5 ms of CPU per
    request here, half of what the server needs; this client spends a small fraction of
    that, so the numbers describe the server rather than the client.
    """

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: dict[str, Any], timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body).encode("utf-8")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode("ascii") + payload)
        return await asyncio.wait_for(self._response(), timeout)

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        length = int({k.strip().lower(): v for k, v in fields.items()}["content-length"])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def load_level(base: str, sentences: list[str], clients: int, per_client: int, cap_s: float) -> dict[str, Any]:
    """``clients`` concurrent clients, each sending ``per_client`` single-sentence requests one after another.

    Each client holds one keep-alive connection. Bounded twice: by the request count and
    by a hard time cap, after which clients stop sending and anything still in flight is
    cancelled and counted as an error.
    """
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + cap_s
    connections = [KeepAliveConnection(host, int(port)) for _ in range(clients)]

    async def one_client(index: int) -> None:
        connection = connections[index]
        for i in range(per_client):
            if time.monotonic() > deadline:
                return
            text = sentences[(index * per_client + i) % len(sentences)]
            body = {"documents": [{"text": text}], "sentences": True}
            t0 = time.perf_counter()
            try:
                status, payload = await connection.post_json("/v1/analyze", body, timeout=30.0)
                json.loads(payload)
            except (OSError, ValueError, KeyError, asyncio.IncompleteReadError, TimeoutError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                connection.close()
                continue
            if status == 200:
                latencies.append(time.perf_counter() - t0)
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1

    for i in range(clients):  # open the connections and warm the worker
        warmup = {"documents": [{"text": sentences[i % len(sentences)]}], "sentences": True}
        await connections[i].post_json("/v1/analyze", warmup, 30.0)
    started = time.perf_counter()
    tasks = [asyncio.create_task(one_client(i)) for i in range(clients)]
    _done, pending = await asyncio.wait(tasks, timeout=cap_s + 30)
    for task in pending:
        task.cancel()
    if pending:
        errors["cancelled_at_cap"] = len(pending)
    wall = time.perf_counter() - started
    for connection in connections:
        connection.close()

    ms = sorted(1000 * x for x in latencies)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))] if ms else float("nan")

    return {
        "clients": clients,
        "requests": len(ms) + sum(errors.values()),
        "ok": len(ms),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "wall_s": wall,
        "sentences_per_s": len(ms) / wall if wall else 0.0,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "hit_time_cap": time.monotonic() > deadline,
    }


def server_bench(folder: Path, runtime: str, sentences: list[str], cap_s: float, log_path: Path) -> dict[str, Any]:
    from stancelens.serve.settings import ServerSettings

    settings = ServerSettings.from_env()
    with running_server(folder, runtime, log_path) as (base, pid):
        levels = [
            asyncio.run(load_level(base, sentences, clients, REQUESTS_PER_CLIENT[clients], cap_s))
            for clients in CLIENT_LEVELS
        ]
        peak = _vm_hwm_mb(pid)
    return {
        "runtime": runtime,
        "levels": levels,
        "server_peak_rss_mb": peak,
        "max_batch_sentences": settings.max_batch_sentences,
        "max_wait_ms": settings.max_wait_ms,
        "queue_size": settings.queue_size,
    }
