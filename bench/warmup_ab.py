"""The warm-up step of the synthetic recipe (ResT_18's frame encoder on 16 x 6 frames of 32^2, SGD)
with oneDNN's convolution for one-pixel maps (before) and models/backbones.PixelConv2d (after),
interleaved step by step in one process, so that a machine whose load changes slows both alike.

    python bench/warmup_ab.py --rounds 3 [--threads 1]

Prints the median seconds per step of each and their ratio, with the CPU's ISA (docs/scale.md)."""

import argparse
import statistics
import time
from types import SimpleNamespace

import torch
from clip_throughput import device_batch, plain_convolutions, setup

from zsarbench.engine.train import Trainer
from zsarbench.methods.rest import _Stage


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    args = SimpleNamespace(frames=6, crop=32, batch=16, stride=3, resize=0, compile=False, device="cpu")
    arms = {}
    for arm in ("plain", "pixel"):
        torch.manual_seed(0)
        _, model, _, warm_loss, _, _ = setup("rest18", args, 38)
        params = list(model.frame_encoder.parameters()) + list(model.warmup_head.parameters())
        arms[arm] = (model, _Stage(model, False), warm_loss, params, torch.optim.SGD(params, lr=0.01, momentum=0.9))
    batch, running = device_batch(args, 38), torch.zeros((), dtype=torch.float64)
    trainer = Trainer(arms["plain"][0], None, 16, "cpu", 0)

    def step(arm):
        model, net, loss, params, opt = arms[arm]
        t = time.perf_counter()
        if arm == "plain":
            with plain_convolutions(model):
                trainer.step(net, batch, opt, params, loss, running)
        else:
            trainer.step(net, batch, opt, params, loss, running)
        return time.perf_counter() - t

    for arm in arms:
        step(arm)                                   # kernels chosen, memory allocated
    times = {arm: [] for arm in arms}
    for _ in range(a.rounds):
        for arm in arms:
            times[arm].append(step(arm))
    med = {arm: statistics.median(t) for arm, t in times.items()}
    print(f"cpu_capability {torch.backends.cpu.get_cpu_capability()}, threads {torch.get_num_threads()}")
    for arm, t in times.items():
        print(f"{arm}: median {med[arm]:.3f} s/step  ({', '.join(f'{x:.2f}' for x in t)})")
    print(f"speedup {med['plain'] / med['pixel']:.2f}x")


if __name__ == "__main__":
    main()
