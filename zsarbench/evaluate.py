"""Metrics. Accuracies are percentages (0-100) of videos (micro average) unless named otherwise."""

from __future__ import annotations

import numpy as np


def l2n(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


def class_means(feats: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Prototype of each class: the mean feature of its videos (paper Sec. 3.3)."""
    out = np.zeros((n_classes, feats.shape[1]), dtype=np.float64)
    np.add.at(out, labels, feats)
    counts = np.bincount(labels, minlength=n_classes)[:, None]
    return out / np.maximum(counts, 1)


def cosine_scores(feats: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """(N, C) cosine similarity; the nearest prototype by cosine distance has the top score."""
    return l2n(feats.astype(np.float64)) @ l2n(protos.astype(np.float64)).T


def top_k_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(1)


def mean_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    hits = top_k_hits(scores, labels, 1)
    per = [hits[labels == c].mean() for c in np.unique(labels)]
    return 100.0 * float(np.mean(per))


def confusion_matrix(scores: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j]: test videos of class i whose best-scored class is j (ties as in top_k_hits)."""
    pred = np.argsort(-scores, axis=1, kind="stable")[:, 0]
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (labels, pred), 1)
    return out


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Top-1 percent of each class's test videos (row of the confusion matrix); NaN for an empty row.
    The mean over the non-empty rows is mean_class_accuracy."""
    n = confusion.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, 100.0 * np.diag(confusion) / n, np.nan)


# A split whose predictions go more than half to one class has collapsed: its number measures the
# collapse, not the method (report: the cell is marked, orderings do not test the row).
COLLAPSE_SHARE = 0.5


def top_class_share(confusion: np.ndarray) -> float:
    """Share (0-1) of the predictions that go to the most-predicted class (columns of the confusion
    counts); 1 / classes when predictions are spread evenly."""
    pred = np.asarray(confusion).sum(0)
    return float(pred.max() / max(pred.sum(), 1))


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine between the mean row of a and the mean row of b: near -1..0 when one set of features
    points elsewhere than the other (a domain the encoder maps apart), near 1 when they share a direction."""
    ma, mb = np.asarray(a, np.float64).mean(0), np.asarray(b, np.float64).mean(0)
    return float(ma @ mb / max(np.linalg.norm(ma) * np.linalg.norm(mb), 1e-12))


def prototype_alignment(protos: np.ndarray, feats: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean over the classes with test videos of the cosine between a class's prototype (composed
    from seen prototypes, in the source's feature space) and the mean of its own test features: how
    well the transfer's prototypes land on the target's classes across the domain shift."""
    classes = np.unique(labels)
    if not len(classes):
        return None
    means = class_means(np.asarray(feats, np.float64), labels, len(protos))[classes]
    return float(np.mean(np.sum(l2n(np.asarray(protos, np.float64)[classes]) * l2n(means), axis=1)))


def summarise(values: list[float]) -> dict:
    """Mean and std over a protocol's splits (its fixed set of splits: the population std, ddof 0;
    a spread over training seeds, a sample of seeds, is the sample std: report/cells.pool)."""
    a = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(a.mean()), 3), "std": round(float(a.std(ddof=0)), 3), "n": int(a.size)}


def harmonic_mean(seen: float, unseen: float) -> float:
    """H = 2 S U / (S + U), the usual generalized zero-shot summary (0 when both are 0)."""
    return 0.0 if seen + unseen == 0 else 2 * seen * unseen / (seen + unseen)
