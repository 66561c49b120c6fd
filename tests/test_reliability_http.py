"""Hostile HTTP input against the real server (uvicorn on loopback): every case a clean 4xx.

Each test is one row of docs/RELIABILITY.md; the byte-level cases talk raw HTTP over a
socket because client libraries refuse to send what an attacker's client sends.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import httpx
import psutil
import pytest
from stancelens.serve.launcher import running_server

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def server(trained):
    with running_server(trained["model_dir"], trained["env"]) as running:
        yield running


def raw_post(base: str, head: bytes, body_parts: list[bytes] | None = None, timeout: float = 60) -> tuple[int, dict]:
    """Send hand-made request bytes and parse the status line and JSON body of the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head)
        for part in body_parts or []:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks):
                head_part, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head_part.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ]
                if length and len(rest) >= length[0]:
                    break
    response = b"".join(chunks)
    status_line, _, rest = response.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


def post_json_bytes(base: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{base}/v1/analyze", content=body, headers={"content-type": "application/json"}, timeout=60)


def test_chunked_body_over_the_limit_is_refused_without_buffering(server):
    """A 50 MB chunked body (no Content-Length) is counted as it streams and never held in memory."""
    proc = psutil.Process(server.process.pid)
    before = proc.memory_info().rss
    chunk = b"x" * (1 << 20)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    head = (
        b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    status, body = raw_post(server.base, head, [frame] * 50 + [b"0\r\n\r\n"])
    assert status == 413 and body["limit"] == "max_body_bytes"
    assert proc.memory_info().rss - before < 40 * (1 << 20)  # 50 MB were never kept


def test_a_large_declared_body_gets_a_readable_413(server):
    """urllib sends all 15 MB before it reads: the server drains them so the refusal arrives, not a reset."""
    request = urllib.request.Request(
        f"{server.base}/v1/analyze", data=b"x" * 15_000_000, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["limit"] == "max_body_bytes"


def test_escaped_text_under_the_character_limit_fits_the_byte_budget(server):
    """Non-ASCII text sent as \\uXXXX escapes takes 6 bytes a character; the budget leaves room for it."""
    limits = httpx.get(f"{server.base}/v1/model").json()["limits"]
    chars = limits["max_total_chars"] - 1000
    assert chars * 6 > chars * 4 + 64 * 1024  # the old 4-bytes-a-character budget would refuse this
    body = json.dumps({"documents": [{"text": "د" * chars}]}, ensure_ascii=True).encode()
    assert len(body) > chars * 6
    response = post_json_bytes(server.base, body)
    # the body is accepted by the byte check: what answers is the character rule for one document
    assert response.status_code == 413 and response.json()["limit"] == "max_doc_chars"


@pytest.mark.parametrize(
    ("case", "text", "code"),
    [
        ("lone surrogate", "\\ud800", "invalid_text"),
        ("only a byte-order mark", "\\ufeff", "empty_text"),
        ("only zero-width spaces", "\\u200b\\u200b", "empty_text"),
        ("only NUL", "\\u0000", "empty_text"),
        ("bidi marks and spaces", "\\u200f \\u200e\\t", "empty_text"),
    ],
)
def test_text_with_nothing_to_analyse_is_422(server, case, text, code):
    body = ('{"documents": [{"text": "' + text + '"}]}').encode()
    response = post_json_bytes(server.base, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code and response.json()["message"]


def test_an_id_with_a_lone_surrogate_is_422(server):
    response = post_json_bytes(server.base, b'{"documents": [{"id": "\\ud800", "text": "Kabul."}]}')
    assert response.status_code == 422 and response.json()["error"] == "invalid_id"


def test_a_document_with_some_zero_width_sentences_keeps_only_real_ones(server):
    text = "Kabul fell.\n\n\u200b\n\nThe valley held."
    body = httpx.post(f"{server.base}/v1/analyze", json={"documents": [{"text": text}]}, timeout=60).json()
    rows = body["results"][0]["sentences"]
    assert [r["text"] for r in rows] == ["Kabul fell.", "The valley held."]


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("invalid UTF-8", b'{"documents": [{"text": "\xff\xfe bad"}]}'),
        ("deeply nested JSON", b'{"documents": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("not JSON at all", b"documents=hello"),
    ],
)
def test_unparsable_bodies_get_the_documented_error_shape(server, case, body):
    response = post_json_bytes(server.base, body)
    assert 400 <= response.status_code < 500, response.text[:300]
    payload = response.json()
    assert set(payload) >= {"error", "message"} and payload["error"] in ("invalid_json", "invalid_request")


def test_unknown_path_and_method_use_the_documented_shape(server):
    missing = httpx.get(f"{server.base}/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = httpx.get(f"{server.base}/v1/analyze")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def serve_refusing(trained, **variables: str) -> subprocess.CompletedProcess:
    """``stancelens serve`` with bad settings: it must refuse before it listens."""
    return subprocess.run(
        [sys.executable, "-m", "stancelens.cli", "serve", "--model", str(trained["model_dir"]), "--port", "1"],
        cwd=ROOT,
        env={**trained["env"], **variables},
        capture_output=True,
        timeout=120,
    )


def test_an_empty_api_key_is_refused_at_start(trained):
    proc = serve_refusing(trained, STANCELENS_API_KEY="")
    assert proc.returncode == 2
    assert b"STANCELENS_API_KEY: is set but empty" in proc.stderr


def test_a_malformed_setting_is_refused_naming_the_variable(trained):
    proc = serve_refusing(trained, STANCELENS_QUEUE_SIZE="many", STANCELENS_RUNTIME="gpu")
    assert proc.returncode == 2
    assert b"STANCELENS_QUEUE_SIZE" in proc.stderr and b"STANCELENS_RUNTIME" in proc.stderr
