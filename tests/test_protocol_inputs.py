"""Inputs that change what a protocol measures (issue 24, docs/errors.md): each is refused in one
line (exit 2) before any decoding or training, or accepted by name (--accept) and recorded in the
results, marked in the tables. And annotation files read as their authors meant them: a byte-order
mark, CRLF line ends, test lists that name a video by class folder and file."""

import codecs
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_PROTOCOL, run_entry
from real_layouts import build_activitynet, build_hmdb51, build_kinetics, build_ucf101, mp4

from zsarbench.context import RunContext
from zsarbench.data.adapters import load_dataset
from zsarbench.data.synth import ensure_synth
from zsarbench.deviations import class_overlap, settle_videos
from zsarbench.errors import UserError
from zsarbench.prepare import load_data
from zsarbench.protocol import load_protocol

PROTOCOL = """include = "{tiny}"
name = "mine"
{top}
[source]
dataset = "{source}"
remove_overlap_with = {remove}
[target]
dataset = "{target}"
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory, cache_dir):
    """The tiny synthetic source and target as folder-per-class datasets (real mp4 files)."""
    root = ensure_synth(cache_dir, load_protocol(str(TINY_PROTOCOL)).synth)
    dest = tmp_path_factory.mktemp("folders")
    shutil.copytree(root / "kinetics", dest / "src")
    shutil.copytree(root / "ucf", dest / "tgt")
    return dest


def protocol(tmp_path: Path, source="mysrc", target="mytgt", remove='["mytgt"]', top="") -> Path:
    p = tmp_path / "mine.toml"
    p.write_text(PROTOCOL.format(tiny=TINY_PROTOCOL, source=source, target=target, remove=remove, top=top))
    return p


def roots(data: Path, **more) -> list[str]:
    items = {"mysrc": data / "src", "mytgt": data / "tgt", **more}
    return [a for k, v in items.items() for a in ("--data-root", f"{k}={v}")]


def refused(capsys, tmp_path, proto, data, *extra, roots_=None) -> str:
    """`zsarbench run` of `proto`: one line on stderr, exit 2, nothing decoded, trained or written."""
    cache = tmp_path / "cache"
    code, _, err = run_entry(capsys, "run", "rest_tiny", "-p", proto, *(roots_ or roots(data)), "--cache-dir", cache,
                             "--results-dir", tmp_path / "res", *extra)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert not (cache / "frames").exists() and not (cache / "checkpoints").exists(), "no decoding, no training"
    assert not list((tmp_path / "res").rglob("*.json")), "no results"
    return lines[0]


def data_of(proto: Path, data: Path, cache: Path, accept=(), **more):
    ctx = RunContext(cache, cache / "res", log=lambda m: None,
                     data_roots={"mysrc": str(data / "src"), "mytgt": str(data / "tgt"), **more}, accept=tuple(accept))
    return load_data(load_protocol(str(proto)), ctx)


# ----------------------------------------------------------------------------- classes

def test_an_empty_class_folder_is_refused_or_dropped_when_accepted(folders, tmp_path, capsys):
    data = tmp_path / "d"
    shutil.copytree(folders, data)
    (data / "tgt" / "waving_flag").mkdir()                     # a class folder with no video
    proto = protocol(tmp_path)
    line = refused(capsys, tmp_path, proto, data)
    assert "dataset 'mytgt' (target): 1 of its 21 classes have no video: waving_flag" in line
    assert "--accept empty-classes" in line
    d = data_of(proto, data, tmp_path / "cache", ["empty-classes"])
    assert "waving_flag" not in d.target.classes and len(d.target.classes) == 20
    assert d.accepted == {"empty-classes": {"target": ["waving_flag"]}} and d.accept == ["empty-classes"]


def test_a_class_whose_videos_are_all_missing_is_an_empty_class(tmp_path):
    """UCF101's classInd lists Skijet, which has no folder: an empty class of the target."""
    vs = load_dataset("ucf101", build_ucf101(tmp_path / "ucf"), allow_nonstandard=True)
    with pytest.raises(UserError, match=r"1 of its 5 classes have no video: Skijet; .*--accept empty-classes"):
        settle_videos(vs, "target", set())
    kept, accepted = settle_videos(vs, "target", {"empty-classes"})
    assert "Skijet" not in kept.classes and accepted == {"empty-classes": ["Skijet"]}
    assert len(kept) == len(vs) and set(kept.classes) == set(vs.classes) - {"Skijet"}


