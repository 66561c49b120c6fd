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

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from stancelens.model.predictor import Predictor
from stancelens.model.spans import CharSpan, merge_spans
from stancelens.model.techniques import TECHNIQUES, decode_technique_spans, technique_slug
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


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def si_parts(predicted: Sequence[Span], gold: Sequence[Span]) -> tuple[float, int, float, int]:
    """One article's precision numerator, prediction count, recall numerator and gold count."""
    predicted, gold = _merged(predicted), _merged(gold)
    p_sum = sum(_overlap(s, t) / (s[1] - s[0]) for s in predicted for t in gold)
    r_sum = sum(_overlap(s, t) / (t[1] - t[0]) for s in predicted for t in gold)
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


def model_si_spans(predictor: Predictor, ptc: PtcSet, threshold: float | None = None) -> dict[str, list[Span]]:
    """The model's technique spans (any technique) per article, in article offsets."""
    lines = ptc.lines()
    saved = predictor.meta.technique_threshold
    if threshold is not None:
        predictor.meta.technique_threshold = threshold
    try:
        rows = predictor.analyze_sentences([ptc.articles[a][s:e] for a, s, e in lines])
    finally:
        predictor.meta.technique_threshold = saved
    spans: dict[str, list[Span]] = defaultdict(list)
    for (article, start, _), row in zip(lines, rows, strict=True):
        spans[article] += [(start + t["start"], start + t["end"]) for t in row["techniques"]]
    return spans


def model_tc_ranking(predictor: Predictor, ptc: PtcSet) -> list[list[str]]:
    """Techniques ranked by the mean token probability over each gold span's tokens."""
    lines = ptc.lines()
    scores = predictor.technique_token_probs([ptc.articles[a][s:e] for a, s, e in lines])
    by_article: dict[str, list[tuple[int, list[tuple[int, int]], np.ndarray]]] = defaultdict(list)
    for (article, start, _), (offsets, probs) in zip(lines, scores, strict=True):
        by_article[article].append((start, offsets, probs))
    labels = predictor.meta.technique_labels
    ranked = []
    for article, _, start, end in ptc.gold:
        rows, fallback = [], []
        for line_start, offsets, probs in by_article[article]:
            for (a, b), p in zip(offsets, probs, strict=True):
                if b > a:
                    fallback.append(p)
                    if line_start + a < end and start < line_start + b:
                        rows.append(p)
        mean = np.mean(rows or fallback or [np.zeros(len(labels))], axis=0)
        ranked.append([labels[i] for i in np.argsort(-mean, kind="stable")])
    return ranked


def calibrate_threshold(predictor: Predictor, ptc: PtcSet) -> tuple[float, float]:
    """The decoding threshold with the best SI F1 on held-out PTC train articles, and that F1.

    Rare positives keep token probabilities low, so the candidates are a fixed grid reaching
    well below 0.5 plus high quantiles of the model's own token probabilities (an undertrained
    model may never reach the grid). One forward pass serves every candidate: the token
    probabilities are decoded again per value, the way the Predictor decodes them.
    """
    lines = ptc.lines()
    texts = [ptc.articles[a][s:e] for a, s, e in lines]
    scores = predictor.technique_token_probs(texts)
    labels = predictor.meta.technique_labels
    peaks = np.concatenate([probs.max(axis=1) for _, probs in scores if probs.size])
    grid = sorted({*(round(x, 2) for x in np.arange(0.1, 0.61, 0.05)), *np.quantile(peaks, QUANTILES).round(4)})
    gold = gold_si_spans(ptc)
    best = (0.5, -1.0)
    for threshold in grid:
        spans: dict[str, list[Span]] = defaultdict(list)
        for (article, start, _), text, (offsets, probs) in zip(lines, texts, scores, strict=True):
            found = decode_technique_spans(text, labels, [offsets], [probs], float(threshold))
            spans[article] += [(start + t["start"], start + t["end"]) for t in found]
        f1 = si_scores(spans, gold)["si_f1"]
        if f1 > best[1]:
            best = (float(threshold), f1)
    return best


