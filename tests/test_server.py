"""The HTTP API against a real uvicorn process on loopback."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from stancelens.model.techniques import TECHNIQUE_DEFINITIONS, TECHNIQUES
from stancelens.serve.launcher import running_server

LONG_SENTENCE = " ".join(["fighters"] * 2500 + ["valley"] * 2500) + "."


@pytest.fixture(scope="module")
def server(trained):
    with running_server(trained["model_dir"], trained["env"]) as server:
        yield server.base


def analyze(base: str, documents: list[dict], **extra) -> httpx.Response:
    return httpx.post(f"{base}/v1/analyze", json={"documents": documents, **extra}, timeout=120)


def test_health_ready_and_model_card(server, trained):
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server}/ready").json() == {"ready": True}
    card = httpx.get(f"{server}/v1/model").json()
    assert card["stance_labels"] == ["pro_nrf", "pro_taliban", "neutral"]
    assert card["mlflow_run_id"] == trained["run_id"]
    assert 0 < card["loaded_threshold"] < 1
    assert card["limits"]["max_doc_chars"] == 100_000
    assert [t["name"] for t in card["techniques"]] == list(TECHNIQUES) and card["technique_head"] is True
    assert all(t["definition"] == TECHNIQUE_DEFINITIONS[t["name"]] for t in card["techniques"])
    assert 0 < card["technique_threshold"] < 1
    assert "/v1/analyze" in httpx.get(f"{server}/openapi.json").json()["paths"]


def test_analyze_documents_and_sentences(server):
    text = "The Taliban claimed the district. The resistance denied it."
    body = analyze(server, [{"id": "d1", "text": text}, {"text": "Calm in Kabul."}]).json()
    first, second = body["results"]
    assert first["doc_id"] == "d1" and second["doc_id"] == "1"
    assert [s["text"] for s in first["sentences"]] == ["The Taliban claimed the district.", "The resistance denied it."]
    for row in first["sentences"]:
        assert text[row["start"] : row["end"]] == row["text"]
    assert first["summary"]["sentences"] == 2
    whole = analyze(server, [{"id": "s", "text": text}], sentences=True).json()
    assert len(whole["results"][0]["sentences"]) == 1


def test_threshold_override_changes_flags_not_probabilities(server):
    docs = [{"id": "x", "text": "The heroic fighters crushed the invaders. Prices rose."}]
    low = analyze(server, docs, loaded_threshold=0.0).json()["results"][0]["sentences"]
    high = analyze(server, docs, loaded_threshold=1.0).json()["results"][0]["sentences"]
    assert all(r["loaded"] == 1 and r["loaded_spans"] for r in low)
    assert all(r["loaded"] == 0 and not r["loaded_spans"] for r in high)
    for a, b in zip(low, high, strict=True):
        assert abs(a["loaded_prob"] - b["loaded_prob"]) < 1e-6


BAD_INPUTS = [
    ("empty text", {"documents": [{"text": "  "}]}, 422, "empty_text"),
    ("no documents", {"documents": []}, 422, "no_documents"),
    ("wrong type", {"documents": [{"text": 42}]}, 422, "invalid_request"),
    ("missing field", {"documents": [{"id": "a"}]}, 422, "invalid_request"),
    ("threshold out of range", {"documents": [{"text": "a b"}], "loaded_threshold": 3}, 422, "invalid_request"),
    ("too many documents", {"documents": [{"text": "Kabul."}] * 65}, 413, "too_many_documents"),
    ("document over the limit", {"documents": [{"text": "a" * 100_001}]}, 413, "document_too_long"),
    ("request over the total", {"documents": [{"text": "word " * 19_000}] * 5}, 413, "request_too_large"),
    ("10 MB document", {"documents": [{"text": "word " * 2_100_000}]}, 413, "request_too_large"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_specific_json_error(server, case, body, status, code):
    response = httpx.post(f"{server}/v1/analyze", json=body, timeout=60)
    assert response.status_code == status, response.text[:500]
    payload = response.json()
    assert payload["error"] == code and payload["message"]
    if status == 413:
        assert payload["limit"] in ("max_documents", "max_doc_chars", "max_total_chars", "max_body_bytes")


def test_invalid_json_and_non_utf8_upload(server):
    response = httpx.post(
        f"{server}/v1/analyze", content=b'{"documents": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_json"
    response = httpx.post(f"{server}/v1/analyze/file", files={"file": ("latin1.txt", b"caf\xe9 \xff", "text/plain")})
    assert response.status_code == 415 and response.json()["error"] == "invalid_utf8"
    response = httpx.post(f"{server}/v1/analyze/file", files={"file": ("ok.txt", b"Kabul is calm.", "text/plain")})
    assert response.status_code == 200 and response.json()["results"][0]["doc_id"] == "ok.txt"


@pytest.mark.parametrize(
    "text",
    [
        "طالبان اعلام کردند که پنجشیر را تصرف کرده‌اند.",
        "Panjshir stands 🦁🔥 #StandWithPanjshir",
        "Fighting\x07 resumed\x0b near the\x1f pass.",
        LONG_SENTENCE,
    ],
    ids=["dari", "emoji", "control-characters", "one-5000-word-sentence"],
)
def test_unusual_but_valid_text_is_analysed(server, text):
    response = analyze(server, [{"id": "u", "text": text}])
    assert response.status_code == 200, response.text[:500]
    rows = response.json()["results"][0]["sentences"]
    assert rows and all(text[r["start"] : r["end"]] == r["text"] for r in rows)
    if text is LONG_SENTENCE:
        assert rows[0]["windows"] > 1


def test_server_is_unaffected_by_bad_requests(server):
    for _, body, _, _ in BAD_INPUTS[:5]:
        httpx.post(f"{server}/v1/analyze", json=body, timeout=60)
    assert analyze(server, [{"text": "Still working."}]).status_code == 200
    assert httpx.get(f"{server}/ready").status_code == 200


def test_api_key_is_enforced_when_configured(trained):
    with running_server(trained["model_dir"], {**trained["env"], "STANCELENS_API_KEY": "s3cret"}) as server:
        base = server.base
        body = {"documents": [{"text": "Kabul."}]}
        assert httpx.post(f"{base}/v1/analyze", json=body).status_code == 401
        wrong = httpx.post(f"{base}/v1/analyze", json=body, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
        assert httpx.post(f"{base}/v1/analyze", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert httpx.get(f"{base}/health").status_code == 200


def test_a_full_queue_answers_503_with_retry_after(trained):
    settings = {"STANCELENS_QUEUE_SIZE": "1", "STANCELENS_MAX_BATCH_SENTENCES": "1", "STANCELENS_MAX_WAIT_MS": "0"}
    document = " ".join(f"Sentence number {i} about the valley." for i in range(60))

    async def burst(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            calls = [client.post(f"{base}/v1/analyze", json={"documents": [{"text": document}]}) for _ in range(8)]
            return await asyncio.gather(*calls)

    with running_server(trained["model_dir"], {**trained["env"], **settings}) as server:
        base = server.base
        responses = asyncio.run(burst(base))
        codes = sorted(r.status_code for r in responses)
        assert 503 in codes and 200 in codes and set(codes) <= {200, 503}
        busy = next(r for r in responses if r.status_code == 503)
        assert busy.headers["retry-after"] == "2" and busy.json()["error"] == "overloaded"
        assert analyze(base, [{"text": "Recovered."}]).status_code == 200


def test_requests_queued_behind_a_busy_worker_share_one_forward_pass(trained):
    """With max_wait_ms=0 nobody is held back, yet whatever queued meanwhile is batched together."""
    from stancelens.model.predictor import Predictor
    from stancelens.serve.worker import BatchWorker

    predictor = Predictor.load(trained["model_dir"])
    texts = [f"Sentence number {i} about the fighting in the valley." for i in range(24)]
    worker = BatchWorker(predictor, max_batch=64, max_wait_ms=0, queue_size=64)
    try:
        futures = [worker.submit([text], None) for text in texts]
        rows = [future.result(timeout=120)[0] for future in futures]
    finally:
        worker.close()
    assert worker.batches_run <= 4, f"{len(texts)} queued requests took {worker.batches_run} forward passes"
    alone = predictor.analyze_sentences(texts)
    assert [r["text"] for r in rows] == texts
    for got, want in zip(rows, alone, strict=True):
        assert got["stance"] == want["stance"]
        assert all(abs(got["stance_probs"][k] - want["stance_probs"][k]) < 1e-5 for k in want["stance_probs"])


def test_concurrent_requests_get_the_answers_they_get_alone(server):
    """Several worker loops share one model: answers must not depend on what else is in flight."""
    texts = [f"Fighters of both sides were seen near the pass on day {i}." for i in range(24)]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server, timeout=120) as client:
            calls = [client.post("/v1/analyze", json={"documents": [{"text": t}], "sentences": True}) for t in texts]
            return await asyncio.gather(*calls)

    together = [r.json()["results"][0]["sentences"][0] for r in asyncio.run(burst())]
    for text, got in zip(texts, together, strict=True):
        alone = analyze(server, [{"text": text}], sentences=True).json()["results"][0]["sentences"][0]
        assert got["text"] == text and got["stance"] == alone["stance"]
        assert all(abs(got["stance_probs"][k] - alone["stance_probs"][k]) < 1e-5 for k in alone["stance_probs"])


def test_runtime_defaults_to_auto_and_follows_the_environment(server, trained):
    """``auto`` resolves to the runtime choose_runtime names for this CPU and model, and says why."""
    from stancelens.model.runtimes import DEFAULT_RUNTIME, choose_runtime

    body = {"documents": [{"text": "The pass was open."}], "sentences": True}
    expected = choose_runtime(trained["model_dir"])
    assert DEFAULT_RUNTIME == "auto"
    assert httpx.post(f"{server}/v1/analyze", json=body).json()["model"]["runtime"] == expected.runtime
    card = httpx.get(f"{server}/v1/model").json()
    assert (card["runtime"], card["runtime_reason"]) == (expected.runtime, expected.reason)
    with running_server(trained["model_dir"], {**trained["env"], "STANCELENS_RUNTIME": "torch"}) as other:
        assert httpx.post(f"{other.base}/v1/analyze", json=body).json()["model"]["runtime"] == "torch"


def test_benchmark_load_generator_against_the_real_server(server):
    """The benchmark's keep-alive client (bench/loadgen.py): every request answered, latencies measured, bounded."""
    from bench.loadgen import load_level

    level = asyncio.run(load_level(server, ["The road was open.", "Clashes were reported."], 4, 5, cap_s=60))
    assert level["ok"] == 20 and level["errors"] == 0, level["error_kinds"]
    assert 0 < level["p50_ms"] <= level["p99_ms"] and level["sentences_per_s"] > 0


