"""Decode budget: clips/s per core of each way to read training clips, on the same generated files in
one run (ratios compare; absolute rates move with whatever else the machine runs).

    python bench/decode_throughput.py             # 6 + 6 videos, 24 clips per reader and kind
    python bench/decode_throughput.py --videos 2 --clips 4 --seconds 2    # a toy run (the test)

Files: 340x256 H.264 mp4 (libx264, its default GOP: keyframe every 250 frames, as Kinetics' YouTube
encodes come) and 320x240 MPEG-4 Part 2 AVI (as UCF101 ships), 25 fps, --seconds long. Readers, each
one process with one thread (per core), one random clip of the recipe (16 frames, stride 6: a clip
spans 91 frames that must all be decoded) per video opened, the readers taking turns clip by clip:
  decord           the project's reader (data/video.py), native size and resized in the decoder
  torchcodec       recipe.decoder = "torchcodec" on the CPU, native size and resized in the decoder
  clip_store       recipe.clip_store = --positions: one stored clip, 16 JPEGs decoded (decode_jpeg)
  torchcodec_cuda  with --device cuda: NVDEC (torchcodec's beta CUDA backend), resized on the GPU; its
                   "per core" is per process feeding the GPU
plus the store's bytes per video against the video file's, and the cores one GPU needs at the turn-1
anchor (one H200 trains ResT_18 at 620 clips/s, 16 x 224^2, bf16). The report (kind "zsar-bench")
goes to --out/decode_throughput-<UTC time>.json ($OUT when set, else results/bench/)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from clip_throughput import wave_frames  # bench/ is on the path of a bench script

from zsarbench.data.clip_store import build_clip_store
from zsarbench.data.identity import relative
from zsarbench.data.video import open_video, read_frames, sample_clips, write_video
from zsarbench.data.videoset import VideoSet
from zsarbench.results import new_results_path, now, provenance, write_json_atomic

GPU_CLIPS_PER_S = 620   # shared/docs/environment.md: ResT_18 on one H200, B=64, bf16 + channels_last
KINDS = {  # name -> (width, height, codec, suffix, options)
    "h264_340x256": (340, 256, "libx264", ".mp4", {"crf": "23", "preset": "veryfast", "threads": "1"}),
    "mpeg4_320x240": (320, 240, "mpeg4", ".avi", {"qscale": "4", "threads": "1"}),
}


def _write(args):
    path, (w, h, codec, _, options), n, seed = args
    write_video(path, wave_frames(w, h, n, seed), 25, codec=codec, options=options)
    return str(path)


def per_core(readers: dict, paths, clips: int, seed: int = 0) -> dict:
    """Clips/s of each read(path, rng) in this process, one thread. The readers take turns clip by
    clip (each on the same video and start), so a machine whose load changes meanwhile slows them alike
    and their ratios hold."""
    for read in readers.values():
        read(paths[0], np.random.default_rng(seed))   # libraries loaded, caches warm
    spent = dict.fromkeys(readers, 0.0)
    for i in range(clips):
        for name, read in readers.items():
            rng = np.random.default_rng([seed, i])
            t = time.perf_counter()
            read(paths[i % len(paths)], rng)
            spent[name] += time.perf_counter() - t
    return {name: clips / s for name, s in spent.items()}


def video_reader(decoder: str, size: int | None, frames: int, stride: int, device: str = "cpu"):
    def read(path, rng):
        vr = open_video(path, size, decoder, device)
        clip = read_frames(vr, sample_clips(len(vr), frames, stride, 1, rng))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return clip
    return read


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=6, help="files per kind")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each file")
    ap.add_argument("--clips", type=int, default=24, help="clips timed per reader and kind")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--stride", type=int, default=6)
    ap.add_argument("--resize", type=int, default=256, help="the recipe's resize (decoders' resize, the store's size)")
    ap.add_argument("--positions", type=int, default=4, help="clip positions per video in the clip store")
    ap.add_argument("--device", default="cpu", help="cuda: also torchcodec's NVDEC decoder (recipe.decoder = "
                    "torchcodec on a GPU), one process")
    ap.add_argument("--out", default=os.environ.get("OUT") or "results/bench")
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    report = {"kind": "zsar-bench", "bench": "decode_throughput", "started": now(),
              "command": " ".join(["python bench/decode_throughput.py", *sys.argv[1:]]),
              "frames": a.frames, "stride": a.stride, "resize": a.resize, "positions": a.positions,
              "clips_timed": a.clips, "gpu_clips_per_s_anchor": GPU_CLIPS_PER_S,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cores": len(os.sched_getaffinity(0)),
              "load_average_at_start": os.getloadavg()[0], "kinds": {}}
    n = int(round(a.seconds * 25))
    with tempfile.TemporaryDirectory() as tmp:
        for kind, spec in KINDS.items():
            folder = Path(tmp) / kind
            folder.mkdir()
            with Pool(min(a.videos, len(os.sched_getaffinity(0)))) as pool:
                paths = pool.map(_write, [(folder / f"v{i:02d}{spec[3]}", spec, n, i) for i in range(a.videos)])
            vs = VideoSet(kind, folder, ["c"], paths, np.zeros(len(paths), np.int64))
            t = time.time()
            store = build_clip_store(vs, Path(tmp) / "cache", a.resize, a.frames, a.stride, a.positions, workers=1)
            build_s = time.time() - t
            rates = per_core({
                "decord_native": video_reader("decord", None, a.frames, a.stride),
                f"decord_resize{a.resize}": video_reader("decord", a.resize, a.frames, a.stride),
                "torchcodec_native": video_reader("torchcodec", None, a.frames, a.stride),
                f"torchcodec_resize{a.resize}": video_reader("torchcodec", a.resize, a.frames, a.stride),
                "clip_store": lambda p, rng, store=store, folder=folder: store.clips(relative(p, folder), 1, rng),   # slots: relative
                **({f"torchcodec_cuda_resize{a.resize}": video_reader("torchcodec", a.resize, a.frames, a.stride,
                                                                       a.device)} if a.device.startswith("cuda") else {}),
            }, paths, a.clips)
            base = rates[f"decord_resize{a.resize}"]
            video_bytes = float(np.mean([os.path.getsize(p) for p in paths]))
            report["kinds"][kind] = {
                "clips_per_s_per_core": {k: round(v, 2) for k, v in rates.items()},
                "ratio_to_decord_resize": {k: round(v / base, 2) for k, v in rates.items()},
                "cores_per_gpu_at_anchor": {k: round(GPU_CLIPS_PER_S / v, 1) for k, v in rates.items()},
                "video_bytes_per_video": int(video_bytes),
                "store_bytes_per_video": store.meta["bytes_per_video"],
                "store_to_video_bytes": round(store.meta["bytes_per_video"] / video_bytes, 3),
                "store_build_s_per_video": round(build_s / len(paths), 2),
            }
            print(json.dumps({kind: report["kinds"][kind]}), flush=True)
    report["seconds"] = round(time.time() - t0, 1)
    report["provenance"] = provenance()
    print(markdown(report))
    path = new_results_path(Path(a.out), "", "decode_throughput")
    write_json_atomic(path, report)
    print(f"wrote {path}")


def markdown(rep: dict) -> str:
    """The table docs/scale.md shows."""
    lines = [f"clips/s per core, {rep['frames']} frames stride {rep['stride']}, one random clip per video opened; "
             f"{rep['cpu_capability']}, load average {rep['load_average_at_start']:.1f} on {rep['cores']} cores", "",
             "| files | reader | clips/s per core | vs decord resized | cores per GPU at 620 clips/s |",
             "|---|---|---|---|---|"]
    for kind, r in rep["kinds"].items():
        for k, v in r["clips_per_s_per_core"].items():
            lines.append(f"| {kind} | {k} | {v} | {r['ratio_to_decord_resize'][k]} | {r['cores_per_gpu_at_anchor'][k]} |")
    lines += ["", "| files | video bytes per video | clip store bytes per video | store / video | store build s per video |",
              "|---|---|---|---|---|"]
    for kind, r in rep["kinds"].items():
        lines.append(f"| {kind} | {r['video_bytes_per_video']:,} | {r['store_bytes_per_video']:,} | "
                     f"{r['store_to_video_bytes']} | {r['store_build_s_per_video']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
