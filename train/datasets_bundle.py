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

from stancelens.model.techniques import TECHNIQUES
from stancelens.train.config import Config
from stancelens.train.news import load_news
from stancelens.train.records import (
    Record,
    SharedDataMissing,
    held_out_article,
    load_corpus,
    load_ruw,
    load_semeval,
    ptc_article_id,
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
    # PTC lines for the technique head, drawn afresh each epoch (``data.techniques_lines_per_epoch``)
    technique_pool: list[Record] = field(default_factory=list)

    @property
    def technique_labels(self) -> tuple[str, ...]:
        """The technique head's labels: all PTC techniques when some training record carries them, else none."""
        return TECHNIQUES if any(r.get("techniques") is not None for r in self.train + self.technique_pool) else ()

    def info(self) -> dict[str, Any]:
        """Counts and content hashes of every split: the data version of a run."""
        out: dict[str, Any] = {"notes": "; ".join(self.notes)}
        for name in ("train", "validation", "test", "technique_pool"):
            records = getattr(self, name)
            if name == "technique_pool" and not records:
                continue
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


def _ptc_lines(config: Config, shared: Path, notes: list[str]) -> list[Record]:
    """PTC train lines for the technique head (and, with ``data.semeval``, the loaded heads too).

    The technique head trains on every line with a technique and a seeded share of the others,
    leaving out the held-out articles that calibrate its threshold. Without ../shared the
    technique head is simply not trained (noted); ``data.semeval`` asked explicitly, so it fails.
    """
    data = config.data
    if not (data.semeval or data.techniques):
        return []
    try:
        lines = load_semeval(shared, "train", data.semeval_max_records, loaded_labels=data.semeval)
    except SharedDataMissing as exc:
        if data.semeval:
            raise SharedDataMissing(f"data.semeval is on but {exc}") from exc
        notes.append(f"no technique head ({exc})")
        return []
    if not data.techniques:
        return _weighted([{**r, "techniques": None} for r in lines], data.semeval_weight)
    lines = [r for r in lines if not held_out_article(ptc_article_id(r), data.techniques_holdout_every)]
    if not data.semeval:
        rng = random.Random(config.train.seed)
        lines = [r for r in lines if r["techniques"] or rng.random() < data.techniques_negative_share]
    per_epoch = min(data.techniques_lines_per_epoch, len(lines)) if not data.semeval else 0
    notes.append(f"technique head: {len(lines)} PTC train lines" + (f", {per_epoch} an epoch" if per_epoch else ""))
    return _weighted(lines, data.semeval_weight)


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
    ptc = _ptc_lines(config, shared, bundle.notes)
    if data.techniques and not data.semeval and data.techniques_lines_per_epoch:
        bundle.technique_pool = ptc
    else:
        bundle.train = bundle.train + ptc
    if data.ruw:  # optional third-party training source, train split only
        try:
            extra = load_ruw(shared, "train", data.ruw_max_records)
        except SharedDataMissing as exc:
            raise SharedDataMissing(f"data.ruw is on but {exc}") from exc
        bundle.train = bundle.train + _weighted(extra, data.ruw_weight)
    if not bundle.train or not bundle.validation:
        raise ValueError(f"no train or validation records (corpus {corpus_dir}, news on: {data.news})")
    return bundle
