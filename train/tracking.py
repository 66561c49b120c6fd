"""MLflow bookkeeping: what every run records, and the candidate/champion registry rule."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema
from stancelens.model.registry import PROJECT_ROOT, PYFUNC_ARTIFACT, REGISTERED_NAME, artifact_root, tracking_uri

# The saved (best-epoch, calibrated) model's validation stance macro-F1, logged once per run.
# Not ``val_stance_macro_f1``: that one is also logged per epoch, and MLflow's "latest" value
# is the last epoch's, which after early stopping is not the model that was saved.
SELECTION_METRIC = "selected_val_stance_macro_f1"
# Its bootstrap 95% interval: half its width is the non-inferiority margin of a candidate that adds an output.
SELECTION_CI = ("selected_val_stance_macro_f1_ci_low", "selected_val_stance_macro_f1_ci_high")
# Set to "true" on a run whose model has the propaganda-technique head.
TECHNIQUE_HEAD_TAG = "model.technique_head"


def use_experiment(name: str) -> str:
    """Point MLflow at the project store and return the experiment id, creating it if needed."""
    mlflow.set_tracking_uri(tracking_uri())
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        root = artifact_root()
        return mlflow.create_experiment(name, artifact_location=f"{root}/{name}" if root else None)
    return experiment.experiment_id


def git_state() -> dict[str, str]:
    """The code version: commit hash and whether the working tree had uncommitted changes."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "unknown"

    return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": str(bool(git("status", "--porcelain")))}


def log_run_inputs(flat_config: dict[str, Any], data_info: dict[str, Any]) -> None:
    """Config, code version and data version: what a run needs to be reproduced."""
    mlflow.log_params(flat_config)
    mlflow.log_dict(flat_config, "config.json")
    mlflow.log_dict(data_info, "data.json")
    mlflow.set_tags(git_state())
    mlflow.set_tags({f"data.{k}": v for k, v in data_info.items() if not isinstance(v, dict)})


def log_confusion_matrix(matrix: list[list[int]], labels: list[str], artifact: str, title: str) -> None:
    """A confusion-matrix PNG: analysts read the off-diagonal cells faster than a table."""
    if not matrix:
        return
    fig, ax = plt.subplots(figsize=(4.6, 4))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    fig.tight_layout()
    mlflow.log_figure(fig, artifact)
    plt.close(fig)


