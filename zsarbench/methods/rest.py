"""ResT methods: rest18 / rest34 / rest101 (the paper's) and rest_tiny (a small test variant)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..artefacts import reason
from ..data.datasets import ClipDataset, VideoSet
from ..engine import dist
from ..engine.checkpoint import file_digest, load_checkpoint
from ..engine.train import Trainer, TrainState, decode_device, n_workers, to_frames
from ..errors import UserError
from ..fields import OneOf, Range
from ..models.backbones import clip_flops, sequence_features, to_channels_last
from ..models.rest import ATTENTION, INIT, PAD_ID, ResT, mask_words
from ..protocol import Recipe
from ..registry import register_search_space
from .base import Method, check_options, crop_on_device

DEFAULTS = dict(backbone="resnet18", frames=16, dim=768, depth=12, heads=12, mlp_ratio=4, dropout=0.1,
                init="bert")  # init: models/rest.py INIT
# Ablation options (paper Table 3(b, c)), in config() (the checkpoint key) only when not at their
# default, so checkpoints made before they existed stay valid:
#   attention  "rest" (the paper's mask) | "cross" (every token attends to every token)
#   losses     "cls+mlm" (L_cls + w L_mtl) | "cls" (CLS only) | "mlm" (MLM only)
#   pretrained a zsarbench checkpoint (model.pt) whose network has a frame encoder of the same backbone,
#              e.g. the E2E baseline's R(2+1)D trained on the same seen classes: F starts from it (Table 6)
#   freeze     true: F stays as it starts (fixed features, BatchNorm statistics included); there is no
#              warm-up stage then, and the joint stage trains everything after F
ABLATION_DEFAULTS = dict(attention="rest", losses="cls+mlm", pretrained="", freeze=False)
LOSSES = ("cls+mlm", "cls", "mlm")
Positive = Annotated[int, Range(1)]
# The type and valid values of every option (methods/base.py check_options).
OPTIONS = dict(backbone=str, frames=Positive, dim=Positive, depth=Positive, heads=Positive,
               mlp_ratio=Annotated[float, Range(0, lo_open=True)], dropout=Annotated[float, Range(0, 1, hi_open=True)],
               init=Annotated[str, OneOf(*INIT)], attention=Annotated[str, OneOf(*ATTENTION)],
               losses=Annotated[str, OneOf(*LOSSES)], pretrained=str, freeze=bool)
# What the joint loss never reaches with one loss alone (x = LN(z_L^0) feeds only the CLS head, the
# word tokens only the MLM head). Such parameters get no gradient at all: they are left out of the
# stage, as DDP expects one for every parameter it syncs (AdamW skips them anyway, so one process
# trains the same). The words' embedding stays in: masked attention still gives it a (zero) gradient.
UNREACHED = {"cls": ("mlm_head",), "mlm": ("cls_head", "out_norm")}


def load_frame_encoder(model: ResT, path: Path) -> None:
    """F's weights from another zsarbench checkpoint whose network keeps its visual encoder under
    `frame_encoder.` (ResT, the E2E baseline, the two-stream models) with the same backbone."""
    try:
        net = load_checkpoint(path).get("method", {}).get("model", {})
    except Exception as e:  # truncated or not a checkpoint
        raise UserError(f"pretrained checkpoint {path} is unreadable ({reason(e)}); give the model.pt of a "
                        "trained ResT, E2E or two-stream model (a cached one: delete it and run again)") from None
    weights = {k.removeprefix("frame_encoder."): v for k, v in net.items() if k.startswith("frame_encoder.")}
    if not weights:
        raise UserError(f"pretrained checkpoint {path} holds no frame encoder; give the model.pt of a trained "
                        "ResT, E2E or two-stream model")
    try:
        model.frame_encoder.load_state_dict(weights)
    except RuntimeError as e:
        raise UserError(f"pretrained checkpoint {path} has another frame encoder than this model's backbone "
                        f"({str(e).splitlines()[0]}); set method.backbone to the one it was trained with") from None


def frame_features(model: ResT, x: torch.Tensor) -> torch.Tensor:
    """Normalised frames (B, T, 3, H, W) -> (B, T, p) frame features r (channels_last convolutions)."""
    return sequence_features(model.frame_encoder, x)


class _Stage(nn.Module):
    """One training stage's forward as one module, so DDP sees a single forward per step: the
    warm-up (F and the warm-up head) or the joint pass (F + T with the CLS and MLM heads)."""

    def __init__(self, model: ResT, joint: bool, frozen_f: bool = False):
        super().__init__()
        self.model, self.joint, self.frozen_f = model, joint, frozen_f

    def forward(self, frames: torch.Tensor, words: torch.Tensor | None = None):
        if self.frozen_f:  # fixed features: BatchNorm uses its stored statistics, dropout is off
            self.model.frame_encoder.eval()
        feats = frame_features(self.model, frames)
        return self.model(feats, words) if self.joint else self.model.warmup_logits(feats)


class ResTMethod(Method):
    space = "visual"
    warmup_is_prefix = True   # fit(): the warm-up stage (SGD, its own cosine schedule), then the joint one
    # The options a subclass with another network (twostream.py) declares in its place: DEFAULTS are
    # always in config(), OPTIONAL only when not at their default (ablation options of ResT).
    DEFAULTS, OPTIONAL, OPTIONS = DEFAULTS, ABLATION_DEFAULTS, OPTIONS

    def __init__(self, name: str, **config):
        defaults, optional = self.DEFAULTS, self.OPTIONAL
        check_options(name, config, {**defaults, **optional}, self.OPTIONS)
        cfg = {**defaults, **{k: v for k, v in config.items() if k in defaults or v != optional[k]}}
        if cfg["init"] == "torch":  # every checkpoint made before `init` existed used PyTorch's init
            del cfg["init"]
        if cfg.get("pretrained"):
            cfg["pretrained"] = str(Path(cfg["pretrained"]).expanduser().resolve())
            if not Path(cfg["pretrained"]).is_file():
                raise UserError(f"method '{name}': pretrained checkpoint {cfg['pretrained']} not found; give the "
                                "model.pt of a trained zsarbench model (CACHE/checkpoints/METHOD-KEY/model.pt)")
        super().__init__(**cfg)
        self.name = name
        self.model: ResT | None = None
        self.vocab: list[str] = []
        self.n_classes = 0
        self.frames = self.cfg["frames"]

    # -- construction ------------------------------------------------------------------------
    def _build(self, n_classes: int, vocab: list[str], frames: int, max_words: int) -> None:
        self.n_classes, self.vocab, self.frames = n_classes, vocab, frames
        self.model = self._new_model(n_classes, len(vocab) + 2, frames, max_words)
        to_channels_last(self.model.frame_encoder)

    def option(self, key: str):
        # ResT's defaults also for a subclass without the option: its training is ResT's default one
        return self.cfg.get(key, ABLATION_DEFAULTS.get(key))

    def config(self) -> dict:
        """The checkpoint key's view: a pretrained F counts by its file's content, not its path."""
        cfg = dict(self.cfg)
        if cfg.get("pretrained"):
            cfg["pretrained"] = file_digest(Path(cfg["pretrained"]), self.cache_dir)
        return cfg

    def _new_model(self, n_classes: int, vocab_size: int, frames: int, max_words: int) -> nn.Module:
        """The network; a subclass with another network of the same interface overrides this."""
        c = self.cfg
        return ResT(n_classes, vocab_size, backbone=c["backbone"], dim=c["dim"], depth=c["depth"],
                    heads=c["heads"], mlp_ratio=c["mlp_ratio"], dropout=c["dropout"],
                    max_frames=frames, max_words=max_words, attention=self.option("attention"),
                    init=c.get("init", "torch"))

    def forward_flops(self, frames: int, crop: int, n_classes: int) -> int:
        """FLOPs of encoding one test clip (F, projection, T, out norm and CLS head), counted on a
        meta-device copy of the network: no memory, no weights needed."""
        with torch.device("meta"):
            model = self._new_model(n_classes, max(len(self.vocab), 1) + 2, frames, 1)
        model.train()  # no fused inference kernels: every matmul is an op the counter sees
        return clip_flops(lambda x: model(frame_features(model, x)), model.frame_encoder, model.feat_dim, frames, crop)

    def _word_ids(self, class_words: list[list[str]]) -> torch.Tensor:
        ids = {w: i + 2 for i, w in enumerate(self.vocab)}
        n = self.model.max_words
        return torch.tensor([[ids[w] for w in ws][:n] + [PAD_ID] * (n - len(ws[:n])) for ws in class_words])

    # -- Method ------------------------------------------------------------------------------
    def fit(self, videos: VideoSet, class_words: list[list[str]], recipe: Recipe, device: str,
            progress=None, state: TrainState | None = None) -> dict:
        torch.manual_seed(recipe.seed)
        frames = recipe.frames   # resolved: the method's own when the protocol left it 0 (experiment.resolve)
        vocab = sorted({w for ws in class_words for w in ws})
        self._build(len(class_words), vocab, frames, max(len(ws) for ws in class_words))
        if self.option("pretrained"):
            load_frame_encoder(self.model, Path(self.cfg["pretrained"]))
        freeze = self.option("freeze")
        model = self.model.to(device)
        words = self._word_ids(class_words).to(device)
        ds = ClipDataset(videos, frames, recipe.stride, recipe.crop, recipe.train_clips,
                         recipe.resize or None, seed=recipe.seed, flip=recipe.flip,
                         crop_on_device=crop_on_device(recipe, device), decoder=recipe.decoder,
                         decode_device=decode_device(recipe, device))
        workers = n_workers(recipe.workers, device, recipe.decoder)
        if dist.rank():  # every rank built the same weights; dropout and MLM masks differ per rank
            torch.manual_seed(dist.rank_seed(recipe.seed))
        mask_gen = torch.Generator(device=device).manual_seed(dist.rank_seed(recipe.seed))
        # MLM counters stay on the device: reading them every step would stall the GPU
        stats = {k: torch.zeros((), dtype=torch.long, device=device) for k in ("mlm_masked", "mlm_words")}
        trainer = Trainer(model, ds, recipe.batch_size, device, workers, state, {"mask": mask_gen},
                          lambda: {k: int(v) for k, v in stats.items()}, recipe.compile, progress)
        if trainer.resumed:
            for k, v in trainer.resumed["extra"].items():
                stats[k] += v
        model.train()
        warm_loss, joint_loss = self.step_losses(recipe, words, mask_gen, stats, device)

        # Stage 1, warm-up: the frame encoder F alone (with its warm-up head), SGD.
        warm_params = list(model.frame_encoder.parameters()) + list(model.warmup_head.parameters())
        opt = torch.optim.SGD(warm_params, lr=recipe.warmup_lr, momentum=recipe.warmup_momentum,
                              weight_decay=recipe.warmup_weight_decay)
        log = {"warmup": trainer.stage("warmup", "warm-up (F only, SGD)", 0 if freeze else recipe.warmup_epochs,
                                       opt, warm_params, _Stage(model, joint=False), warm_loss, recipe.seed)}

        # Stage 2, joint: everything but the warm-up head (a frozen F, what one loss alone never reaches),
        # AdamW; L = L_cls + w * L_mtl.
        joint_params = [p for n, p in model.named_parameters() if not n.startswith(self.not_joint())]
        # fused: one kernel per step on CUDA and on the CPU (4x faster than the per-tensor loop on an
        # AVX2 CPU for ResT_18's 85M parameters; equal up to float rounding: docs/scale.md)
        opt = torch.optim.AdamW(joint_params, lr=recipe.joint_lr, weight_decay=recipe.joint_weight_decay, fused=True)
        log["joint"] = trainer.stage("joint", "joint (F + T, AdamW)", recipe.joint_epochs, opt, joint_params,
                                     _Stage(model, joint=True, frozen_f=freeze), joint_loss, recipe.seed + 1)
        log["joint"]["mlm_mask_fraction"] = round(int(stats["mlm_masked"]) / max(int(stats["mlm_words"]), 1), 4)
        log["loader_workers"] = workers
        log["world_size"] = dist.world_size()
        model.eval()
        return log

    def chance_losses(self, class_words: list[list[str]], recipe: Recipe) -> dict:
        """Warm-up: cross-entropy over the seen classes (ln C). Joint: L_cls (ln C) + w L_mtl, the MLM
        head predicting one of the label vocabulary plus [PAD] and [MASK] (ln V), as the losses option
        combines them."""
        ln_c = math.log(max(len(class_words), 1))
        ln_v = math.log(len({w for ws in class_words for w in ws}) + 2)
        joint = {"cls+mlm": ln_c + recipe.mtl_weight * ln_v, "cls": ln_c, "mlm": recipe.mtl_weight * ln_v}
        return {"warmup": ln_c, "joint": joint[self.option("losses")]}

    def not_joint(self) -> tuple[str, ...]:
        """Name prefixes of the parameters the joint stage leaves alone."""
        return ("warmup_head", *(("frame_encoder",) if self.option("freeze") else ()),
                *UNREACHED.get(self.option("losses"), ()))

    def step_losses(self, recipe: Recipe, words: torch.Tensor, mask_gen: torch.Generator, stats: dict,
                    device: str):
        """The stages' step losses, (net, batch) -> (mean loss, clips): warm-up (cross-entropy of the
        warm-up head) and joint (L_cls + mtl_weight * L_mtl on masked label words)."""
        def labels_of(batch):  # each of a video's training clips carries its label
            return batch["label"].to(device, non_blocking=True).repeat_interleave(recipe.train_clips)

        losses = self.option("losses")

        def warm_loss(net, batch):
            y = labels_of(batch)
            return F.cross_entropy(net(to_frames(batch, device)), y), len(y)

        def joint_loss(net, batch):
            y = labels_of(batch)
            w = words[y]
            w_in, w_target = mask_words(w, recipe.mlm_prob, mask_gen)
            stats["mlm_masked"] += (w_target != -100).sum()
            stats["mlm_words"] += (w != PAD_ID).sum()
            out = net(to_frames(batch, device), w_in)
            l_cls = F.cross_entropy(out["cls_logits"].float(), y)
            l_mtl = F.cross_entropy(out["mlm_logits"].float().flatten(0, 1), w_target.flatten(), ignore_index=-100)
            if losses != "cls+mlm":  # the CLS-only / MLM-only ablations (paper Table 3(b))
                return (l_cls if losses == "cls" else recipe.mtl_weight * l_mtl), len(y)
            return l_cls + recipe.mtl_weight * l_mtl, len(y)

        return warm_loss, joint_loss

    def encode_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """The visual representation x = LN(z_L^0) of each clip (no label words)."""
        return self.model(frame_features(self.model, clips))["x"]

    def feature_dim(self) -> int:
        return self.model.out_norm.normalized_shape[0]

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "vocab": self.vocab, "n_classes": self.n_classes,
                "frames": self.frames, "max_words": self.model.max_words}

    def load_state_dict(self, state: dict) -> None:
        self._build(state["n_classes"], list(state["vocab"]), state["frames"], state["max_words"])
        self.model.load_state_dict(state["model"])
        self.model.eval()


# The factories: each declared as an entry point of zsarbench (pyproject.toml, group zsarbench.methods).

def rest18(**overrides) -> ResTMethod:
    """ResT_18: ResNet-18 frame encoder (512-d), 16 frames, 12-layer 768-d encoder."""
    return ResTMethod("rest18", **{"backbone": "resnet18", "frames": 16, **overrides})


def rest34(**overrides) -> ResTMethod:
    """ResT_34: ResNet-34 frame encoder (512-d), 8 frames."""
    return ResTMethod("rest34", **{"backbone": "resnet34", "frames": 8, **overrides})


def rest101(**overrides) -> ResTMethod:
    """ResT_101: ResNet-101 frame encoder (2048-d), 4 frames."""
    return ResTMethod("rest101", **{"backbone": "resnet101", "frames": 4, **overrides})


TINY = dict(backbone="resnet18", frames=4, dim=64, depth=2, heads=4)  # rest_tiny and its ablations


def rest_tiny(**overrides) -> ResTMethod:
    """A tiny ResT for tests and smoke runs: ResNet-18, 2-layer 64-d encoder."""
    return ResTMethod("rest_tiny", **{**TINY, **overrides})


# `zsarbench tune`'s search space of the ResT family (seen-class CV only; tune.py): the recipe's
# warm-up length and learning rates, and the encoder depth (method.depth: the overlay's [method] table)
register_search_space("rest_tiny", {
    "recipe.warmup_epochs": {"low": 1, "high": 6},
    "recipe.warmup_lr": {"low": 1e-3, "high": 0.1, "log": True},
    "recipe.joint_lr": {"low": 1e-5, "high": 3e-4, "log": True},
    "method.depth": {"low": 1, "high": 4, "int": True},
})
register_search_space("rest*", {
    "recipe.warmup_epochs": {"low": 1, "high": 6},
    "recipe.warmup_lr": {"low": 1e-3, "high": 0.1, "log": True},
    "recipe.joint_lr": {"low": 1e-5, "high": 3e-4, "log": True},
    "method.depth": {"low": 2, "high": 12, "int": True},
})
