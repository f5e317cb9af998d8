"""Method.encode, the one encode loop of every method: under torchrun each rank encodes its share of
the videos, and every rank gets back what one process computes."""

from pathlib import Path

import numpy as np
import pytest
import torch
from gloo import on_ranks

from zsarbench import create_method
from zsarbench.data.datasets import VideoSet
from zsarbench.data.synth import SynthConfig, render_video, write_mp4
from zsarbench.protocol import Recipe

METHODS = ("rest_tiny", "e2e_tiny", "twostream_lstm_tiny")
# batch_size 2 and 2 clips: 4 videos a batch, 8 a global batch of 2 ranks
RECIPE = Recipe(stride=2, crop=16, batch_size=2, workers=0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """9 videos: 7 readable, an empty file (index 2) and a truncated mp4 (index 8, alone in the last
    global batch: rank 1's share of it is empty)."""
    root = tmp_path_factory.mktemp("encode")
    cfg = SynthConfig(size=32, n_frames=12)   # decord 0.6 misreads some sizes (24, 48)
    paths = []
    for k in range(7):
        p = root / f"v{k}.mp4"
        write_mp4(p, render_video("ucf", ("sliding", "falling")[k % 2], "star", cfg, np.random.default_rng(k)), cfg.fps)
        paths.append(str(p))
    (root / "empty.mp4").write_bytes(b"")
    (root / "trunc.mp4").write_bytes(Path(paths[0]).read_bytes()[:300])
    paths = paths[:2] + [str(root / "empty.mp4")] + paths[2:] + [str(root / "trunc.mp4")]
    return VideoSet("small", root, ["a", "b"], paths, np.arange(len(paths)) % 2)


def _encode(videos: VideoSet) -> dict:
    """Each method, built from one seed, encodes `videos` and a subset whose share on rank 1 is one
    unreadable file; also the number of clips this process ran through encode_clips."""
    out = {}
    subset = VideoSet("sub", videos.root, videos.classes, videos.paths[:3], videos.labels[:3])
    for name in METHODS:
        m = create_method(name)
        torch.manual_seed(0)
        m._build(6, 4) if m.space == "semantic" else m._build(5, ["a", "b", "c"], 4, 2)
        clips, encode_clips = [], m.encode_clips
        m.encode_clips = lambda x, clips=clips, encode_clips=encode_clips: (clips.append(len(x)), encode_clips(x))[1]
        out[name] = {"all": m.encode(videos, RECIPE, 2, "cpu"), "sub": m.encode(subset, RECIPE, 2, "cpu"),
                     "clips": sum(clips)}
    return out


@pytest.mark.train
def test_two_gloo_ranks_each_encode_half_and_gather_the_one_process_features(videos, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # as each rank: float sums split alike
    try:
        one = _encode(videos)
    finally:
        torch.set_num_threads(threads)
    ranks = on_ranks(_encode, (videos,), tmp_path)
    for name in METHODS:
        # 2 clips a video. All: global batches [0-7] and [8] give rank 0 videos 0-3 and 8 (3 readable),
        # rank 1 videos 4-7. Subset: rank 0 videos 0-1, rank 1 the unreadable 2.
        assert [r[name]["clips"] for r in ranks] == [6 + 4, 8 + 0] and one[name]["clips"] == 14 + 4, name
        for part in ("all", "sub"):
            ref = one[name][part]
            for r in ranks:
                got = r[name][part]
                assert np.array_equal(got.index, ref.index) and got.bad_paths == ref.bad_paths, (name, part)
                assert got.features.dtype == ref.features.dtype == np.float32
                assert np.array_equal(got.features, ref.features), (name, part, "bit-identical")
    assert one["rest_tiny"]["all"].bad_paths == [videos.paths[2], videos.paths[8]]
    assert one["rest_tiny"]["sub"].features.shape == (2, 64)