def log_and_register_model(
    model_dir: Path, register: bool, rescore: Callable[[str], float] | None = None
) -> dict[str, Any]:
    """Log the folder as a pyfunc model; register it as candidate and maybe promote it.

    The pyfunc is logged from code (no pickled Python object), with the project's
    ``model`` package shipped beside it, so ``mlflow models serve`` works on its own.
    """
    with tempfile.TemporaryDirectory() as tmp:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_SOURCE),
            artifacts={PYFUNC_ARTIFACT: str(model_dir)},
            code_paths=[str(_stage_model_package(Path(tmp)))],
            registered_model_name=REGISTERED_NAME if register else None,
            pip_requirements=_pip_requirements(),
            signature=_pyfunc_signature(),
        )
    if not register:
        return {"registered": False}
    version = str(info.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(REGISTERED_NAME, "candidate", version)
    return promote_if_better(client, version, rescore)


# The pyfunc's file, found without importing it (importing runs its mlflow.models.set_model).
PYFUNC_SOURCE = Path(importlib.util.find_spec("stancelens.model").origin).parent / "pyfunc.py"


def _stage_model_package(tmp: Path) -> Path:
    """``stancelens/`` holding only ``model/``: what the pyfunc imports, under its installed name.

    MLflow puts the logged code folder on ``sys.path``, so ``stancelens.model.predictor`` resolves
    inside a served model without the project installed; the CLI, trainer and server stay out.
    """
    package = tmp / "stancelens"
    package.mkdir()
    (package / "__init__.py").write_text('"""StanceLens (the model package only, as logged with a pyfunc)."""\n')
    source = PYFUNC_SOURCE.parent
    shutil.copytree(source, package / "model", ignore=shutil.ignore_patterns("__pycache__"))
    return package


# Tag (from the data info) that says which validation records a run was scored on.
VALIDATION_DATA_TAG = "data.validation_sha"


def promote_if_better(
    client: MlflowClient, version: str, rescore: Callable[[str], float] | None = None
) -> dict[str, Any]:
    """Make ``version`` the champion only if it beats the current one on validation macro-F1.

    One exception: a candidate with an output the champion lacks (the technique head) is
    promoted when it is not worse than the champion by more than half its own 95% interval
    (non-inferiority), since otherwise no model with the new output could ever be served
    while its stance score only ties. Scores are only comparable on the same validation records. When the corpus has
    changed since the champion was trained, ``rescore`` (given a ``models:/`` URI) scores
    the champion on this run's validation split, so a new corpus version is judged
    against the old model fairly instead of against a number from other data.
    """
    run = client.get_run(mlflow.active_run().info.run_id)
    new_score = run.data.metrics.get(SELECTION_METRIC, float("-inf"))
    basis = "no champion yet"
    try:
        champion = client.get_model_version_by_alias(REGISTERED_NAME, "champion")
    except MlflowException:
        champion = None
    old_score, old_version = None, None
    if champion is not None:
        old_version = champion.version
        champion_run = client.get_run(champion.run_id)
        old_score = champion_run.data.metrics.get(SELECTION_METRIC)
        basis = "both scored on the same validation split"
        same_data = champion_run.data.tags.get(VALIDATION_DATA_TAG) == run.data.tags.get(VALIDATION_DATA_TAG)
        if old_score is None or not same_data:
            if rescore is not None:
                old_score = rescore(f"models:/{REGISTERED_NAME}/{champion.version}")
                basis = "champion re-scored on this run's validation split (the data changed)"
            else:
                old_score = float("-inf") if old_score is None else old_score
                basis = "champion's score is from other validation data (not re-scored)"
    adds_output = run.data.tags.get(TECHNIQUE_HEAD_TAG) == "true" and (
        champion is None or champion_run.data.tags.get(TECHNIQUE_HEAD_TAG) != "true"
    )
    low, high = (run.data.metrics.get(name) for name in SELECTION_CI)
    margin = (high - low) / 2 if adds_output and low is not None and high is not None else 0.0
    promoted = old_score is None or new_score > old_score or (adds_output and new_score >= old_score - margin)
    if promoted:
        client.set_registered_model_alias(REGISTERED_NAME, "champion", version)
    comparison = {
        "metric": SELECTION_METRIC,
        "candidate_version": version,
        "candidate_score": new_score,
        "champion_version": old_version,
        "champion_score": old_score,
        "basis": basis,
        "non_inferiority_margin": margin,
        "adds_technique_head": adds_output,
        "promoted": promoted,
    }
    mlflow.log_dict(comparison, "champion_comparison.json")
    mlflow.set_tags({"registry.version": version, "registry.promoted": str(promoted)})
    return comparison


def _pyfunc_signature() -> ModelSignature:
    """A ``text`` column in; params select sentence mode and override the loaded threshold (<0: model's)."""
    return ModelSignature(
        inputs=Schema([ColSpec("string", "text")]),
        params=ParamSchema([ParamSpec("sentences", "boolean", False), ParamSpec("loaded_threshold", "double", -1.0)]),
    )


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    # everything model/ imports at load time, so `mlflow models serve` with its own environment works
    names = [
        "torch",
        "transformers",
        "tokenizers",
        "safetensors",
        "numpy",
        "pandas",
        "mlflow",
        "onnx",
        "onnxruntime",
        "scikit-learn",
        "psutil",
    ]
    return [f"{name}=={version(name)}" for name in names]


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
