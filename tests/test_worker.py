"""The micro-batching worker and readiness: cancelled work is dropped, loops never die silently."""

from __future__ import annotations

import socket
import time

import httpx
from fastapi.testclient import TestClient
from stancelens.serve.app import create_app
from stancelens.serve.launcher import running_server
from stancelens.serve.settings import ServerSettings
from stancelens.serve.worker import BatchWorker

LONG_DOCUMENT = [f"Sentence number {i} about the fighting near the pass." for i in range(200)]


def test_a_cancelled_queued_job_is_dropped_and_the_loop_lives_on(predictor):
    worker = BatchWorker(predictor, max_batch=8, max_wait_ms=0, queue_size=16, loops=1)
    try:
        busy = worker.submit(LONG_DOCUMENT, None)  # keeps the only loop busy
        time.sleep(0.05)
        gone = worker.submit(["The client of this job went away."], None)
        assert gone.cancel()  # still queued: cancellable
        after = worker.submit(["Kabul is calm."], None)
        assert len(busy.result(timeout=120)) == len(LONG_DOCUMENT)
        assert after.result(timeout=60)[0]["text"] == "Kabul is calm."
        assert worker.jobs_dropped == 1 and worker.alive()
    finally:
        worker.close()


def test_ready_fails_when_a_worker_loop_has_stopped(model_dir):
    app = create_app(ServerSettings(model_ref=str(model_dir)), load_in_background=False)
    with TestClient(app) as client:
        assert client.get("/ready").json() == {"ready": True}
        app.state.stancelens.worker.close()  # the loops end, as if they had died
        response = client.get("/ready")
        assert response.status_code == 503 and response.json()["error"] == "worker_stopped"


def test_disconnected_clients_do_not_hold_up_the_next_request(trained):
    """50 clients that send a long document and hang up: their queued work is dropped unrun."""
    body = ('{"documents": [{"text": "' + " ".join(LONG_DOCUMENT) + '"}]}').encode()
    head = (
        f"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    env = {**trained["env"], "STANCELENS_WORKERS": "1"}
    with running_server(trained["model_dir"], env) as server:
        host, port = server.base.removeprefix("http://").split(":")
        for _ in range(50):
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(head + body)
        time.sleep(0.5)
        started = time.monotonic()
        response = httpx.post(f"{server.base}/v1/analyze", json={"documents": [{"text": "Kabul."}]}, timeout=300)
        waited = time.monotonic() - started
        assert response.status_code == 200
        # had the 50 hung-up requests run, this one would wait behind 50 long documents
        one_document = time.monotonic()
        httpx.post(f"{server.base}/v1/analyze", content=body, headers={"content-type": "application/json"}, timeout=300)
        one_document = time.monotonic() - one_document
        assert waited < 10 * one_document + 5, f"waited {waited:.1f} s; one long document takes {one_document:.1f} s"
