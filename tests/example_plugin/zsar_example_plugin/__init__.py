"""An example zsarbench method, as a plugin package would write it (docs/write-your-own-method.md).

FrameMean: a 2D backbone per frame, features averaged over time, a linear classifier over the seen
classes trained with cross-entropy. Its visual representation is the layer-normalised mean feature,
so zsarbench composes unseen prototypes with the semantic transfer (space = "visual")."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from zsarbench.data.datasets import ClipDataset
from zsarbench.engine.train import EpochBatches, Trainer, clip_loader, n_workers, to_frames
from zsarbench.methods.base import Encoded, Method, check_options
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

    def __init__(self, name: str, **config):
        # an unknown option is an error: a typo would otherwise train another model silently
        super().__init__(**check_options(name, config, self.OPTIONS))
        self.name, self.net, self.n_classes = name, None, 0

    def fit(self, videos, class_words, recipe, device, progress=None, state=None) -> dict:
        torch.manual_seed(recipe.seed)
        self.n_classes = len(class_words)
        self.net = FrameMeanNet(self.n_classes, self.cfg["backbone"]).to(device)
        frames = recipe.frames or self.cfg["frames"]
        ds = ClipDataset(videos, frames, recipe.stride, recipe.crop, recipe.train_clips, recipe.resize or None,
                         seed=recipe.seed)
        trainer = Trainer(self.net, ds, recipe.batch_size, device, n_workers(recipe.workers, device), state,
                          progress=progress)

        def step_loss(net, batch):
            y = batch["label"].to(device).repeat_interleave(recipe.train_clips)   # one label per clip
            return F.cross_entropy(self.net.classifier(net(to_frames(batch, device))), y), len(y)

        params = list(self.net.parameters())
        opt = torch.optim.AdamW(params, lr=recipe.joint_lr * 10)
        self.net.train()
        log = {"train": trainer.stage("train", "frame-mean classifier", recipe.warmup_epochs, opt, params,
                                      self.net, step_loss, recipe.seed)}
        self.net.eval()
        return log

    @torch.no_grad()
    def encode(self, videos, recipe, n_clips, device, progress=None, desc="") -> Encoded:
        frames = recipe.frames or self.cfg["frames"]
        ds = ClipDataset(videos, frames, recipe.stride, recipe.crop, n_clips, recipe.resize or None)
        feats, index, bad = [], [], []
        for batch in clip_loader(ds, EpochBatches(len(ds), 16), 0, device):
            bad += batch["bad_paths"]
            if batch["clips"] is not None:
                x = self.net.to(device).eval()(to_frames(batch, device))
                feats.append(x.view(len(batch["index"]), n_clips, -1).mean(1).cpu().numpy())
                index.append(batch["index"].numpy())
        if not feats:   # every video unreadable
            return Encoded(np.zeros((0, self.net.norm.normalized_shape[0]), np.float32), np.zeros(0, np.int64), bad)
        return Encoded(np.concatenate(feats), np.concatenate(index), bad)

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "n_classes": self.n_classes}

    def load_state_dict(self, state: dict) -> None:
        self.n_classes = state["n_classes"]
        self.net = FrameMeanNet(self.n_classes, self.cfg["backbone"])
        self.net.load_state_dict(state["net"])
        self.net.eval()


def framemean_tiny(**overrides) -> FrameMean:
    """Example plugin: ResNet-18 per frame, mean over time, linear classifier (tests/example_plugin)."""
    return FrameMean("framemean_tiny", **overrides)
