"""Choosing (theta, K, rho) by k-fold cross-validation over the seen classes only.

Each fold holds out a group of seen classes as pseudo-unseen, scores their training videos against
them with the inference variant (the paper's transfer for "all"), composing from the remaining seen
classes, and takes top-1. Target classes are never looked at. The grid is the product of the
protocol's lists over the parameters the variant uses (the others are None); ties go to the first
grid point in (theta, K, rho) order.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from sklearn.model_selection import KFold

from ..evaluate import class_means, top_k_hits
from .variants import get_variant, unseen_scores


def cross_validate(seen_vecs: np.ndarray, feats: np.ndarray, labels: np.ndarray,
                   thetas, Ks, rhos, folds: int = 5, seed: int = 0, solver: str = "mip",
                   backend: str = "highs", variant: str = "all", progress=None) -> dict:
    used = get_variant(variant).params
    kappa = len(seen_vecs)
    folds = min(folds, kappa // 2)   # each fold holds out 2 classes or more: 1 would score 100% whatever the point
    # class folds: a seeded shuffle of the seen classes cut into near-equal groups
    groups = [held for _, held in KFold(folds, shuffle=True, random_state=seed).split(np.arange(kappa))]
    protos = class_means(feats, labels, kappa)
    grid = list(itertools.product(thetas if "theta" in used else [None], Ks if "K" in used else [None],
                                  rhos if "rho" in used else [None]))
    scores = np.zeros((len(grid), folds))
    task = (progress.add_task(f"transfer: cross-validating {variant} on seen classes", total=folds * len(grid))
            if progress else None)
    t0, solve_s = time.time(), 0.0
    for f, held in enumerate(groups):
        held = np.sort(held)
        rest = np.setdiff1d(np.arange(kappa), held)
        vid = np.isin(labels, held)
        y = np.searchsorted(held, labels[vid])  # held-out videos relabelled 0..len(held)-1
        for g, (theta, K, rho) in enumerate(grid):
            s, res = unseen_scores(variant, feats[vid], protos[rest], seen_vecs[rest], seen_vecs[held],
                                   theta, K, rho, solver, backend)
            scores[g, f] = 100.0 * top_k_hits(s, y, 1).mean()
            solve_s += res.solve_seconds if res else 0.0
            if progress:
                progress.advance(task)
    mean = scores.mean(1)
    best = int(np.argmax(mean))
    theta, K, rho = grid[best]
    num = lambda x, tp: None if x is None else tp(x)  # noqa: E731
    return {"variant": variant, "theta": num(theta, float), "K": num(K, int), "rho": num(rho, int),
            "cv_top1": float(mean[best]), "folds": folds, "seconds": round(time.time() - t0, 2),
            "solve_seconds": round(solve_s, 3),
            "grid": [{"theta": num(t, float), "K": num(k, int), "rho": num(r, int),
                      "top1_mean": round(float(m), 3), "top1_per_fold": [round(float(s), 3) for s in row]}
                     for (t, k, r), m, row in zip(grid, mean, scores)]}
