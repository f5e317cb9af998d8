"""Run a function on 2 gloo ranks on the CPU, as torchrun would (env vars, dist.init), and collect
what each rank returned."""

import os
import socket

import torch
import torch.multiprocessing as mp


def _rank_main(rank, world, port, fn, args, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from zsarbench.engine import dist
    dist.init("cpu")
    torch.set_num_threads(1)
    torch.save(fn(*args), f"{out}.{rank}")
    dist.finish()
    # Leave without interpreter finalisation: gloo's C++ threads torn down during it can abort the
    # process after its work is done and saved (a flaky SIGABRT in CI); exit code 0 is what spawn checks.
    os._exit(0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_ranks(fn, args: tuple, tmp_path, world: int = 2) -> list:
    """fn(*args) on each of `world` gloo ranks (fn: a module-level function); their results in rank order."""
    out = str(tmp_path / "rank")
    mp.spawn(_rank_main, args=(world, free_port(), fn, args, out), nprocs=world, join=True)
    return [torch.load(f"{out}.{r}", weights_only=False) for r in range(world)]