def test_target_is_source_is_refused_or_recorded(folders, tmp_path, capsys):
    proto = protocol(tmp_path, target="mysrc", remove="[]")
    line = refused(capsys, tmp_path, proto, folders)
    assert "target 'mysrc' is the source dataset: its classes are training classes (not zero-shot)" in line
    assert "--accept class-overlap" in line
    d = data_of(proto, folders, tmp_path / "cache", ["class-overlap"])
    assert "class-overlap" in d.accepted and len(d.accepted["class-overlap"]["source"]) == len(d.seen.classes)


def test_training_classes_left_in_that_are_target_classes_are_refused_or_recorded(folders, tmp_path, capsys):
    proto = protocol(tmp_path, remove="[]")                     # overlap removal forgot the target
    line = refused(capsys, tmp_path, proto, folders)
    assert "9 training classes are target classes (not zero-shot): blinking_circle ~ blinking_circle" in line
    assert "add 'mytgt' to source.remove_overlap_with" in line
    d = data_of(proto, folders, tmp_path / "cache", ["class-overlap"])
    pairs = d.accepted["class-overlap"]["source"]
    assert len(pairs) == 9 and all(a == b for a, b in (p.split(" ~ ") for p in pairs))
    # the protocol's own `accept` does the same (the CLIP-era protocols: Kinetics-400, no removal)
    own = protocol(tmp_path, remove="[]", top='accept = ["class-overlap"]')
    assert data_of(own, folders, tmp_path / "cache").accepted["class-overlap"]["source"] == pairs


def test_class_overlap_compares_names_without_case_or_punctuation_and_by_tau():
    P = load_protocol(str(TINY_PROTOCOL))
    vecs = np.eye(3, dtype=np.float32)
    pairs = class_overlap(P, ["PlayingGuitar", "Archery", "x"], vecs, ["playing_guitar", "bowling"],
                          np.stack([vecs[2], vecs[1]]))
    assert pairs == ["Archery ~ bowling", "PlayingGuitar ~ playing_guitar", "x ~ playing_guitar"]


def test_a_removal_that_leaves_too_few_seen_classes_is_refused(tmp_path, capsys, folders):
    line = refused(capsys, tmp_path, protocol(tmp_path), folders, "--set", "source.tau=2.0")
    assert ("removed 48 of its 48 classes, leaving 0; training and the seen-class cross-validation (folds of 2 "
            "classes or more) need at least 4: lower source.tau") in line
    from zsarbench.deviations import check_seen
    check_seen(load_protocol(str(TINY_PROTOCOL)), 10, 6, 4)
    with pytest.raises(UserError, match="leaving 3; "):
        check_seen(load_protocol(str(TINY_PROTOCOL)), 10, 7, 3)


def test_the_seen_class_cv_never_holds_out_a_single_class():
    """6 seen classes and 5 folds: 5 folds would hold out single classes (top-1 100% whatever the
    point); it uses 3 folds of 2, and says so (cv.folds in the results)."""
    from zsarbench.transfer.cv import cross_validate

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(6, 8))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    labels = np.repeat(np.arange(6), 3)
    cv = cross_validate(vecs, vecs[labels] + 0.3 * rng.normal(size=(18, 8)), labels, [0.0], [1, 2], [1], folds=5,
                        solver="exact")
    assert cv["folds"] == 3 and all(len(g["top1_per_fold"]) == 3 for g in cv["grid"])


