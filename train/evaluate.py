"""``stancelens evaluate``: one labelled data set, one model, an honest report in MLflow.

Every evaluation logs two runs to the ``stancelens-eval`` experiment: the model and the
TF-IDF baseline refitted on the corpus train split, on exactly the same records, so no
number is ever shown without its baseline. Stance macro-F1 carries a bootstrap 95%
interval because the real-text sets are small.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
from sklearn.metrics import f1_score, precision_recall_curve
from stancelens.model.labels import STANCE_LABELS
from stancelens.model.registry import PROJECT_ROOT
from stancelens.train import tracking
from stancelens.train.calibration import best_f1_threshold, expected_calibration_error
from stancelens.train.metrics import numeric, score_predictions
from stancelens.train.news import NEWS_DIR, load_news
from stancelens.train.records import Record, load_corpus, load_seed_set, load_semeval, read_jsonl, split_records

EVAL_EXPERIMENT = "stancelens-eval"
BENCHMARKS = (
    "news-test", "news-validation", "corpus-test", "corpus-validation", "seed", "semeval-dev", "ptc-techniques",
)  # fmt: skip
# Fields of a record that define extra slices of the report, besides its source.
SLICE_FIELDS = ("leaning", "register", "year")
BOOTSTRAP_SAMPLES = 1000


@dataclass
class Benchmark:
    name: str
    records: list[Record]


def load_benchmark(data: str, shared: Path = PROJECT_ROOT.parent / "shared") -> Benchmark:
    """A named benchmark or any labelled JSONL file in the ANNOTATION.md format."""
    corpus = PROJECT_ROOT / "data" / "corpus"
    if data == "corpus-test":
        return Benchmark(data, split_records(load_corpus(corpus), "test"))
    if data == "corpus-validation":
        return Benchmark(data, split_records(load_corpus(corpus), "validation"))
    if data == "seed":
        return Benchmark(data, load_seed_set(shared, PROJECT_ROOT / "data" / "seeds" / "seed_annotations.jsonl"))
    if data == "semeval-dev":
        return Benchmark(data, load_semeval(shared, "dev"))
    if data in ("news-test", "news-validation"):
        return Benchmark(data, load_news(shared, PROJECT_ROOT / NEWS_DIR, data.removeprefix("news-")))
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"{data!r} is neither a file nor one of the benchmarks {', '.join(BENCHMARKS)}")
    return Benchmark(path.stem, list(read_jsonl(path)))


def bootstrap_macro_f1(gold: Sequence[str], pred: Sequence[str], seed: int = 13) -> tuple[float, float]:
    """95% percentile interval of stance macro-F1 over resampled sentences."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(BOOTSTRAP_SAMPLES):
        idx = rng.integers(0, len(gold), len(gold))
        scores.append(f1_score(gold[idx], pred[idx], labels=list(STANCE_LABELS), average="macro", zero_division=0))
    return float(np.percentile(scores, 2.5)), float(np.percentile(scores, 97.5))


def slice_name(record: Record) -> str:
    source = record.get("source") or "unknown"
    if source.startswith("news/"):
        return "news"  # one slice per page would be noise; leaning and year slices follow
    return source.split("/", 1)[1] if source.startswith(("written/", "seed/")) else source


def slice_keys(record: Record) -> list[str]:
    """Every slice a record belongs to: its source, plus ``leaning=...`` and ``year=...`` for real news."""
    return [slice_name(record)] + [f"{name}={record[name]}" for name in SLICE_FIELDS if record.get(name)]


