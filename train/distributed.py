"""Data-parallel training with PyTorch's own machinery (``torchrun`` + DDP, gloo or nccl).

``stancelens train --nproc N`` re-launches itself under ``torch.distributed.run``; every process
then trains the same network on its own share of each epoch's batches and DDP averages the
gradients. Rank 0 alone logs to MLflow, validates, saves and registers, so a distributed run is
one MLflow run with the same metrics as a single-process one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls) -> DistContext:
        """The process group ``torchrun`` describes in the environment (one process: inactive)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        context = cls(rank=dist.get_rank(), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
        if torch.cuda.is_available():
            torch.cuda.set_device(context.local_rank)
        return context

    def device(self, device: torch.device) -> torch.device:
        return torch.device("cuda", self.local_rank) if device.type == "cuda" and self.active else device

    def any(self, flag: bool) -> bool:
        """True on every rank when any rank says so (a stop decided on rank 0 reaches all)."""
        if not self.active:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        if torch.cuda.is_available():
            value = value.cuda()
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def close(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run ``stancelens ARGV`` under ``torchrun`` with ``nproc`` processes; returns its exit code."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    return subprocess.call([*command, "-m", "stancelens.cli", *argv])
