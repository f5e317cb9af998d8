"""Choosing (theta, K, rho) by k-fold cross-validation over the seen classes only.

Each fold holds out a group of seen classes as pseudo-unseen, composes their prototypes from the
remaining seen prototypes with the transfer, and scores nearest-prototype top-1 on the held-out
classes' training videos. Target classes are never looked at. Ties go to the first grid point in
(theta, K, rho) order.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from ..evaluate import class_means, top_k_accuracy
from .program import ALL_CONSTRAINTS, transfer


def cross_validate(seen_vecs: np.ndarray, feats: np.ndarray, labels: np.ndarray,
                   thetas, Ks, rhos, folds: int = 5, seed: int = 0, solver: str = "mip",
                   backend: str = "highs", constraints=ALL_CONSTRAINTS, progress=None) -> dict:
    kappa = len(seen_vecs)
    folds = min(folds, kappa)
    groups = np.array_split(np.random.RandomState(seed).permutation(kappa), folds)
    protos = class_means(feats, labels, kappa)
    grid = list(itertools.product(thetas, Ks, rhos))
    scores = np.zeros((len(grid), folds))
    task = progress.add_task("transfer: cross-validating (theta, K, rho)", total=folds * len(grid)) if progress else None
    t0 = time.time()
    for f, held in enumerate(groups):
        held = np.sort(held)
        rest = np.setdiff1d(np.arange(kappa), held)
        vid = np.isin(labels, held)
        y = np.searchsorted(held, labels[vid])  # held-out videos relabelled 0..len(held)-1
        for g, (theta, K, rho) in enumerate(grid):
            res = transfer(seen_vecs[held], seen_vecs[rest], protos[rest], theta, K, rho,
                           solver, backend, constraints)
            scores[g, f] = top_k_accuracy(feats[vid], y, res.prototypes, 1)
            if progress:
                progress.advance(task)
    mean = scores.mean(1)
    best = int(np.argmax(mean))
    theta, K, rho = grid[best]
    return {"theta": float(theta), "K": int(K), "rho": int(rho), "cv_top1": float(mean[best]),
            "folds": folds, "seconds": round(time.time() - t0, 2),
            "grid": [{"theta": float(t), "K": int(k), "rho": int(r), "top1_mean": round(float(m), 3),
                      "top1_per_fold": [round(float(s), 3) for s in row]}
                     for (t, k, r), m, row in zip(grid, mean, scores)]}
