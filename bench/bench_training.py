"""Training speed on this CPU: the trainer's step against the plain fp32 step, same batches, same run.

Prints sentences/s of optimizer steps (forward, backward, clipping, AdamW) for plain fp32
with torch's default AdamW (the baseline), bf16 autocast, and the trainer as it runs now
(bf16 where the CPU has it, fused AdamW), each with its ratio to the baseline. Validation
is not timed.

    python bench/bench_training.py [--steps 30] [--batch-size 16] [--result FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
import stancelens.model  # noqa: F401  (offline Hugging Face settings)
from stancelens.model.encoder import resolve_encoder_path
from stancelens.model.hardware import cpu_bf16_kind
from stancelens.model.io import new_model
from stancelens.model.network import multitask_loss
from stancelens.train.batching import encode_records, training_batches
from stancelens.train.records import load_corpus, split_records
from stancelens.train.trainer import adamw


def measure(
    dtype: torch.dtype | None, batches: list[dict[str, torch.Tensor]], fused: bool = False, warmup: int = 3
) -> float:
    """Sentences/s of optimizer steps; ``fused``: the trainer's AdamW (train.trainer.adamw), else torch's default."""
    torch.manual_seed(0)
    network, _ = new_model(resolve_encoder_path())
    network.train()
    optimizer = adamw(network.parameters(), 5e-5, 0.0) if fused else torch.optim.AdamW(network.parameters(), lr=5e-5)
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
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        seen += batch["input_ids"].shape[0]
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--result", type=Path, help="Also write the numbers here as JSON.")
    args = parser.parse_args()
    _, tokenizer = new_model(resolve_encoder_path())
    records = split_records(load_corpus(Path(__file__).resolve().parents[1] / "data" / "corpus"), "train")
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
    print(f"fp32, default AdamW           {fp32:7.1f} sentences/s  (the trainer before bf16 and fused AdamW)")
    bf16 = measure(torch.bfloat16, batches)
    print(f"bf16 autocast, default AdamW  {bf16:7.1f} sentences/s  ({bf16 / fp32:.2f}x)")
    dtype = torch.bfloat16 if kind else None
    trainer = measure(dtype, batches, fused=True)
    now = f"the trainer now ({'bf16' if kind else 'fp32'}, fused AdamW)"
    print(f"{now} {trainer:7.1f} sentences/s  ({trainer / fp32:.2f}x)")
    if args.result:
        numbers = {"steps": args.steps, "batch_size": args.batch_size, "fp32": fp32, "bf16": bf16,
                   "trainer": trainer, "bf16_kind": kind}  # fmt: skip
        args.result.write_text(json.dumps(numbers), encoding="utf-8")


if __name__ == "__main__":
    main()
