"""The feature cache: one .npz per (checkpoint, videos, test-time sampling) under CACHE/features/.

An entry holds its own spec and is used only if that equals the requested one, so a changed
checkpoint or sampling is never mixed up; rank 0 writes it atomically (engine/dist.py). An entry
that cannot be read is reported, deleted and extracted again (artefacts.read_or_discard). The
videos are keyed by content (videoset.fingerprint: relative path, size and content hash, class,
segment), so a re-encoded video is a new entry and a moved dataset or cache finds its entries; the
skipped videos it lists are stored relative to the dataset root for the same reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .artefacts import read_or_discard, write_atomic
from .data.datasets import VideoSet, skipped_error
from .data.identity import relative
from .data.videoset import fingerprint  # noqa: F401  (the videos' identity; re-exported for its users)
from .engine import dist
from .evaluate import class_means

FEATURE_CACHE_VERSION = 3      # bump when what is stored or how it is keyed changes (3: videos by content)


@dataclass
class Features:
    features: np.ndarray          # (N, D) one row per readable video
    index: np.ndarray             # (N,) positions in the VideoSet
    labels: np.ndarray            # (N,) class of each row
    class_means: np.ndarray       # (n_classes, D) the prototypes of the set's classes
    bad: list[str]                # skipped videos: unreadable or smaller than the crop
    key: str
    cached: bool                  # True: read from the cache, no video or network touched
    small: list[str] = field(default_factory=list)  # those of `bad` smaller than the crop


def feature_spec(ckpt_key: str, vs: VideoSet, recipe, frames: int, n_clips: int) -> dict:
    """Everything that decides a video's feature: the checkpoint (which covers method, training
    data and recipe), the videos, and the test-time clip sampling."""
    return {"v": FEATURE_CACHE_VERSION, "ckpt": ckpt_key, "videos": fingerprint(vs), "frames": frames,
            "stride": recipe.stride, "crop": recipe.crop, "resize": recipe.resize, "clips": n_clips}


def feature_cache_path(cache_dir: Path, spec: dict) -> Path:
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / "features" / f"{key}.npz"


def read_features(path: Path, spec: dict, vs: VideoSet) -> Features | None:
    """The cache entry at `path`, or None if it holds another spec. Raises if it is unreadable."""
    with np.load(path, allow_pickle=False) as z:
        if json.loads(str(z["spec"])) != spec:
            return None
        where = lambda p: str(Path(vs.root) / p) if not Path(p).is_absolute() else p   # noqa: E731
        feats, index, means = z["features"], z["index"], z["class_means"]
        bad, small = ([where(str(p)) for p in z[k]] for k in ("bad", "small"))
    if len(feats) != len(index) or (len(index) and not 0 <= index.min() <= index.max() < len(vs)):
        raise ValueError(f"{len(feats)} features for {len(index)} videos of {len(vs)}")
    return Features(feats, index, vs.labels[index], means, bad, path.stem, True, small)


def cached_features(method, spec: dict, vs: VideoSet, recipe, ctx, desc: str,
                    ensure_model=lambda: None) -> Features:
    """Features per `spec`, from the cache or encoded now (then stored). `ensure_model` loads the
    network; it is called only on a miss. Videos of which none could be used are a UserError (and
    no cache entry)."""
    path = feature_cache_path(ctx.cache_dir, spec)
    if path.exists():
        found = read_or_discard(path, lambda p: read_features(p, spec, vs), "features", "extracting them again",
                                ctx.log)
        if found is not None and (len(found.index) or not len(vs)):   # an entry of no usable video: encode again
            return found
    ensure_model()
    enc = method.encode(vs, recipe, spec["clips"], ctx.device, ctx.progress, desc)
    if len(vs) and not len(enc.index):
        raise skipped_error(desc.split(" (")[0], len(vs), enc.bad_paths, enc.small_paths, recipe.crop)
    labels = vs.labels[enc.index]
    means = class_means(enc.features, labels, len(vs.classes))
    if dist.is_main():  # under torchrun every rank holds the gathered features; rank 0 writes them
        rel = lambda paths: np.array([relative(p, Path(vs.root)) for p in paths], dtype=str)  # noqa: E731
        write_atomic(path, lambda f: np.savez(f, features=enc.features, index=enc.index, bad=rel(enc.bad_paths),
                                              small=rel(enc.small_paths), class_means=means,
                                              spec=json.dumps(spec, sort_keys=True)),
                     "features", need=enc.features.nbytes + means.nbytes)
        path.with_name(f".{path.stem}.part.npz").unlink(missing_ok=True)   # the name before pids were added
    return Features(enc.features, enc.index, labels, means, list(enc.bad_paths), path.stem, False,
                    list(enc.small_paths))
