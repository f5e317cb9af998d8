"""Hubness of nearest-neighbour classification (ResT paper, supplement D.2, Eq. 10).

psi_k(j) = how many test points have prototype j among their k nearest prototypes (the k best
scores, ties broken as in top-k accuracy). A few prototypes that are near everything ("hubs") make
the distribution of psi_k right-skewed. Two skewness figures are reported, under distinct names:

  skew_sample      m3 / m2^(3/2) with biased central moments m_r = mean((psi - mean)^r):
                   the usual sample skewness, scipy.stats.skew(psi) (bias=True).
  skew_paper_eq10  sum_j (psi_k(j) - E[psi_k])^3 / Var[psi_k]^(3/2), Eq. 10 as printed: the sum
                   lacks the 1/gamma of the usual definition; Var is the population variance, so
                   skew_paper_eq10 = gamma * skew_sample.

Both are undefined (None) when psi_k is constant, e.g. for k >= gamma (every test point has every
prototype among its k nearest).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

KS = (1, 5, 10)


def k_occurrence(scores: np.ndarray, k: int) -> np.ndarray:
    """psi_k over the columns of scores (N test points x gamma prototypes; higher = nearer)."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.bincount(top.ravel(), minlength=scores.shape[1])


def skew_sample(psi: np.ndarray) -> float | None:
    psi = np.asarray(psi, dtype=np.float64)
    if psi.size < 2 or np.all(psi == psi[0]):
        return None
    return float(stats.skew(psi, bias=True))


def skew_paper_eq10(psi: np.ndarray) -> float | None:
    psi = np.asarray(psi, dtype=np.float64)
    var = psi.var()
    if psi.size < 2 or var == 0:
        return None
    return float(((psi - psi.mean()) ** 3).sum() / var ** 1.5)


def hubness(scores: np.ndarray, ks=KS) -> dict:
    """{"k1": {"skew_sample", "skew_paper_eq10", "psi"}, ...} for each k."""
    out = {}
    for k in ks:
        psi = k_occurrence(scores, k)
        a, b = skew_sample(psi), skew_paper_eq10(psi)
        out[f"k{k}"] = {"skew_sample": None if a is None else round(a, 4),
                        "skew_paper_eq10": None if b is None else round(b, 4),
                        "psi": psi.tolist()}
    return out
