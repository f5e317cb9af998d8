"""Training at scale: the seekable epoch sampler, GPU-side crops, DDP over gloo, kill-and-resume.

The CLI tests share one small run (rest_tiny, tiny protocol, 2 frames, batch 6) on a copy of the
tiny synthetic data with three unreadable files added to a training class: a zero-byte file, a
text file renamed .mp4 and a truncated mp4. 76 readable + 3 bad = 79 videos: batches of 6 leave
a last global batch of one video, so under 2 ranks one rank gets an empty share.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from gloo import on_ranks
from helpers import ROOT, run_cli

from zsarbench.data.datasets import ClipDataset, VideoSet, collate_clips, resolve_dataset
from zsarbench.data.frame_cache import attach_frame_cache, cache_key
from zsarbench.data.synth import SynthConfig, ensure_synth, render_video, write_mp4
from zsarbench.engine.checkpoint import checkpoint_key
from zsarbench.engine.train import EpochBatches, Trainer, epoch_order, to_frames
from zsarbench.protocol import Recipe, load_protocol

TINY_PROTOCOL = "tests/protocols/tiny.toml"   # relative: the commands run in the checkout
MICRO = ["--seed", "5", "--set", "recipe.batch_size=6", "--set", "recipe.frames=2"]
# One thread per process, as torchrun sets: runs compared bit for bit must share the thread count
# (float sums split differently), and 2-thread OpenMP regions crawl on a busy 2-core machine.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


# ----------------------------------------------------------------------------- units

def test_epoch_batches_reproduce_the_shuffled_loader_and_split_batches_between_ranks():
    n, B = 21, 5
    g = torch.Generator().manual_seed(7 * 10007 + 2)   # what runs before this sampler shuffled with
    old = [b.tolist() for b in torch.utils.data.DataLoader(list(range(n)), B, shuffle=True, generator=g)]
    assert list(EpochBatches(n, B, seed=7, epoch=2)) == old, "one process: the same order as before"
    assert list(EpochBatches(n, B, seed=7, epoch=2, start=3)) == old[3:], "seekable"
    shares = [list(EpochBatches(n, B, seed=7, epoch=2, rank=r, world=3)) for r in range(3)]
    assert {len(s) for s in shares} == {len(old)}, "every rank runs the same number of steps"
    for b, batch in enumerate(old):
        assert sum((s[b] for s in shares), []) == batch, "ranks together see exactly the global batch"
    assert shares[1][-1] == shares[2][-1] == [], "a short last batch leaves ranks empty-handed"
    assert not torch.equal(epoch_order(n, 7, 2), epoch_order(n, 7, 3))
    assert list(EpochBatches(7, 3)) == [[0, 1, 2], [3, 4, 5], [6]], "no seed: evaluation order"


@pytest.fixture(scope="module")
def small_videos(tmp_path_factory):
    """13 small readable videos of 2 classes and the three kinds of unreadable file."""
    root = tmp_path_factory.mktemp("vids")
    cfg = SynthConfig(size=32, n_frames=12)   # decord 0.6 misreads some sizes (24, 48)
    paths, labels = [], []
    for k in range(13):
        p = root / f"v{k:02d}.mp4"
        write_mp4(p, render_video("ucf", ("sliding", "falling")[k % 2], "star", cfg, np.random.default_rng(k)), cfg.fps)
        paths.append(str(p))
        labels.append(k % 2)
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("not a video")
    (root / "trunc.mp4").write_bytes(Path(paths[0]).read_bytes()[:300])
    paths[3:3] = [str(root / n) for n in ("empty.mp4", "text.mp4", "trunc.mp4")]
    labels[3:3] = [0, 1, 0]
    return VideoSet("small", root, ["a", "b"], paths, np.array(labels))


def test_crops_and_flips_on_the_device_give_the_pixels_of_the_cpu_path(small_videos):
    items = range(9)                                    # 6 readable, 3 not
    for flip in (False, True):
        cpu = ClipDataset(small_videos, 3, 2, 16, 2, seed=1, flip=flip)
        dev = ClipDataset(small_videos, 3, 2, 16, 2, seed=1, flip=flip, crop_on_device=True)
        a, b = collate_clips([cpu[i] for i in items]), collate_clips([dev[i] for i in items])
        assert b["clips"].shape[-2:] == (32, 32) and b["crop"].shape == (6, 4)
        assert torch.equal(to_frames(a, "cpu"), to_frames(b, "cpu"))
    plain = collate_clips([ClipDataset(small_videos, 3, 2, 16, 2, seed=1)[i] for i in items])["clips"]
    flips = b["crop"][:, 3].tolist()
    assert 0 < sum(flips) < 6, "about half of the clips are flipped"
    for clip, ref, f in zip(a["clips"], plain, flips):
        assert torch.equal(clip, ref.flip(-1) if f else ref), "the same crop, mirrored or not"


def test_speed_and_bookkeeping_fields_keep_checkpoint_keys():
    base = vars(Recipe())
    key = checkpoint_key("m", {}, {}, {k: v for k, v in base.items() if k not in
                                       ("flip", "checkpoint_every", "compile", "frame_cache")})
    for change in ({}, {"checkpoint_every": 50}, {"compile": True}, {"frame_cache": True}, {"workers": 3}):
        assert checkpoint_key("m", {}, {}, {**base, **change}) == key
    assert checkpoint_key("m", {}, {}, {**base, "flip": True}) != key, "flipping changes what is learned"


# ----------------------------------------------------------------------------- DDP engine, exact

def _train_small(videos, world: int, rank: int) -> dict:
    """Two epochs of a BatchNorm-free model through the real Trainer: with no per-rank statistics,
    2 ranks must reproduce 1 process up to float summation order."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2 * 3 * 16 * 16, 2)
    ds = ClipDataset(videos, 2, 2, 16, 1, seed=3, flip=True)

    def loss(net, batch):
        y = batch["label"]
        return torch.nn.functional.cross_entropy(net(to_frames(batch, "cpu").flatten(1)), y), len(y)

    trainer = Trainer(model, ds, 5, "cpu", workers=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    log = trainer.stage("s", "s", 2, opt, list(model.parameters()), model, loss, seed=3)
    return {"log": log, "weights": {k: v.clone() for k, v in model.state_dict().items()}}


def _train_on_this_rank(videos) -> dict:
    from zsarbench.engine import dist
    return _train_small(videos, dist.world_size(), dist.rank())


@pytest.mark.train
def test_two_gloo_ranks_train_like_one_process(small_videos, tmp_path):
    one = _train_small(small_videos, 1, 0)
    r0, r1 = on_ranks(_train_on_this_rank, (small_videos,), tmp_path)
    for k, w in one["weights"].items():
        assert torch.equal(r0["weights"][k], r1["weights"][k]), "DDP keeps the ranks' weights identical"
        # tolerance: only the order of float sums differs (all-reduce of gradients and counts)
        torch.testing.assert_close(r0["weights"][k], w, rtol=1e-5, atol=1e-6)
    assert r0["log"]["steps"] == one["log"]["steps"] == 8
    np.testing.assert_allclose(r0["log"]["loss_per_epoch"], one["log"]["loss_per_epoch"], rtol=1e-5)
    bad = sorted(p for p in small_videos.paths if Path(p).name in ("empty.mp4", "text.mp4", "trunc.mp4"))
    assert r0["log"]["skipped"] == r1["log"]["skipped"] == one["log"]["skipped"] == bad


# ----------------------------------------------------------------------------- the CLI, killed and distributed

BAD = ("empty.mp4", "text.mp4", "trunc.mp4")


@pytest.fixture(scope="module")
def micro(cache_dir, tmp_path_factory):
    """A cache holding a copy of the tiny synthetic data with 3 unreadable files in a training
    class, and the reference: one uninterrupted single-process run on it. Its model and features
    are moved out of the cache, so each test trains and extracts afresh on the same video paths."""
    work = tmp_path_factory.mktemp("scale")
    base = work / "cache"
    src = ensure_synth(cache_dir, load_protocol(TINY_PROTOCOL).synth)
    root = base / "synth" / src.name
    shutil.copytree(src, root)
    kinetics = sorted(p.name for p in (root / "kinetics").iterdir())
    targets = {p.name for d in ("ucf", "hmdb") for p in (root / d).iterdir()}
    cls = root / "kinetics" / next(c for c in kinetics if c not in targets)  # kept by overlap removal
    (cls / "empty.mp4").write_bytes(b"")
    (cls / "text.mp4").write_text("not a video")
    (cls / "trunc.mp4").write_bytes(next(cls.glob("*_000.mp4")).read_bytes()[:400])
    r = run_cli("run", "rest_tiny", "-p", TINY_PROTOCOL, *MICRO, "--cache-dir", str(base), "--results-dir", str(work / "ref"),
                env=ONE_THREAD)
    assert r.returncode == 0, r.stderr[-3000:]
    [path] = (work / "ref").glob("*/*.json")
    [model] = base.glob("checkpoints/*/model.pt")
    shutil.move(model.parent, work / "ref" / "model")
    shutil.rmtree(base / "features")
    return {"base": base, "class": cls, "result": json.loads(path.read_text()), "key_dir": model.parent,
            "model": work / "ref" / "model" / "model.pt", "bad": sorted(str(cls / n) for n in BAD)}


@pytest.fixture
def fresh(micro, tmp_path):
    """The shared cache without models or features; what a test leaves there is moved to tmp_path."""
    yield micro["base"]
    for name in ("checkpoints", "features"):
        if (micro["base"] / name).exists():
            shutil.move(micro["base"] / name, tmp_path / f"left-{name}")


def _same_results(a: dict, b: dict):
    assert [(s["top1"], s["top5"]) for s in a["splits"]] == [(s["top1"], s["top5"]) for s in b["splits"]]
    assert a["aggregate"] == b["aggregate"]
    assert [a["transfer"][k] for k in ("theta", "K", "rho")] == [b["transfer"][k] for k in ("theta", "K", "rho")]


def _kill_when(cmd, state: Path, stage: str) -> dict:
    """Start `cmd`; SIGKILL it as soon as its saved training state is mid-epoch in `stage`; return
    the state left on disk."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **ONE_THREAD}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        seen, deadline = None, time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if state.exists() and state.stat().st_mtime_ns != seen:
                seen = state.stat().st_mtime_ns
                if (s := torch.load(state, weights_only=True))["stage"] == stage and s["batch"] > 0:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.02)
        assert proc.wait(60) == -signal.SIGKILL, "the run was killed while training"
    finally:
        proc.kill()
    return torch.load(state, weights_only=True)


@pytest.mark.train
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_result(micro, fresh, tmp_path):
    args = ["run", "rest_tiny", "-p", TINY_PROTOCOL, *MICRO, "--set", "recipe.checkpoint_every=2",
            "--cache-dir", str(fresh), "--results-dir", str(tmp_path / "results")]
    cmd = [sys.executable, "-m", "zsarbench.cli", *args]
    state = micro["key_dir"] / "train_state.pt"          # same run key as the reference
    s = _kill_when(cmd, state, "warmup")
    assert s["stage"] == "warmup" and 0 < s["batch"] < 14, "killed mid-epoch in the warm-up"
    s = _kill_when(cmd, state, "joint")                  # resumes the warm-up, is killed again
    assert s["stage"] == "joint" and 0 < s["batch"] < 14 and s["logs"]["warmup"]["resumed_at_step"] > 0
    r = run_cli(*args, env=ONE_THREAD)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming training from" in r.stderr and not state.exists(), "resumed, then the state is dropped"
    [path] = (tmp_path / "results").glob("*/*.json")
    res, ref = json.loads(path.read_text()), micro["result"]
    _same_results(res, ref)
    for stage in ("warmup", "joint"):
        assert res["training"][stage]["loss_per_epoch"] == ref["training"][stage]["loss_per_epoch"]
    a = torch.load(micro["model"], weights_only=True)["method"]["model"]
    b = torch.load(state.with_name("model.pt"), weights_only=True)["method"]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), "bit-identical weights"
    assert res["data"]["skipped_videos"] == ref["data"]["skipped_videos"] == micro["bad"]


@pytest.mark.train
def test_data_cache_decodes_each_dataset_once_and_lists_unreadable_files(micro):
    r = run_cli("data", "cache", "-p", TINY_PROTOCOL, "--cache-dir", str(micro["base"]), env=ONE_THREAD)
    assert r.returncode == 0, r.stderr[-3000:]
    text = " ".join(r.stderr.split())                  # rich folds long lines
    assert "synth-kinetics: 99 videos" in text and "3 unreadable" in text and "synth-ucf: 40 videos" in text
    vs = resolve_dataset("synth-kinetics", load_protocol(TINY_PROTOCOL), micro["base"])
    meta = micro["base"] / "frames" / cache_key(vs, None) / "meta.json"
    built = meta.stat().st_mtime_ns
    cached = attach_frame_cache(vs, micro["base"])     # what `run --set recipe.frame_cache=true` does
    assert cached.frame_cache.root == meta.parent and meta.stat().st_mtime_ns == built, "found, not rebuilt"
    assert sorted(str(vs.root / p) for p in cached.frame_cache.unreadable) == micro["bad"]


@pytest.mark.train
def test_torchrun_two_gloo_processes(micro, fresh, tmp_path):
    """torchrun, 2 CPU processes: trains to the end over the unreadable files (one rank gets an empty
    last batch), writes one results file listing them, and matches one process within tolerance."""
    res_dir = tmp_path / "results"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "zsarbench.cli", "run", "rest_tiny", "-p", TINY_PROTOCOL, *MICRO, "--cache-dir", str(fresh),
                        "--results-dir", str(res_dir)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    [path] = res_dir.glob("*/*.json")                    # rank 0 alone writes results and prints
    res, ref = json.loads(path.read_text()), micro["result"]
    assert res["training"]["world_size"] == 2 and r.stdout.count("mean +- std") == 1
    assert res["data"]["skipped_videos"] == micro["bad"]
    for stage in ("warmup", "joint"):
        assert res["training"][stage]["steps"] == ref["training"][stage]["steps"] == 14
        # Tolerance: BatchNorm statistics, dropout and MLM masks are per rank (as in any DDP run), so
        # the trajectories differ by a few percent of noise; the exact equivalence of the rest is
        # test_two_gloo_ranks_train_like_one_process.
        np.testing.assert_allclose(res["training"][stage]["loss_per_epoch"],
                                   ref["training"][stage]["loss_per_epoch"], rtol=0.1)
    # Sharded feature extraction, gathered: one process re-extracting with the same model gets the same.
    ddp_features = tmp_path / "ddp-features"
    shutil.move(fresh / "features", ddp_features)
    r1 = run_cli("run", "rest_tiny", "-p", TINY_PROTOCOL, *MICRO, "--cache-dir", str(fresh), "--results-dir", str(tmp_path / "r1"),
                 env=ONE_THREAD)
    assert r1.returncode == 0, r1.stderr[-3000:]
    res1 = json.loads(next((tmp_path / "r1").glob("*/*.json")).read_text())
    assert res1["checkpoint"]["reused"] and not any(f["cached"] for f in res1["features"].values())
    files = sorted(ddp_features.glob("*.npz"))
    assert len(files) == 2
    for f in files:
        a, b = np.load(f), np.load(fresh / "features" / f.name)
        assert np.array_equal(a["index"], b["index"]) and list(a["bad"]) == list(b["bad"])
        np.testing.assert_allclose(a["features"], b["features"], rtol=1e-4, atol=1e-5)
    _same_results(res, res1)


@pytest.mark.train
@pytest.mark.slow  # two torchrun trainings: about a minute each on 2 cores
@pytest.mark.parametrize("method", ["rest_tiny_cls_only", "rest_tiny_mlm_only"])
def test_torchrun_trains_the_one_loss_ablations(method, micro, fresh, tmp_path):
    """DDP raises when a synced parameter gets no gradient: with one loss alone the other head must
    be out of the joint stage (ResTMethod.not_joint)."""
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "zsarbench.cli", "run", method, "-p", TINY_PROTOCOL, *MICRO, "--set", "recipe.warmup_epochs=0.3",
                        "--cache-dir", str(fresh), "--results-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    [path] = tmp_path.glob("*/*.json")
    res = json.loads(path.read_text())
    assert res["training"]["world_size"] == 2 and res["training"]["joint"]["steps"] == 14