def evaluate_model(predictor: Predictor, ptc: PtcSet) -> dict[str, float]:
    """SI and TC of the model on ``ptc`` (PTC dev in reports)."""
    return {
        **si_scores(model_si_spans(predictor, ptc), gold_si_spans(ptc)),
        **tc_scores(ptc.gold, model_tc_ranking(predictor, ptc)),
    }


# --- baselines --------------------------------------------------------------------------

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
                inside[word] += any(_overlap((match.start(), match.end()), s) for s in spans)
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


def technique_table(metrics: dict[str, Any]) -> list[tuple[str, int, float]]:
    """(technique, gold spans, TC F1) per technique, for reports."""
    return [
        (t, int(metrics.get(f"tc_n_{technique_slug(t)}", 0)), float(metrics.get(f"tc_f1_{technique_slug(t)}", 0.0)))
        for t in TECHNIQUES
    ]


# --- ``stancelens evaluate ptc-techniques`` -------------------------------------------------

BENCHMARK = "ptc-techniques"


class NoTechniqueHead(ValueError):
    """Raised when the technique benchmark is asked of a model trained without PTC data."""


def technique_report(kind: str, metrics: dict[str, float]) -> str:
    """A markdown report of one system's SI and TC scores on PTC dev."""

    def ci(key: str) -> str:
        return f"{metrics[key]:.3f} ({metrics[f'{key}_ci_low']:.3f}-{metrics[f'{key}_ci_high']:.3f})"

    lines = [
        f"# {BENCHMARK} - {kind}",
        "",
        f"SI F1 {ci('si_f1')} (precision {metrics['si_precision']:.3f}, recall {metrics['si_recall']:.3f}); "
        f"TC micro-F1 {ci('tc_micro_f1')} over {int(metrics['tc_spans'])} gold spans.",
        "",
        "| technique | gold spans | TC F1 |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {n} | {f1:.3f} |" for t, n, f1 in technique_table(metrics)]
    return "\n".join(lines) + "\n"


def run_technique_evaluation(
    model_ref: str, baseline: bool, out_dir: Path, runtime: str, shared: Path, holdout_every: int = 10
) -> dict[str, Any]:
    """Score the model (and the baselines) on PTC dev with the official measures; one MLflow run each."""
    import mlflow
    from stancelens.train import tracking
    from stancelens.train.evaluate import EVAL_EXPERIMENT
    from stancelens.train.records import held_out_article

    predictor = Predictor.from_ref(model_ref, runtime=runtime)
    if not predictor.meta.technique_labels:
        raise NoTechniqueHead(f"{model_ref} has no technique head (it was trained without PTC data)")
    dev = PtcSet.load(shared, "dev")
    systems: dict[str, Callable[[], dict[str, float]]] = {"model": lambda: evaluate_model(predictor, dev)}
    if baseline:
        fit_part = PtcSet.load(shared, "train", keep=lambda a: not held_out_article(a, holdout_every))
        calibration = PtcSet.load(shared, "train", keep=lambda a: held_out_article(a, holdout_every))
        systems["baseline"] = lambda: evaluate_baselines(fit_part, calibration, dev)
    training = predictor.meta.training
    results: dict[str, Any] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    experiment_id = tracking.use_experiment(EVAL_EXPERIMENT)
    for kind, score in systems.items():
        metrics = score()
        report = technique_report(kind, metrics)
        (out_dir / f"{BENCHMARK}-{kind}.md").write_text(report, encoding="utf-8")
        tags = {"benchmark": BENCHMARK, "model_kind": kind, **tracking.git_state()}
        if kind == "model":
            tags |= {"model_ref": model_ref, "model_run_id": str(training.get("mlflow_run_id", "")), "runtime": runtime}
        else:
            tags |= {"model_ref": "lexicon-si+tfidf-tc-baseline", "model_run_id": ""}
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{BENCHMARK}:{kind}"):
            mlflow.set_tags(tags)
            mlflow.log_metrics(metrics)
            mlflow.log_text(report, "report.md")
        results[kind] = {**metrics, "report": report}
    return results
