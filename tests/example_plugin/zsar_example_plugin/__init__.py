"""An example zsarbench method, as a plugin package would write it (docs/write-your-own-method.md).

FrameMean: a 2D backbone per frame, features averaged over time, a linear classifier over the seen
classes trained with cross-entropy. Its visual representation is the layer-normalised mean feature,
so zsarbench composes unseen prototypes with the semantic transfer (space = "visual")."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn as nn
import torch.nn.functional as F

from zsarbench.data.datasets import ClipDataset
from zsarbench.engine.train import Trainer, n_workers, to_frames
from zsarbench.fields import Range
from zsarbench.methods.base import Method, check_options
from zsarbench.models.backbones import frame_backbone, sequence_features


class FrameMeanNet(nn.Module):
    def __init__(self, n_classes: int, backbone: str):
        super().__init__()
        self.encoder, width = frame_backbone(backbone)
        self.norm = nn.LayerNorm(width)
        self.classifier = nn.Linear(width, n_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:          # (B, T, 3, H, W) -> (B, width)
        return self.norm(sequence_features(self.encoder, clips).mean(1))


class FrameMean(Method):
    space = "visual"

    OPTIONS = {"backbone": "resnet18", "frames": 4}
    TYPES = {"backbone": str, "frames": Annotated[int, Range(1)]}   # each option's type and valid range

    def __init__(self, name: str, **config):
        # an unknown option or a value out of range is an error: a typo would otherwise train another model
        super().__init__(**check_options(name, config, self.OPTIONS, self.TYPES))
        self.name, self.model, self.n_classes, self.frames = name, None, 0, self.cfg["frames"]

    def fit(self, videos, class_words, recipe, device, progress=None, state=None) -> dict:
        torch.manual_seed(recipe.seed)
        self.n_classes, self.frames = len(class_words), recipe.frames or self.cfg["frames"]
        self.model = FrameMeanNet(self.n_classes, self.cfg["backbone"]).to(device)
        ds = ClipDataset(videos, self.frames, recipe.stride, recipe.crop, recipe.train_clips, recipe.resize or None,
                         seed=recipe.seed)
        trainer = Trainer(self.model, ds, recipe.batch_size, device, n_workers(recipe.workers, device), state,
                          progress=progress)

        def step_loss(net, batch):
            y = batch["label"].to(device).repeat_interleave(recipe.train_clips)   # one label per clip
            return F.cross_entropy(self.model.classifier(net(to_frames(batch, device))), y), len(y)

        params = list(self.model.parameters())
        opt = torch.optim.AdamW(params, lr=recipe.joint_lr * 10)
        self.model.train()
        log = {"train": trainer.stage("train", "frame-mean classifier", recipe.warmup_epochs, opt, params,
                                      self.model, step_loss, recipe.seed)}
        self.model.eval()
        return log

    # encode() is Method's: the mean over test clips, sharded across torchrun ranks; it needs these two
    def encode_clips(self, clips: torch.Tensor) -> torch.Tensor:     # (B, T, 3, H, W) -> (B, width)
        return self.model(clips)

    def feature_dim(self) -> int:
        return self.model.norm.normalized_shape[0]

    def state_dict(self) -> dict:
        return {"net": self.model.state_dict(), "n_classes": self.n_classes, "frames": self.frames}

    def load_state_dict(self, state: dict) -> None:
        self.n_classes, self.frames = state["n_classes"], state.get("frames", self.cfg["frames"])
        self.model = FrameMeanNet(self.n_classes, self.cfg["backbone"])
        self.model.load_state_dict(state["net"])
        self.model.eval()


def framemean_tiny(**overrides) -> FrameMean:
    """Example plugin: ResNet-18 per frame, mean over time, linear classifier (tests/example_plugin)."""
    return FrameMean("framemean_tiny", **overrides)
