"""`zsarbench run ... --smoke` (smoke.py): the checklist on miniature official-layout trees, a broken
tree failing at the right step in one line, the batch halving on an out-of-memory, nothing kept."""

import re
import shutil
from pathlib import Path

import pytest
import torch
from helpers import run_entry
from real_layouts import build_hmdb51, build_kinetics, build_ucf101

from zsarbench.errors import UserError
from zsarbench.smoke import duration, largest_fitting_batch

SMALL = ["--embedding", "glove-6b-50d", "--allow-nonstandard", "--set", "recipe.frames=2", "--set", "recipe.crop=32",
         "--set", "recipe.resize=0", "--set", "recipe.batch_size=4", "--set", "recipe.test_clips=2",
         "--set", "recipe.workers=0", "--accept", "empty-classes"]   # the UCF101 miniature's Skijet has no videos


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("smoke")
    return {"ucf101": build_ucf101(base / "ucf101"), "hmdb51": build_hmdb51(base / "hmdb51"),
            "kinetics700": build_kinetics(base / "kinetics700")[0]}


def smoke(capsys, cache_dir, tmp_path, roots, method="rest18", *extra):
    results = tmp_path / "results"
    code, out, err = run_entry(capsys, "run", method, "-p", "ucf101-0-50", "--smoke", "--cache-dir", cache_dir,
                               "--results-dir", results, *SMALL, *extra,
                               *[f"--data-root={k}={v}" for k, v in roots.items()])
    assert not results.exists(), "nothing in the results folder"
    assert not (Path(cache_dir) / "smoke").exists(), "the scratch folder is deleted"
    return code, out, err


@pytest.mark.train
def test_smoke_checklist_and_estimate(capsys, cache_dir, tmp_path, trees):
    ckpts = set((Path(cache_dir) / "checkpoints").glob("*"))
    feats = set((Path(cache_dir) / "features").glob("*"))
    code, out, err = smoke(capsys, cache_dir, tmp_path, trees)
    print(out)
    assert code == 0, out + err[-3000:]
    for step in ("data roots", "annotations", "labels and overlap removal", "decode", "training", "features",
                 "transfer and evaluation", "results file"):
        assert f"ok     {step}: " in out, out
    assert "warmup 2 steps" in out and "joint 2 steps" in out and "at batch 4" in out
    assert "v_ApplyEyeMakeup_g03_c01.avi" in out or "unreadable" not in out, "unreadable sampled videos are named"
    est = re.search(r"estimate of the full run: .* \(warmup (\d+) steps x .* s; joint (\d+) steps x .* s; "
                    r"features (\d+) clips x .* s\)", out)
    assert est, out
    per_epoch = int(est[2]) // 50
    assert per_epoch >= 2 and int(est[1]) == 150 * per_epoch, "the recipe's epochs x its batches per epoch"
    assert re.search(r"ok     decode: \d+ videos .*: [\d.]+ clips/s per loader worker", out), out
    assert re.search(r"^(not )?decode-bound: ", out, re.M), out      # the verdict, measured
    assert "features: " in out and re.search(r"ok     features: \d+ videos, (\d+) clips", out)
    assert set((Path(cache_dir) / "checkpoints").glob("*")) == ckpts, "no checkpoint in the real cache"
    assert set((Path(cache_dir) / "features").glob("*")) == feats, "no feature cache entry either"


def test_smoke_fails_at_annotations_without_the_kinetics_csv(capsys, cache_dir, tmp_path, trees):
    broken = tmp_path / "kinetics700"
    shutil.copytree(trees["kinetics700"], broken)
    for csv in broken.rglob("*.csv"):
        csv.unlink()
    code, out, err = smoke(capsys, cache_dir, tmp_path, {**trees, "kinetics700": broken})
    assert code == 2
    assert "ok     data roots: " in out and "FAILED annotations: " in out and "ok     decode" not in out, out
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: smoke: annotations failed: ") and "no Kinetics annotation CSV" in line, line


def test_smoke_fails_at_decode_on_corrupt_videos(capsys, cache_dir, tmp_path, trees):
    broken = tmp_path / "ucf101"
    shutil.copytree(trees["ucf101"], broken)
    for video in (broken / "UCF-101" / "YoYo").glob("*.avi"):
        video.write_bytes(b"corrupt")
    code, out, err = smoke(capsys, cache_dir, tmp_path, {**trees, "ucf101": broken})
    assert code == 2 and "ok     labels and overlap removal: " in out and "ok     training" not in out, out
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: smoke: decode failed: ucf101 class 'YoYo': none of its 2 sampled videos"), line


def test_missing_root_fails_at_data_roots(capsys, cache_dir, tmp_path, trees):
    code, out, err = smoke(capsys, cache_dir, tmp_path, {**trees, "hmdb51": tmp_path / "nowhere"})
    assert code == 2 and "FAILED data roots: hmdb51 root" in out and "does not exist" in err


def test_out_of_memory_names_the_largest_batch_that_fits():
    tried = []

    def train(batch):
        tried.append(batch)
        if batch > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "trained"

    assert largest_fitting_batch(train, 4) == "trained"
    with pytest.raises(UserError, match=r"out of memory at batch 16; batch 4 fits: --set recipe.batch_size=4"):
        largest_fitting_batch(train, 16)
    assert tried == [4, 16, 8, 4]
    with pytest.raises(UserError, match="at batch 1"):
        largest_fitting_batch(lambda b: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError("oom")), 2)


def test_duration():
    assert [duration(s) for s in (5, 125, 3 * 3600 + 60, 2 * 86400 + 7200)] == ["5 s", "2 min 5 s", "3 h 1 min",
                                                                                    "2 d 2 h"]


def test_the_smoke_sample_stays_small_at_any_dataset_size():
    import numpy as np

    from zsarbench.data.videoset import VideoSet
    from zsarbench.smoke import SAMPLE_VIDEOS, few_classes

    classes = [f"class {i}" for i in range(700)]
    labels = np.repeat(np.arange(700), 30)                     # 21,000 videos
    vs = VideoSet("k700", Path("/x"), classes, [f"/x/{i}.mp4" for i in range(len(labels))], labels)
    small = few_classes(vs, 2, SAMPLE_VIDEOS, 0)
    assert len(small) == SAMPLE_VIDEOS and len(set(small.labels.tolist())) == SAMPLE_VIDEOS // 2
    few = vs.take(np.flatnonzero(labels < 5))                  # a small dataset: every class
    assert len(few_classes(few, 2, SAMPLE_VIDEOS, 0)) == 10


def test_decode_verdict_names_the_fixes():
    from zsarbench.protocol import Recipe
    from zsarbench.smoke import decode_verdict

    slow = {"decode": {"clips_per_s_per_worker": 2.0, "workers": 1, "decoder": "decord"}, "train_clips_per_s": 10.0}
    line = decode_verdict(slow, Recipe(), "cuda")
    assert line.startswith("decode-bound: 1 loader worker(s) decode 2 clips/s, training takes 10 clips/s (5.0x")
    assert "5 needed" in line and "recipe.clip_store=4" in line and "recipe.decoder=torchcodec" in line
    fast = {"decode": {"clips_per_s_per_worker": 20.0, "workers": 1, "decoder": "decord"}, "train_clips_per_s": 10.0}
    assert decode_verdict(fast, Recipe(), "cpu").startswith("not decode-bound")
