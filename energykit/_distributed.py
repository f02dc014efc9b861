"""torch.distributed helpers under `torchrun` (DDP; gloo on CPU, NCCL on GPU), shared by the
`Trainer`, sharded sampling and latent encoding.

`torchrun --nproc_per_node=N -m energykit train RECIPE --out DIR` sets `RANK`, `WORLD_SIZE`
and `LOCAL_RANK`; `init_from_env` reads them and joins the process group. Without them (a
plain `python` run) everything is a no-op on one process.
"""

from __future__ import annotations

import atexit
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job.

    Attributes:
        rank: Global rank (0 on a single process).
        world_size: Number of processes.
        local_rank: Rank on this node (picks the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files, logs and shows progress."""
        return self.rank == 0


def init_from_env(device: torch.device) -> DistInfo:
    """Join the process group `torchrun` describes (gloo for CPU, NCCL for CUDA devices)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1, but this torch build has no torch.distributed")
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(info.local_rank)  # NCCL collectives use the current device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_destroy_at_exit, dist.group.WORLD)
    return info


def _destroy_at_exit(group: Any) -> None:
    """At interpreter exit: `shutdown` if `group`, the default process group `init_from_env`
    created, is still the default one (a group the user destroyed, or replaced with their own,
    is left alone)."""
    if dist.is_initialized() and dist.group.WORLD is group:
        shutdown()


#: Seconds without the GIL that let gloo's worker threads drop the collectives they finished.
RELEASE_S = 0.2


def shutdown() -> None:
    """Destroy the default process group (no-op without one), after letting gloo's worker
    threads drop the collectives they finished.

    A gloo worker releases a finished collective after the caller has been woken, and the
    release decrefs the Python objects of its tensors, so it needs the GIL. A rank that exits
    right after its last collective (rank 1 after a gather whose result only rank 0 uses) can
    reach interpreter finalisation first; the worker then dies in `take_gil` and the process
    aborts with `terminate called without an active exception` (SIGABRT), even after a
    `destroy_process_group()`, which does not join the workers. Sleeping `RELEASE_S` first
    releases the GIL to them.
    """
    if dist.is_initialized():
        time.sleep(RELEASE_S)
        dist.destroy_process_group()


def rank_device(device: torch.device, info: DistInfo) -> torch.device:
    """The device this rank works on: `cuda` without an index becomes `cuda:LOCAL_RANK` under
    torchrun; any other device is kept."""
    if device.type == "cuda" and info.active and device.index is None:
        return torch.device("cuda", info.local_rank)
    return device


def gather(obj: Any, info: DistInfo) -> list[Any]:
    """`obj` from every rank, in rank order (a one-element list on one process)."""
    if not info.active:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def any_true(flag: bool, info: DistInfo) -> bool:
    """Whether `flag` is true on any rank (every rank gets the same answer)."""
    if not info.active:
        return flag
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # NCCL reduces GPU tensors
    t = torch.tensor([int(flag)], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op on one process)."""
    if info.active:
        dist.barrier()
