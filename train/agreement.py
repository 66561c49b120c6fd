"""Inter-annotator agreement of the corpus, recomputed from stand-off files.

``data/agreement/second_pass.jsonl`` holds the blind second labels of a random sample;
``adjudication.jsonl`` holds the first labels of every disagreement and the final
decision (already applied to the corpus). For agreeing records the corpus label is the
first label, so Cohen's kappa can always be recomputed from the repository alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sklearn.metrics import cohen_kappa_score
from stancelens.train.records import load_corpus, read_jsonl


@dataclass
class Agreement:
    n: int
    stance_kappa: float
    loaded_kappa: float
    stance_disagreements: int
    loaded_disagreements: int


def agreement(corpus_dir: Path, agreement_dir: Path) -> Agreement:
    corpus = {r["id"]: r for r in load_corpus(corpus_dir)}
    adjudicated = {row["id"]: row for row in read_jsonl(agreement_dir / "adjudication.jsonl")}
    first_stance, second_stance, first_loaded, second_loaded = [], [], [], []
    for second in read_jsonl(agreement_dir / "second_pass.jsonl"):
        first = adjudicated[second["id"]]["first"] if second["id"] in adjudicated else corpus[second["id"]]
        first_stance.append(first["stance"])
        first_loaded.append(int(first["loaded"]))
        second_stance.append(second["stance"])
        second_loaded.append(int(second["loaded"]))
    return Agreement(
        n=len(first_stance),
        stance_kappa=float(cohen_kappa_score(first_stance, second_stance)),
        loaded_kappa=float(cohen_kappa_score(first_loaded, second_loaded)),
        stance_disagreements=sum(a != b for a, b in zip(first_stance, second_stance, strict=True)),
        loaded_disagreements=sum(a != b for a, b in zip(first_loaded, second_loaded, strict=True)),
    )
