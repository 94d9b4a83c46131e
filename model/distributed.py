"""Training under ``torchrun``: the process group a process belongs to.

torchrun sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous address in each
process's environment; ``join`` starts the group on them: nccl with one GPU per process
(``cuda:LOCAL_RANK``) where CUDA is present, else gloo on the CPU. A process not started by
torchrun is a group of one, and nothing distributed runs (it trains on the first GPU where
there is one).
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
    device: torch.device

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
        summed = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(summed)
        return (summed / self.size).tolist()


def placement(cuda: bool, local_rank: int) -> tuple[str, torch.device]:
    """The process group's backend and this process's device."""
    if cuda:
        return "nccl", torch.device("cuda", local_rank)
    return "gloo", torch.device("cpu")


def join() -> Group:
    """The torchrun group of this process (started once), or a group of one."""
    backend, device = placement(torch.cuda.is_available(),
                                int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Group(0, 1, device)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Group(dist.get_rank(), dist.get_world_size(), device)
