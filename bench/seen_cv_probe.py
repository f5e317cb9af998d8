"""Seen-classes-only probe of ResT's representation x, for choosing init and joint-stage lr.

Takes a trained ResT checkpoint of a protocol (trained or reused through the normal pipeline, with
the same --set overrides as `zsarbench run`), keeps its frame encoder F, re-initialises everything
else (--init), optionally runs --steps joint AdamW steps (cosine) at --lr, and prints the 5-fold
cross-validated transfer top-1 on the seen (source) classes, as `run` uses to choose (theta, K, rho).
No target class is read. Figures in docs/method.md came from:

    python bench/seen_cv_probe.py --init torch --init bert --steps 0           # 30.6 / 39.2
    python bench/seen_cv_probe.py --init bert --steps 60 --lr 5e-5 --lr 1.5e-4 --lr 3e-4

(default --set: the warm-up-3 recipe of rest18-20261126T074926Z.json (results/ at revision 9cfb14f) with
method.init=torch, whose checkpoint is reused when cached; ~6 min on 2 cores to train otherwise.)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zsarbench.context import RunContext, default_cache_dir
from zsarbench.data.datasets import ClipDataset
from zsarbench.engine.checkpoint import load_checkpoint
from zsarbench.engine.train import EpochBatches, clip_loader, to_frames
from zsarbench.methods.rest import _Stage, frame_features
from zsarbench.models.rest import bert_init
from zsarbench.prepare import prepare
from zsarbench.protocol import load_protocol, parse_set
from zsarbench.transfer.cv import cross_validate

DEFAULT_SETS = ["recipe.frame_cache=true", "recipe.warmup_epochs=3", "recipe.joint_epochs=0.25",
                "recipe.joint_lr=1.5e-4", "recipe.test_clips=4", "prototypes.max_videos_per_class=30",
                "method.init=torch"]


def reinit(model, init: str, seed: int) -> None:
    """Fresh non-F weights: BERT's init, or PyTorch's defaults (each layer's reset_parameters)."""
    torch.manual_seed(seed)
    for name, module in model.named_modules():
        if name.startswith(("frame_encoder", "warmup_")) or not name:
            continue
        if init == "bert":
            bert_init(module)
        elif hasattr(module, "_reset_parameters"):  # nn.MultiheadAttention
            module._reset_parameters()
        elif hasattr(module, "reset_parameters") and not list(module.children()):
            module.reset_parameters()


def seen_cv(prep, model, videos, recipe, what: str = "x") -> dict:
    """CV top-1 of x (or of mean layer-normalised frame features) over the prototype videos."""
    ds = ClipDataset(videos, model.max_frames, recipe.stride, recipe.crop, 1, None)
    model.eval()
    out, idx = [], []
    with torch.no_grad():
        for b in clip_loader(ds, EpochBatches(len(ds), 64), 0, "cpu"):
            f = frame_features(model, to_frames(b, "cpu"))
            out.append(model(f)["x"] if what == "x" else F.layer_norm(f, f.shape[-1:]).mean(1))
            idx.append(b["index"])
    labels = videos.labels[torch.cat(idx).numpy()]
    T = prep.protocol.transfer
    return cross_validate(prep.seen_vecs, torch.cat(out).numpy(), labels, T.theta, T.K, T.rho)


def joint_steps(prep, method, steps: int, lr: float, seed: int) -> list[float]:
    """`steps` joint-stage AdamW steps (F and T, L_cls + w L_mtl), cosine from lr, batch per recipe."""
    R, model = prep.protocol.recipe, method.model
    words = method._word_ids(prep.data.seen_words)   # the words the model was trained on
    stats = {k: torch.zeros((), dtype=torch.long) for k in ("mlm_masked", "mlm_words")}
    _, loss_fn = method.step_losses(R, words, torch.Generator().manual_seed(seed), stats, "cpu")
    params = [p for n, p in model.named_parameters() if not n.startswith("warmup_head")]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=R.joint_weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    ds = ClipDataset(prep.seen, method.frames, R.stride, R.crop, R.train_clips, None, seed=seed)
    net, losses = _Stage(model, joint=True), []
    model.train()
    for i, batch in enumerate(clip_loader(ds, EpochBatches(len(ds), R.batch_size, seed=seed), 1, "cpu")):
        if i == steps:
            break
        loss, _ = loss_fn(net, batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--protocol", default="synth-ucf-0-50")
    ap.add_argument("--set", dest="sets", action="append", default=None, help="as `zsarbench run --set`")
    ap.add_argument("--init", action="append", choices=["bert", "torch"], default=None)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--lr", type=float, action="append", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    overrides = parse_set(a.sets if a.sets is not None else DEFAULT_SETS)
    protocol = load_protocol(a.protocol, overrides)   # method.* go into its method table
    ctx = RunContext(default_cache_dir(), Path("results"), device="cpu")
    prep = prepare("rest18", protocol, ctx)
    method = prep.method
    state = load_checkpoint(prep.ckpt)["method"]
    videos = prep.seen.cap_per_class(protocol.prototypes.max_videos_per_class, protocol.recipe.seed)
    method.load_state_dict(state)
    print(f"checkpoint {prep.ckpt}; {len(prep.seen.classes)} seen classes, {len(videos)} prototype videos")
    r = seen_cv(prep, method.model, videos, protocol.recipe, "frames")
    print(f"mean LN frame features (F only)   seen CV top-1 {r['cv_top1']:.1f}")
    for init in a.init or ["bert"]:
        for lr in (a.lr or [protocol.recipe.joint_lr]) if a.steps else [0.0]:
            method.load_state_dict(state)
            reinit(method.model, init, a.seed)
            t, losses = time.time(), []
            if a.steps:
                losses = joint_steps(prep, method, a.steps, lr, a.seed)
            r = seen_cv(prep, method.model, videos, protocol.recipe)
            trained = (f"{a.steps} joint steps at lr {lr:g}, loss {np.mean(losses[:10]):.2f} -> "
                       f"{np.mean(losses[-10:]):.2f}, {time.time() - t:.0f} s" if a.steps else "no joint training")
            print(f"init {init:5s} {trained:58s} seen CV top-1 {r['cv_top1']:.1f} "
                  f"(theta {r['theta']}, K {r['K']}, rho {r['rho']})", flush=True)


if __name__ == "__main__":
    main()
