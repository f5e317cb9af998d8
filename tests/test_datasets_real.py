"""Adapters for the official layouts, dataset roots, `data check`, segment reading, and a complete
`zsarbench run` over miniature copies of Kinetics, UCF101, HMDB51 and ActivityNet."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import needs, run_cli
from real_layouts import (
    FPS,
    HMDB_CLASSES,
    KINETICS_KEPT,
    KINETICS_OVERLAP,
    UCF_CLASSES,
    build_activitynet,
    build_hmdb51,
    build_kinetics,
    build_ucf101,
    hmdb51_as,
    official_classes,
    ucf101_as,
)

from zsarbench.data.adapters import load_dataset
from zsarbench.data.check import check_dataset
from zsarbench.data.roots import dataset_root
from zsarbench.data.video import read_clips
from zsarbench.errors import UserError


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("real")
    kin, missing = build_kinetics(base / "kinetics700")
    return {"ucf101": build_ucf101(base / "ucf101"), "hmdb51": build_hmdb51(base / "hmdb51"),
            "kinetics700": kin, "activitynet": build_activitynet(base / "activitynet"), "missing_clip": missing}


def test_ucf101_layout(roots):
    vs = load_dataset("ucf101", roots["ucf101"], allow_nonstandard=True)
    assert vs.kind == "ucf101" and vs.classes == sorted(UCF_CLASSES), "classInd names, code-point order"
    counts = dict(zip(vs.classes, np.bincount(vs.labels, minlength=len(vs.classes))))
    assert counts == {"ApplyEyeMakeup": 3, "HandstandPushups": 2, "PlayingGuitar": 2, "YoYo": 2, "Skijet": 0}
    assert any("NotAClass" in n for n in vs.notes), "a folder outside classInd.txt is reported"
    test1 = {Path(p).name for p, m in zip(vs.paths, vs.subsets["testlist01"]) if m}
    assert "v_HandStandPushups_g02_c01.avi" in test1 and len(test1) == 4
    assert vs.subsets["trainlist01"].sum() == 4 and vs.starts is None


def test_hmdb51_layout_and_official_splits(roots):
    vs = load_dataset("hmdb51", roots["hmdb51"], allow_nonstandard=True)
    assert vs.kind == "hmdb51" and vs.classes == HMDB_CLASSES and len(vs) == 8
    assert vs.subsets["train1"].sum() == 4 and vs.subsets["test1"].sum() == 4
    assert len(vs.select_subsets(["test1"])) == 4
    with pytest.raises(UserError, match="no subset test9"):
        vs.select_subsets(["test9"])


@pytest.mark.parametrize("videos, splits, layout", [
    (".", "testTrainMulti_7030_splits", "videos in <root>/<class>/, split files in <root>/testTrainMulti_7030_splits/ "
                                        "(the official archives)"),
    ("hmdb51_org", "testTrainMulti_7030_splits", "videos in <root>/hmdb51_org/<class>/, split files in "
                                                 "<root>/testTrainMulti_7030_splits/ (the official archives)"),
    ("videos", "annotations", "videos in <root>/videos/<class>/, split files in <root>/annotations/ (mmaction2)"),
    (".", "test_train_splits/testTrainMulti_7030_splits", "split files in <root>/test_train_splits/testTrainMulti_7030"),
    (".", "splits", "videos in <root>/<class>/, split files in <root>/splits/"),   # not a class
    (".", "my_hmdb_splits", "split files in <root>/my_hmdb_splits/"),
    (".", "../testTrainMulti_7030_splits", "split files in <root>/../testTrainMulti_7030_splits/"),
    (".", ".", "videos in <root>/<class>/, split files in <root>/"),
])
def test_hmdb51_layouts_as_users_have_them(roots, tmp_path, videos, splits, layout):
    root = hmdb51_as(roots["hmdb51"], tmp_path / "data" / "hmdb51", videos, splits)
    vs = load_dataset("hmdb51", root, allow_nonstandard=True)
    assert vs.classes == HMDB_CLASSES and len(vs) == 8, "the split folder is never a class"
    assert vs.subsets["train1"].sum() == 4 and vs.subsets["test1"].sum() == 4, "the split files are read"
    assert layout in vs.layout, vs.layout


def test_hmdb51_packed_class_archives_and_no_split_files(roots, tmp_path):
    (tmp_path / "h" / "hmdb51_org").mkdir(parents=True)
    (tmp_path / "h" / "hmdb51_org" / "brush_hair.rar").write_bytes(b"Rar!")
    with pytest.raises(UserError, match=r"class archives \(brush_hair.rar ...\) still packed"):
        load_dataset("hmdb51", tmp_path / "h")
    root = hmdb51_as(roots["hmdb51"], tmp_path / "bare", ".", "../elsewhere/deeper")
    vs = load_dataset("hmdb51", root, allow_nonstandard=True)
    assert vs.classes == HMDB_CLASSES and not vs.subsets and vs.layout == "videos in <root>/<class>/, no split files"
    assert any("no split files" in n for n in vs.notes)


@pytest.mark.parametrize("where, videos, lists, layout", [
    ("ucf", "UCF-101", "ucfTrainTestlist", "videos in <root>/UCF-101/<class>/, lists in <root>/ucfTrainTestlist/ "
                                           "(the official archives)"),
    ("ucf", "videos", "annotations", "videos in <root>/videos/<class>/, lists in <root>/annotations/ (mmaction2)"),
    ("ucf", ".", ".", "videos in <root>/<class>/, lists in <root>/"),
    ("ucf/UCF-101", ".", "../ucfTrainTestlist", "videos in <root>/<class>/, lists in <root>/../ucfTrainTestlist/"),
])
def test_ucf101_layouts_as_users_have_them(roots, tmp_path, where, videos, lists, layout):
    ucf101_as(roots["ucf101"], tmp_path / "ucf", *((videos, lists) if where == "ucf" else ("UCF-101", "ucfTrainTestlist")))
    vs = load_dataset("ucf101", tmp_path / where, allow_nonstandard=True)
    assert vs.classes == sorted(UCF_CLASSES) and vs.subsets["testlist01"].sum() == 4
    assert layout in vs.layout, vs.layout


def test_official_class_lists_match_their_signature(tmp_path):
    """Trees that hold a dataset's whole public class list (few or no videos) are the dataset; the
    same trees under another dataset's name are refused, naming what they are."""
    lists = {k: official_classes(k) for k in ("ucf101", "hmdb51", "kinetics700", "activitynet200")}
    needs(None not in lists.values(), "no public class lists (shared/ beside the checkout, or $ZSARBENCH_CLASSLISTS)")
    ucf = tmp_path / "ucf101"
    (ucf / "ucfTrainTestlist").mkdir(parents=True)
    (ucf / "ucfTrainTestlist" / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(lists["ucf101"])))
    for i, c in enumerate(lists["ucf101"]):   # a folder per class, videos in three
        (ucf / "UCF-101" / c).mkdir(parents=True)
        if i < 3:
            (ucf / "UCF-101" / c / f"v_{c}_g01_c01.avi").write_bytes(b"")
    hmdb = tmp_path / "hmdb51"
    for c in lists["hmdb51"]:
        (hmdb / c).mkdir(parents=True)
        (hmdb / c / f"{c}_1.avi").write_bytes(b"")
    kin = tmp_path / "k700"
    (kin / "annotations").mkdir(parents=True)
    (kin / "annotations" / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n" + "".join(
        f'"{c}",id{i},0,10,train\n' for i, c in enumerate(lists["kinetics700"])))
    anet = tmp_path / "anet"
    anet.mkdir()
    taxonomy = [{"nodeName": "Root", "nodeId": 0, "parentId": None}] + [
        {"nodeName": c, "nodeId": i + 1, "parentId": 0} for i, c in enumerate(lists["activitynet200"])]
    (anet / "activity_net.v1-3.min.json").write_text(json.dumps({"taxonomy": taxonomy, "database": {}}))
    expect = {"ucf101": (ucf, "UCF101: 101 classes"), "hmdb51": (hmdb, "HMDB51: 51 classes"),
              "kinetics700": (kin, "Kinetics-700: 700 classes"), "activitynet": (anet, "ActivityNet v1.3: 200 classes")}
    for name, (root, verdict) in expect.items():
        assert load_dataset(name, root).signature == verdict
    with pytest.raises(UserError, match="ucf101 root .* holds 51 classes like 'brush_hair' — an HMDB51 tree?"):
        load_dataset("ucf101", hmdb)
    with pytest.raises(UserError, match="dataset 'hmdb51': no class folder with videos in .* — a UCF101 tree?"):
        load_dataset("hmdb51", ucf)
    with pytest.raises(UserError, match="hmdb51 root .* holds 101 classes like 'ApplyEyeMakeup' — a UCF101 tree?"):
        load_dataset("hmdb51", ucf / "UCF-101")
    with pytest.raises(UserError, match="kinetics400 root .* holds 700 classes like 'abseiling' — a Kinetics-700 tree?"):
        load_dataset("kinetics400", kin)


