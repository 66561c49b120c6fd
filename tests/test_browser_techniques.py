"""The page's technique highlights: the Highlight filter, the legend and the summary counts."""

from __future__ import annotations

import json

from stancelens.model.labels import STANCE_LABELS
from stancelens.model.techniques import TECHNIQUE_DEFINITIONS, TECHNIQUES

# the page helpers, the server and browser fixtures, and the skips without chromium or playwright
from tests.test_browser import (  # noqa: F401
    Session,
    analyze,
    browser,
    download,
    render_count,
    server,
    session,
    wait_render,
)

PROPAGANDA_TEXT = (
    "These foreign-backed traitors will burn every home in the valley unless the nation stands up now! "
    "Everyone knows the so-called government is a gang of criminals and puppets. "
    "Prices of flour rose in Kabul this week."
)


def test_technique_filter_highlights_each_technique_with_a_legend(session: Session) -> None:  # noqa: F811
    """Highlight: all techniques, one technique, back to loaded language; marks match the server's spans."""
    page = session.page
    analyze(page, PROPAGANDA_TEXT)
    _, body = download(page, "#download-json")
    result = json.loads(body)["results"][0]
    spans = [t for row in result["sentences"] for t in row["techniques"]]
    assert spans, "the test model should find some technique span in this text"
    options = page.eval_on_selector_all("#technique-filter option", "os => os.map(o => o.value)")
    assert options == ["loaded", "all", *TECHNIQUES]
    # The summary counts techniques per document, by name.
    counts = page.eval_on_selector_all(
        "[data-testid=technique-counts] .chip", "cs => cs.map(c => [c.dataset.technique, c.textContent])"
    )
    assert {name for name, _ in counts} == {t["technique"] for t in spans}

    def shown() -> list[tuple[str, str]]:
        return page.eval_on_selector_all(
            "#results mark.technique", "ms => ms.map(m => [m.dataset.technique, m.textContent])"
        )

    before = render_count(page)
    page.select_option("#technique-filter", "all")
    wait_render(page, before)
    marks = shown()
    assert {name for names, _ in marks for name in names.split("|")} == {t["technique"] for t in spans}
    assert page.text_content("#results .document-text") == PROPAGANDA_TEXT  # highlighting never changes the text
    assert page.query_selector_all("#results mark.loaded") == []
    for sentence, node in zip(result["sentences"], page.query_selector_all("#results .sentence"), strict=True):
        covered = "".join(m.text_content() for m in node.query_selector_all("mark.technique"))
        union = _union([(t["start"], t["end"]) for t in sentence["techniques"]])
        assert covered == "".join(sentence["text"][a:b] for a, b in union)  # overlaps cut into pieces
    legend = page.eval_on_selector_all(
        "#legend .technique-legend", "ls => ls.map(l => [l.dataset.technique, l.getAttribute('title')])"
    )
    assert [name for name, _ in legend] == list(TECHNIQUES)
    assert all(title == TECHNIQUE_DEFINITIONS[name] for name, title in legend)

    one = spans[0]["technique"]
    before = render_count(page)
    page.select_option("#technique-filter", one)
    wait_render(page, before)
    assert [tuple(m) for m in shown()] == [(one, t["text"]) for t in spans if t["technique"] == one]
    page.hover("#results mark.technique >> nth=0")
    hovered = page.eval_on_selector("#results mark.technique:hover", "m => m.getAttribute('title')")
    assert hovered.startswith(f"{one} · ") and TECHNIQUE_DEFINITIONS[one] in hovered

    before = render_count(page)
    page.select_option("#technique-filter", "loaded")
    wait_render(page, before)
    assert shown() == []
    assert page.eval_on_selector_all("#legend [data-stance]", "ns => ns.map(n => n.dataset.stance)") == list(
        STANCE_LABELS
    )
    assert session.external_requests() == []


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
