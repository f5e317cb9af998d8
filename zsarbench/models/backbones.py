"""Visual encoders F behind one interface: randomly initialised torchvision networks, or
precomputed feature sequences read from disk.

  2D, per frame:  resnet18/34/101, vgg16, mobilenet_v2, googlenet map (N, 3, H, W) frames to (N, p)
                  global-pooled features; a clip of T frames gives T tokens.
  3D, per clip:   r2plus1d_18 maps a clip (B, T, 3, H, W) to (B, T', 512): the last feature map
                  pooled over space only, one token per remaining time step (T' = ceil(T / 8)).
  precomputed:D   no network: the inputs already are (B, L, D) feature sequences (data/features.py);
  precomputed:DxR with R tokens per time step (object regions), so a clip of T steps is T x R tokens.

`sequence_features(net, x)` is the one way through all of them: (B, T, ...) -> (B, T', p).
weights=None everywhere: the zero-shot setting forbids pretraining on other data.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from ..errors import UserError, did_you_mean


def _resnet(build):
    def make():
        net = build(weights=None)
        net.fc = nn.Identity()  # keep the flattened output of the last average pool
        return net
    return make


def _vgg16():
    """VGG16's convolutional part (torchvision's layers and initialisation); its 120M-parameter
    classifier would be replaced anyway."""
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["D"], batch_norm=False)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(m.bias, 0)
    return nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1))


def _mobilenet_v2():
    net = torchvision.models.mobilenet_v2(weights=None)
    net.classifier = nn.Identity()  # features -> global average pool -> (N, 1280)
    return net


def _googlenet():
    net = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    net.fc = nn.Identity()
    return net


class ClipBackbone(nn.Module):
    """A 3D network over whole clips: (B, T, 3, H, W) -> (B, T', p), pooled over space only."""
    takes_sequences = True

    def __init__(self, net: nn.Module):
        super().__init__()
        self.stem, self.layers = net.stem, nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(video.transpose(1, 2)))   # (B, p, T', h, w)
        return x.mean((3, 4)).transpose(1, 2)


class Precomputed(nn.Identity):
    """Feature sequences from disk: the input (B, L, D) is already the token sequence."""
    takes_sequences = True

    def __init__(self, tokens_per_step: int = 1):
        super().__init__()
        self.tokens_per_step = tokens_per_step


# name -> (constructor, pooled feature width)
FRAME_BACKBONES = {
    "resnet18": (_resnet(torchvision.models.resnet18), 512),
    "resnet34": (_resnet(torchvision.models.resnet34), 512),
    "resnet101": (_resnet(torchvision.models.resnet101), 2048),
    "vgg16": (_vgg16, 512),
    "mobilenet_v2": (_mobilenet_v2, 1280),
    "googlenet": (_googlenet, 1024),
    "r2plus1d_18": (lambda: ClipBackbone(torchvision.models.video.r2plus1d_18(weights=None)), 512),
}


class PixelConv2d(nn.Conv2d):
    """nn.Conv2d (same parameters and state dict) that computes a one-pixel output on the CPU as one
    matrix product over the taps that touch the input. At the synthetic recipe's 32 x 32 crops
    ResNet's last stage sees 1 x 1 (and 2 x 2) maps; oneDNN's backward-weights kernel for those shapes
    on AVX2 CPUs is a slow generic GEMM (x64:gemm:jit, 0.8 s per call on 2 cores) that made the
    warm-up 3x slower than on AVX-512 machines (docs/scale.md). The product is the convolution's own
    sum without its zero-padding terms: equal up to float summation order; other outputs, groups,
    dilation and non-CPU devices go through the convolution unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = self._one_pixel(x) if x.device.type == "cpu" else None
        if taps is None:
            return super().forward(x)
        h, w = taps
        (ph, pw) = self.padding
        weight = self.weight[:, :, ph:ph + h, pw:pw + w]
        y = F.linear(x[:, :, :h, :w].flatten(1), weight.flatten(1), self.bias)
        return y.view(len(x), -1, 1, 1)

    def _one_pixel(self, x: torch.Tensor) -> tuple[int, int] | None:
        """(rows, columns) of the input the single output reads, or None when the output is not 1 x 1."""
        if self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros" \
                or isinstance(self.padding, str) or x.dim() != 4:
            return None
        (H, W), (kh, kw), (ph, pw), (sh, sw) = x.shape[-2:], self.kernel_size, self.padding, self.stride
        if (H + 2 * ph - kh) // sh != 0 or (W + 2 * pw - kw) // sw != 0:
            return None
        return min(H, kh - ph), min(W, kw - pw)


def pixel_convolutions(net: nn.Module) -> nn.Module:
    """Every plain nn.Conv2d of `net` made a PixelConv2d in place (parameters, names and state dict kept)."""
    for m in net.modules():
        if type(m) is nn.Conv2d:
            m.__class__ = PixelConv2d
    return net


def frame_backbone(name: str) -> tuple[nn.Module, int]:
    """The visual encoder called `name` and the width p of its features (see the module doc)."""
    if name.startswith("precomputed:"):
        dim, _, per_step = name.split(":", 1)[1].partition("x")
        if not dim.isdigit() or int(dim) < 1 or not (per_step or "1").isdigit() or int(per_step or 1) < 1:
            raise UserError(f"backbone '{name}': write precomputed:D (D the feature width, e.g. precomputed:512) "
                            "or precomputed:DxR (R tokens per time step, e.g. precomputed:519x10)")
        return Precomputed(int(per_step or 1)), int(dim)
    if name not in FRAME_BACKBONES:
        raise UserError(f"unknown backbone '{name}'{did_you_mean(name, FRAME_BACKBONES)}; "
                        f"choose one of {', '.join(FRAME_BACKBONES)} or precomputed:D")
    build, width = FRAME_BACKBONES[name]
    net = build()
    return (net if isinstance(net, ClipBackbone) else pixel_convolutions(net)), width


def sequence_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, H, W) normalised frames, or (B, L, D) precomputed features -> (B, T', p) float."""
    if getattr(net, "takes_sequences", False):
        return net(x).float()
    B, T = x.shape[:2]
    x = x.flatten(0, 1).contiguous(memory_format=torch.channels_last)
    return net(x).view(B, T, -1).float()


def to_channels_last(net: nn.Module) -> nn.Module:
    """Channels-last weights for the convolutions (4D for 2D nets, 5D for 3D ones)."""
    if isinstance(net, ClipBackbone):
        return net.to(memory_format=torch.channels_last_3d)
    return net if isinstance(net, Precomputed) else net.to(memory_format=torch.channels_last)


def example_input(net: nn.Module, width: int, frames: int, crop: int, device="cpu", batch: int = 1) -> torch.Tensor:
    """Test clips as the encoder takes them: (batch, frames, 3, crop, crop), or (batch, frames x R, D)."""
    if isinstance(net, Precomputed):
        return torch.zeros(batch, frames * net.tokens_per_step, width, device=device)
    return torch.zeros(batch, frames, 3, crop, crop, device=device)


def clip_flops(fn, net: nn.Module, width: int, frames: int, crop: int) -> int:
    """FLOPs of fn(clips) per clip, fn a network whose visual encoder is `net`, built on the meta
    device. Counted on two clips and halved: training-mode BatchNorm (which keeps fused inference
    kernels out of the count) needs more than one value per channel."""
    return forward_flops(fn, example_input(net, width, frames, crop, "meta", batch=2)) // 2


def forward_flops(fn, *inputs) -> int:
    """FLOPs of fn(*inputs) counted by torch.utils.flop_counter (a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*inputs)
    return int(counter.get_total_flops())