def test_kinetics_csv_both_layouts_untrimmed_and_missing(roots):
    vs = load_dataset("kinetics700", roots["kinetics700"], allow_nonstandard=True)
    assert vs.kind == "kinetics" and vs.classes == sorted(KINETICS_KEPT + KINETICS_OVERLAP)
    assert vs.missing == [roots["missing_clip"]], "missing videos are listed, not fatal"
    assert len(vs) == 3 * 7 - 1
    assert vs.subsets["train"].sum() == 2 * 7 - 1 and vs.subsets["val"].sum() == 7
    assert any("test.csv" in n for n in vs.notes), "the unlabelled test CSV is skipped, and said so"
    [full] = [i for i, p in enumerate(vs.paths) if "/full/" in p]
    assert vs.window(full) == (10.0, 12.0) and vs.window(0 if full else 1) is None
    assert any("/val/" in p for p in vs.paths) and any("/train/" in p for p in vs.paths)
    train = vs.select_subsets(["train"])
    assert train.window(int(np.flatnonzero(["/full/" in p for p in train.paths])[0])) == (10.0, 12.0)


def test_activitynet_taxonomy_leaves_and_segments(roots):
    vs = load_dataset("activitynet", roots["activitynet"], allow_nonstandard=True)
    assert vs.kind == "activitynet"
    assert vs.classes == ["Baking cookies", "Mooping floor", "Ping-pong", "Playing flauta"], "the leaves"
    assert len(vs) == 3 and len(set(vs.paths)) == 2, "every annotated segment is one sample"
    assert [vs.window(i) for i in range(3)] == [(0.5, 1.5), (3.0, 4.5), (1.0, 4.0)]
    assert vs.missing == ["v_ccc"]
    assert vs.subsets["training"].sum() == 2 and vs.subsets["validation"].sum() == 1


