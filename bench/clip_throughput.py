"""Training and evaluation throughput of a ResT method, compute only (tensors already on the device).

    python bench/clip_throughput.py                       # rest18, CPU-sized: 8 frames at 32x32
    python bench/clip_throughput.py --frames 16 --size 224 --batch 64 --device cuda

Reports clips/s for the warm-up step (F alone, SGD), the joint step (F + encoder, AdamW, CLS + MLM)
and evaluation (forward only), all measured in one run on one machine, so ratios are comparable.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from zsarbench import create_method
from zsarbench.engine.train import autocast
from zsarbench.models.rest import mask_words


def bench(fn, steps: int, warmup: int, device: str) -> float:
    for _ in range(warmup):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="rest18")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--classes", type=int, default=36)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.manual_seed(0)
    m = create_method(args.method, frames=args.frames)
    m._build(args.classes, [f"w{i}" for i in range(2 * args.classes)], args.frames, 2)
    model, dev = m.model.to(args.device), args.device
    clips = torch.randint(0, 255, (args.batch, 1, args.frames, 3, args.size, args.size), dtype=torch.uint8, device=dev)
    y = torch.randint(0, args.classes, (args.batch,), device=dev)
    words = torch.randint(2, 2 * args.classes + 2, (args.batch, 2), device=dev)
    warm_opt = torch.optim.SGD(list(model.frame_encoder.parameters()) + list(model.warmup_head.parameters()),
                               lr=0.01, momentum=0.9)
    joint_opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def warm():
        with autocast(dev):
            loss = F.cross_entropy(model.warmup_logits(m._frame_features(clips, dev)), y)
        warm_opt.zero_grad()
        loss.backward()
        warm_opt.step()

    def joint():
        w_in, w_t = mask_words(words, 0.15)
        with autocast(dev):
            out = model(m._frame_features(clips, dev), w_in)
            loss = F.cross_entropy(out["cls_logits"].float(), y) + 0.5 * F.cross_entropy(
                out["mlm_logits"].float().flatten(0, 1), w_t.flatten(), ignore_index=-100)
        joint_opt.zero_grad()
        loss.backward()
        joint_opt.step()

    @torch.no_grad()
    def evaluate():
        with autocast(dev):
            model(m._frame_features(clips, dev))

    model.train()
    t_warm = bench(warm, args.steps, 1, dev)
    t_joint = bench(joint, args.steps, 1, dev)
    model.eval()
    t_eval = bench(evaluate, args.steps, 1, dev)
    report = {"method": args.method, "device": dev, "frames": args.frames, "size": args.size, "batch": args.batch,
              "threads": torch.get_num_threads(),
              "gpu": torch.cuda.get_device_name(0) if dev.startswith("cuda") else None,
              "warmup_clips_per_s": round(args.batch / t_warm, 2),
              "joint_clips_per_s": round(args.batch / t_joint, 2),
              "eval_clips_per_s": round(args.batch / t_eval, 2)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
