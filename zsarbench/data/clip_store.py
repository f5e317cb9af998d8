"""A compressed clip store for training at scale (recipe.clip_store = N; `zsarbench data cache`).

Each video is decoded once (decord, at the recipe's `resize`) into N fixed clip positions of the
recipe's frames and stride, every frame JPEG-encoded (torchvision.io.encode_jpeg, quality 90) and
appended to sharded files; training then reads a clip as T JPEGs (torchvision.io.decode_jpeg,
libjpeg-turbo) instead of decoding the (frames - 1) x stride + 1 frames a clip spans in the video.
This is the frame-folder approach of mmaction2's rawframes, bounded: N clips per video, not every frame.

Sampling (what changes against clips read from the videos, docs/scale.md): the N positions are
evenly spaced over the video's window (the test-time rule of video.sample_clips, so N = 1 is the
centre clip); each training step draws one of them per video from the (seed, epoch, index)
generator, then the crop and flip as usual. A video offers N distinct clips instead of every start
frame. Features and evaluation still decode the videos.

Layout of <cache_dir>/clips/<key>/ (written to <key>.part/, renamed when complete):
  shard-000.jpg ...  JPEG frames back to back (SHARD_BYTES each at most)
  index.npz          per video: slot key, first frame row, frames (0: unreadable), height, width;
                     per frame row: shard, byte offset, byte length
  meta.json          what was stored, its size and how long it took
The key extends the frame cache's (video paths, sizes, modification times, windows, resize) with the
frames, stride, positions and quality.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from ..artefacts import read_json, read_or_discard
from .disk_budget import check_budget
from .frame_cache import cache_key, slot_key
from .video import CorruptVideo, fork_pool, frame_window, open_video, read_frames, sample_clips

# torchvision 0.29 marks its JPEG codec deprecated in favour of torchcodec's; it is libjpeg-turbo
# and what the field reads rawframes with, so it stays until torchvision drops it
warnings.filterwarnings("ignore", "The image decoding and encoding capabilities of TorchVision", DeprecationWarning)
SHARD_BYTES = 1 << 30
QUALITY = 90
VERSION = 1


def store_key(videos, resize: int | None, frames: int, stride: int, positions: int) -> str:
    spec = f"clip-store v{VERSION} {cache_key(videos, resize)} frames={frames} stride={stride} " \
           f"positions={positions} quality={QUALITY}"
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def encode_video(args) -> tuple[str, list[bytes] | None, tuple[int, int], str]:
    """(slot, JPEG bytes of positions x frames frames, (H, W), error) of one video."""
    import torch
    from torchvision.io import encode_jpeg

    key, path, window, resize, frames, stride, positions = args
    try:
        vr = open_video(path, resize)
        lo, hi = frame_window(vr, window)
        clips = read_frames(vr, lo + sample_clips(hi - lo, frames, stride, positions))   # (N, T, H, W, 3)
        flat = torch.from_numpy(np.ascontiguousarray(clips.reshape(-1, *clips.shape[2:]))).permute(0, 3, 1, 2)
        jpegs = encode_jpeg(list(flat), quality=QUALITY)
        return key, [j.numpy().tobytes() for j in jpegs], clips.shape[2:4], ""
    except CorruptVideo as e:
        return key, None, (0, 0), str(e)
    except Exception as e:   # decord raises its own errors for truncated streams
        return key, None, (0, 0), f"{path}: {(str(e).splitlines() or [type(e).__name__])[0][:200]}"


class ClipStore:
    """Read side: clips(key, n, rng) -> (n, T, H, W, 3) uint8 of n stored positions drawn by rng."""

    def __init__(self, root: Path):
        self.root = Path(root)
        z = np.load(self.root / "index.npz", allow_pickle=False)
        self.slot = {str(p): i for i, p in enumerate(z["path"])}
        self.first, self.n = z["first"], z["frames"]
        self.shard, self.offset, self.length = z["shard"], z["offset"], z["length"]
        self.meta = read_json(self.root / "meta.json")
        self.frames, self.positions = int(self.meta["frames"]), int(self.meta["positions"])
        need = {}
        for s, end in zip(self.shard.tolist(), (self.offset + self.length).tolist()):
            need[s] = max(need.get(s, 0), end)
        for s, end in need.items():   # a truncated shard fails here, not in training
            size = os.path.getsize(self.root / f"shard-{s:03d}.jpg")
            if size < end:
                raise ValueError(f"shard-{s:03d}.jpg holds {size} bytes, its index needs {end}")
        self._maps: dict[int, np.memmap] = {}

    def __contains__(self, key: str) -> bool:
        return key in self.slot

    def __getstate__(self):   # loader workers map the shards themselves
        return {**self.__dict__, "_maps": {}}

    def _jpeg(self, row: int):
        import torch

        s = int(self.shard[row])
        if s not in self._maps:
            self._maps[s] = np.memmap(self.root / f"shard-{s:03d}.jpg", dtype=np.uint8, mode="r")
        o = int(self.offset[row])
        return torch.from_numpy(np.array(self._maps[s][o:o + int(self.length[row])]))

    def clips(self, key: str, n_clips: int, rng: np.random.Generator) -> np.ndarray | None:
        from torchvision.io import decode_jpeg

        i = self.slot[key]
        if self.n[i] == 0:
            return None
        T = self.frames
        picks = rng.integers(0, self.positions, size=n_clips)
        rows = [int(self.first[i]) + int(p) * T + t for p in picks for t in range(T)]
        frames = decode_jpeg([self._jpeg(r) for r in rows])               # [(3, H, W)] uint8
        out = np.stack([f.permute(1, 2, 0).numpy() for f in frames])
        return out.reshape(n_clips, T, *out.shape[1:])

    @property
    def unreadable(self) -> list[str]:
        return [p for p, i in self.slot.items() if self.n[i] == 0]


def estimate_clip_store(jobs: list[tuple], sample: int = 4) -> tuple[int, str]:
    """(bytes, how): the JPEG bytes of `sample` evenly spaced videos encoded now, times the videos."""
    picked = [jobs[i] for i in np.unique(np.linspace(0, len(jobs) - 1, min(sample, len(jobs))).astype(int))]
    sizes = [sum(map(len, r[1])) for r in map(encode_video, picked) if r[1] is not None]
    if not sizes:
        return 0, f"none of {len(picked)} sampled videos opens"
    return int(np.mean(sizes) * len(jobs)), (f"{len(jobs)} videos x {np.mean(sizes) / 1e6:.2f} MB, the mean of "
                                            f"{len(sizes)} encoded now")


def build_clip_store(videos, cache_dir: Path, resize: int | None, frames: int, stride: int, positions: int,
                     workers: int | None = None, progress=None, max_bytes: int | None = None,
                     show=None) -> ClipStore:
    """The clip store of `videos` (built now, or the complete copy already there). The estimate is
    shown and checked against the free space and `max_bytes` before anything is written; a failed
    build leaves no partial shard."""
    root = Path(cache_dir) / "clips" / store_key(videos, resize, frames, stride, positions)
    if (root / "meta.json").exists():
        store = read_or_discard(root, ClipStore, "clip store", "encoding the clips again")
        if store is not None:
            return store
    part = root.with_name(root.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    jobs = list(dict.fromkeys((slot_key(videos.rel(i), videos.window(i)), p, videos.window(i), resize, frames, stride, positions)
                              for i, p in enumerate(videos.paths)))
    estimate, basis = estimate_clip_store(jobs)
    check_budget(f"clip store of {videos.name} ({positions} clips x {frames} frames per video)", estimate, basis,
                 root.parent, max_bytes, show or (lambda line: None),
                 "fewer clips per video, recipe.clip_store=N, or a smaller recipe.resize")
    part.mkdir(parents=True)
    try:
        return _write(videos, jobs, root, part, workers, progress, frames, stride, positions, resize)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise


def _write(videos, jobs, root, part, workers, progress, frames, stride, positions, resize) -> ClipStore:
    t0 = time.time()
    n = len(jobs)
    first, count, height, width = (np.zeros(n, np.int64) for _ in range(4))
    shard_of, offset_of, length_of, errors = [], [], [], []
    task = progress.add_task(f"clip store: encoding {videos.name} ({n} videos)", total=n) if progress else None
    workers = workers or max(1, min(len(os.sched_getaffinity(0)), 8))
    pool = None
    if workers > 1:
        pool = fork_pool(workers)
    shard, written = 0, 0
    out = open(part / "shard-000.jpg", "wb")
    try:
        results = pool.imap(encode_video, jobs, chunksize=4) if pool else map(encode_video, jobs)
        for i, (_key, jpegs, hw, err) in enumerate(results):   # in order: the shards are deterministic
            if jpegs is None:
                errors.append(err)
            else:
                size = sum(map(len, jpegs))
                if written and written + size > SHARD_BYTES:
                    out.close()
                    shard, written = shard + 1, 0
                    out = open(part / f"shard-{shard:03d}.jpg", "wb")
                first[i], count[i], (height[i], width[i]) = len(shard_of), len(jpegs), hw
                for j in jpegs:
                    shard_of.append(shard)
                    offset_of.append(written)
                    length_of.append(len(j))
                    out.write(j)
                    written += len(j)
            if progress:
                progress.advance(task)
    finally:
        out.close()
        if pool:
            pool.terminate()
    np.savez(part / "index.npz", path=np.array([j[0] for j in jobs], dtype=str), first=first, frames=count,
             height=height, width=width, shard=np.array(shard_of, np.int64), offset=np.array(offset_of, np.int64),
             length=np.array(length_of, np.int64))
    total = int(sum(os.path.getsize(f) for f in part.glob("shard-*.jpg")))
    meta = {"dataset": videos.name, "n_videos": n, "resize": resize or 0, "frames": frames, "stride": stride,
            "positions": positions, "quality": QUALITY, "bytes": total,
            "bytes_per_video": round(total / max(n - len(errors), 1)), "unreadable": errors,
            "seconds": round(time.time() - t0, 2)}
    (part / "meta.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(root, ignore_errors=True)
    os.replace(part, root)
    return ClipStore(root)
