"""Assemble train/validation/test records from the configured sources, with their versions."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.config import Config
from train.records import (
    Record,
    SharedDataMissing,
    load_corpus,
    load_ruw,
    load_semeval,
    records_digest,
    split_records,
)


@dataclass
class DataBundle:
    train: list[Record]
    validation: list[Record]
    test: list[Record]
    notes: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """Counts and content hashes of every split: the data version of a run."""
        out: dict[str, Any] = {"notes": "; ".join(self.notes)}
        for name in ("train", "validation", "test"):
            records = getattr(self, name)
            out[f"{name}_n"] = len(records)
            out[f"{name}_sha"] = records_digest(records)
            out[f"{name}_sources"] = dict(Counter(r["source"].split("/")[0] for r in records))
        return out


def build_data(config: Config, project_root: Path) -> DataBundle:
    """Corpus splits plus optional extra training sources; extras never enter validation or test."""
    corpus_dir = Path(config.data.corpus)
    if not corpus_dir.is_absolute():
        corpus_dir = project_root / corpus_dir
    corpus = load_corpus(corpus_dir)
    train = split_records(corpus, "train")
    if config.data.corpus_fraction < 1.0:
        rng = random.Random(config.train.seed)
        keep = max(1, round(len(train) * config.data.corpus_fraction))
        train = rng.sample(train, keep)
    bundle = DataBundle(train=train, validation=split_records(corpus, "validation"), test=split_records(corpus, "test"))

    shared = Path(config.data.shared_dir)
    if not shared.is_absolute():
        shared = project_root / shared
    if config.data.semeval:
        try:
            bundle.train = bundle.train + load_semeval(shared, "train", config.data.semeval_max_records)
        except SharedDataMissing as exc:
            raise SharedDataMissing(f"data.semeval is on but {exc}") from exc
    if config.data.ruw:
        try:
            bundle.train = bundle.train + load_ruw(shared, "train", config.data.ruw_max_records)
        except SharedDataMissing as exc:
            raise SharedDataMissing(f"data.ruw is on but {exc}") from exc
    if not bundle.train or not bundle.validation:
        raise ValueError(f"the corpus at {corpus_dir} needs train and validation records")
    return bundle
