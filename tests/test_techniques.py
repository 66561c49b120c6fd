"""Technique names, their flat columns and span decoding (model/techniques.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from stancelens.model.encoder import resolve_encoder_path
from stancelens.model.schema import flat_sentence_columns, flat_sentence_values
from stancelens.model.techniques import (
    TECHNIQUE_DEFINITIONS,
    TECHNIQUES,
    decode_technique_spans,
    technique_count_columns,
    technique_counts,
    technique_slug,
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_encoder_path()), local_files_only=True)


def offsets_of(tokenizer, text: str) -> list[tuple[int, int]]:
    enc = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    return [(0, 0) if sp else tuple(o) for o, sp in zip(enc["offset_mapping"], enc["special_tokens_mask"], strict=True)]


def marked(text: str, offsets: list[tuple[int, int]], marks: dict[int, list[str]]) -> np.ndarray:
    """Token probabilities: 0.9 on tokens inside the phrases given per technique index, 0.05 elsewhere."""
    probs = np.full((len(offsets), len(TECHNIQUES)), 0.05)
    for k, phrases in marks.items():
        for phrase in phrases:
            a = text.index(phrase)
            for i, (s, e) in enumerate(offsets):
                if e > s and a <= s and e <= a + len(phrase):
                    probs[i, k] = 0.9
    return probs


def test_the_fourteen_ptc_techniques_each_have_a_definition_and_a_column():
    assert len(TECHNIQUES) == 14 and "Loaded_Language" in TECHNIQUES and "Name_Calling,Labeling" in TECHNIQUES
    assert all(len(TECHNIQUE_DEFINITIONS[t]) > 20 for t in TECHNIQUES)
    columns = technique_count_columns()
    assert len(set(columns)) == 14 and all(c.replace("_", "").isalnum() for c in columns)
    assert technique_slug("Whataboutism,Straw_Men,Red_Herring") == "whataboutism_straw_men_red_herring"


def test_spans_of_different_techniques_may_overlap(tokenizer):
    text = "These foreign-backed traitors will burn our homes, the commander warned."
    offsets = offsets_of(tokenizer, text)
    name_calling, fear = TECHNIQUES.index("Name_Calling,Labeling"), TECHNIQUES.index("Appeal_to_fear-prejudice")
    probs = marked(text, offsets, {name_calling: ["foreign-backed traitors"], fear: ["traitors will burn our homes"]})
    spans = decode_technique_spans(text, TECHNIQUES, [offsets], [probs], 0.5)
    found = {(s["technique"], s["text"]) for s in spans}
    assert found == {
        ("Name_Calling,Labeling", "foreign-backed traitors"),
        ("Appeal_to_fear-prejudice", "traitors will burn our homes"),
    }
    assert all(text[s["start"] : s["end"]] == s["text"] and 0.5 <= s["prob"] <= 1 for s in spans)
    assert [s["start"] for s in spans] == sorted(s["start"] for s in spans)


def test_no_technique_head_means_no_spans(tokenizer):
    text = "Nothing to decode."
    offsets = offsets_of(tokenizer, text)
    assert decode_technique_spans(text, [], [offsets], [np.zeros((len(offsets), 0))], 0.5) == []


def test_one_technique_found_in_two_overlapping_windows_is_one_span(tokenizer):
    text = "They are butchers and butchers they remain."
    offsets = offsets_of(tokenizer, text)
    k = TECHNIQUES.index("Repetition")
    probs = marked(text, offsets, {k: ["butchers and butchers"]})
    spans = decode_technique_spans(text, TECHNIQUES, [offsets, offsets], [probs, probs], 0.5)
    assert [(s["technique"], s["text"]) for s in spans] == [("Repetition", "butchers and butchers")]


def test_counts_and_flat_columns_cover_every_technique():
    row = {
        "doc_id": "d", "sent_index": 0, "start": 0, "end": 5, "text": "abcde", "stance": "neutral",
        "stance_probs": {"pro_nrf": 0.1, "pro_taliban": 0.1, "neutral": 0.8}, "loaded": 0, "loaded_prob": 0.1,
        "loaded_spans": [], "windows": 1,
        "techniques": [
            {"technique": "Doubt", "start": 0, "end": 2, "text": "ab", "prob": 0.7},
            {"technique": "Doubt", "start": 3, "end": 5, "text": "de", "prob": 0.6},
            {"technique": "Slogans", "start": 0, "end": 5, "text": "abcde", "prob": 0.5},
        ],
    }  # fmt: skip
    counts = technique_counts(row["techniques"])
    assert counts["Doubt"] == 2 and counts["Slogans"] == 1 and sum(counts.values()) == 3 and len(counts) == 14
    labels = ["pro_nrf", "pro_taliban", "neutral"]
    values = flat_sentence_values(row, labels)
    assert list(values) == flat_sentence_columns(labels)
    assert values["n_doubt"] == 2 and values["n_slogans"] == 1 and values["n_repetition"] == 0


def test_readme_lists_the_same_technique_definitions_as_the_model_card():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Za-z_,-]+)` \| (.+?) \|$", readme, flags=re.MULTILINE))
    assert {name: rows.get(name) for name in TECHNIQUES} == TECHNIQUE_DEFINITIONS
