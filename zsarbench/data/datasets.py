"""Datasets for torch: the clips of a VideoSet (ClipDataset), and a protocol's dataset name resolved to
its VideoSet (synthetic, precomputed features, or a real layout through adapters.py).

Class names always come from the dataset's own layout on disk, never from a list in the code."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .features import is_feature_file, read_feature_clips
from .frame_cache import slot_key
from .video import CorruptVideo, get_batch, open_video, read_clips, sample_clips
from .videoset import VideoSet, dataset_digest, folder_per_class  # VideoSet re-exported: its home is videoset.py


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
    Evaluation: n_clips evenly spaced clips, centre crop. Unreadable videos yield clips None, and so do
    videos whose frames are smaller than the crop (with their size in "small": not unreadable).
    flip: random horizontal flip in training. crop_on_device: whole frames are returned with the
    drawn (y, x, crop, flip) in "crop", and engine.train.to_frames crops on the GPU (same pixels).
    decoder, decode_device: what reads the videos (recipe.decoder; torchcodec on "cuda" decodes on the
    GPU and yields CUDA tensors). Training clips come from the videos' clip store when they have one
    (data/clip_store.py: one of its fixed positions, drawn per (seed, epoch, index))."""

    def __init__(self, videos: VideoSet, frames: int, stride: int, crop: int,
                 n_clips: int = 1, resize: int | None = None, seed: int | None = None,
                 flip: bool = False, crop_on_device: bool = False, decoder: str = "decord",
                 decode_device: str = "cpu"):
        self.videos, self.frames, self.stride, self.crop = videos, frames, stride, crop
        self.n_clips, self.resize, self.seed, self.epoch = n_clips, resize, seed, 0
        self.flip, self.crop_on_device = flip, crop_on_device
        self.decoder, self.decode_device = decoder, decode_device

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int):
        rng = None if self.seed is None else np.random.default_rng([self.seed, self.epoch, i])
        path, window = self.videos.paths[i], self.videos.window(i)
        try:
            if is_feature_file(path):  # precomputed feature sequences (data/features.py): no pixels
                clips = read_feature_clips(path, self.frames, self.stride, self.n_clips, rng)
                return {"index": i, "path": path, "label": int(self.videos.labels[i]),
                        "clips": torch.from_numpy(clips)}
            cache, store = self.videos.frame_cache, self.videos.clip_store
            key = None if cache is None and store is None else slot_key(self.videos.rel(i), window)
            if store is not None and rng is not None and key in store:
                clips = store.clips(key, self.n_clips, rng)    # training: stored positions, JPEG-decoded
                if clips is None:
                    raise CorruptVideo(path)
            elif cache is not None and key in cache:
                # same frames decord would give (decoded at `resize`, inside the window), no decoding
                frames = cache.frames(key)
                if frames is None:
                    raise CorruptVideo(path)
                clips = frames[sample_clips(len(frames), self.frames, self.stride, self.n_clips, rng)]
            else:
                clips = read_clips(path, self.frames, self.stride, self.n_clips, rng, self.resize, window,
                                   self.decoder, self.decode_device)
        except CorruptVideo:
            return {"index": i, "path": path, "clips": None, "label": int(self.videos.labels[i])}
        H, W = clips.shape[2:4]
        if H < self.crop or W < self.crop:
            return {"index": i, "path": path, "clips": None, "label": int(self.videos.labels[i]), "small": (H, W)}
        if rng is not None:
            y, x = rng.integers(0, H - self.crop + 1), rng.integers(0, W - self.crop + 1)
        else:
            y, x = (H - self.crop) // 2, (W - self.crop) // 2
        flip = bool(self.flip and rng is not None and rng.random() < 0.5)  # drawn last: crops stay as without flip
        item = {"index": i, "path": path, "label": int(self.videos.labels[i])}
        if self.crop_on_device:
            item["crop"] = (int(y), int(x), self.crop, flip)
        elif isinstance(clips, torch.Tensor):   # decoded on the GPU (torchcodec on CUDA)
            clips = clips[:, :, y:y + self.crop, x:x + self.crop]
            clips = clips.flip(3) if flip else clips
        else:
            clips = clips[:, :, y:y + self.crop, x:x + self.crop]
            clips = clips[:, :, :, ::-1] if flip else clips
        clips = clips if isinstance(clips, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(clips))
        item["clips"] = clips.permute(0, 1, 4, 2, 3)
        return item


