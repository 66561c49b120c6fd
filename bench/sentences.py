"""The sentences every inference path is timed on: real news lines when present."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PTC_ARTICLES = ROOT.parent / "shared" / "data" / "ptc" / "datasets" / "train-articles"
CORPUS = ROOT / "data" / "corpus"


def bench_sentences(n: int) -> tuple[list[str], str]:
    """``n`` sentences of realistic length: real news lines (PTC) when present, else the written corpus.

    PTC articles are one sentence per line after a title line; lines under five words
    (bylines, headings) are dropped. Either source is cycled when it has fewer than ``n``.
    """
    pool: list[str] = []
    source = ""
    if PTC_ARTICLES.is_dir():
        for path in sorted(PTC_ARTICLES.glob("article*.txt")):
            lines = path.read_text(encoding="utf-8").split("\n")[1:]
            pool.extend(line.strip() for line in lines if len(line.split()) >= 5)
            if len(pool) >= n:
                break
        source = f"SemEval-2020 Task 11 (PTC) train article lines from {PTC_ARTICLES.relative_to(ROOT.parent)}"
    if not pool:
        from stancelens.train.records import load_corpus

        pool = [r["text"] for r in load_corpus(CORPUS)]
        source = f"written corpus texts from {CORPUS.relative_to(ROOT)} (../shared/data/ptc absent)"
    cycled = len(pool) < n
    sentences = [pool[i % len(pool)] for i in range(n)]
    return sentences, source + (f", cycled ({len(pool)} distinct)" if cycled else "")
