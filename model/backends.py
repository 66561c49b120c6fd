"""Ways to run the network's forward pass; the Predictor is the same over all of them.

A backend takes a padded batch of token ids and returns the three heads' logits as
numpy arrays, so the post-processing (calibration, windows, spans) is shared and the
runtimes can be compared on equal terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from model.network import StanceLensModel


@dataclass
class Logits:
    stance: np.ndarray  # (batch, n_stance)
    loaded: np.ndarray  # (batch,)
    token: np.ndarray  # (batch, seq_len)


class Backend(Protocol):
    name: str

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> Logits: ...


class TorchBackend:
    """Plain PyTorch fp32 (or dynamically quantized int8 Linear layers) on the CPU."""

    def __init__(self, model: StanceLensModel, quantize: bool = False):
        model = model.eval()
        if quantize:
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model
        self.name = "torch-int8" if quantize else "torch"

    @torch.inference_mode()
    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> Logits:
        out = self.model(
            input_ids=torch.from_numpy(input_ids),
            attention_mask=torch.from_numpy(attention_mask),
            token_type_ids=torch.zeros_like(torch.from_numpy(input_ids)),
        )
        return Logits(
            stance=out.stance_logits.float().numpy(),
            loaded=out.loaded_logits.float().numpy(),
            token=out.token_logits.float().numpy(),
        )
