"""Training under ``torchrun``: the process group a process belongs to.

torchrun sets ``WORLD_SIZE``, ``RANK`` and the rendezvous address in each process's
environment; ``join`` starts the group on them with gloo (training runs on the CPU; a CUDA
device, and nccl with it, would need the loop to move the model and batches). A process not
started by torchrun is a group of one, and nothing distributed runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Group:
    rank: int
    size: int

    @property
    def leader(self) -> bool:
        """Rank 0: the one process that writes the run folder and reports."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def mean(self, values: list[float]) -> list[float]:
        """Each value averaged over the group's processes."""
        if self.size == 1:
            return values
        summed = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(summed)
        return (summed / self.size).tolist()


def join() -> Group:
    """The torchrun group of this process (started once), or a group of one."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Group(0, 1)
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return Group(dist.get_rank(), dist.get_world_size())
