"""``stancelens evaluate ptc-techniques``: the model and the baselines on PTC dev, logged to MLflow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stancelens.model.predictor import Predictor
from stancelens.model.techniques import TECHNIQUES, technique_slug
from stancelens.train.technique_baselines import evaluate_baselines
from stancelens.train.techniques_eval import PtcSet, evaluate_model


def technique_table(metrics: dict[str, Any]) -> list[tuple[str, int, float]]:
    """(technique, gold spans, TC F1) per technique, for reports."""
    return [
        (t, int(metrics.get(f"tc_n_{technique_slug(t)}", 0)), float(metrics.get(f"tc_f1_{technique_slug(t)}", 0.0)))
        for t in TECHNIQUES
    ]


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
