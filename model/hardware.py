"""What this CPU can do fast: detected, never assumed (a user's CPU may lack it).

bf16 matmuls are only fast with AMX tiles or AVX-512 BF16 instructions; elsewhere torch
emulates them and bf16 is slower than fp32. ``STANCELENS_DISABLE_BF16=1`` forces the check
off, which is how the fp32 fallback is tested on a machine that has bf16.
"""

from __future__ import annotations

import os

import torch


def cpu_bf16_kind() -> str | None:
    """``"amx"`` or ``"avx512_bf16"`` when this CPU runs bf16 natively, else ``None``."""
    if os.environ.get("STANCELENS_DISABLE_BF16", "").strip() not in ("", "0"):
        return None
    try:
        if torch.cpu._is_amx_tile_supported():
            return "amx"
        if torch.cpu._is_avx512_bf16_supported():
            return "avx512_bf16"
    except AttributeError:  # an older torch without the probes: assume nothing
        return None
    return None
