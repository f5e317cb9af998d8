"""VideoSet: a dataset's videos, labels and class names, as every adapter returns it (a leaf module:
adapters.py, features.py, datasets.py and check.py all build on it without importing each other)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..inputs import listdir
from .identity import HASH, file_ids, relative

FINGERPRINT_VERSION = "videos v2: relative path, size:content hash, class, segment"

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".webm", ".mov")
# never class folders
ANNOTATION_DIRS = {"ucfTrainTestlist", "testTrainMulti_7030_splits", "test_train_splits", "annotations"}


@dataclass
class VideoSet:
    name: str                     # dataset name as the protocol spells it
    root: Path
    classes: list[str]            # class names as on disk
    paths: list[str]
    labels: np.ndarray            # index into classes
    kind: str = "folder"          # naming rules for class name -> words (text/labels.py)
    skipped: list[str] = field(default_factory=list)  # unreadable videos met so far
    # Annotated segments in seconds (ActivityNet, untrimmed Kinetics, manifests); NaN: whole file.
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None
    subsets: dict[str, np.ndarray] = field(default_factory=dict)  # official subset -> mask over videos
    missing: list[str] = field(default_factory=list)  # annotated videos not found on disk
    notes: list[str] = field(default_factory=list)    # layout remarks for `data check` and the run log
    frame_cache: object = None    # a data.frame_cache.FrameCache holding these videos decoded, or None
    clip_store: object = None     # a data.clip_store.ClipStore holding training clips of these videos, or None
    layout: str = ""              # which of the dataset's layouts the root has (adapters.py)
    signature: str = ""           # the signature verdict (signatures.py): "UCF101: 101 classes", "nonstandard ..."
    digest: dict = field(default_factory=dict)  # of the whole dataset as read from its root (dataset_digest)
    pinned_missing: list[str] = field(default_factory=list)  # a pinned protocol's classes not in the annotations
    # (id, class name, official subset or None) of each annotated video (segment) not on disk: the
    # listed-but-missing videos a split counts (coverage.py)
    missing_rows: list[tuple] = field(default_factory=list)
    # per video '<size>:<fast content hash>' (identity.py), aligned with paths; None until resolve_dataset
    # hashes them (or fingerprint / dataset_digest do, unmemoised)
    ids: list[str] | None = None
    # inputs that change the protocol, found while reading the annotations: name -> what (deviations.py)
    deviations: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    def window(self, i: int) -> tuple[float, float] | None:
        """(start, end) seconds of video i's annotated segment, or None for the whole file."""
        if self.starts is None or np.isnan(self.starts[i]):
            return None
        return float(self.starts[i]), float(self.ends[i])

    def rel(self, i: int) -> str:
        """Video i's path relative to the root: what cache keys and cache slots name it by."""
        return relative(self.paths[i], self.root)

    def take(self, sel, classes: list[str] | None = None, labels: np.ndarray | None = None) -> "VideoSet":
        """Videos `sel` (indices), optionally relabelled into new classes."""
        sel = np.asarray(sel, dtype=np.int64)
        cut = lambda a: None if a is None else a[sel]  # noqa: E731
        return dataclasses.replace(
            self, classes=list(self.classes if classes is None else classes),
            paths=[self.paths[i] for i in sel], labels=self.labels[sel] if labels is None else labels,
            skipped=[], starts=cut(self.starts), ends=cut(self.ends),
            subsets={k: m[sel] for k, m in self.subsets.items()},
            ids=None if self.ids is None else [self.ids[i] for i in sel])

    def select_subsets(self, names: list[str]) -> "VideoSet":
        """Only the videos of the named official subsets (Kinetics "train", UCF101 "testlist01")."""
        if not names:
            return self
        unknown = [n for n in names if n not in self.subsets]
        if unknown:
            have = ", ".join(sorted(self.subsets)) or "none"
            raise UserError(f"dataset '{self.name}': no subset {', '.join(unknown)} in its annotations "
                            f"(subsets: {have})")
        out = self.take(np.flatnonzero(np.logical_or.reduce([self.subsets[n] for n in names])))
        out.missing_rows = [r for r in self.missing_rows if r[2] in names]
        return out

    def subset_classes(self, keep: list[str]) -> "VideoSet":
        """Only the videos of the named classes, relabelled in the order of `keep`."""
        index = {c: i for i, c in enumerate(keep)}
        old = np.array([index.get(c, -1) for c in self.classes] or [-1], dtype=np.int64)[self.labels]
        sel = np.flatnonzero(old >= 0)
        return self.take(sel, keep, old[sel])

    def cap_per_class(self, cap: int | None, seed: int = 0) -> "VideoSet":
        """At most `cap` videos per class (a seeded choice), for affordable prototypes."""
        if not cap:
            return self
        rng = np.random.default_rng(seed)
        sel = []
        for c in range(len(self.classes)):
            idx = np.flatnonzero(self.labels == c)
            sel.extend(sorted(rng.choice(idx, min(cap, len(idx)), replace=False).tolist()))
        sel.sort()
        return self.take(sel)


