"""Technique names, their flat columns and span decoding (model/techniques.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from stancelens.model.encoder import resolve_encoder_path
from stancelens.model.schema import flat_sentence_columns, flat_sentence_values
from stancelens.model.technique_classifier import TechniqueClassifier, span_features
from stancelens.model.techniques import (
    TECHNIQUE_DEFINITIONS,
    TECHNIQUES,
    TokenStates,
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


def states_for(offsets: list[tuple[int, int]], probs: np.ndarray, hidden: np.ndarray | None = None) -> TokenStates:
    return TokenStates(offsets, probs, hidden if hidden is not None else np.zeros((len(offsets), 4), np.float32))


def test_spans_are_found_where_any_technique_peaks_and_named_without_a_classifier(tokenizer):
    text = "These foreign-backed traitors will flee, the commander said. Prices rose."
    offsets = offsets_of(tokenizer, text)
    name_calling, doubt = TECHNIQUES.index("Name_Calling,Labeling"), TECHNIQUES.index("Doubt")
    probs = marked(text, offsets, {name_calling: ["foreign-backed traitors"], doubt: ["Prices rose"]})
    probs[:, doubt] = np.where(probs[:, doubt] > 0.5, 0.7, 0.05)
    spans = decode_technique_spans(text, TECHNIQUES, [offsets], states_for(offsets, probs), 0.5, None)
    assert [(s["technique"], s["text"]) for s in spans] == [
        ("Name_Calling,Labeling", "foreign-backed traitors"),
        ("Doubt", "Prices rose"),
    ]
    assert all(text[s["start"] : s["end"]] == s["text"] and 0 < s["prob"] <= 1 for s in spans)


def test_no_technique_head_means_no_spans(tokenizer):
    text = "Nothing to decode."
    offsets = offsets_of(tokenizer, text)
    empty = TokenStates(offsets, np.zeros((len(offsets), 0)), np.zeros((0, 0)))
    assert decode_technique_spans(text, [], [offsets], empty, 0.5, None) == []


def test_a_span_found_in_two_overlapping_windows_is_one_span(tokenizer):
    text = "They are butchers and butchers they remain."
    offsets = offsets_of(tokenizer, text)
    probs = marked(text, offsets, {TECHNIQUES.index("Repetition"): ["butchers and butchers"]})
    both = states_for(offsets + offsets, np.concatenate([probs, probs]))
    spans = decode_technique_spans(text, TECHNIQUES, [offsets, offsets], both, 0.5, None)
    assert [(s["technique"], s["text"]) for s in spans] == [("Repetition", "butchers and butchers")]


def test_the_span_classifier_names_a_span_by_its_hidden_states_and_survives_a_round_trip(tmp_path, tokenizer):
    rng = np.random.default_rng(0)
    # two techniques that differ only in the hidden states: the classifier must tell them apart
    doubt, slogans = TECHNIQUES.index("Doubt"), TECHNIQUES.index("Slogans")
    centres = {"Doubt": np.array([3.0, 0, 0, 0]), "Slogans": np.array([0, 0, 0, 3.0])}
    x, y = [], []
    for name, centre in centres.items():
        for _ in range(40):
            hidden = (centre + rng.normal(0, 0.5, (3, 4))).astype(np.float32)
            x.append(span_features(hidden, np.full((3, 14), 0.1, np.float32), hidden, 12))
            y.append(name)
    classifier = TechniqueClassifier.fit(np.stack(x), y, TECHNIQUES, c=1.0)
    classifier.save(tmp_path)
    loaded = TechniqueClassifier.load(tmp_path)
    probe = span_features(
        np.tile(centres["Slogans"], (3, 1)).astype(np.float32), np.full((3, 14), 0.1), np.ones((3, 4)), 12
    )
    probs = loaded.probabilities(probe[None, :])[0]
    assert int(np.argmax(probs)) == slogans and probs[doubt] < 0.2 and abs(probs.sum() - 1) < 1e-6
    assert probs[TECHNIQUES.index("Repetition")] < 1e-6  # never seen in training: never predicted
    assert TechniqueClassifier.load(tmp_path / "nowhere") is None


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
