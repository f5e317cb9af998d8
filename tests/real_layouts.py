"""Miniature copies of the official dataset layouts, with real video files, for the tests.

UCF101 and HMDB51 ship MPEG-4 Part 2 AVI files (as the originals); Kinetics and ActivityNet
ship H.264 mp4 (zsarbench.data.synth.write_mp4). Frame t of every video has brightness 2 * t + 8,
so a test can tell which frames a reader returned."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np

from zsarbench.data.synth import write_mp4
from zsarbench.data.video import write_video

SIZE, FPS = 40, 8
# The public class lists (shared/ beside the checkout, or $ZSARBENCH_CLASSLISTS): read, never copied.
CLASSLISTS = Path(os.environ.get("ZSARBENCH_CLASSLISTS")
                  or Path(__file__).resolve().parents[2] / "shared" / "data" / "classlists")


def frames(n: int, seed: int) -> np.ndarray:
    """n frames: brightness 2 * t + 8 plus a seeded texture (so videos differ)."""
    tex = np.random.default_rng(seed).integers(0, 6, (SIZE, SIZE, 3))
    return np.stack([np.clip(2 * t + 8 + tex, 0, 255) for t in range(n)]).astype(np.uint8)


def write_avi(path: Path, video: np.ndarray, fps: int = FPS) -> None:
    write_video(path, video, fps, codec="mpeg4", format="avi")


def mp4(path: Path, n: int = 16, seed: int = 0) -> None:
    write_mp4(path, frames(n, seed), FPS)


UCF_CLASSES = ["ApplyEyeMakeup", "HandstandPushups", "PlayingGuitar", "YoYo", "Skijet"]  # Skijet: no videos
HMDB_CLASSES = ["brush_hair", "clap", "ride_bike", "situp"]
KINETICS_KEPT = ["abseiling", "feeding birds", "folding paper", "milking cow"]
KINETICS_OVERLAP = ["playing guitar", "brushing hair", "baking cookies"]  # UCF101, HMDB51, ActivityNet


def build_ucf101(root: Path) -> Path:
    """UCF-101/<class>/v_<class>_gNN_cNN.avi + ucfTrainTestlist/ beside it, as the archives unpack.
    The HandstandPushups folder uses the files' spelling (HandStandPushups), Skijet has no folder,
    one file is not a video, and one folder is not in classInd.txt."""
    videos, lists = root / "UCF-101", root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(sorted(UCF_CLASSES, key=str.lower))))
    train, test = [], []
    for ci, c in enumerate(UCF_CLASSES[:4]):
        folder = "HandStandPushups" if c == "HandstandPushups" else c
        for g in (1, 2):
            name = f"v_{folder}_g0{g}_c01.avi"
            write_avi(videos / folder / name, frames(16, 100 + 10 * ci + g))
            (train if g == 1 else test).append(f"{folder}/{name}")
    (videos / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g03_c01.avi").write_bytes(b"not a video")
    write_avi(videos / "NotAClass" / "v_NotAClass_g01_c01.avi", frames(16, 1))
    (lists / "trainlist01.txt").write_text("".join(f"{p} 1\n" for p in train))
    (lists / "testlist01.txt").write_text("".join(f"{p}\n" for p in test))
    return root


def build_hmdb51(root: Path) -> Path:
    """<class>/<video>.avi with the official split files inside the root."""
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for ci, c in enumerate(HMDB_CLASSES):
        names = [f"{c}_video_{k}.avi" for k in range(2)]
        for k, name in enumerate(names):
            write_avi(root / c / name, frames(16, 200 + 10 * ci + k))
        (splits / f"{c}_test_split1.txt").write_text(f"{names[0]} 1 \n{names[1]} 2 \n")
    return root


def build_kinetics(root: Path) -> tuple[Path, str]:
    """annotations/{train,validate,test}.csv; train clips in folders per class, validation clips
    flat; one untrimmed video (<youtube_id>.mp4, read inside its window); one clip missing.
    Returns the root and the id of the missing clip."""
    (root / "annotations").mkdir(parents=True)
    rows, n = [], 0
    for c in KINETICS_KEPT + KINETICS_OVERLAP:
        for k in range(3):
            n += 1
            rows.append((c, f"yt{n:08d}", 10 * k, 10 * k + 2, "train" if k < 2 else "val"))
    with open(root / "annotations" / "train.csv", "w", newline="") as f, \
            open(root / "annotations" / "validate.csv", "w", newline="") as g:
        wt, wv = csv.writer(f), csv.writer(g)
        for w in (wt, wv):
            w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        for r in rows:
            (wt if r[4] == "train" else wv).writerow(r)
    (root / "annotations" / "test.csv").write_text("youtube_id,time_start,time_end,split\nzz,0,10,test\n")
    for i, (label, yid, t0, t1, split) in enumerate(rows):
        clip = f"{yid}_{t0:06d}_{t1:06d}.mp4"
        if i == 1:
            mp4(root / "full" / f"{yid}.mp4", n=12 * FPS + 8, seed=i)  # untrimmed: window 10-12 s
        elif i == 4:
            continue  # missing
        elif split == "train":
            mp4(root / "train" / label.replace(" ", "_") / clip, seed=i)
        else:
            mp4(root / "val" / clip, seed=i)
    return root, f"{rows[4][1]}_{rows[4][2]:06d}_{rows[4][3]:06d}"


ANET_TAXONOMY = [  # a root, two inner nodes and four leaves (the classes)
    ("Root", 0, None, None), ("Sports", 1, "Root", 0), ("Household", 2, "Root", 0),
    ("Baking cookies", 3, "Household", 2), ("Mooping floor", 4, "Household", 2),
    ("Playing flauta", 5, "Sports", 1), ("Ping-pong", 6, "Sports", 1),
]


def build_activitynet(root: Path) -> Path:
    """activity_net.v1-3.min.json and v_<id>.mp4 untrimmed videos (5 s each)."""
    database = {
        "aaa": {"subset": "training", "duration": 5.0, "annotations": [
            {"segment": [0.5, 1.5], "label": "Baking cookies"}, {"segment": [3.0, 4.5], "label": "Baking cookies"}]},
        "bbb": {"subset": "validation", "duration": 5.0, "annotations": [{"segment": [1.0, 4.0], "label": "Ping-pong"}]},
        "ccc": {"subset": "training", "duration": 5.0, "annotations": [{"segment": [0.0, 2.0], "label": "Mooping floor"}]},
        "ddd": {"subset": "testing", "duration": 5.0, "annotations": []},
    }
    taxonomy = [{"nodeName": n, "nodeId": i, "parentName": pn, "parentId": pi} for n, i, pn, pi in ANET_TAXONOMY]
    root.mkdir(parents=True)
    (root / "activity_net.v1-3.min.json").write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": taxonomy,
                                                                  "database": database}))
    for i, vid in enumerate(["aaa", "bbb", "ddd"]):  # ccc is missing
        mp4(root / "videos" / f"v_{vid}.mp4", n=5 * FPS, seed=300 + i)
    return root


def hmdb51_as(src: Path, root: Path, videos: str = ".", splits: str = "testTrainMulti_7030_splits") -> Path:
    """build_hmdb51's tree laid out another way: the class folders in root/<videos>, the split files
    in root/<splits> (may be '../x': beside the root)."""
    for c in HMDB_CLASSES:
        shutil.copytree(src / c, root / videos / c)
    for f in (src / "testTrainMulti_7030_splits").iterdir():
        (root / splits).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, root / splits / f.name)
    return root


def ucf101_as(src: Path, root: Path, videos: str = "UCF-101", lists: str = "ucfTrainTestlist") -> Path:
    """build_ucf101's tree laid out another way: the class folders in root/<videos>, classInd.txt and
    the split lists in root/<lists>."""
    shutil.copytree(src / "UCF-101", root / videos, dirs_exist_ok=True)
    (root / lists).mkdir(parents=True, exist_ok=True)
    for f in (src / "ucfTrainTestlist").iterdir():
        shutil.copy(f, root / lists / f.name)
    return root


def official_classes(kind: str) -> list[str] | None:
    """The public class list of ucf101 | hmdb51 | kinetics700 | activitynet200, None where absent."""
    path = CLASSLISTS / f"{kind}.txt"
    return [c for c in path.read_text().splitlines() if c] if path.is_file() else None


# ----------------------------------------------------------------------------- the CLIP-era protocols

def build_ucf101_official(root: Path) -> Path:
    """build_ucf101 with the three official splits (train/testlist01-03.txt): split 2 swaps split 1's
    train and test groups, split 3 tests every readable video, so each split's test list differs."""
    build_ucf101(root)
    lists = root / "ucfTrainTestlist"
    test1 = (lists / "testlist01.txt").read_text().split()
    train1 = [ln.split()[0] for ln in (lists / "trainlist01.txt").read_text().splitlines()]
    (lists / "testlist02.txt").write_text("".join(f"{p}\n" for p in train1))
    (lists / "trainlist02.txt").write_text("".join(f"{p} 1\n" for p in test1))
    (lists / "testlist03.txt").write_text("".join(f"{p}\n" for p in sorted(train1 + test1)))
    (lists / "trainlist03.txt").write_text("")
    return root