def test_clips_are_read_inside_the_segment(roots):
    """Brightness encodes the frame index: 2 t + 8, so a segment [3.0, 4.5] s at 8 fps holds 56..80."""
    path = str(roots["activitynet"] / "videos" / "v_aaa.mp4")
    lo, hi = 3.0 * FPS, 4.5 * FPS
    for rng in (None, np.random.default_rng(0)):
        clips = read_clips(path, frames=4, stride=2, n_clips=3, rng=rng, window=(3.0, 4.5))
        t = (clips.mean(axis=(2, 3, 4)) - 10.5) / 2     # mean texture is 2.5
        assert t.min() >= lo - 1 and t.max() <= hi + 1, t
    whole = read_clips(path, frames=4, stride=2, n_clips=3)
    assert (whole.mean(axis=(2, 3, 4)) - 10.5).min() / 2 < lo - 10


def test_manifest_and_class_list(tmp_path, roots):
    clip = roots["activitynet"] / "videos" / "v_bbb.mp4"
    (tmp_path / "m.csv").write_text(f"path,label,start,end\n{clip},serve,1,2\n"
                                    f"nope.mp4,return,,\n{clip},return,,\n")
    vs = load_dataset("mine", tmp_path / "m.csv")
    assert vs.classes == ["return", "serve"] and len(vs) == 2
    assert vs.window(0) == (1.0, 2.0) and vs.window(1) is None
    assert vs.missing == [str(tmp_path / "nope.mp4")]
    (tmp_path / "bad.csv").write_text("file,class\nx,y\n")
    with pytest.raises(UserError, match="path,label"):
        load_dataset("mine", tmp_path / "bad.csv")
    (tmp_path / "ucf.txt").write_text("YoYo\nApplyEyeMakeup\n")
    vs = load_dataset("ucf101", tmp_path / "ucf.txt")
    assert vs.classes == ["ApplyEyeMakeup", "YoYo"] and vs.kind == "ucf101" and len(vs) == 0


