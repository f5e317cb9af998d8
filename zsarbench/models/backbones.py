"""Frame encoders F: torchvision networks with random init, global-pooled features per frame."""

from __future__ import annotations

import torch.nn as nn
import torchvision

from ..errors import UserError, did_you_mean

# name -> (torchvision constructor, pooled feature width)
FRAME_BACKBONES = {
    "resnet18": (torchvision.models.resnet18, 512),
    "resnet34": (torchvision.models.resnet34, 512),
    "resnet101": (torchvision.models.resnet101, 2048),
}


def frame_backbone(name: str) -> tuple[nn.Module, int]:
    """A randomly initialised 2D network mapping (N, 3, H, W) frames to (N, p) pooled features.

    weights=None: the zero-shot setting forbids pretraining on other data."""
    if name not in FRAME_BACKBONES:
        raise UserError(f"unknown backbone '{name}'{did_you_mean(name, FRAME_BACKBONES)}; "
                        f"choose one of {', '.join(FRAME_BACKBONES)}")
    build, width = FRAME_BACKBONES[name]
    net = build(weights=None)
    net.fc = nn.Identity()  # keep the flattened output of the last average pool
    return net, width
