"""Does a faster runtime give the answers torch fp32 gives? One definition, used everywhere.

The benchmark (bench/), the tests and the training run's parity record all measure a
candidate runtime against the torch fp32 reference with :mod:`train.parity` and judge the
result against one of the two bars below, so "passes parity" means the same thing in
docs/PERFORMANCE.md, in CI and in the runtime the Predictor picks automatically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Written beside the weights by the training run; read by ``model.runtimes.choose_runtime``.
PARITY_FILE = "runtime_parity.json"


@dataclass(frozen=True)
class ParityBar:
    """Least agreement with torch fp32 a runtime must reach on every labelled set."""

    name: str
    min_labels: float  # share of sentences with the same stance label
    min_spans: float  # share of sentences with identical loaded-language spans
    max_metric_delta: float  # |Δ stance macro-F1| and |Δ loaded F1|
    min_alone_labels: float  # share of sentences labelled the same alone as in a batch

    def holds(self, row: dict[str, Any]) -> bool:
        return (
            row["labels"] >= self.min_labels
            and row["spans"] >= self.min_spans
            and abs(row["d_stance_macro_f1"]) <= self.max_metric_delta
            and abs(row["d_loaded_f1"]) <= self.max_metric_delta
            and row.get("alone_labels", 0.0) >= self.min_alone_labels
        )

    def describe(self) -> str:
        return (
            f"stance labels ≥ {self.min_labels:.1%} equal, spans ≥ {self.min_spans:.0%} identical, stance macro-F1"
            f" and loaded F1 within {self.max_metric_delta}, labels alone = batched on ≥ {self.min_alone_labels:.1%}"
        )


# Opt-in runtimes (``--runtime onnx-int8``): the bar of the first CPU-speed issue.
OPT_IN_BAR = ParityBar("opt-in", min_labels=0.98, min_spans=0.95, max_metric_delta=0.01, min_alone_labels=0.0)
# A runtime the Predictor may pick by itself must be indistinguishable in practice, and a
# sentence's labels must not depend on what else shares its batch.
AUTO_BAR = ParityBar("automatic", min_labels=0.995, min_spans=0.98, max_metric_delta=0.005, min_alone_labels=1.0)


@dataclass
class ParityRecord:
    """What a model folder remembers about its runtimes' parity (``runtime_parity.json``)."""

    rows: list[dict[str, Any]]
    bar: dict[str, Any]
    cpu_bf16: str | None
    note: str = ""

    def holds(self, runtime: str, bar: ParityBar = AUTO_BAR) -> bool:
        mine = [r for r in self.rows if r["runtime"] == runtime]
        return bool(mine) and all(bar.holds(r) for r in mine)

    def save(self, folder: Path) -> Path:
        path = Path(folder) / PARITY_FILE
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: Path) -> ParityRecord | None:
        path = Path(folder) / PARITY_FILE
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError):  # a damaged record proves nothing: treat it as absent
            return None