def video_lines(vs: VideoSet) -> list[str]:
    """Per video: path relative to the root, '<size>:<content hash>' (identity.py), class, segment.
    Nothing in them says where the dataset or the cache lives."""
    ids = vs.ids if vs.ids is not None else file_ids(vs.paths, vs.root)
    return [f"{vs.rel(i)}\t{ids[i]}\t{vs.classes[c]}\t{vs.window(i)}" for i, c in enumerate(vs.labels)]


def fingerprint(vs: VideoSet) -> str:
    """The identity of a set of videos for cache keys: each video's content, class and segment (the
    feature cache keeps class means; a checkpoint is trained on the labels), and the class list."""
    h = hashlib.sha256(FINGERPRINT_VERSION.encode())
    h.update(json.dumps(vs.classes).encode())
    h.update("\n".join(video_lines(vs)).encode())
    return h.hexdigest()[:16]


def dataset_digest(vs: VideoSet) -> dict:
    """Short SHA-256 digests of the class list and of the video list (paths relative to the root,
    content identity, class, segment), so two machines, or a results file and `data check`, can tell
    whether they read the same dataset: a re-encoded video changes `videos`."""
    return {"classes": hashlib.sha256("\n".join(vs.classes).encode()).hexdigest()[:16],
            "videos": hashlib.sha256("\n".join(video_lines(vs)).encode()).hexdigest()[:16],
            "n_classes": len(vs.classes), "n_videos": len(vs), "content": HASH}


def files_per_class(root: Path, accept, skip=ANNOTATION_DIRS) -> tuple[list[str], list[str], np.ndarray]:
    """root/<class>/<file>: the class folders (sorted; those named in `skip` are not classes), the
    files `accept` takes in each (sorted), and each file's class index."""
    classes = sorted(p.name for p in listdir(root, "dataset folder") if p.is_dir() and p.name not in skip)
    paths, labels = [], []
    for c, cname in enumerate(classes):
        files = sorted(p for p in listdir(root / cname, "class folder") if accept(p))
        paths += [str(p) for p in files]
        labels += [c] * len(files)
    return classes, paths, np.array(labels, dtype=np.int64)


def folder_per_class(name: str, root: Path, kind: str = "folder", skip=ANNOTATION_DIRS) -> VideoSet:
    """root/<class>/<video>.<ext>, as UCF101 and HMDB51 ship; folders named in `skip` are not classes."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"dataset '{name}': folder {root} does not exist; "
                        f"point --data-root {name}=PATH at the folder that holds one folder per class")
    classes, paths, labels = files_per_class(root, lambda p: p.suffix.lower() in VIDEO_EXTS, skip)
    if not classes:
        raise UserError(f"dataset '{name}': {root} has no class folders; expected {root}/<class>/<video>.mp4")
    if not paths:
        raise UserError(f"dataset '{name}': no video files ({', '.join(VIDEO_EXTS)}) under {root}/<class>/")
    return VideoSet(name, root, classes, paths, labels, kind)
