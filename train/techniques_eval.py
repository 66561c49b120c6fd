"""PTC's official measures for propaganda techniques, for the model and for simple baselines.

- **SI** (span identification): SemEval-2020 Task 11's partial-overlap precision and recall
  (Da San Martino et al., 2019): a predicted span earns the share of its characters that a gold
  span covers, a gold span the share of its characters that a prediction covers. Overlapping
  spans of one article are merged first on both sides, as the task's SI gold is technique-free.
- **TC** (technique classification): every gold span is given; a system names its technique.
  A span labelled with k techniques gets the system's k best, and micro-F1 counts the matches
  (with one prediction per gold label, micro precision = recall = F1).

Articles, not lines, are the unit (the gold spans can cross lines); the model reads the lines,
the unit it was trained on, and its offsets are shifted back into the article. Intervals are
bootstrap 95% over articles (SI) and over spans (TC).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from stancelens.model.predictor import Predictor
from stancelens.model.spans import CharSpan, merge_spans
from stancelens.model.technique_classifier import TechniqueClassifier
from stancelens.model.techniques import (
    TECHNIQUES,
    TokenStates,
    decode_technique_spans,
    parts_features,
    technique_probabilities,
    technique_slug,
)
from stancelens.train.records import ptc_articles, ptc_gold, ptc_lines

BOOTSTRAP_SAMPLES = 1000
# Quantiles of per-token peak technique probability tried as decoding thresholds.
QUANTILES = (0.7, 0.8, 0.9, 0.95, 0.98)
Span = tuple[int, int]
GoldSpan = tuple[str, str, int, int]  # article, technique, start, end


@dataclass
class PtcSet:
    """Articles and gold technique spans of one PTC split (or of some of its articles)."""

    articles: dict[str, str]
    gold: list[GoldSpan]

    @classmethod
    def load(cls, shared: Path, split: str, keep: Callable[[str], bool] = lambda _: True) -> PtcSet:
        articles = {k: v for k, v in ptc_articles(shared, split).items() if keep(k)}
        return cls(articles, [g for g in ptc_gold(shared, split) if g[0] in articles])

    def lines(self) -> list[tuple[str, int, int]]:
        """``(article, start, end)`` of every line with visible text, in article order."""
        return [(a, s, e) for a, text in self.articles.items() for _, s, e in ptc_lines(text)]


# --- span identification ------------------------------------------------------------


def _merged(spans: Sequence[Span]) -> list[Span]:
    return [(s.start, s.end) for s in merge_spans([CharSpan(a, b, 0.0) for a, b in spans if b > a])]


def overlap(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def si_parts(predicted: Sequence[Span], gold: Sequence[Span]) -> tuple[float, int, float, int]:
    """One article's precision numerator, prediction count, recall numerator and gold count."""
    predicted, gold = _merged(predicted), _merged(gold)
    p_sum = sum(overlap(s, t) / (s[1] - s[0]) for s in predicted for t in gold)
    r_sum = sum(overlap(s, t) / (t[1] - t[0]) for s in predicted for t in gold)
    return p_sum, len(predicted), r_sum, len(gold)


def _prf(parts: np.ndarray) -> tuple[float, float, float]:
    p_sum, n_pred, r_sum, n_gold = parts.sum(axis=0)
    precision = p_sum / n_pred if n_pred else 0.0
    recall = r_sum / n_gold if n_gold else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def si_scores(predicted: dict[str, list[Span]], gold: dict[str, list[Span]], seed: int = 13) -> dict[str, float]:
    """SI precision, recall and F1 over all articles, with a bootstrap interval for F1."""
    keys = sorted(set(predicted) | set(gold))
    parts = np.array([si_parts(predicted.get(k, []), gold.get(k, [])) for k in keys], dtype=np.float64)
    precision, recall, f1 = _prf(parts)
    rng = np.random.default_rng(seed)
    draws = [_prf(parts[rng.integers(0, len(keys), len(keys))])[2] for _ in range(BOOTSTRAP_SAMPLES)]
    return {
        "si_precision": precision,
        "si_recall": recall,
        "si_f1": f1,
        "si_f1_ci_low": float(np.percentile(draws, 2.5)),
        "si_f1_ci_high": float(np.percentile(draws, 97.5)),
        "si_predicted_spans": float(parts[:, 1].sum()),
        "si_gold_spans": float(parts[:, 3].sum()),
    }


