"""Fine-tuning loop for the multi-task model, tracked in MLflow.

A hand-written loop rather than ``transformers.Trainer`` because the three heads need
per-record loss masks, and validation must run the very Predictor users run (windows,
calibration, span decoding), so the numbers logged are the numbers users get.
"""

from __future__ import annotations

import copy
import math
import random
import tempfile
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import mlflow
import torch
from datasets import Dataset, concatenate_datasets
from stancelens.model.encoder import resolve_encoder_path
from stancelens.model.hardware import cpu_bf16_kind
from stancelens.model.io import ModelMeta, new_model, save_model_folder
from stancelens.model.labels import STANCE_LABELS
from stancelens.model.network import LossWeights, multitask_loss
from stancelens.model.parity import PARITY_FILE
from stancelens.model.predictor import Predictor
from stancelens.model.registry import PROJECT_ROOT
from stancelens.train import tracking
from stancelens.train.batching import encode_records, training_batches
from stancelens.train.calibration import calibrate
from stancelens.train.config import Config
from stancelens.train.datasets_bundle import DataBundle, build_data
from stancelens.train.distributed import DistContext
from stancelens.train.evaluate import bootstrap_macro_f1
from stancelens.train.metrics import numeric, score_predictions
from stancelens.train.parity import parity_sets, record_parity
from stancelens.train.records import Record
from stancelens.train.technique_fit import fit_techniques, log_technique_metrics
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup, set_seed


@dataclass
class TrainResult:
    model_dir: Path
    run_id: str
    validation: dict[str, Any]
    test: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    registry: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def pick_device(precision: str = "auto") -> tuple[torch.device, torch.dtype | None]:
    """The device and the autocast dtype (``None``: plain fp32) for ``train.precision``.

    GPU: bf16 (fp16 on older cards). CPU: bf16 autocast only where the CPU runs bf16
    natively (AMX or AVX-512 BF16, detected); autocast keeps fp32 master weights, so only
    the matmuls run in bf16. ``fp32`` switches autocast off; ``bf16`` forces it.
    """
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"train.precision must be auto, fp32 or bf16, got {precision!r}")
    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.device("cuda"), None if precision == "fp32" else dtype
    if precision == "bf16" or (precision == "auto" and cpu_bf16_kind()):
        return torch.device("cpu"), torch.bfloat16
    return torch.device("cpu"), None