def test_a_target_with_fewer_than_two_candidates_per_split_is_refused(folders, tmp_path, capsys):
    data = tmp_path / "d"
    shutil.copytree(folders / "src", data / "src")
    for c in sorted(p.name for p in (folders / "tgt").iterdir())[:3]:   # 3 classes: 0/50 tests 1 per split
        shutil.copytree(folders / "tgt" / c, data / "tgt" / c)
    line = refused(capsys, tmp_path, protocol(tmp_path), data)
    assert "target 'mytgt': 3 classes give splits of 1 candidate class (split 0/50); a split needs at least 2" in line


def test_an_unknown_name_to_accept_is_one_line(capsys, tmp_path):
    code, _, err = run_entry(capsys, "run", "rest_tiny", "-p", TINY_PROTOCOL, "--accept", "empty-class")
    assert code == 2 and "Invalid value for '--accept'" in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- segments

def test_empty_reversed_or_negative_segments_are_refused_or_left_out(tmp_path):
    anet = build_activitynet(tmp_path / "anet")
    j = json.loads((anet / "activity_net.v1-3.min.json").read_text())
    j["database"]["aaa"]["annotations"] += [{"segment": [3.0, 1.5], "label": "Baking cookies"},
                                            {"segment": [-1.0, 2.0], "label": "Baking cookies"},
                                            {"segment": [2.0, 2.0], "label": "Baking cookies"},
                                            {"segment": [None, 2.0], "label": "Baking cookies"}]
    (anet / "activity_net.v1-3.min.json").write_text(json.dumps(j))
    vs = load_dataset("activitynet", anet, allow_nonstandard=True)
    assert len(vs.deviations["bad-segments"]) == 4 and "v_aaa Baking cookies [3.0, 1.5]" in vs.deviations["bad-segments"]
    assert (vs.ends > vs.starts).all() and (vs.starts >= 0).all() and len(vs) == 3
    with pytest.raises(UserError, match=r"4 annotated segments are empty, reversed or negative .*--accept bad-segments"):
        settle_videos(vs, "source", set())
    kept, accepted = settle_videos(vs.subset_classes(["Baking cookies", "Ping-pong"]), "source", {"bad-segments"})
    assert len(accepted["bad-segments"]) == 4 and len(kept) == 3

    kin, _ = build_kinetics(tmp_path / "kin")
    with open(kin / "annotations" / "train.csv", "a", newline="") as f:
        csv.writer(f).writerow(["abseiling", "ytreversed", 12, 4, "train"])
    vs = load_dataset("kinetics700", kin, allow_nonstandard=True)
    assert vs.deviations["bad-segments"] == ["train.csv line 16: ytreversed [12, 4]"]

    man = tmp_path / "m.csv"
    mp4(tmp_path / "v.mp4")
    man.write_text("path,label,start,end\nv.mp4,a,1.0,0.5\nv.mp4,a,0,1\nv.mp4,b,0.2,0.9\n")
    vs = load_dataset("mine", man)
    assert vs.deviations["bad-segments"] == ["line 2: v.mp4 [1, 0.5]"] and len(vs) == 2


def test_a_video_annotated_twice_is_refused_or_kept_once(tmp_path):
    mp4(tmp_path / "v.mp4")
    mp4(tmp_path / "w.mp4", seed=1)
    man = tmp_path / "m.csv"
    man.write_text("path,label,subset\nv.mp4,a,train\nv.mp4,a,train\nw.mp4,b,train\nw.mp4,a,train\nw.mp4,b,test\n")
    vs = load_dataset("mine", man)
    assert vs.deviations["duplicate-videos"] == ["v.mp4 (train) 2 times", "w.mp4 (train) 2 times, as a and b"]
    assert len(vs) == 3, "kept once per subset (the test listing of w.mp4 is another subset's)"
    with pytest.raises(UserError, match=r"2 videos are annotated more than once: .*--accept duplicate-videos"):
        settle_videos(vs, "source", set())
    kept, accepted = settle_videos(vs, "source", {"duplicate-videos"})
    assert len(kept) == 3 and len(accepted["duplicate-videos"]) == 2
    assert [kept.classes[c] for c in kept.labels] == ["a", "b", "b"], "the first row's label"


