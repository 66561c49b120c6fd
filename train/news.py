"""The real-news pool: stand-off labels in ``data/news`` over ``../shared/data/news``.

The repository keeps ids, offsets, labels and hashes, never the text (the pages belong to
their publishers). At run time the sentences are rebuilt from ``articles.jsonl`` in
``../shared`` and every article's SHA-256 and every sentence's SHA-1 are checked, so a
changed source or splitter is reported instead of silently mislabelling text.

Files in ``data/news/``:
- ``articles.jsonl``: one row per page: ``id``, ``sha256`` of its text, ``year``,
  ``leaning`` (of the outlet, from ``outlets.json``), ``register`` (kind of page, from
  ``registers.json``), story ``cluster`` and ``split``;
- ``labels.jsonl``: one row per sentence the project splitter cuts: ``id`` (``article#i``),
  ``article``, ``start``/``end`` in the article text, ``sha1`` of the sentence, ``stance``,
  ``loaded``, ``loaded_spans`` (relative to the sentence) and ``pass`` (who labelled it);
- ``second_pass.jsonl`` and ``adjudication.jsonl``: the blind second labels and the
  decisions on every disagreement (see ``train/news_agreement.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stancelens.train.records import Record, SharedDataMissing, read_jsonl

NEWS_DIR = Path("data/news")
NEWS_SPLITS = ("train", "validation", "test")
ARTICLE_FIELDS = {"id", "sha256", "year", "leaning", "register", "cluster", "split"}
LABEL_FIELDS = {"id", "article", "start", "end", "sha1", "stance", "loaded", "loaded_spans", "pass"}


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sentence_sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def news_pages(shared_dir: str | Path) -> dict[str, dict[str, Any]]:
    """The pages of ``../shared/data/news/articles.jsonl`` by id."""
    path = Path(shared_dir) / "data" / "news" / "articles.jsonl"
    if not path.is_file():
        raise SharedDataMissing(f"{path} not found: the real-news set needs ../shared/data/news")
    return {page["id"]: page for page in read_jsonl(path)}


def news_articles(news_dir: str | Path = NEWS_DIR) -> dict[str, dict[str, Any]]:
    """The stand-off article table (hash, year, leaning, cluster, split) by id."""
    return {row["id"]: row for row in read_jsonl(Path(news_dir) / "articles.jsonl")}


def load_news(shared_dir: str | Path, news_dir: str | Path = NEWS_DIR, split: str | None = None) -> list[Record]:
    """Labelled real sentences rebuilt from ``../shared``, optionally one split only.

    Records carry ``year`` and ``leaning`` besides the ANNOTATION.md fields, for slices;
    ``source`` is ``news/<article id>``.
    """
    news_dir = Path(news_dir)
    pages = news_pages(shared_dir)
    articles = news_articles(news_dir)
    records: list[Record] = []
    for label in read_jsonl(news_dir / "labels.jsonl"):
        article = articles[label["article"]]
        if split and article["split"] != split:
            continue
        page = pages.get(label["article"])
        if page is None:
            raise ValueError(f"{label['id']}: article {label['article']} is not in ../shared/data/news")
        if text_sha256(page["text"]) != article["sha256"]:
            raise ValueError(f"{label['article']}: the page text changed since it was labelled (sha256 differs)")
        sentence = page["text"][label["start"] : label["end"]]
        if sentence_sha1(sentence) != label["sha1"]:
            raise ValueError(f"{label['id']}: the text at {label['start']}:{label['end']} no longer matches its label")
        records.append(
            {
                "id": label["id"],
                "text": sentence,
                "stance": label["stance"],
                "loaded": label["loaded"],
                "loaded_spans": label["loaded_spans"],
                "source": f"news/{label['article']}",
                "split": article["split"],
                "year": article["year"],
                "leaning": article["leaning"],
                "register": article["register"],
            }
        )
    return records


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
