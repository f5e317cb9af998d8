"""Training plumbing shared by methods: devices, loaders, and resumable optimisation stages.

A stage is round(epochs x batches per epoch) optimiser steps with a per-step cosine learning rate.
The order of samples is an explicit function of (seed, epoch) (EpochBatches), so a run stopped
anywhere resumes at the same batch with the same weights, optimiser, RNG states and loss sums
(TrainState), and torchrun ranks share every global batch (engine/dist.py). With one process and
no resume, the numbers are those of a plain loop over a shuffled DataLoader.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..artefacts import read_or_discard, remove_stale_parts
from ..data.datasets import ClipDataset, collate_clips, normalise, skipped_error
from . import curves, dist
from .checkpoint import load_checkpoint, save_atomic


def pick_device(requested: str = "auto") -> str:
    """The device of this process; under torchrun it also joins the process group (this rank's GPU)."""
    device = ("cuda" if torch.cuda.is_available() else "cpu") if requested == "auto" else requested
    device = dist.init(device)
    if device.startswith("cuda"):  # GPU fast path: autotuned convolutions, TF32 for fp32 leftovers
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    return device


def autocast(device: str):
    """bf16 autocast on CUDA; plain fp32 on CPU (bf16 matmuls are slow on most CPUs), unless
    $ZSARBENCH_CPU_AUTOCAST=bf16: the tests' way to run the GPU's bf16 steps on the CPU."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if os.environ.get("ZSARBENCH_CPU_AUTOCAST") == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


def decode_device(recipe, device: str) -> str:
    """Where videos are decoded: the GPU for torchcodec on a CUDA device (NVDEC), else the CPU."""
    return device if recipe.decoder == "torchcodec" and device.startswith("cuda") else "cpu"


def n_workers(requested: int, device: str, decoder: str = "decord") -> int:
    if decoder == "torchcodec" and device.startswith("cuda"):
        return 0   # NVDEC decodes in the training process: CUDA does not survive a forked worker
    if requested >= 0:
        return requested
    cores = len(os.sched_getaffinity(0))
    if device == "cpu":
        # One decoding worker overlaps decord with compute: on 2 cores the synthetic main job
        # trained 19% faster in warm-up with identical results (clip RNG is per video, not per worker).
        return 1 if cores >= 2 else 0
    # GPU: decoding is the bottleneck; give each rank on this node its share of the cores, one kept
    # for the process that feeds the GPU.
    return max(1, cores // dist.local_world_size() - 1)


# ----------------------------------------------------------------------------- sampling and loading

def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of epoch `epoch`: a function of (seed, epoch) only."""
    g = torch.Generator().manual_seed(seed * 10007 + epoch)
    # A DataLoader draws its worker base seed from its generator before shuffling; drawing it here
    # too keeps the order (and so every result) identical to runs made before this sampler.
    torch.empty((), dtype=torch.int64).random_(generator=g)
    return torch.randperm(n, generator=g)


class EpochBatches(torch.utils.data.Sampler):
    """This rank's part of global batches start..stop-1 of one epoch.

    Global batch b is order[b*B : (b+1)*B] (shuffled by (seed, epoch), or 0..n-1 when seed is None);
    ranks take contiguous slices of it, so together they see exactly what one process sees, and
    every rank yields the same number of batches (possibly empty ones at the tail), which keeps
    collective operations in step."""

    def __init__(self, n: int, batch_size: int, seed: int | None = None, epoch: int = 0, start: int = 0,
                 stop: int | None = None, rank: int = 0, world: int = 1):
        self.n, self.B, self.seed, self.epoch, self.rank, self.world = n, batch_size, seed, epoch, rank, world
        self.start, self.stop = start, n_batches(n, batch_size) if stop is None else stop

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)

    def __iter__(self):
        order = torch.arange(self.n) if self.seed is None else epoch_order(self.n, self.seed, self.epoch)
        for b in range(self.start, self.stop):
            yield np.array_split(order[b * self.B:(b + 1) * self.B].numpy(), self.world)[self.rank].tolist()