def evaluate_split(predictor: Predictor, records: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics of ``predictor`` on records, plus the predictions (for error analysis)."""
    if not records:
        return {}, []
    predictions = predictor.analyze_sentences([r["text"] for r in records])
    return score_predictions(records, predictions), predictions


@dataclass
class FitOutcome:
    """What the epoch loop leaves behind: the best weights and how training went."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    stop_reason: str
    steps: int
    seconds: float
    history: list[dict[str, float]]


def train(config: Config, data: DataBundle | None = None, progress: bool = True) -> TrainResult | None:
    """Fit, calibrate, save, evaluate and register: the whole run, readable top to bottom.

    Under ``torchrun`` every rank fits its share of the batches; rank 0 alone logs, validates,
    saves and registers, and the other ranks return ``None``.
    """
    context = DistContext.from_env()
    try:
        data = data or build_data(config, PROJECT_ROOT)
        experiment_id = tracking.use_experiment(config.tracking.experiment) if context.is_main else ""
        if config.tracking.baseline and context.is_main:
            from stancelens.train.baseline import run_baseline

            run_baseline(config, data, experiment_id)
        set_seed(config.train.seed)
        device, amp_dtype = pick_device(config.train.precision)
        device = context.device(device)
        network, tokenizer = new_model(
            resolve_encoder_path(config.model.encoder), config.model.dropout, len(data.technique_labels)
        )
        meta = ModelMeta(max_length=config.model.max_length, technique_labels=list(data.technique_labels))
        run_name = config.tracking.run_name or f"minilm-{time.strftime('%Y%m%d-%H%M%S')}"
        runs = mlflow.start_run(experiment_id=experiment_id, run_name=run_name) if context.is_main else nullcontext()
        with runs as run:
            if context.is_main:
                _log_run_start(config, data, device, amp_dtype, context)
            outcome = fit(config, data, network, tokenizer, meta, device, amp_dtype, context, progress)
            if not context.is_main:
                return None
            network.load_state_dict(outcome.best_state)
            network.to("cpu").eval()
            calibrate_on_validation(network, tokenizer, meta, data)
            shared = Path(config.data.shared_dir)
            shared = shared if shared.is_absolute() else PROJECT_ROOT / shared
            namer = fit_techniques(network, tokenizer, meta, shared, config.data.techniques_holdout_every)
            meta.training = _training_record(config, data, outcome, run.info.run_id, context)
            output_dir = Path(config.tracking.output_dir)
            model_dir = save_model_folder(
                network, tokenizer, meta, (output_dir if output_dir.is_absolute() else PROJECT_ROOT / output_dir)
                / run.info.run_id,
            )  # fmt: skip
            if namer is not None:
                namer.save(model_dir)
            val_metrics, test_metrics = evaluate_and_log(model_dir, data, outcome)
            log_runtime_parity(model_dir, data, shared)
            log_technique_metrics(model_dir, shared)
            registry = tracking.log_and_register_model(
                model_dir, config.tracking.register, rescore=lambda ref: _validation_macro_f1(ref, data.validation)
            )
            return TrainResult(
                model_dir, run.info.run_id, val_metrics, test_metrics, outcome.history, registry, data.notes
            )
    finally:
        context.close()


def _log_run_start(config: Config, data: DataBundle, device: torch.device, amp_dtype, context: DistContext) -> None:
    mlflow.set_tags(
        {
            "model_kind": "transformer",
            "encoder": config.model.encoder,
            "device": device.type,
            "autocast": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
            "processes": str(context.world),
            "experiment_group": config.tracking.experiment_group,
            tracking.TECHNIQUE_HEAD_TAG: str(bool(data.technique_labels)).lower(),
        }
    )
    tracking.log_run_inputs(config.flat(), data.info())


def fit(
    config: Config,
    data: DataBundle,
    network: torch.nn.Module,
    tokenizer: Any,
    meta: ModelMeta,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    context: DistContext,
    progress: bool,
) -> FitOutcome:
    """The epoch loop: train, validate (rank 0), keep the best epoch, stop early or on budget.

    Every rank draws the same seeded batch order and takes every ``world``-th batch, so the
    ranks together see each batch once per epoch; stop decisions are agreed across ranks.
    """
    network.to(device)
    # the encoder's pooler is never used (mean pooling): DDP must not wait for its gradients
    model = DistributedDataParallel(network, find_unused_parameters=True) if context.active else network
    train_set = encode_records(data.train, tokenizer, config.model.max_length, meta.technique_labels)
    pool_set = encode_records(data.technique_pool, tokenizer, config.model.max_length, meta.technique_labels)
    per_epoch = min(config.data.techniques_lines_per_epoch, len(pool_set))
    batches_per_epoch = math.ceil((len(train_set) + per_epoch) / config.train.batch_size)
    steps_per_epoch = batches_per_epoch // context.world
    total_steps = steps_per_epoch * config.train.epochs
    if config.train.max_steps:
        total_steps = min(total_steps, config.train.max_steps)
    optimizer = adamw(model.parameters(), config.train.learning_rate, config.train.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total_steps * config.train.warmup_ratio), total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    weights = LossWeights(
        config.train.stance_weight, config.train.loaded_weight, config.train.token_weight, config.train.technique_weight
    )
    class_weights = stance_class_weights(data.train, config.train.stance_class_weights, device)
    generator = torch.Generator().manual_seed(config.train.seed)
    pad_id = tokenizer.pad_token_id or 0
    best_score, best_state, best_epoch, patience_left = -1.0, None, 0, config.train.patience
    history: list[dict[str, float]] = []
    started, budget_s, step, stop_reason = time.monotonic(), config.train.time_budget_minutes * 60, 0, "epochs"
    for epoch in range(1, config.train.epochs + 1):
        model.train()
        seen, epoch_start, loss_sum, batches = 0, time.monotonic(), 0.0, 0
        epoch_set = with_pool_draw(train_set, pool_set, per_epoch, config.train.seed + epoch)
        own = islice(training_batches(epoch_set, config.train.batch_size, pad_id, generator), context.rank,
                     steps_per_epoch * context.world, context.world)  # fmt: skip
        bar = tqdm(own, total=steps_per_epoch, desc=f"epoch {epoch}/{config.train.epochs}", unit="batch",
                   disable=not progress or not context.is_main)  # fmt: skip
        for batch in bar:
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                outputs = model(batch["input_ids"], batch["attention_mask"])
            loss, _parts = multitask_loss(
                outputs, batch["stance_labels"], batch["loaded_labels"], batch["token_labels"],
                batch["technique_labels"], weights, batch["sample_weights"], class_weights,
            )  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            seen += batch["input_ids"].shape[0] * context.world
            loss_sum += float(loss.detach())
            batches += 1
            bar.set_postfix(
                loss=f"{loss_sum / batches:.3f}", sent_s=f"{seen / max(time.monotonic() - epoch_start, 1e-9):.1f}"
            )
            if config.train.max_steps and step >= config.train.max_steps:
                stop_reason = "max_steps"
                break
            if context.any(time.monotonic() - started > budget_s):
                stop_reason = "time_budget"
                break
        bar.close()
        train_seconds = time.monotonic() - epoch_start  # before validation: the speed of training alone
        if context.is_main:
            network.eval()
            predictor = Predictor(network.to("cpu"), tokenizer, meta, runtime="torch")  # in memory: no folder yet
            val_metrics, _ = evaluate_split(predictor, data.validation)
            network.to(device)
            epoch_row = {
                "train_loss": loss_sum / max(batches, 1),
                "train_sentences_per_s": seen / max(train_seconds, 1e-9),
                **numeric(val_metrics, "val_"),
            }
            history.append(epoch_row)
            mlflow.log_metrics(epoch_row, step=epoch)
            score = val_metrics.get("stance_macro_f1", 0.0)
            if score > best_score:
                best_score, best_epoch, patience_left = score, epoch, config.train.patience
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in network.state_dict().items()})
            else:
                patience_left -= 1
        if stop_reason != "epochs":
            break
        if context.any(context.is_main and patience_left <= 0):
            stop_reason = "early_stopping"
            break
    return FitOutcome(best_state or {}, best_epoch, stop_reason, step, time.monotonic() - started, history)


