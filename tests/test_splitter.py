"""The news sentence splitter: a table of real-world cases with the cuts expected.

Every case is written for this test (no third-party text); ``|`` marks where one sentence
ends and the next begins, so each row reads as the analyst would cut it.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from stancelens.model.splitter import split_sentences

CASES = [
    # abbreviations and titles
    "Kabul fell. | Mr. Saleh fled.",
    "Mr. Massoud met Dr. Abdullah in Dushanbe.",
    "He flew to the U.S. | Mr. Smith followed a day later.",
    "The U.S. Embassy closed its doors on Sunday.",
    "Officials in the U.K. said nothing. | The U.N. mission asked for access.",
    "Gen. Miller left Kabul in July. | Lt. Col. Ahmadi stayed.",
    "Prof. Rahimi teaches in Herat. | Sen. Graham disagreed.",
    "The talks began on Sept. 9 in Doha.",
    "The deadline was Aug. 31 and nobody moved it.",
    "Road No. 5 was closed by the authorities.",
    "The meeting ended at 5 p.m. on Monday.",
    "The meeting ended at 5 p.m. | The fighters left.",
    "A. Massoud spoke to reporters.",
    "Ahmad S. Massoud spoke to reporters.",
    "The video was posted on platform X. | Taliban spokesmen denied it.",
    "Fighters moved 3.5 km up the valley. | They stopped at dusk.",
    "The report cites 1,200 cases, i.e. more than last year.",
    # quotation marks and other punctuation
    'He said: "We will never surrender." | Then he left the room.',
    "“We hold every district,” the spokesman said. | “Nobody can stop us.”",
    "Is the resistance finished? | Not yet, its leaders say.",
    "They won! | Or so they claimed.",
    "The valley is quiet . . . for now.",
    "Aid was cut (again). | Families left.",
    "The statement ended with a promise. . . | No details followed.",
    # missing spaces after a full stop
    "Kabul fell.|The Taliban entered the palace.",
    "The group denied it.|Officials later confirmed the raid.",
    "Visit the agency's site at example.com for details.",
    # line breaks inside prose and hard line boundaries
    "The Taliban said on Monday that their fighters had\nentered the capital after a\nweek of fighting."
    " | The resistance denied it.",
    "Fighters tried to prevent the\nTaliban from seizing the last road.",
    "Taliban seize valley\n| The Taliban said on Monday they had taken the valley.",
    "Taliban Claim Victory in Northern Valley\n| Resistance Leaders Deny Losing Ground",
    "Key points:\n| - The valley fell.\n| - The leaders fled.",
    "First paragraph ends here\n\n| Second paragraph starts here.",
    "Read more\n| Open in App",
    "Published January 11, 2022\n| Kabul residents woke to gunfire.",
    "1. Talks resumed.\n| 2. Prisoners were freed.",
    "Photo: Reuters\n| Fighters patrol the main road.",
    "By a staff reporter\n\n| KABUL: The ministry announced new rules.",
    # datelines and furniture
    "KABUL, Sept. 6 (Reuters) - The Taliban said they had captured the valley.",
    "/TASS/. | Officials gave no details.",
    # mixed scripts and odd spacing
    "The word jihad (جهاد) appears twice. | The statement was in Dari.",
    "  Leading spaces are dropped.   | Trailing ones too.  ",
    "Three dots... and then silence.",
]


def _expected(case: str) -> list[str]:
    return [piece.strip() for piece in case.split("|") if piece.strip()]


@pytest.mark.parametrize("case", CASES, ids=[c[:40] for c in CASES])
def test_news_cuts(case: str):
    text = case.replace("| ", "").replace("|", "")
    got = [text[s.start : s.end] for s in split_sentences(text)]
    assert got == _expected(case)


def test_at_least_forty_cases():
    assert len(CASES) >= 40


def test_offsets_index_the_original_text():
    text = "  Kabul fell.The Taliban\nentered the city.\n\n- A bullet\nHeadline Without Stop\nBody text here."
    spans = split_sentences(text)
    for s in spans:
        piece = text[s.start : s.end]
        assert piece == piece.strip() and piece
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    assert all(a.end <= b.start for a, b in pairwise(spans))


def test_empty_and_whitespace_only():
    assert split_sentences("") == []
    assert split_sentences(" \n\n\t ") == []