# ----------------------------------------------------------------------------- test lists, BOM, CRLF

def test_test_lists_match_class_folder_and_file_not_the_name_alone(tmp_path):
    root = build_ucf101(tmp_path / "ucf")
    videos = root / "UCF-101"
    shutil.copy(videos / "YoYo" / "v_YoYo_g02_c01.avi", videos / "PlayingGuitar" / "v_YoYo_g02_c01.avi")  # same name
    (videos / "PlayingGuitar" / "v_PlayingGuitar_g02_c01.avi").rename(videos / "PlayingGuitar" / "v_PlayingGuitar_g02_c01.AVI")
    with open(root / "ucfTrainTestlist" / "testlist01.txt", "a") as f:
        f.write("YoYo/v_YoYo_g09_c01.avi\n")                         # listed, not on disk
    vs = load_dataset("ucf101", root, allow_nonstandard=True)
    test = {str(Path(p).relative_to(videos)) for p, m in zip(vs.paths, vs.subsets["testlist01"]) if m}
    assert "YoYo/v_YoYo_g02_c01.avi" in test and "PlayingGuitar/v_YoYo_g02_c01.avi" not in test
    assert "PlayingGuitar/v_PlayingGuitar_g02_c01.AVI" in test, "the extension's case does not matter"
    assert len(test) == 4 and "testlist01.txt: yoyo/v_YoYo_g09_c01.avi" in vs.missing

    hmdb = build_hmdb51(tmp_path / "hmdb")
    shutil.copy(hmdb / "clap" / "clap_video_1.avi", hmdb / "situp" / "clap_video_1.avi")   # tagged only in clap's file
    vs = load_dataset("hmdb51", hmdb, allow_nonstandard=True)
    tested = {str(Path(p).relative_to(hmdb)) for p, m in zip(vs.paths, vs.subsets["test1"]) if m}
    assert "clap/clap_video_1.avi" in tested and "situp/clap_video_1.avi" not in tested


def _bom_crlf(path: Path) -> None:
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def test_annotations_with_a_byte_order_mark_or_crlf_read_as_without(tmp_path):
    plain = {}
    for name, build in (("kinetics700", lambda p: build_kinetics(p)[0]), ("ucf101", build_ucf101),
                        ("hmdb51", build_hmdb51), ("activitynet", build_activitynet)):
        root = build(tmp_path / "plain" / name)
        plain[name] = load_dataset(name, root, allow_nonstandard=True)
        marked = build(tmp_path / "marked" / name)
        for f in [*marked.rglob("*.csv"), *marked.rglob("*.txt"), *marked.rglob("*.json")]:
            _bom_crlf(f)
        vs = load_dataset(name, marked, allow_nonstandard=True)
        rel = lambda v: [str(Path(p).relative_to(v.root)) for p in v.paths]  # noqa: E731
        assert (vs.classes, rel(vs), vs.labels.tolist()) == (plain[name].classes, rel(plain[name]),
                                                              plain[name].labels.tolist()), name
        assert {k: m.tolist() for k, m in vs.subsets.items()} == {k: m.tolist() for k, m in plain[name].subsets.items()}
    kin = load_dataset("kinetics700", tmp_path / "marked" / "kinetics700", allow_nonstandard=True)
    assert kin.subsets["train"].sum() == plain["kinetics700"].subsets["train"].sum() > 0, "the train CSV is read"
    man = tmp_path / "m.csv"
    mp4(tmp_path / "v.mp4")
    man.write_bytes(codecs.BOM_UTF8 + b"path , Label\r\nv.mp4,a\r\n")
    assert load_dataset("mine", man).classes == ["a"]


