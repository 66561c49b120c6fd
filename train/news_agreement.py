"""Agreement of the blind second pass over the real-news pool, recomputed from stand-off files.

``data/news/second_pass.jsonl`` holds the second annotators' labels (they never saw the
first); ``adjudication.jsonl`` holds, for every disagreement, both labels and the final
decision, and ``corrections.jsonl`` the labels a later consistency sweep changed, with the
label before (both applied to ``labels.jsonl``). The first pass's label of any sentence is
thus always recoverable, and kappa recomputable from the repository alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.metrics import cohen_kappa_score
from stancelens.train.news import news_articles, read_jsonl


@dataclass
class NewsAgreement:
    n: int
    pages: int
    stance_kappa: float
    loaded_kappa: float
    stance_disagreements: int
    loaded_disagreements: int
    by_group: dict[str, dict[str, float]] = field(default_factory=dict)


def _kappa(a: list, b: list) -> float:
    return float(cohen_kappa_score(a, b)) if len(set(a) | set(b)) > 1 else 1.0


def first_labels(news_dir: Path) -> dict[str, dict]:
    """The first pass's label of every doubly-labelled sentence."""
    stored = {row["id"]: row for row in read_jsonl(news_dir / "labels.jsonl")}
    earlier = {}
    for name, key in (("corrections.jsonl", "before"), ("adjudication.jsonl", "first")):  # adjudication wins
        if (news_dir / name).is_file():
            earlier.update({row["id"]: row[key] for row in read_jsonl(news_dir / name)})
    return {sid: earlier.get(sid, row) for sid, row in stored.items()}


def news_agreement(news_dir: Path, group_by: str = "leaning") -> NewsAgreement:
    """Cohen's kappa overall and per ``group_by`` field of the article table."""
    articles = news_articles(news_dir)
    first = first_labels(news_dir)
    pairs: list[tuple[str, dict, dict]] = []
    for second in read_jsonl(news_dir / "second_pass.jsonl"):
        pairs.append((articles[second["id"].split("#")[0]][group_by], first[second["id"]], second))
    groups: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    for group, a, b in pairs:
        groups[group].append((a, b))
    by_group = {
        name: {
            "n": len(items),
            "stance_kappa": _kappa([a["stance"] for a, _ in items], [b["stance"] for _, b in items]),
            "loaded_kappa": _kappa([int(a["loaded"]) for a, _ in items], [int(b["loaded"]) for _, b in items]),
        }
        for name, items in sorted(groups.items())
    }
    s1, s2 = [a["stance"] for _, a, _ in pairs], [b["stance"] for _, _, b in pairs]
    l1, l2 = [int(a["loaded"]) for _, a, _ in pairs], [int(b["loaded"]) for _, _, b in pairs]
    return NewsAgreement(
        n=len(pairs),
        pages=len({b["id"].split("#")[0] for _, _, b in pairs}),
        stance_kappa=_kappa(s1, s2),
        loaded_kappa=_kappa(l1, l2),
        stance_disagreements=sum(a != b for a, b in zip(s1, s2, strict=True)),
        loaded_disagreements=sum(a != b for a, b in zip(l1, l2, strict=True)),
        by_group=by_group,
    )
