"""Scoring: test features + seen prototypes + label vectors -> per-split metrics and their aggregate.

`score_split` is a pure function of arrays and the transfer settings (no model, no files), so
`run`, every ablation and the tests score a split the same way. `score_variant` adds the one step
before it: (theta, K, rho) chosen by cross-validation on the seen classes only, memoised per
(seen features, label vectors, variant, grid), then every split of the protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import coverage
from .errors import UserError
from .evaluate import (
    COLLAPSE_SHARE,
    confusion_matrix,
    cosine_scores,
    harmonic_mean,
    mean_class_accuracy,
    mean_cosine,
    per_class_accuracy,
    prototype_alignment,
    summarise,
    top_class_share,
    top_k_hits,
)
from .hubness import hubness
from .predictions import Predictions, split_predictions, video_ids
from .transfer.cv import cross_validate
from .transfer.variants import get_variant, unseen_scores


@dataclass
class SplitInputs:
    """Everything one split's score depends on: arrays, class names and the transfer settings."""
    target_feats: np.ndarray      # (N, D) test videos
    target_labels: np.ndarray     # (N,) their class, an index into target_classes
    target_classes: list[str]
    target_vecs: np.ndarray       # (n_target_classes, E) label vectors
    seen_protos: np.ndarray       # (kappa, D) seen-class prototypes
    seen_vecs: np.ndarray         # (kappa, E)
    seen_classes: list[str]
    transfer: object              # protocol.Transfer (solver, mip_backend)
    seed: int = 0                 # the t-SNE map's sampling
    gzsl_feats: np.ndarray | None = None    # seen-class test videos (generalized ZSL)
    gzsl_labels: np.ndarray | None = None
    split_videos: list[np.ndarray] | None = None   # per split, a mask over target_feats ("official" splits)
    candidates: str = "unseen"    # protocol target.candidates: the split's unseen classes, or all
    target_ids: list[str] | None = None        # id of each target row (predictions.video_ids); None: no predictions
    not_evaluated: object = None  # coverage.NotEvaluated of the target; None: no evaluated-vs-listed record
    split_subsets: list[str] | None = None     # split "official": the official test list of each split


def split_videos(prep) -> list[np.ndarray] | None:
    """Split s of an "official" protocol tests the videos of official subset split_subsets[s] (UCF101
    testlist0s, HMDB51 test s): masks over the target feature rows. None: every video, every split."""
    T, tf = prep.protocol.target, prep.target_feats
    if T.split != "official":
        return None
    return [prep.target.subsets[name][tf.index] for name in T.split_subsets]


def inputs_of(prep, seen_vecs: np.ndarray | None = None, target_vecs: np.ndarray | None = None) -> SplitInputs:
    """The arrays of a prepared (method, protocol) (prepare.Prepared); label vectors may be another
    embedding's (Table 5 scores one model under several)."""
    tf, g, T = prep.target_feats, prep.gzsl_feats, prep.protocol.target
    ids = video_ids(prep.target)
    return SplitInputs(tf.features, tf.labels, prep.target.classes,
                       prep.target_vecs if target_vecs is None else target_vecs, prep.seen_feats.class_means,
                       prep.seen_vecs if seen_vecs is None else seen_vecs, prep.seen.classes, prep.protocol.transfer,
                       prep.protocol.recipe.seed, None if g is None else g.features, None if g is None else g.labels,
                       split_videos(prep), T.candidates, [ids[i] for i in tf.index],
                       coverage.not_evaluated(prep.target, tf), T.split_subsets if T.split == "official" else None)


