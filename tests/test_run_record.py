"""What a run records beside its numbers (issue 25): whether each training stage learned, the code and
hardware it ran on (taken at its start, compared at its end), the domain-shift measures of every split,
and diagnostics computed on each split's own test videos."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from real_layouts import UCF_CLASSES, build_ucf101_official, frames, write_avi

from zsarbench import results
from zsarbench.data.datasets import resolve_dataset
from zsarbench.diagnostics import PROBE_C, diagnostics, oracle_top1, seen_probe_top1
from zsarbench.evaluate import COLLAPSE_SHARE, mean_cosine, prototype_alignment, top_class_share
from zsarbench.learned import NOT_TRAINED_FRACTION, verdict, warmup_fallback
from zsarbench.protocol import Recipe, load_protocol
from zsarbench.registry import create_method

WORDS = [["bouncing", "circle"], ["sliding", "star"], ["falling", "star"]]


def test_rest_declares_the_uniform_guess_loss_of_each_stage():
    r = Recipe()
    ln_c, ln_v = math.log(3), math.log(5 + 2)        # 5 label words, plus [PAD] and [MASK]
    assert create_method("rest_tiny").chance_losses(WORDS, r) == pytest.approx(
        {"warmup": ln_c, "joint": ln_c + r.mtl_weight * ln_v})
    assert create_method("rest_tiny", losses="cls").chance_losses(WORDS, r)["joint"] == pytest.approx(ln_c)
    assert create_method("rest_tiny", losses="mlm").chance_losses(WORDS, r)["joint"] == pytest.approx(0.5 * ln_v)


def test_a_stage_that_stayed_at_the_uniform_guess_did_not_train():
    """Untuned ResT_101 on the synthetic benchmark: its warm-up ended at ln 38 (3.635 vs 3.638)."""
    log = {"warmup": {"loss_per_epoch": [3.75353, 3.66684, 3.63484]}, "joint": {"loss_per_epoch": [4.87064]},
           "world_size": 1}
    chance = {"warmup": math.log(38), "joint": math.log(38) + 0.5 * math.log(19)}
    v = verdict(log, chance)
    assert v["did_not_train"] == ["warmup"] and v["stages"]["joint"]["learned"]
    assert v["stages"]["warmup"] == {"final_loss": 3.63484, "chance_loss": round(math.log(38), 5), "learned": False}
    trained = {"warmup": {"loss_per_epoch": [3.35, 2.54, 1.81]}}
    assert verdict(trained, chance)["did_not_train"] == []
    assert NOT_TRAINED_FRACTION * math.log(38) < 3.63484 < math.log(38)
    # files from before the record: the warm-up (a cross-entropy over the seen classes) is judged alone
    assert warmup_fallback(log, 38)["did_not_train"] == ["warmup"]
    assert warmup_fallback({"train": {"loss_per_epoch": [0.01]}}, 38)["did_not_train"] == []   # E2E: MSE


def test_provenance_is_taken_at_the_start_and_compared_at_the_end():
    start = results.run_start()
    assert set(start) == {"started", "git_revision", "git_dirty"}
    same = results.provenance(start)
    assert same["git_revision"] == start["git_revision"] and same["git_changed_during_run"] is False
    assert same["started"] == start["started"] and same["finished"] >= start["started"]
    moved = results.provenance({**start, "git_revision": "0" * 40, "git_dirty": True})   # HEAD moved meanwhile
    assert moved["git_revision"] == "0" * 40 and moved["git_dirty"] is True
    assert moved["git_changed_during_run"] is True and moved["git_at_end"]["git_revision"] == start["git_revision"]
    hw = same["hardware"]
    assert hw["cpu_isa"] == torch.backends.cpu.get_cpu_capability() and hw["cpu_model"]
    assert hw["gpu"] is None or hw["gpu_driver"] is not None


def test_shift_measures():
    conf = np.array([[5, 0, 0], [4, 1, 0], [4, 0, 1]])     # 13 of 15 predictions to the first class
    assert top_class_share(conf) == pytest.approx(13 / 15) and top_class_share(conf) > COLLAPSE_SHARE
    assert top_class_share(np.eye(4, dtype=int)) == 0.25
    a = np.array([[1.0, 0.0], [0.8, 0.2]])
    assert mean_cosine(a, a) == pytest.approx(1.0) and mean_cosine(a, -a) == pytest.approx(-1.0)
    protos = np.array([[1.0, 0.0], [0.0, 1.0]])
    feats, y = np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 1.0]]), np.array([0, 1, 1])
    assert prototype_alignment(protos, feats, y) == pytest.approx(1.0)
    assert prototype_alignment(protos[::-1], feats, y) == pytest.approx(0.0)


def ucf101_two_clips_per_group(root):
    """The miniature official UCF101 tree with a second clip (c02) of each group, so each test list has
    two videos of each class (the leave-one-out oracle needs two): list 1 tests group 2, list 2 group 1,
    list 3 every video."""
    build_ucf101_official(root)
    lists = {1: [], 2: []}
    for ci, c in enumerate(UCF_CLASSES[:4]):
        folder = "HandStandPushups" if c == "HandstandPushups" else c
        for g in (1, 2):
            write_avi(root / "UCF-101" / folder / f"v_{folder}_g0{g}_c02.avi", frames(16, 500 + 10 * ci + g))
            lists[g] += [f"{folder}/v_{folder}_g0{g}_c0{k}.avi" for k in (1, 2)]
    for n, test in ((1, lists[2]), (2, lists[1]), (3, sorted(lists[1] + lists[2]))):
        (root / "ucfTrainTestlist" / f"testlist0{n}.txt").write_text("".join(f"{p}\n" for p in test))
    return root


def test_the_oracle_of_an_official_protocol_uses_each_splits_own_test_list(tmp_path):
    """ucf101-k400-full on a miniature official tree: three splits over all classes, each on the
    videos of its test list, so three different oracle values (one set of class means per list)."""
    root = ucf101_two_clips_per_group(tmp_path / "ucf101")
    P = load_protocol("ucf101-k400-full")
    target = resolve_dataset("ucf101", P, tmp_path / "cache", roots={"ucf101": str(root)}, allow_nonstandard=True)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(len(target.classes), 8))
    feats = centres[target.labels] + rng.normal(size=(len(target), 8)) * 1.2
    index = np.arange(len(target))
    tf = SimpleNamespace(features=feats, labels=target.labels, index=index)
    sf = SimpleNamespace(features=rng.normal(size=(12, 8)), labels=np.repeat([0, 1], 6))
    prep = SimpleNamespace(protocol=P, target=target, target_feats=tf, seen_feats=sf)
    d = diagnostics(prep)
    per_split = d["oracle_top1"]["per_split"]
    assert len(per_split) == 3 and len(set(per_split)) == 3, per_split
    splits = P.splits(len(target.classes), target.classes)
    for value, name, unseen in zip(per_split, P.target.split_subsets, splits):
        own = target.subsets[name]
        assert value == oracle_top1(feats[own], target.labels[own], unseen)
    assert [int(target.subsets[n].sum()) for n in P.target.split_subsets] == [8, 8, 16]


def test_the_probe_chooses_its_regularisation_on_the_seen_classes_by_inner_folds():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 15)
    feats = rng.normal(size=(4, 32))[labels] * 0.3 + rng.normal(size=(60, 32))
    probe = seen_probe_top1(feats, labels, seed=0)
    assert probe["folds"] == 5 and len(probe["C"]) == 5 and set(probe["C"]) <= set(PROBE_C)
    assert "inner StratifiedKFold" in probe["model"] and 0 <= probe["mean"] <= 100
    assert seen_probe_top1(feats[:8], np.repeat([0, 1], 4)) is not None
    assert seen_probe_top1(feats[:4], np.repeat([0, 1], 2)) is None      # too few videos for two levels of folds
