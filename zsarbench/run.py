"""The benchmark pipeline, one way through:

protocol -> data (source, overlap removal, target) -> method.fit (or cached checkpoint)
-> features (cached) -> seen prototypes -> (theta, K, rho) by CV on seen classes
-> per split: transfer -> unseen prototypes -> nearest prototype -> metrics -> results JSON
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .data.datasets import VideoSet, resolve_dataset
from .data.overlap import remove_overlap
from .engine.checkpoint import checkpoint_dir, checkpoint_key, load_checkpoint, save_atomic
from .engine.train import pick_device
from .evaluate import class_means, cosine_scores, mean_class_accuracy, summarise, top_k_hits
from .protocol import Protocol
from .registry import create_method, method_origin
from .results import METRIC_SCALE, SCHEMA_VERSION, new_results_path, now, provenance, write_json_atomic
from .text.embeddings import embedding_id, load_embedding
from .text.labels import class_words
from .transfer.cv import cross_validate
from .transfer.program import transfer


@dataclass
class RunContext:
    cache_dir: Path
    results_dir: Path
    device: str = "auto"
    command: str = ""
    progress: object = None      # a rich Progress, or None
    log: object = print          # one-line status messages


def words_and_vectors(vs: VideoSet, emb, classes: list[str] | None = None):
    classes = classes if classes is not None else vs.classes
    words = [class_words(c, vs.kind) for c in classes]
    return words, emb.class_vectors(words, classes)


def fingerprint(vs: VideoSet) -> str:
    return hashlib.sha256("\n".join(vs.paths).encode()).hexdigest()[:12]


def cached_features(method, ckpt_key: str, vs: VideoSet, recipe, n_clips: int, ctx: RunContext,
                    desc: str):
    """Features per (checkpoint, videos, clip sampling, number of clips), kept as .npz."""
    spec = {"ckpt": ckpt_key, "videos": fingerprint(vs), "frames": method.frames, "stride": recipe.stride,
            "crop": recipe.crop, "resize": recipe.resize, "clips": n_clips}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(ctx.cache_dir) / "features" / f"{key}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return z["features"], z["index"], [str(p) for p in z["bad"]], True
    enc = method.encode(vs, recipe, n_clips, ctx.device, ctx.progress, desc)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part.npz")
    np.savez(tmp, features=enc.features, index=enc.index, bad=np.array(enc.bad_paths, dtype=str))
    tmp.replace(path)
    return enc.features, enc.index, enc.bad_paths, False


def run(method_name: str, protocol: Protocol, ctx: RunContext, method_overrides: dict | None = None,
        overrides: dict | None = None) -> tuple[dict, Path]:
    t_start, started = time.time(), now()
    timings: dict[str, float] = {}
    ctx.device = pick_device(ctx.device)
    method = create_method(method_name, **(method_overrides or {}))
    P, R = protocol, protocol.recipe

    # -- data ----------------------------------------------------------------------------------
    t = time.time()
    emb = load_embedding(P.embedding.name, str(ctx.cache_dir))
    source = resolve_dataset(P.source.dataset, P, ctx.cache_dir, ctx.progress)
    _, source_vecs = words_and_vectors(source, emb)
    others = {}
    for name in P.source.remove_overlap_with:
        vs = source if name == P.source.dataset else resolve_dataset(name, P, ctx.cache_dir, ctx.progress)
        others[name] = (vs.classes, words_and_vectors(vs, emb)[1])
    overlap = remove_overlap(source.classes, source_vecs, others, P.source.tau)
    seen = source.subset_classes(overlap.kept)
    seen_words, seen_vecs = words_and_vectors(seen, emb)
    target = resolve_dataset(P.target.dataset, P, ctx.cache_dir, ctx.progress)
    _, target_vecs = words_and_vectors(target, emb)
    leaked = sorted(set(seen.classes) & set(target.classes))
    if leaked:  # a target class among the training classes would make the test not zero-shot
        ctx.log(f"[yellow]warning: {len(leaked)} target classes are also training classes: "
                f"{', '.join(leaked[:5])}; add the target to source.remove_overlap_with[/yellow]")
    ctx.log(f"source {source.name}: {len(source.classes)} classes, removed {len(overlap.removed)} "
            f"overlapping (tau {P.source.tau}), training on {len(seen.classes)} classes / {len(seen)} videos")
    timings["data_s"] = round(time.time() - t, 2)

    # -- train or reuse ------------------------------------------------------------------------
    source_id = {"dataset": P.source.dataset, "videos": fingerprint(seen), "classes": seen.classes,
                 "embedding": embedding_id(P.embedding.name)}
    key = checkpoint_key(method.name, method.config(), source_id, asdict(R))
    ckpt = checkpoint_dir(ctx.cache_dir, method.name, key) / "model.pt"
    t = time.time()
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        method.load_state_dict(state["method"])
        train_log, reused = json.loads(state["train_log"]), True
        ctx.log(f"reusing trained {method.name} from {ckpt}")
    else:
        ctx.log(f"training {method.name} on {ctx.device}")
        train_log = method.fit(seen, seen_words, R, ctx.device, ctx.progress)
        save_atomic({"method": method.state_dict(), "train_log": json.dumps(train_log)}, ckpt)
        reused = False
    timings["train_s"] = round(time.time() - t, 2)

    # -- features ------------------------------------------------------------------------------
    t = time.time()
    proto_videos = seen.cap_per_class(P.prototypes.max_videos_per_class, R.seed)
    s_feats, s_idx, s_bad, _ = cached_features(method, key, proto_videos, R, P.prototypes.clips, ctx,
                                               "features: seen source videos (prototypes)")
    s_labels = proto_videos.labels[s_idx]
    t_feats, t_idx, t_bad, _ = cached_features(method, key, target, R, R.test_clips, ctx,
                                               f"features: {target.name} test videos ({R.test_clips} clips)")
    t_labels = target.labels[t_idx]
    seen_protos = class_means(s_feats, s_labels, len(seen.classes))
    timings["features_s"] = round(time.time() - t, 2)

    # -- (theta, K, rho) on seen classes only ---------------------------------------------------
    t = time.time()
    T = P.transfer
    cv = cross_validate(seen_vecs, s_feats, s_labels, T.theta, T.K, T.rho, T.cv_folds, R.seed,
                        T.solver, T.mip_backend, progress=ctx.progress)
    timings["cv_s"] = round(time.time() - t, 2)

    # -- splits ----------------------------------------------------------------------------------
    t = time.time()
    splits = []
    for s, unseen in enumerate(P.splits(len(target.classes))):
        res = transfer(target_vecs[unseen], seen_vecs, seen_protos, cv["theta"], cv["K"], cv["rho"],
                       T.solver, T.mip_backend)
        sel = np.isin(t_labels, unseen)
        y = np.searchsorted(np.asarray(unseen), t_labels[sel])
        scores = cosine_scores(t_feats[sel], res.prototypes)
        splits.append({
            "index": s, "unseen_classes": [target.classes[c] for c in unseen], "n_videos": int(sel.sum()),
            "top1": round(100 * float(top_k_hits(scores, y, 1).mean()), 3),
            "top5": round(100 * float(top_k_hits(scores, y, 5).mean()), 3),
            "mean_class_top1": round(mean_class_accuracy(scores, y), 3),
            "chance_top1": round(100 / len(unseen), 3),
            "edges": {target.classes[unseen[j]]: [[seen.classes[i], round(float(res.M[j, i]), 4)]
                                                  for i in np.flatnonzero(res.A[j])] for j in range(len(unseen))},
            "empty_rows": [target.classes[unseen[j]] for j in res.empty_rows],
            "solver": res.solver, "solve_seconds": round(res.seconds, 4)})
    timings["eval_s"] = round(time.time() - t, 2)
    timings["total_s"] = round(time.time() - t_start, 2)

    aggregate = {m: summarise([sp[m] for sp in splits]) for m in ("top1", "top5", "mean_class_top1")}
    aggregate["chance_top1"] = round(float(np.mean([sp["chance_top1"] for sp in splits])), 3)
    result = {
        "schema_version": SCHEMA_VERSION, "kind": "zsar-run", "command": ctx.command,
        "method": {"name": method.name, "space": method.space, "config": method.config(),
                   "origin": method_origin(method.name), "frames": method.frames},
        "protocol": P.to_dict(), "overrides": overrides or {}, "metric_scale": METRIC_SCALE,
        "data": {
            "source": {"dataset": source.name, "root": str(source.root), "n_classes": len(source.classes),
                       "overlap_removed": overlap.removed, "tau": overlap.tau,
                       "seen_classes": seen.classes, "n_train_videos": len(seen),
                       "prototype_videos": int(len(s_idx)),
                       "prototype_cap_per_class": P.prototypes.max_videos_per_class},
            "target": {"dataset": target.name, "root": str(target.root), "classes": target.classes,
                       "n_videos": len(target), "n_evaluated": int(len(t_idx))},
            "skipped_videos": sorted(set(train_log.get("warmup", {}).get("skipped", []))
                                     | set(train_log.get("joint", {}).get("skipped", [])) | set(s_bad) | set(t_bad)),
        },
        "checkpoint": {"key": key, "path": str(ckpt), "reused": reused, "device": ctx.device},
        "training": train_log,
        "transfer": {"solver": T.solver, "theta": cv["theta"], "K": cv["K"], "rho": cv["rho"], "cv": cv},
        "splits": splits, "aggregate": aggregate,
        "provenance": {**provenance(), "started": started, "finished": now()},
        "timings": timings,
    }
    path = new_results_path(ctx.results_dir, P.name, method.name)
    write_json_atomic(path, result)
    return result, path
