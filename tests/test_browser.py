"""The analyst web page, driven in headless Chromium against a real ``stancelens serve`` process.

The server is the real uvicorn process users start, serving the tiny model trained by
the session fixture; the browser is Debian's ``chromium``. The model is undertrained, so
these tests check what the page shows and that it agrees with the server's numbers,
never which stance wins. Without ``/usr/bin/chromium`` or the ``playwright`` package the
module is skipped (``make browser`` installs Chromium).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from stancelens.model.labels import STANCE_LABELS
from stancelens.model.techniques import TECHNIQUES, technique_count_columns
from stancelens.serve.launcher import running_server
from stancelens.serve.summary import SENTENCE_CSV_COLUMNS

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium, or `make browser`)", allow_module_level=True)
try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"playwright is not importable: {exc}", allow_module_level=True)

from tests.browser_helpers import (  # noqa: E402  (after the skips: it imports playwright)
    analyze,
    download,
    render_count,
    sentence_rows,
    set_threshold,
    title_probs,
    wait_model,
    wait_render,
)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
API_KEY = "test-key-7f3a"
MAX_DOC_CHARS = 3000  # a small limit so the page's 413 display can be exercised cheaply

TEXT = (
    "The Taliban claimed full control of the Panjshir valley on Monday. "
    "NRF commanders said their fighters still hold the mountain passes and vowed to resist. "
    "Residents reported that phone and internet services remained cut."
)
# Non-BMP characters (the flag is two code points, four UTF-16 units) and a line break check
# that the page maps the server's code-point offsets back onto the text correctly.
UPLOAD_TEXT = (
    "Kabul 🇦🇫 — the interim authorities announced new restrictions on Tuesday.\n"
    "Résistance leaders in the north called the decree illegitimate. "
    "Aid agencies said they were still assessing the impact."
)


# ---------------------------------------------------------------------------- server


@dataclass
class Server:
    base: str
    log: Path


@contextlib.contextmanager
def run_server(model_dir: Path, env: dict[str, str], log: Path) -> Iterator[Server]:
    """The real server on a free loopback port (see serve.launcher), with its log kept for failures."""
    with running_server(model_dir, env, log_path=log) as server:
        yield Server(server.base, log)


def _server_env(store_env: dict[str, str], api_key: str | None) -> dict[str, str]:
    env = {k: v for k, v in store_env.items() if not k.startswith("STANCELENS_") or k == "STANCELENS_CACHE"}
    env["STANCELENS_MAX_DOC_CHARS"] = str(MAX_DOC_CHARS)
    if api_key:
        env["STANCELENS_API_KEY"] = api_key
    return env


@pytest.fixture(scope="module")
def server(model_dir: Path, store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with run_server(model_dir, _server_env(store_env, None), log) as srv:
        yield srv


@pytest.fixture(scope="module")
def keyed_server(
    model_dir: Path, store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve-key") / "server.log"
    with run_server(model_dir, _server_env(store_env, API_KEY), log) as srv:
        yield srv


# ---------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Session:
    page: Page
    base: str
    requests: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        """Every request the page made that did not go to this server (data:/blob: URLs are local)."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if parts.scheme not in ("http", "https") or parts.hostname != "127.0.0.1":
                out.append(url)
        return out


def _open(browser: Browser, base: str) -> Iterator[Session]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    session = Session(page, base)
    page.on("request", lambda request: session.requests.append(request.url))
    page.goto(base + "/")
    try:
        yield session
    finally:
        context.close()


@pytest.fixture
def session(browser: Browser, server: Server) -> Iterator[Session]:
    yield from _open(browser, server.base)


@pytest.fixture
def keyed_session(browser: Browser, keyed_server: Server) -> Iterator[Session]:
    yield from _open(browser, keyed_server.base)


# ---------------------------------------------------------------------------- tests


def test_page_shows_model_info_and_legend(session: Session) -> None:
    page = session.page
    wait_model(page)
    info = page.text_content("#model-info")
    assert "loaded threshold" in info and "runtime onnx" in info
    legend = page.eval_on_selector_all("#legend [data-stance]", "ns => ns.map(n => n.dataset.stance)")
    assert legend == list(STANCE_LABELS)
    # The slider starts at the model's threshold, marked as such.
    assert "(model)" in page.text_content("#threshold-value")
    assert page.get_attribute("#threshold", "min") == "0.05"
    assert page.get_attribute("#threshold", "max") == "0.95"
    assert page.is_hidden("#error")
    assert page.is_disabled("#download-json") and page.is_disabled("#download-csv")


