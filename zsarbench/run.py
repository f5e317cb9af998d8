"""The benchmark pipeline, one way through:

protocol -> data (source, overlap removal, target) -> method.fit (or cached checkpoint)
-> features (cached) -> seen prototypes -> (theta, K, rho) by CV on seen classes
-> per split: transfer -> unseen prototypes -> nearest prototype -> metrics -> results JSON

`prepare` is everything up to the features and is shared by `run` and the ablations
(zsarbench/ablate.py); `evaluate_split` scores one split with one inference variant.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .data.datasets import VideoSet, resolve_dataset
from .data.frame_cache import attach_frame_cache
from .data.overlap import remove_overlap
from .engine.checkpoint import checkpoint_dir, checkpoint_key, load_checkpoint, save_atomic
from .engine import dist
from .engine.train import TrainState, pick_device
from .errors import UserError
from .evaluate import (class_means, confusion_matrix, cosine_scores, harmonic_mean, mean_class_accuracy,
                       per_class_accuracy, summarise, top_k_hits)
from .hubness import hubness
from .protocol import Protocol
from .registry import create_method, method_origin
from .results import METRIC_SCALE, SCHEMA_VERSION, new_results_path, now, provenance, write_json_atomic
from .text.embeddings import embedding_id, load_embedding
from .text.labels import class_words
from .transfer.cv import cross_validate
from .transfer.variants import get_variant, unseen_scores

FEATURE_CACHE_VERSION = 2      # bump when what is stored or how it is keyed changes
GZSL_SEEN_PER_CLASS = 10       # seen-class test videos per class for generalized ZSL


@dataclass
class RunContext:
    cache_dir: Path
    results_dir: Path
    device: str = "auto"
    command: str = ""
    progress: object = None      # a rich Progress, or None
    log: object = print          # one-line status messages
    data_roots: dict = field(default_factory=dict)  # --data-root NAME=PATH (data/roots.py)
    resume: bool = True          # continue an interrupted training of the same run (engine/train.py)


def words_and_vectors(vs: VideoSet, emb, classes: list[str] | None = None):
    classes = classes if classes is not None else vs.classes
    words = [class_words(c, vs.kind) for c in classes]
    return words, emb.class_vectors(words, classes)


def fingerprint(vs: VideoSet) -> str:
    h = hashlib.sha256("\n".join(vs.paths).encode())
    if vs.starts is not None:  # annotated segments: one file may hold several samples
        h.update(np.stack([vs.starts, vs.ends]).tobytes())
    return h.hexdigest()[:12]


# ----------------------------------------------------------------------------- feature cache

@dataclass
class Features:
    features: np.ndarray          # (N, D) one row per readable video
    index: np.ndarray             # (N,) positions in the VideoSet
    labels: np.ndarray            # (N,) class of each row
    class_means: np.ndarray       # (n_classes, D) the prototypes of the set's classes
    bad: list[str]                # unreadable videos
    key: str
    cached: bool                  # True: read from the cache, no video or network touched


def feature_spec(ckpt_key: str, vs: VideoSet, recipe, frames: int, n_clips: int) -> dict:
    """Everything that decides a video's feature: the checkpoint (which covers method, training
    data and recipe), the videos, and the test-time clip sampling."""
    return {"v": FEATURE_CACHE_VERSION, "ckpt": ckpt_key, "videos": fingerprint(vs), "frames": frames,
            "stride": recipe.stride, "crop": recipe.crop, "resize": recipe.resize, "clips": n_clips}


def feature_cache_path(cache_dir: Path, spec: dict) -> Path:
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / "features" / f"{key}.npz"


def cached_features(method, spec: dict, vs: VideoSet, recipe, ctx: RunContext, desc: str,
                    ensure_model=lambda: None) -> Features:
    """Features per feature_spec, kept as .npz holding the spec itself: an entry is used only if
    its stored spec equals the requested one, so a changed checkpoint or sampling is never mixed
    up. `ensure_model` loads the network; it is called only on a miss."""
    path = feature_cache_path(ctx.cache_dir, spec)
    if path.exists():
        z = np.load(path, allow_pickle=False)
        if json.loads(str(z["spec"])) == spec:
            return Features(z["features"], z["index"], vs.labels[z["index"]], z["class_means"],
                            [str(p) for p in z["bad"]], path.stem, True)
    ensure_model()
    enc = method.encode(vs, recipe, spec["clips"], ctx.device, ctx.progress, desc)
    labels = vs.labels[enc.index]
    means = class_means(enc.features, labels, len(vs.classes))
    if dist.is_main():  # under torchrun every rank holds the gathered features; rank 0 writes them
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.part.npz")
        np.savez(tmp, features=enc.features, index=enc.index, bad=np.array(enc.bad_paths, dtype=str),
                 class_means=means, spec=json.dumps(spec, sort_keys=True))
        tmp.replace(path)
    return Features(enc.features, enc.index, labels, means, list(enc.bad_paths), path.stem, False)


# ----------------------------------------------------------------------------- prepare

@dataclass
class Prepared:
    """Data, model and features of one (method, protocol): all that transfer experiments need."""
    method: object
    protocol: Protocol
    source: VideoSet
    overlap: object
    seen: VideoSet
    seen_vecs: np.ndarray
    target: VideoSet
    target_vecs: np.ndarray
    key: str
    ckpt: Path
    reused: bool
    loaded: bool                  # the network was loaded or trained in this process
    train_log: dict
    seen_feats: Features | None   # prototype videos of the seen classes (None: prepare(features=False))
    target_feats: Features | None # target test videos (None: prepare(features=False))
    gzsl_feats: Features | None   # seen-class test videos (generalized ZSL), or None
    timings: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)  # forward cost per test clip (clip_cost)

    @property
    def seen_protos(self) -> np.ndarray:
        return self.seen_feats.class_means


def prepare(method_name: str, protocol: Protocol, ctx: RunContext, method_overrides: dict | None = None,
            gzsl: bool = False, features: bool = True) -> Prepared:
    """Data, then the trained model (trained here or reused from the cache), then features.
    features=False stops after the model: for a checkpoint another model starts from (ablate.py)."""
    timings: dict[str, float] = {}
    ctx.device = pick_device(ctx.device)
    method = create_method(method_name, **(method_overrides or {}))
    P, R = protocol, protocol.recipe

    # -- data ----------------------------------------------------------------------------------
    t = time.time()
    dist.others_wait()  # torchrun: rank 0 generates data and builds caches first (up to main_done)
    emb = load_embedding(P.embedding.name, str(ctx.cache_dir))
    source = resolve_dataset(P.source.dataset, P, ctx.cache_dir, ctx.progress, ctx.data_roots)
    if R.frame_cache:  # one cache per dataset (`zsarbench data cache` builds the same); subsets keep it
        source = attach_frame_cache(source, ctx.cache_dir, R.resize or None, ctx.progress)
    _, source_vecs = words_and_vectors(source, emb)
    others = {}
    for name in P.source.remove_overlap_with:
        vs = source if name == P.source.dataset else resolve_dataset(name, P, ctx.cache_dir, ctx.progress,
                                                                     ctx.data_roots)
        others[name] = (vs.classes, words_and_vectors(vs, emb)[1])
    overlap = remove_overlap(source.classes, source_vecs, others, P.source.tau)
    seen = source.subset_classes(overlap.kept)
    seen_words, seen_vecs = words_and_vectors(seen, emb)
    target = resolve_dataset(P.target.dataset, P, ctx.cache_dir, ctx.progress, ctx.data_roots)
    if R.frame_cache:
        target = attach_frame_cache(target, ctx.cache_dir, R.resize or None, ctx.progress)
    _, target_vecs = words_and_vectors(target, emb)
    leaked = sorted(set(seen.classes) & set(target.classes))
    if leaked:  # a target class among the training classes would make the test not zero-shot
        ctx.log(f"[yellow]warning: {len(leaked)} target classes are also training classes: "
                f"{', '.join(leaked[:5])}; add the target to source.remove_overlap_with[/yellow]")
    ctx.log(f"source {source.name}: {len(source.classes)} classes, removed {len(overlap.removed)} "
            f"overlapping (tau {P.source.tau}), training on {len(seen.classes)} classes / {len(seen)} videos")
    dist.main_done()
    timings["data_s"] = round(time.time() - t, 2)

    # -- train or reuse ------------------------------------------------------------------------
    source_id = {"dataset": P.source.dataset, "videos": fingerprint(seen), "classes": seen.classes,
                 "embedding": embedding_id(P.embedding.name)}
    key = checkpoint_key(method.name, method.config(), source_id, asdict(R))
    ckpt = checkpoint_dir(ctx.cache_dir, method.name, key) / "model.pt"
    log_file = ckpt.with_name("train_log.json")   # read without loading the network
    loaded = False
    t = time.time()
    if ckpt.exists():
        reused = True
        if log_file.exists():
            train_log = json.loads(log_file.read_text())
        else:  # a checkpoint from before the side file
            state = load_checkpoint(ckpt)
            method.load_state_dict(state["method"])
            train_log, loaded = json.loads(state["train_log"]), True
            write_json_atomic(log_file, train_log)
        ctx.log(f"reusing trained {method.name} from {ckpt}")
    else:
        ctx.log(f"training {method.name} on {ctx.device}")
        state = TrainState(ckpt.with_name("train_state.pt"), R.checkpoint_every, ctx.resume, ctx.log)
        semantic = {"label_vectors": seen_vecs} if method.space == "semantic" else {}  # methods/base.py
        train_log = method.fit(seen, seen_words, R, ctx.device, ctx.progress, state=state, **semantic)
        if dist.is_main():  # every rank holds the same weights; rank 0 writes them
            save_atomic({"method": method.state_dict(), "train_log": json.dumps(train_log)}, ckpt)
            write_json_atomic(log_file, train_log)
        state.clear()
        reused, loaded = False, True
    timings["train_s"] = round(time.time() - t, 2)

    if not features:
        return Prepared(method, P, source, overlap, seen, seen_vecs, target, target_vecs, key, ckpt, reused,
                        loaded, train_log, None, None, None, timings)

    def ensure_model():  # the network is loaded only when a feature is not cached
        nonlocal loaded
        if not loaded:
            method.load_state_dict(load_checkpoint(ckpt)["method"])
            loaded = True

    # -- features ------------------------------------------------------------------------------
    t = time.time()
    frames = R.frames or getattr(method, "frames", 0)
    proto_videos = seen.cap_per_class(P.prototypes.max_videos_per_class, R.seed)
    seen_feats = cached_features(method, feature_spec(key, proto_videos, R, frames, P.prototypes.clips),
                                 proto_videos, R, ctx, "features: seen source videos (prototypes)", ensure_model)
    target_feats = cached_features(method, feature_spec(key, target, R, frames, R.test_clips), target, R, ctx,
                                   f"features: {target.name} test videos ({R.test_clips} clips)", ensure_model)
    gzsl_feats = None
    if gzsl:
        held = gzsl_seen_videos(seen, proto_videos, R.seed)
        gzsl_feats = cached_features(method, feature_spec(key, held, R, frames, R.test_clips), held, R, ctx,
                                     f"features: seen-class test videos for GZSL ({R.test_clips} clips)",
                                     ensure_model)
    timings["features_s"] = round(time.time() - t, 2)
    return Prepared(method, P, source, overlap, seen, seen_vecs, target, target_vecs, key, ckpt, reused,
                    loaded, train_log, seen_feats, target_feats, gzsl_feats, timings,
                    clip_cost(method, frames, R.crop, len(seen.classes), R.test_clips))


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


def inference_variant(method) -> str:
    """run's inference: the transfer for visual-space methods, the nearest unseen label embedding
    for semantic-space ones (transfer/variants.py)."""
    return "label-nn" if method.space == "semantic" else "all"


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


# ----------------------------------------------------------------------------- evaluation

def evaluate_split(prep: Prepared, index: int, unseen: list[int], variant: str, params: dict,
                   gzsl: bool = False, detail: bool = False) -> dict:
    """One split scored by one inference variant: accuracy (per video and per class), confusion
    counts, hubness, edges, solve time. `detail` adds what the figures of one split need: the
    relatedness matrix and a t-SNE map (report/projection.py)."""
    T, tf = prep.protocol.transfer, prep.target_feats
    sel = np.isin(tf.labels, unseen)
    y = np.searchsorted(np.asarray(unseen), tf.labels[sel])
    scores, res = unseen_scores(variant, tf.features[sel], prep.seen_protos, prep.seen_vecs,
                                prep.target_vecs[unseen], params["theta"], params["K"], params["rho"],
                                T.solver, T.mip_backend)
    names, seen_names = prep.target.classes, prep.seen.classes
    out = {"index": index, "unseen_classes": [names[c] for c in unseen], "n_videos": int(sel.sum()),
           "top1": round(100 * float(top_k_hits(scores, y, 1).mean()), 3),
           "top5": round(100 * float(top_k_hits(scores, y, 5).mean()), 3),
           "mean_class_top1": round(mean_class_accuracy(scores, y), 3),
           "chance_top1": round(100 / len(unseen), 3),
           "hubness": hubness(scores)}
    conf = confusion_matrix(scores, y, len(unseen))  # rows: true class, columns: predicted, unseen order
    out["per_class_top1"] = {names[c]: round(float(a), 3) for c, a in zip(unseen, per_class_accuracy(conf))
                             if not np.isnan(a)}
    out["confusion"] = conf.tolist()
    if res is not None:
        out.update(solver=res.solver, solve_seconds=round(res.solve_seconds, 4))
        if get_variant(variant).space == "V":   # rows are unseen classes: their edges are the result
            out["edges"] = {names[unseen[j]]: [[seen_names[i], round(float(res.M[j, i]), 4)]
                                               for i in np.flatnonzero(res.A[j])] for j in range(len(unseen))}
            out["empty_rows"] = [names[unseen[j]] for j in res.empty_rows]
            if detail:  # rows: unseen_classes, columns: data.source.seen_classes
                from .report.projection import projection
                out["relatedness"] = np.round(res.M, 4).tolist()
                out["projection"] = projection(tf.features[sel], y, res.prototypes, out["unseen_classes"],
                                               prep.protocol.recipe.seed)
        else:                                   # rows are test videos
            out["n_empty_rows"] = len(res.empty_rows)
    if gzsl:
        if res is None or get_variant(variant).space != "V":
            raise UserError(f"generalized ZSL needs a visual-space variant, not '{variant}'")
        out["gzsl"] = gzsl_scores(prep, res.prototypes, tf.features[sel], y)
    return out


def gzsl_scores(prep: Prepared, unseen_protos: np.ndarray, unseen_feats: np.ndarray, y_unseen) -> dict:
    """Seen and unseen prototypes as candidates together; accuracy on each kind of test video."""
    kappa, g = len(prep.seen.classes), prep.gzsl_feats
    candidates = np.concatenate([prep.seen_protos, unseen_protos])
    s = 100 * float(top_k_hits(cosine_scores(g.features, candidates), g.labels, 1).mean())
    u = 100 * float(top_k_hits(cosine_scores(unseen_feats, candidates), kappa + y_unseen, 1).mean())
    return {"seen_top1": round(s, 3), "unseen_top1": round(u, 3), "harmonic_mean": round(harmonic_mean(s, u), 3),
            "n_seen_videos": int(len(g.labels)), "n_unseen_videos": int(len(y_unseen)),
            "n_candidates": int(len(candidates))}


def aggregate(splits: list[dict]) -> dict:
    agg = {m: summarise([sp[m] for sp in splits]) for m in ("top1", "top5", "mean_class_top1")}
    agg["chance_top1"] = round(float(np.mean([sp["chance_top1"] for sp in splits])), 3)
    agg["hubness"] = {k: {name: _mean_defined([sp["hubness"][k][name] for sp in splits])
                          for name in ("skew_sample", "skew_paper_eq10")} for k in splits[0]["hubness"]}
    if "gzsl" in splits[0]:
        agg["gzsl"] = {m: summarise([sp["gzsl"][m] for sp in splits])
                       for m in ("seen_top1", "unseen_top1", "harmonic_mean")}
    return agg


def _mean_defined(values: list) -> dict:
    """Mean +- std over the splits where the figure is defined (see hubness.py)."""
    vals = [v for v in values if v is not None]
    return {**summarise(vals), "n_undefined": len(values) - len(vals)} if vals else \
        {"mean": None, "std": None, "n": 0, "n_undefined": len(values)}


def record(prep: Prepared, kind: str, ctx: RunContext, overrides: dict | None) -> dict:
    """The results fields every experiment on prepared data shares (schema in results.py)."""
    P, m = prep.protocol, prep.method
    bad = set(prep.seen_feats.bad) | set(prep.target_feats.bad) | set(prep.gzsl_feats.bad if prep.gzsl_feats else [])
    feats = {"seen_prototypes": prep.seen_feats, "target": prep.target_feats, "gzsl_seen_test": prep.gzsl_feats}
    return {
        "schema_version": SCHEMA_VERSION, "kind": kind, "command": ctx.command,
        "method": {"name": m.name, "space": m.space, "config": m.config(), "origin": method_origin(m.name),
                   "frames": P.recipe.frames or getattr(m, "frames", None)},
        "protocol": P.to_dict(), "overrides": overrides or {}, "metric_scale": METRIC_SCALE,
        "data": {
            "source": {"dataset": prep.source.name, "root": str(prep.source.root),
                       "n_classes": len(prep.source.classes), "overlap_removed": prep.overlap.removed,
                       "tau": prep.overlap.tau, "seen_classes": prep.seen.classes, "n_train_videos": len(prep.seen),
                       "prototype_videos": int(len(prep.seen_feats.index)),
                       "prototype_cap_per_class": P.prototypes.max_videos_per_class,
                       "missing_videos": prep.source.missing},
            "target": {"dataset": prep.target.name, "root": str(prep.target.root), "classes": prep.target.classes,
                       "n_videos": len(prep.target), "n_evaluated": int(len(prep.target_feats.index)),
                       "missing_videos": prep.target.missing},
            "skipped_videos": sorted(set(prep.train_log.get("warmup", {}).get("skipped", []))
                                     | set(prep.train_log.get("joint", {}).get("skipped", [])) | bad),
        },
        "checkpoint": {"key": prep.key, "path": str(prep.ckpt), "reused": prep.reused,
                       "network_loaded": prep.loaded, "device": ctx.device},
        "cost": prep.cost,
        "features": {name: {"cache_key": f.key, "cached": f.cached, "n_videos": int(len(f.index))}
                     for name, f in feats.items() if f is not None},
        "training": prep.train_log,
    }


def run(method_name: str, protocol: Protocol, ctx: RunContext, method_overrides: dict | None = None,
        overrides: dict | None = None, gzsl: bool = False) -> tuple[dict, Path]:
    t_start, started = time.time(), now()
    prep = prepare(method_name, protocol, ctx, method_overrides, gzsl)
    P, T, R, timings = protocol, protocol.transfer, protocol.recipe, prep.timings

    # -- (theta, K, rho) on seen classes only ---------------------------------------------------
    t = time.time()
    sf, variant = prep.seen_feats, inference_variant(prep.method)
    cv = cross_validate(prep.seen_vecs, sf.features, sf.labels, T.theta, T.K, T.rho, T.cv_folds, R.seed,
                        T.solver, T.mip_backend, variant, ctx.progress)
    timings["cv_s"] = round(time.time() - t, 2)

    # -- splits ----------------------------------------------------------------------------------
    t = time.time()
    splits = [evaluate_split(prep, s, unseen, variant, cv, gzsl, detail=s == 0)
              for s, unseen in enumerate(P.splits(len(prep.target.classes)))]
    timings["eval_s"] = round(time.time() - t, 2)
    timings["solve_s"] = round(sum(sp.get("solve_seconds", 0.0) for sp in splits), 4)
    timings["total_s"] = round(time.time() - t_start, 2)

    result = {
        **record(prep, "zsar-run", ctx, overrides),
        "transfer": {"solver": T.solver, "variant": variant, "theta": cv["theta"], "K": cv["K"], "rho": cv["rho"],
                     "cv": cv},
        "splits": splits, "aggregate": aggregate(splits),
        "provenance": {**provenance(), "started": started, "finished": now()},
        "timings": timings,
    }
    path = None
    if dist.is_main():  # under torchrun the other ranks computed the same numbers
        path = new_results_path(ctx.results_dir, P.name, prep.method.name)
        write_json_atomic(path, result)
    return result, path
