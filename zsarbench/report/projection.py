"""A 2-D t-SNE map of one split's test videos with the composite unseen prototypes (paper Fig. 4).

The map needs features, which results files do not hold, so `run` computes it for split 0 and
stores the coordinates in the results (`splits[0].projection`); figures.py only draws them. At most
MAX_CLASSES unseen classes (the paper shows 30) and MAX_PER_CLASS videos per class, a seeded choice.
"""

from __future__ import annotations

import numpy as np

MAX_CLASSES, MAX_PER_CLASS = 30, 20


def _affinities(D2: np.ndarray, perplexity: float) -> np.ndarray:
    """Row-wise Gaussian affinities p_{j|i} whose entropy is log(perplexity) (binary search on beta)."""
    n, target = len(D2), np.log(perplexity)
    P = np.zeros((n, n))
    for i in range(n):
        d = np.delete(D2[i], i)
        d = d - d.min()
        beta, lo, hi = 1.0, 0.0, np.inf
        for _ in range(100):
            p = np.exp(-beta * d)
            s = p.sum()
            H = np.log(s) + beta * (p * d).sum() / s
            if abs(H - target) < 1e-5:
                break
            if H > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        P[i, np.arange(n) != i] = p / s
    return P


def tsne(X: np.ndarray, perplexity: float = 30.0, n_iter: int = 1000) -> np.ndarray:
    """Exact t-SNE (van der Maaten and Hinton, 2008) to 2-D: PCA initialisation, early exaggeration 12
    for 250 iterations, momentum 0.5 then 0.8, adaptive gains. Deterministic for a given X."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    sq = (X ** 2).sum(1)
    D2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0)
    P = _affinities(D2, min(perplexity, (n - 1) / 3))
    P = np.maximum((P + P.T) / (2 * n), 1e-12)
    Xc = X - X.mean(0)
    Y = Xc @ np.linalg.svd(Xc, full_matrices=False)[2][:2].T
    Y = Y / (Y[:, 0].std() + 1e-12) * 1e-4
    lr, vel, gains = max(n / 12 / 4, 50.0), np.zeros_like(Y), np.ones_like(Y)
    for it in range(n_iter):
        exaggeration, momentum = (12.0, 0.5) if it < 250 else (1.0, 0.8)
        sq = (Y ** 2).sum(1)
        num = 1.0 / (1.0 + sq[:, None] + sq[None, :] - 2 * Y @ Y.T)
        np.fill_diagonal(num, 0.0)
        Q = np.maximum(num / num.sum(), 1e-12)
        W = (exaggeration * P - Q) * num
        grad = 4.0 * (W.sum(1)[:, None] * Y - W @ Y)
        gains = np.maximum(np.where(np.sign(grad) != np.sign(vel), gains + 0.2, gains * 0.8), 0.01)
        vel = momentum * vel - lr * gains * grad
        Y = Y + vel
    return Y - Y.mean(0)


def projection(feats: np.ndarray, labels: np.ndarray, prototypes: np.ndarray, class_names: list[str],
               seed: int = 0) -> dict:
    """t-SNE of L2-normalised test features (rows of class labels[i]) and prototypes (one per class)
    together, so that both land in one map. Coordinates are rounded: they are for drawing only."""
    rng = np.random.default_rng(seed)
    gamma = len(prototypes)
    classes = np.sort(rng.choice(gamma, min(gamma, MAX_CLASSES), replace=False))
    idx = np.concatenate([np.sort(rng.choice(np.flatnonzero(labels == c),
                                             min(int((labels == c).sum()), MAX_PER_CLASS), replace=False))
                          for c in classes]).astype(int)
    X = np.concatenate([feats[idx], prototypes[classes]]).astype(np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True) + 1e-12
    perplexity = min(30.0, (len(X) - 1) / 3)
    Y = np.round(tsne(X, perplexity), 3)
    pos = {int(c): k for k, c in enumerate(classes)}
    return {"method": f"exact t-SNE of L2-normalised features, perplexity {perplexity:.1f}, 1000 iterations, "
                      f"PCA initialisation; classes and videos drawn with seed {seed}",
            "classes": [class_names[c] for c in classes],
            "videos": {"xy": Y[:len(idx)].tolist(), "label": [pos[int(c)] for c in labels[idx]]},
            "prototypes": {"xy": Y[len(idx):].tolist()}}
