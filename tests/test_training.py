"""A real training run through the CLI, then the MLflow store checked for what it must hold."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from stancelens.model.io import read_meta

from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def client(trained):
    mlflow.set_tracking_uri(trained["env"]["MLFLOW_TRACKING_URI"])
    return MlflowClient()


def test_training_prints_the_model_and_registry_outcome(trained):
    assert "promoted to champion" in trained["output"]
    assert "validation:   stance macro-F1" in trained["output"]


def test_transformer_run_records_config_code_data_and_metrics(trained, client):
    run = client.get_run(trained["run_id"])
    assert run.data.params["train.max_steps"] == "6"
    assert run.data.tags["model_kind"] == "transformer"
    assert len(run.data.tags["git_commit"]) in (7, 40) or run.data.tags["git_commit"] == "unknown"
    assert len(run.data.tags["data.train_sha"]) == 16 and int(run.data.tags["data.train_n"]) > 0
    metrics = run.data.metrics
    for name in (
        "val_stance_macro_f1",
        "val_stance_pro_nrf_f1",
        "val_loaded_f1",
        "val_loaded_roc_auc",
        "val_span_exact_f1",
        "val_span_overlap_f1",
        "test_stance_macro_f1",
        "train_sentences_per_s",
        "train_sentences_per_s_mean",
    ):
        assert name in metrics, name
    history = client.get_metric_history(run.info.run_id, "val_stance_macro_f1")
    assert len(history) >= 2  # per epoch, plus the final value of the saved model
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "data.json", "confusion_validation.png", "champion_comparison.json"} <= artifacts


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "ptc").is_dir(), reason="../shared/data/ptc absent")
def test_technique_parts_are_fitted_on_ptc_train_and_scored_on_ptc_dev(trained, client):
    from stancelens.model.techniques import TECHNIQUES

    meta = read_meta(trained["model_dir"])
    assert meta.technique_labels == list(TECHNIQUES) and 0 < meta.technique_threshold < 1
    run = client.get_run(trained["run_id"])
    metrics = run.data.metrics
    assert metrics["technique_threshold"] == pytest.approx(meta.technique_threshold)
    assert 0 <= metrics["ptc_holdout_si_f1"] <= 1 and 0 <= metrics["ptc_holdout_tc_micro_f1"] <= 1
    assert (trained["model_dir"] / "technique_classifier.safetensors").is_file()
    assert float(run.data.params["technique_classifier_c"]) > 0
    for name in ("ptc_dev_si_f1", "ptc_dev_si_f1_ci_low", "ptc_dev_tc_micro_f1", "ptc_dev_tc_f1_loaded_language"):
        assert 0 <= metrics[name] <= 1, name
    assert metrics["ptc_dev_tc_spans"] == 1063  # every gold span of PTC dev is classified
    data = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/data.json")
    assert data["technique_pool_sources"].get("ptc", 0) > 4000  # drawn afresh each epoch
    assert "technique head: " in data["notes"]


def test_baseline_run_sits_beside_the_transformer_run(trained, client):
    run = client.get_run(trained["run_id"])
    runs = client.search_runs([run.info.experiment_id], "tags.model_kind = 'baseline'")
    assert runs, "no baseline run logged"
    baseline = runs[0]
    assert baseline.data.tags["data.validation_sha"] == run.data.tags["data.validation_sha"]
    assert "val_stance_macro_f1" in baseline.data.metrics and "test_loaded_f1" in baseline.data.metrics


def test_model_is_registered_with_candidate_and_champion_aliases(trained, client):
    candidate = client.get_model_version_by_alias("stancelens", "candidate")
    champion = client.get_model_version_by_alias("stancelens", "champion")
    assert candidate.run_id == trained["run_id"] == champion.run_id
    comparison = mlflow.artifacts.load_dict(f"runs:/{trained['run_id']}/champion_comparison.json")
    assert comparison["promoted"] is True and comparison["metric"] == "selected_val_stance_macro_f1"


def test_saved_folder_records_its_training(model_dir, trained):
    meta = read_meta(model_dir)
    assert meta.training["mlflow_run_id"] == trained["run_id"]
    assert meta.training["stop_reason"] == "max_steps"
    assert meta.training["data"]["train_n"] > 0


def test_a_weaker_candidate_does_not_replace_the_champion(trained, client):
    from stancelens.train.tracking import promote_if_better

    champion = client.get_model_version_by_alias("stancelens", "champion")
    experiment = client.get_run(trained["run_id"]).info.experiment_id
    with mlflow.start_run(experiment_id=experiment, run_name="weaker"):
        mlflow.log_metric("selected_val_stance_macro_f1", -1.0)
        outcome = promote_if_better(client, "999")
    assert outcome["promoted"] is False and outcome["champion_version"] == champion.version
    assert client.get_model_version_by_alias("stancelens", "champion").version == champion.version


def test_a_candidate_adding_the_technique_head_is_promoted_when_non_inferior(trained, client):
    """Within half its validation interval of a champion without the head: promoted; beyond it: not."""
    from stancelens.train.tracking import SELECTION_CI, TECHNIQUE_HEAD_TAG, promote_if_better

    champion = client.get_model_version_by_alias("stancelens", "champion")
    champion_run = client.get_run(champion.run_id)
    old = champion_run.data.metrics["selected_val_stance_macro_f1"]
    experiment = champion_run.info.experiment_id
    client.set_tag(champion.run_id, TECHNIQUE_HEAD_TAG, "false")  # as the champion before the head existed
    try:
        outcomes = []
        for name, drop in (("beyond-margin", 0.06), ("within-margin", 0.01)):
            with mlflow.start_run(experiment_id=experiment, run_name=name):
                mlflow.set_tag(TECHNIQUE_HEAD_TAG, "true")
                mlflow.log_metrics({"selected_val_stance_macro_f1": old - drop, SELECTION_CI[0]: old - drop - 0.02,
                                    SELECTION_CI[1]: old - drop + 0.02})  # fmt: skip
                outcomes.append(promote_if_better(client, champion.version))  # same version: the alias stays put
    finally:
        client.set_tag(champion.run_id, TECHNIQUE_HEAD_TAG, "true")
    beyond, within = outcomes
    assert beyond["promoted"] is False and beyond["adds_technique_head"] is True
    assert within["promoted"] is True and within["non_inferiority_margin"] == pytest.approx(0.02)


def test_champion_is_rescored_when_the_validation_data_changed(trained, client, small_corpus, monkeypatch):
    """A candidate trained on another corpus version is compared with the champion on its own validation split."""
    from stancelens.train.records import load_corpus, split_records
    from stancelens.train.tracking import promote_if_better
    from stancelens.train.trainer import _validation_macro_f1

    for key in ("MLFLOW_TRACKING_URI", "STANCELENS_CACHE"):
        monkeypatch.setenv(key, trained["env"][key])
    records = split_records(load_corpus(small_corpus), "validation")[:40]
    champion = client.get_model_version_by_alias("stancelens", "champion")
    asked: list[str] = []

    def rescore(ref: str) -> float:
        asked.append(ref)
        return _validation_macro_f1(ref, records)

    experiment = client.get_run(trained["run_id"]).info.experiment_id
    with mlflow.start_run(experiment_id=experiment, run_name="new-corpus-version"):
        mlflow.set_tag("data.validation_sha", "another-corpus-version")
        mlflow.log_metric("selected_val_stance_macro_f1", -1.0)
        outcome = promote_if_better(client, "999", rescore)
    assert asked == [f"models:/stancelens/{champion.version}"]
    assert outcome["basis"].startswith("champion re-scored")
    assert 0.0 <= outcome["champion_score"] <= 1.0 and outcome["promoted"] is False


def test_artifacts_live_beside_the_store_in_use(trained, client):
    """A store chosen with MLFLOW_TRACKING_URI keeps its artifacts beside it, not in the repository."""
    from pathlib import Path

    store = Path(trained["env"]["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    artifact_uri = client.get_run(trained["run_id"]).info.artifact_uri
    assert artifact_uri.startswith((store.parent / "artifacts").as_uri())


def test_selection_reads_the_saved_models_score_not_the_last_epoch(trained, client):
    """After early stopping the last epoch is worse than the saved (best) one: promotion must use the latter."""
    from stancelens.train.tracking import promote_if_better

    experiment = client.get_run(trained["run_id"]).info.experiment_id
    with mlflow.start_run(experiment_id=experiment, run_name="stopped-early"):
        mlflow.log_metric("val_stance_macro_f1", 0.9, step=1)  # best epoch, the one saved
        mlflow.log_metric("val_stance_macro_f1", 0.2, step=2)  # last epoch before stopping
        mlflow.log_metric("selected_val_stance_macro_f1", 0.9)
        outcome = promote_if_better(client, "999", rescore=lambda ref: 2.0)
    assert outcome["candidate_score"] == 0.9 and outcome["promoted"] is False


def _small_training(tmp_path, small_corpus, **overrides):
    from stancelens.train.config import load_config
    from stancelens.train.trainer import train

    settings = {
        "data.corpus": str(small_corpus),
        "train.max_steps": "3",
        "train.epochs": "1",
        "train.batch_size": "8",
        "tracking.output_dir": str(tmp_path / "models"),
        "tracking.experiment": "tests-small",
        "tracking.register": "false",
        "tracking.baseline": "false",
        "data.techniques": "false",  # the technique head is trained (and scored on PTC dev) by the session fixture
        **overrides,
    }
    return train(load_config(None, [f"{k}={v}" for k, v in settings.items()]), progress=False)


def test_train_loss_is_logged_without_a_progress_bar(trained, small_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["env"]["MLFLOW_TRACKING_URI"])
    result = _small_training(tmp_path, small_corpus, **{"data.news": "false"})
    assert result.history[0]["train_loss"] > 0.1  # was divided by a disabled bar's count of 0 steps


def test_without_shared_data_training_says_it_used_the_written_corpus(trained, small_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["env"]["MLFLOW_TRACKING_URI"])
    result = _small_training(
        tmp_path, small_corpus, **{"data.shared_dir": str(tmp_path / "no-shared"), "data.techniques": "true"}
    )
    assert any("real news not used" in note for note in result.notes)
    assert any(note.startswith("no technique head") for note in result.notes)
    assert read_meta(result.model_dir).technique_labels == []


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "news").is_dir(), reason="../shared/data/news absent")
def test_training_on_real_news_validates_on_the_real_split(trained, small_corpus, tmp_path, monkeypatch, client):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["env"]["MLFLOW_TRACKING_URI"])
    result = _small_training(tmp_path, small_corpus, **{"data.news_weight": "2.0"})
    assert "validation and test: real news splits" in result.notes
    run = client.get_run(result.run_id)
    data = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/data.json")
    assert data["train_sources"].get("news", 0) > 4000 and data["validation_sources"] == {"news": data["validation_n"]}
    assert "corpus_test_stance_macro_f1" in run.data.metrics and "selected_val_stance_macro_f1" in run.data.metrics


def test_two_process_data_parallel_training_is_one_run(trained, small_corpus, tmp_path, client):
    """`stancelens train --nproc 2` (torchrun, gloo): one MLflow run, one registered version, rank 0 logging."""
    experiment = "tests-ddp"
    proc = run_cli(
        "train", "--nproc", "2",
        "--set", f"data.corpus={small_corpus}", "--set", "data.news=false",
        "--set", "train.max_steps=4", "--set", "train.epochs=1", "--set", "train.batch_size=8",
        "--set", f"tracking.output_dir={tmp_path / 'models'}", "--set", f"tracking.experiment={experiment}",
        "--set", "tracking.baseline=false", "--set", "data.techniques=false",
        env=trained["env"],
    )  # fmt: skip
    output = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0, output[-4000:]
    assert output.count("mlflow run:") == 1 and output.count("model folder:") == 1
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["processes"] == "2" and run.data.metrics["train_steps"] == 4
    assert "val_stance_macro_f1" in run.data.metrics and "selected_val_stance_macro_f1" in run.data.metrics
    versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert len(versions) == 1
