"""The CLIP-era protocols (ucf101-k400-full, hmdb51-k400-full, kinetics600-zs*) on miniature official
trees: official test lists per split, pinned class names, the candidate-set switch, end to end."""

import json

import numpy as np
import pytest
from helpers import run_cli
from real_layouts import (
    K600_TEST_CLASSES,
    build_hmdb51_official,
    build_kinetics,
    build_kinetics600,
    build_ucf101_official,
)

from zsarbench.data.adapters import load_dataset
from zsarbench.data.pinned import pin_target
from zsarbench.errors import UserError
from zsarbench.protocol import load_protocol


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("clip-era")
    return {"ucf101": build_ucf101_official(base / "ucf101"), "hmdb51": build_hmdb51_official(base / "hmdb51"),
            "kinetics400": build_kinetics(base / "kinetics400")[0], "kinetics600": build_kinetics600(base / "kinetics600")}


def test_official_splits_are_all_classes_on_each_test_list():
    for name, subsets in (("ucf101-k400-full", ["testlist01", "testlist02", "testlist03"]),
                          ("hmdb51-k400-full", ["test1", "test2", "test3"])):
        P = load_protocol(name)
        assert P.source.dataset == "kinetics400" and P.source.remove_overlap_with == []
        assert P.target.split_subsets == subsets and P.splits(7) == [list(range(7))] * 3


def test_split_fields_go_together():
    with pytest.raises(UserError, match="split_subsets .* goes with target.split = \"official\""):
        load_protocol("ucf101-k400-full", {"target": {"split": "0/50"}})
    with pytest.raises(UserError, match="n_splits 2 must equal the 3 target.split_subsets"):
        load_protocol("ucf101-k400-full", {"target": {"n_splits": 2}})
    with pytest.raises(UserError, match="classes both test and val: arguing"):
        load_protocol("kinetics600-zs-1", {"target": {"pinned": {"split1": {"val": ["arguing"]}}}})


def test_pinned_classes_missing_from_the_annotations(roots):
    P = load_protocol("kinetics600-zs-1")
    vs = load_dataset("kinetics600", roots["kinetics600"], allow_nonstandard=True).select_subsets(["test"])
    with pytest.raises(UserError, match=r"kinetics600': 214 of the protocol's 220 pinned classes are not in its "
                                        r"annotations \(archaeological excavation,"):
        pin_target(vs, P.target, allow_nonstandard=False)
    pinned = pin_target(vs, P.target, allow_nonstandard=True)
    # the val class of split 1 is a class (a candidate under candidates = "all") without test videos
    assert pinned.classes == sorted([*K600_TEST_CLASSES, "alligator wrestling"])
    assert len(pinned) == 2 * len(K600_TEST_CLASSES) and len(pinned.pinned_missing) == 214
    assert {pinned.classes[i] for i in P.splits(len(pinned.classes), pinned.classes)[0]} == set(K600_TEST_CLASSES)


SMALL_RECIPE = ["--set", "recipe.frames=2", "--set", "recipe.stride=2", "--set", "recipe.resize=0", "--set", "recipe.crop=32",
        "--set", "recipe.test_clips=2", "--set", "recipe.batch_size=4", "--set", "recipe.warmup_epochs=1",
        "--set", "recipe.joint_epochs=1", "--set", "recipe.workers=0", "--set", "transfer.cv_folds=2",
        "--set", "transfer.theta=[0.0]", "--set", "transfer.K=[1,2]", "--set", "transfer.rho=[1]",
        "--embedding", "glove-6b-50d", "--device", "cpu", "--allow-nonstandard",   # miniatures
        "--accept", "empty-classes"]   # the UCF101 miniature's Skijet is in classInd.txt without videos: dropped


