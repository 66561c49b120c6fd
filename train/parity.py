"""Measure a runtime against torch fp32 on labelled sentences (the bars are in :mod:`model.parity`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stancelens.model.parity import AUTO_BAR, ParityRecord
from stancelens.train.metrics import score_predictions


def _spans(row: dict[str, Any]) -> list[tuple[int, int]]:
    return [(s["start"], s["end"]) for s in row["loaded_spans"]]


def _max_prob_change(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> float:
    changes = (abs(a["stance_probs"][k] - b["stance_probs"][k]) for a, b in pairs for k in a["stance_probs"])
    return max(changes, default=0.0)


def compare(
    records: Sequence[dict[str, Any]],
    reference: Sequence[dict[str, Any]],
    candidate: Sequence[dict[str, Any]],
    alone: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Agreement of ``candidate`` rows with ``reference`` rows on labelled ``records``.

    ``alone`` holds the candidate's rows for the same sentences each analysed on its own;
    a server batches whatever arrives together, so a runtime whose answer moves with its
    batch neighbours answers the same sentence differently at different moments.
    """
    pairs = list(zip(reference, candidate, strict=True))
    ref_m, got_m = score_predictions(list(records), list(reference)), score_predictions(list(records), list(candidate))
    row: dict[str, Any] = {
        "n": len(pairs),
        "labels": sum(a["stance"] == b["stance"] for a, b in pairs) / max(len(pairs), 1),
        "spans": sum(_spans(a) == _spans(b) for a, b in pairs) / max(len(pairs), 1),
        "max_dp": _max_prob_change(pairs),
        "stance_macro_f1": ref_m.get("stance_macro_f1", 0.0),
        "d_stance_macro_f1": got_m.get("stance_macro_f1", 0.0) - ref_m.get("stance_macro_f1", 0.0),
        "loaded_f1": ref_m.get("loaded_f1", 0.0),
        "d_loaded_f1": got_m.get("loaded_f1", 0.0) - ref_m.get("loaded_f1", 0.0),
    }
    if alone is not None:
        together = list(zip(alone, candidate, strict=True))
        row["alone_labels"] = sum(a["stance"] == b["stance"] for a, b in together) / max(len(together), 1)
        row["alone_max_dp"] = _max_prob_change(together)
    return row


Analyze = Callable[[list[str]], list[dict[str, Any]]]


def measure(
    sets: dict[str, Sequence[dict[str, Any]]], reference: Analyze, candidates: dict[str, Analyze]
) -> list[dict[str, Any]]:
    """:func:`compare` for every candidate runtime on every labelled set, sentences alone included."""
    rows = []
    for set_name, records in sets.items():
        texts = [r["text"] for r in records]
        ref_rows = reference(texts)
        for runtime, analyze in candidates.items():
            got = analyze(texts)
            alone = [analyze([text])[0] for text in texts]
            rows.append({"runtime": runtime, "set": set_name, **compare(records, ref_rows, got, alone)})
    return rows


def parity_sets(test: Sequence[dict[str, Any]], shared_dir: Path) -> dict[str, Sequence[dict[str, Any]]]:
    """The labelled sets a runtime is judged on: the run's test split, and the seed set when present."""
    from stancelens.train.records import SharedDataMissing, load_seed_set

    sets: dict[str, Sequence[dict[str, Any]]] = {"test split": test}
    with contextlib.suppress(SharedDataMissing):
        sets["seed set"] = load_seed_set(shared_dir)
    return sets


def record_parity(model_dir: Path, sets: dict[str, Sequence[dict[str, Any]]]) -> ParityRecord:
    """Judge torch-bf16 against torch fp32 for the saved model and write ``runtime_parity.json`` beside it.

    Only measured where this CPU runs bf16 natively: emulated bf16 would take minutes and
    decide nothing, since ``auto`` never picks bf16 on such a CPU.
    """
    from stancelens.model.hardware import cpu_bf16_kind
    from stancelens.model.io import load_model_folder
    from stancelens.model.predictor import Predictor

    kind = cpu_bf16_kind()
    if kind is None:
        record = ParityRecord([], asdict(AUTO_BAR), None, "torch-bf16 not measured: this CPU has no native bf16")
    else:
        network, tokenizer, meta = load_model_folder(model_dir)  # autocast leaves the weights alone: share them
        reference = Predictor(network, tokenizer, meta, runtime="torch", folder=model_dir)
        candidate = Predictor(network, tokenizer, meta, runtime="torch-bf16", folder=model_dir)
        rows = measure(sets, reference.analyze_sentences, {"torch-bf16": candidate.analyze_sentences})
        record = ParityRecord(rows, asdict(AUTO_BAR), kind)
    record.save(model_dir)
    return record
