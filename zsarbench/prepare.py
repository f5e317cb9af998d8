"""Preparing one (method, protocol), in three named steps that every experiment shares:

  load_data       protocol -> source (overlap removed: the seen classes), target, label vectors
  train_or_reuse  the method trained on the seen classes, or its cached checkpoint
  extract         features of the prototype videos, the target test videos (and GZSL's seen ones)

`prepare` runs them in order and returns a `Prepared`: all that transfer and scoring need.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .artefacts import part_path, read_json, read_or_discard
from .data.datasets import VideoSet, check_crop, resolve_dataset
from .data.frame_cache import attach_frame_cache
from .data.overlap import OverlapResult, remove_overlap
from .data.pinned import pinned_classes
from .deviations import check_seen, check_target, settle_overlap, settle_videos
from .engine import dist
from .engine.checkpoint import check_checkpoint, checkpoint_dir, checkpoint_key, load_checkpoint, save_atomic
from .engine.train import TrainState, pick_device
from .errors import UserError
from .experiment import resolve
from .feature_cache import Features, cached_features, feature_spec, fingerprint
from .protocol import Protocol
from .registry import create_method
from .results import write_json_atomic
from .text.embeddings import embedding_id, load_embedding
from .text.labels import KINDS, label_table
from .text.names import check_names, class_names_of, words_digest, words_of

GZSL_SEEN_PER_CLASS = 10       # seen-class test videos per class for generalized ZSL


@dataclass
class Data:
    source: VideoSet
    overlap: OverlapResult
    seen: VideoSet                # the source's classes left after overlap removal: training classes
    seen_words: list[list[str]]
    seen_vecs: np.ndarray
    target: VideoSet | None       # None: a seen-only preparation (load_data(target=False): `zsarbench tune`)
    target_vecs: np.ndarray | None
    allow_nonstandard: bool = False   # trees that do not match their signature were accepted (--allow-nonstandard)
    names: dict = field(default_factory=dict)   # the protocol's class-name file: dataset -> class -> words (text/names.py)
    accepted: dict = field(default_factory=dict)   # inputs that change the protocol, accepted: name -> what (deviations.py)
    accept: list = field(default_factory=list)     # what the run accepts (--accept and the protocol's `accept`)


@dataclass
class Model:
    method: object
    key: str                      # checkpoint key (engine/checkpoint.py)
    ckpt: Path
    reused: bool                  # the checkpoint was in the cache
    loaded: bool                  # the network is in memory (trained or loaded in this process)
    train_log: dict
    retrain: Callable[[], dict] = dict  # trains the network again (a reused checkpoint proved unreadable)
    log: Callable = print


@dataclass
class Prepared:
    """Data, model and features of one (method, protocol)."""
    protocol: Protocol
    data: Data
    model: Model
    seen_feats: Features | None = None    # prototype videos of the seen classes
    target_feats: Features | None = None  # target test videos
    gzsl_feats: Features | None = None    # seen-class test videos (generalized ZSL)
    timings: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)  # forward cost per test clip (clip_cost)

    # the fields experiments read most, by their plain names
    method = property(lambda self: self.model.method)
    key = property(lambda self: self.model.key)
    ckpt = property(lambda self: self.model.ckpt)
    reused = property(lambda self: self.model.reused)
    loaded = property(lambda self: self.model.loaded)
    train_log = property(lambda self: self.model.train_log)
    source = property(lambda self: self.data.source)
    overlap = property(lambda self: self.data.overlap)
    seen = property(lambda self: self.data.seen)
    seen_vecs = property(lambda self: self.data.seen_vecs)
    target = property(lambda self: self.data.target)
    target_vecs = property(lambda self: self.data.target_vecs)

    @property
    def seen_protos(self) -> np.ndarray:
        return self.seen_feats.class_means


def words_and_vectors(vs: VideoSet, emb, classes: list[str] | None = None, names: dict | None = None):
    """Words (text/names.py: the class-name file's, else the dataset rules') and label vectors."""
    classes = classes if classes is not None else vs.classes
    words = [words_of(c, vs, emb.name, names) for c in classes]
    return words, emb.class_vectors(words, classes)


def relabel(data: Data, embedding: str, cache_dir: Path) -> Data:
    """The same videos with label vectors from another embedding (training classes stay those of the
    protocol's embedding)."""
    emb = load_embedding(embedding, str(cache_dir))
    return replace(data, seen_vecs=words_and_vectors(data.seen, emb, names=data.names)[1],
                   target_vecs=words_and_vectors(data.target, emb, names=data.names)[1])


# ----------------------------------------------------------------------------- the steps

def load_data(P: Protocol, ctx, target: bool = True) -> Data:
    """Source with the classes that overlap the targets removed, and the target, with label vectors.
    target=False leaves the target dataset unread (None): seen-class work only (`zsarbench tune`);
    the datasets of source.remove_overlap_with are still read for their class names, as they define
    the seen classes. Inputs that change the protocol (deviations.py) are refused here, before any
    video is decoded, unless the run accepts them (then recorded in Data.accepted)."""
    R = P.recipe
    dist.others_wait()  # torchrun: rank 0 generates data and builds caches first (up to main_done)
    emb = load_embedding(P.embedding.name, str(ctx.cache_dir))
    allow = ctx.allow_nonstandard
    names = class_names_of(P)
    accept = set(P.accept) | set(getattr(ctx, "accept", ()))
    accepted: dict = {}

    def dataset(name: str, role: str) -> VideoSet:
        vs = resolve_dataset(name, P, ctx.cache_dir, ctx.progress, ctx.data_roots, allow)
        pinned, test = pinned_classes(P.target) if role == "target" else ([], set())
        vs, found = settle_videos(vs, role, accept, set(pinned) - test)   # pinned val classes have no videos
        for k, v in found.items():
            accepted.setdefault(k, {})[role] = v
        check_crop(vs, R.crop, R.resize)
        check_names(names, vs)
        return vs

    def cached(vs: VideoSet) -> VideoSet:
        if R.frame_cache:  # one cache per dataset (`zsarbench data cache` builds the same); subsets keep it
            vs = attach_frame_cache(vs, ctx.cache_dir, R.resize or None, ctx.progress)
        return vs

    # both sets read and checked (signature, crop, what the protocol accepts, overlap, class counts)
    # before either is decoded into the frame cache: a wrong input is the run's only line
    source = dataset(P.source.dataset, "source")
    target_set = dataset(P.target.dataset, "target") if target else None
    _, source_vecs = words_and_vectors(source, emb, names=names)
    others = {}
    for name in P.source.remove_overlap_with:
        vs = (source if name == P.source.dataset else target_set if target and name == P.target.dataset else
              resolve_dataset(name, P, ctx.cache_dir, ctx.progress, ctx.data_roots, allow))
        check_names(names, vs)
        others[name] = (vs.classes, words_and_vectors(vs, emb, names=names)[1])
    overlap = remove_overlap(source.classes, source_vecs, others, P.source.tau)
    check_seen(P, len(source.classes), len(overlap.removed), len(overlap.kept))
    if target:
        _, target_vecs = words_and_vectors(target_set, emb, names=names)
        kept_vecs = source_vecs[[source.classes.index(c) for c in overlap.kept]]
        for k, v in settle_overlap(P, overlap.kept, kept_vecs, target_set.classes, target_vecs, accept).items():
            accepted.setdefault(k, {})["source"] = v   # training classes that are target classes
        check_target(P, target_set.classes)
    source = cached(source)
    seen = source.subset_classes(overlap.kept)
    seen_words, seen_vecs = words_and_vectors(seen, emb, names=names)
    if accepted:
        ctx.log(f"warning: accepted inputs that change the protocol (recorded in the results): {', '.join(accepted)}")
    if not target:
        dist.main_done()
        ctx.log(f"source {source.name}: training on {len(seen.classes)} classes / {len(seen)} videos "
                f"(removed {len(overlap.removed)} overlapping); target not read (seen classes only)")
        return Data(source, overlap, seen, seen_words, seen_vecs, None, None, allow, names=names,
                    accepted=accepted, accept=sorted(accept))
    target = cached(target_set)
    subset = P.source.subset_name
    ctx.log(f"source {source.name}: {len(source.classes)} classes, {overlap.summary()}, training on "
            f"{len(seen.classes)} classes / {len(seen)} videos" + (f" (the {subset} subset)" if subset else ""))
    nominal = re.fullmatch(r"K(\d+)", subset)
    if nominal and int(nominal[1]) != len(seen.classes):  # E2E's subsets are named by their word2vec size
        ctx.log(f"note: {subset} keeps {len(seen.classes)} classes here, not {nominal[1]}: overlap "
                f"removal under {P.embedding.name} is not E2E's word2vec run, and it also drops the source "
                "classes that have a target class's name (docs/method.md)")
    dist.main_done()
    return Data(source, overlap, seen, seen_words, seen_vecs, target, target_vecs, allow, names=names,
                accepted=accepted, accept=sorted(accept))


def train_or_reuse(method_name: str, P: Protocol, data: Data, ctx) -> Model:
    """The method trained on the seen classes, or the cached checkpoint of the same training
    (method, options, training videos and classes, embedding, recipe). A reused network is loaded
    only when a feature needs it (`ensure_loaded`). P: resolved for the method (experiment.resolve)."""
    # the protocol's [method] table: a tuned overlay's method options, then --set method.* over them
    method = create_method(method_name, **P.method)
    method.cache_dir = ctx.cache_dir   # where digests of its own files (pretrained weights) are memoised
    R, seen = P.recipe, data.seen
    source_id = {"dataset": P.source.dataset, "videos": fingerprint(seen), "classes": seen.classes,
                 "embedding": embedding_id(P.embedding.name)}
    if seen.kind in KINDS and label_table(P.embedding.name) == "word2vec":  # E2E's words since issue 15;
        source_id["label_table"] = "word2vec"   # glove's and synthetic words, and their keys, are as before
    # the seen classes' words themselves (rules or a class-name file: text/names.py), what training reads
    source_id["label_words"] = words_digest(dict(zip(seen.classes, data.seen_words)))
    key = checkpoint_key(method.name, method.config(), source_id, asdict(R))
    ckpt = checkpoint_dir(ctx.cache_dir, method.name, key) / "model.pt"
    # A warm-up-only training (a tune rung) keeps its last training state; the full recipe of the
    # same everything else continues from it instead of training the same warm-up again.
    staged = method.warmup_is_prefix and R.warmup_epochs > 0
    keep_warmup = staged and R.joint_epochs == 0
    prefix_key = checkpoint_key(method.name, method.config(), source_id, asdict(replace(R, joint_epochs=0.0))) \
        if staged and R.joint_epochs > 0 else None

    def train() -> dict:
        ctx.log(f"training {method.name} on {ctx.device}")
        state_file = ckpt.with_name("train_state.pt")
        continued = prefix_key and ctx.resume and continue_warmup(
            checkpoint_dir(ctx.cache_dir, method.name, prefix_key) / WARMUP_END, state_file, ctx.log)
        state = TrainState(state_file, R.checkpoint_every, ctx.resume, ctx.log)
        semantic = {"label_vectors": data.seen_vecs} if method.space == "semantic" else {}  # methods/base.py
        train_log = method.fit(with_clip_store(P, data, ctx), data.seen_words, R, ctx.device, ctx.progress,
                               state=state, **semantic)
        if continued:
            train_log["warmup_continued_from"] = prefix_key
        if dist.is_main():  # every rank holds the same weights; rank 0 writes them
            save_atomic({"method": method.state_dict(), "train_log": json.dumps(train_log)}, ckpt)
            write_json_atomic(ckpt.with_name("train_log.json"), train_log)
            if keep_warmup and state_file.exists():
                os.replace(state_file, ckpt.with_name(WARMUP_END))
        state.clear()
        return train_log

    reused = reuse_checkpoint(method, ckpt, ctx.log) if ckpt.exists() else None
    if reused is not None:
        ctx.log(f"reusing trained {method.name} from {ckpt}")
        return Model(method, key, ckpt, True, reused[1], reused[0], train, ctx.log)
    if not getattr(ctx, "train", True):   # `verify --rerun`: evaluate the cached model or nothing
        raise UserError(f"no cached {method.name} model with checkpoint key {key} in {ctx.cache_dir}: pass the "
                        "--cache-dir that holds it, or train it with the results' command")
    return Model(method, key, ckpt, False, True, train(), train, ctx.log)


def with_clip_store(P: Protocol, data: Data, ctx, max_bytes: int | None = None) -> VideoSet:
    """The training videos, with the source's clip store attached when recipe.clip_store > 0 (built
    once for the whole source, as `zsarbench data cache` builds it; rank 0 first under torchrun)."""
    R = P.recipe
    if not R.clip_store:
        return data.seen
    from .data.clip_store import build_clip_store

    dist.others_wait()   # rank 0 builds it; the others then open the complete copy
    store = build_clip_store(data.source, ctx.cache_dir, R.resize or None, R.frames, R.stride, R.clip_store,
                             progress=ctx.progress, max_bytes=max_bytes, show=ctx.log)
    dist.main_done()
    return replace(data.seen, clip_store=store)


WARMUP_END = "warmup_end.pt"   # beside a warm-up-only model: its training state at the warm-up's end


def continue_warmup(warmup_end: Path, state_file: Path, log) -> bool:
    """Start a training that has no state of its own from the warm-up-only training's last state
    (`warmup_end`): it resumes as if it had been stopped at the end of its own, identical warm-up
    (the resume is exact: engine/train.py), so only the joint stage trains. Rank 0 copies; all wait."""
    go = warmup_end.exists() and not state_file.exists()
    dist.barrier()                                  # every rank has looked before rank 0 copies
    if go and dist.is_main():
        state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = part_path(state_file)
        shutil.copyfile(warmup_end, tmp)
        os.replace(tmp, state_file)
    dist.barrier()
    if go:
        log(f"the warm-up of this recipe was trained alone before ({warmup_end.parent.name}): continuing from its end")
    return go


def reuse_checkpoint(method, ckpt: Path, log) -> tuple[dict, bool] | None:
    """(training log, network loaded) of a cached checkpoint, or None when it is unreadable (then
    reported in one line and deleted: the caller retrains). The network itself is loaded only when
    the training log is not in its side file."""
    if not read_or_discard(ckpt, check_checkpoint, "checkpoint", "retraining", log):
        return None
    log_file = ckpt.with_name("train_log.json")   # read without loading the network
    if log_file.exists():
        train_log = read_or_discard(log_file, read_json, "training log", "reading it from the checkpoint", log)
        if train_log is not None:
            return train_log, False
    def read_whole(path: Path) -> tuple[dict, dict]:   # a checkpoint from before the side file
        state = load_checkpoint(path)
        return state["method"], json.loads(state["train_log"])

    whole = read_or_discard(ckpt, read_whole, "checkpoint", "retraining", log)
    if whole is None:
        return None
    method.load_state_dict(whole[0])
    write_json_atomic(log_file, whole[1])
    return whole[1], True


def ensure_loaded(model: Model) -> None:
    """The network of a reused checkpoint, loaded now; retrained if the file proves unreadable."""
    if not model.loaded:
        weights = read_or_discard(model.ckpt, lambda p: load_checkpoint(p)["method"], "checkpoint", "retraining",
                                  model.log)
        if weights is None:
            model.train_log, model.reused = model.retrain(), False
        else:
            model.method.load_state_dict(weights)
        model.loaded = True


def own_class_vectors(P: Protocol, data: Data, model: Model) -> Data:
    """The label vectors of a method with its own text encoder (Method.text_encoder: an image-text
    model names the classes with its text tower) in place of the protocol embedding's. Overlap
    removal has used the protocol's embedding already, so the seen classes do not change."""
    m = model.method
    if not m.text_encoder:
        return data
    ensure_loaded(model)
    target_vecs = None
    if data.target is not None:
        target_vecs = m.class_vectors([words_of(c, data.target, P.embedding.name, data.names)
                                       for c in data.target.classes])
    return replace(data, seen_vecs=m.class_vectors(data.seen_words), target_vecs=target_vecs)


def extract(P: Protocol, data: Data, model: Model, ctx, gzsl: bool = False):
    """(seen prototype features, target features, GZSL seen-test features or None), each cached."""
    R, method = P.recipe, model.method

    def features(vs: VideoSet, clips: int, desc: str) -> Features:
        return cached_features(method, feature_spec(model.key, vs, R, R.frames, clips), vs, R, ctx, desc,
                               lambda: ensure_loaded(model))

    proto_videos = data.seen.cap_per_class(P.prototypes.max_videos_per_class, R.seed)
    seen_feats = features(proto_videos, P.prototypes.clips, "features: seen source videos (prototypes)")
    if data.target is None:   # a seen-only preparation: no target video is decoded or encoded
        return seen_feats, None, None
    target_feats = features(data.target, R.test_clips, f"features: {data.target.name} test videos "
                                                       f"({R.test_clips} clips)")
    gzsl_feats = None
    if gzsl:
        held = gzsl_seen_videos(data.seen, proto_videos, R.seed)
        gzsl_feats = features(held, R.test_clips, f"features: seen-class test videos for GZSL ({R.test_clips} clips)")
    return seen_feats, target_feats, gzsl_feats


def prepare(method_name: str, P: Protocol, ctx, gzsl: bool = False, features: bool = True,
            target: bool = True) -> Prepared:
    """The three steps in order, each timed. P: the protocol with the method's options in its `method`
    table (experiment.py), resolved here if it is not yet. features=False stops after the model: for a
    checkpoint another model starts from (ablate.py). target=False reads, decodes and encodes nothing
    of the target: seen prototype features only (`zsarbench tune`)."""
    P = resolve(method_name, P)
    ctx.device = pick_device(ctx.device)
    timings = {}
    t = time.time()
    data = load_data(P, ctx, target)
    timings["data_s"], t = round(time.time() - t, 2), time.time()
    model = train_or_reuse(method_name, P, data, ctx)
    data = own_class_vectors(P, data, model)
    timings["train_s"], t = round(time.time() - t, 2), time.time()
    prep = Prepared(P, data, model, timings=timings)
    if features:
        prep.seen_feats, prep.target_feats, prep.gzsl_feats = extract(P, data, model, ctx, gzsl)
        timings["features_s"] = round(time.time() - t, 2)
        prep.cost = clip_cost(model.method, P.recipe.frames, P.recipe.crop, len(data.seen.classes), P.recipe.test_clips)
    return prep


def clip_cost(method, frames: int, crop: int, n_classes: int, test_clips: int) -> dict:
    """Forward cost of encoding one test clip (paper Table 4: "GFLOPs x clips", which are
    multiply-accumulates), stated both ways, and times the number of test clips per video."""
    flops = method.forward_flops(frames, crop, n_classes)
    if flops is None:
        return {"measured": False}
    gmac = flops / 2e9
    return {"measured": True, "gmac_per_clip": round(gmac, 4), "gflop_per_clip": round(flops / 1e9, 4),
            "frames": frames, "crop": crop, "test_clips": test_clips, "gmac_x_clips": f"{gmac:.3g} x {test_clips}",
            "counter": "torch.utils.flop_counter.FlopCounterMode (multiply-add = 2 FLOPs; GMAC = GFLOP / 2)"}


def gzsl_seen_videos(seen: VideoSet, proto_videos: VideoSet, seed: int) -> VideoSet:
    """Up to GZSL_SEEN_PER_CLASS videos per seen class that were not used for its prototype
    (a seeded choice). They were training videos: the protocol has no held-out seen videos."""
    used = set(proto_videos.paths)
    rng = np.random.default_rng(seed + 1)
    sel = []
    for c in range(len(seen.classes)):
        free = [i for i in np.flatnonzero(seen.labels == c) if seen.paths[i] not in used]
        sel += sorted(rng.choice(free, min(GZSL_SEEN_PER_CLASS, len(free)), replace=False).tolist()) if free else []
    if not sel:
        raise UserError("--gzsl needs seen-class videos that are not used for prototypes; lower "
                        "prototypes.max_videos_per_class (e.g. --set prototypes.max_videos_per_class=1)")
    sel.sort()
    return seen.take(sel)  # keeps segment windows (untrimmed Kinetics) and the frame cache