@pytest.mark.train
def test_each_new_protocol_runs_on_the_miniature_trees(roots, tmp_path, cache_dir):
    """One training on Kinetics-400 serves all four protocols; each split scores its own test list or
    its own pinned classes; target.candidates = all adds split 1's validation class as a candidate."""
    res = tmp_path / "results"
    common = [*SMALL_RECIPE, "--cache-dir", str(cache_dir), "--results-dir", str(res),
              *[f"--data-root={k}={v}" for k, v in roots.items()]]
    r = run_cli("run", "rest_tiny", "-p", "ucf101-k400-full,hmdb51-k400-full,kinetics600-zs,kinetics600-zs-2", *common)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = {p: json.loads(next((res / p).glob("*.json")).read_text())
           for p in ("ucf101-k400-full", "hmdb51-k400-full", "kinetics600-zs", "kinetics600-zs-2")}
    assert [s["n_videos"] for s in doc["ucf101-k400-full"]["splits"]] == [4, 4, 8]   # testlist01-03
    assert [len(s["unseen_classes"]) for s in doc["ucf101-k400-full"]["splits"]] == [4, 4, 4]   # Skijet dropped
    assert doc["ucf101-k400-full"]["data"]["accepted"]["empty-classes"] == {"target": ["Skijet"]}
    assert "class-overlap" in doc["ucf101-k400-full"]["data"]["accept"], "the K400 protocols accept it themselves"
    assert [s["n_videos"] for s in doc["hmdb51-k400-full"]["splits"]] == [4, 4, 4]
    k6 = doc["kinetics600-zs"]
    assert [len(s["unseen_classes"]) for s in k6["splits"]] == [5, 4, 5]   # the pinned test classes present
    assert "alligator wrestling" in k6["splits"][2]["unseen_classes"], "split 3's test class, split 1's val class"
    assert len(k6["data"]["target"]["pinned_classes_missing"]) == 214
    assert k6["aggregate"]["top1"]["n"] == 3
    assert doc["kinetics600-zs-2"]["splits"][0]["unseen_classes"] == k6["splits"][1]["unseen_classes"]
    assert doc["kinetics600-zs"]["checkpoint"]["key"] == doc["ucf101-k400-full"]["checkpoint"]["key"]

    r = run_cli("run", "rest_tiny", "-p", "kinetics600-zs-1", "--set", "target.candidates=all", *common)
    assert r.returncode == 0, r.stderr[-3000:]
    one = json.loads(next((res / "kinetics600-zs-1").glob("*.json")).read_text())
    assert one["checkpoint"]["reused"] is True and one["protocol"]["target"]["candidates"] == "all"
    split = one["splits"][0]
    assert len(split["unseen_classes"]) == 5 and split["n_candidates"] == 6 and split["chance_top1"] == round(100 / 6, 3)
    assert np.array(split["confusion"]).shape == (6, 6)


def test_feature_trees_carry_official_subsets_and_pinned_classes(tmp_path):
    """The features route (docs/features.md): subsets.json gives a feature tree its official subsets,
    so the official splits and the pinned classes apply to features as to videos."""
    from feature_fixtures import make_fixture

    from zsarbench.data.datasets import resolve_dataset

    root = make_fixture(tmp_path / "k600", ["arguing", "sawing wood", "abseiling"], 2, naming="kinetics")
    (root / "subsets.json").write_text(json.dumps({"test": ["arguing/v000.npy", "sawing wood/v001.npy",
                                                            "abseiling/v000.npy"]}))
    P = load_protocol("kinetics600-zs-1", {"target": {"dataset": "features-k600"}})
    roots = {"features-k600": str(root)}
    with pytest.raises(UserError, match="218 of the protocol's 220 pinned classes"):
        resolve_dataset("features-k600", P, tmp_path, roots=roots)
    vs = resolve_dataset("features-k600", P, tmp_path, roots=roots, allow_nonstandard=True)
    assert vs.classes == ["arguing", "sawing wood"] and [p.split("/")[-2:] for p in vs.paths] == \
        [["arguing", "v000.npy"], ["sawing wood", "v001.npy"]]
    (root / "subsets.json").write_text("[1]")
    with pytest.raises(UserError, match="subsets.json: expected"):
        resolve_dataset("features-k600", P, tmp_path, roots=roots, allow_nonstandard=True)


@pytest.mark.train
@pytest.mark.parametrize("method", ["clip_tiny", "clip_tiny_ft"])
def test_the_image_text_plugin_runs_on_each_new_protocol(method, roots, tmp_path, cache_dir):
    """Issue 19: the open_clip plugin, zero-shot and fine-tuned on Kinetics-400's classes, on every
    CLIP-era protocol; its class vectors come from its own text tower on the recorded template."""
    res = tmp_path / "results"
    protocols = ("ucf101-k400-full", "hmdb51-k400-full", "kinetics600-zs")
    r = run_cli("run", method, "-p", ",".join(protocols), *SMALL_RECIPE, "--cache-dir", str(cache_dir),
                "--results-dir", str(res), *[f"--data-root={k}={v}" for k, v in roots.items()])
    assert r.returncode == 0, r.stderr[-3000:]
    for p in protocols:
        doc = json.loads(next((res / p).glob(f"{method}-*.json")).read_text())
        details = doc["method"]["details"]
        assert details["arch"] == "zsar-clip-tiny" and details["finetuned"] == method.endswith("_ft")
        assert details["template"] and doc["aggregate"]["top1"]["n"] == 3
        assert all(len(s["unseen_classes"]) for s in doc["splits"])