def gold_si_spans(ptc: PtcSet) -> dict[str, list[Span]]:
    spans: dict[str, list[Span]] = defaultdict(list)
    for article, _, start, end in ptc.gold:
        spans[article].append((start, end))
    return spans


# --- technique classification ---------------------------------------------------------


def tc_scores(gold: Sequence[GoldSpan], ranked: Sequence[Sequence[str]], seed: int = 13) -> dict[str, float]:
    """Micro-F1 and per-technique F1 when each gold span group gets its ``k`` best-ranked techniques.

    ``ranked[i]`` ranks the techniques for the span of ``gold[i]``; spans that share offsets form
    one group, and each group is scored once.
    """
    groups: dict[tuple[str, int, int], list[str]] = defaultdict(list)
    ranking: dict[tuple[str, int, int], Sequence[str]] = {}
    for (article, technique, start, end), order in zip(gold, ranked, strict=True):
        groups[(article, start, end)].append(technique)
        ranking[(article, start, end)] = order
    tp, fp, fn = Counter(), Counter(), Counter()
    hits = []
    for key, labels in groups.items():
        predicted = Counter(ranking[key][: len(labels)])
        wanted = Counter(labels)
        matched = predicted & wanted
        tp.update(matched)
        fp.update(predicted - matched)
        fn.update(wanted - matched)
        hits += [1] * sum(matched.values()) + [0] * (len(labels) - sum(matched.values()))
    out: dict[str, float] = {"tc_micro_f1": sum(tp.values()) / max(len(hits), 1), "tc_spans": float(len(hits))}
    rng = np.random.default_rng(seed)
    values = np.array(hits, dtype=np.float64)
    draws = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(BOOTSTRAP_SAMPLES)]
    out["tc_micro_f1_ci_low"], out["tc_micro_f1_ci_high"] = (
        float(np.percentile(draws, 2.5)),
        float(np.percentile(draws, 97.5)),
    )
    f1s = []
    for technique in TECHNIQUES:
        denominator = 2 * tp[technique] + fp[technique] + fn[technique]
        f1 = 2 * tp[technique] / denominator if denominator else 0.0
        out[f"tc_f1_{technique_slug(technique)}"] = f1
        out[f"tc_n_{technique_slug(technique)}"] = float(tp[technique] + fn[technique])
        f1s.append(f1)
    out["tc_macro_f1"] = float(np.mean(f1s))
    return out


# --- the model ------------------------------------------------------------------------


def model_si_spans(predictor: Predictor, ptc: PtcSet) -> dict[str, list[Span]]:
    """The model's technique spans per article, in article offsets, exactly as users get them."""
    lines = ptc.lines()
    rows = predictor.analyze_sentences([ptc.articles[a][s:e] for a, s, e in lines])
    spans: dict[str, list[Span]] = defaultdict(list)
    for (article, start, _), row in zip(lines, rows, strict=True):
        spans[article] += [(start + t["start"], start + t["end"]) for t in row["techniques"]]
    return spans


