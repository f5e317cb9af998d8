"""E2E-style semantic-space baseline (Brattoli et al., CVPR 2020; paper Tables 2 and 4(b)).

A visual encoder (default R(2+1)D-18, random init) pools a clip to one vector; a linear map takes it
into the label-embedding space; training regresses the class's label vector. Losses (`loss=`):
  mse-normalised  (default) E2E's: the MSE between the L2-normalised output and the class's label
                  vector. E2E's network ends in F.normalize (network.py) and its criterion is
                  nn.MSELoss (main.py) to the word2vec class vector, which is unit length (the mean
                  of unit word vectors, normalised again; zsarbench's label vectors are built the
                  same way); so the loss is (2 - 2 cos) / d, a cosine loss.
  mse-raw         the MSE of the unnormalised output (this module's default before E2E's
                  normalisation was reproduced; checkpoint key value "mse", so older checkpoints
                  and results keep their key)
  cosine          1 - cosine similarity
At test time a video is the mean of its clips' mapped vectors and takes the nearest unseen label
embedding by cosine (space = "semantic": run.py scores it with the `label-nn` inference variant, no
transfer). E2E's test is the same: it averages the backbone features of a video's clips, maps the
mean linearly, normalises, and takes the class with the smallest cosine distance (main.py, cdist
"cosine"); the linear map commutes with the mean and the cosine ignores the norm.

Recipe (zsarbench has no separate E2E recipe): one stage of warmup_epochs + joint_epochs epochs with
the protocol's warm-up optimiser (SGD, warmup_lr, momentum, weight decay), cosine schedule, the same
clip sampling and batch size as ResT. Training uses the engine's Trainer; encoding is every method's
(Method.encode, sharded across torchrun ranks).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from zsarbench.data.datasets import ClipDataset, VideoSet
from zsarbench.engine.train import Trainer, decode_device, n_workers, to_frames
from zsarbench.errors import UserError
from zsarbench.fields import OneOf, Range
from zsarbench.methods.base import Method, check_options
from zsarbench.models.backbones import clip_flops, frame_backbone, sequence_features, to_channels_last
from zsarbench.protocol import Recipe
from zsarbench.registry import register_search_space

DEFAULTS = dict(backbone="r2plus1d_18", frames=16, loss="mse-normalised")
LOSSES = ("mse-normalised", "mse-raw", "cosine")
OPTIONS = dict(backbone=str, frames=Annotated[int, Range(1)], loss=Annotated[str, OneOf(*LOSSES)])  # check_options
KEY_VALUES = {"mse-raw": "mse"}  # loss -> its value in config() (the checkpoint key), where it differs


def e2e_loss(out: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """The training loss of (B, d) network outputs against their classes' unit label vectors."""
    if loss == "mse-normalised":  # E2E's: normalise the output, MSE to the (unit) label vector
        return F.mse_loss(F.normalize(out, dim=1), F.normalize(target, dim=1))
    if loss == "mse-raw":
        return F.mse_loss(out, target)
    return (1 - F.cosine_similarity(out, target, dim=1)).mean()