def with_pool_draw(train_set: Dataset, pool_set: Dataset, k: int, seed: int) -> Dataset:
    """This epoch's records: all of ``train_set`` plus a seeded draw of ``k`` pool records.

    Every rank draws the same ``seed``, so data-parallel ranks agree on the epoch's records.
    """
    if not k:
        return train_set
    draw = sorted(random.Random(seed).sample(range(len(pool_set)), k))
    return concatenate_datasets([train_set, pool_set.select(draw)])


def adamw(params: Any, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with the fused kernel (one pass over all parameters instead of a loop of small ops).

    Same update rule; on 2 CPU cores it raised training sentences/s by about a third
    (bench/bench_training.py), since MiniLM's 22.7M parameters make the optimizer step a large
    share of a small-batch step. Falls back to the default implementation where unsupported.
    """
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # an older torch, or a device without the fused kernel
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def stance_class_weights(records: list[Record], mode: str, device: torch.device) -> torch.Tensor | None:
    """``balanced``: n / (k * count) per stance label over the training records that carry a stance."""
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"train.stance_class_weights must be none or balanced, got {mode!r}")
    counts = Counter(r["stance"] for r in records if r.get("stance"))
    total = sum(counts.values())
    values = [total / (len(STANCE_LABELS) * max(counts[label], 1)) for label in STANCE_LABELS]
    return torch.tensor(values, dtype=torch.float32, device=device)


def calibrate_on_validation(network: torch.nn.Module, tokenizer: Any, meta: ModelMeta, data: DataBundle) -> None:
    """Fit the stance temperature and the loaded threshold on validation data (never on test)."""
    in_memory = Predictor(network, tokenizer, meta, runtime="torch")
    uncalibrated = in_memory.analyze_sentences([r["text"] for r in data.validation])
    meta.stance_temperature, meta.loaded_threshold = calibrate(uncalibrated, data.validation, meta.stance_labels)
    mlflow.log_metrics({"stance_temperature": meta.stance_temperature, "loaded_threshold": meta.loaded_threshold})


def _training_record(
    config: Config, data: DataBundle, outcome: FitOutcome, run_id: str, context: DistContext
) -> dict[str, Any]:
    """What the model folder remembers about its training (``stancelens.json``)."""
    return {
        "mlflow_run_id": run_id,
        "best_epoch": outcome.best_epoch,
        "stop_reason": outcome.stop_reason,
        "train_seconds": round(outcome.seconds, 1),
        "processes": context.world,
        "encoder": config.model.encoder,
        "experiment_group": config.tracking.experiment_group,
        "data": {k: v for k, v in data.info().items() if k.endswith(("_sha", "_n"))},
        **tracking.git_state(),
    }


def evaluate_and_log(model_dir: Path, data: DataBundle, outcome: FitOutcome) -> tuple[dict, dict]:
    """Score the saved model as users load it; log validation, test, reports, plots and history."""
    predictor = Predictor.load(model_dir)
    val_metrics, val_rows = evaluate_split(predictor, data.validation)
    test_metrics, _ = evaluate_split(predictor, data.test)
    stance_pairs = [
        (r["stance"], p["stance"]) for r, p in zip(data.validation, val_rows, strict=True) if r.get("stance")
    ]
    selection_ci = bootstrap_macro_f1(*zip(*stance_pairs, strict=True)) if stance_pairs else (0.0, 0.0)
    for name, records in data.reports.items():  # other labelled sets, reported only
        report_metrics, _ = evaluate_split(predictor, records)
        mlflow.log_metrics(numeric(report_metrics, f"{name}_"))
    history = outcome.history
    mlflow.log_metrics(
        {
            **numeric(val_metrics, "val_"),
            **numeric(test_metrics, "test_"),
            tracking.SELECTION_METRIC: val_metrics.get("stance_macro_f1", 0.0),
            **dict(zip(tracking.SELECTION_CI, selection_ci, strict=True)),
            "best_epoch": outcome.best_epoch,
            "train_seconds": outcome.seconds,
            "train_steps": outcome.steps,
            "train_sentences_per_s_mean": sum(h["train_sentences_per_s"] for h in history) / max(len(history), 1),
        }
    )
    mlflow.set_tag("stop_reason", outcome.stop_reason)
    labels = list(predictor.meta.stance_labels)
    tracking.log_confusion_matrix(
        val_metrics.get("confusion_matrix", []), labels, "confusion_validation.png", "validation"
    )
    tracking.log_confusion_matrix(test_metrics.get("confusion_matrix", []), labels, "confusion_test.png", "test")
    with tempfile.TemporaryDirectory() as tmp:
        history_path = Path(tmp) / "history.json"
        history_path.write_text(tracking.dump_json(history), encoding="utf-8")
        mlflow.log_artifact(str(history_path))
    return val_metrics, test_metrics


def log_runtime_parity(model_dir: Path, data: DataBundle, shared_dir: Path) -> None:
    """bf16 against fp32 on the test split and seed set: the record ``--runtime auto`` consults."""
    shared = shared_dir if shared_dir.is_absolute() else PROJECT_ROOT / shared_dir
    record = record_parity(model_dir, parity_sets(data.test, shared))
    mlflow.log_dict(asdict(record), PARITY_FILE)
    if record.rows:
        mlflow.log_metric("bf16_auto_parity_holds", float(record.holds("torch-bf16")))


def _validation_macro_f1(model_ref: str, records: list[Record]) -> float:
    """Stance macro-F1 of a registered model on ``records``: the champion judged on today's validation split."""
    metrics, _ = evaluate_split(Predictor.from_ref(model_ref), records)
    return float(metrics["stance_macro_f1"])
