"""Assemble train/validation/test records from the configured sources, with their versions.

With the real-news pool present (the default), training uses the written corpus plus the
real train split, and the real validation split drives early stopping, calibration and
champion choice; the real test split is only ever reported. Without ``../shared`` the
bundle falls back to the written corpus alone and says so in ``notes``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stancelens.train.config import Config
from stancelens.train.news import load_news
from stancelens.train.records import (
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
    # other labelled sets reported at the end of training (never used to choose anything)
    reports: dict[str, list[Record]] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """Counts and content hashes of every split: the data version of a run."""
        out: dict[str, Any] = {"notes": "; ".join(self.notes)}
        for name in ("train", "validation", "test"):
            records = getattr(self, name)
            out[f"{name}_n"] = len(records)
            out[f"{name}_sha"] = records_digest(records)
            out[f"{name}_sources"] = dict(Counter(r["source"].split("/")[0] for r in records))
        return out


def _resolve(path: str, project_root: Path) -> Path:
    return Path(path) if Path(path).is_absolute() else project_root / path


def _weighted(records: list[Record], weight: float) -> list[Record]:
    return [{**r, "weight": weight} for r in records] if weight != 1.0 else records


def _news_fraction(records: list[Record], fraction: float, seed: int) -> list[Record]:
    """Keep a seeded share of the real train *pages* (a learning curve never splits a page)."""
    if fraction >= 1.0:
        return records
    pages = sorted({r["source"] for r in records})
    keep = set(random.Random(seed).sample(pages, max(1, round(len(pages) * fraction))))
    return [r for r in records if r["source"] in keep]


def build_data(config: Config, project_root: Path) -> DataBundle:
    """Corpus and real-news splits plus optional extra training sources (never in validation or test)."""
    data = config.data
    corpus_dir = _resolve(data.corpus, project_root)
    shared = _resolve(data.shared_dir, project_root)
    corpus = load_corpus(corpus_dir)
    written_train = split_records(corpus, "train")
    if data.corpus_fraction < 1.0:
        rng = random.Random(config.train.seed)
        written_train = rng.sample(written_train, max(1, round(len(written_train) * data.corpus_fraction)))
    bundle = DataBundle(
        train=_weighted(written_train, data.corpus_weight) if data.corpus_train else [],
        validation=split_records(corpus, "validation"),
        test=split_records(corpus, "test"),
    )
    news: list[Record] = []
    if data.news:
        try:
            news = load_news(shared, _resolve(data.news_dir, project_root))
        except SharedDataMissing as exc:
            bundle.notes.append(f"real news not used ({exc}); trained and validated on the written corpus only")
    if news:
        news_train = _news_fraction(split_records(news, "train"), data.news_fraction, config.train.seed)
        if data.news_train:
            bundle.train = bundle.train + _weighted(news_train, data.news_weight)
        bundle.reports = {"corpus_validation": bundle.validation, "corpus_test": bundle.test}
        if data.validation == "news":
            bundle.validation, bundle.test = split_records(news, "validation"), split_records(news, "test")
            bundle.notes.append("validation and test: real news splits")
        else:
            bundle.reports["news_validation"] = split_records(news, "validation")
            bundle.reports["news_test"] = split_records(news, "test")
    if not news and not data.corpus_train:
        bundle.train = _weighted(written_train, data.corpus_weight)  # nothing else to train on
        bundle.notes.append("data.corpus_train=false but real news is absent: trained on the written corpus")
    extras = (
        ("semeval", load_semeval, data.semeval_max_records, data.semeval_weight),
        ("ruw", load_ruw, data.ruw_max_records, data.ruw_weight),
    )
    for name, load, limit, weight in extras:  # optional third-party training sources, train split only
        if not getattr(data, name):
            continue
        try:
            extra = load(shared, "train", limit)
        except SharedDataMissing as exc:
            raise SharedDataMissing(f"data.{name} is on but {exc}") from exc
        bundle.train = bundle.train + _weighted(extra, weight)
    if not bundle.train or not bundle.validation:
        raise ValueError(f"no train or validation records (corpus {corpus_dir}, news on: {data.news})")
    return bundle