def test_analyze_colours_every_sentence_and_summarises(session: Session) -> None:
    page = session.page
    analyze(page, TEXT)
    rows = sentence_rows(page)
    assert len(rows) == 3
    for row in rows:
        assert row["stance"] in STANCE_LABELS
        assert row["loaded"] in ("0", "1")
        stance, loaded = title_probs(row["title"])
        assert set(stance) == set(STANCE_LABELS), row["title"]
        assert abs(sum(stance.values()) - 1.0) < 0.01
        assert 0.0 <= loaded <= 1.0
        assert "Stance: " in row["title"]
    # Each sentence has its stance's colour (the background differs per stance).
    colours = page.eval_on_selector_all(
        "#results .sentence", "ns => ns.map(n => [n.dataset.stance, getComputedStyle(n).backgroundColor])"
    )
    by_stance: dict[str, set[str]] = {}
    for stance, colour in colours:
        by_stance.setdefault(stance, set()).add(colour)
    assert all(len(c) == 1 for c in by_stance.values()), by_stance
    assert len({next(iter(c)) for c in by_stance.values()}) == len(by_stance)
    # The page re-renders the document itself: same text, sentences in order, nothing lost.
    assert page.text_content("#results .document-text") == TEXT
    assert [r["text"] for r in rows] == [
        "The Taliban claimed full control of the Panjshir valley on Monday.",
        "NRF commanders said their fighters still hold the mountain passes and vowed to resist.",
        "Residents reported that phone and internet services remained cut.",
    ]

    # Hovering shows the probabilities (as the native tooltip's title).
    page.hover("#results .sentence >> nth=1")
    hovered = page.eval_on_selector("#results .sentence:hover", "n => n.getAttribute('title')")
    assert "pro_nrf:" in hovered and "pro_taliban:" in hovered and "neutral:" in hovered and "Loaded:" in hovered

    # Summary bar: visible, segments for the stances present, shares adding up, loaded share and phrases.
    assert page.is_visible("#summary")
    assert page.is_visible("#stance-bar")
    segments = page.eval_on_selector_all(
        "#stance-bar .segment", "ns => ns.map(n => [n.dataset.stance, Number(n.style.flexGrow)])"
    )
    assert segments and {s for s, _ in segments} == {r["stance"] for r in rows}
    assert abs(sum(g for _, g in segments) - 1.0) < 1e-6
    flagged = sum(r["loaded"] == "1" for r in rows)
    assert f"({flagged} of 3)" in page.text_content("#loaded-share")
    assert page.is_visible("[data-testid=top-phrases]")
    assert page.is_enabled("#download-json") and page.is_enabled("#download-csv")

    assert session.external_requests() == []


def test_threshold_slider_updates_flags_and_spans(session: Session) -> None:
    page = session.page
    analyze(page, TEXT)

    seen: dict[str, list[dict[str, object]]] = {}
    for key, value in (("End", "0.95"), ("Home", "0.05")):
        set_threshold(page, key, value)
        rows = sentence_rows(page)
        assert len(rows) == 3
        threshold = float(value)
        for row in rows:
            _, loaded_prob = title_probs(row["title"])
            # The flag follows the threshold the slider asked for, from the server's probability.
            if abs(loaded_prob - threshold) > 1e-3:  # titles round to 3 decimals
                assert row["loaded"] == ("1" if loaded_prob >= threshold else "0"), row
            if row["loaded"] == "1":
                assert row["marks"] >= 1, row
            else:
                assert row["marks"] == 0, row
        assert f"{threshold:.2f}" in page.text_content("#threshold-value")
        seen[value] = rows

    # The page at the low threshold, loaded phrases marked, for people to look at.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(ARTIFACTS / "web_page.png"), full_page=True)

    flagged = {v: sum(r["loaded"] == "1" for r in rows) for v, rows in seen.items()}
    marks = {v: sum(r["marks"] for r in rows) for v, rows in seen.items()}
    assert flagged["0.05"] >= flagged["0.95"]
    assert flagged["0.05"] >= 1  # the tiny model's loaded probabilities sit far above 0.05
    assert marks["0.95"] <= marks["0.05"]
    # Stance does not depend on the loaded threshold.
    assert [r["stance"] for r in seen["0.05"]] == [r["stance"] for r in seen["0.95"]]

    # The summary follows the threshold too, and "reset" goes back to the model's threshold.
    assert f"({flagged['0.05']} of 3)" in page.text_content("#loaded-share")
    before = render_count(page)
    page.click("#threshold-reset")
    wait_render(page, before)
    assert "(model)" in page.text_content("#threshold-value")
    assert session.external_requests() == []


