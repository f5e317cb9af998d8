"""Dataset signatures: what the official copy of each real dataset holds, so that a root pointing at
another dataset's tree, or at a part of one, is refused before it silently changes a protocol.

A signature is the class count, a few class names every official copy has (compared without case,
spaces, '_' or '-', so HandstandPushups = HandStandPushups), and the annotation files the dataset
ships. A tree matches when it has the class count and all but at most one of those names; only
class names and counts are compared, never videos (a copy with missing or unreadable videos is
still the dataset: `zsarbench data check` lists those). A tree that does not match is a one-line
UserError that names what the tree looks like instead, unless the run passes --allow-nonstandard
(a user's own subset): then the mismatch is recorded in the results (data.*.signature).
Manifests (.csv) and class lists (.txt) are the user's own lists: they have no signature check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError


@dataclass(frozen=True)
class Signature:
    title: str                    # with its article: "an HMDB51"
    family: str                   # ucf101 | hmdb51 | kinetics | activitynet (annotation files)
    n_classes: int
    canonical: tuple[str, ...]    # class names every official copy has
    point_at: str                 # where --data-root NAME= should point


KINETICS = ("abseiling", "air drumming", "answering questions", "bending metal", "tasting beer")
SIGNATURES = {
    "ucf101": Signature("a UCF101", "ucf101", 101,
                        ("ApplyEyeMakeup", "BabyCrawling", "JumpingJack", "WalkingWithDog", "YoYo"),
                        "UCF-101/ (or the folder that holds it and ucfTrainTestlist/)"),
    "hmdb51": Signature("an HMDB51", "hmdb51", 51, ("brush_hair", "cartwheel", "draw_sword", "fall_floor", "flic_flac"),
                        "the folder that holds the 51 class folders (and testTrainMulti_7030_splits/)"),
    "kinetics400": Signature("a Kinetics-400", "kinetics", 400, KINETICS, "the folder of the Kinetics-400 CSV files"),
    "kinetics600": Signature("a Kinetics-600", "kinetics", 600, KINETICS, "the folder of the Kinetics-600 CSV files"),
    "kinetics700": Signature("a Kinetics-700", "kinetics", 700, KINETICS, "the folder of the Kinetics-700 CSV files"),
    "activitynet": Signature("an ActivityNet v1.3", "activitynet", 200,
                             ("Baton twirling", "Calf roping", "Doing a powerbomb", "Drum corps", "Mooping floor"),
                             "the folder of activity_net.v1-3.min.json (or its annotations/ parent)"),
}
NONSTANDARD = "nonstandard (--allow-nonstandard): "   # how a mismatch that was let through is recorded
FAMILY_TITLES = {"ucf101": "a UCF101", "hmdb51": "an HMDB51", "kinetics": "a Kinetics", "activitynet": "an ActivityNet"}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _hits(sig: Signature, names: set[str]) -> list[str]:
    return [c for c in sig.canonical if _norm(c) in names]


def annotation_families(root: Path) -> set[str]:
    """The datasets whose annotation files lie in root or root/annotations (or the official split
    folders): classInd.txt, *_test_split1.txt, Kinetics CSVs (a youtube_id column), ActivityNet JSON."""
    if not root.is_dir():
        return set()
    places = [root, root / "annotations", root / "ucfTrainTestlist", root / "testTrainMulti_7030_splits"]
    found = set()
    for d in (p for p in places if p.is_dir()):
        if (d / "classInd.txt").is_file():
            found.add("ucf101")
        if next(d.glob("*_test_split1.txt"), None):
            found.add("hmdb51")
        if next((f for f in d.glob("*.json") if "activity" in f.name.lower()), None):
            found.add("activitynet")
        for f in d.glob("*.csv"):
            try:
                with open(f, errors="replace") as fh:
                    if "youtube_id" in fh.readline():
                        found.add("kinetics")
            except OSError:
                continue
    return found


def foreign_hint(name: str, root: Path) -> str:
    """' — an HMDB51 tree?' when `root` holds another dataset's annotation files, else ''."""
    sig = SIGNATURES.get(name)
    foreign = sorted(annotation_families(root) - {sig.family if sig else ""})
    return f" — {FAMILY_TITLES[foreign[0]]} tree?" if sig and foreign else ""


def signature_mismatch(name: str, root: Path, classes: list[str]) -> str | None:
    """None if dataset `name`'s tree at `root` with these classes matches its signature (or it has
    none), else the one-line reason, naming what the tree looks like instead."""
    sig = SIGNATURES.get(name)
    if sig is None:
        return None
    names = {_norm(c) for c in classes}
    own = _hits(sig, names)
    if len(classes) == sig.n_classes and len(own) >= len(sig.canonical) - 1:
        return None
    n = f"{len(classes)} class{'es' * (len(classes) != 1)}"
    like = n + (f" like '{classes[0]}'" if classes else "")
    # what it looks like instead: another signature with more of its names (or as many, and its count)
    other = max((s for key, s in SIGNATURES.items() if key != name and s.title != sig.title),
                key=lambda s: (len(_hits(s, names)), len(classes) == s.n_classes))
    other_hits = _hits(other, names)
    guess = None
    if len(other_hits) >= 2 and (len(other_hits) > len(own) or len(classes) == other.n_classes):
        guess = other.title
        like = f"{n} like '{other_hits[0]}'"
    else:
        foreign = sorted(annotation_families(root) - {sig.family})
        if foreign and len(own) < 2:
            guess = FAMILY_TITLES[foreign[0]]
    fix = f"point --data-root {name}=... at {sig.point_at} or pass --allow-nonstandard for your own subset"
    if guess:
        return f"{name} root {root} holds {like} — {guess} tree? {fix}"
    missing = [c for c in sig.canonical if c not in own]
    why = (f"not the {sig.n_classes} of {sig.title[sig.title.index(' ') + 1:]}" if len(classes) != sig.n_classes
           else f"without {', '.join(repr(c) for c in missing[:2])}")
    return f"{name} root {root} holds {like}, {why}: {fix}"


def check_signature(name: str, root: Path, classes: list[str], allow_nonstandard: bool = False) -> str:
    """The tree's signature verdict for the records ("UCF101: 101 classes" or "nonstandard: <why>");
    a mismatch is a UserError unless allow_nonstandard."""
    why = signature_mismatch(name, root, classes)
    if why is None:
        sig = SIGNATURES.get(name)
        return f"{sig.title.split(' ', 1)[1]}: {sig.n_classes} classes" if sig else ""
    if not allow_nonstandard:
        raise UserError(why)
    return NONSTANDARD + why
