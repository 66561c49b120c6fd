"""``stancelens evaluate`` and ``stancelens report`` through the CLI, checked in MLflow."""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient

from tests.conftest import needs_shared, run_cli


def eval_runs(env: dict[str, str], benchmark: str) -> dict[str, object]:
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    client = MlflowClient()
    experiment = client.get_experiment_by_name("stancelens-eval")
    runs = client.search_runs([experiment.experiment_id], f"tags.benchmark = '{benchmark}'")
    return {run.data.tags["model_kind"]: run for run in runs}, client


def test_evaluate_logs_model_and_baseline_side_by_side(trained, tmp_path):
    proc = run_cli("evaluate", "corpus-test", "--out", str(tmp_path), env=trained["env"])
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert "Stance macro-F1" in proc.stdout.decode() and "95% CI" in proc.stdout.decode()
    runs, client = eval_runs(trained["env"], "corpus-test")
    assert set(runs) == {"model", "baseline"}
    model = runs["model"]
    assert model.data.tags["model_run_id"] == trained["run_id"]
    metrics = model.data.metrics
    for name in (
        "stance_macro_f1", "stance_macro_f1_ci_low", "stance_macro_f1_ci_high", "stance_ece",
        "loaded_f1", "loaded_best_threshold", "span_exact_f1", "span_overlap_f1", "sentences_per_s",
    ):  # fmt: skip
        assert name in metrics, name
    assert metrics["stance_macro_f1_ci_low"] <= metrics["stance_macro_f1"] <= metrics["stance_macro_f1_ci_high"]
    artifacts = {a.path for a in client.list_artifacts(model.info.run_id)}
    assert {"confusion_matrix.png", "reliability.png", "loaded_pr_curve.png", "report.md", "slices.json"} <= artifacts
    slices = mlflow.artifacts.load_dict(f"runs:/{model.info.run_id}/slices.json")
    assert "wire" in slices and slices["wire"]["n"] > 0

    out = tmp_path / "RESULTS.md"
    proc = run_cli("report", "--out", str(out), env=trained["env"])
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    text = out.read_text()
    assert "| corpus-test | champion |" in text and "| corpus-test | TF-IDF baseline |" in text


def test_evaluate_any_labelled_jsonl_and_bad_names(trained, tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text(
        '{"id": "a", "text": "The Taliban took the pass.", "stance": "pro_taliban", "loaded": 0, "loaded_spans": [],'
        ' "source": "mine", "split": "test"}\n'
        '{"id": "b", "text": "Heroes held the valley.", "stance": "pro_nrf", "loaded": 1, "loaded_spans": [[0, 6]],'
        ' "source": "mine", "split": "test"}\n',
        encoding="utf-8",
    )
    proc = run_cli("evaluate", str(data), "--no-baseline", "--out", str(tmp_path), env=trained["env"])
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    runs, _ = eval_runs(trained["env"], "mine")
    assert set(runs) == {"model"}
    proc = run_cli("evaluate", "no-such-benchmark", env=trained["env"])
    assert proc.returncode == 2 and "neither a file nor one of the benchmarks" in proc.stderr.decode()


@needs_shared("seeds")
def test_evaluate_on_the_real_text_seed_set(trained, tmp_path):
    proc = run_cli("evaluate", "seed", "--no-baseline", "--out", str(tmp_path), env=trained["env"])
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    runs, _ = eval_runs(trained["env"], "seed")
    assert runs["model"].data.metrics["n"] >= 200


@needs_shared("data", "ptc")
def test_evaluate_ptc_techniques_scores_model_and_baselines_with_the_official_measures(trained, tmp_path):
    proc = run_cli("evaluate", "ptc-techniques", "--out", str(tmp_path), env=trained["env"])
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert "SI F1" in proc.stdout.decode() and "TC micro-F1" in proc.stdout.decode()
    runs, _ = eval_runs(trained["env"], "ptc-techniques")
    assert set(runs) == {"model", "baseline"}
    assert runs["model"].data.tags["model_run_id"] == trained["run_id"]
    for kind, run in runs.items():
        m = run.data.metrics
        assert m["tc_spans"] == 1063 and m["si_gold_spans"] > 900, kind  # all of PTC dev
        assert m["si_f1_ci_low"] <= m["si_f1"] <= m["si_f1_ci_high"], kind
        assert 0 <= m["tc_micro_f1"] <= 1 and "tc_f1_name_calling_labeling" in m, kind
    # the TF-IDF span classifier beats always naming the most frequent technique (Loaded_Language: 325 of 1063)
    assert runs["baseline"].data.metrics["tc_micro_f1"] > 325 / 1063
    assert (tmp_path / "ptc-techniques-model.md").is_file()

    out = tmp_path / "RESULTS.md"
    assert run_cli("report", "--out", str(out), env=trained["env"]).returncode == 0
    text = out.read_text()
    assert "## Propaganda techniques on PTC dev" in text and "| Name_Calling,Labeling |" in text
