"""The technique parts fitted after the network, and the PTC dev scores logged with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import torch
from stancelens.model.io import ModelMeta
from stancelens.model.predictor import Predictor
from stancelens.model.technique_classifier import TechniqueClassifier
from stancelens.train.records import held_out_article
from stancelens.train.techniques_eval import (
    LineStates,
    PtcSet,
    calibrate_threshold,
    evaluate_model,
    fit_technique_classifier,
)


def fit_techniques(
    network: torch.nn.Module, tokenizer: Any, meta: ModelMeta, shared: Path, every: int
) -> TechniqueClassifier | None:
    """After the network: the technique threshold (SI) and the span classifier (TC), from PTC train only.

    The threshold is fitted on the held-out PTC train articles; the classifier on the other
    train articles' gold spans, its regularisation picked on the held-out ones (never PTC dev).
    """
    if not meta.technique_labels:
        return None
    keep = lambda article: held_out_article(article, every)  # noqa: E731
    held_out = PtcSet.load(shared, "train", keep=keep)
    fit_part = PtcSet.load(shared, "train", keep=lambda article: not keep(article))
    in_memory = Predictor(network, tokenizer, meta, runtime="torch")
    held_states = LineStates.compute(in_memory, held_out)
    meta.technique_threshold, si_f1 = calibrate_threshold(in_memory, held_out, held_states)
    namer, c, tc_f1 = fit_technique_classifier(in_memory, fit_part, held_states)
    mlflow.log_metrics(
        {"technique_threshold": meta.technique_threshold, "ptc_holdout_si_f1": si_f1, "ptc_holdout_tc_micro_f1": tc_f1}
    )
    mlflow.log_param("technique_classifier_c", c)
    return namer


def log_technique_metrics(model_dir: Path, shared: Path) -> None:
    """SI and TC of the saved model on PTC dev (never trained on), logged as ``ptc_dev_*``."""
    predictor = Predictor.load(model_dir)
    if not predictor.meta.technique_labels:
        return
    mlflow.log_metrics({f"ptc_dev_{k}": v for k, v in evaluate_model(predictor, PtcSet.load(shared, "dev")).items()})