def collate_clips(items: list[dict]) -> dict:
    """Batch the readable items; name the skipped ones (bad_paths) so the caller can count and list
    them, and among them those smaller than the crop (small_paths)."""
    good = [it for it in items if it["clips"] is not None]
    out = {"bad_paths": [it["path"] for it in items if it["clips"] is None],
           "small_paths": [it["path"] for it in items if it.get("small")],
           "index": torch.tensor([it["index"] for it in good], dtype=torch.long),
           "label": torch.tensor([it["label"] for it in good], dtype=torch.long)}
    out["clips"] = torch.stack([it["clips"] for it in good]) if good else None
    if good and "crop" in good[0]:  # uncropped frames (all of one size: decoded at recipe.resize)
        out["crop"] = torch.tensor([it["crop"] for it in good], dtype=torch.long)
    return out


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float, ImageNet mean/std (a convention; weights are random)."""
    mean, std = _mean_std(clips.device)
    return (clips.float() / 255.0 - mean) / std


@functools.lru_cache(maxsize=None)
def _mean_std(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # Made once per device: a tensor built from host values waits for the GPU to drain its queue.
    return (torch.tensor(IMAGENET_MEAN, device=device).view(3, 1, 1),
            torch.tensor(IMAGENET_STD, device=device).view(3, 1, 1))


def skipped_error(what: str, n: int, skipped, small, crop: int) -> UserError:
    """The one-line error of a step (a training stage, a feature extraction) that could use none of
    its `n` videos: too small for the crop, or unreadable."""
    small, unreadable = set(small), set(skipped) - set(small)
    if small:
        return UserError(f"{what}: every video was skipped; {len(small)} videos smaller than the {crop}-pixel "
                         f"crop: set recipe.resize or recipe.crop" + (f" ({len(unreadable)} more unreadable)"
                                                                       if unreadable else ""))
    example = f" (e.g. {min(unreadable)})" if unreadable else ""
    return UserError(f"{what}: none of its {n} videos could be read{example}; `zsarbench data check NAME` "
                     "lists the unreadable ones")


def check_crop(vs: VideoSet, crop: int, resize: int, probe: int = 8) -> None:
    """Before any training: a set whose videos (a few probed, evenly spaced) are all smaller than the
    crop is a one-line UserError, not a run in which every clip is skipped. Decoding at `resize`
    (load-time checked against the crop) and feature files have nothing to probe."""
    if resize or not len(vs):
        return
    sizes = []
    for i in np.unique(np.linspace(0, len(vs) - 1, min(probe, len(vs))).astype(int)):
        if is_feature_file(vs.paths[i]):
            return
        try:
            sizes.append(get_batch(open_video(vs.paths[i]), [0]).shape[1:3])
        except CorruptVideo:
            continue     # unreadable ones are counted where they are met
    if sizes and all(min(h, w) < crop for h, w in sizes):
        h, w = sizes[0]
        raise UserError(f"dataset '{vs.name}': its videos are {h}x{w} ({len(sizes)} of {len(sizes)} probed), "
                        f"smaller than the {crop}-pixel crop: set recipe.resize or recipe.crop")


# ----------------------------------------------------------------------------- resolution

def identified(vs: VideoSet, cache_dir: Path, progress=None) -> VideoSet:
    """`vs` with each video's content identity (identity.py, memoised under the cache) and the digest
    of the whole dataset as read: what cache keys and results name it by."""
    from .identity import file_ids

    vs.ids = file_ids(vs.paths, vs.root, cache_dir, progress, vs.name)
    vs.digest = dataset_digest(vs)
    return vs


def resolve_dataset(name: str, protocol, cache_dir: Path, progress=None,
                    roots: dict[str, str] | None = None, allow_nonstandard: bool = False) -> VideoSet:
    """A dataset named in a protocol -> VideoSet. Synthetic ones are generated on first use; real
    ones are read from their root (data/roots.py: `roots` holds the --data-root values).

    The protocol's source and target keep only their official subsets (source.subsets,
    target.subsets; empty: every labelled video) and must have videos; a dataset named only in
    source.remove_overlap_with needs just its class names. A real tree that does not match its
    dataset's signature is refused unless allow_nonstandard (signatures.py). The source and the
    target carry each video's content identity (VideoSet.ids) and the digest of the whole dataset as
    read (VideoSet.digest), before any subset is taken; nothing of a names-only dataset is hashed."""
    subsets = {protocol.source.dataset: protocol.source.subsets, protocol.target.dataset: protocol.target.subsets}
    if name.startswith("synth-"):
        from .synth import ensure_synth

        vs = synth_dataset(name, ensure_synth(cache_dir, protocol.synth, progress=progress))
        return identified(vs, cache_dir, progress) if name in subsets else vs
    from .adapters import load_dataset
    from .roots import dataset_root

    root, origin = dataset_root(name, roots)
    if name.startswith("features-"):  # precomputed feature sequences (data/features.py)
        from .features import feature_dataset

        vs = feature_dataset(name, root)
    else:
        vs = load_dataset(name, root, allow_nonstandard)
    if name in subsets:
        vs = identified(vs, cache_dir, progress).select_subsets(subsets[name])
        if name == protocol.target.dataset and protocol.target.split == "pinned":
            from .pinned import pin_target

            vs = pin_target(vs, protocol.target, allow_nonstandard)
        if not len(vs):
            raise UserError(f"dataset '{name}': no videos found under {root} (root from {origin}); "
                            f"`zsarbench data check {name}` lists what is there and what is missing")
    return vs
