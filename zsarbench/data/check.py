"""`zsarbench data check`: what a dataset root holds, before any training touches it."""

from __future__ import annotations

import os

import numpy as np

from .video import CorruptVideo, fork_pool, frame_window, open_video, read_frames
from .videoset import VideoSet, dataset_digest


def probe_video(item: tuple[str, tuple[float, float] | None]) -> str | None:
    """None if the video opens and its middle frame (of the window) decodes, else the reason."""
    path, window = item
    try:
        vr = open_video(path)
        lo, hi = frame_window(vr, window)
        read_frames(vr, np.array([(lo + hi - 1) // 2]))
        return None
    except CorruptVideo as e:
        return str(e)[:200]


def check_dataset(vs: VideoSet, probe: int | None = None, seed: int = 0, progress=None,
                  per_class: int | None = None, workers: int | None = None) -> dict:
    """Classes, videos per class, classes without videos, annotated videos missing on disk, and
    the unreadable files among all videos, or among a seeded sample: `per_class` videos of every class
    (--sample N), or `probe` videos in all (--probe N). Videos are opened by `workers` processes
    (default: one per core, at most 16)."""
    counts = np.bincount(vs.labels, minlength=len(vs.classes))
    if per_class is not None and len(vs) > per_class * len(vs.classes):
        vs_open = vs.cap_per_class(per_class, seed)
        unique = sorted({(p, vs_open.window(i)) for i, p in enumerate(vs_open.paths)})
    else:
        unique = sorted({(p, vs.window(i)) for i, p in enumerate(vs.paths)})
    if probe is not None and probe < len(unique):
        pick = np.random.default_rng(seed).choice(len(unique), probe, replace=False)
        unique = [unique[i] for i in sorted(pick)]
    unreadable = []
    task = progress.add_task("opening videos", total=len(unique)) if progress and unique else None
    workers = workers or max(1, min(len(os.sched_getaffinity(0)), 16))
    if workers > 1 and len(unique) > 50:
        with fork_pool(workers) as pool:
            results = pool.imap(probe_video, unique, chunksize=8)
            for item, why in zip(unique, results):
                unreadable += [{"path": item[0], "error": why}] if why else []
                if progress:
                    progress.advance(task)
    else:
        for item in unique:
            why = probe_video(item)
            unreadable += [{"path": item[0], "error": why}] if why else []
            if progress:
                progress.advance(task)
    return {
        "dataset": vs.name, "root": str(vs.root), "kind": vs.kind, "layout": vs.layout, "signature": vs.signature,
        "digest": dataset_digest(vs),
        "n_classes": len(vs.classes), "n_videos": len(vs),
        "n_files": len({p for p in vs.paths}), "segments": vs.starts is not None,
        "videos_per_class": dict(zip(vs.classes, counts.tolist())),
        "classes_without_videos": [c for c, n in zip(vs.classes, counts) if n == 0],
        "subsets": {k: int(m.sum()) for k, m in vs.subsets.items()},
        "missing_videos": vs.missing, "probed": len(unique), "sample_per_class": per_class,
        "unreadable": unreadable,
        "deviations": dict(vs.deviations),   # annotations a run refuses unless it accepts them (deviations.py)
        "notes": vs.notes,
    }