def score_split(x: SplitInputs, index: int, unseen: list[int], variant: str, params: dict,
                gzsl: bool = False, detail: bool = False) -> dict:
    """One split scored by one inference variant: accuracy (per video and per class), confusion
    counts, hubness, edges, solve time. `detail` adds what the figures of one split need: the
    relatedness matrix and a t-SNE map (report/projection.py)."""
    T = x.transfer
    sel = np.isin(x.target_labels, unseen)
    if x.split_videos is not None:   # an official split: its own test list
        sel &= x.split_videos[index]
    # the test videos are the unseen classes'; the candidates are those, or every target class
    cand = list(range(len(x.target_classes))) if x.candidates == "all" else list(unseen)
    y = np.searchsorted(np.asarray(cand), x.target_labels[sel])
    feats = x.target_feats[sel]
    scores, res = unseen_scores(variant, feats, x.seen_protos, x.seen_vecs, x.target_vecs[cand],
                                params["theta"], params["K"], params["rho"], T.solver, T.mip_backend)
    names, seen_names = x.target_classes, x.seen_classes
    hits1, hits5 = top_k_hits(scores, y, 1), top_k_hits(scores, y, 5)
    out = {"index": index, "unseen_classes": [names[c] for c in unseen], "n_videos": int(sel.sum()),
           "top1": round(100 * float(hits1.mean()), 3),
           "top5": round(100 * float(hits5.mean()), 3),
           "mean_class_top1": round(mean_class_accuracy(scores, y), 3),
           "chance_top1": round(100 / len(cand), 3),
           "hubness": hubness(scores)}
    if x.candidates == "all":
        out["n_candidates"] = len(cand)
    if x.not_evaluated is not None:   # evaluated vs listed, with the bounds (coverage.py)
        out.update(coverage.split_coverage(x.not_evaluated, unseen, x.split_subsets[index] if x.split_subsets else None,
                                           len(y), int(hits1.sum()), int(hits5.sum())))
    if x.target_ids is not None:      # popped by score_variant: the predictions file, not the JSON
        out["predictions"] = split_predictions(index, scores, y, cand, [x.target_ids[i] for i in np.flatnonzero(sel)])
    conf = confusion_matrix(scores, y, len(cand))  # rows: true class, columns: predicted, candidate order
    out["per_class_top1"] = {names[c]: round(float(a), 3) for c, a in zip(cand, per_class_accuracy(conf))
                             if not np.isnan(a)}
    out["confusion"] = conf.tolist()
    protos = res.prototypes if res is not None and get_variant(variant).space == "V" else None
    out["shift"] = {"top_class_share": round(top_class_share(conf), 4),
                    "source_target_cosine": round(mean_cosine(x.seen_protos, feats), 4) if len(feats) else None,
                    "prototype_alignment": None if protos is None else _round(prototype_alignment(protos, feats, y))}
    if res is not None:
        out.update(solver=res.solver, solve_seconds=round(res.solve_seconds, 4))
        if get_variant(variant).space == "V":   # rows are unseen classes: their edges are the result
            out["edges"] = {names[cand[j]]: [[seen_names[i], round(float(res.M[j, i]), 4)]
                                             for i in np.flatnonzero(res.A[j])] for j in range(len(cand))}
            out["empty_rows"] = [names[cand[j]] for j in res.empty_rows]
            if detail:  # rows: the candidates (unseen_classes unless candidates = "all"), columns: seen classes
                from .report.projection import projection
                out["relatedness"] = np.round(res.M, 4).tolist()
                out["projection"] = projection(feats, y, res.prototypes, [names[c] for c in cand], x.seed)
        else:                                   # rows are test videos
            out["n_empty_rows"] = len(res.empty_rows)
    if gzsl:
        if res is None or get_variant(variant).space != "V":
            raise UserError(f"generalized ZSL needs a visual-space variant, not '{variant}'")
        out["gzsl"] = gzsl_scores(x, res.prototypes, feats, y)
    return out


