"""Each faster path against torch fp32 on labelled real text: ``python -m bench.parity_run --model DIR``.

Sets: the real-news test split and the seed set (from ../shared, when present), else the
written corpus's test split. Each row is judged against both bars of :mod:`model.parity`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("torch-bf16", "torch-int8", "onnx", "onnx-fused", "onnx-int8")


def labelled_sets() -> dict[str, Any]:
    """The sets training judges runtimes on (train.parity.parity_sets), with the real test split as the test set."""
    from stancelens.train.evaluate import load_benchmark
    from stancelens.train.parity import parity_sets
    from stancelens.train.records import SharedDataMissing

    try:
        test = {"real test split": load_benchmark("news-test").records}
    except SharedDataMissing:
        test = {"corpus test split": load_benchmark("corpus-test").records}
    (name, records), shared = next(iter(test.items())), ROOT.parent / "shared"
    sets = parity_sets(records, shared)
    return {name: sets.pop("test split"), **sets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    import stancelens.model  # noqa: F401  (offline Hugging Face settings before transformers is imported)
    from stancelens.model.predictor import Predictor
    from stancelens.train.parity import measure

    from bench.offline import load_path

    reference = Predictor.load(args.model, runtime="torch")
    candidates = {kind: load_path(kind, args.model).analyze_sentences for kind in CANDIDATES}
    rows = measure(labelled_sets(), reference.analyze_sentences, candidates)
    args.result.write_text(json.dumps({"folder": str(args.model), "rows": rows}), encoding="utf-8")


if __name__ == "__main__":
    main()
