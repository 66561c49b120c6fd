"""Checks of the real-news stand-off labels, run by ``stancelens data validate`` in CI.

Without ``../shared`` only what the repository holds can be checked (fields, labels, span
shapes, clusters against splits); with it, every offset must resolve to a sentence of the
current splitter with the stored SHA-1, every page's SHA-256 must match, every sentence must
be labelled, and no near-duplicate sentence pair may cross splits.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from stancelens.model.labels import STANCE_LABELS
from stancelens.model.splitter import split_sentences
from stancelens.train.corpus_build import near_duplicate_pairs
from stancelens.train.corpus_validate import check_spans
from stancelens.train.news import (
    ARTICLE_FIELDS,
    LABEL_FIELDS,
    NEWS_SPLITS,
    news_pages,
    read_jsonl,
    sentence_sha1,
    text_sha256,
)
from stancelens.train.records import SharedDataMissing


def validate_news(news_dir: Path, shared: Path) -> tuple[list[str], str]:
    """Problems found, and a one-line note on what could be checked."""
    articles_path, labels_path = news_dir / "articles.jsonl", news_dir / "labels.jsonl"
    if not articles_path.is_file() or not labels_path.is_file():
        return [f"{news_dir}: articles.jsonl and labels.jsonl are required"], "missing"
    problems: list[str] = []
    articles = {}
    for n, row in enumerate(read_jsonl(articles_path), 1):
        if set(row) != ARTICLE_FIELDS:
            problems.append(f"articles.jsonl:{n}: fields must be exactly {sorted(ARTICLE_FIELDS)}")
            continue
        if row["split"] not in NEWS_SPLITS:
            problems.append(f"articles.jsonl:{n}: split {row['split']!r} invalid")
        articles[row["id"]] = row
    cluster_splits: dict[str, set[str]] = defaultdict(set)
    for row in articles.values():
        cluster_splits[row["cluster"]].add(row["split"])
    problems += [f"cluster {c} crosses splits {sorted(s)}" for c, s in sorted(cluster_splits.items()) if len(s) > 1]

    labels = []
    for n, row in enumerate(read_jsonl(labels_path), 1):
        where = f"labels.jsonl:{n}"
        if set(row) != LABEL_FIELDS:
            problems.append(f"{where}: fields must be exactly {sorted(LABEL_FIELDS)} (no text is stored)")
            continue
        if row["stance"] not in STANCE_LABELS:
            problems.append(f"{where}: stance {row['stance']!r} invalid")
        if row["article"] not in articles:
            problems.append(f"{where}: article {row['article']} not in articles.jsonl")
        labels.append((where, row))
    note = f"{len(labels)} labelled sentences over {len(articles)} pages"
    try:
        pages = news_pages(shared)
    except SharedDataMissing:
        return problems, f"{note}; ../shared/data/news absent, text checks skipped"
    by_page: dict[str, dict[tuple[int, int], str]] = defaultdict(dict)
    texts, splits, ids = [], [], []
    for where, row in labels:
        page = pages.get(row["article"])
        if page is None:
            problems.append(f"{where}: {row['article']} not in ../shared/data/news")
            continue
        sentence = page["text"][row["start"] : row["end"]]
        if sentence_sha1(sentence) != row["sha1"]:
            problems.append(f"{where}: text at {row['start']}:{row['end']} does not match sha1")
            continue
        problems += [f"{where}: {p}" for p in check_spans(sentence, row["loaded_spans"], row["loaded"])]
        by_page[row["article"]][(row["start"], row["end"])] = row["id"]
        texts.append(sentence)
        ids.append(row["id"])
        splits.append(articles.get(row["article"], {}).get("split"))
    for article_id, page in sorted(pages.items()):
        if article_id in articles and text_sha256(page["text"]) != articles[article_id]["sha256"]:
            problems.append(f"{article_id}: page text changed since labelling (sha256 differs)")
        cuts = {(s.start, s.end) for s in split_sentences(page["text"])}
        labelled = set(by_page.get(article_id, {}))
        if cuts != labelled:
            problems.append(
                f"{article_id}: {len(cuts - labelled)} sentences unlabelled, {len(labelled - cuts)} labels "
                "not on a current sentence"
            )
    crossing = [(a, b, s) for a, b, s in near_duplicate_pairs(texts) if splits[a] != splits[b]]
    problems += [f"near-duplicate sentences across splits: {ids[a]} ~ {ids[b]}" for a, b, _ in crossing]
    checked = f"checked against {shared / 'data' / 'news'}"
    return problems, f"{note}, {checked}; near-duplicate pairs across splits: {len(crossing)}"


def news_split_table(news_dir: Path) -> str:
    """Sentences per split, stance and loaded counts, from the stand-off files alone (Markdown)."""
    articles = {row["id"]: row for row in read_jsonl(news_dir / "articles.jsonl")}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in read_jsonl(news_dir / "labels.jsonl"):
        split = articles[row["article"]]["split"]
        counts[split]["n"] += 1
        counts[split][row["stance"]] += 1
        counts[split]["loaded"] += int(row["loaded"])
    lines = ["| split | n | " + " | ".join(STANCE_LABELS) + " | loaded |", "|---|---|---|---|---|---|"]
    for split in NEWS_SPLITS:
        c = counts[split]
        lines.append(f"| {split} | {c['n']} | " + " | ".join(str(c[s]) for s in STANCE_LABELS) + f" | {c['loaded']} |")
    return "\n".join(lines)
