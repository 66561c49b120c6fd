"""FastAPI application: ``/v1/analyze``, health and readiness, model card, and the web page.

Every error is a JSON body ``{"error": CODE, "message": TEXT, ...}`` that names the
problem (and the limit, for 413s), so a client can tell its mistake from an outage.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from concurrent.futures import Future
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from stancelens.model.predictor import Predictor, attach_offsets
from stancelens.model.registry import registry_version, resolve_model_ref
from stancelens.model.runtimes import resolve_runtime
from stancelens.model.schema import SENTENCE_FIELDS, AnalyzeResponse
from stancelens.model.techniques import TECHNIQUE_DEFINITIONS
from stancelens.model.text_checks import text_problem, valid_unicode
from stancelens.serve.settings import ServerSettings
from stancelens.serve.summary import summarize
from stancelens.serve.worker import BatchWorker, QueueFull
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any):
        self.status, self.code, self.message, self.extra = status, code, message, extra


# Past this many bytes an over-limit body is no longer drained and the connection is closed.
# Up to it the server reads and discards the rest of a refused body, so that a client that
# sends everything before reading (urllib, requests) sees the 413 instead of a reset.
DRAIN_LIMIT_BYTES = 256 * 1024 * 1024


class GuardMiddleware:
    """API key and body-size checks for ``/v1/*``; the body is counted as it streams in.

    The limit holds however the bytes arrive: a declared Content-Length over the limit is
    refused before anything is kept, and a chunked body is counted chunk by chunk and
    refused as soon as it passes the limit, so an oversized body is never buffered or
    parsed. A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's
    ``BaseHTTPMiddleware`` costs more server CPU per request than a one-sentence analysis.
    """

    def __init__(self, app: ASGIApp, settings: ServerSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        settings = self.settings
        given = headers.get("x-api-key", "").encode("utf-8", "surrogateescape")
        if settings.api_key and not secrets.compare_digest(given, settings.api_key.encode("utf-8")):
            refusal = JSONResponse({"error": "unauthorized", "message": "missing or wrong X-API-Key header"}, 401)
            await self._drain(receive, 0)
            await refusal(scope, receive, send)
            return
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            await self._drain(receive, 0)
            await self._too_large(f"request body of {int(length):,} bytes", scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > settings.max_body_bytes:
                if more:
                    await self._drain(receive, size)
                await self._too_large("request body (streamed)", scope, receive, send)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: waits for http.disconnect

        await self.app(scope, replay, send)

    async def _too_large(self, what: str, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.max_body_bytes
        body = {
            "error": "request_too_large",
            "message": f"{what} exceeds {limit:,} bytes",
            "limit": "max_body_bytes",
            "max": limit,
        }
        await JSONResponse(body, 413, headers={"Connection": "close"})(scope, receive, send)

    @staticmethod
    async def _drain(receive: Receive, already: int) -> None:
        """Read and discard the rest of a refused body (up to DRAIN_LIMIT_BYTES), keeping nothing."""
        size = already
        while size <= DRAIN_LIMIT_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


class DocumentIn(BaseModel):
    id: str | None = Field(None, description="Your identifier; defaults to the position in the request.")
    text: str = Field(..., description="The document (or, with sentences=true, one sentence).")


class AnalyzeRequest(BaseModel):
    documents: list[DocumentIn] = Field(..., description="Records, the same shape as the CLI's JSONL input.")
    sentences: bool = Field(False, description="Treat each record as one sentence (no splitting), like --sentences.")
    loaded_threshold: float | None = Field(None, ge=0.0, le=1.0, description="Override the model's threshold.")


class ServerState:
    """The model and its worker, loaded in the background so /health answers at once."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.predictor: Predictor | None = None
        self.worker: BatchWorker | None = None
        self.load_error: str | None = None

    def load(self) -> None:
        try:
            folder = resolve_model_ref(self.settings.model_ref)
            # the loop layout depends on the runtime auto will resolve to (the Predictor resolves it the same way)
            loops, threads = self.settings.worker_layout(resolve_runtime(self.settings.runtime, folder).runtime)
            self.predictor = Predictor.load(
                folder,
                model_ref=self.settings.model_ref,
                runtime=self.settings.runtime,
                batch_size=self.settings.max_batch_sentences,
                threads=threads,
            )
            self.worker = BatchWorker(
                self.predictor,
                self.settings.max_batch_sentences,
                self.settings.max_wait_ms,
                self.settings.queue_size,
                loops=loops,
            )
        except Exception as exc:  # reported by /ready
            self.load_error = f"{type(exc).__name__}: {exc}"


def create_app(settings: ServerSettings | None = None, load_in_background: bool = True) -> FastAPI:
    settings = settings or ServerSettings.from_env()
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if load_in_background:
            threading.Thread(target=state.load, name="model-loader", daemon=True).start()
        else:
            state.load()
        yield
        if state.worker:
            state.worker.close()

    app = FastAPI(
        title="StanceLens",
        version="0.1.0",
        description="Sentence stance (pro_nrf / pro_taliban / neutral) and loaded-language spans.",
        lifespan=lifespan,
    )
    app.state.stancelens = state

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"Retry-After": str(settings.retry_after_s)} if exc.status == 503 else None
        return JSONResponse({"error": exc.code, "message": exc.message, **exc.extra}, exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Framework errors (unparsable body, unknown path, wrong method) in the documented shape."""
        codes = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed"}
        message = str(exc.detail)
        if exc.status_code == 400:
            message = "the body could not be parsed as JSON (it is not UTF-8, or it is nested too deeply)"
        return JSONResponse({"error": codes.get(exc.status_code, "http_error"), "message": message}, exc.status_code)

    @app.exception_handler(ClientDisconnected)
    async def gone(_: Request, exc: ClientDisconnected) -> JSONResponse:
        return JSONResponse({"error": "client_disconnected", "message": "the client went away"}, 499)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "internal_error", "message": f"{type(exc).__name__}: {exc}"}, 500)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "problem": e["msg"]} for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            detail = exc.errors()[0].get("ctx", {}).get("error", "JSON decode error")
            return JSONResponse({"error": "invalid_json", "message": f"the body is not valid JSON: {detail}"}, 422)
        code = "invalid_request"
        message = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems)
        return JSONResponse({"error": code, "message": message, "problems": problems}, 422)

    app.add_middleware(GuardMiddleware, settings=settings)

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"])
    async def ready() -> JSONResponse:
        """Readiness: the model is loaded and the worker runs."""
        if state.worker is not None and state.worker.alive():
            return JSONResponse({"ready": True})
        if state.worker is not None:
            body = {"ready": False, "error": "worker_stopped", "message": "a model worker loop is not running"}
            return JSONResponse(body, 503, headers={"Retry-After": str(settings.retry_after_s)})
        body = {"ready": False, "error": "model_not_loaded", "message": state.load_error or "model is loading"}
        return JSONResponse(body, 503, headers={"Retry-After": str(settings.retry_after_s)})

    @app.get("/v1/model", tags=["analysis"])
    async def model_card() -> dict[str, Any]:
        """Name, version, labels, thresholds, technique definitions and MLflow run of the model, plus the limits.

        ``techniques`` lists the 14 PTC techniques the rows may name; ``technique_head`` is false for a
        model trained without PTC data, whose rows never carry technique spans.
        """
        predictor = _predictor(state)
        meta = predictor.meta
        return {
            "name": "stancelens",
            "ref": predictor.model_ref,
            "version": registry_version(predictor.folder),
            "runtime": predictor.runtime,
            "runtime_reason": predictor.runtime_reason,
            "stance_labels": meta.stance_labels,
            "loaded_threshold": meta.loaded_threshold,
            "stance_temperature": meta.stance_temperature,
            "max_length": meta.max_length,
            "technique_head": bool(meta.technique_labels),
            "techniques": [{"name": name, "definition": text} for name, text in TECHNIQUE_DEFINITIONS.items()],
            "technique_threshold": meta.technique_threshold if meta.technique_labels else None,
            "mlflow_run_id": meta.training.get("mlflow_run_id"),
            "git_commit": meta.training.get("git_commit"),
            "limits": settings.limits(),
        }

    @app.post("/v1/analyze", tags=["analysis"], response_model=AnalyzeResponse)
    async def analyze(body: AnalyzeRequest, http: Request) -> JSONResponse:
        """Analyse documents (split into sentences) or pre-split sentences."""
        # A ready-made response skips FastAPI's generic re-encoding of the (plain JSON) result.
        return JSONResponse(await _analyze(state, body, http.receive))

    @app.post("/v1/analyze/file", tags=["analysis"], response_model=AnalyzeResponse)
    async def analyze_file(
        file: Annotated[UploadFile, File(description="A UTF-8 .txt document.")],
        loaded_threshold: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
    ) -> JSONResponse:
        """Analyse an uploaded .txt file; refuses bytes that are not UTF-8."""
        raw = await file.read(settings.max_body_bytes + 1)
        if len(raw) > settings.max_doc_chars * 4:
            raise ApiError(
                413,
                "document_too_long",
                f"{file.filename} has over {settings.max_doc_chars * 4:,} bytes; the limit is "
                f"{settings.max_doc_chars:,} characters",
                limit="max_doc_chars",
                max=settings.max_doc_chars,
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(415, "invalid_utf8", f"{file.filename} is not UTF-8 text (bad byte at {exc.start})") from exc
        request = AnalyzeRequest(documents=[DocumentIn(id=file.filename, text=text)], loaded_threshold=loaded_threshold)
        return JSONResponse(await _analyze(state, request))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


def _predictor(state: ServerState) -> Predictor:
    if state.predictor is None or state.worker is None:
        raise ApiError(503, "model_not_loaded", state.load_error or "the model is still loading")
    return state.predictor


def _check_limits(settings: ServerSettings, request: AnalyzeRequest) -> None:
    docs = request.documents
    if not docs:
        raise ApiError(422, "no_documents", "documents must hold at least one record")
    if len(docs) > settings.max_documents:
        raise ApiError(
            413,
            "too_many_documents",
            f"{len(docs)} records; at most {settings.max_documents} per request",
            limit="max_documents",
            max=settings.max_documents,
        )
    for index, doc in enumerate(docs):
        if doc.id is not None and valid_unicode(doc.id) != doc.id:
            raise ApiError(422, "invalid_id", f"documents[{index}].id holds a lone surrogate", index=index)
        if len(doc.text) > settings.max_doc_chars:
            raise ApiError(
                413,
                "document_too_long",
                f"documents[{index}] has {len(doc.text):,} characters; the limit is {settings.max_doc_chars:,}",
                limit="max_doc_chars",
                max=settings.max_doc_chars,
                index=index,
            )
        problem = text_problem(doc.text)
        if problem is not None:
            raise ApiError(422, problem.code, f"documents[{index}].text: {problem}", index=index)
    total = sum(len(doc.text) for doc in docs)
    if total > settings.max_total_chars:
        raise ApiError(
            413,
            "request_too_large",
            f"{total:,} characters in all; the limit is {settings.max_total_chars:,}",
            limit="max_total_chars",
            max=settings.max_total_chars,
        )


class ClientDisconnected(Exception):
    """The client went away while its request waited; its queued work was dropped."""


async def _result_unless_disconnected(future: Future, receive: Receive | None) -> list[dict[str, Any]]:
    """The worker's result, or cancel the queued job as soon as the client disconnects."""
    waiting = asyncio.wrap_future(future)
    if receive is None:
        return await waiting

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    done, _ = await asyncio.wait({waiting, watcher}, return_when=asyncio.FIRST_COMPLETED)
    if waiting in done:
        watcher.cancel()
        return waiting.result()
    future.cancel()  # dropped by the worker if still queued
    waiting.cancel()
    raise ClientDisconnected


async def _analyze(state: ServerState, request: AnalyzeRequest, receive: Receive | None = None) -> dict[str, Any]:
    predictor = _predictor(state)
    _check_limits(state.settings, request)
    doc_ids = [doc.id if doc.id not in (None, "") else str(i) for i, doc in enumerate(request.documents)]
    texts = [doc.text for doc in request.documents]
    cuts = predictor.sentence_cuts(texts, request.sentences)
    flat = [text[a:b] for text, spans in zip(texts, cuts, strict=True) for a, b in spans]
    try:
        future = state.worker.submit(flat, request.loaded_threshold)
    except QueueFull as exc:
        raise ApiError(503, "overloaded", "the server is busy; retry after the Retry-After delay") from exc
    per_doc = attach_offsets(cuts, await _result_unless_disconnected(future, receive))
    results = []
    for doc_id, rows in zip(doc_ids, per_doc, strict=True):
        doc_rows = [{"doc_id": doc_id, **{k: row[k] for k in SENTENCE_FIELDS if k != "doc_id"}} for row in rows]
        results.append({"doc_id": doc_id, "sentences": doc_rows, "summary": summarize(doc_id, doc_rows)})
    return {
        "model": {"ref": predictor.model_ref, "runtime": predictor.runtime},
        "loaded_threshold": predictor.meta.loaded_threshold
        if request.loaded_threshold is None
        else request.loaded_threshold,
        "results": results,
    }
