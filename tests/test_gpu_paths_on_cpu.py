"""The GPU-only branches, run on the CPU as far as it can take them: the bf16 autocast steps
(training and encoding) of ResT, E2E and the two-stream models, the channels_last network with the
on-device crop/flip, fused AdamW (CUDA and CPU alike), recipe.compile on one step, and the
meta-device memory estimate of ResT_18/34/101 at the paper's sizes (memory.py)."""

import math
import shutil

import numpy as np
import pytest
import torch
from helpers import needs
from real_layouts import build_ucf101

from zsarbench.data.adapters import load_dataset
from zsarbench.protocol import Recipe
from zsarbench.registry import create_method

RECIPE = dict(frames=2, stride=2, crop=32, resize=0, batch_size=4, warmup_epochs=1, joint_epochs=1, workers=0,
              test_clips=2)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return load_dataset("ucf101", build_ucf101(tmp_path_factory.mktemp("gpu") / "ucf101"), allow_nonstandard=True)


def floats(state, found=None):
    """Every floating tensor of a (nested) state dict."""
    found = [] if found is None else found
    if isinstance(state, torch.Tensor):
        found += [state] if state.is_floating_point() else []
    elif isinstance(state, dict):
        for v in state.values():
            floats(v, found)
    elif isinstance(state, (list, tuple)):
        for v in state:
            floats(v, found)
    return found


def fit(name, videos, recipe, **kw):
    m = create_method(name)
    words = [[w.lower()] for w in videos.classes]
    semantic = {"label_vectors": np.random.default_rng(0).normal(size=(len(videos.classes), 8)).astype(np.float32)} \
        if m.space == "semantic" else {}
    return m, m.fit(videos, words, recipe, "cpu", **semantic, **kw)


@pytest.mark.train
@pytest.mark.parametrize("name", ["rest_tiny", "e2e_tiny", "twostream_lstm_tiny"])
def test_bf16_autocast_steps_on_cpu(name, videos, monkeypatch, tmp_path):
    from zsarbench.engine.checkpoint import load_checkpoint, save_atomic
    from zsarbench.engine.train import autocast

    monkeypatch.setenv("ZSARBENCH_CPU_AUTOCAST", "bf16")
    with autocast("cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    made = []
    adamw = torch.optim.AdamW

    def recording(*a, **k):
        made.append(k)
        return adamw(*a, **k)
    monkeypatch.setattr(torch.optim, "AdamW", recording)
    recipe = Recipe(**RECIPE)
    m, log = fit(name, videos, recipe)
    losses = [x for stage in log.values() if isinstance(stage, dict) for x in stage.get("loss_per_epoch", [])]
    assert losses and all(math.isfinite(x) for x in losses), log
    if name.startswith("rest"):   # ResT's joint stage: fused AdamW on the CPU too (methods/rest.py)
        assert made and all(k.get("fused") for k in made), made
    state = m.state_dict()
    assert {t.dtype for t in floats(state)} == {torch.float32}, "weights stay fp32 under autocast"
    save_atomic({"method": state}, tmp_path / "model.pt")
    assert {t.dtype for t in floats(load_checkpoint(tmp_path / "model.pt"))} == {torch.float32}
    enc = m.encode(videos, recipe, 2, "cpu")
    assert enc.features.dtype == np.float32 and np.isfinite(enc.features).all() and len(enc.index) == len(videos) - 1


def test_cpu_keeps_fp32_without_the_switch(monkeypatch):
    from zsarbench.engine.train import autocast

    monkeypatch.delenv("ZSARBENCH_CPU_AUTOCAST", raising=False)
    with autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")


def test_on_device_crop_flip_and_channels_last_on_cpu(videos):
    """ClipDataset(crop_on_device=True) + to_frames's crop_flip give the pixels of the CPU crop, and a
    channels_last frame encoder the features of a contiguous one."""
    from zsarbench.data.datasets import ClipDataset, collate_clips
    from zsarbench.engine.train import to_frames
    from zsarbench.methods.rest import frame_features

    host = ClipDataset(videos, 2, 2, 32, 1, 40, seed=3, flip=True)
    dev = ClipDataset(videos, 2, 2, 32, 1, 40, seed=3, flip=True, crop_on_device=True)
    items = [i for i in range(len(videos)) if "g03" not in videos.paths[i]][:4]
    a = to_frames(collate_clips([host[i] for i in items]), "cpu")
    b = to_frames(collate_clips([dev[i] for i in items]), "cpu")
    assert a.shape == b.shape == (4, 2, 3, 32, 32) and torch.equal(a, b)
    m = create_method("rest_tiny")
    m._build(5, ["a", "b"], 2, 1)
    m.model.eval()
    assert m.model.frame_encoder.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        cl = frame_features(m.model, b)
        m.model.frame_encoder.to(memory_format=torch.contiguous_format)
        plain = frame_features(m.model, b)
    assert torch.allclose(cl, plain, atol=1e-5)


@pytest.mark.train
def test_compile_one_step_on_cpu(videos):
    needs(shutil.which("cc") or shutil.which("gcc"), "recipe.compile on CPU needs a C compiler (torch inductor): none found")
    recipe = Recipe(**{**RECIPE, "warmup_epochs": 0.5, "joint_epochs": 0.5}, compile=True)
    _, log = fit("rest_tiny", videos.take(np.arange(4)), recipe)
    assert log["warmup"]["steps"] == 1 and log["joint"]["steps"] == 1
    assert all(math.isfinite(x) for x in log["warmup"]["loss_per_epoch"] + log["joint"]["loss_per_epoch"])


@pytest.mark.parametrize("name, frames", [("rest18", 16), ("rest34", 8), ("rest101", 4)])
def test_memory_estimate_at_the_papers_sizes(name, frames):
    from zsarbench.memory import estimate_memory

    est = estimate_memory(name, crop=224, batch=64)
    print(est)
    assert est["frames"] == frames and est["batch"] == 64
    assert 90e6 < est["params"] < 160e6 and est["param_bytes"] == 4 * est["params"]
    assert 10 < est["activation_gib"] < 60, "ResNet activations of 64 clips at 224^2 dominate"
    half = estimate_memory(name, crop=224, batch=32)
    assert half["activation_bytes"] == pytest.approx(est["activation_bytes"] / 2, rel=0.02), "linear in the batch"
