"""Training speed on this CPU: fp32 against bf16 autocast, same batches, same run.

Prints sentences/s of optimizer steps (forward, backward, AdamW) for each precision and
the ratio, plus what the bf16 capability check found. Validation is not timed.

    python bench/bench_training.py [--steps 30] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import time

import torch

import model  # noqa: F401  (offline Hugging Face settings)
from model.encoder import resolve_encoder_path
from model.hardware import cpu_bf16_kind
from model.io import new_model
from model.network import multitask_loss
from train.batching import encode_records, training_batches
from train.records import load_corpus, split_records


def measure(dtype: torch.dtype | None, batches: list[dict[str, torch.Tensor]], warmup: int = 3) -> float:
    torch.manual_seed(0)
    network, _ = new_model(resolve_encoder_path())
    network.train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=5e-5)
    seen, started = 0, 0.0
    for i, batch in enumerate(batches):
        if i == warmup:
            seen, started = 0, time.perf_counter()
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            outputs = network(batch["input_ids"], batch["attention_mask"])
        loss, _ = multitask_loss(
            outputs,
            batch["stance_labels"],
            batch["loaded_labels"],
            batch["token_labels"],
            sample_weights=batch["sample_weights"],
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += batch["input_ids"].shape[0]
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    _, tokenizer = new_model(resolve_encoder_path())
    records = split_records(load_corpus("data/corpus"), "train")
    dataset = encode_records(records, tokenizer, 128)
    generator = torch.Generator().manual_seed(13)
    batches = []
    for batch in training_batches(dataset, args.batch_size, tokenizer.pad_token_id or 0, generator):
        batches.append(batch)
        if len(batches) == args.steps + 3:
            break
    kind = cpu_bf16_kind()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 capability: {kind or 'none'}")
    fp32 = measure(None, batches)
    print(f"fp32           {fp32:7.1f} sentences/s")
    bf16 = measure(torch.bfloat16, batches)
    print(f"bf16 autocast  {bf16:7.1f} sentences/s  ({bf16 / fp32:.2f}x fp32)")


if __name__ == "__main__":
    main()
