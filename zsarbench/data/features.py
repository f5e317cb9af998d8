"""Precomputed feature sequences as a dataset (paper Tables 6 and 9): ResT over features from another
network instead of pixels, with the backbone `precomputed:D` (models/backbones.py).

On-disk format (docs/features.md), one folder per dataset:

    ROOT/meta.json                {"format": "zsarbench-features", "version": 1, "dim": D,
                                   "tokens_per_step": R, "box_dims": 0 or 7, "naming": "folder",
                                   "description": "..."}
    ROOT/<class name>/<video>.npy float32 (S, R, D): S time steps (frames, or clips, in time order),
                                   R tokens per step, D values per token

- Frame or clip features (e.g. a pretrained 3D network's clip features): R = 1.
- Object-region features (paper Appendix E): R regions per frame, each row the region's feature
  followed by the 7-d vector s = (x1, y1, x2, y2, w, h, t): corners, width and height normalised by
  the frame size, t the frame index normalised by the video length. Frames with fewer regions are
  padded with zero rows (R is fixed per dataset); box_dims = 7 says the vector is there.
- `naming` picks the class name -> words rules (text/labels.py): folder, synth, ucf101, hmdb51, ...

A protocol names such a dataset `features-<anything>` and its root is found like any other dataset's
(--data-root features-x=PATH, $ZSARBENCH_DATA_FEATURES_X, datasets.toml). A clip is `frames` steps
with the recipe's stride (the same sampling as video frames), flattened to frames x R tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..inputs import read_text
from .video import CorruptVideo, sample_clips
from .videoset import VideoSet, files_per_class

FORMAT, VERSION, SUFFIX = "zsarbench-features", 1, ".npy"
BOX_DIMS = 7


def read_meta(root: Path) -> dict:
    path = Path(root) / "meta.json"
    if not path.is_file():
        raise UserError(f"feature dataset {root}: no meta.json (docs/features.md describes the format)")
    try:
        meta = json.loads(read_text(path, "feature dataset meta file"))
    except ValueError as e:
        raise UserError(f"{path}: not a readable JSON file ({e})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise UserError(f"{path}: not a {FORMAT} v{VERSION} file (format {meta.get('format')!r}, "
                        f"version {meta.get('version')!r})")
    for key in ("dim", "tokens_per_step"):
        if not isinstance(meta.get(key), int) or meta[key] < 1:
            raise UserError(f"{path}: '{key}' must be a positive integer")
    return meta


def feature_dataset(name: str, root: Path) -> VideoSet:
    """ROOT/<class>/<video>.npy -> a VideoSet whose paths are the .npy files."""
    root = Path(root)
    meta = read_meta(root)
    classes, paths, labels = files_per_class(root, lambda p: p.suffix == SUFFIX, skip=())
    if not paths:
        raise UserError(f"feature dataset '{name}': no {SUFFIX} files under {root}/<class>/")
    vs = VideoSet(name, root, classes, paths, labels, meta.get("naming", "folder"))
    vs.subsets = read_subsets(root, paths)
    vs.notes.append(f"precomputed features: dim {meta['dim']}, {meta['tokens_per_step']} token(s) per step; "
                    f"train with --set method.backbone={backbone_name(meta)}")
    return vs


def read_subsets(root: Path, paths: list[str]) -> dict[str, np.ndarray]:
    """ROOT/subsets.json (optional): {"<subset>": ["<class>/<video>.npy", ...]}, the official subsets
    of the videos the features were computed from (Kinetics "train", UCF101 "testlist01", HMDB51
    "test1"), so protocols that select subsets (target.subsets, the official splits) run on features."""
    path = root / "subsets.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(read_text(path, "subsets file"))
    except ValueError as e:
        raise UserError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise UserError(f'{path}: expected {{"<subset>": ["<class>/<video>{SUFFIX}", ...]}}')
    rel = [str(Path(p).relative_to(root)) for p in paths]
    return {name: np.isin(rel, [str(x) for x in listed]) for name, listed in sorted(data.items())}


def backbone_name(meta: dict) -> str:
    """The ResT backbone that takes this dataset's tokens (models/backbones.py)."""
    r = meta["tokens_per_step"]
    return f"precomputed:{meta['dim']}" + (f"x{r}" if r > 1 else "")


def is_feature_file(path: str) -> bool:
    return path.endswith(SUFFIX)


def read_feature_clips(path: str, frames: int, stride: int, n_clips: int = 1,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """(n_clips, frames * R, D) float32 tokens, steps sampled like video frames (video.sample_clips)."""
    try:
        seq = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:
        raise CorruptVideo(f"{path}: {str(e).splitlines()[0][:200]}") from None
    if seq.ndim != 3 or seq.shape[0] == 0:
        raise CorruptVideo(f"{path}: expected a (steps, tokens, dim) array, got shape {seq.shape}")
    idx = sample_clips(seq.shape[0], frames, stride, n_clips, rng)
    out = np.asarray(seq[idx.reshape(-1)], dtype=np.float32)
    return out.reshape(n_clips, frames * seq.shape[1], seq.shape[2])


def write_feature_set(root: Path, items, dim: int, tokens_per_step: int = 1, box_dims: int = 0,
                      naming: str = "folder", description: str = "") -> Path:
    """Write a dataset in this format: items = (class name, video name, (S, R, D) array)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for cname, vname, arr in items:
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim != 3 or arr.shape[1:] != (tokens_per_step, dim):
            raise ValueError(f"{cname}/{vname}: shape {arr.shape}, expected (S, {tokens_per_step}, {dim})")
        (root / cname).mkdir(exist_ok=True)
        np.save(root / cname / f"{vname}{SUFFIX}", arr)
    (root / "meta.json").write_text(json.dumps(
        {"format": FORMAT, "version": VERSION, "dim": dim, "tokens_per_step": tokens_per_step,
         "box_dims": box_dims, "naming": naming, "description": description}, indent=1))
    return root


def box_vector(box: np.ndarray, frame: int, n_frames: int, size: float) -> np.ndarray:
    """Appendix E's 7-d vector of a box (x1, y1, x2, y2) in pixels of a size x size frame."""
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64) / size
    return np.array([x1, y1, x2, y2, x2 - x1, y2 - y1, frame / max(n_frames - 1, 1)], np.float32)
