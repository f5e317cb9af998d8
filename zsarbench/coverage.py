"""Evaluated vs listed: which test videos of a split were scored, which were not and why, and how far
the split's accuracy could move had they been (Kinetics attrition and unreadable files move
reported numbers by about a point: mmaction2 PR #2620).

A split lists the target's videos of its unseen classes (split "official": of its official test
list), those the annotations name but the disk lacks included (VideoSet.missing_rows). Evaluated:
those with features. Not evaluated: `missing` (not on disk), `unreadable`, `too small` (frames
smaller than the crop). Bounds: the split's top-k if every video not evaluated were right
(`high`) or wrong (`low`), over the listed videos; equal to top-k when all were evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .predictions import video_ids

WIDE = 0.1     # tables show the bounds of a cell when they are wider than this (points)


@dataclass
class NotEvaluated:
    """The target's videos without features: id, class (index into the target's classes; -1: a class
    the target does not have), why, and the official subsets each belongs to."""
    ids: list[str]
    labels: np.ndarray
    why: list[str]
    subsets: list[frozenset]


def not_evaluated(vs, feats) -> NotEvaluated:
    """Videos of `vs` (the target) absent from its features `feats` (feature_cache.Features), and the
    annotated videos not on disk (vs.missing_rows: id, class name, subset)."""
    ids, done = video_ids(vs), set(np.asarray(feats.index).tolist())
    bad, small = set(feats.bad), set(feats.small)
    out = NotEvaluated([], np.zeros(0, np.int64), [], [])
    labels = []
    for i in range(len(vs)):
        if i not in done:
            out.ids.append(ids[i])
            labels.append(int(vs.labels[i]))
            p = vs.paths[i]
            out.why.append("too small" if p in small else "unreadable" if p in bad else "not encoded")
            out.subsets.append(frozenset(s for s, m in vs.subsets.items() if m[i]))
    index, missing = {c: k for k, c in enumerate(vs.classes)}, {}
    for vid, cls, subset in getattr(vs, "missing_rows", []):   # one video in several lists: once, in each
        missing.setdefault((vid, cls), set()).update([subset] if subset else [])
    for (vid, cls), subsets in missing.items():
        out.ids.append(vid)
        labels.append(index.get(cls, -1))
        out.why.append("missing")
        out.subsets.append(frozenset(subsets))
    out.labels = np.asarray(labels, dtype=np.int64)
    return out


def split_coverage(ne: NotEvaluated, unseen, subset: str | None, n_evaluated: int, hits1: int, hits5: int) -> dict:
    """A split's listed and evaluated counts, the videos not evaluated and the top-1/top-5 bounds.
    `subset`: the split's official test list (split "official"), else None."""
    sel = [k for k in np.flatnonzero(np.isin(ne.labels, list(unseen))) if subset is None or subset in ne.subsets[k]]
    m = len(sel)
    listed = n_evaluated + m

    def bounds(hits: int) -> list[float]:
        return [round(100 * hits / listed, 3), round(100 * (hits + m) / listed, 3)] if listed else [0.0, 0.0]
    return {"n_listed": listed, "n_evaluated": n_evaluated,
            "not_evaluated": [[ne.ids[k], ne.why[k]] for k in sel],
            "top1_bounds": bounds(hits1), "top5_bounds": bounds(hits5)}


def aggregate(splits: list[dict]) -> dict:
    """Over the splits: videos listed and evaluated (summed), the bounds' means."""
    def mean(key: str, i: int) -> float:
        return round(float(np.mean([sp[key][i] for sp in splits])), 3)
    return {"n_listed": int(sum(sp["n_listed"] for sp in splits)),
            "n_evaluated": int(sum(sp["n_evaluated"] for sp in splits)),
            "n_not_evaluated": int(sum(len(sp["not_evaluated"]) for sp in splits)),
            "top1_bounds": [mean("top1_bounds", 0), mean("top1_bounds", 1)],
            "top5_bounds": [mean("top5_bounds", 0), mean("top5_bounds", 1)]}


def bounds_text(low: float, high: float, decimals: int = 1) -> str:
    """' [low-high if the missing were all wrong/right]' when wider than WIDE points, else ''."""
    return f" [{low:.{decimals}f}–{high:.{decimals}f}]" if high - low > WIDE else ""
