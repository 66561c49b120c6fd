"""The StanceLens network, its on-disk format and the inference API.

Hub access is switched off here, once, so that no code path of the project can
reach for weights over the network: machines running this tool have no hub access.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# OpenMP threads that busy-wait make PyTorch collapse when another process shares the cores
# (measured: 30 vs 175 sentences/s on a shared 2-core machine); idle threads should sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
