"""A pre-decoded frame cache: every video decoded once (decord), kept as uint8 in memory-mapped shards.

Training then slices clips out of the page cache instead of opening and decoding an mp4 per
clip. Clips are the same as decord gives (the cache holds the frames of each video's annotated
window, decoded at the recipe's `resize`), so a run with and without the cache sees identical
pixels; the tests check that.

Layout of <cache_dir>/frames/<key>/ (written to <key>.part/ and renamed when complete):
  shard-000.u8 ...   raw uint8 frames, videos back to back
  index.npz          per video: path, shard, byte offset, frames, height, width (frames 0: unreadable)
  meta.json          what was decoded and how long it took
The key hashes each video's path relative to the dataset root, its size and content hash
(identity.py), its window, and `resize` and the cache's version, so a changed (re-encoded) file or
setting can never be served stale frames, and a dataset and cache moved to other folders keep
theirs; slots are named by relative path too. One process builds a given cache at a time (others
wait on its lock, then reuse it); a full disk is one line and leaves no partial cache behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ..artefacts import built_once, disk_full, is_disk_full, read_json, read_or_discard
from .disk_budget import check_budget
from .identity import file_ids
from .video import CorruptVideo, fork_pool, frame_window, get_batch, open_video

SHARD_BYTES = 4 << 30
FRAME_CACHE_VERSION = 2   # bump when the layout or the key changes (2: videos by content, relative slots)


def slot_key(rel: str, window) -> str:
    """One cache slot per (file relative to the dataset root, window): an untrimmed video may hold
    several annotated segments."""
    return rel if window is None else f"{rel}@{window[0]:.3f}-{window[1]:.3f}"


def cache_key(videos, resize: int | None) -> str:
    ids = videos.ids if videos.ids is not None else file_ids(videos.paths, videos.root)
    h = hashlib.sha256(f"v{FRAME_CACHE_VERSION} resize={resize or 0}\n".encode())
    for i in range(len(videos)):
        h.update(f"{videos.rel(i)}\t{ids[i]}\t{videos.window(i)}\n".encode())
    return h.hexdigest()[:16]


def _decode(args):
    key, path, window, resize = args
    try:
        vr = open_video(path, resize)
        lo, hi = frame_window(vr, window)
        frames = get_batch(vr, list(range(lo, hi)))
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
            raise CorruptVideo(f"{path}: decoded frames have shape {frames.shape}")
        return key, np.ascontiguousarray(frames, dtype=np.uint8), ""
    except CorruptVideo as e:
        return key, None, str(e)
    except Exception as e:  # decord raises its own errors for truncated streams
        return key, None, f"{path}: {str(e).splitlines()[0][:200]}"


class FrameCache:
    """Read side: frames(slot_key(path, window)) -> (n, H, W, 3) uint8 view, or None when unreadable.
    Opening checks the index, the meta data and the shard sizes (raises when broken)."""

    fresh = False   # True: decoded by this process (build_frame_cache), not found in the cache

    def __init__(self, root: Path):
        self.root = Path(root)
        z = np.load(self.root / "index.npz", allow_pickle=False)
        self.slot = {str(p): i for i, p in enumerate(z["path"])}
        self.shard, self.offset = z["shard"], z["offset"]
        self.n, self.h, self.w = z["frames"], z["height"], z["width"]
        self.meta = read_json(self.root / "meta.json")
        self._maps: dict[int, np.memmap] = {}
        need = {}  # each shard holds the bytes its index says (a truncated shard fails here, not in training)
        for s, end in zip(self.shard.tolist(), (self.offset + self.n * self.h * self.w * 3).tolist()):
            need[s] = max(need.get(s, 0), end)
        for s, end in need.items():
            size = os.path.getsize(self.root / f"shard-{s:03d}.u8")
            if size < end:
                raise ValueError(f"shard-{s:03d}.u8 holds {size} bytes, its index needs {end}")

    def __contains__(self, key: str) -> bool:
        return key in self.slot

    def frames(self, key: str) -> np.ndarray | None:
        i = self.slot.get(key)
        if i is None or self.n[i] == 0:
            return None
        s = int(self.shard[i])
        if s not in self._maps:  # opened lazily: each loader worker maps the shards itself
            self._maps[s] = np.memmap(self.root / f"shard-{s:03d}.u8", dtype=np.uint8, mode="r")
        size = int(self.n[i]) * int(self.h[i]) * int(self.w[i]) * 3
        flat = self._maps[s][int(self.offset[i]):int(self.offset[i]) + size]
        return flat.reshape(int(self.n[i]), int(self.h[i]), int(self.w[i]), 3)

    def __getstate__(self):  # memmaps are not sent to loader workers; they reopen them
        return {**self.__dict__, "_maps": {}}

    @property
    def unreadable(self) -> list[str]:
        """The slots (paths relative to the dataset root, with a window) that could not be decoded."""
        return [p for p, i in self.slot.items() if self.n[i] == 0]


def frame_cache_root(cache_dir: Path, videos, resize: int | None) -> Path:
    """Where the frame cache of `videos` decoded at `resize` lives; complete once it holds meta.json."""
    return Path(cache_dir) / "frames" / cache_key(videos, resize)


def estimate_frame_cache(videos, resize: int | None, sample: int = 16) -> tuple[int, str]:
    """(bytes, how it was estimated): the frames of each video's window x H x W x 3, from `sample`
    evenly spaced videos opened now (all of them when there are no more), times the number of videos."""
    slots = list(dict.fromkeys((slot_key(videos.rel(i), videos.window(i)), p, videos.window(i))
                               for i, p in enumerate(videos.paths)))
    if not slots:
        return 0, "no videos"
    picked = [slots[i] for i in np.unique(np.linspace(0, len(slots) - 1, min(sample, len(slots))).astype(int))]
    sizes = []
    for _, path, window in picked:
        try:
            vr = open_video(path, resize)
            lo, hi = frame_window(vr, window)
            h, w = (resize, resize) if resize else get_batch(vr, [lo]).shape[1:3]
            sizes.append((hi - lo) * h * w * 3)
        except CorruptVideo:
            continue
    if not sizes:
        return 0, f"none of {len(picked)} sampled videos opens"
    if len(picked) == len(slots):
        return int(sum(sizes)), f"{len(slots)} videos, every one opened"
    return int(np.mean(sizes) * len(slots)), (
        f"{len(slots)} videos x {np.mean(sizes) / 1e6:.1f} MB, the mean of {len(sizes)} opened")


def _complete(root: Path) -> FrameCache | None:
    if (root / "meta.json").exists():
        return read_or_discard(root, FrameCache, "frame cache", "decoding the videos again")
    return None


def build_frame_cache(videos, cache_dir: Path, resize: int | None = None, workers: int | None = None,
                      progress=None, desc: str = "", max_bytes: int | None = None, show=None,
                      log=None) -> FrameCache:
    """Decode every video of `videos` once into the cache (or open the complete copy already there).
    Another process building the same cache is waited for (its lock), then its cache reused. Before
    writing, the estimate is shown (`show`) and checked against the free space and `max_bytes`
    (disk_budget.check_budget: a UserError); a build that fails leaves no partial shard behind."""
    root = frame_cache_root(cache_dir, videos, resize)
    cache = _complete(root)
    if cache is not None:
        return cache
    with built_once(root.with_name(root.name + ".lock"), f"the frame cache {root}", log):
        cache = _complete(root)   # built by the process we waited for
        if cache is not None:
            return cache
        part = root.with_name(root.name + ".part")
        shutil.rmtree(part, ignore_errors=True)   # an interrupted build is redone, never trusted
        estimate, basis = estimate_frame_cache(videos, resize)
        check_budget(f"frame cache of {videos.name}", estimate, basis, root.parent, max_bytes,
                     show or (lambda line: None))
        try:
            part.mkdir(parents=True)
            return _build(videos, root, part, resize, workers, progress, desc)
        except BaseException as e:
            shutil.rmtree(part, ignore_errors=True)   # nothing partial is left to trust (or to fill the disk)
            if is_disk_full(e):
                raise disk_full(part, "the frame cache", getattr(e, "need", None), at_least=True) from None
            raise


def _build(videos, root: Path, part: Path, resize, workers, progress, desc) -> FrameCache:
    t0 = time.time()
    jobs = list(dict.fromkeys((slot_key(videos.rel(i), videos.window(i)), p, videos.window(i), resize)
                              for i, p in enumerate(videos.paths)))
    fields = {k: np.zeros(len(jobs), np.int64) for k in ("shard", "offset", "frames", "height", "width")}
    slot = {job[0]: i for i, job in enumerate(jobs)}
    errors: list[str] = []
    task = progress.add_task(desc or f"decoding {videos.name} into the frame cache", total=len(jobs)) \
        if progress else None
    workers = workers or max(1, min(len(os.sched_getaffinity(0)), 8))
    shard, written, pool = 0, 0, None
    out = open(part / "shard-000.u8", "wb")
    try:
        if workers > 1:
            pool = fork_pool(workers)
            results = pool.imap(_decode, jobs, chunksize=8)   # in order: shards are deterministic
        else:
            pool, results = None, map(_decode, jobs)
        for key, frames, err in results:
            i = slot[key]
            if frames is None:
                errors.append(err)
            else:
                if written and written + frames.nbytes > SHARD_BYTES:
                    out.close()
                    shard, written = shard + 1, 0
                    out = open(part / f"shard-{shard:03d}.u8", "wb")
                try:
                    out.write(frames.tobytes())
                except OSError as e:
                    e.need = frames.nbytes   # the message says at least this much more is needed
                    raise
                fields["shard"][i], fields["offset"][i] = shard, written
                fields["frames"][i], fields["height"][i], fields["width"][i] = frames.shape[:3]
                written += frames.nbytes
            if progress:
                progress.advance(task)
        if pool:
            pool.close()
            pool.join()
            pool = None
    finally:
        out.close()
        if pool:   # stopped early (an error, a full disk): no decoder left running
            pool.terminate()
    np.savez(part / "index.npz", path=np.array([job[0] for job in jobs], dtype=str), **fields)
    meta = {"version": FRAME_CACHE_VERSION, "dataset": videos.name, "n_videos": len(jobs), "resize": resize or 0,
            "bytes": int(sum(os.path.getsize(f) for f in part.glob("shard-*.u8"))),
            "unreadable": errors, "seconds": round(time.time() - t0, 2)}
    with open(part / "meta.json", "w") as f:   # written last: a folder without it is not a cache
        f.write(json.dumps(meta, indent=2))
        f.flush()
        os.fsync(f.fileno())
    shutil.rmtree(root, ignore_errors=True)
    os.replace(part, root)
    cache = FrameCache(root)
    cache.fresh = True
    return cache


def attach_frame_cache(videos, cache_dir: Path, resize: int | None = None, progress=None):
    """`videos` with its frame cache built (or reused) and attached; ClipDataset reads from it."""
    import dataclasses

    cache = build_frame_cache(videos, cache_dir, resize, progress=progress,
                              desc=f"frame cache: decoding {videos.name} ({len(videos)} videos)",
                              log=(lambda m: progress.console.print(m, markup=False, highlight=False))
                              if progress is not None else None)
    return dataclasses.replace(videos, frame_cache=cache)