def test_openapi_documents_the_analyze_response(server):
    spec = httpx.get(f"{server}/openapi.json").json()
    ok = spec["paths"]["/v1/analyze"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/AnalyzeResponse")
    row = spec["components"]["schemas"]["SentenceRow"]["properties"]
    assert {"doc_id", "start", "end", "text", "stance", "stance_probs", "loaded_spans", "windows", "techniques"} <= set(
        row
    )
    technique = spec["components"]["schemas"]["TechniqueSpan"]["properties"]
    assert set(technique) == {"technique", "start", "end", "text", "prob"}


def test_rows_carry_technique_spans_and_the_summary_counts_them(server):
    text = (
        "These foreign-backed traitors and puppets will burn every home in the valley, the commander warned. "
        "Everyone knows the so-called government is a gang of criminals. Prices rose."
    )
    result = analyze(server, [{"id": "t", "text": text}]).json()["results"][0]
    spans = [t for row in result["sentences"] for t in row["techniques"]]
    for row in result["sentences"]:
        for t in row["techniques"]:
            assert t["technique"] in TECHNIQUES and row["text"][t["start"] : t["end"]] == t["text"]
    assert result["summary"]["technique_counts"] == {
        name: sum(t["technique"] == name for t in spans) for name in TECHNIQUES
    }
