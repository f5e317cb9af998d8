"""Training and evaluation throughput of ResT, all measured in one run on one machine (ratios compare).

    python bench/clip_throughput.py                          # CPU-sized: rest18, 8 x 32^2 clips, batch 16
    python bench/clip_throughput.py --preset gpu             # 16 x 224^2 clips from 340x256 mp4s, batch 64
    python bench/clip_throughput.py --preset gpu --max-batch # + the largest batch of rest18/34/101

For the joint step (F + the encoder, CLS + MLM losses, AdamW: the full ResT training step):
  compute    uint8 clips already on the device -> normalise -> step (Trainer.step, no data loading)
  e2e_mp4    the training loop (Trainer.stage) over real H.264 files, decord in the loader workers
  e2e_cache  the same loop over the pre-decoded frame cache (`zsarbench data cache`)
plus the warm-up step (F alone, SGD) and evaluation (forward only) on device tensors, and peak
memory. The CPU's instruction set as torch dispatches it (cpu_capability: AVX2, AVX512) is in the
report: CPU step rates differ by ISA. On the CPU the warm-up step is also timed with oneDNN's
convolution for one-pixel maps (compute_warmup_plain_conv_*: before models/backbones.PixelConv2d)
and the joint step with AdamW's per-tensor loop (compute_joint_unfused_adamw_*: before fused AdamW on
the CPU), in the same run, so the ratios are measured beside whatever else the machine runs. The loops' clips/s are steady state: from the end of step `--skip` to the end of the stage.
The report (kind "zsar-bench": the command, git revision, versions, hardware) goes to
--out/clip_throughput-<UTC time>.json: $OUT when set (the GPU machine), else results/bench/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from contextlib import contextmanager
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

from zsarbench import create_method
from zsarbench.data.datasets import ClipDataset, VideoSet
from zsarbench.data.frame_cache import attach_frame_cache
from zsarbench.data.video import write_video
from zsarbench.engine.train import Trainer, autocast, n_workers, pick_device, to_frames
from zsarbench.methods.rest import _Stage, frame_features
from zsarbench.protocol import Recipe
from zsarbench.results import new_results_path, now, provenance, write_json_atomic

PRESETS = {  # frames, crop, batch, video width x height x length, GOP, steps
    "cpu": dict(frames=8, crop=32, batch=16, video=(40, 40, 32), gop=16, steps=12, skip=2, stride=3),
    "gpu": dict(frames=16, crop=224, batch=64, video=(340, 256, 250), gop=50, steps=40, skip=5, stride=6),
}


def wave_frames(w: int, h: int, n: int, seed: int):
    """n frames of moving colour waves plus noise: a realistic bitrate, cheap to render."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    ph = rng.uniform(0, 6.28, 3)
    for t in range(n):
        img = np.stack([127 + 120 * np.sin(xx / (17 + 5 * k) + yy / (23 + 3 * k) + 0.1 * t * (k + 1) + ph[k])
                        for k in range(3)], -1)
        yield (img + rng.normal(0, 8, img.shape)).clip(0, 255).astype(np.uint8)


def _write_video(args):
    path, (w, h, n), gop, seed = args
    write_video(path, wave_frames(w, h, n, seed), 25, options={"crf": "23", "preset": "veryfast", "g": str(gop), "threads": "1"})
    return str(path)