@dataclass
class LineStates:
    """The model's token states of the lines of a PTC set, by article, for span-level questions."""

    ptc: PtcSet
    lines: list[tuple[str, int, int]]
    states: list[TokenStates]
    _by_article: dict[str, list[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_article = defaultdict(list)
        for i, (article, _, _) in enumerate(self.lines):
            self._by_article[article].append(i)

    @classmethod
    def compute(cls, predictor: Predictor, ptc: PtcSet, gold_lines_only: bool = False) -> LineStates:
        """All lines (span identification needs them), or only those a gold span touches (classification)."""
        lines = ptc.lines()
        if gold_lines_only:
            spans = gold_si_spans(ptc)
            lines = [(a, s, e) for a, s, e in lines if any(gs < e and s < ge for gs, ge in spans.get(a, ()))]
        return cls(ptc, lines, predictor.token_states([ptc.articles[a][s:e] for a, s, e in lines]))

    def parts(self, article: str, start: int, end: int) -> list[tuple[TokenStates, np.ndarray]]:
        """The lines a span (article offsets) touches, each with the mask of its tokens inside the span."""
        out = []
        for i in self._by_article[article]:
            _, line_start, line_end = self.lines[i]
            if line_start < end and start < line_end:
                out.append((self.states[i], self.states[i].inside(start, end, shift=line_start)))
        return out

    def gold_features(self) -> np.ndarray:
        """The span classifier's features of every gold span, in ``ptc.gold`` order."""
        return np.stack([parts_features(self.parts(a, s, e), e - s) for a, _, s, e in self.ptc.gold])

    def si_spans(self, labels: Sequence[str], threshold: float) -> dict[str, list[Span]]:
        """Technique spans per article at ``threshold``, decoded as the Predictor decodes them (naming aside)."""
        spans: dict[str, list[Span]] = defaultdict(list)
        for (article, start, end), states in zip(self.lines, self.states, strict=True):
            text = self.ptc.articles[article][start:end]
            found = decode_technique_spans(text, labels, [states.offsets], states, threshold, None)
            spans[article] += [(start + t["start"], start + t["end"]) for t in found]
        return spans


def model_tc_ranking(predictor: Predictor, ptc: PtcSet, states: LineStates | None = None) -> list[list[str]]:
    """Techniques ranked for each gold span, as the Predictor names a span it found."""
    states = states or LineStates.compute(predictor, ptc, gold_lines_only=True)
    labels = predictor.meta.technique_labels
    ranked = []
    for article, _, start, end in ptc.gold:
        probs = technique_probabilities(states.parts(article, start, end), end - start, predictor.technique_classifier)
        ranked.append([labels[i] for i in np.argsort(-probs, kind="stable")])
    return ranked


def calibrate_threshold(predictor: Predictor, ptc: PtcSet, states: LineStates | None = None) -> tuple[float, float]:
    """The decoding threshold with the best SI F1 on held-out PTC train articles, and that F1.

    Rare positives keep token probabilities low, so the candidates are a fixed grid reaching
    well below 0.5 plus high quantiles of the model's own token probabilities (an undertrained
    model may never reach the grid). One forward pass serves every candidate.
    """
    states = states or LineStates.compute(predictor, ptc)
    peaks = np.concatenate([s.probs.max(axis=1) for s in states.states if s.probs.size])
    grid = sorted({*(round(x, 2) for x in np.arange(0.1, 0.61, 0.05)), *np.quantile(peaks, QUANTILES).round(4)})
    gold = gold_si_spans(ptc)
    best = (0.5, -1.0)
    for threshold in grid:
        f1 = si_scores(states.si_spans(predictor.meta.technique_labels, float(threshold)), gold)["si_f1"]
        if f1 > best[1]:
            best = (float(threshold), f1)
    return best


def fit_technique_classifier(
    predictor: Predictor,
    fit_part: PtcSet,
    held_out: LineStates,
    grid: Sequence[float] = (0.001, 0.003, 0.01, 0.03, 0.1),
) -> tuple[TechniqueClassifier, float, float]:
    """The span classifier fitted on ``fit_part``'s gold spans, its L2 strength picked by TC micro-F1 on ``held_out``.

    Returns the classifier refitted on both parts, the chosen ``C`` and its held-out TC micro-F1.
    """
    labels = predictor.meta.technique_labels
    fit_states = LineStates.compute(predictor, fit_part, gold_lines_only=True)
    x_fit, y_fit = fit_states.gold_features(), [t for _, t, _, _ in fit_part.gold]
    x_held, y_held = held_out.gold_features(), [t for _, t, _, _ in held_out.ptc.gold]
    best = (grid[0], -1.0)
    for c in grid:
        probs = TechniqueClassifier.fit(x_fit, y_fit, labels, c).probabilities(x_held)
        ranked = [[labels[i] for i in np.argsort(-p, kind="stable")] for p in probs]
        f1 = tc_scores(held_out.ptc.gold, ranked)["tc_micro_f1"]
        if f1 > best[1]:
            best = (c, f1)
    both = TechniqueClassifier.fit(np.concatenate([x_fit, x_held]), y_fit + y_held, labels, best[0])
    return both, best[0], best[1]


def evaluate_model(predictor: Predictor, ptc: PtcSet) -> dict[str, float]:
    """SI and TC of the model on ``ptc`` (PTC dev in reports)."""
    return {
        **si_scores(model_si_spans(predictor, ptc), gold_si_spans(ptc)),
        **tc_scores(ptc.gold, model_tc_ranking(predictor, ptc)),
    }
