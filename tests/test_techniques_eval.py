"""PTC's official SI and TC measures and the technique baselines (train/techniques_eval.py)."""

from __future__ import annotations

import pytest
from stancelens.train.technique_baselines import LexiconSpanBaseline, TfidfTechniqueBaseline
from stancelens.train.techniques_eval import PtcSet, si_parts, si_scores, tc_scores


def test_si_partial_overlap_matches_the_semeval_definition():
    # gold [0, 10); prediction [5, 15): half of the prediction is right, half of the gold is found
    p_sum, n_pred, r_sum, n_gold = si_parts([(5, 15)], [(0, 10)])
    assert (p_sum, n_pred, r_sum, n_gold) == (0.5, 1, 0.5, 1)
    scores = si_scores({"a": [(5, 15)]}, {"a": [(0, 10)]})
    assert scores["si_precision"] == pytest.approx(0.5) and scores["si_f1"] == pytest.approx(0.5)


def test_si_merges_overlapping_spans_and_counts_misses():
    # two overlapping predictions are one span [0, 10) that covers gold exactly; a second gold span is missed
    scores = si_scores({"a": [(0, 6), (4, 10)]}, {"a": [(0, 10), (20, 30)], "b": [(0, 4)]})
    assert scores["si_precision"] == pytest.approx(1.0)
    assert scores["si_recall"] == pytest.approx(1 / 3)
    assert scores["si_predicted_spans"] == 1 and scores["si_gold_spans"] == 3
    assert scores["si_f1_ci_low"] <= scores["si_f1"] <= scores["si_f1_ci_high"]


def test_si_of_nothing_predicted_is_zero_not_an_error():
    assert si_scores({}, {"a": [(0, 3)]})["si_f1"] == 0.0


def test_tc_gives_a_span_with_two_labels_its_two_best_techniques():
    gold = [("a", "Doubt", 0, 5), ("a", "Slogans", 0, 5), ("a", "Repetition", 10, 20)]
    ranking = ["Slogans", "Doubt", "Repetition"]
    scores = tc_scores(gold, [ranking, ranking, ["Doubt", "Repetition"]])
    # span (0, 5): top-2 {Slogans, Doubt} matches both labels; span (10, 20): Doubt is wrong
    assert scores["tc_micro_f1"] == pytest.approx(2 / 3) and scores["tc_spans"] == 3
    assert scores["tc_f1_slogans"] == 1.0 and scores["tc_f1_repetition"] == 0.0
    assert scores["tc_f1_doubt"] == pytest.approx(2 / 3)  # one hit, one false positive


def test_baselines_learn_from_the_training_articles():
    train = PtcSet(
        {"1": "The traitors fled.\nThe traitors lied.\nRain fell.", "2": "Traitors again.\nRain again."},
        [("1", "Name_Calling,Labeling", 4, 12), ("1", "Name_Calling,Labeling", 23, 31),
         ("2", "Name_Calling,Labeling", 0, 8), ("1", "Doubt", 23, 36), ("2", "Doubt", 0, 15)],
    )  # fmt: skip
    lexicon = LexiconSpanBaseline().fit(train)
    spans = lexicon.spans(PtcSet({"x": "Traitors and rain."}, []), threshold=0.9)
    assert spans == {"x": [(0, 8)]}
    tfidf = TfidfTechniqueBaseline().fit(PtcSet(train.articles, train.gold * 2))  # min_df=2 needs repeats
    ranked = tfidf.ranking(PtcSet({"y": "The traitors lied."}, [("y", "Doubt", 0, 18)]))
    assert ranked[0][0] in {"Doubt", "Name_Calling,Labeling"} and len(ranked[0]) == 2
