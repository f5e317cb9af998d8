"""Dataset adapters: each turns a dataset on disk into a VideoSet (videos, labels, class names).

Class names always come from the dataset's own layout on disk, never from a list in the code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .video import CorruptVideo, read_clips

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".webm", ".mov")


@dataclass
class VideoSet:
    name: str                     # dataset name as the protocol spells it
    root: Path
    classes: list[str]            # class names as on disk
    paths: list[str]
    labels: np.ndarray            # index into classes
    kind: str = "folder"          # naming rules for class name -> words (text/labels.py)
    skipped: list[str] = field(default_factory=list)  # unreadable videos met so far

    def __len__(self) -> int:
        return len(self.paths)

    def subset_classes(self, keep: list[str]) -> "VideoSet":
        """Only the videos of the named classes, relabelled in the order of `keep`."""
        index = {c: i for i, c in enumerate(keep)}
        old = [index.get(c, -1) for c in self.classes]
        sel = [i for i, lab in enumerate(self.labels) if old[lab] >= 0]
        return VideoSet(self.name, self.root, list(keep), [self.paths[i] for i in sel],
                        np.array([old[self.labels[i]] for i in sel], dtype=np.int64), self.kind)

    def cap_per_class(self, cap: int | None, seed: int = 0) -> "VideoSet":
        """At most `cap` videos per class (a seeded choice), for affordable prototypes."""
        if not cap:
            return self
        rng = np.random.default_rng(seed)
        sel = []
        for c in range(len(self.classes)):
            idx = np.flatnonzero(self.labels == c)
            sel.extend(sorted(rng.choice(idx, min(cap, len(idx)), replace=False).tolist()))
        sel.sort()
        return VideoSet(self.name, self.root, self.classes, [self.paths[i] for i in sel],
                        self.labels[sel], self.kind)


def folder_per_class(name: str, root: Path, kind: str = "folder") -> VideoSet:
    """root/<class>/<video>.<ext>, as UCF101 and HMDB51 ship."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"dataset '{name}': folder {root} does not exist; "
                        f"point --data-root {name}=PATH at the folder that holds one folder per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise UserError(f"dataset '{name}': {root} has no class folders; expected {root}/<class>/<video>.mp4")
    paths, labels = [], []
    for c, cname in enumerate(classes):
        vids = sorted(p for p in (root / cname).iterdir() if p.suffix.lower() in VIDEO_EXTS)
        paths += [str(p) for p in vids]
        labels += [c] * len(vids)
    if not paths:
        raise UserError(f"dataset '{name}': no video files ({', '.join(VIDEO_EXTS)}) under {root}/<class>/")
    return VideoSet(name, root, classes, paths, np.array(labels, dtype=np.int64), kind)


def synth_dataset(name: str, synth_root: Path) -> VideoSet:
    domain = name.removeprefix("synth-")
    manifest = json.loads((synth_root / "manifest.json").read_text())
    if domain not in manifest["classes"]:
        raise UserError(f"unknown synthetic dataset '{name}'; the synthetic benchmark has "
                        + ", ".join(f"synth-{d}" for d in manifest["classes"]))
    return folder_per_class(name, synth_root / domain, kind="synth")


# ----------------------------------------------------------------------------- clips for torch

class ClipDataset(torch.utils.data.Dataset):
    """Clips of a VideoSet as uint8 tensors (n_clips, T, 3, crop, crop), cropped per sample.

    Training (seed given): random start and random crop drawn from a generator seeded with
    (seed, epoch, index), so a run is the same whatever the number of loader workers.
    Evaluation: n_clips evenly spaced clips, centre crop. Unreadable videos yield None."""

    def __init__(self, videos: VideoSet, frames: int, stride: int, crop: int,
                 n_clips: int = 1, resize: int | None = None, seed: int | None = None):
        self.videos, self.frames, self.stride, self.crop = videos, frames, stride, crop
        self.n_clips, self.resize, self.seed, self.epoch = n_clips, resize, seed, 0

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int):
        rng = None if self.seed is None else np.random.default_rng([self.seed, self.epoch, i])
        path = self.videos.paths[i]
        try:
            clips = read_clips(path, self.frames, self.stride, self.n_clips, rng, self.resize)
        except CorruptVideo:
            return {"index": i, "path": path, "clips": None, "label": int(self.videos.labels[i])}
        H, W = clips.shape[2:4]
        if H < self.crop or W < self.crop:
            return {"index": i, "path": path, "clips": None, "label": int(self.videos.labels[i])}
        if rng is not None:
            y, x = rng.integers(0, H - self.crop + 1), rng.integers(0, W - self.crop + 1)
        else:
            y, x = (H - self.crop) // 2, (W - self.crop) // 2
        clips = clips[:, :, y:y + self.crop, x:x + self.crop]
        clips = torch.from_numpy(np.ascontiguousarray(clips)).permute(0, 1, 4, 2, 3)
        return {"index": i, "path": path, "clips": clips, "label": int(self.videos.labels[i])}


def collate_clips(items: list[dict]) -> dict:
    """Batch the readable items; name the unreadable ones so the caller can count and list them."""
    good = [it for it in items if it["clips"] is not None]
    out = {"bad_paths": [it["path"] for it in items if it["clips"] is None],
           "index": torch.tensor([it["index"] for it in good], dtype=torch.long),
           "label": torch.tensor([it["label"] for it in good], dtype=torch.long)}
    out["clips"] = torch.stack([it["clips"] for it in good]) if good else None
    return out


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float, ImageNet mean/std (a convention; weights are random)."""
    mean = torch.tensor(IMAGENET_MEAN, device=clips.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=clips.device).view(3, 1, 1)
    return (clips.float() / 255.0 - mean) / std


# ----------------------------------------------------------------------------- resolution

def resolve_dataset(name: str, protocol, cache_dir: Path, progress=None) -> VideoSet:
    """A dataset named in a protocol -> VideoSet. Synthetic ones are generated on first use."""
    if name.startswith("synth-"):
        from .synth import ensure_synth

        return synth_dataset(name, ensure_synth(cache_dir, protocol.synth, progress=progress))
    raise UserError(f"dataset '{name}': real-dataset adapters (UCF101, HMDB51, Kinetics, ActivityNet) "
                    "are coming; use a synth-* protocol (`zsarbench ls protocols`)")
