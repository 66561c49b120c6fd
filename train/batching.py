"""Records -> tokenised ``datasets.Dataset`` -> length-grouped, dynamically padded batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from datasets import Dataset
from stancelens.model.labels import IGNORE_INDEX, STANCE_TO_ID
from stancelens.model.spans import token_labels_for_spans
from transformers import PreTrainedTokenizerBase
from transformers.trainer_pt_utils import LengthGroupedSampler

COLUMNS = ("input_ids", "attention_mask", "stance_label", "loaded_label", "token_labels", "technique_labels")


def encode_records(
    records: Sequence[dict[str, Any]],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    technique_labels: Sequence[str] = (),
) -> Dataset:
    """Tokenise records and attach per-task labels, with IGNORE where a label is missing.

    Technique labels are one 0/1 row per token over ``technique_labels``; a record without
    technique annotation (``techniques`` missing or None) has every row ignored.
    """
    technique_id = {name: i for i, name in enumerate(technique_labels)}
    dataset = Dataset.from_list(
        [
            {
                "text": r["text"],
                "stance": r.get("stance") or "",
                "loaded": -1 if r.get("loaded") is None else int(r["loaded"]),
                "spans": [list(map(int, s)) for s in (r.get("loaded_spans") or [])],
                "weight": float(r.get("weight", 1.0)),
                "has_techniques": r.get("techniques") is not None and bool(technique_id),
                "technique_spans": [
                    [technique_id[t], int(a), int(b)] for t, a, b in (r.get("techniques") or []) if t in technique_id
                ],
            }
            for r in records
        ]
    )

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        enc = tokenizer(
            batch["text"],
            truncation=True,
            max_length=max_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        token_labels, technique_rows = [], []
        for offsets, special, loaded, spans, has_techniques, technique_spans in zip(
            enc["offset_mapping"], enc["special_tokens_mask"], batch["loaded"], batch["spans"],
            batch["has_techniques"], batch["technique_spans"], strict=True,
        ):  # fmt: skip
            offsets = [(0, 0) if sp else (a, b) for (a, b), sp in zip(offsets, special, strict=True)]
            token_labels.append(token_labels_for_spans(offsets, None if loaded < 0 else spans))
            per_technique = [
                token_labels_for_spans(
                    offsets, [(a, b) for t, a, b in technique_spans if t == k] if has_techniques else None
                )
                for k in range(len(technique_labels))
            ]
            technique_rows.append([list(row) for row in zip(*per_technique, strict=True)] or [[] for _ in offsets])
        return {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "stance_label": [STANCE_TO_ID.get(s, IGNORE_INDEX) for s in batch["stance"]],
            "loaded_label": [IGNORE_INDEX if v < 0 else v for v in batch["loaded"]],
            "token_labels": token_labels,
            "technique_labels": technique_rows,
            "length": [len(ids) for ids in enc["input_ids"]],
            "weight": batch["weight"],
        }

    columns = [c for c in dataset.column_names if c != "weight"]
    return dataset.map(encode, batched=True, remove_columns=columns, desc="tokenising")


def collate(features: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence of this batch only (dynamic padding)."""
    width = max(len(f["input_ids"]) for f in features)

    def pad(key: str, value: int) -> torch.Tensor:
        return torch.tensor([list(f[key]) + [value] * (width - len(f[key])) for f in features], dtype=torch.long)

    n_techniques = len(features[0]["technique_labels"][0])
    techniques = torch.full((len(features), width, n_techniques), IGNORE_INDEX, dtype=torch.long)
    for row, f in enumerate(features):
        if n_techniques:
            techniques[row, : len(f["technique_labels"])] = torch.tensor(f["technique_labels"], dtype=torch.long)

    return {
        "input_ids": pad("input_ids", pad_id),
        "attention_mask": pad("attention_mask", 0),
        "token_labels": pad("token_labels", IGNORE_INDEX),
        "technique_labels": techniques,
        "stance_labels": torch.tensor([f["stance_label"] for f in features], dtype=torch.long),
        "loaded_labels": torch.tensor([f["loaded_label"] for f in features], dtype=torch.long),
        "sample_weights": torch.tensor([f["weight"] for f in features], dtype=torch.float32),
    }


def training_batches(
    dataset: Dataset, batch_size: int, pad_id: int, generator: torch.Generator
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of similar length (less padding, faster CPU steps), in a seeded random order."""
    sampler = LengthGroupedSampler(batch_size, lengths=dataset["length"], generator=generator)
    order = list(sampler)
    for start in range(0, len(order), batch_size):
        yield collate([dataset[i] for i in order[start : start + batch_size]], pad_id)
