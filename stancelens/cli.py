"""The ``stancelens`` command: train, score, serve, evaluate, report, data tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

import stancelens.model  # noqa: F401  (offline Hugging Face settings before anything imports transformers)
from stancelens.console import fail as _fail
from stancelens.data_cli import data_app
from stancelens.model.registry import DEFAULT_MODEL_REF, PROJECT_ROOT
from stancelens.model.runtimes import DEFAULT_RUNTIME, RUNTIMES

app = typer.Typer(help="Stance (pro_nrf / pro_taliban / neutral) and loaded-language analysis.", no_args_is_help=True)

EXIT_RECORD_ERRORS = 3

ModelOption = Annotated[str, typer.Option("--model", help="Model folder or registry URI.")]
RuntimeOption = Annotated[
    str, typer.Option("--runtime", help=f"{' | '.join(RUNTIMES)}; auto picks by CPU and model (README)")
]


@app.command()
def train(
    config: Annotated[Path | None, typer.Option(help="TOML config; default train/configs/default.toml.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override, e.g. --set train.epochs=3 (repeatable); `stancelens config` lists keys."),
    ] = None,
    nproc: Annotated[
        int, typer.Option(help="Data-parallel processes (torchrun: gloo on CPU, nccl on GPUs); rank 0 logs.")
    ] = 1,
) -> None:
    """Train the multi-task model, log it to MLflow and register it (candidate, maybe champion)."""
    import os

    from stancelens.train.config import ConfigError, load_config
    from stancelens.train.records import SharedDataMissing
    from stancelens.train.trainer import train as run_training

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        from stancelens.train.distributed import relaunch

        argv = ["train"] + (["--config", str(config)] if config else [])
        argv += [arg for item in set_ or [] for arg in ("--set", item)]
        raise typer.Exit(relaunch(nproc, argv))
    try:
        cfg = load_config(config, set_ or [])
        result = run_training(cfg)
    except (ConfigError, SharedDataMissing, FileNotFoundError) as exc:
        _fail(str(exc))
    if result is None:  # a non-zero rank of a distributed run: rank 0 reports
        return
    val = result.validation
    for note in result.notes:
        typer.echo(f"data:         {note}")
    typer.echo(f"model folder: {result.model_dir}")
    typer.echo(f"mlflow run:   {result.run_id}")
    typer.echo(
        f"validation:   stance macro-F1 {val.get('stance_macro_f1', 0):.3f}  loaded F1 {val.get('loaded_f1', 0):.3f}"
        f"  span overlap F1 {val.get('span_overlap_f1', 0):.3f}"
    )
    if result.registry.get("registered") is not False:
        verdict = (
            "promoted to champion" if result.registry.get("promoted") else "kept as candidate (champion is better)"
        )
        typer.echo(f"registry:     stancelens v{result.registry.get('candidate_version')} {verdict}")


@app.command("config")
def config_show() -> None:
    """List every training config key (for --set section.key=value) with its default and meaning."""
    from stancelens.train.config import describe

    for key, default, help_text in describe():
        typer.echo(f"{key:32s} {default!r:24s} {help_text}")


@app.command()
def score(
    inputs: Annotated[list[str], typer.Argument(help=".txt files, folders, .jsonl/.csv files, or - for stdin.")],
    out: Annotated[Path, typer.Option("--out", help="Per-sentence output file.")],
    model_ref: ModelOption = DEFAULT_MODEL_REF,
    sentences: Annotated[bool, typer.Option("--sentences", help="Each record is one sentence: no splitting.")] = False,
    id_field: Annotated[str, typer.Option(help="JSONL/CSV field holding the document id.")] = "id",
    text_field: Annotated[str, typer.Option(help="JSONL/CSV field holding the text.")] = "text",
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    stdin_format: Annotated[str, typer.Option(help="Format of - (stdin): txt, jsonl or csv.")] = "txt",
    max_chars: Annotated[int, typer.Option(help="Longest document accepted, in characters.")] = 1_000_000,
    loaded_threshold: Annotated[
        float | None, typer.Option(help="Override the model's loaded-language threshold.")
    ] = None,
    runtime: RuntimeOption = DEFAULT_RUNTIME,
    batch_size: Annotated[int, typer.Option(help="Sentences per forward pass.")] = 32,
    restart: Annotated[bool, typer.Option(help="Ignore an existing checkpoint and start over.")] = False,
    table: Annotated[bool, typer.Option(help="Also print a per-sentence table and document summaries.")] = False,
    engine: Annotated[
        str, typer.Option(help="local, or spark (needs the [spark] extra; --out is a folder).")
    ] = "local",
    parts: Annotated[int, typer.Option(help="Spark: hash partitions, each written and resumed as a unit.")] = 8,
) -> None:
    """Score documents; resumable, with bad records reported in FILE.errors.jsonl (exit code 3)."""
    if engine == "spark":
        _score_on_spark(inputs, out, model_ref, runtime, loaded_threshold, sentences, parts, id_field, text_field)
        return
    if engine != "local":
        _fail("--engine must be local or spark")
    from stancelens.model.predictor import Predictor
    from stancelens.model.registry import ModelRefError
    from stancelens.serve.batch import ResumeMismatch, score_files
    from stancelens.serve.inputs import ReadOptions

    if fmt not in ("jsonl", "csv"):
        _fail("--format must be jsonl or csv")
    if stdin_format not in ("txt", "jsonl", "csv"):
        _fail("--stdin-format must be txt, jsonl or csv")
    missing = [i for i in inputs if i != "-" and not Path(i).exists()]
    if missing:
        _fail(f"input not found: {', '.join(missing)}")
    try:
        predictor = Predictor.from_ref(model_ref, runtime=runtime, batch_size=batch_size)
    except (ModelRefError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(f"runtime {predictor.runtime}: {predictor.runtime_reason}", err=True)
    options = ReadOptions(id_field=id_field, text_field=text_field, max_chars=max_chars, stdin_format=stdin_format)
    try:
        stats = score_files(predictor, inputs, out, options, sentences, fmt, loaded_threshold, restart)
    except ResumeMismatch as exc:
        _fail(str(exc))
    if stats.already_complete is not None:
        typer.echo(
            f"already complete: {out} holds this job's {stats.already_complete} records "
            "(same inputs, model, runtime and options); nothing to do, --restart scores them again"
        )
    if table:
        from stancelens.serve.report_table import print_tables

        print_tables(out, fmt)
    typer.echo(
        f"scored {stats.documents} documents, {stats.sentences} sentences"
        + (f" (resumed after {stats.skipped_finished} finished records)" if stats.skipped_finished else "")
    )
    for name, path in stats.outputs.items():
        typer.echo(f"  {name:9s} {path}")
    if stats.errors:
        typer.secho(
            f"{stats.errors} records could not be scored: see {stats.outputs['errors']}",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(EXIT_RECORD_ERRORS)


def _score_on_spark(
    inputs: list[str],
    out: Path,
    model_ref: str,
    runtime: str,
    threshold: float | None,
    sentences: bool,
    parts: int,
    id_field: str,
    text_field: str,
) -> None:
    """``score --engine spark``: the registered model on a Spark session (SPARK_MASTER, default local[*])."""
    import os

    try:
        from pyspark.sql import SparkSession
    except ImportError:
        _fail("--engine spark needs pyspark: pip install -e '.[spark]'")
    from stancelens.model.registry import ModelRefError, resolve_model_ref
    from stancelens.serve.spark import score_with_spark

    try:
        model_dir = str(resolve_model_ref(model_ref))  # resolved once, on the driver
    except (ModelRefError, FileNotFoundError) as exc:
        _fail(str(exc))
    # workers must run this interpreter (its packages), not whatever python3 is first on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[*]")).appName("stancelens").getOrCreate()
    try:
        counts = score_with_spark(spark, inputs, out, model_dir, runtime, threshold, sentences, parts, id_field,
                                  text_field)  # fmt: skip
        errors = spark.read.parquet(str(out / "errors")).count() if (out / "errors").exists() else 0
    finally:
        spark.stop()
    typer.echo(f"spark: {counts['parts_scored']} parts scored, {counts['parts_skipped']} already done; {out}")
    if errors:
        typer.secho(f"{errors} records could not be scored: see {out / 'errors'}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(EXIT_RECORD_ERRORS)


@app.command()
def serve(
    model_ref: Annotated[
        str | None,
        typer.Option("--model", help=f"Model folder or registry URI [env STANCELENS_MODEL_REF; {DEFAULT_MODEL_REF}]"),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    runtime: Annotated[
        str | None,
        typer.Option("--runtime", help=f"{' | '.join(RUNTIMES)} [env STANCELENS_RUNTIME; {DEFAULT_RUNTIME}]"),
    ] = None,
) -> None:
    """Run the HTTP API and the analyst web page (limits: see serve/settings.py or README).

    Options given on the command line win over STANCELENS_* variables, which win over defaults.
    """
    import uvicorn

    from stancelens.serve.app import create_app
    from stancelens.serve.settings import ServerSettings

    try:
        settings = ServerSettings.from_env(model_ref=model_ref, runtime=runtime)
    except ValueError as exc:
        _fail(str(exc))
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command()
def evaluate(
    data: Annotated[
        str,
        typer.Argument(
            help="Labelled JSONL, or news-test | news-validation | corpus-test | corpus-validation | seed "
            "| semeval-dev | ptc-techniques (propaganda-technique spans on PTC dev: SI and TC)."
        ),
    ],
    model_ref: ModelOption = DEFAULT_MODEL_REF,
    baseline: Annotated[bool, typer.Option(help="Also evaluate the TF-IDF baseline on the same records.")] = True,
    out: Annotated[Path, typer.Option(help="Folder for the report and plots.")] = PROJECT_ROOT / "out" / "eval",
    runtime: RuntimeOption = DEFAULT_RUNTIME,
) -> None:
    """Evaluate a model (and the baseline) on labelled data; log the report to MLflow."""
    from stancelens.model.registry import ModelRefError
    from stancelens.train.evaluate import run_evaluation
    from stancelens.train.records import SharedDataMissing
    from stancelens.train.technique_benchmark import NoTechniqueHead

    try:
        results = run_evaluation(data, model_ref, baseline, out, runtime)
    except (ModelRefError, SharedDataMissing, FileNotFoundError, NoTechniqueHead) as exc:
        _fail(str(exc))
    for metrics in results.values():
        typer.echo(metrics["report"])
    typer.echo(f"reports and plots in {out}")


@app.command()
def experiments(
    names: Annotated[list[str] | None, typer.Argument(help="Experiments to run (default: all).")] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps per experiment (equal compute).")] = 480,
    out: Annotated[Path, typer.Option(help="Folder for models and reports.")] = PROJECT_ROOT
    / "artifacts"
    / "experiments",
) -> None:
    """Train and evaluate the configurations compared in docs/RESULTS.md (equal compute each)."""
    from stancelens.train.experiments import EXPERIMENTS, run_experiments

    chosen = names or list(EXPERIMENTS)
    unknown = sorted(set(chosen) - set(EXPERIMENTS))
    if unknown:
        _fail(f"unknown experiments {unknown}; choose from {sorted(EXPERIMENTS)}")
    for line in run_experiments(chosen, steps, out):
        typer.echo(line)


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = PROJECT_ROOT / "docs" / "RESULTS.md",
) -> None:
    """Regenerate docs/RESULTS.md from the evaluation runs in MLflow."""
    from stancelens.train.report import write_report

    typer.echo(f"wrote {write_report(out)}")


app.add_typer(data_app, name="data")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
