"""Distributed runs under torchrun: one process per device, rank and world size from the environment.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE (and MASTER_ADDR/PORT). Without
them a run is rank 0 of 1 and no collective is ever called, so single-process numbers are the
same as before distributed support existed.

Policy: every rank runs the whole pipeline on the same data; training splits each global batch
between ranks (engine/train.py), feature extraction splits the videos and gathers the features, so
every rank then holds the same model and features and computes the same transfer and metrics.
Only rank 0 writes files (checkpoints, features, results) and prints; it also goes first wherever
something is generated on disk (synthetic data, caches), the others waiting at a barrier.
"""

from __future__ import annotations

import atexit
import os
from datetime import timedelta

import torch
import torch.distributed as tdist

# A barrier may wait while rank 0 generates data or builds a cache: allow that, but not forever.
TIMEOUT = timedelta(minutes=int(os.environ.get("ZSARBENCH_DIST_TIMEOUT_MIN", "60")))


def _env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def rank() -> int:
    return tdist.get_rank() if tdist.is_initialized() else _env("RANK", 0)


def world_size() -> int:
    return tdist.get_world_size() if tdist.is_initialized() else _env("WORLD_SIZE", 1)


def local_world_size() -> int:
    return _env("LOCAL_WORLD_SIZE", 1)


def is_main() -> bool:
    return rank() == 0


def init(device: str) -> str:
    """Join the torchrun process group (nccl on CUDA, gloo on CPU); returns this rank's device."""
    if world_size() <= 1:
        return device
    if device.startswith("cuda"):
        device = f"cuda:{_env('LOCAL_RANK', 0)}"
        torch.cuda.set_device(device)
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=TIMEOUT,
                                 **({"device_id": torch.device(device)} if device.startswith("cuda") else {}))
        atexit.register(finish)
    return device


def finish() -> None:
    """Leave the process group together: a barrier, then destroy it while the interpreter is whole.
    Without the barrier a rank that exits first closes its gloo sockets under a peer that is still
    tearing down, and that peer can abort (SIGABRT, "terminate called without an active exception").
    Registered at exit by init(); a no-op when there is no group."""
    if not tdist.is_initialized():
        return
    if tdist.get_world_size() > 1:
        tdist.barrier()
    tdist.destroy_process_group()


def active() -> bool:
    return tdist.is_initialized() and tdist.get_world_size() > 1


def rank_seed(seed: int) -> int:
    """Seed of randomness that must differ between ranks (dropout, MLM masks); rank 0 keeps `seed`."""
    return seed + 1_000_003 * rank()


def barrier() -> None:
    if active():
        tdist.barrier()


def others_wait() -> None:
    """Start of a block rank 0 runs first (it generates data, builds caches): the others wait here..."""
    if active() and not is_main():
        tdist.barrier()


def main_done() -> None:
    """...until rank 0 reaches the end of the block; then they run it and find the work done."""
    if active() and is_main():
        tdist.barrier()


def all_gather(obj) -> list:
    """Every rank's `obj` (picklable), in rank order; [obj] in a single process."""
    if not active():
        return [obj]
    out = [None] * tdist.get_world_size()
    tdist.all_gather_object(out, obj)
    return out


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, in place (asynchronous on the device; no host synchronisation)."""
    if active():
        tdist.all_reduce(t)
    return t


def sync_buffers(module: torch.nn.Module) -> None:
    """Rank 0's buffers on every rank. DDP broadcasts them before each forward, but the last
    forward leaves each rank with its own BatchNorm running statistics; rank 0's are the ones saved."""
    if active():
        for b in module.buffers():
            tdist.broadcast(b, 0)


def wrap(module: torch.nn.Module, device: str) -> torch.nn.Module:
    """DistributedDataParallel around `module` when several ranks train; the module itself otherwise.

    Only parameters that require gradients are synchronised, so a stage freezes what it does not
    train and DDP sees exactly the parameters of that stage's forward."""
    if not active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return DistributedDataParallel(module, device_ids=ids)
