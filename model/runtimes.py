"""The inference runtimes and which one is the default, kept free of heavy imports.

Measured on 2 CPU cores (docs/PERFORMANCE.md, bench/bench_inference.py):

- ``onnx`` (ONNX Runtime, fp32) gives the same outputs as PyTorch (largest stance
  probability difference 0.000 on the corpus test split and the seed set) and is faster
  than it, most of all on the small batches a server sees. Its result for a sentence
  does not depend on the other sentences of its batch. It is the default.
- ``onnx-int8`` is the fastest (about 1.3x ``onnx``) with unchanged F1, but it sits at
  the edge of the parity bar (98% identical labels; 97.8% on the seed set for the v2
  champion), and dynamic quantization scales activations per batch, so a sentence's
  probabilities move by up to ~0.1 with its batch neighbours: opt in for large
  archives where speed beats exact reproducibility.
- ``torch`` is the reference; ``torch-int8`` fails the accuracy bar and is kept for
  comparison only.
"""

RUNTIMES = ("torch", "torch-int8", "torch-bf16", "onnx", "onnx-int8")
DEFAULT_RUNTIME = "onnx"