def full_metrics(records: Sequence[Record], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Headline metrics plus intervals, calibration, best threshold and per-slice figures."""
    metrics = score_predictions(records, rows)
    stance = [(r, p) for r, p in zip(records, rows, strict=True) if r.get("stance")]
    if stance:
        low, high = bootstrap_macro_f1([r["stance"] for r, _ in stance], [p["stance"] for _, p in stance])
        metrics.update(stance_macro_f1_ci_low=low, stance_macro_f1_ci_high=high)
        confidence = [max(p["stance_probs"].values()) for _, p in stance]
        metrics["stance_ece"] = expected_calibration_error(confidence, [r["stance"] == p["stance"] for r, p in stance])
    loaded = [(r, p) for r, p in zip(records, rows, strict=True) if r.get("loaded") is not None]
    if loaded:
        threshold, f1 = best_f1_threshold([p["loaded_prob"] for _, p in loaded], [int(r["loaded"]) for r, _ in loaded])
        metrics.update(loaded_best_threshold=threshold, loaded_best_f1=f1)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        for key in slice_keys(record):
            groups[key].append(i)
    metrics["slices"] = {
        name: {"n": len(idx), **numeric(score_predictions([records[i] for i in idx], [rows[i] for i in idx]))}
        for name, idx in sorted(groups.items())
    }
    return metrics


def _plots(records: Sequence[Record], rows: Sequence[dict[str, Any]], title: str) -> dict[str, plt.Figure]:
    figures: dict[str, plt.Figure] = {}
    stance = [(r, p) for r, p in zip(records, rows, strict=True) if r.get("stance")]
    if stance:
        confidence = np.array([max(p["stance_probs"].values()) for _, p in stance])
        correct = np.array([r["stance"] == p["stance"] for r, p in stance], dtype=float)
        edges = np.linspace(0, 1, 11)
        which = np.clip(np.digitize(confidence, edges[1:-1]), 0, 9)
        centers, accuracy, counts = [], [], []
        for b in range(10):
            mask = which == b
            if mask.any():
                centers.append(confidence[mask].mean())
                accuracy.append(correct[mask].mean())
                counts.append(int(mask.sum()))
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax.plot(centers, accuracy, "o-", label="model")
        for x, y, n in zip(centers, accuracy, counts, strict=True):
            ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(0, 6), fontsize=7, ha="center")
        ax.set_xlabel("stance confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"reliability - {title}")
        ax.legend(loc="upper left")
        fig.tight_layout()
        figures["reliability.png"] = fig
    loaded = [(r, p) for r, p in zip(records, rows, strict=True) if r.get("loaded") is not None]
    if loaded and len({int(r["loaded"]) for r, _ in loaded}) == 2:
        precision, recall, _ = precision_recall_curve(
            [int(r["loaded"]) for r, _ in loaded], [p["loaded_prob"] for _, p in loaded]
        )
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(recall, precision)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"loaded language PR - {title}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        fig.tight_layout()
        figures["loaded_pr_curve.png"] = fig
    return figures


def report_markdown(benchmark: str, kind: str, metrics: dict[str, Any], seconds: float, n: int) -> str:
    lines = [f"# Evaluation: {kind} on {benchmark}", "", f"{n} sentences, {seconds:.1f} s ({n / seconds:.1f}/s)", ""]
    if "stance_macro_f1" in metrics:
        lines += [
            f"Stance macro-F1 **{metrics['stance_macro_f1']:.3f}** "
            f"(95% CI {metrics['stance_macro_f1_ci_low']:.3f}-{metrics['stance_macro_f1_ci_high']:.3f}), "
            f"ECE {metrics['stance_ece']:.3f}",
            "",
            "| class | P | R | F1 |",
            "|---|---|---|---|",
        ]
        for label in STANCE_LABELS:
            lines.append(
                f"| {label} | {metrics[f'stance_{label}_precision']:.3f} | {metrics[f'stance_{label}_recall']:.3f} "
                f"| {metrics[f'stance_{label}_f1']:.3f} |"
            )
        lines.append("")
    if "loaded_f1" in metrics:
        lines += [
            f"Loaded sentences: P {metrics['loaded_precision']:.3f} R {metrics['loaded_recall']:.3f} "
            f"F1 **{metrics['loaded_f1']:.3f}** (best-F1 threshold {metrics['loaded_best_threshold']:.2f} "
            f"-> F1 {metrics['loaded_best_f1']:.3f})",
            "",
            f"Spans: exact F1 {metrics['span_exact_f1']:.3f}, overlap F1 {metrics['span_overlap_f1']:.3f}",
            "",
        ]
    lines += ["| slice | n | stance macro-F1 | loaded F1 |", "|---|---|---|---|"]
    for name, values in metrics["slices"].items():
        stance_f1 = f"{values['stance_macro_f1']:.3f}" if "stance_macro_f1" in values else "-"
        loaded_f1 = f"{values['loaded_f1']:.3f}" if "loaded_f1" in values else "-"
        lines.append(f"| {name} | {values['n']} | {stance_f1} | {loaded_f1} |")
    return "\n".join(lines) + "\n"


def evaluate_one(
    benchmark: Benchmark,
    kind: str,
    predict: Callable[[list[str]], list[dict[str, Any]]],
    tags: dict[str, str],
    out_dir: Path,
) -> dict[str, Any]:
    """Predict, score, plot and log one (benchmark, model) pair as an MLflow run."""
    texts = [r["text"] for r in benchmark.records]
    started = time.perf_counter()
    rows = predict(texts)
    seconds = time.perf_counter() - started
    metrics = full_metrics(benchmark.records, rows)
    report = report_markdown(benchmark.name, kind, metrics, seconds, len(texts))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{benchmark.name}-{kind}.md").write_text(report, encoding="utf-8")
    experiment_id = tracking.use_experiment(EVAL_EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{benchmark.name}:{kind}"):
        mlflow.set_tags({"benchmark": benchmark.name, "model_kind": kind, **tags, **tracking.git_state()})
        mlflow.log_metrics(
            {**numeric(metrics), "inference_seconds": seconds, "sentences_per_s": len(texts) / seconds, "n": len(texts)}
        )
        mlflow.log_dict(metrics["slices"], "slices.json")
        mlflow.log_text(report, "report.md")
        if metrics.get("confusion_matrix"):
            tracking.log_confusion_matrix(
                metrics["confusion_matrix"], list(STANCE_LABELS), "confusion_matrix.png", f"{kind} - {benchmark.name}"
            )
        for name, figure in _plots(benchmark.records, rows, f"{kind} - {benchmark.name}").items():
            mlflow.log_figure(figure, name)
            figure.savefig(out_dir / f"{benchmark.name}-{kind}-{name}")
            plt.close(figure)
    metrics["report"] = report
    metrics["rows"] = rows
    return metrics


def baseline_training_records() -> list[Record]:
    """What the default config trains on (the real train split; the written one without ../shared)."""
    from stancelens.train.config import load_config
    from stancelens.train.datasets_bundle import build_data

    return build_data(load_config(None), PROJECT_ROOT).train


def run_evaluation(data: str, model_ref: str, baseline: bool, out_dir: Path, runtime: str = "torch") -> dict[str, Any]:
    from stancelens.model.predictor import Predictor
    from stancelens.train.baseline import TfidfBaseline

    if data == "ptc-techniques":  # span benchmark over whole articles, not labelled sentences
        from stancelens.train.technique_benchmark import run_technique_evaluation

        return run_technique_evaluation(model_ref, baseline, out_dir, runtime, PROJECT_ROOT.parent / "shared")
    benchmark = load_benchmark(data)
    predictor = Predictor.from_ref(model_ref, runtime=runtime)
    training = predictor.meta.training
    tags = {
        "model_ref": model_ref,
        "model_run_id": str(training.get("mlflow_run_id", "")),
        "experiment_group": str(training.get("experiment_group", "")),
        "runtime": runtime,
    }
    results = {"model": evaluate_one(benchmark, "model", predictor.analyze_sentences, tags, out_dir)}
    if baseline:
        fitted = TfidfBaseline().fit(baseline_training_records())
        results["baseline"] = evaluate_one(
            benchmark, "baseline", fitted.predict_rows, {"model_ref": "tfidf-baseline", "model_run_id": ""}, out_dir
        )
    return results
