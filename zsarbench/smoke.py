"""`zsarbench run ... --smoke`: the whole real pipeline at token size, before a long run.

Each step is one of the pipeline's own (prepare.load_data, train_or_reuse, extract; scoring;
results), run on a handful of videos, and gives one checklist line: ok with what it saw, or the
one-line reason it failed (then the smoke stops; exit 2). It stays small at any recipe and dataset
size: decode reads 2 videos of each of at most 12 classes per dataset (at most SAMPLE_VIDEOS videos),
features encode 1 clip of at most SAMPLE_VIDEOS videos per set, and the full feature extraction is
estimated from that rate. Training runs 2 optimiser steps of every stage at the recipe's real shapes
and batch size, so an out-of-memory shows now (on CUDA the largest batch that fits is found by
halving). The decode step's clips/s per loader worker against the training step's clips/s says
whether the run will wait for its data, and what would fix it (decode_verdict). Checkpoints, features and the results file go to a scratch
folder under the cache that is deleted at the end: the real cache and results/ are left as they were
(synthetic data and frame caches are read from the real cache, and built there on first use).
The measured step and clip rates, times the recipe's step and clip counts, give an estimate of the
full run's time.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import UserError

DECODE_PER_CLASS = 2     # videos per class decoded by the decode step
FEATURE_PER_CLASS = 2    # target videos per class encoded by the features step
SAMPLE_VIDEOS = 24       # at most this many videos per dataset in decode and features (classes sampled)


@dataclass
class Smoke:
    """The checklist so far: (step, ok, one line) per step, and the full run's estimate."""
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    estimate: dict = field(default_factory=dict)
    show: Callable = print

    def step(self, name: str, fn: Callable):
        """fn() -> (value, one-line detail); a failure is recorded, shown and raised as one line."""
        try:
            value, detail = fn()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:   # noqa: BLE001 - every failure is one checklist line
            reason = one_line(e)
            self.checks.append((name, False, reason))
            self.show(f"  FAILED {name}: {reason}")
            raise UserError(f"smoke: {name} failed: {reason}") from e
        self.checks.append((name, True, detail))
        self.show(f"  ok     {name}: {detail}")
        return value


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else ""
    return line if isinstance(e, UserError) else f"{type(e).__name__}: {line}" if line else type(e).__name__


def largest_fitting_batch(train: Callable[[int], object], batch: int):
    """train(batch); on a CUDA out-of-memory, the largest halved batch that trains is named in a
    UserError (--set recipe.batch_size=B), or that none does."""
    import torch

    oom = torch.cuda.OutOfMemoryError
    try:
        return train(batch)
    except oom:
        pass
    b = batch // 2
    while b >= 1:
        torch.cuda.empty_cache()
        try:
            train(b)
        except oom:
            b //= 2
            continue
        raise UserError(f"CUDA out of memory at batch {batch}; batch {b} fits: --set recipe.batch_size={b} "
                        f"(scale the learning rates with it), or run on more GPUs with torchrun")
    raise UserError(f"CUDA out of memory at batch {batch}, and at batch 1: the model does not fit this GPU "
                    f"(fewer frames: --set recipe.frames=N, or a smaller crop)")


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{d} d {h} h" if d else f"{h} h {m} min" if h else f"{m} min {s} s" if m else f"{s} s")


def stage_epochs(recipe, key: str) -> float:
    """A training stage's epochs in the recipe: ResT's warm-up and joint; one-stage methods train
    for both (E2E: warmup_epochs + joint_epochs)."""
    return {"warmup": recipe.warmup_epochs, "joint": recipe.joint_epochs}.get(
        key, recipe.warmup_epochs + recipe.joint_epochs)