class E2ENet(nn.Module):
    def __init__(self, emb_dim: int, backbone: str = "r2plus1d_18"):
        super().__init__()
        self.frame_encoder, self.feat_dim = frame_backbone(backbone)
        self.to_label_space = nn.Linear(self.feat_dim, emb_dim)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) clips -> (B, emb_dim) points in the label-embedding space."""
        return self.to_label_space(sequence_features(self.frame_encoder, clips).mean(1))


class E2EMethod(Method):
    space = "semantic"

    def __init__(self, name: str, **config):
        super().__init__(**check_options(name, config, DEFAULTS, OPTIONS))
        self.name, self.model, self.frames, self.emb_dim = name, None, self.cfg["frames"], 0

    def config(self) -> dict:
        return {**self.cfg, "loss": KEY_VALUES.get(self.cfg["loss"], self.cfg["loss"])}

    def _build(self, emb_dim: int, frames: int) -> None:
        self.emb_dim, self.frames = emb_dim, frames
        self.model = E2ENet(emb_dim, self.cfg["backbone"])
        to_channels_last(self.model.frame_encoder)

    def fit(self, videos: VideoSet, class_words, recipe: Recipe, device: str, progress=None, state=None,
            label_vectors: np.ndarray | None = None) -> dict:
        if label_vectors is None:
            raise UserError(f"method '{self.name}' trains towards label vectors: run it through `zsarbench run`")
        torch.manual_seed(recipe.seed)
        self._build(label_vectors.shape[1], recipe.frames)
        model = self.model.to(device)
        targets = torch.as_tensor(label_vectors, dtype=torch.float32, device=device)
        ds = ClipDataset(videos, self.frames, recipe.stride, recipe.crop, recipe.train_clips, recipe.resize or None,
                         seed=recipe.seed, flip=recipe.flip,
                         decoder=recipe.decoder, decode_device=decode_device(recipe, device))
        workers = n_workers(recipe.workers, device, recipe.decoder)
        trainer = Trainer(model, ds, recipe.batch_size, device, workers, state, progress=progress)
        model.train()

        def step_loss(net, batch):
            y = batch["label"].to(device).repeat_interleave(recipe.train_clips)
            return e2e_loss(net(to_frames(batch, device)).float(), targets[y], self.cfg["loss"]), len(y)

        params = list(model.parameters())
        opt = torch.optim.SGD(params, lr=recipe.warmup_lr, momentum=recipe.warmup_momentum,
                              weight_decay=recipe.warmup_weight_decay)
        epochs = recipe.warmup_epochs + recipe.joint_epochs
        log = {"train": trainer.stage("train", f"E2E ({self.cfg['backbone']} -> label space, SGD)", epochs, opt,
                                      params, model, step_loss, recipe.seed),
               "loss": self.cfg["loss"], "loader_workers": workers}
        model.eval()
        return log

    def encode_clips(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(clips)

    def feature_dim(self) -> int:
        return self.emb_dim

    def forward_flops(self, frames: int, crop: int, n_classes: int) -> int:
        with torch.device("meta"):
            model = E2ENet(max(self.emb_dim, 1), self.cfg["backbone"])
        return clip_flops(model, model.frame_encoder, model.feat_dim, frames, crop)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "emb_dim": self.emb_dim, "frames": self.frames}

    def load_state_dict(self, state: dict) -> None:
        self._build(state["emb_dim"], state["frames"])
        self.model.load_state_dict(state["model"])
        self.model.eval()


def e2e_r2plus1d(**overrides) -> E2EMethod:
    """E2E-style baseline: R(2+1)D-18 (random init) + linear map to the label space, E2E's MSE of the
    normalised output; nearest label."""
    return E2EMethod("e2e_r2plus1d", **overrides)


def e2e_tiny(**overrides) -> E2EMethod:
    """A tiny E2E-style baseline (R(2+1)D-18, 4 frames) for tests."""
    return E2EMethod("e2e_tiny", **{"frames": 4, **overrides})


# `zsarbench tune`'s search spaces (seen-class CV only; zsarbench/tune.py): E2E trains one SGD stage of
# warmup_epochs + joint_epochs epochs at warmup_lr, so its learning rate is recipe.warmup_lr and its
# length the two epoch fields (the pruning rung is the run stopped after warmup_epochs); the loss is
# a method option (the overlay's [method] table). The tiny variant: fractions of an epoch (seconds a trial).
register_search_space("e2e_tiny", {
    "recipe.warmup_lr": {"low": 1e-3, "high": 0.1, "log": True},
    "recipe.warmup_epochs": {"low": 0.1, "high": 0.3},
    "recipe.joint_epochs": {"low": 0.1, "high": 0.3},
    "method.loss": {"choices": list(LOSSES)},
})
register_search_space("e2e_*", {
    "recipe.warmup_lr": {"low": 1e-3, "high": 0.1, "log": True},
    "recipe.warmup_epochs": {"low": 1, "high": 6},
    "recipe.joint_epochs": {"low": 0.2, "high": 2},
    "method.loss": {"choices": list(LOSSES)},
})
