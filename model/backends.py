"""Ways to run the network's forward pass; the Predictor is the same over all of them.

A backend takes a padded batch of token ids and returns the four heads' logits and the hidden states as
numpy arrays, so the post-processing (calibration, windows, spans) is shared and the
runtimes can be compared on equal terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from stancelens.model.network import StanceLensModel


@dataclass
class Logits:
    stance: np.ndarray  # (batch, n_stance)
    loaded: np.ndarray  # (batch,)
    token: np.ndarray  # (batch, seq_len)
    technique: np.ndarray  # (batch, seq_len, n_techniques)
    hidden: np.ndarray  # (batch, seq_len, hidden_size)


class Backend(Protocol):
    name: str

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> Logits: ...


class TorchBackend:
    """PyTorch on the CPU: fp32, dynamically quantized int8 Linear layers, or bf16 autocast.

    ``bf16`` runs the matmuls in bfloat16 under ``torch.autocast`` (weights stay fp32); it is
    only fast on CPUs with AMX or AVX-512 BF16 (``model.hardware.cpu_bf16_kind``).
    """

    def __init__(self, model: StanceLensModel, quantize: bool = False, bf16: bool = False):
        model = model.eval()
        if quantize:
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model
        self.bf16 = bf16
        self.name = "torch-int8" if quantize else "torch-bf16" if bf16 else "torch"

    @torch.inference_mode()
    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> Logits:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(
                input_ids=torch.from_numpy(input_ids),
                attention_mask=torch.from_numpy(attention_mask),
                token_type_ids=torch.zeros_like(torch.from_numpy(input_ids)),
            )
        return Logits(
            stance=out.stance_logits.float().numpy(),
            loaded=out.loaded_logits.float().numpy(),
            token=out.token_logits.float().numpy(),
            technique=out.technique_logits.float().numpy(),
            hidden=out.hidden.float().numpy(),
        )
