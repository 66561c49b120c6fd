"""Turn writers' drafts into corpus records and assign topic-clustered splits.

Drafts name loaded phrases rather than offsets (writers think in words); this module
turns them into ``[start, end)`` spans. Splits are assigned per topic cluster, and
clusters joined by any near-duplicate pair are merged first, so a paraphrase can never
sit in train while its twin is in test.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity
from stancelens.train.records import Record, read_jsonl

NEAR_DUPLICATE_COSINE = 0.85
SPLIT_SHARES = {"test": 0.12, "validation": 0.12}


def phrase_spans(text: str, phrases: list[str]) -> list[list[int]]:
    """Every whole-word occurrence of every phrase, as sorted, non-overlapping spans."""
    spans: set[tuple[int, int]] = set()
    for phrase in phrases:
        pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)")
        found = [(m.start(), m.end()) for m in pattern.finditer(text)]
        if not found:
            raise ValueError(f"loaded phrase {phrase!r} is not a whole-word substring of {text!r}")
        spans.update(found)
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def draft_to_record(draft: dict[str, Any]) -> Record:
    text = draft["text"].strip()
    spans = phrase_spans(text, draft.get("loaded_phrases") or [])
    return {
        "id": "w-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12],
        "text": text,
        "stance": draft["stance"],
        "loaded": int(bool(spans)),
        "loaded_spans": spans,
        "source": f"written/{draft['register']}",
        "split": "",
        "topic": draft["topic"],
        "tags": sorted(set(draft.get("tags") or [])),
    }


def near_duplicate_pairs(texts: list[str], threshold: float = NEAR_DUPLICATE_COSINE) -> list[tuple[int, int, float]]:
    """Index pairs whose word TF-IDF cosine similarity exceeds ``threshold``."""
    matrix = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
    pairs = []
    block = 2000
    for start in range(0, len(texts), block):
        sims = cosine_similarity(matrix[start : start + block], matrix)
        for i, j in zip(*(sims > threshold).nonzero(), strict=True):
            a, b = start + int(i), int(j)
            if a < b:
                pairs.append((a, b, float(sims[i, j])))
    return pairs


def assign_splits(records: list[Record], seed: int = 13, fixed: dict[str, str] | None = None) -> list[Record]:
    """Give every record a split by topic cluster (topics merged through near-duplicates).

    ``fixed`` maps topics of an earlier corpus version to their split: a cluster holding
    such a topic keeps that split, so a new version only adds to the test set and never
    moves a sentence a released model was evaluated on into training. New clusters fill
    the splits towards their target shares.
    """
    fixed = fixed or {}
    parent: dict[str, str] = {}

    def find(topic: str) -> str:
        parent.setdefault(topic, topic)
        while parent[topic] != topic:
            parent[topic] = parent[parent[topic]]
            topic = parent[topic]
        return topic

    for a, b, _ in near_duplicate_pairs([r["text"] for r in records]):
        parent[find(records[a]["topic"])] = find(records[b]["topic"])
    clusters: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        clusters[find(record["topic"])].append(index)
    targets = {name: share * len(records) for name, share in SPLIT_SHARES.items()}
    filled = dict.fromkeys(SPLIT_SHARES, 0)
    free = []
    for root, members in clusters.items():
        kept = {fixed[records[i]["topic"]] for i in members if records[i]["topic"] in fixed}
        if len(kept) > 1:
            topics = sorted({records[i]["topic"] for i in members})
            raise ValueError(f"near-duplicates join topics of different fixed splits {sorted(kept)}: {topics}")
        if kept:
            split = kept.pop()
            for index in members:
                records[index]["split"] = split
            filled[split] = filled.get(split, 0) + len(members)
        else:
            free.append(root)
    order = sorted(free)
    random.Random(seed).shuffle(order)
    for root in order:
        members = clusters[root]
        split = next((name for name in SPLIT_SHARES if filled[name] + len(members) <= targets[name] * 1.05), "train")
        if split != "train":
            filled[split] += len(members)
        for index in members:
            records[index]["split"] = split
    return records


def build_corpus(draft_dir: Path, out_dir: Path, seed: int = 13, previous: Path | None = None) -> dict[str, int]:
    """Convert every draft file, dedupe exact repeats, split, and write one file per register.

    With ``previous`` (the corpus folder as it stands), sentences already in it keep their
    labels, which may have been corrected in adjudication after drafting, and their
    topics keep their splits.
    """
    records: dict[str, Record] = {}
    for path in sorted(draft_dir.glob("*.jsonl")):
        for line_no, draft in enumerate(read_jsonl(path), start=1):
            try:
                record = draft_to_record(draft)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}:{line_no}: {exc}") from exc
            records.setdefault(record["id"], record)
    fixed: dict[str, str] = {}
    if previous is not None and previous.is_dir():
        for path in sorted(previous.glob("*.jsonl")):
            for old in read_jsonl(path):
                fixed[old["topic"]] = old["split"]
                if old["id"] in records:
                    records[old["id"]].update({k: old[k] for k in ("stance", "loaded", "loaded_spans")})
    ordered = assign_splits(sorted(records.values(), key=lambda r: r["id"]), seed, fixed)
    by_register: dict[str, list[Record]] = defaultdict(list)
    for record in ordered:
        by_register[record["source"].split("/", 1)[1]].append(record)
    out_dir.mkdir(parents=True, exist_ok=True)
    for register, items in by_register.items():
        with open(out_dir / f"{register}.jsonl", "w", encoding="utf-8") as handle:
            for record in items:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {register: len(items) for register, items in by_register.items()}
