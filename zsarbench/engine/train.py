"""Training plumbing shared by methods: device choice, loaders, one optimisation stage."""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from typing import Callable, Iterable

import torch
from torch.utils.data import DataLoader

from ..data.datasets import ClipDataset, collate_clips, normalise


def pick_device(requested: str = "auto") -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def autocast(device: str):
    """bf16 autocast on CUDA; plain fp32 on CPU (bf16 matmuls are slow on most CPUs)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else nullcontext()


def n_workers(requested: int, device: str) -> int:
    if requested >= 0:
        return requested
    cores = len(os.sched_getaffinity(0))
    if device == "cpu":
        # One decoding worker overlaps decord with compute: on 2 cores the synthetic main job
        # trained 19% faster in warm-up with identical results (clip RNG is per video, not per worker).
        return 1 if cores >= 2 else 0
    return min(8, cores)


def clip_loader(ds: ClipDataset, batch_size: int, shuffle: bool, seed: int, workers: int,
                device: str) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g, num_workers=workers,
                      collate_fn=collate_clips, pin_memory=device.startswith("cuda"))


def to_frames(clips: torch.Tensor, device: str) -> torch.Tensor:
    """uint8 (B, n_clips, T, 3, H, W) -> normalised float (B * n_clips, T, 3, H, W) on device."""
    x = clips.to(device, non_blocking=True).flatten(0, 1)
    return normalise(x)


def cosine_lr(step: int, total: int, base: float) -> float:
    return 0.5 * base * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def run_stage(name: str, loader: DataLoader, ds: ClipDataset, epochs: float, optimizer: torch.optim.Optimizer,
              params: Iterable[torch.nn.Parameter], step_loss: Callable, device: str,
              seed: int, progress=None) -> dict:
    """Epochs of `step_loss(batch) -> (loss, n_samples)` with a per-step cosine schedule.

    Returns {"epochs", "steps", "seconds", "loss_per_epoch", "skipped"}."""
    params = list(params)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    total = max(round(epochs * len(loader)), 1) if epochs > 0 else 0
    task = progress.add_task(f"{name}", total=total) if progress else None
    log = {"epochs": epochs, "steps": 0, "loss_per_epoch": [], "skipped": set()}
    t0 = time.time()
    step, epoch = 0, 0
    while step < total:
        ds.epoch = epoch
        loader.generator.manual_seed(seed * 10007 + epoch)  # shuffle order: a function of (seed, epoch)
        running, seen = 0.0, 0
        for batch in loader:
            if step >= total:
                break
            log["skipped"].update(batch["bad_paths"])
            for g, base in zip(optimizer.param_groups, base_lrs):
                g["lr"] = cosine_lr(step, total, base)
            step += 1
            if batch["clips"] is not None:
                with autocast(device):
                    loss, n = step_loss(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                optimizer.step()
                running += float(loss.detach()) * n
                seen += n
            if progress:
                progress.update(task, advance=1, description=f"{name} ep {epoch + 1}/{math.ceil(epochs)} "
                                f"loss {running / max(seen, 1):.3f}")
        log["loss_per_epoch"].append(round(running / max(seen, 1), 5))
        epoch += 1
    log["steps"] = step
    log["seconds"] = round(time.time() - t0, 2)
    log["skipped"] = sorted(log["skipped"])
    return log