def n_batches(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def clip_loader(ds: ClipDataset, batches: EpochBatches, workers: int, device: str) -> DataLoader:
    # The generator only feeds the loader's worker base seed (clips are seeded per sample); without
    # it the loader would draw from the global RNG and shift the dropout stream.
    on_gpu = getattr(ds, "decode_device", "cpu") != "cpu"   # GPU-decoded clips are on the device already
    return DataLoader(ds, batch_sampler=batches, num_workers=workers, collate_fn=collate_clips,
                      pin_memory=device.startswith("cuda") and not on_gpu, generator=torch.Generator())


def to_frames(batch: dict, device: str) -> torch.Tensor:
    """A batch's uint8 clips (B, n_clips, T, 3, H, W) -> normalised float (B * n_clips, T, 3, h, w)
    on the device. Clips the dataset left uncropped (batch["crop"], ClipDataset(crop_on_device=True))
    are cropped and flipped there: the GPU then does all per-pixel work on uint8 batches."""
    x = batch["clips"].to(device, non_blocking=True)
    if x.dtype != torch.uint8:  # precomputed feature sequences (data/features.py): nothing to normalise
        return x.flatten(0, 1).float()
    if batch.get("crop") is not None:
        x = crop_flip(x, batch["crop"])
    return normalise(x.flatten(0, 1))


def crop_flip(x: torch.Tensor, crops: torch.Tensor) -> torch.Tensor:
    """Per-sample crops of (B, ..., H, W): crops[b] = (y, x, size, flip) as ClipDataset drew them."""
    out = []
    for clip, (y, x0, s, flip) in zip(x, crops.tolist()):
        c = clip[..., y:y + s, x0:x0 + s]
        out.append(c.flip(-1) if flip else c)
    return torch.stack(out)


def cosine_lr(step: int, total: int, base: float) -> float:
    return 0.5 * base * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


# ----------------------------------------------------------------------------- resumable stages

class TrainState:
    """A run's partial-training file, kept beside its finished model: written atomically by rank 0
    every `every` steps and at epoch ends, loaded back (weights_only=True) to resume where it stopped."""

    VERSION = 1

    def __init__(self, path: Path, every: int = 0, resume: bool = True, log: Callable = print):
        self.path, self.every = Path(path), every
        self.saved = None
        if resume and self.path.exists():  # unreadable (never half-written: saves are atomic): start over
            saved = read_or_discard(self.path, load_checkpoint, "training state", "starting the training over",
                                    log) or {}
            if saved.get("version") == self.VERSION:
                self.saved = saved
                log(f"resuming training from {self.path}: stage {saved['stage']}, step {saved['step']} "
                    f"(epoch {saved['epoch'] + 1}, batch {saved['batch']})")

    def save(self, state: dict) -> None:
        if dist.is_main():
            save_atomic({"version": self.VERSION, **state}, self.path)

    def clear(self) -> None:
        """Drop the file, and what interrupted saves of it left, once the finished model is saved."""
        if dist.is_main():
            self.path.unlink(missing_ok=True)
            remove_stale_parts(self.path)


class Trainer:
    """Runs a method's optimisation stages over one ClipDataset, saving and restoring all that a
    resume needs: weights, optimiser, stage, step, epoch, batch in the epoch, loss sums, skipped
    videos, and per rank the torch RNG (dropout) and the method's own generators (MLM masks)."""

    def __init__(self, model: torch.nn.Module, ds: ClipDataset, batch_size: int, device: str, workers: int,
                 state: TrainState | None = None, generators: dict | None = None,
                 extra: Callable[[], dict] = dict, compile: bool = False, progress=None):
        self.model, self.ds, self.B, self.device, self.workers = model, ds, batch_size, device, workers
        self.state, self.generators, self.extra = state, generators or {}, extra
        self.compile, self.progress = compile, progress
        self.resumed = state.saved if state else None  # the method restores its `extra` from it
        self.logs: dict[str, dict] = {}
        if self.resumed:
            model.load_state_dict(self.resumed["model"])
            self.logs = dict(self.resumed["logs"])

    def stage(self, key: str, name: str, epochs: float, optimizer: torch.optim.Optimizer,
              params: list, net: torch.nn.Module, step_loss: Callable, seed: int) -> dict:
        """`epochs` of `step_loss(net, batch) -> (mean loss, n)`, training only `params`.

        `net` is the stage's forward as one module; it is wrapped in DDP under torchrun (only the
        stage's parameters require gradients, so DDP syncs exactly those) and compiled if asked.
        Returns {"epochs", "steps", "loss_per_epoch", "skipped", "too_small", "seconds"}; a stage that
        could use none of its videos (all unreadable or smaller than the crop) is a UserError."""
        if key in self.logs:                       # finished before a restart
            return self.logs[key]
        world, rank = dist.world_size(), dist.rank()
        per_epoch = n_batches(len(self.ds), self.B)
        total = max(round(epochs * per_epoch), 1) if epochs > 0 else 0
        base_lrs = [g["lr"] for g in optimizer.param_groups]
        step = epoch = batch = seen = 0
        running, losses, skipped, small, seconds, used = 0.0, [], set(), set(), 0.0, 0
        saved = self.resumed if self.resumed and self.resumed["stage"] == key else None
        if saved:
            step, epoch, batch, losses, seconds = (saved[k] for k in ("step", "epoch", "batch", "loss_per_epoch",
                                                                       "seconds"))
            running, seen = (saved["running"], saved["seen"]) if rank == 0 else (0.0, 0)  # sums over ranks
            skipped, small = set(saved["skipped"]), set(saved.get("too_small", ()))
            used = saved.get("used", 1)                # states saved before "used": they had used some
            optimizer.load_state_dict(saved["optimizer"])
            self._set_rng(saved["rng"], seed)
        trained = {id(p) for p in params}
        for p in self.model.parameters():
            p.requires_grad_(id(p) in trained)
        net = dist.wrap(net, self.device)
        if self.compile:
            net = torch.compile(net)
        task = self.progress.add_task(name, total=total, completed=step) if self.progress else None
        running_t = torch.tensor(running, dtype=torch.float64, device=self.device)
        t0 = time.time()
        every = 10 if self.device.startswith("cuda") else 1   # live curves: reading a GPU loss waits for it
        window = {"t": time.perf_counter(), "wait": 0.0, "clips": 0}

        def checkpoint():
            nonlocal seen
            tot, n = self._totals(running_t, seen)
            running_t.fill_(tot if rank == 0 else 0.0)   # rank 0 carries the sums from here on
            seen = n if rank == 0 else 0
            if self.state:
                all_skipped = sorted(set().union(*dist.all_gather(skipped)))
                all_small = sorted(set().union(*dist.all_gather(small)))
                rng = dist.all_gather(self._rng())
                self.state.save({"stage": key, "step": step, "epoch": epoch, "batch": batch, "used": used,
                                 "running": tot, "seen": n, "loss_per_epoch": losses, "skipped": all_skipped,
                                 "too_small": all_small,
                                 "seconds": seconds + time.time() - t0, "optimizer": optimizer.state_dict(),
                                 "rng": rng, "model": self.model.state_dict(), "logs": self.logs,
                                 "extra": self.extra()})

        while step < total:
            self.ds.epoch = epoch
            sampler = EpochBatches(len(self.ds), self.B, seed, epoch, batch, min(per_epoch, batch + total - step),
                                   rank, world)
            ready = time.perf_counter()
            for data in clip_loader(self.ds, sampler, self.workers, self.device):
                window["wait"] += time.perf_counter() - ready
                skipped.update(data["bad_paths"])
                small.update(data.get("small_paths", ()))
                for g, base in zip(optimizer.param_groups, base_lrs):
                    g["lr"] = cosine_lr(step, total, base)
                step, batch = step + 1, batch + 1
                n_step = self.step(net, data, optimizer, params, step_loss, running_t, world)
                seen += n_step
                window["clips"] += n_step
                if curves.active() and step % every == 0:
                    self._curves(key, step, optimizer, window)
                if self.progress:
                    self.progress.update(task, advance=1)
                    if step % 10 == 0 or batch == per_epoch or step == total:  # reading the loss syncs the GPU
                        self.progress.update(task, description=f"{name} ep {epoch + 1}/{math.ceil(epochs)} "
                                             f"loss {float(running_t) / max(seen, 1):.3f}")
                if self.state and self.state.every and step % self.state.every == 0 \
                        and batch < per_epoch and step < total:
                    checkpoint()
                ready = time.perf_counter()
            tot, n = self._totals(running_t, seen)
            losses.append(round(tot / max(n, 1), 5))
            curves.scalar(f"train/{key}/loss_epoch", losses[-1], len(losses))
            used += n
            running_t.zero_()
            epoch, batch, seen = epoch + 1, 0, 0
            checkpoint()                               # every epoch end, and the stage's end
        dist.sync_buffers(self.model)
        skipped, small = (sorted(set().union(*dist.all_gather(x))) for x in (skipped, small))
        if total and not used:   # every clip of the stage was skipped: no model to speak of
            if self.state:
                self.state.clear()
            raise skipped_error(f"training stage '{name}'", len(self.ds), skipped, small, self.ds.crop)
        log = {"epochs": epochs, "steps": step, "loss_per_epoch": losses, "skipped": skipped, "too_small": small,
               "seconds": round(seconds + time.time() - t0, 2)}
        if saved:
            log["resumed_at_step"] = saved["step"]
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.logs[key] = log
        return log

    def _curves(self, key: str, step: int, optimizer, window: dict) -> None:
        """The live-curve points of this step (engine/curves.py): loss, lr, clips/s, data-wait fraction."""
        now = time.perf_counter()
        span = max(now - window["t"], 1e-9)
        if self.last_loss is not None:
            curves.scalar(f"train/{key}/loss", float(self.last_loss), step)
        curves.scalar(f"train/{key}/lr", optimizer.param_groups[0]["lr"], step)
        curves.scalar(f"train/{key}/clips_per_s", window["clips"] * dist.world_size() / span, step)
        curves.scalar(f"train/{key}/data_wait_fraction", min(window["wait"] / span, 1.0), step)
        window.update(t=now, wait=0.0, clips=0)

    last_loss = None   # the last step's loss tensor (live curves read it)

    def step(self, net, data, optimizer, params, step_loss, running_t, world: int = 1) -> int:
        """One optimiser step on this rank's part of a global batch; returns the samples it counted."""
        empty = data["clips"] is None
        if empty and world == 1:
            return 0                                   # every video of the batch unreadable: no step
        if empty:                                      # keep DDP's collectives in step: a zero-weight pass
            data = self._placeholder()
            buffers = [b.detach().clone() for b in self.model.buffers()]
        with autocast(self.device):
            loss, n = step_loss(net, data)
        raw = loss
        if world > 1:
            # DDP averages gradients over ranks; weighting each rank's mean loss by its share of the
            # global batch makes that the mean over the global batch, as in one process.
            n_local = 0.0 if empty else float(len(data["label"]))
            n_global = dist.all_reduce_sum(torch.full((1,), n_local, device=self.device))  # no host sync
            loss = loss * (n_local * world / n_global.clamp(min=1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        if empty:
            for b, old in zip(self.model.buffers(), buffers):
                b.copy_(old)                           # the placeholder must not move BatchNorm statistics
            return 0
        running_t += raw.detach().double() * n
        self.last_loss = raw.detach()
        return n

    def _placeholder(self) -> dict:
        ds = self.ds
        clips = torch.zeros(1, ds.n_clips, ds.frames, 3, ds.crop, ds.crop, dtype=torch.uint8)
        return {"clips": clips, "label": torch.zeros(1, dtype=torch.long), "index": torch.tensor([-1]),
                "bad_paths": []}

    def _totals(self, running_t: torch.Tensor, seen: int) -> tuple[float, int]:
        """(loss sum, samples) over all ranks."""
        if not dist.active():
            return float(running_t), seen
        t = dist.all_reduce_sum(torch.stack([running_t, torch.tensor(float(seen), dtype=torch.float64,
                                                                        device=running_t.device)]))
        return float(t[0]), int(t[1])

    def _rng(self) -> dict:
        st = {"torch": torch.get_rng_state(), **{k: g.get_state() for k, g in self.generators.items()}}
        if self.device.startswith("cuda"):
            st["cuda"] = torch.cuda.get_rng_state(self.device)
        return st

    def _set_rng(self, per_rank: list, seed: int) -> None:
        rank = dist.rank()
        if rank >= len(per_rank):  # resumed on more ranks than saved: fresh streams for the new ones
            torch.manual_seed(dist.rank_seed(seed))
            return
        st = per_rank[rank]
        torch.set_rng_state(st["torch"])
        for k, g in self.generators.items():
            g.set_state(st[k])
        if "cuda" in st and self.device.startswith("cuda"):
            torch.cuda.set_rng_state(st["cuda"], self.device)
