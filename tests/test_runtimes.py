"""``--runtime auto``: what it picks on which CPU for which model, and the parity bars behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
from stancelens.model.parity import AUTO_BAR, OPT_IN_BAR, PARITY_FILE, ParityRecord
from stancelens.model.runtimes import choose_runtime, resolve_runtime
from stancelens.train.parity import compare


def _row(runtime: str = "torch-bf16", **changes: float) -> dict:
    row = {"runtime": runtime, "set": "test split", "n": 1000, "labels": 0.999, "spans": 0.99, "max_dp": 0.01,
           "stance_macro_f1": 0.7, "d_stance_macro_f1": 0.001, "loaded_f1": 0.65, "d_loaded_f1": -0.002,
           "alone_labels": 1.0, "alone_max_dp": 0.005}  # fmt: skip
    return {**row, **changes}


def _folder_with(tmp_path: Path, rows: list[dict]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    ParityRecord(rows, {}, "amx").save(tmp_path)
    return tmp_path


def test_without_native_bf16_auto_is_fp32_onnx(tmp_path):
    folder = _folder_with(tmp_path, [_row()])
    assert choose_runtime(folder, bf16_kind=None).runtime == "onnx"
    assert choose_runtime(folder, bf16_kind="avx512_bf16").runtime == "onnx"


def test_forcing_the_capability_check_off_falls_back_to_fp32(tmp_path, monkeypatch):
    """STANCELENS_DISABLE_BF16 turns the CPU probe off: even a passing bf16 record is not used."""
    folder = _folder_with(tmp_path, [_row()])
    monkeypatch.setenv("STANCELENS_DISABLE_BF16", "1")
    choice = choose_runtime(folder)
    assert choice.runtime == "onnx" and "no native bf16" in choice.reason


def test_amx_picks_bf16_only_with_a_passing_record(tmp_path):
    assert choose_runtime(_folder_with(tmp_path / "ok", [_row(), _row(set="seed set")]), "amx").runtime == "torch-bf16"
    failing = _folder_with(tmp_path / "bad", [_row(), _row(set="seed set", labels=0.99)])
    assert choose_runtime(failing, "amx").runtime == "onnx"
    assert choose_runtime(tmp_path / "none", "amx").runtime == "onnx"  # no record at all
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / PARITY_FILE).write_text("{not json", encoding="utf-8")
    assert choose_runtime(damaged, "amx").runtime == "onnx"


def test_an_in_memory_model_runs_on_torch_and_named_runtimes_pass_through():
    assert choose_runtime(None).runtime == "torch"
    assert resolve_runtime("onnx-int8", None).runtime == "onnx-int8"
    with pytest.raises(ValueError, match="unknown runtime"):
        resolve_runtime("tpu", None)


@pytest.mark.parametrize(
    ("change", "auto", "opt_in"),
    [
        ({}, True, True),
        ({"labels": 0.994}, False, True),
        ({"spans": 0.97}, False, True),
        ({"d_loaded_f1": -0.006}, False, True),
        ({"alone_labels": 0.999}, False, True),
        ({"labels": 0.97}, False, False),
        ({"d_stance_macro_f1": 0.02}, False, False),
    ],
)
def test_bars(change, auto, opt_in):
    assert AUTO_BAR.holds(_row(**change)) is auto
    assert OPT_IN_BAR.holds(_row(**change)) is opt_in


def _pred(stance: str, p: float, spans: list[tuple[int, int]] = ()) -> dict:
    probs = {"pro_nrf": p, "pro_taliban": (1 - p) / 2, "neutral": (1 - p) / 2}
    return {"stance": stance, "stance_probs": probs, "loaded": bool(spans), "loaded_prob": 0.9 if spans else 0.1,
            "loaded_spans": [{"start": a, "end": b} for a, b in spans]}  # fmt: skip


def test_compare_counts_agreement_and_batch_dependence():
    records = [
        {"text": "a", "stance": "pro_nrf", "loaded": False, "loaded_spans": []},
        {"text": "b", "stance": "neutral", "loaded": True, "loaded_spans": [[0, 1]]},
    ]
    reference = [_pred("pro_nrf", 0.8), _pred("neutral", 0.2, [(0, 1)])]
    candidate = [_pred("pro_nrf", 0.7), _pred("pro_nrf", 0.5, [(0, 1)])]
    alone = [_pred("pro_nrf", 0.7), _pred("neutral", 0.3, [(0, 1)])]
    row = compare(records, reference, candidate, alone)
    assert row["labels"] == 0.5 and row["spans"] == 1.0 and row["alone_labels"] == 0.5
    assert row["max_dp"] == pytest.approx(0.3) and row["alone_max_dp"] == pytest.approx(0.2)
    assert row["d_stance_macro_f1"] < 0


def test_training_writes_the_parity_record_auto_reads(model_dir):
    """The trained model carries runtime_parity.json (the test session has bf16 switched off: not measured)."""
    record = ParityRecord.load(model_dir)
    assert record is not None and record.rows == [] and "not measured" in record.note
    assert choose_runtime(model_dir, "amx").runtime == "onnx"  # no bf16 rows: never picked


def test_parity_record_judges_bf16_where_the_cpu_has_it(model_dir, tmp_path, monkeypatch):
    import shutil

    from stancelens.model.hardware import cpu_bf16_kind
    from stancelens.train.parity import record_parity

    monkeypatch.delenv("STANCELENS_DISABLE_BF16", raising=False)
    if cpu_bf16_kind() is None:
        pytest.skip("this CPU has no native bf16")
    folder = Path(shutil.copytree(model_dir, tmp_path / "model"))
    sentences = [f"Fighters said they held district {i} after clashes with the Taliban." for i in range(12)]
    records = [{"text": t, "stance": "pro_nrf", "loaded": False, "loaded_spans": []} for t in sentences]
    record = record_parity(folder, {"test split": records})
    assert [(r["runtime"], r["set"], r["n"]) for r in record.rows] == [("torch-bf16", "test split", 12)]
    assert ParityRecord.load(folder) == record
    expected = "torch-bf16" if record.holds("torch-bf16") else "onnx"
    assert choose_runtime(folder, "amx").runtime == expected