def test_annotation_and_protocol_files_that_are_not_utf8_are_one_line(tmp_path, capsys):
    root = build_ucf101(tmp_path / "ucf")
    (root / "ucfTrainTestlist" / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\n2 Caf\xe9\n")
    with pytest.raises(UserError, match=r"classInd.txt is not UTF-8 text \(byte 0xe9 on line 2\): save it as UTF-8"):
        load_dataset("ucf101", root, allow_nonstandard=True)
    p = tmp_path / "p.toml"
    p.write_bytes(f'include = "{TINY_PROTOCOL}"\ndescription = "caf\xe9"\n'.encode("latin-1"))
    code, _, err = run_entry(capsys, "validate", p)
    assert code == 2 and "is not UTF-8 text (byte 0xe9 on line 2)" in err and len(err.strip().splitlines()) == 1
    p.write_bytes(codecs.BOM_UTF8 + f'include = "{TINY_PROTOCOL}"\r\n'.encode())
    assert run_entry(capsys, "validate", p)[0] == 0, "a byte-order mark and CRLF are fine"


# ----------------------------------------------------------------------------- marked in the tables

def test_a_result_that_accepted_a_change_is_marked_in_every_cell():
    from zsarbench.report.cells import Grid, fill, run_cell
    from zsarbench.report.load import Result

    def doc(accepted, seen=("a",), target=("b",)):
        return {"kind": "zsar-run", "method": {"name": "rest18"}, "protocol": {"name": "p"}, "overrides": {},
                "aggregate": {"top1": {"mean": 40.0, "std": 1.0, "n": 3}}, "checkpoint": {"key": str(accepted)},
                "data": {"accepted": accepted, "source": {"seen_classes": list(seen)},
                         "target": {"classes": list(target)}}}

    grid = Grid("t", ["m", "p"], [["rest18", run_cell("p")]])
    assert fill(grid, [Result("p/a.json", doc({}))]).rows == [["rest18", "40.0 ± 1.0"]]
    assert fill(grid, [Result("p/a.json", doc({"empty-classes": {"target": ["x"]}}))]).rows == \
        [["rest18", "40.0 ± 1.0 † empty-classes"]]
    # files from before the record: training classes that are target classes are found in the file
    assert fill(grid, [Result("p/a.json", doc({}, ("Playing_Guitar",), ("playingguitar",)))]).rows == \
        [["rest18", "40.0 ± 1.0 † class-overlap"]]


def test_other_spellings_of_annotations_read_the_same(tmp_path):
    """Windows backslashes in a test list, Kinetics column names in another case with spaces, a video
    extension in upper case, a symbolic link looping back up a Kinetics tree."""
    root = build_ucf101(tmp_path / "ucf")
    lst = root / "ucfTrainTestlist" / "testlist01.txt"
    plain = load_dataset("ucf101", root, allow_nonstandard=True).subsets["testlist01"].tolist()
    lst.write_text(lst.read_text().replace("/", "\\"))
    assert load_dataset("ucf101", root, allow_nonstandard=True).subsets["testlist01"].tolist() == plain

    kin, _ = build_kinetics(tmp_path / "kin")
    before = load_dataset("kinetics700", kin, allow_nonstandard=True)
    f = kin / "annotations" / "train.csv"
    f.write_text(f.read_text().replace("label,youtube_id,time_start,time_end,split",
                                       " Label , YouTube_ID,Time_Start ,time_end, Split"))
    (kin / "train" / "loop").symlink_to(kin, target_is_directory=True)     # a link back up the tree
    mp4(kin / "val" / "yt00000099_000000_000002.MP4")                      # an upper-case extension, unannotated
    after = load_dataset("kinetics700", kin, allow_nonstandard=True)
    assert after.paths == before.paths and after.labels.tolist() == before.labels.tolist()
    assert after.subsets["train"].tolist() == before.subsets["train"].tolist()

    folder = tmp_path / "f"
    mp4(folder / "a" / "x.MP4")
    mp4(folder / "b" / "y.mp4")
    assert [Path(p).name for p in load_dataset("mine", folder).paths] == ["x.MP4", "y.mp4"]
