"""bf16 is used only where the CPU runs it natively; forcing the check off falls back to fp32."""

from __future__ import annotations

import torch
from stancelens.model.hardware import cpu_bf16_kind
from stancelens.train.trainer import pick_device


def test_forcing_the_capability_check_off_falls_back_to_fp32(monkeypatch):
    monkeypatch.setenv("STANCELENS_DISABLE_BF16", "1")
    assert cpu_bf16_kind() is None
    if not torch.cuda.is_available():
        assert pick_device("auto") == (torch.device("cpu"), None)


def test_auto_precision_follows_the_detected_capability(monkeypatch):
    monkeypatch.delenv("STANCELENS_DISABLE_BF16", raising=False)
    if torch.cuda.is_available():
        return
    expected = torch.bfloat16 if cpu_bf16_kind() else None
    assert pick_device("auto") == (torch.device("cpu"), expected)
    assert pick_device("fp32") == (torch.device("cpu"), None)


def test_torch_bf16_runtime_agrees_with_fp32(model_dir):
    from stancelens.model.predictor import Predictor

    sentences = [f"Fighters said they held district {i} after clashes with the Taliban." for i in range(40)]
    fp32 = Predictor.load(model_dir, runtime="torch").analyze_sentences(sentences)
    bf16 = Predictor.load(model_dir, runtime="torch-bf16").analyze_sentences(sentences)
    for a, b in zip(fp32, bf16, strict=True):
        assert max(abs(a["stance_probs"][k] - b["stance_probs"][k]) for k in a["stance_probs"]) < 0.05
        assert abs(a["loaded_prob"] - b["loaded_prob"]) < 0.05