def build_hmdb51_official(root: Path) -> Path:
    """build_hmdb51 with <class>_test_split2/3.txt: split 2 swaps split 1's tags, split 3 tests video 0
    and leaves video 1 unused (0)."""
    build_hmdb51(root)
    splits = root / "testTrainMulti_7030_splits"
    for c in HMDB_CLASSES:
        v0, v1 = f"{c}_video_0.avi", f"{c}_video_1.avi"
        (splits / f"{c}_test_split2.txt").write_text(f"{v0} 2 \n{v1} 1 \n")
        (splits / f"{c}_test_split3.txt").write_text(f"{v0} 2 \n{v1} 0 \n")
    return root


# A few of Elaborative Rehearsal's pinned Kinetics-600 classes (zsarbench/protocols/_k600zs-split*.toml): test
# classes of every split, of two splits, and a validation class of split 1, plus a Kinetics-400 class.
K600_TEST_CLASSES = ["arguing", "backflip (human)", "base jumping", "acting in play", "adjusting glasses"]
K600_OTHER_CLASSES = ["alligator wrestling", "abseiling"]


def build_kinetics600(root: Path, per_class: int = 2) -> Path:
    """annotations/test.csv with labels (Kinetics-600's test set as released with labels) and trimmed
    clips flat in test/."""
    (root / "annotations").mkdir(parents=True)
    rows = [(c, f"k6{ci:02d}{k:06d}", 0, 2, "test") for ci, c in enumerate(K600_TEST_CLASSES + K600_OTHER_CLASSES)
            for k in range(per_class)]
    with open(root / "annotations" / "test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        w.writerows(rows)
    for i, (_, yid, t0, t1, _) in enumerate(rows):
        mp4(root / "test" / f"{yid}_{t0:06d}_{t1:06d}.mp4", seed=600 + i)
    return root


# ----------------------------------------------------------------------------- Kinetics-scale trees of links

def build_scale_trees(base: Path, kinetics_rows: int = 545_000, ucf_videos: int = 13_320,
                      hmdb_videos: int = 6_766) -> dict[str, Path]:
    """Kinetics-700 (train.csv of `kinetics_rows` rows with the real class names, every clip a link to
    one 10 s 340x256 H.264 mp4), UCF101 (13,320 links to one 320x240 MPEG-4 AVI, classInd and split 1)
    and HMDB51 (6,766 links, split files) at their real sizes: the index, label and sampling code sees
    the real counts while the disk holds two videos (issue 27's simulation of a cluster user)."""
    from zsarbench.data.video import write_video

    src = base / "sources"
    src.mkdir(parents=True)
    yy, xx = np.mgrid[0:256, 0:340]

    def waves(n, h, w):
        for t in range(n):
            img = np.stack([127 + 120 * np.sin(xx[:h, :w] / (17 + 5 * k) + yy[:h, :w] / (23 + 3 * k) + 0.1 * t * (k + 1))
                            for k in range(3)], -1)
            yield img.astype(np.uint8)
    write_video(src / "k.mp4", waves(250, 256, 340), 25, options={"crf": "23", "preset": "veryfast"})
    write_video(src / "u.avi", waves(250, 240, 320), 25, codec="mpeg4", options={"qscale": "4"})
    roots = {}
    classes = official_classes("kinetics700")
    k = base / "kinetics700"
    (k / "annotations").mkdir(parents=True)
    with open(k / "annotations" / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        for i in range(kinetics_rows):
            label = classes[i % len(classes)]
            yid = f"k{i:010d}"
            w.writerow([label, yid, 0, 10, "train"])
            folder = k / "train" / label.replace(" ", "_")
            if i < len(classes):
                folder.mkdir(parents=True)
            os.symlink(src / "k.mp4", folder / f"{yid}_000000_000010.mp4")
    roots["kinetics700"] = k
    ucf, lists = base / "ucf101" / "UCF-101", base / "ucf101" / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    uc = official_classes("ucf101")
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(uc)))
    train, test = [], []
    for i in range(ucf_videos):
        c = uc[i % len(uc)]
        g, n = divmod(i // len(uc), 4)
        name = f"v_{c}_g{g + 1:02d}_c{n + 1:02d}.avi"
        (ucf / c).mkdir(parents=True, exist_ok=True)
        os.symlink(src / "u.avi", ucf / c / name)
        (test if g < 7 else train).append(f"{c}/{name}")
    (lists / "trainlist01.txt").write_text("".join(f"{p} 1\n" for p in train))
    (lists / "testlist01.txt").write_text("".join(f"{p}\n" for p in test))
    roots["ucf101"] = base / "ucf101"
    h = base / "hmdb51"
    splits = h / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    hc = official_classes("hmdb51")
    per = {c: [] for c in hc}
    for i in range(hmdb_videos):
        c = hc[i % len(hc)]
        name = f"{c}_video_{i // len(hc)}.avi"
        (h / c).mkdir(exist_ok=True)
        os.symlink(src / "u.avi", h / c / name)
        per[c].append(name)
    for c, names in per.items():
        (splits / f"{c}_test_split1.txt").write_text("".join(f"{n} {1 if j % 10 < 7 else 2} \n" for j, n in enumerate(names)))
    roots["hmdb51"] = h
    return roots