def make_videos(folder: Path, n: int, size, gop: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    with Pool(min(n, len(os.sched_getaffinity(0)))) as pool:
        return pool.map(_write_video, [(folder / f"v{i:03d}.mp4", size, gop, i) for i in range(n)])


class StepClock:
    """Stands in for the progress bar Trainer.stage drives: records when each step was issued."""

    def __init__(self):
        self.t = []

    def add_task(self, *a, **k):
        return 0

    def update(self, task, advance=0, **k):
        if advance:
            self.t.append(time.perf_counter())


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory(device) -> dict:
    out = {"host_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
           "workers_rss_gb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2)}
    if device.startswith("cuda"):
        out["gpu_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        torch.cuda.reset_peak_memory_stats()
    return out


def timed(fn, steps: int, skip: int, device: str) -> float:
    """Seconds per call, steady state."""
    for _ in range(skip):
        fn()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return (time.perf_counter() - t) / steps


def setup(method: str, a, n_classes: int = 64):
    m = create_method(method, frames=a.frames)
    torch.manual_seed(0)
    m._build(n_classes, [f"w{i}" for i in range(2 * n_classes)], a.frames, 2)
    model = m.model.to(a.device).train()
    words = torch.randint(2, 2 * n_classes + 2, (n_classes, 2), device=a.device)
    recipe = Recipe(frames=a.frames, crop=a.crop, stride=a.stride, batch_size=a.batch, resize=a.resize,
                    compile=a.compile)
    warm_loss, joint_loss = m.step_losses(recipe, words, torch.Generator(device=a.device).manual_seed(0),
                                          {"mlm_masked": 0, "mlm_words": 0}, a.device)
    joint_params = [p for n, p in model.named_parameters() if not n.startswith("warmup_head")]
    return m, model, recipe, warm_loss, joint_loss, joint_params


@contextmanager
def plain_convolutions(model):
    """The model's PixelConv2d layers as plain nn.Conv2d (oneDNN for every shape) inside the block."""
    from zsarbench.models.backbones import PixelConv2d

    swapped = [m for m in model.modules() if type(m) is PixelConv2d]
    for m in swapped:
        m.__class__ = torch.nn.Conv2d
    try:
        yield
    finally:
        for m in swapped:
            m.__class__ = PixelConv2d


def adamw(params, device, fused: bool = True):
    return torch.optim.AdamW(params, lr=1e-4, fused=fused)   # as methods/rest.py: fused on CPU and GPU


def device_batch(a, n_classes=64):
    g = torch.Generator(device=a.device).manual_seed(0)
    return {"clips": torch.randint(0, 256, (a.batch, 1, a.frames, 3, a.crop, a.crop), dtype=torch.uint8,
                                   generator=g, device=a.device),
            "label": torch.randint(0, n_classes, (a.batch,), generator=g, device=a.device), "bad_paths": []}


def compute_phase(a) -> dict:
    m, model, recipe, warm_loss, joint_loss, joint_params = setup(a.method, a)
    batch, dev = device_batch(a), a.device
    running = torch.zeros((), dtype=torch.float64, device=dev)
    trainer = Trainer(model, None, a.batch, dev, 0)
    out = {}
    warm_params = list(model.frame_encoder.parameters()) + list(model.warmup_head.parameters())
    for name, net, loss, params, opt in (
            ("warmup", _Stage(model, False), warm_loss, warm_params, torch.optim.SGD(warm_params, lr=0.01, momentum=0.9)),
            ("joint", _Stage(model, True), joint_loss, joint_params, adamw(joint_params, dev))):
        if a.compile:
            net = torch.compile(net)
        s = timed(lambda: trainer.step(net, batch, opt, params, loss, running), a.steps, a.skip, dev)   # noqa: B023 (timed now)
        out[f"compute_{name}_clips_per_s"] = round(a.batch / s, 2)
        out[f"compute_{name}_steps_per_s"] = round(1 / s, 3)
        if name == "warmup" and dev == "cpu":
            with plain_convolutions(model):
                s = timed(lambda: trainer.step(net, batch, opt, params, loss, running), a.steps, a.skip, dev)   # noqa: B023 (timed now)
            out["compute_warmup_plain_conv_steps_per_s"] = round(1 / s, 3)
            out["pixel_conv_speedup_warmup"] = round(out["compute_warmup_steps_per_s"] * s, 2)
        if name == "joint" and dev == "cpu":   # before: AdamW's per-tensor loop (fused was CUDA-only)
            loop = adamw(params, dev, fused=False)
            s = timed(lambda: trainer.step(net, batch, loop, params, loss, running), a.steps, a.skip, dev)   # noqa: B023 (timed now)
            out["compute_joint_unfused_adamw_steps_per_s"] = round(1 / s, 3)
            out["fused_adamw_speedup_joint"] = round(out["compute_joint_steps_per_s"] * s, 2)
    model.eval()

    @torch.no_grad()
    def evaluate():
        with autocast(dev):
            model(frame_features(model, to_frames(batch, dev)))
    out["eval_clips_per_s"] = round(a.batch / timed(evaluate, a.steps, a.skip, dev), 2)
    out["compute_peak"] = peak_memory(dev)
    return out


def e2e_phase(a, videos: VideoSet) -> dict:
    """The joint stage through Trainer.stage: loader workers, pinned copies, the real step."""
    m, model, recipe, _, joint_loss, joint_params = setup(a.method, a)
    n = (a.steps + a.skip) * a.batch   # one epoch holds every timed step: no worker restart inside
    reps = -(-n // len(videos))
    vs = VideoSet("bench", videos.root, ["c"], videos.paths * reps, np.zeros(len(videos) * reps, np.int64),
                  frame_cache=videos.frame_cache)
    ds = ClipDataset(vs, a.frames, a.stride, a.crop, 1, a.resize or None, seed=0,
                     crop_on_device=a.device.startswith("cuda") and a.resize > 0)
    clock = StepClock()
    workers = n_workers(a.workers, a.device)
    trainer = Trainer(model, ds, a.batch, a.device, workers, compile=a.compile, progress=clock)
    steps, start = a.steps + a.skip, time.perf_counter()
    trainer.stage("joint", "joint", steps / -(-len(ds) // a.batch), adamw(joint_params, a.device), joint_params,
                  _Stage(model, True), joint_loss, seed=0)
    sync(a.device)
    end = time.perf_counter()
    return {"clips_per_s": round(a.steps * a.batch / (end - clock.t[a.skip - 1]), 2), "workers": workers,
            "first_step_s": round(clock.t[0] - start, 2), "peak": peak_memory(a.device)}


def max_batch(method: str, frames: int, a) -> dict:
    """Largest batch whose joint training step fits in GPU memory (doubling, then bisection)."""
    import copy

    def fits(b):
        args = copy.copy(a)
        args.batch, args.frames, args.steps, args.skip = b, frames, 1, 1
        try:
            m, model, recipe, _, joint_loss, params = setup(method, args)
            running = torch.zeros((), dtype=torch.float64, device=a.device)
            Trainer(model, None, b, a.device, 0).step(_Stage(model, True), device_batch(args), adamw(params, a.device),
                                                      params, joint_loss, running)
            sync(a.device)
            return True
        except torch.cuda.OutOfMemoryError:
            return False
        finally:
            torch.cuda.empty_cache()

    lo, hi = 0, 16
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 8:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    torch.cuda.reset_peak_memory_stats()
    if lo:
        fits(lo)
    return {"method": method, "frames": frames, "max_batch": lo, "gpu_gb_at_max": round(torch.cuda.max_memory_allocated() / 2**30, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=PRESETS, default=None, help="default: gpu on a GPU machine, else cpu")
    ap.add_argument("--method", default="rest18")
    for k in ("frames", "crop", "batch", "steps", "skip", "stride"):
        ap.add_argument(f"--{k}", type=int, default=None)
    ap.add_argument("--videos", type=int, default=32, help="distinct mp4 files (repeated to fill the epoch)")
    ap.add_argument("--resize", type=int, default=0, help="decode at resize x resize (0: native)")
    ap.add_argument("--workers", type=int, default=-1, help="loader workers (-1: as training picks)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the step (recipe.compile)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-batch", action="store_true", help="also find the largest batch of rest18/34/101 (GPU)")
    ap.add_argument("--out", default=os.environ.get("OUT") or "results/bench",
                    help="folder for the report, clip_throughput-<UTC time>.json (default: $OUT, else results/bench)")
    a = ap.parse_args()
    a.device = pick_device(a.device)
    if a.max_batch and not a.device.startswith("cuda"):
        ap.error(f"--max-batch measures GPU memory; the device here is {a.device}")
    preset = PRESETS[a.preset or ("gpu" if a.device.startswith("cuda") else "cpu")]
    for k, v in preset.items():
        if getattr(a, k, None) is None:
            setattr(a, k, v)
    t_start, started = time.time(), now()
    report = {"kind": "zsar-bench", "command": " ".join(["python bench/clip_throughput.py", *sys.argv[1:]]),
              "started": started, "method": a.method, "device": a.device, "frames": a.frames, "crop": a.crop,
              "batch": a.batch, "video": a.video, "gop": a.gop, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "cores": len(os.sched_getaffinity(0)),
              "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "gpu": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None}
    print(json.dumps(report), flush=True)
    report.update(compute_phase(a))
    print(json.dumps({k: v for k, v in report.items() if k.startswith(("compute", "eval"))}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        paths = make_videos(Path(tmp) / "videos", a.videos, a.video, a.gop)
        report["video_generation_s"] = round(time.time() - t, 1)
        vs = VideoSet("bench", Path(tmp), ["c"], paths, np.zeros(len(paths), np.int64))
        report["e2e_mp4"] = e2e_phase(a, vs)
        print(json.dumps({"e2e_mp4": report["e2e_mp4"]}), flush=True)
        t = time.time()
        cached = attach_frame_cache(vs, Path(tmp), a.resize or None)
        report["frame_cache_build_s"] = round(time.time() - t, 1)
        report["frame_cache_gb"] = round(cached.frame_cache.meta["bytes"] / 1e9, 2)
        report["e2e_cache"] = e2e_phase(a, cached)
        print(json.dumps({"e2e_cache": report["e2e_cache"]}), flush=True)
    c = report["compute_joint_clips_per_s"]
    report["ratio_e2e_mp4_to_compute"] = round(report["e2e_mp4"]["clips_per_s"] / c, 3)
    report["ratio_e2e_cache_to_compute"] = round(report["e2e_cache"]["clips_per_s"] / c, 3)
    if a.max_batch:
        report["max_batch"] = [max_batch(name, f, a) for name, f in (("rest18", 16), ("rest34", 8), ("rest101", 4))]
    report["seconds"] = round(time.time() - t_start, 1)
    report["provenance"] = provenance()
    print(json.dumps(report, indent=1))
    path = new_results_path(Path(a.out), "", "clip_throughput")  # a new file: never overwrites a report
    write_json_atomic(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
