"""Inputs that change what a protocol measures. Each is refused in one line before any training or
decoding, unless the run accepts it by name: `--accept NAME` on the command line, or `accept =
["NAME"]` in the protocol file (a protocol that means it, e.g. the CLIP-era ones that train on
Kinetics-400 without overlap removal). An accepted one is recorded in the results (`data.accepted`:
name -> what it was) and every table cell of such a result is marked (report/cells.py).

  empty-classes  a class of the source or the target that has no video: an empty class folder, a
                 class listed in the annotations whose videos are all missing or only in subsets
                 the protocol does not use. It would change every split draw and be scored with no
                 video. Accepted: such classes are dropped.
  class-overlap  the target is the source dataset, or a training class is a target class (the same
                 name but for case and punctuation, or closer than source.tau under the protocol's
                 embedding): not zero-shot. Accepted: trained on as they are (paper Table 7).
  bad-segments   annotated segments that are empty, reversed or negative (end <= start, start < 0):
                 they would be read as one-frame clips. Accepted: those segments are left out.
  duplicate-videos  a video (segment) annotated twice in one subset (a CSV or JSON row repeated, or
                 the same clip under two labels): it would weigh double. Accepted: kept once, with
                 the label of its first row.

Never accepted (no switch): a removal (source.tau, source.remove_overlap_with) that leaves fewer
seen classes than training and the seen-class cross-validation need (MIN_SEEN: two folds of two
classes; transfer/cv.py never holds out a single class, whose top-1 would be 100%), and a target
with fewer than 2 candidate classes in a split (its top-1 would be 100% whatever the model).
docs/errors.md lists every such input and its outcome.
"""

from __future__ import annotations

import numpy as np

from .errors import UserError, did_you_mean

ACCEPTABLE = {
    "empty-classes": "classes with no video, dropped",
    "class-overlap": "training classes that are target classes (not zero-shot)",
    "bad-segments": "empty, reversed or negative annotated segments, left out",
    "duplicate-videos": "videos annotated twice, kept once",
}


def check_names(names) -> list[str]:
    """--accept / protocol `accept` values, each a known name (one line otherwise)."""
    out = []
    for n in names:
        if n not in ACCEPTABLE:
            raise UserError(f"cannot accept '{n}'{did_you_mean(n, ACCEPTABLE)}: the inputs a run can accept are "
                            + ", ".join(ACCEPTABLE))
        out.append(n)
    return sorted(set(out))


def _listed(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _refuse(name: str, what: str, fix: str) -> UserError:
    return UserError(f"{what}; {fix}, or pass --accept {name} ({ACCEPTABLE[name]}; recorded in the results)")


def settle_videos(vs, role: str, accept: set[str], candidates_only=()):
    """The set a run uses as `role` (source or target), with what it accepts applied: (the set, what
    was accepted: name -> items). Raises the first deviation it does not accept. `candidates_only`:
    classes meant to have no video (a pinned protocol's validation classes: candidates, never scored)."""
    accepted = {}
    for name, what, fix in (("bad-segments", "annotated segments are empty, reversed or negative (end <= start or "
                             "start < 0)", "fix the annotations"),
                            ("duplicate-videos", "videos are annotated more than once", "remove the repeated rows")):
        found = vs.deviations.get(name, [])
        if found and name not in accept:
            raise _refuse(name, f"dataset '{vs.name}' ({role}): {len(found)} {what}: {_listed(found)}", fix)
        if found:
            accepted[name] = list(found)
    counts = np.bincount(vs.labels, minlength=len(vs.classes)) if len(vs.classes) else np.zeros(0, int)
    empty = [c for c, n in zip(vs.classes, counts) if n == 0 and c not in set(candidates_only)]
    if empty and len(empty) < len(vs.classes):
        if "empty-classes" not in accept:
            raise _refuse("empty-classes", f"dataset '{vs.name}' ({role}): {len(empty)} of its {len(vs.classes)} "
                          f"classes have no video: {_listed(empty)}",
                          f"remove them or add their videos (`zsarbench data check {vs.name}` lists them)")
        accepted["empty-classes"] = empty
        vs = vs.subset_classes([c for c in vs.classes if c not in set(empty)])
    return vs, accepted


def class_overlap(P, seen_classes: list[str], seen_vecs, target_classes: list[str], target_vecs) -> list[str]:
    """'seen ~ target' for every training class that is a target class: what overlap removal would remove
    against this target (the same normalised name, or closer than source.tau under the embedding)."""
    from .data.overlap import remove_overlap

    near = remove_overlap(seen_classes, seen_vecs, {P.target.dataset: (target_classes, target_vecs)}, P.source.tau)
    return [f"{r['source']} ~ {r['nearest_target']}" for r in sorted(near.removed, key=lambda r: r["source"])]


def settle_overlap(P, seen_classes, seen_vecs, target_classes, target_vecs, accept: set[str]) -> dict:
    """{'class-overlap': pairs} when the run trains on target classes and accepts it; raises when it
    does not accept it; {} when there is none."""
    if P.target.dataset == P.source.dataset:
        pairs = [f"{c} ~ {c}" for c in seen_classes if c in set(target_classes)] or ["the target is the source"]
        if "class-overlap" not in accept:
            raise _refuse("class-overlap", f"target '{P.target.dataset}' is the source dataset: its classes are "
                          "training classes (not zero-shot)", "choose another target")
        return {"class-overlap": pairs}
    pairs = class_overlap(P, seen_classes, seen_vecs, target_classes, target_vecs)
    if not pairs:
        return {}
    if "class-overlap" not in accept:
        hint = (f"add '{P.target.dataset}' to source.remove_overlap_with"
                if P.target.dataset not in P.source.remove_overlap_with else f"raise source.tau (now {P.source.tau})")
        raise _refuse("class-overlap", f"{len(pairs)} training classes are target classes (not zero-shot): "
                      f"{_listed(pairs)}", hint)
    return {"class-overlap": pairs}


MIN_SEEN = 4   # training needs 2 classes; the seen-class CV holds out folds of at least 2 classes, 2 folds at least


def check_seen(P, n_source: int, n_removed: int, n_seen: int) -> None:
    if n_seen < MIN_SEEN:
        raise UserError(f"source '{P.source.dataset}': overlap removal (source.tau {P.source.tau}, remove_overlap_with "
                        f"{P.source.remove_overlap_with}) removed {n_removed} of its {n_source} classes, leaving "
                        f"{n_seen}; training and the seen-class cross-validation (folds of 2 classes or more) need at "
                        f"least {MIN_SEEN}: lower source.tau, or remove overlap with fewer datasets")


def check_target(P, classes: list[str]) -> None:
    """Every split must score among at least 2 candidate classes."""
    sizes = [len(s) for s in P.splits(len(classes), classes)]
    if P.target.candidates == "all" and P.target.split != "pinned":
        sizes = [len(classes)] * len(sizes)
    if not sizes or min(sizes) < 2:
        raise UserError(f"target '{P.target.dataset}': {len(classes)} classes give splits of {min(sizes or [0])} "
                        f"candidate class (split {P.target.split}); a split needs at least 2, or its top-1 is 100% "
                        "whatever the model: use a target with more classes (or split \"0/100\")")