def smoke(exp, ctx, show: Callable = print) -> Smoke:
    """Runs the checklist on an experiment (experiment.Experiment: method and resolved protocol);
    returns it with the estimate, or raises a UserError naming the failing step."""
    from .engine.train import pick_device
    from .experiment import resolve

    method_name = exp.method
    P = resolve(method_name, exp.protocol)   # an ablation's experiments leave it to each row's method
    ctx.device = pick_device(ctx.device)
    report = Smoke(show=show)
    show(f"smoke: {method_name} on {P.name} ({ctx.device}); every step on a handful of videos")
    base = Path(ctx.cache_dir) / "smoke"
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    try:
        _checklist(report, method_name, P, ctx, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if base.exists() and not any(base.iterdir()):
            base.rmdir()
    return report


def _checklist(report: Smoke, method_name: str, P, ctx, scratch: Path) -> None:
    from .data.datasets import resolve_dataset
    from .data.roots import dataset_root
    from .engine.train import n_batches
    from .prepare import Prepared, extract, load_data, own_class_vectors, train_or_reuse
    from .registry import create_method
    from .results import run_document, run_start, write_results
    from .run import inference_variant
    from .scoring import score_variant

    R = P.recipe
    real = [n for n in dict.fromkeys([P.source.dataset, P.target.dataset, *P.source.remove_overlap_with])
            if not n.startswith("synth-")]

    def roots():
        found = []
        for name in real:
            root, origin = dataset_root(name, ctx.data_roots)
            if not Path(root).exists():
                raise UserError(f"{name} root {root} ({origin}) does not exist")
            found.append(f"{name}={root} ({origin})")
        return None, "; ".join(found) or "synthetic data only (generated in the cache on first use)"
    report.step("data roots", roots)

    def annotations():
        sets = {n: resolve_dataset(n, P, ctx.cache_dir, None, ctx.data_roots, ctx.allow_nonstandard) for n in real}
        return None, "; ".join(f"{n}: {len(vs.classes)} classes, {len(vs)} videos" for n, vs in sets.items()) \
            or "synthetic data"
    report.step("annotations", annotations)

    def labels():
        data = load_data(P, ctx)
        return data, (f"label words and vectors for every class ({P.embedding.name}); {len(data.overlap.removed)} "
                      f"source classes overlap the targets and are removed; training on {len(data.seen.classes)} "
                      f"classes / {len(data.seen)} videos; target {len(data.target.classes)} classes / "
                      f"{len(data.target)} videos")
    data = report.step("labels and overlap removal", labels)

    method, frames = create_method(method_name, **P.method), R.frames
    report.step("decode", lambda: (None, decode(data, R, frames, ctx.device, report.estimate)))

    # training: 2 optimiser steps per stage on 2 batches of the real size, in the scratch cache
    rng = np.random.default_rng(R.seed)
    sample = data.seen.cap_per_class(DECODE_PER_CLASS, R.seed)
    keep = np.sort(rng.permutation(len(sample))[:2 * R.batch_size])   # 2 batches of the real size
    train_set = sample.take(keep)
    scratch_ctx = replace(ctx, cache_dir=scratch, results_dir=scratch / "results", resume=False,
                          log=lambda *a, **k: None)

    def train(batch: int):
        epochs = 2 / max(n_batches(len(train_set), batch), 1)
        Ps = replace(P, recipe=replace(R, batch_size=batch, warmup_epochs=epochs, joint_epochs=epochs,
                                       checkpoint_every=0))
        return Ps, train_or_reuse(method_name, Ps, replace(data, seen=train_set), scratch_ctx)

    def training():
        Ps, model = largest_fitting_batch(train, R.batch_size)
        stages = {k: v for k, v in model.train_log.items() if isinstance(v, dict) and "steps" in v}
        rate = {k: v["seconds"] / v["steps"] for k, v in stages.items() if v["steps"]}
        per_epoch = n_batches(len(data.seen), R.batch_size)
        report.estimate["stages"] = {k: {"steps": round(stage_epochs(R, k) * per_epoch) if stages[k]["steps"] else 0,
                                         "s_per_step": round(s, 4)} for k, s in rate.items()}
        # the faster stage's clips/s: the one that asks the most of the loader
        report.estimate["train_clips_per_s"] = round(Ps.recipe.batch_size * R.train_clips / max(
            min(rate.values(), default=1.0), 1e-9), 3)
        return (Ps, model), ", ".join(f"{k} {v['steps']} steps ({rate.get(k, 0):.2f} s/step)"
                                      for k, v in stages.items()) + \
            f" at batch {R.batch_size}, {frames} frames, crop {R.crop} on {ctx.device}"
    Ps, model = report.step("training", training)

    # features and transfer on the classes the training sample holds, and a few target videos per class
    present = sorted(set(train_set.labels.tolist()))
    seen = train_set.subset_classes([data.seen.classes[c] for c in present])
    seen = seen.take(np.sort(rng.permutation(len(seen))[:SAMPLE_VIDEOS])) if len(seen) > SAMPLE_VIDEOS else seen
    present = [present[c] for c in sorted(set(seen.labels.tolist()))]
    seen = seen.subset_classes([data.seen.classes[c] for c in present])
    small = replace(data, seen=seen, seen_words=[data.seen_words[c] for c in present],
                    seen_vecs=data.seen_vecs[present],
                    target=few_classes(data.target, FEATURE_PER_CLASS, SAMPLE_VIDEOS, R.seed))
    small = own_class_vectors(P, small, model)   # an image-text method names the classes itself
    # one clip per video: the rate per clip is what the estimate needs (clips per video only multiply)
    Pf = replace(Ps, prototypes=replace(P.prototypes, max_videos_per_class=0, clips=1),
                 recipe=replace(Ps.recipe, test_clips=1))
    prep = Prepared(Pf, small, model)

    def features():
        t = time.time()
        prep.seen_feats, prep.target_feats, _ = extract(Pf, small, model, scratch_ctx)
        clips = len(seen) + len(small.target)
        per_clip = (time.time() - t) / max(clips, 1)
        full = len(data.seen.cap_per_class(P.prototypes.max_videos_per_class, R.seed)) * P.prototypes.clips \
            + len(data.target) * R.test_clips
        report.estimate["features"] = {"clips": full, "s_per_clip": round(per_clip, 5)}
        bad = len(prep.seen_feats.bad) + len(prep.target_feats.bad)
        return None, (f"{len(seen) + len(small.target)} videos, {clips} clips ({per_clip * 1e3:.1f} ms/clip)"
                      + (f"; {bad} skipped" if bad else ""))
    report.step("features", features)

    T = P.transfer
    Pt = replace(Pf, target=replace(P.target, n_splits=1),
                 transfer=replace(T, theta=T.theta[:1], K=[min(T.K)], rho=[min(T.rho)],
                                  cv_folds=max(2, min(T.cv_folds, len(seen.classes)))))
    prep.protocol = Pt

    def transfer():
        scored = score_variant(prep, inference_variant(method), None)
        top1 = scored["aggregate"].get("top1", {})
        return scored, (f"CV on {len(seen.classes)} seen classes, 1 split of {len(Pt.splits(len(small.target.classes))[0])} "
                        f"unseen classes: top-1 {top1.get('mean', float('nan')):.1f} (meaningless at this size)")
    scored = report.step("transfer and evaluation", transfer)

    def results():
        doc = run_document(prep, ctx.command, ctx.device, {"smoke": True}, scored, run_start(), {})
        path = write_results(doc, scratch_ctx, P.name, method.name)
        size = len(path.read_text())
        json.loads(path.read_text())
        shutil.rmtree(scratch_ctx.results_dir)
        return None, f"{path.name} written ({size:,} bytes) and read back in a scratch folder, then deleted"
    report.step("results file", results)
    report.estimate["total_s"] = round(
        sum(v["steps"] * v["s_per_step"] for v in report.estimate["stages"].values())
        + report.estimate["features"]["clips"] * report.estimate["features"]["s_per_clip"], 1)
    report.show(estimate_line(report.estimate))
    report.show(decode_verdict(report.estimate, R, ctx.device))


def few_classes(vs, per_class: int, most: int, seed: int):
    """`per_class` videos of each class, of a seeded choice of classes when that would exceed `most`."""
    have = [c for c in range(len(vs.classes)) if (vs.labels == c).any()]
    if len(have) * per_class > most:
        keep = sorted(np.random.default_rng(seed).choice(have, max(most // per_class, 1), replace=False).tolist())
        vs = vs.subset_classes([vs.classes[c] for c in keep])
    return vs.cap_per_class(per_class, seed)


def decode(data, R, frames: int, device: str, estimate: dict | None = None) -> str:
    """Decodes DECODE_PER_CLASS videos of each training and target class (of a seeded choice of
    classes past SAMPLE_VIDEOS videos) with the run's loader workers and decoder; fails on a class
    none of whose sampled videos decodes, names the unreadable ones otherwise, and records the
    clips/s per worker in `estimate`."""
    from .data.datasets import ClipDataset
    from .engine.train import EpochBatches, clip_loader, decode_device, n_workers

    decoded, bad, dead, seconds = 0, [], [], 0.0
    workers = n_workers(R.workers, device, R.decoder)
    for vs in (data.seen, data.target):
        sample = few_classes(vs, DECODE_PER_CLASS, SAMPLE_VIDEOS, R.seed)
        ds = ClipDataset(sample, frames, R.stride, R.crop, 1, R.resize or None, seed=R.seed, decoder=R.decoder,
                         decode_device=decode_device(R, device))
        bad_here = []
        t = time.perf_counter()
        for batch in clip_loader(ds, EpochBatches(len(ds), 8), workers, device):
            bad_here += batch["bad_paths"]
            decoded += 0 if batch["clips"] is None else len(batch["index"])
        seconds += time.perf_counter() - t
        bad += bad_here
        bad_set = set(bad_here)
        for c, name in enumerate(vs.classes):
            paths = [p for p, y in zip(sample.paths, sample.labels) if y == c]
            if paths and all(p in bad_set for p in paths):
                dead.append((vs.name, name, paths))
    if dead:
        name, cls, paths = dead[0]
        raise UserError(f"{name} class '{cls}': none of its {len(paths)} sampled videos decodes or is as large as "
                        f"the crop ({R.crop}), e.g. {paths[0]}" + (f" (and {len(dead) - 1} more classes)"
                                                                   if len(dead) > 1 else ""))
    per_worker = decoded / max(seconds, 1e-9) / max(workers, 1)
    if estimate is not None:
        estimate["decode"] = {"clips_per_s_per_worker": round(per_worker, 3), "workers": workers,
                              "decoder": R.decoder}
    return (f"{decoded} videos ({DECODE_PER_CLASS} per class) at {frames} frames, crop {R.crop}: "
            f"{per_worker:.2f} clips/s per loader worker ({max(workers, 1)} {'workers' if workers > 1 else 'worker'}"
            f"{'' if workers else ', in the training process'}, {R.decoder})"
            + (f"; {len(bad)} unreadable or too small: {', '.join(bad[:3])}" + (" ..." if len(bad) > 3 else "")
               if bad else ""))


def decode_verdict(est: dict, R, device: str) -> str:
    """Will training wait for its data? The decode rate of the run's loader against the training rate
    at the recipe (both measured by the smoke), and what would close the gap."""
    import math
    import os

    d, need = est.get("decode"), est.get("train_clips_per_s")
    if not d or not need:
        return "decode-bound: not measured"
    workers, per_worker = max(d["workers"], 1), d["clips_per_s_per_worker"]
    feed = workers * per_worker
    if feed >= need:
        return (f"not decode-bound: {workers} loader worker(s) decode {feed:.3g} clips/s, training takes {need:.3g} "
                f"clips/s at batch {R.batch_size}")
    want = math.ceil(need / max(per_worker, 1e-9))
    cores = len(os.sched_getaffinity(0))
    fixes = [f"more loader workers ({want} needed at {per_worker:.2f} clips/s each; this machine has {cores} cores: "
             f"--set recipe.workers={min(want, max(cores - 1, 1))})"]
    if not R.clip_store:
        fixes.append("the clip store (--set recipe.clip_store=4: JPEG clips, 4-7x decord's clips/s per core in "
                     "`make bench`; `zsarbench data cache` builds it)")
    if device.startswith("cuda") and R.decoder != "torchcodec":
        fixes.append("the GPU decoder (--set recipe.decoder=torchcodec: NVDEC)")
    return (f"decode-bound: {workers} loader worker(s) decode {feed:.3g} clips/s, training takes {need:.3g} clips/s "
            f"({need / feed:.1f}x more); fix: " + "; ".join(fixes))


def estimate_line(est: dict) -> str:
    parts = [f"{k} {v['steps']:,} steps x {v['s_per_step']:.3g} s" for k, v in est["stages"].items()]
    f = est["features"]
    parts.append(f"features {f['clips']:,} clips x {f['s_per_clip']:.3g} s")
    return f"estimate of the full run: {duration(est['total_s'])} ({'; '.join(parts)})"
