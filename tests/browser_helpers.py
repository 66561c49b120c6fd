"""Reading and driving the analyst page in the browser tests (playwright's sync API)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page
from stancelens.model.labels import STANCE_LABELS


def wait_model(page: Page) -> None:
    page.wait_for_function("document.getElementById('model-info').textContent.includes('loaded threshold')")


def render_count(page: Page) -> int:
    return int(page.get_attribute("#results", "data-render") or 0)


def wait_render(page: Page, after: int) -> None:
    """Wait until the page has drawn a new result (render counter past ``after``) and is idle."""
    page.wait_for_function(
        "n => { const r = document.getElementById('results');"
        " return Number(r.dataset.render || 0) > n && r.dataset.state === 'ready'; }",
        arg=after,
    )


def analyze(page: Page, text: str) -> None:
    wait_model(page)
    before = render_count(page)
    page.fill("#input", text)
    page.click("#analyze")
    wait_render(page, before)


def set_threshold(page: Page, key: str, expected: str) -> None:
    """Move the slider with the keyboard (Home = 0.05, End = 0.95) and wait for the re-analysis."""
    page.focus("#threshold")
    page.keyboard.press(key)
    assert page.input_value("#threshold") == expected
    page.wait_for_function(
        "t => { const r = document.getElementById('results');"
        " return r.dataset.threshold === t && r.dataset.state === 'ready'; }",
        arg=expected,
    )


def sentence_rows(page: Page) -> list[dict[str, object]]:
    """What the page shows for each sentence: stance, flag, marks, hover title, text."""
    return page.eval_on_selector_all(
        "#results .sentence",
        """nodes => nodes.map(n => ({
            stance: n.dataset.stance,
            loaded: n.dataset.loaded,
            marks: n.querySelectorAll('mark.loaded').length,
            title: n.getAttribute('title') || '',
            text: n.textContent,
        }))""",
    )


def title_probs(title: str) -> tuple[dict[str, float], float]:
    stance = {label: float(m.group(1)) for label in STANCE_LABELS if (m := re.search(rf"{label}: ([0-9.]+)", title))}
    loaded = re.search(r"Loaded: ([0-9.]+)", title)
    assert loaded, title
    return stance, float(loaded.group(1))


def download(page: Page, button: str) -> tuple[str, str]:
    with page.expect_download() as info:
        page.click(button)
    dl = info.value
    return dl.suggested_filename, Path(dl.path()).read_text(encoding="utf-8")
