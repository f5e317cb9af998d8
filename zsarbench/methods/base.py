"""The Method interface: the hinge between training and the shared zero-shot inference.

A method declares the space it classifies in and exposes fit and encode. encode is one loop for
every method (test clips, rank sharding under torchrun, mean over clips) around the method's
encode_clips. Everything after encode (prototypes, transfer, scoring, metrics, results) is shared
code that never looks inside it.
  space = "visual":   encode gives visual representations x; unseen classes get composite
                      prototypes from the semantic transfer (ResT, two-stream models)
  space = "semantic": encode maps videos into the label-embedding space; unseen classes are
                      their label vectors (E2E-style baselines). The pipeline passes such a method
                      the seen classes' label vectors: fit(..., label_vectors=(C, d) array).
                      A semantic method with its own text encoder (an image-text model) sets
                      text_encoder = True: its class_vectors then name the classes in place of the
                      protocol's embedding (prepare.own_class_vectors).
A method's factory is registered as an entry point of the group `zsarbench.methods` of the package
that ships it (zsarbench's own pyproject.toml for ResT); docs/write-your-own-method.md walks through it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.datasets import ClipDataset, VideoSet
from ..engine import dist
from ..engine.train import EpochBatches, autocast, clip_loader, decode_device, n_workers, to_frames
from ..errors import UserError
from ..fields import check_value
from ..protocol import Recipe


def check_options(method: str, config: dict, defaults: dict, types: dict | None = None) -> dict:
    """A method's options (`--set method.KEY=VALUE`) over its defaults, or a one-line UserError for
    an unknown option or a value outside what `types` declares for it (fields.py: a type, or an
    Annotated type with its Range or OneOf; one declaration per method family; an option not in
    `types` must have its default's type). Values are returned as given (an int stays an int:
    options are part of the checkpoint key)."""
    unknown = set(config) - set(defaults)
    if unknown:
        raise UserError(f"method '{method}': unknown option(s) {', '.join(sorted(unknown))}; "
                        f"options are {', '.join(defaults)}")
    cfg = {**defaults, **config}
    for key, value in config.items():
        check_value(value, (types or {}).get(key, type(defaults[key])), f"method '{method}': {key}")
    return cfg


@dataclass
class Encoded:
    features: np.ndarray        # (N, D) one row per readable video
    index: np.ndarray           # (N,) positions in the VideoSet
    bad_paths: list[str]        # videos skipped: not decoded, or smaller than the crop
    small_paths: list[str] = field(default_factory=list)   # those of bad_paths smaller than the crop


def crop_on_device(recipe: Recipe, device: str) -> bool:
    """Whether clips are cropped on the GPU (the same pixels: an integer slice of the uint8 frames).
    Whole frames stack into one batch only when all have one size (decoded at recipe.resize)."""
    return device.startswith("cuda") and recipe.resize > 0


class Method(ABC):
    name: str = ""
    space: str = "visual"
    # What the shared encode() runs: the network (built by fit / load_state_dict) and its frames per clip.
    model: torch.nn.Module | None = None
    frames: int = 0
    text_encoder: bool = False   # True: class_vectors gives the label vectors it is scored against
    # True: fit() trains a stage keyed "warmup" for recipe.warmup_epochs whose every step is the same
    # whatever recipe.joint_epochs is, then the rest. Its warm-up-only training (joint_epochs = 0, a
    # tune rung) is then a prefix of the full one, which continues from its end (prepare.train_or_reuse).
    warmup_is_prefix: bool = False
    # the run's cache folder, set by prepare.train_or_reuse: where the digests of the method's own
    # files (pretrained weights) are memoised (engine/checkpoint.file_sha256); None: in memory only
    cache_dir = None

    def __init__(self, **config):
        self.cfg = dict(config)

    def config(self) -> dict:
        """Everything that changes what fit() learns: part of the checkpoint key."""
        return dict(self.cfg)

    @abstractmethod
    def fit(self, videos: VideoSet, class_words: list[list[str]], recipe: Recipe,
            device: str, progress=None, state=None) -> dict:
        """Train on the seen source classes. Returns a training log (losses, timings, skipped).

        state: an engine.train.TrainState to save progress to and resume from (None: no resume)."""

    def encode_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """Normalised clips (B * n_clips, frames, 3, crop, crop) -> (B * n_clips, D) features, run by
        encode() on the device under autocast, self.model in eval mode and no gradients."""
        raise NotImplementedError(f"method '{self.name}' defines neither encode_clips nor encode")

    def feature_dim(self) -> int:
        """D of encode_clips: the width of an empty feature array (no readable video)."""
        raise NotImplementedError(f"method '{self.name}' defines neither feature_dim nor encode")

    @torch.no_grad()
    def encode(self, videos: VideoSet, recipe: Recipe, n_clips: int, device: str,
               progress=None, desc: str = "") -> Encoded:
        """One feature vector per video: the mean of encode_clips over n_clips evenly spaced clips.
        Under torchrun each rank encodes its share of the videos and every rank gets the whole."""
        self.model.to(device).eval()
        ds = ClipDataset(videos, self.frames, recipe.stride, recipe.crop, n_clips, recipe.resize or None,
                         crop_on_device=crop_on_device(recipe, device), decoder=recipe.decoder,
                         decode_device=decode_device(recipe, device))
        rank, world = dist.rank(), dist.world_size()
        batch_size = max(1, recipe.batch_size * 4 // n_clips)
        loader = clip_loader(ds, EpochBatches(len(ds), batch_size * world, rank=rank, world=world),
                             n_workers(recipe.workers, device, recipe.decoder), device)
        task = progress.add_task(desc or f"features ({n_clips} clips/video)", total=len(ds)) if progress else None
        feats, index, bad, small = [], [], [], []
        for batch in loader:
            bad += batch["bad_paths"]
            small += batch["small_paths"]
            if batch["clips"] is not None:
                B = batch["clips"].shape[0]
                with autocast(device):
                    x = self.encode_clips(to_frames(batch, device)).float()
                feats.append(x.view(B, n_clips, -1).mean(1))   # stays on the device: no sync per batch
                index.append(batch["index"])
            if progress:
                progress.advance(task, world * (len(batch["index"]) + len(batch["bad_paths"])))
        feats = torch.cat(feats).cpu().numpy() if feats else np.zeros((0, self.feature_dim()), np.float32)
        index = torch.cat(index).numpy() if index else np.zeros(0, np.int64)
        if world > 1:  # gather every rank's share, back in the order of the videos
            parts = dist.all_gather((feats, index, bad, small))
            feats, index = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            order = np.argsort(index, kind="stable")
            feats, index = feats[order], index[order]
            bad_set = {b for p in parts for b in p[2]}
            bad = [p for p in dict.fromkeys(videos.paths) if p in bad_set]
            small = sorted({b for p in parts for b in p[3]})
        return Encoded(feats, index, bad, small)

    def class_vectors(self, class_words: list[list[str]]) -> np.ndarray:
        """(C, d) unit vectors naming the classes in the space of encode's features, from the method's
        own text encoder (text_encoder = True), called with the network loaded. They replace the
        protocol's label vectors in seen-class CV and scoring; overlap removal (which defines the
        seen classes) keeps the protocol's embedding."""
        raise NotImplementedError(f"method '{self.name}' has no text encoder")

    def chance_losses(self, class_words: list[list[str]], recipe: Recipe) -> dict:
        """{training stage: the loss of a uniform guess} for the stages of fit() whose loss has one
        (cross-entropy over C classes: ln C); a stage left out is not judged (learned.py)."""
        return {}

    def details(self) -> dict:
        """What the results record about the method beyond config() (the checkpoint key): e.g. the
        weights file and prompts of an image-text model (results: method.details)."""
        return {}

    def forward_flops(self, frames: int, crop: int, n_classes: int) -> int | None:
        """FLOPs (torch.utils.flop_counter; a multiply-add counts 2) of encoding one test clip of
        `frames` frames at crop x crop; None where the method does not measure it."""
        return None

    @abstractmethod
    def state_dict(self) -> dict: ...

    @abstractmethod
    def load_state_dict(self, state: dict) -> None: ...
