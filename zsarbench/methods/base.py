"""The Method interface: the hinge between training and the shared zero-shot inference.

A method declares the space it classifies in and exposes fit and encode. Everything after encode
(prototypes, transfer, scoring, metrics, results) is shared code that never looks inside it.
  space = "visual":   encode gives visual representations x; unseen classes get composite
                      prototypes from the semantic transfer (ResT, two-stream models)
  space = "semantic": encode maps videos into the label-embedding space; unseen classes are
                      their label vectors (E2E-style baselines). The pipeline passes such a method
                      the seen classes' label vectors: fit(..., label_vectors=(C, d) array).
A method is registered with @register_method (zsarbench/registry.py) or, from another package,
through the entry-point group `zsarbench.methods`; docs/write-your-own-method.md walks through it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..data.datasets import VideoSet
from ..errors import UserError
from ..protocol import Recipe


def check_options(method: str, config: dict, defaults: dict, positive_ints: tuple = (),
                  choices: dict | None = None) -> dict:
    """A method's options (`--set method.KEY=VALUE`) over its defaults, or a one-line UserError for
    an unknown option, a `positive_ints` value that is not a positive integer, or a value outside
    its `choices`."""
    unknown = set(config) - set(defaults)
    if unknown:
        raise UserError(f"method '{method}': unknown option(s) {', '.join(sorted(unknown))}; "
                        f"options are {', '.join(defaults)}")
    cfg = {**defaults, **config}
    for key in positive_ints:
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool) or cfg[key] < 1:
            raise UserError(f"method '{method}': {key} must be a positive integer, not {cfg[key]!r}")
    for key, allowed in (choices or {}).items():
        if cfg[key] not in allowed:
            raise UserError(f"method '{method}': {key} must be one of {', '.join(allowed)}")
    return cfg


@dataclass
class Encoded:
    features: np.ndarray        # (N, D) one row per readable video
    index: np.ndarray           # (N,) positions in the VideoSet
    bad_paths: list[str]        # videos that could not be decoded


class Method(ABC):
    name: str = ""
    space: str = "visual"

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

    @abstractmethod
    def encode(self, videos: VideoSet, recipe: Recipe, n_clips: int, device: str,
               progress=None, desc: str = "") -> Encoded:
        """One feature vector per video (the mean over n_clips evenly spaced clips)."""

    def forward_flops(self, frames: int, crop: int, n_classes: int) -> int | None:
        """FLOPs (torch.utils.flop_counter; a multiply-add counts 2) of encoding one test clip of
        `frames` frames at crop x crop; None where the method does not measure it."""
        return None

    @abstractmethod
    def state_dict(self) -> dict: ...

    @abstractmethod
    def load_state_dict(self, state: dict) -> None: ...
