"""Frame-level image-text baseline (open_clip): zero-shot, or ViFi-CLIP-style fine-tuned on the seen classes.

A video is the mean of its frames' L2-normalised image embeddings (normalised again); a class is the
text tower's embedding of its words in a prompt template (`template`: name "{}", person "a video of
a person {}.", ensemble: the mean of several, or a template of your own). The method names the
classes itself (Method.text_encoder), so the shared pipeline scores videos by cosine against these
class embeddings (the `label-nn` variant, space = "semantic") instead of the protocol's word vectors;
overlap removal still uses the protocol's embedding.

  zero-shot  (finetune=false) fit trains nothing: it loads the weights (`weights=PATH`, any open_clip
             architecture `arch`) and the checkpoint stores only their hash, not a copy
  fine-tuned (finetune=true)  both towers trained with the engine's Trainer (AdamW at recipe.joint_lr
             for recipe.joint_epochs, cosine schedule, seeds, resume, DDP): cross-entropy of
             logit_scale * cosine(video, class text) over the seen classes present in the batch

Options: arch, weights, template, frames, finetune. Nothing is downloaded (clip_model.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import torch.nn as nn
import torch.nn.functional as F

from zsarbench.data.datasets import ClipDataset, VideoSet
from zsarbench.engine import dist
from zsarbench.engine.train import Trainer, decode_device, n_workers, to_frames
from zsarbench.errors import UserError
from zsarbench.fields import Range
from zsarbench.methods.base import Method, check_options, crop_on_device
from zsarbench.protocol import Recipe
from zsarbench.registry import register_search_space

from . import clip_model as cm

DEFAULTS = dict(arch="ViT-B-32", weights="", template="person", frames=8, finetune=False)
OPTIONS = dict(arch=str, weights=str, template=str, frames=Annotated[int, Range(1)], finetune=bool)

# `zsarbench tune` (seen classes only): the prompt for zero-shot; the fine-tuning's learning rate too
register_search_space("clip_*_ft", {"method.template": {"choices": list(cm.TEMPLATES)},
                                    "recipe.joint_lr": {"low": 1e-6, "high": 1e-4, "log": True}})
register_search_space("clip_*", {"method.template": {"choices": list(cm.TEMPLATES)}})


class _FinetuneStep(nn.Module):
    """Both towers' forward as one module, so DDP sees one forward per step: clips (B, T, 3, h, w)
    and the prompts of C classes (C * n_templates, L) -> (B, C) logits."""

    def __init__(self, model: nn.Module, n_templates: int):
        super().__init__()
        self.model, self.n_templates = model, n_templates

    def forward(self, clips: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        v = cm.video_embeddings(self.model, clips)
        t = cm.text_embeddings(self.model, tokens, self.n_templates)
        return self.model.logit_scale.exp() * v @ t.T


class ClipFrames(Method):
    space = "semantic"
    text_encoder = True

    def __init__(self, name: str, **config):
        cfg = check_options(name, config, DEFAULTS, OPTIONS)
        self.templates = cm.templates_of(cfg["template"], name)
        if cfg["weights"]:
            cfg["weights"] = str(Path(cfg["weights"]).expanduser().resolve())
            if not Path(cfg["weights"]).is_file():
                raise UserError(f"method '{name}': weights file {cfg['weights']} not found; pass "
                                "method.weights=PATH of an open_clip checkpoint you have (zsarbench never downloads)")
            cm.check_weights_file(Path(cfg["weights"]), name)
        cm.check_arch(cfg["arch"], cfg["weights"], name)
        super().__init__(**cfg)
        self.name, self.model, self.frames, self.seed = name, None, cfg["frames"], 0

    @property
    def _sha(self) -> str:
        """The weights' sha256, hashed when a key or a record needs it (memoised under the run's cache)."""
        return cm.weights_sha256(Path(self.cfg["weights"]), self.cache_dir) if self.cfg["weights"] else ""

    def config(self) -> dict:
        """The checkpoint key's view: the weights by content; the template only where it shapes
        training (zero-shot features do not depend on it, so changing it re-encodes no video)."""
        cfg = {**self.cfg, "weights": f"sha256:{self._sha}" if self._sha else ""}
        if not cfg["finetune"]:
            del cfg["template"]
        return cfg

    def details(self) -> dict:
        return {"arch": self.cfg["arch"], "weights": self.cfg["weights"] or None,
                "weights_sha256": self._sha or None, "init": "weights file" if self._sha else
                "random (seeded by recipe.seed)", "template": self.cfg["template"], "templates": self.templates,
                "finetuned": self.cfg["finetune"], "video": "mean of L2-normalised frame embeddings"}

    def _build(self, frames: int, seed: int) -> None:
        self.frames, self.seed = frames, seed
        self.model = cm.build(self.cfg["arch"], self.cfg["weights"], seed)
        self._tokenize = cm.tokenizer(self.cfg["arch"])

    def fit(self, videos: VideoSet, class_words, recipe: Recipe, device: str, progress=None, state=None,
            label_vectors=None) -> dict:
        self._build(recipe.frames, recipe.seed)
        log = {"zero_shot": not self.cfg["finetune"], "arch": self.cfg["arch"]}
        if not self.cfg["finetune"]:
            self.model.eval()
            return log
        model = self.model.to(device)
        tokens = self._tokenize(cm.prompts(class_words, self.templates)).to(device)
        n_t = len(self.templates)
        ds = ClipDataset(videos, self.frames, recipe.stride, recipe.crop, recipe.train_clips, recipe.resize or None,
                         seed=recipe.seed, flip=recipe.flip, crop_on_device=crop_on_device(recipe, device),
                         decoder=recipe.decoder, decode_device=decode_device(recipe, device))
        workers = n_workers(recipe.workers, device, recipe.decoder)
        trainer = Trainer(model, ds, recipe.batch_size, device, workers, state, progress=progress)

        def step_loss(net, batch):
            y = batch["label"].to(device).repeat_interleave(recipe.train_clips)
            present, y_local = torch.unique(y, return_inverse=True)   # the batch's seen classes
            rows = (present[:, None] * n_t + torch.arange(n_t, device=device)).flatten()
            logits = net(to_frames(batch, device), tokens[rows])
            return F.cross_entropy(logits.float(), y_local), len(y)

        params = list(model.parameters())
        opt = torch.optim.AdamW(params, lr=recipe.joint_lr, weight_decay=recipe.joint_weight_decay)
        model.train()
        log["finetune"] = trainer.stage("finetune", f"fine-tune {self.cfg['arch']} (both towers, AdamW)",
                                        recipe.joint_epochs, opt, params, _FinetuneStep(model, n_t), step_loss,
                                        recipe.seed)
        log["loader_workers"] = workers
        log["world_size"] = dist.world_size()
        model.eval()
        return log

    def encode_clips(self, clips: torch.Tensor) -> torch.Tensor:
        return cm.video_embeddings(self.model, clips)

    def feature_dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if getattr(self.model, "text_projection", None) is not None \
            else int(self.model.visual.output_dim)

    @torch.no_grad()
    def class_vectors(self, class_words: list[list[str]]):
        self.model.eval()
        device = next(self.model.parameters()).device
        tokens = self._tokenize(cm.prompts(class_words, self.templates)).to(device)
        return cm.to_numpy(cm.text_embeddings(self.model, tokens, len(self.templates)))

    def state_dict(self) -> dict:
        # zero-shot from a weights file: the file is the model (its hash is in the checkpoint key)
        keep = self.cfg["finetune"] or not self.cfg["weights"]
        return {"model": self.model.state_dict() if keep else {}, "frames": self.frames, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self._build(state["frames"], state["seed"])
        if state["model"]:
            self.model.load_state_dict(state["model"])
        self.model.eval()


def clip_frames(**overrides) -> ClipFrames:
    """open_clip image-text model per frame, zero-shot (method.arch, method.weights=PATH, method.template)."""
    return ClipFrames("clip_frames", **overrides)


def clip_frames_ft(**overrides) -> ClipFrames:
    """clip_frames fine-tuned on the seen classes, ViFi-CLIP style (both towers, recipe.joint_*)."""
    return ClipFrames("clip_frames_ft", **{"finetune": True, **overrides})


def clip_tiny(**overrides) -> ClipFrames:
    """A tiny randomly initialised open_clip (2-layer ViT on 32-pixel crops, 2-layer text) for tests."""
    return ClipFrames("clip_tiny", **{"arch": cm.TINY_ARCH, "frames": 4, **overrides})


def clip_tiny_ft(**overrides) -> ClipFrames:
    """clip_tiny fine-tuned on the seen classes (for tests)."""
    return ClipFrames("clip_tiny_ft", **{"arch": cm.TINY_ARCH, "frames": 4, "finetune": True, **overrides})
