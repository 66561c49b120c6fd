"""Fine-tuning loop for the multi-task model, tracked in MLflow.

A hand-written loop rather than ``transformers.Trainer`` because the three heads need
per-record loss masks, and validation must run the very Predictor users run (windows,
calibration, span decoding), so the numbers logged are the numbers users get.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup, set_seed

from model.encoder import resolve_encoder_path
from model.hardware import cpu_bf16_kind
from model.io import ModelMeta, new_model, save_model_folder
from model.network import LossWeights, multitask_loss
from model.predictor import Predictor
from model.registry import PROJECT_ROOT
from train import tracking
from train.batching import encode_records, training_batches
from train.calibration import calibrate
from train.config import Config
from train.datasets_bundle import DataBundle, build_data
from train.metrics import numeric, score_predictions
from train.records import Record


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


def train(config: Config, data: DataBundle | None = None, progress: bool = True) -> TrainResult:
    """Train, validate each epoch, keep the best epoch, save, log and register the model."""
    data = data or build_data(config, PROJECT_ROOT)
    experiment_id = tracking.use_experiment(config.tracking.experiment)
    if config.tracking.baseline:
        from train.baseline import run_baseline

        run_baseline(config, data, experiment_id)

    set_seed(config.train.seed)
    device, amp_dtype = pick_device(config.train.precision)
    encoder_path = resolve_encoder_path(config.model.encoder)
    network, tokenizer = new_model(encoder_path, dropout=config.model.dropout)
    network.to(device)
    meta = ModelMeta(max_length=config.model.max_length)
    train_set = encode_records(data.train, tokenizer, config.model.max_length)

    steps_per_epoch = math.ceil(len(train_set) / config.train.batch_size)
    total_steps = steps_per_epoch * config.train.epochs
    if config.train.max_steps:
        total_steps = min(total_steps, config.train.max_steps)
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.train.learning_rate, weight_decay=config.train.weight_decay
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total_steps * config.train.warmup_ratio), total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    weights = LossWeights(config.train.stance_weight, config.train.loaded_weight, config.train.token_weight)
    generator = torch.Generator().manual_seed(config.train.seed)
    pad_id = tokenizer.pad_token_id or 0

    run_name = config.tracking.run_name or f"minilm-{time.strftime('%Y%m%d-%H%M%S')}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags(
            {
                "model_kind": "transformer",
                "encoder": config.model.encoder,
                "device": device.type,
                "autocast": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
                "experiment_group": config.tracking.experiment_group,
            }
        )
        tracking.log_run_inputs(config.flat(), data.info())
        best_score, best_state, best_epoch, patience_left = -1.0, None, 0, config.train.patience
        history: list[dict[str, float]] = []
        started = time.monotonic()
        budget_s = config.train.time_budget_minutes * 60
        step = 0
        stop_reason = "epochs"
        for epoch in range(1, config.train.epochs + 1):
            network.train()
            seen, epoch_start, loss_sum, batches = 0, time.monotonic(), 0.0, 0
            bar = tqdm(
                training_batches(train_set, config.train.batch_size, pad_id, generator),
                total=steps_per_epoch,
                desc=f"epoch {epoch}/{config.train.epochs}",
                unit="batch",
                disable=not progress,
            )
            for batch in bar:
                batch = {k: v.to(device) for k, v in batch.items()}
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    outputs = network(batch["input_ids"], batch["attention_mask"])
                loss, _parts = multitask_loss(
                    outputs,
                    batch["stance_labels"],
                    batch["loaded_labels"],
                    batch["token_labels"],
                    weights,
                    batch["sample_weights"],
                )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                step += 1
                seen += batch["input_ids"].shape[0]
                loss_sum += float(loss.detach())
                batches += 1
                rate = seen / max(time.monotonic() - epoch_start, 1e-9)
                bar.set_postfix(loss=f"{loss_sum / batches:.3f}", sent_s=f"{rate:.1f}")
                if config.train.max_steps and step >= config.train.max_steps:
                    stop_reason = "max_steps"
                    break
                if time.monotonic() - started > budget_s:
                    stop_reason = "time_budget"
                    break
            bar.close()
            train_seconds = time.monotonic() - epoch_start  # before validation: the speed of training alone
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
            if patience_left <= 0:
                stop_reason = "early_stopping"
                break

        elapsed = time.monotonic() - started
        network.load_state_dict(best_state)
        network.to("cpu").eval()
        in_memory = Predictor(network, tokenizer, meta, runtime="torch")
        uncalibrated = in_memory.analyze_sentences([r["text"] for r in data.validation])
        meta.stance_temperature, meta.loaded_threshold = calibrate(uncalibrated, data.validation, meta.stance_labels)
        mlflow.log_metrics({"stance_temperature": meta.stance_temperature, "loaded_threshold": meta.loaded_threshold})
        meta.training = {
            "mlflow_run_id": run.info.run_id,
            "best_epoch": best_epoch,
            "stop_reason": stop_reason,
            "train_seconds": round(elapsed, 1),
            "encoder": config.model.encoder,
            "experiment_group": config.tracking.experiment_group,
            "data": {k: v for k, v in data.info().items() if k.endswith(("_sha", "_n"))},
            **tracking.git_state(),
        }
        output_dir = Path(config.tracking.output_dir)
        if not output_dir.is_absolute():
            output_dir = PROJECT_ROOT / output_dir
        model_dir = save_model_folder(network, tokenizer, meta, output_dir / run.info.run_id)

        predictor = Predictor.load(model_dir)
        val_metrics, _ = evaluate_split(predictor, data.validation)
        test_metrics, _ = evaluate_split(predictor, data.test)
        for name, records in data.reports.items():  # other labelled sets, reported only
            report_metrics, _ = evaluate_split(predictor, records)
            mlflow.log_metrics(numeric(report_metrics, f"{name}_"))
        mlflow.log_metrics(
            {
                **numeric(val_metrics, "val_"),
                **numeric(test_metrics, "test_"),
                tracking.SELECTION_METRIC: val_metrics.get("stance_macro_f1", 0.0),
                "best_epoch": best_epoch,
                "train_seconds": elapsed,
                "train_steps": step,
                "train_sentences_per_s_mean": sum(h["train_sentences_per_s"] for h in history) / len(history),
            }
        )
        mlflow.set_tag("stop_reason", stop_reason)
        labels = list(meta.stance_labels)
        tracking.log_confusion_matrix(
            val_metrics.get("confusion_matrix", []), labels, "confusion_validation.png", "validation"
        )
        tracking.log_confusion_matrix(test_metrics.get("confusion_matrix", []), labels, "confusion_test.png", "test")
        with tempfile.TemporaryDirectory() as tmp:
            history_path = Path(tmp) / "history.json"
            history_path.write_text(tracking.dump_json(history), encoding="utf-8")
            mlflow.log_artifact(str(history_path))
        registry = tracking.log_and_register_model(
            model_dir, config.tracking.register, rescore=lambda ref: _validation_macro_f1(ref, data.validation)
        )
        return TrainResult(model_dir, run.info.run_id, val_metrics, test_metrics, history, registry, data.notes)


def _validation_macro_f1(model_ref: str, records: list[Record]) -> float:
    """Stance macro-F1 of a registered model on ``records``: the champion judged on today's validation split."""
    metrics, _ = evaluate_split(Predictor.from_ref(model_ref), records)
    return float(metrics["stance_macro_f1"])
