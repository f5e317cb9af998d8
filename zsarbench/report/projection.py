"""A 2-D t-SNE map of one split's test videos with the composite unseen prototypes (paper Fig. 4).

The map needs features, which results files do not hold, so `run` computes it for split 0 and
stores the coordinates in the results (`splits[0].projection`); figures.py only draws them. At most
MAX_CLASSES unseen classes (the paper shows 30) and MAX_PER_CLASS videos per class, a seeded choice.
"""

from __future__ import annotations

import numpy as np

MAX_CLASSES, MAX_PER_CLASS = 30, 20


def tsne(X: np.ndarray, perplexity: float = 30.0, n_iter: int = 1000, seed: int = 0,
         method: str = "exact") -> np.ndarray:
    """2-D t-SNE of the rows of X with scikit-learn (`sklearn.manifold.TSNE`): PCA initialisation,
    learning rate "auto", perplexity capped at (n - 1) / 3, fixed random_state. "exact" (the default)
    is deterministic for a given X and seed (also across thread counts) and takes about 5 s (one CPU
    thread) for the at most 630 points of a map; "barnes_hut" is the approximation for larger inputs."""
    from sklearn.manifold import TSNE  # imported here: only `run` (split 0) and tests need it

    X = np.asarray(X, dtype=np.float64)
    Y = TSNE(n_components=2, perplexity=min(perplexity, (len(X) - 1) / 3), learning_rate="auto", init="pca",
             max_iter=n_iter, method=method, random_state=seed).fit_transform(X).astype(np.float64)
    return Y - Y.mean(0)                      # float64: float32 output would store 14.616000175476074


def projection(feats: np.ndarray, labels: np.ndarray, prototypes: np.ndarray, class_names: list[str],
               seed: int = 0) -> dict:
    """t-SNE of L2-normalised test features (rows of class labels[i]) and prototypes (one per class)
    together, so that both land in one map. Coordinates are rounded: they are for drawing only."""
    from sklearn import __version__ as sklearn_version

    rng = np.random.default_rng(seed)
    gamma = len(prototypes)
    classes = np.sort(rng.choice(gamma, min(gamma, MAX_CLASSES), replace=False))
    idx = np.concatenate([np.sort(rng.choice(np.flatnonzero(labels == c),
                                             min(int((labels == c).sum()), MAX_PER_CLASS), replace=False))
                          for c in classes]).astype(int)
    X = np.concatenate([feats[idx], prototypes[classes]]).astype(np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True) + 1e-12
    perplexity = min(30.0, (len(X) - 1) / 3)
    Y = np.round(tsne(X, perplexity, seed=seed), 3)
    pos = {int(c): k for k, c in enumerate(classes)}
    return {"method": f"exact t-SNE (scikit-learn {sklearn_version} sklearn.manifold.TSNE, method='exact') of "
                      f"L2-normalised features, perplexity {perplexity:.1f}, 1000 iterations, PCA initialisation, "
                      f"learning rate 'auto', random_state {seed}; classes and videos drawn with seed {seed}",
            "classes": [class_names[c] for c in classes],
            "videos": {"xy": Y[:len(idx)].tolist(), "label": [pos[int(c)] for c in labels[idx]]},
            "prototypes": {"xy": Y[len(idx):].tolist()}}
