"""What the machine is and what it can do at best: CPU facts, matmul ceilings, model FLOPs.

Run as ``python -m bench.hardware --result FILE`` it measures the ceilings in a fresh
process: dense 1024x1024 matmuls in torch fp32 and bf16, torch int8 (``torch._int_mm``)
and ONNX Runtime int8 (``MatMulInteger``, the kernel onnx-int8 runs on).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def machine_info() -> dict[str, Any]:
    import numpy
    import onnxruntime
    import psutil
    import torch
    import transformers
    from stancelens.model.hardware import cpu_bf16_kind

    cpu, text = platform.processor() or "unknown", ""
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
    for line in text.splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "flags": " ".join(f for f in CPU_FLAGS if f" {f}" in text),
        "bf16_kind": cpu_bf16_kind(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "gpu": "CUDA device present" if torch.cuda.is_available() else "none",
    }


def model_facts(folder: Path, sentences: list[str]) -> dict[str, Any]:
    """Parameter counts, mean token length of the benchmark sentences and FLOPs per sentence.

    FLOPs count multiply-adds as two: every Linear layer costs ``2 * in * out`` per token
    and self-attention adds ``QK^T`` and ``AV``, ``4 * T^2 * hidden`` per layer. Padding
    tokens are not counted: these are the useful FLOPs of a sentence of mean length.
    """
    from stancelens.model.io import read_meta, weights_digest
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    meta = read_meta(folder)
    lengths = [min(len(ids), meta.max_length) for ids in tokenizer(sentences, truncation=False)["input_ids"]]
    tokens = statistics.fmean(lengths)
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    matmul_params = layers * (4 * h * h + 2 * h * i) + h * (len(meta.stance_labels) + 2)
    return {
        "digest": weights_digest(folder),
        "layers": layers,
        "hidden": h,
        "intermediate": i,
        "heads": config.num_attention_heads,
        "matmul_params": matmul_params,
        "mean_tokens": tokens,
        "max_tokens": max(lengths),
        "window": meta.max_length,
        "over_window": sum(n >= meta.max_length for n in lengths),
        "mean_chars": statistics.fmean(len(s) for s in sentences),
        "flops_per_sentence": 2 * matmul_params * tokens + layers * 4 * tokens**2 * h,
    }


def _rate(fn: Callable[[], Any], size: int, iters: int = 30) -> float:
    """Giga-operations per second of a ``size``³ matmul (multiply-add = 2 operations)."""
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return 2 * size**3 * iters / (time.perf_counter() - t0) / 1e9


def _ort_int8_rate(size: int) -> float:
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from stancelens.model.onnx_runtime import session_options

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.integers(-127, 127, (size, size), dtype=np.int8), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])],
        "matmul_integer",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [size, size])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])
    feed = {"A": rng.integers(0, 255, (size, size), dtype=np.uint8)}
    return _rate(lambda: session.run(None, feed), size)


def ceilings(size: int = 1024) -> dict[str, Any]:
    """Measured matmul rates of this CPU in each number format a runtime here uses."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    result: dict[str, Any] = {"size": size, "threads": torch.get_num_threads()}
    result["fp32_gflops"] = _rate(lambda: torch.mm(a, b), size)
    a16, b16 = a.bfloat16(), b.bfloat16()
    result["bf16_gflops"] = _rate(lambda: torch.mm(a16, b16), size)
    try:
        qa = torch.randint(-128, 127, (size, size), dtype=torch.int8)
        qb = torch.randint(-128, 127, (size, size), dtype=torch.int8)
        result["int8_gops"] = _rate(lambda: torch._int_mm(qa, qb), size)
    except (RuntimeError, AttributeError) as exc:  # not every build has a CPU int8 matmul
        result["int8_error"] = str(exc)
    result["ort_int8_gops"] = _ort_int8_rate(size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Matmul ceilings of this CPU, as JSON.")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    args.result.write_text(json.dumps(ceilings()), encoding="utf-8")


if __name__ == "__main__":
    main()
