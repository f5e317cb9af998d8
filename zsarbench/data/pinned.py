"""A target with pinned class names (protocol target.split = "pinned", e.g. Elaborative Rehearsal's
Kinetics-600 splits): the class list comes from the protocol, the videos from the user's annotations.

The class names are the protocol's; whether the user's annotation files hold them is checked here, so
a tree that lacks some is a one-line error naming them, or, with --allow-nonstandard (a miniature
tree, a partial download), a run on those present that records the missing ones."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UserError
from .videoset import VideoSet


def pinned_classes(target) -> tuple[list[str], set[str]]:
    """(every pinned class, test and val, sorted; the test classes of any split)."""
    test = {c for s in target.pinned.values() for c in s["test"]}
    val = {c for s in target.pinned.values() for c in s.get("val", [])}
    return sorted(test | val), test


def pin_target(vs: VideoSet, target, allow_nonstandard: bool) -> VideoSet:
    """`vs` cut to the pinned classes (classes: all pinned ones present, sorted), keeping only the
    videos of test classes: val classes are candidates under target.candidates = "all", never scored."""
    wanted, test = pinned_classes(target)
    have = set(vs.classes)
    missing = [c for c in wanted if c not in have]
    if missing and not allow_nonstandard:
        raise UserError(f"dataset '{vs.name}': {len(missing)} of the protocol's {len(wanted)} pinned classes are "
                        f"not in its annotations ({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}); "
                        "--allow-nonstandard runs on those present and records the missing ones")
    kept = [c for c in wanted if c in have]
    out = vs.subset_classes(kept)
    is_test = np.array([c in test for c in kept] or [False])
    out = out.take(np.flatnonzero(is_test[out.labels]))
    note = f"pinned classes: {len(kept)} of {len(wanted)} in the annotations" + (
        f"; missing: {', '.join(missing)}" if missing else "")
    return dataclasses.replace(out, pinned_missing=missing, notes=[*vs.notes, note])