def test_downloads_json_and_csv(session: Session) -> None:
    page = session.page
    analyze(page, TEXT)
    shown = sentence_rows(page)

    name, body = download(page, "#download-json")
    assert name.endswith(".json")
    data = json.loads(body)
    sentences = data["results"][0]["sentences"]
    assert len(sentences) == len(shown) == 3
    assert [s["stance"] for s in sentences] == [r["stance"] for r in shown]
    assert [str(s["loaded"]) for s in sentences] == [r["loaded"] for r in shown]
    assert data["results"][0]["summary"]["sentences"] == 3
    assert "loaded_threshold" in data

    name, body = download(page, "#download-csv")
    assert name.endswith(".csv")
    table = list(csv.reader(io.StringIO(body)))
    assert len(table) == 4, table
    header = table[0]
    assert header[:6] == ["doc_id", "sent_index", "start", "end", "text", "stance"]
    assert [f"prob_{label}" for label in STANCE_LABELS] == header[6:9]
    assert header == SENTENCE_CSV_COLUMNS  # the CLI's columns, one count per technique included
    for line, sentence in zip(table[1:], sentences, strict=True):
        record = dict(zip(header, line, strict=True))
        assert record["text"] == sentence["text"]
        assert record["stance"] == sentence["stance"]
        assert json.loads(record["loaded_spans"]) == sentence["loaded_spans"]
        assert json.loads(record["techniques"]) == sentence["techniques"]
        for technique, column in zip(TECHNIQUES, technique_count_columns(), strict=True):
            assert int(record[column]) == sum(t["technique"] == technique for t in sentence["techniques"])
        assert abs(sum(float(record[f"prob_{label}"]) for label in STANCE_LABELS) - 1.0) < 1e-4
    assert session.external_requests() == []


def test_csv_download_defuses_cells_that_spreadsheets_would_run(session: Session) -> None:
    """A sentence starting with '=' reaches the spreadsheet as text (apostrophe), like the CLI's CSV."""
    page = session.page
    analyze(page, "=SUM(A1:A9) was posted under the report.\nThe valley was calm.")
    _, body = download(page, "#download-csv")
    table = list(csv.reader(io.StringIO(body)))
    texts = [dict(zip(table[0], line, strict=True))["text"] for line in table[1:]]
    assert texts == ["'=SUM(A1:A9) was posted under the report.", "The valley was calm."]


def test_upload_utf8_file_is_rendered_with_its_offsets(session: Session) -> None:
    page = session.page
    wait_model(page)
    before = render_count(page)
    page.set_input_files(
        "#file", files=[{"name": "kabul.txt", "mimeType": "text/plain", "buffer": UPLOAD_TEXT.encode()}]
    )
    wait_render(page, before)
    rows = sentence_rows(page)
    assert len(rows) == 3
    assert page.text_content("#results .document-text") == UPLOAD_TEXT
    assert "kabul.txt" in page.text_content("#source")
    # Marks sit inside their sentence and cover the span text the server reported.
    _, body = download(page, "#download-json")
    data = json.loads(body)
    assert data["results"][0]["doc_id"] == "kabul.txt"
    for sentence, node in zip(
        data["results"][0]["sentences"], page.query_selector_all("#results .sentence"), strict=True
    ):
        marks = [m.text_content() for m in node.query_selector_all("mark.loaded")]
        assert marks == [span["text"] for span in sentence["loaded_spans"]]
    # The slider re-sends the uploaded file with the new threshold.
    set_threshold(page, "Home", "0.05")
    assert len(sentence_rows(page)) == 3


def test_non_utf8_upload_shows_server_error(session: Session) -> None:
    page = session.page
    wait_model(page)
    payload = "Kabul café: the résistance said so.".encode("latin-1")
    with page.expect_response(lambda r: r.url.endswith("/v1/analyze/file")) as info:
        page.set_input_files("#file", files=[{"name": "latin1.txt", "mimeType": "text/plain", "buffer": payload}])
    assert info.value.status == 415
    page.wait_for_selector("#error:not([hidden])")
    message = page.text_content("#error")
    assert "latin1.txt is not UTF-8 text" in message
    assert "invalid_utf8" in message
    assert page.query_selector_all("#results .sentence") == []
    assert page.is_hidden("#summary-card")


def test_server_limit_error_is_shown(session: Session) -> None:
    page = session.page
    wait_model(page)
    long_text = ("The valley was quiet this morning. " * 100)[: MAX_DOC_CHARS + 50]
    page.fill("#input", long_text)
    page.click("#analyze")
    page.wait_for_selector("#error:not([hidden])")
    message = page.text_content("#error")
    assert "413" in message and "document_too_long" in message
    assert f"the limit is {MAX_DOC_CHARS:,}" in message
    # A good request afterwards clears the error.
    analyze(page, TEXT)
    assert page.is_hidden("#error")


def test_api_key_is_sent_and_remembered(keyed_session: Session) -> None:
    page = keyed_session.page
    # Without a key the model card is refused and the page says why.
    page.wait_for_selector("#error:not([hidden])")
    assert "missing or wrong X-API-Key header" in page.text_content("#error")
    assert page.is_visible("#api-key")

    page.fill("#api-key", API_KEY)
    wait_model(page)
    page.wait_for_selector("#error", state="hidden")
    with page.expect_request(lambda r: r.url.endswith("/v1/analyze")) as info:
        analyze(page, TEXT)
    assert info.value.headers.get("x-api-key") == API_KEY
    assert len(sentence_rows(page)) == 3

    # The key survives a reload (localStorage) and is used straight away.
    page.reload()
    wait_model(page)
    assert page.input_value("#api-key") == API_KEY
    assert page.is_hidden("#error")
    assert keyed_session.external_requests() == []