@pytest.mark.parametrize("builder, message", [
    (lambda p: p.mkdir(), "no Kinetics annotation CSV"),
    (lambda p: (p.mkdir(), (p / "train.csv").write_text("label,youtube_id,time_start,time_end,split\na,b,x,1,train\n")),
     "line 2 does not parse"),
])
def test_kinetics_layout_errors(tmp_path, builder, message):
    builder(tmp_path / "k")
    with pytest.raises(UserError, match=message):
        load_dataset("kinetics400", tmp_path / "k")


def test_activitynet_json_errors(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_text("{not json")
    with pytest.raises(UserError, match="not a readable JSON"):
        load_dataset("activitynet", tmp_path / "a")
    (tmp_path / "a" / "x.json").write_text('{"database": {}}')
    with pytest.raises(UserError, match="no ActivityNet annotation JSON"):
        load_dataset("activitynet", tmp_path / "a")


def test_root_resolution_order(tmp_path, monkeypatch):
    cfg = tmp_path / "datasets.toml"
    cfg.write_text('ucf101 = "data/ucf"\nhmdb51 = "/abs/hmdb"\n')
    monkeypatch.setenv("ZSARBENCH_CONFIG", str(cfg))
    monkeypatch.setenv("ZSARBENCH_DATA_HMDB51", "/env/hmdb")
    assert dataset_root("ucf101") == (tmp_path / "data" / "ucf", str(cfg))
    assert dataset_root("hmdb51") == (Path("/env/hmdb"), "$ZSARBENCH_DATA_HMDB51")
    assert dataset_root("hmdb51", {"hmdb51": "/cli"}) == (Path("/cli"), "--data-root")
    with pytest.raises(UserError, match="--data-root kinetics700=PATH.*ZSARBENCH_DATA_KINETICS700.*datasets.toml"):
        dataset_root("kinetics700")


def test_data_check_cli(roots, tmp_path):
    r = run_cli("data", "check", "ucf101", "--data-root", f"ucf101={roots['ucf101']}", "--results-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "5 classes, 9 videos" in r.stdout and "classes without videos: 1: Skijet" in r.stdout
    assert ("layout: videos in <root>/UCF-101/<class>/, lists in <root>/ucfTrainTestlist/ (the official archives)"
            in r.stdout)
    assert "signature: does not match (runs refuse this root without --allow-nonstandard): ucf101 root" in r.stdout
    assert "holds 5 classes like 'ApplyEyeMakeup', not the 101 of UCF101" in r.stdout
    assert "unreadable videos: 1 of 9 opened" in r.stdout and "v_ApplyEyeMakeup_g03_c01.avi" in r.stdout
    assert "trainlist01 4, testlist01 4" in r.stdout or "testlist01 4, trainlist01 4" in r.stdout
    [report] = (tmp_path / "data-check").glob("ucf101-*.json")
    rep = json.loads(report.read_text())
    assert rep["videos_per_class"]["HandstandPushups"] == 2 and len(rep["unreadable"]) == 1
    assert f"digest: classes {rep['digest']['classes']}, videos {rep['digest']['videos']}" in r.stdout
    rep = check_dataset(load_dataset("kinetics700", roots["kinetics700"], allow_nonstandard=True))
    assert rep["missing_videos"] == [roots["missing_clip"]] and rep["probed"] == 20 and not rep["unreadable"]
    assert rep["n_files"] == 20 and rep["segments"], "the untrimmed video is read inside its window"
    r = run_cli("data", "check", "hmdb51", env={"ZSARBENCH_CONFIG": str(tmp_path / "none.toml")})
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: no root for dataset 'hmdb51': pass --data-root hmdb51=PATH, set ZSARBENCH_DATA_HMDB51, "
        f"or add the line `hmdb51 = \"PATH\"` to {tmp_path / 'none.toml'}"]


MINI = """include = "_real.toml"   # the shipped one, by name
[source]
dataset = "kinetics700"
subsets = ["train"]
remove_overlap_with = ["ucf101", "hmdb51", "activitynet"]
[target]
dataset = "{target}"
split = "{split}"
n_splits = 2
[embedding]
name = "glove-6b-50d"
[recipe]
frames = 2
stride = 2
resize = 0
crop = 32
test_clips = 2
batch_size = 4
warmup_epochs = 1
joint_epochs = 1
workers = 0
[transfer]
cv_folds = 2
theta = [0.0]
K = [1, 2]
rho = [1]
"""


@pytest.mark.train
def test_complete_run_trains_once_for_two_targets(roots, tmp_path, cache_dir):
    """Kinetics (K605-style removal) -> UCF101 0/100 and HMDB51 0/50 in one call: one training."""

    for name, target, split in (("mini-ucf", "ucf101", "0/100"), ("mini-hmdb", "hmdb51", "0/50")):
        (tmp_path / f"{name}.toml").write_text(MINI.format(target=target, split=split))
    res_dir = tmp_path / "results"
    r = run_cli("run", "rest_tiny", "-p", f"{tmp_path / 'mini-ucf.toml'},{tmp_path / 'mini-hmdb.toml'}",
                "--cache-dir", str(cache_dir), "--results-dir", str(res_dir), "--allow-nonstandard",  # miniatures
                "--accept", "empty-classes",   # UCF101's Skijet (in classInd.txt) has no videos: dropped, recorded
                *[f"--data-root={k}={roots[k]}" for k in ("kinetics700", "ucf101", "hmdb51", "activitynet")])
    assert r.returncode == 0, r.stderr[-3000:]
    ucf = json.loads(next((res_dir / "mini-ucf").glob("*.json")).read_text())
    hmdb = json.loads(next((res_dir / "mini-hmdb").glob("*.json")).read_text())
    src = ucf["data"]["source"]
    removed = {x["source"]: (x["nearest_target"], x["target_dataset"]) for x in src["overlap_removed"]}
    assert removed == {"playing guitar": ("PlayingGuitar", "ucf101"), "brushing hair": ("brush_hair", "hmdb51"),
                       "baking cookies": ("Baking cookies", "activitynet")}
    assert src["seen_classes"] == KINETICS_KEPT and src["n_train_videos"] == 7, "train subset of kept classes"
    assert src["missing_videos"] == [roots["missing_clip"]]
    assert ucf["checkpoint"]["reused"] is False and hmdb["checkpoint"]["reused"] is True
    assert ucf["checkpoint"]["key"] == hmdb["checkpoint"]["key"]
    assert len(ucf["splits"]) == 1 and len(ucf["splits"][0]["unseen_classes"]) == 4
    assert ucf["data"]["accepted"] == {"empty-classes": {"target": ["Skijet"]}} and hmdb["data"]["accepted"] == {}
    assert ucf["data"]["skipped_videos"] == [str(roots["ucf101"] / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g03_c01.avi")]
    assert [len(s["unseen_classes"]) for s in hmdb["splits"]] == [2, 2] and hmdb["data"]["target"]["n_evaluated"] == 8
    assert ucf["data"]["allow_nonstandard"] is True
    assert ucf["data"]["target"]["signature"].startswith("nonstandard (--allow-nonstandard): ucf101 root")
    assert src["signature"].startswith("nonstandard") and "not the 700 of Kinetics-700" in src["signature"]
    rep = check_dataset(load_dataset("ucf101", roots["ucf101"], allow_nonstandard=True))
    assert ucf["data"]["target"]["digest"] == {**rep["digest"]} and rep["digest"]["n_classes"] == 5, "data check's"
    assert hmdb["data"]["target"]["layout"].endswith("(the official archives)")


def test_data_check_sample_opens_n_videos_per_class(roots):
    vs = load_dataset("ucf101", roots["ucf101"], allow_nonstandard=True)   # 4 classes with videos, 2-3 each
    full = check_dataset(vs)
    one = check_dataset(vs, per_class=1, workers=2)
    assert full["probed"] == len(set(vs.paths)) and full["sample_per_class"] is None
    assert one["probed"] == 4 and one["sample_per_class"] == 1      # one video of each class with videos
    opened = {u["path"] for u in one["unreadable"]}
    assert opened <= {u["path"] for u in full["unreadable"]}
    assert check_dataset(vs, per_class=5)["probed"] == full["probed"]  # N above every class's count: all
