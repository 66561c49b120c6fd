"""Simple baselines for PTC's two tasks, scored beside the model with the same measures.

- SI: a word lexicon: words that were inside a technique span at least a threshold share of
  the time in the training articles (threshold picked on held-out train articles).
- TC: TF-IDF of the span's words and bigrams with logistic regression over the 14 techniques.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from stancelens.train.techniques_eval import PtcSet, Span, gold_si_spans, overlap, si_scores, tc_scores

_WORD = re.compile(r"\w+")


class LexiconSpanBaseline:
    """SI baseline: words that were inside a technique span at least ``threshold`` of the time in training."""

    def fit(self, ptc: PtcSet, min_count: int = 3) -> LexiconSpanBaseline:
        gold = gold_si_spans(ptc)
        inside, total = Counter(), Counter()
        for article, text in ptc.articles.items():
            spans = gold.get(article, [])
            for match in _WORD.finditer(text):
                word = match.group().lower()
                total[word] += 1
                inside[word] += any(overlap((match.start(), match.end()), s) for s in spans)
        self.rate = {w: inside[w] / n for w, n in total.items() if n >= min_count}
        self.threshold = 0.5
        return self

    def spans(self, ptc: PtcSet, threshold: float | None = None) -> dict[str, list[Span]]:
        threshold = self.threshold if threshold is None else threshold
        out: dict[str, list[Span]] = {}
        for article, text in ptc.articles.items():
            words = [
                (m.start(), m.end()) for m in _WORD.finditer(text) if self.rate.get(m.group().lower(), 0.0) >= threshold
            ]
            joined: list[Span] = []
            for start, end in words:  # neighbouring marked words on one line form one span
                if joined and not text[joined[-1][1] : start].strip(" ,-'") and "\n" not in text[joined[-1][1] : start]:
                    joined[-1] = (joined[-1][0], end)
                else:
                    joined.append((start, end))
            out[article] = joined
        return out

    def calibrate(self, ptc: PtcSet) -> float:
        gold = gold_si_spans(ptc)
        grid = [round(x, 2) for x in np.arange(0.2, 0.91, 0.05)]
        self.threshold = max(grid, key=lambda t: si_scores(self.spans(ptc, t), gold)["si_f1"])
        return self.threshold


class TfidfTechniqueBaseline:
    """TC baseline: TF-IDF of the span's words and bigrams, logistic regression over the 14 techniques."""

    def fit(self, ptc: PtcSet) -> TfidfTechniqueBaseline:
        texts = [ptc.articles[a][s:e] for a, _, s, e in ptc.gold]
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        self.classifier = LogisticRegression(max_iter=2000, C=4.0)
        self.classifier.fit(self.vectorizer.fit_transform(texts), [t for _, t, _, _ in ptc.gold])
        return self

    def ranking(self, ptc: PtcSet) -> list[list[str]]:
        texts = [ptc.articles[a][s:e] for a, _, s, e in ptc.gold]
        probs = self.classifier.predict_proba(self.vectorizer.transform(texts))
        classes = list(self.classifier.classes_)
        return [[classes[i] for i in np.argsort(-p, kind="stable")] for p in probs]


def evaluate_baselines(train: PtcSet, calibration: PtcSet, test: PtcSet) -> dict[str, float]:
    """SI (lexicon, threshold picked on ``calibration``) and TC (TF-IDF) baselines scored on ``test``."""
    lexicon = LexiconSpanBaseline().fit(train)
    lexicon.calibrate(calibration)
    tfidf = TfidfTechniqueBaseline().fit(train)
    return {
        **si_scores(lexicon.spans(test), gold_si_spans(test)),
        **tc_scores(test.gold, tfidf.ranking(test)),
        "si_threshold": lexicon.threshold,
    }
