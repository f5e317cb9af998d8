"""Overlap removal (E2E, Brattoli et al. 2020): drop a source class whose label is semantically
(near-)identical to a target class, so that no test class is trained on. Beyond E2E's rule, a source
class with a target class's name (up to case, spaces and punctuation) is always dropped: under
word2vec or GloVe, "pull ups" (Kinetics) and PullUps (UCF101, embedded as "pullups") are farther
apart than tau, so under glove-6b-50d E2E's rule alone keeps six Kinetics-700 classes that are UCF101
or HMDB51 classes (docs/method.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass
class OverlapResult:
    kept: list[str]
    removed: list[dict]   # {"source", "nearest_target", "target_dataset", "distance", "rule"}
    tau: float

    @property
    def by_name(self) -> int:
        """Classes removed by a target class's name alone (E2E's tau rule kept them)."""
        return sum(r["rule"] == "same name" for r in self.removed)

    def summary(self) -> str:
        return (f"removed {len(self.removed)} overlapping (tau {self.tau}"
                + (f"; {self.by_name} of them by a target class's name" if self.by_name else "") + ")")


def name_key(name: str) -> str:
    """A class name without case, spaces or punctuation: PlayingGuitar = playing_guitar = playing guitar."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def remove_overlap(source_names: list[str], source_vecs: np.ndarray,
                   targets: dict[str, tuple[list[str], np.ndarray]], tau: float) -> OverlapResult:
    """Remove source class i when min_j (1 - cos(xi_i, xi_j)) < tau over every target class j (E2E's
    rule: "rule": "tau"), or when a target class has its name (`name_key`; "rule": "same name").

    Vectors are L2-normalised. targets: dataset name -> (class names, vectors)."""
    names, vecs, owners = [], [], []
    for dname, (tnames, tvecs) in targets.items():
        names += tnames
        vecs.append(tvecs)
        owners += [dname] * len(tnames)
    if not names:
        return OverlapResult(list(source_names), [], tau)
    dist = np.clip(1.0 - source_vecs @ np.concatenate(vecs).T, 0.0, 2.0)  # (S, T) cosine distances
    nearest = dist.argmin(1)
    dmin = dist[np.arange(len(source_names)), nearest]
    by_name = {}
    for j, t in enumerate(names):
        by_name.setdefault(name_key(t), j)
    kept, removed = [], []
    for i, s in enumerate(source_names):
        j = int(nearest[i]) if dmin[i] < tau else by_name.get(name_key(s))
        if j is None:
            kept.append(s)
            continue
        removed.append({"source": s, "nearest_target": names[j], "target_dataset": owners[j],
                        "distance": float(dist[i, j]), "rule": "tau" if dmin[i] < tau else "same name"})
    return OverlapResult(kept, removed, tau)


# Names of the Kinetics-700 subsets E2E and ResT train on; their size is what the embedding gives.
SUBSET_NAMES = {("kinetics700", frozenset({"ucf101", "hmdb51"})): "K664",
                ("kinetics700", frozenset({"ucf101", "hmdb51", "activitynet"})): "K605"}


def overlap_between(source, targets: list, emb, tau: float) -> tuple[OverlapResult, dict]:
    """Overlap removal between VideoSets, each class named by its own dataset's rules and the
    embedding's override table (text/labels.py). Returns the result and every class's words, by dataset."""
    from ..text.labels import class_words

    words = {vs.name: {c: class_words(c, vs.kind, emb.name) for c in vs.classes} for vs in [source, *targets]}

    def vecs(vs):
        return emb.class_vectors([words[vs.name][c] for c in vs.classes], vs.classes)

    result = remove_overlap(source.classes, vecs(source), {t.name: (t.classes, vecs(t)) for t in targets}, tau)
    return result, words
