"""Adapters for the layouts of the real datasets: each turns a root into a VideoSet, says which
layout it found (VideoSet.layout) and checks the tree against the dataset's signature
(signatures.py: class count and names; --allow-nonstandard lets a user's own subset through).

  ucf101       videos <root>/<class>/*.avi, or in <root>/UCF-101/ (the official archive) or
               <root>/videos/ (mmaction2); classInd.txt and train/testlistNN.txt in <root>,
               <root>/ucfTrainTestlist/ (the official archive), <root>/annotations/ (mmaction2), or a
               ucfTrainTestlist/ or annotations/ folder beside the videos' folder (optional)
  hmdb51       videos <root>/<class>/*.avi, or in <root>/hmdb51_org/ (the official archive, class
               archives unpacked) or <root>/videos/ (mmaction2); the split files
               <class>_test_splitN.txt in <root>/testTrainMulti_7030_splits/ (the official archive,
               also inside test_train_splits/), <root>/annotations/ (mmaction2), any other folder of
               the root that holds only split files, or such a folder beside the root (optional)
  kinetics*    the official CSV files (label, youtube_id, time_start, time_end, split) in <root> or
               <root>/annotations; videos anywhere under <root>, in folders per class or flat, as
               <youtube_id>_<start:06d>_<end:06d>.<ext> (trimmed) or <youtube_id>.<ext> (untrimmed:
               the clip is read inside [time_start, time_end])
  activitynet  the official JSON (taxonomy, database of videos with annotated segments and subset)
               in <root> or <root>/annotations; videos v_<id>.<ext> or <id>.<ext> anywhere under
               <root>; every annotated segment is one sample
  any name     a .csv manifest (path, label, optional start, end seconds, subset) or a folder per class
  any name     a .txt file with one class name per line: classes only, no videos (labels, overlap)

Classes are in code-point order, as E2E's np.unique gave them, so split s draws E2E's classes.
Annotated videos that are not on disk are counted and listed (VideoSet.missing), never fatal.
Annotation files are read as UTF-8 with or without a byte-order mark, with LF or CRLF line ends
(inputs.py); official test lists name a video by its class folder and file name, and are matched by
both (the folder's case and the extension's aside), never by the file name alone. Annotated segments
that are empty, reversed or negative are left out and recorded (VideoSet.deviations["bad-segments"]):
a run refuses them unless it accepts them (deviations.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..inputs import listdir, read_text, walk
from .rows import read_csv, read_lines, rows_videoset, segment
from .signatures import NONSTANDARD, check_signature, foreign_hint
from .videoset import ANNOTATION_DIRS, VIDEO_EXTS, VideoSet, folder_per_class

# dataset name -> naming rules of text/labels.py
KINDS = {"ucf101": "ucf101", "hmdb51": "hmdb51", "kinetics400": "kinetics", "kinetics600": "kinetics",
         "kinetics700": "kinetics", "activitynet": "activitynet"}


def load_dataset(name: str, root: Path, allow_nonstandard: bool = False) -> VideoSet:
    """The VideoSet of dataset `name` at `root` (all official subsets; see VideoSet.select_subsets).
    A tree (or official annotation file) that does not match the dataset's signature is a one-line
    UserError unless allow_nonstandard (signatures.py)."""
    root = Path(root).expanduser()
    kind = KINDS.get(name, "folder")
    if not root.exists():
        raise UserError(f"dataset '{name}': {root} does not exist; point --data-root {name}=PATH at it")
    if root.is_file():
        if root.suffix == ".txt":   # the user's own lists: no signature
            vs = class_list(name, root, kind)
            vs.layout = f"class list {root.name} (one class a line, no videos)"
            return vs
        if root.suffix == ".csv":
            vs = manifest(name, root, kind)
            vs.layout = f"manifest {root.name} (path,label[,start,end,subset])"
            return vs
        if root.suffix == ".json" and kind == "activitynet":
            return _signed(activitynet(name, root), root, allow_nonstandard)
        raise UserError(f"dataset '{name}': {root} is a file; expected a folder, a .csv manifest "
                        "(path,label[,start,end]) or a .txt class list")
    adapter = {"ucf101": ucf101, "hmdb51": hmdb51, "kinetics": kinetics, "activitynet": activitynet}.get(kind)
    if adapter is None:
        vs = folder_per_class(name, root)
        vs.layout = "<root>/<class>/<video>"
        return vs
    return _signed(adapter(name, root), root, allow_nonstandard)


def _signed(vs: VideoSet, root: Path, allow_nonstandard: bool) -> VideoSet:
    vs.signature = check_signature(vs.name, root, vs.classes, allow_nonstandard)
    if vs.signature.startswith(NONSTANDARD):
        vs.notes.append(vs.signature)
    return vs


def _at(path: Path, root: Path) -> str:
    """`path` as the layout names it: relative to the root, '<root>' itself, or absolute."""
    if path == root:
        return "<root>"
    try:
        return f"<root>/{path.relative_to(root)}"
    except ValueError:
        return str(path) if path.parent != root.parent else f"<root>/../{path.name}"


def _first_dir(candidates, has=lambda d: True) -> Path | None:
    return next((d for d in dict.fromkeys(candidates) if d.is_dir() and has(d)), None)


def _has_class_folders(d: Path) -> bool:
    return any(p.is_dir() and _videos_in(p) for p in listdir(d))


def index_videos(root: Path) -> dict[str, str]:
    """File stem -> path of every video under root, at any depth (first in sorted order wins)."""
    found: dict[str, str] = {}
    for dirpath, _, files in walk(root):
        for f in files:
            stem, ext = os.path.splitext(f)
            if ext.lower() in VIDEO_EXTS:
                found.setdefault(stem, os.path.join(dirpath, f))
    return found


def _videos_in(folder: Path) -> list[Path]:
    return [p for p in listdir(folder) if p.is_file() and p.suffix.lower() in VIDEO_EXTS]


def _entry_key(folder: str, name: str) -> str:
    """How a test list names a video: its class folder (any case) and file name (any case of extension)."""
    stem, ext = os.path.splitext(name)
    return f"{folder.lower()}/{stem}{ext.lower()}"


# ----------------------------------------------------------------------------- folder layouts

def ucf101(name: str, root: Path) -> VideoSet:
    videos = _first_dir([root / "UCF-101", root / "UCF101", root / "videos"], _has_class_folders) or root
    lists = _first_dir([root, root / "ucfTrainTestlist", root / "annotations", videos.parent / "ucfTrainTestlist",
                        videos.parent / "annotations"], lambda d: (d / "classInd.txt").is_file())
    folders = {p.name.lower(): p for p in listdir(videos) if p.is_dir() and p.name not in ANNOTATION_DIRS}
    notes = []
    if lists is None:
        classes = sorted(p.name for p in folders.values())
        notes.append(f"no classInd.txt in {root}, ucfTrainTestlist/ or annotations/: the classes are the folders")
    else:
        classes = []
        for ln in read_lines(lists / "classInd.txt"):
            parts = ln.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise UserError(f"{lists / 'classInd.txt'}: expected '<number> <ClassName>' lines, got '{ln}'")
            classes.append(parts[1])
        classes = sorted(classes)
        extra = sorted(folders[k].name for k in set(folders) - {c.lower() for c in classes})
        if extra:
            notes.append(f"folders not in classInd.txt, ignored: {', '.join(extra[:10])}")
    if not classes:
        raise UserError(f"dataset '{name}': no class folders in {videos} and no classInd.txt"
                        f"{foreign_hint(name, root)}; expected the official UCF-101/<class>/v_<class>_gNN_cNN.avi layout")
    rows = []
    for c in classes:  # folder names match classInd case-insensitively (HandstandPushups, HandStandPushups)
        folder = folders.get(c.lower())
        rows += [(str(p), c, None, None, None) for p in (_videos_in(folder) if folder else [])]
    subsets, missing, absent = {}, [], []
    keys = [_entry_key(Path(r[0]).parent.name, Path(r[0]).name) for r in rows]
    by_name: dict[str, list[str]] = {}
    for k in keys:
        by_name.setdefault(k.split("/", 1)[1], []).append(k)
    by_lower = {c.lower(): c for c in classes}
    for f in sorted(lists.glob("*list0[0-9].txt")) if lists else []:  # trainlist01.txt, testlist01.txt ...
        listed = set()
        for ln in read_lines(f):
            entry = ln.split()[0].replace("\\", "/")
            folder, _, file = entry.rpartition("/")
            if folder:
                listed.add(_entry_key(Path(folder).name, file))
                continue
            stem, ext = os.path.splitext(file)   # no class folder: the file name must name one video
            hits = by_name.get(f"{stem}{ext.lower()}", [])
            if len(hits) > 1:
                raise UserError(f"{f}: '{entry}' names {len(hits)} videos in different class folders; "
                                "write it as <class folder>/<file> as the official lists do")
            listed.add(hits[0] if hits else f"?/{stem}{ext.lower()}")
        subsets[f.stem] = np.array([k in listed for k in keys], dtype=bool)
        not_found = sorted(listed - set(keys))
        if not_found:
            notes.append(f"{f.name}: {len(not_found)} listed videos not on disk")
            missing += [f"{f.name}: {k}" for k in not_found]
            # listed, not on disk: counted by the splits (coverage.py)
            absent += [(k, by_lower.get(k.split("/", 1)[0], k.split("/", 1)[0]), f.stem) for k in not_found]
    vs = rows_videoset(name, videos, "ucf101", classes, rows, subsets, missing=missing, notes=notes,
                       missing_rows=absent)
    vs.layout = _layout(root, videos, lists, "lists", "ucfTrainTestlist")
    return vs


def _layout(root: Path, videos: Path, lists: Path | None, what: str, official: str) -> str:
    """'videos in <root>/UCF-101/<class>/, lists in <root>/ucfTrainTestlist/ (the official archives)'."""
    origin = (" (the official archives)" if lists is not None and lists.name == official else
              " (mmaction2)" if videos.name == "videos" and lists is not None and lists.name == "annotations" else "")
    return (f"videos in {_at(videos, root)}/<class>/, " + (f"{what} in {_at(lists, root)}/" if lists else f"no {what}")
            + origin)


def _split_files(d: Path) -> bool:
    return d.is_dir() and next(d.glob("*_test_split[123].txt"), None) is not None


def hmdb51(name: str, root: Path) -> VideoSet:
    """One folder per class; the official split files (<class>_test_splitN.txt) where present."""
    videos = _first_dir([root / "hmdb51_org", root / "hmdb51", root / "videos"], _has_class_folders) or root
    packed = sorted(p.name for d in (root, root / "hmdb51_org") if d.is_dir() for p in d.glob("*.rar"))
    if not _has_class_folders(videos):
        if packed:
            raise UserError(f"dataset '{name}': {root} holds the class archives ({', '.join(packed[:2])} ...) still "
                            "packed: unpack each (`unrar x`) into its class folder")
        raise UserError(f"dataset '{name}': no class folder with videos in {root}{foreign_hint(name, root)}; "
                        f"expected <class>/<video>.avi in it, in hmdb51_org/ or in videos/")
    # a folder of split files is not a class, whatever its name
    split_dirs = [d for d in listdir(videos) if d.is_dir() and not _videos_in(d)
                  and (_split_files(d) or _split_files(d / "testTrainMulti_7030_splits"))]
    official = "testTrainMulti_7030_splits"
    split_dir = next((d for d in [root / official, root / "test_train_splits" / official, root / "annotations",
                                  *[x for d in split_dirs for x in (d, d / official)], root,
                                  root.parent / official, root.parent / "annotations"] if _split_files(d)), None)
    vs = folder_per_class(name, videos, "hmdb51", ANNOTATION_DIRS | {d.name for d in split_dirs})
    if split_dir is not None:  # <class>_test_splitN.txt: "<video> <0|1|2>": 1 training, 2 testing, 0 unused
        keys = [_entry_key(vs.classes[c], Path(p).name) for p, c in zip(vs.paths, vs.labels)]
        on_disk = set(keys)
        by_lower = {c.lower(): c for c in vs.classes}
        for n in (1, 2, 3):
            tags = {}
            for f in sorted(split_dir.glob(f"*_test_split{n}.txt")):
                cls = f.name[:-len(f"_test_split{n}.txt")]   # the list of that class's videos only
                lines = [ln.split()[:2] for ln in read_lines(f) if len(ln.split()) >= 2]
                tags.update((_entry_key(cls, v), t) for v, t in lines)
                # listed, not on disk: counted by the splits (coverage.py)
                vs.missing_rows += [(f"{cls}/{v}", by_lower.get(cls.lower(), cls), f"{'train' if t == '1' else 'test'}{n}")
                                    for v, t in lines if _entry_key(cls, v) not in on_disk and t in ("1", "2")]
            if tags:
                vs.subsets[f"train{n}"] = np.array([tags.get(k) == "1" for k in keys], dtype=bool)
                vs.subsets[f"test{n}"] = np.array([tags.get(k) == "2" for k in keys], dtype=bool)
    else:
        vs.notes.append(f"no split files (<class>_test_split1.txt) in {root}: no official subsets")
    vs.layout = _layout(root, videos, split_dir, "split files", "testTrainMulti_7030_splits")
    return vs


# ----------------------------------------------------------------------------- annotation files

def _annotation_files(root: Path, suffix: str) -> list[Path]:
    return sorted([*root.glob(f"*{suffix}"), *(root / "annotations").glob(f"*{suffix}")])


def kinetics(name: str, root: Path) -> VideoSet:
    entries, notes, used, bad = [], [], [], []
    for f in _annotation_files(root, ".csv"):
        reader = read_csv(f)
        cols = set(reader.fieldnames or ())
        if not {"youtube_id", "time_start", "time_end"} <= cols:
            continue
        if "label" not in cols:
            notes.append(f"{f.name}: no labels (the unlabelled test set), skipped")
            continue
        used.append(f)
        try:
            for r in reader:
                t0, t1 = int(float(r["time_start"])), int(float(r["time_end"]))
                if segment(t0, t1) is None:
                    bad.append(f"{f.name} line {reader.line_num}: {r['youtube_id']} [{t0}, {t1}]")
                    continue
                entries.append((r["label"].strip(), r["youtube_id"].strip(), t0, t1, (r.get("split") or f.stem).strip()))
        except (ValueError, TypeError, AttributeError) as e:
            raise UserError(f"{f}: line {reader.line_num} does not parse ({e})") from None
    if not entries:
        raise UserError(f"dataset '{name}': no Kinetics annotation CSV (label,youtube_id,time_start,"
                        f"time_end,split) in {root} or {root / 'annotations'}{foreign_hint(name, root)}")
    found = index_videos(root)
    rows, missing, absent = [], [], []
    for label, yid, t0, t1, split in entries:
        clip = f"{yid}_{t0:06d}_{t1:06d}"
        if clip in found:
            rows.append((found[clip], label, None, None, split))
        elif yid in found:  # the full YouTube video: read inside the annotated 10 s
            rows.append((found[yid], label, float(t0), float(t1), split))
        else:
            missing.append(clip)
            absent.append((clip, label, split))
    vs = rows_videoset(name, root, "kinetics", sorted({e[0] for e in entries}), rows, missing=missing, notes=notes,
                       bad_segments=bad, missing_rows=absent)
    untrimmed = sum(r[2] is not None for r in rows)
    vs.layout = (f"annotation CSVs {', '.join(_at(f, root) for f in used)}; videos anywhere under <root>: "
                 f"{len(rows) - untrimmed} trimmed clips <id>_<start>_<end>, {untrimmed} untrimmed <id>")
    return vs


def activitynet(name: str, root: Path) -> VideoSet:
    files = [root] if root.is_file() else _annotation_files(root, ".json")
    root = root.parent if root.is_file() else root
    data = used = None
    for f in files:
        try:
            d = json.loads(read_text(f, "annotation file"))
        except ValueError as e:
            raise UserError(f"{f}: not a readable JSON file ({e})") from None
        if isinstance(d, dict) and {"taxonomy", "database"} <= set(d):
            data, used = d, f
            break
    if data is None:
        raise UserError(f"dataset '{name}': no ActivityNet annotation JSON (with 'taxonomy' and "
                        f"'database', e.g. activity_net.v1-3.min.json) in {root} or {root / 'annotations'}"
                        f"{foreign_hint(name, root)}")
    try:  # the classes are the taxonomy's leaves: nodes nobody names as parent
        parents = {n["parentId"] for n in data["taxonomy"]}
        classes = sorted({n["nodeName"] for n in data["taxonomy"] if n["nodeId"] not in parents})
        videos = {vid: (v["subset"], v.get("annotations", [])) for vid, v in data["database"].items()}
    except (KeyError, TypeError) as e:
        raise UserError(f"dataset '{name}': the annotation JSON lacks field {e}") from None
    known = set(classes)
    found = index_videos(root)
    rows, missing, unknown, bad, absent = [], [], set(), [], []
    for vid, (subset, annots) in videos.items():
        if not isinstance(annots, list) or not all(isinstance(a, dict) for a in annots):
            raise UserError(f"dataset '{name}': video {vid}: 'annotations' must be a list of objects")
        segments = [a for a in annots if a.get("label") in known]
        unknown |= {a.get("label") for a in annots if a.get("label") not in known}
        path = found.get(f"v_{vid}") or found.get(vid)
        if segments and path is None:
            missing.append(f"v_{vid}")
            absent += [(f"v_{vid}@{'-'.join(map(str, a.get('segment') or []))}", a["label"], subset)
                       for a in segments]
        for a in segments if path else []:
            seg = a.get("segment")
            t = segment(*seg) if isinstance(seg, list) and len(seg) == 2 else None
            if t is None:
                bad.append(f"v_{vid} {a['label']} {seg!r}")
                continue
            rows.append((path, a["label"], *t, subset))
    if unknown:
        raise UserError(f"dataset '{name}': annotated labels not in the taxonomy: {', '.join(sorted(map(str, unknown))[:5])}")
    vs = rows_videoset(name, root, "activitynet", classes, rows, missing=missing, bad_segments=bad,
                       missing_rows=absent)
    vs.layout = f"annotation JSON {_at(used, root)}; videos v_<id> or <id> anywhere under <root>"
    return vs


def manifest(name: str, path: Path, kind: str = "folder") -> VideoSet:
    """A CSV with columns path, label and optionally start, end (seconds) and subset.
    Relative paths are relative to the CSV's folder."""
    rows, missing, labels, bad, absent = [], [], set(), [], []
    reader = read_csv(path)
    if not {"path", "label"} <= set(reader.fieldnames or ()):
        raise UserError(f"{path}: a manifest needs a header with columns path,label "
                        "(optional: start,end,subset); Kinetics roots are the folder of the official CSVs")
    try:
        for r in reader:
            p = Path(r["path"].strip()).expanduser()
            p = p if p.is_absolute() else path.parent / p
            label = r["label"].strip()
            t0, t1 = (float(r[k]) if (r.get(k) or "").strip() else None for k in ("start", "end"))
            if (t0 is None) != (t1 is None):
                raise ValueError("give both start and end, or neither")
            labels.add(label)
            subset = (r.get("subset") or "").strip() or None
            if t0 is not None and segment(t0, t1) is None:
                bad.append(f"line {reader.line_num}: {r['path'].strip()} [{t0:g}, {t1:g}]")
            elif p.is_file():
                rows.append((str(p), label, t0, t1, subset))
            else:
                missing.append(str(p))
                absent.append((r["path"].strip(), label, subset))
    except (ValueError, TypeError, AttributeError) as e:
        raise UserError(f"{path}: line {reader.line_num} does not parse ({e})") from None
    return rows_videoset(name, path.parent, kind, sorted(labels), rows, missing=missing, bad_segments=bad,
                         missing_rows=absent)


def class_list(name: str, path: Path, kind: str = "folder") -> VideoSet:
    """Class names only (one per line), no videos: enough for `labels` and `overlap`."""
    classes = sorted(set(read_lines(path)))
    return rows_videoset(name, path.parent, kind, classes, [], notes=[f"{path} lists classes only, no videos"])