def gzsl_scores(x: SplitInputs, unseen_protos: np.ndarray, unseen_feats: np.ndarray, y_unseen) -> dict:
    """Seen and unseen prototypes as candidates together; accuracy on each kind of test video."""
    kappa = len(x.seen_classes)
    candidates = np.concatenate([x.seen_protos, unseen_protos])
    s = 100 * float(top_k_hits(cosine_scores(x.gzsl_feats, candidates), x.gzsl_labels, 1).mean())
    u = 100 * float(top_k_hits(cosine_scores(unseen_feats, candidates), kappa + y_unseen, 1).mean())
    return {"seen_top1": round(s, 3), "unseen_top1": round(u, 3), "harmonic_mean": round(harmonic_mean(s, u), 3),
            "n_seen_videos": int(len(x.gzsl_labels)), "n_unseen_videos": int(len(y_unseen)),
            "n_candidates": int(len(candidates))}


def _round(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(v, digits)


def aggregate(splits: list[dict]) -> dict:
    agg = {m: summarise([sp[m] for sp in splits]) for m in ("top1", "top5", "mean_class_top1")}
    agg["chance_top1"] = round(float(np.mean([sp["chance_top1"] for sp in splits])), 3)
    if "n_listed" in splits[0]:
        agg["coverage"] = coverage.aggregate(splits)
    shares = [sp["shift"]["top_class_share"] for sp in splits]
    agg["shift"] = {**{k: _mean_defined([sp["shift"][k] for sp in splits])
                       for k in ("top_class_share", "source_target_cosine", "prototype_alignment")},
                    "max_top_class_share": max(shares), "collapsed_splits": sum(s > COLLAPSE_SHARE for s in shares)}
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


def score_variant(prep, variant: str, progress=None, cv_memo: dict | None = None, gzsl: bool = False,
                  detail: bool = False, seen_vecs: np.ndarray | None = None,
                  target_vecs: np.ndarray | None = None) -> dict:
    """(theta, K, rho) by CV on the seen classes, then every split of the protocol scored with them.

    `cv_memo`, shared across calls: CV reads the seen classes only, so rows and protocols that share
    a model's seen features and label vectors (synth-ucf and synth-hmdb) share its result.
    Returns variant, cv, cv_reused, splits, aggregate, predictions (predictions.Predictions: for the
    file beside the JSON) and the seconds of each step."""
    x = inputs_of(prep, seen_vecs, target_vecs)
    P, sf = prep.protocol, prep.seen_feats
    T = P.transfer
    memo = (sf.key, x.seen_vecs.tobytes(), variant, tuple(T.theta), tuple(T.K), tuple(T.rho), T.cv_folds,
            P.recipe.seed, T.solver, T.mip_backend)
    cv_memo = {} if cv_memo is None else cv_memo
    t = time.time()
    reused = memo in cv_memo
    if not reused:
        cv_memo[memo] = cross_validate(x.seen_vecs, sf.features, sf.labels, T.theta, T.K, T.rho, T.cv_folds,
                                       P.recipe.seed, T.solver, T.mip_backend, variant, progress)
    cv = cv_memo[memo]
    cv_s, t = round(time.time() - t, 2), time.time()
    splits = [score_split(x, s, unseen, variant, cv, gzsl, detail=detail and s == 0)
              for s, unseen in enumerate(P.splits(len(x.target_classes), x.target_classes))]
    preds = Predictions(list(x.target_classes), [sp.pop("predictions") for sp in splits])
    return {"variant": variant, "cv": cv, "cv_reused": reused, "splits": splits, "aggregate": aggregate(splits),
            "predictions": preds,
            "cv_s": cv_s, "eval_s": round(time.time() - t, 2),
            "solve_s": round(sum(sp.get("solve_seconds", 0.0) for sp in splits), 4)}


def table_cell(scored: dict, features_cached: bool) -> dict:
    """An ablation row's result on one protocol (results.ablation_row)."""
    cv = scored["cv"]
    return {"aggregate": scored["aggregate"], "splits": scored["splits"], "n_splits": len(scored["splits"]),
            "theta": cv["theta"], "K": cv["K"], "rho": cv["rho"], "cv_top1": cv["cv_top1"], "cv": cv,
            "cv_reused": scored["cv_reused"], "solve_seconds": scored["solve_s"],
            "features_cached": features_cached}
