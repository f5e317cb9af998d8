"""ResT methods: rest18 / rest34 / rest101 (the paper's) and rest_tiny (a small test variant)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import ClipDataset, VideoSet
from ..engine.train import clip_loader, n_workers, run_stage, to_frames, autocast
from ..models.rest import PAD_ID, ResT, mask_words
from ..protocol import Recipe
from ..registry import register_method
from .base import Encoded, Method

DEFAULTS = dict(backbone="resnet18", frames=16, dim=768, depth=12, heads=12, mlp_ratio=4, dropout=0.1)


class ResTMethod(Method):
    space = "visual"

    def __init__(self, name: str, **config):
        unknown = set(config) - set(DEFAULTS)
        if unknown:
            from ..errors import UserError
            raise UserError(f"method '{name}': unknown option(s) {', '.join(sorted(unknown))}; "
                            f"options are {', '.join(DEFAULTS)}")
        super().__init__(**{**DEFAULTS, **config})
        self.name = name
        self.model: ResT | None = None
        self.vocab: list[str] = []
        self.n_classes = 0
        self.frames = self.cfg["frames"]

    # -- construction ------------------------------------------------------------------------
    def _build(self, n_classes: int, vocab: list[str], frames: int, max_words: int) -> None:
        self.n_classes, self.vocab, self.frames = n_classes, vocab, frames
        c = self.cfg
        self.model = ResT(n_classes, len(vocab) + 2, backbone=c["backbone"], dim=c["dim"], depth=c["depth"],
                          heads=c["heads"], mlp_ratio=c["mlp_ratio"], dropout=c["dropout"],
                          max_frames=frames, max_words=max_words)
        self.model.frame_encoder.to(memory_format=torch.channels_last)

    def _word_ids(self, class_words: list[list[str]]) -> torch.Tensor:
        ids = {w: i + 2 for i, w in enumerate(self.vocab)}
        n = self.model.max_words
        return torch.tensor([[ids[w] for w in ws][:n] + [PAD_ID] * (n - len(ws[:n])) for ws in class_words])

    def _frame_features(self, clips: torch.Tensor, device: str) -> torch.Tensor:
        x = to_frames(clips, device)
        B, T = x.shape[:2]
        x = x.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        return self.model.frame_encoder(x).view(B, T, -1).float()

    # -- Method ------------------------------------------------------------------------------
    def fit(self, videos: VideoSet, class_words: list[list[str]], recipe: Recipe, device: str,
            progress=None) -> dict:
        torch.manual_seed(recipe.seed)
        frames = recipe.frames or self.cfg["frames"]
        vocab = sorted({w for ws in class_words for w in ws})
        self._build(len(class_words), vocab, frames, max(len(ws) for ws in class_words))
        model = self.model.to(device)
        words = self._word_ids(class_words).to(device)
        ds = ClipDataset(videos, frames, recipe.stride, recipe.crop, recipe.train_clips,
                         recipe.resize or None, seed=recipe.seed)
        workers = n_workers(recipe.workers, device)
        loader = clip_loader(ds, recipe.batch_size, True, recipe.seed, workers, device)
        mask_gen = torch.Generator(device=device).manual_seed(recipe.seed)
        model.train()

        def labels_of(batch):  # each of a video's training clips carries its label
            return batch["label"].to(device).repeat_interleave(recipe.train_clips)

        # Stage 1, warm-up: the frame encoder F alone (with its warm-up head), SGD.
        warm_params = list(model.frame_encoder.parameters()) + list(model.warmup_head.parameters())

        def warm_loss(batch):
            y = labels_of(batch)
            return F.cross_entropy(model.warmup_logits(self._frame_features(batch["clips"], device)), y), len(y)

        opt = torch.optim.SGD(warm_params, lr=recipe.warmup_lr, momentum=recipe.warmup_momentum,
                              weight_decay=recipe.warmup_weight_decay)
        log = {"warmup": run_stage("warm-up (F only, SGD)", loader, ds, recipe.warmup_epochs, opt,
                                   warm_params, warm_loss, device, recipe.seed, progress)}

        # Stage 2, joint: everything but the warm-up head, AdamW; L = L_cls + w * L_mtl.
        joint_params = [p for n, p in model.named_parameters() if not n.startswith("warmup_head")]
        stats = {"mlm_masked": 0, "mlm_words": 0}

        def joint_loss(batch):
            y = labels_of(batch)
            w = words[y]
            w_in, w_target = mask_words(w, recipe.mlm_prob, mask_gen)
            stats["mlm_masked"] += int((w_target != -100).sum())
            stats["mlm_words"] += int((w != PAD_ID).sum())
            out = model(self._frame_features(batch["clips"], device), w_in)
            l_cls = F.cross_entropy(out["cls_logits"].float(), y)
            l_mtl = F.cross_entropy(out["mlm_logits"].float().flatten(0, 1), w_target.flatten(), ignore_index=-100)
            return l_cls + recipe.mtl_weight * l_mtl, len(y)

        opt = torch.optim.AdamW(joint_params, lr=recipe.joint_lr, weight_decay=recipe.joint_weight_decay,
                                **({"fused": True} if device.startswith("cuda") else {}))
        log["joint"] = run_stage("joint (F + T, AdamW)", loader, ds, recipe.joint_epochs, opt,
                                 joint_params, joint_loss, device, recipe.seed + 1, progress)
        log["joint"]["mlm_mask_fraction"] = round(stats["mlm_masked"] / max(stats["mlm_words"], 1), 4)
        log["loader_workers"] = workers
        model.eval()
        return log

    @torch.no_grad()
    def encode(self, videos: VideoSet, recipe: Recipe, n_clips: int, device: str,
               progress=None, desc: str = "") -> Encoded:
        model = self.model.to(device).eval()
        ds = ClipDataset(videos, self.frames, recipe.stride, recipe.crop, n_clips, recipe.resize or None)
        loader = clip_loader(ds, max(1, recipe.batch_size * 4 // n_clips), False, 0,
                             n_workers(recipe.workers, device), device)
        task = progress.add_task(desc or f"features ({n_clips} clips/video)", total=len(ds)) if progress else None
        feats, index, bad = [], [], []
        for batch in loader:
            bad += batch["bad_paths"]
            if batch["clips"] is not None:
                B = batch["clips"].shape[0]
                with autocast(device):
                    x = model(self._frame_features(batch["clips"], device))["x"].float()
                feats.append(x.view(B, n_clips, -1).mean(1).cpu())
                index.append(batch["index"])
            if progress:
                progress.advance(task, len(batch["index"]) + len(batch["bad_paths"]))
        if not feats:
            return Encoded(np.zeros((0, self.model.out_norm.normalized_shape[0]), np.float32),
                           np.zeros(0, np.int64), bad)
        return Encoded(torch.cat(feats).numpy(), torch.cat(index).numpy(), bad)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "vocab": self.vocab, "n_classes": self.n_classes,
                "frames": self.frames, "max_words": self.model.max_words}

    def load_state_dict(self, state: dict) -> None:
        self._build(state["n_classes"], list(state["vocab"]), state["frames"], state["max_words"])
        self.model.load_state_dict(state["model"])
        self.model.eval()


@register_method
def rest18(**overrides) -> ResTMethod:
    """ResT_18: ResNet-18 frame encoder (512-d), 16 frames, 12-layer 768-d encoder."""
    return ResTMethod("rest18", **{"backbone": "resnet18", "frames": 16, **overrides})


@register_method
def rest34(**overrides) -> ResTMethod:
    """ResT_34: ResNet-34 frame encoder (512-d), 8 frames."""
    return ResTMethod("rest34", **{"backbone": "resnet34", "frames": 8, **overrides})


@register_method
def rest101(**overrides) -> ResTMethod:
    """ResT_101: ResNet-101 frame encoder (2048-d), 4 frames."""
    return ResTMethod("rest101", **{"backbone": "resnet101", "frames": 4, **overrides})


@register_method
def rest_tiny(**overrides) -> ResTMethod:
    """A tiny ResT for tests and smoke runs: ResNet-18, 2-layer 64-d encoder."""
    return ResTMethod("rest_tiny", **{"backbone": "resnet18", "frames": 4, "dim": 64, "depth": 2,
                                      "heads": 4, **overrides})
