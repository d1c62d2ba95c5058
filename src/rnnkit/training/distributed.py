"""DistributedDataParallel set-up in a handful of explicit lines (as nanoGPT does it).

``torchrun --nproc_per_node=N -m rnnkit train lm ...`` sets RANK, LOCAL_RANK and WORLD_SIZE;
without them everything runs in one process and these helpers are no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_master(self) -> bool:
        """Only the master process logs and saves."""
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA); else a single process."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"]))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def shutdown_distributed(info: DistInfo, wait: bool = True) -> None:
    """Leave the process group; with ``wait``, first wait for every rank to get here.

    A rank tearing gloo down while rank 0 is still plotting or saving can abort rank 0's peer
    ("terminate called without an active exception"). After an error, don't wait: a failed peer
    would never arrive.
    """
    if info.enabled and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def gather_rows(t: torch.Tensor, info: DistInfo, dim: int) -> torch.Tensor:
    """Concatenate every rank's slice of a batch along ``dim`` (all ranks get the whole)."""
    if not info.enabled:
        return t
    parts = [torch.empty_like(t) for _ in range(info.world_size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=dim)
