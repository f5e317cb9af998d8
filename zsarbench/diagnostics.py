"""Diagnostic ceilings of a run, on the run's own features: where a ZSAR number sits between chance
and what the features allow. They USE TARGET LABELS (the oracle) or measure seen classes only (the
probe): NOT ZSAR RESULTS, recorded apart (the run document's `diagnostics`) and kept out of every
ZSAR column and ordering.

  oracle_top1      per split, the nearest class mean of the split's unseen classes' own test
                   features, leave-one-video-out, cosine (a video whose class has no other video
                   counts as a miss), on the split's own test videos (an "official" split: those
                   of its test list); mean +- std over the protocol's splits. It is computed inside
                   the target domain: how the transfer's prototypes, composed in the source's space,
                   line up with these class means is the split's `shift.prototype_alignment`
  seen_probe_top1  scikit-learn LogisticRegression on the seen prototype features, accuracy by
                   cross_val_score over StratifiedKFold video folds (up to 5; not the class folds
                   of transfer/cv.py, which hold out whole classes); its C chosen in each outer
                   fold by an inner StratifiedKFold cross-validation on that fold's training videos
                   (LogisticRegressionCV over PROBE_C): the seen classes only
  chance_top1      100 / unseen classes, mean over the splits
"""

from __future__ import annotations

import numpy as np

from .evaluate import summarise
from .scoring import split_videos

# The probe's inverse regularisation, chosen by inner CV (on unit-norm features C = 1 underfits: 15.1
# where C = 100 gave 21.4 on the synthetic benchmark; 0.01 is flat there). tol 1e-3: the nested
# search is 80 fits, about 25 CPU-seconds on 570 x 768 features.
PROBE_C = (0.1, 1.0, 10.0, 100.0, 1000.0)
_PROBES: dict = {}   # seen feature cache key -> probe: protocols that share a model's seen features share it
NOTE = "uses target labels (oracle) or seen classes only (probe): not a ZSAR result"


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def oracle_top1(feats: np.ndarray, labels: np.ndarray, unseen) -> float:
    """Top-1 (%) of the nearest leave-one-video-out class mean among `unseen` classes, cosine."""
    unseen = np.asarray(list(unseen))
    sel = np.isin(labels, unseen)
    x, y = np.asarray(feats, dtype=np.float64)[sel], np.searchsorted(unseen, labels[sel])
    if not len(y):
        return float("nan")
    n = np.bincount(y, minlength=len(unseen)).astype(np.float64)
    sums = np.zeros((len(unseen), x.shape[1]))
    np.add.at(sums, y, x)
    means = sums / np.maximum(n, 1)[:, None]
    own = (sums[y] - x) / np.maximum(n[y] - 1, 1)[:, None]        # each video's class mean without it
    scores = _unit(x) @ _unit(means).T
    own_score = np.einsum("ij,ij->i", _unit(x), _unit(own))
    own_score[n[y] < 2] = -np.inf                                   # no other video of its class
    scores[np.arange(len(y)), y] = own_score
    scores[:, n == 0] = -np.inf
    return round(100.0 * float((scores.argmax(1) == y).mean()), 3)


def seen_probe_top1(feats: np.ndarray, labels: np.ndarray, seed: int = 0, folds: int = 5) -> dict | None:
    """LogisticRegression accuracy on the seen prototype features by stratified video folds, its C
    chosen inside each outer fold by inner stratified folds; None when some class has fewer than 3
    videos (an outer and an inner split both need 2 per class)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_validate

    counts = np.bincount(labels)
    least = int(counts[counts > 0].min()) if len(counts) else 0
    k = min(folds, least)
    inner = min(3, least - (least + k - 1) // k)      # the fewest videos a class keeps in an outer fold
    if k < 2 or inner < 2:
        return None
    probe = LogisticRegressionCV(Cs=list(PROBE_C), cv=StratifiedKFold(inner, shuffle=True, random_state=seed),
                                 l1_ratios=(0.0,), scoring="accuracy", max_iter=1000, tol=1e-3,
                                 use_legacy_attributes=False)
    res = cross_validate(probe, _unit(feats), labels, cv=StratifiedKFold(k, shuffle=True, random_state=seed),
                         return_estimator=True)
    return {**summarise([100.0 * a for a in res["test_score"]]), "folds": k, "cv": "StratifiedKFold video folds",
            "C": [float(np.ravel(e.C_)[0]) for e in res["estimator"]],   # the inner folds' choice per outer fold
            "model": f"sklearn LogisticRegressionCV(Cs={list(PROBE_C)}, {inner} inner StratifiedKFold folds, "
                     "max_iter=1000, tol=1e-3) on L2-normalised features"}


def _probe(sf, seed: int) -> dict | None:
    key = (getattr(sf, "key", None), seed)
    if key[0] is None:
        return seen_probe_top1(sf.features, sf.labels, seed)
    if key not in _PROBES:
        _PROBES[key] = seen_probe_top1(sf.features, sf.labels, seed)
    return _PROBES[key]


def diagnostics(prep) -> dict:
    """The ceilings of a prepared (method, protocol) with target features (run.py)."""
    P, tf, sf = prep.protocol, prep.target_feats, prep.seen_feats
    splits = P.splits(len(prep.target.classes), prep.target.classes)
    own = split_videos(prep) or [np.ones(len(tf.labels), bool)] * len(splits)   # official: its test list
    oracle = [oracle_top1(tf.features[m], tf.labels[m], unseen) for unseen, m in zip(splits, own)]
    return {"oracle_top1": {**summarise([o for o in oracle if o == o]), "per_split": oracle},
            "seen_probe_top1": _probe(sf, P.recipe.seed),
            "chance_top1": round(float(np.mean([100.0 / len(u) for u in splits])), 3),
            "note": NOTE}
