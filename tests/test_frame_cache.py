import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import small_videos

from zsarbench.data.datasets import ClipDataset
from zsarbench.data.frame_cache import attach_frame_cache, build_frame_cache, cache_key
from zsarbench.data.synth import render_video, write_mp4
from zsarbench.data.videoset import VideoSet
from zsarbench.protocol import Synth


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("fc")
    return VideoSet("fc", root, ["a", "b"], small_videos(root), np.array([0, 1, 0, 1]))


@pytest.mark.parametrize("seed,n_clips,resize", [(0, 1, None), (None, 3, None), (5, 2, 36)])
def test_cached_clips_equal_decoded_clips(videos, tmp_path, seed, n_clips, resize):
    cached = attach_frame_cache(videos, tmp_path, resize)
    plain = ClipDataset(videos, 5, 3, 32, n_clips, resize, seed=seed)
    fast = ClipDataset(cached, 5, 3, 32, n_clips, resize, seed=seed)
    for epoch in (0, 1):
        plain.epoch = fast.epoch = epoch
        for i in range(3):
            a, b = plain[i]["clips"], fast[i]["clips"]
            assert a.shape == (n_clips, 5, 3, 32, 32)
            assert np.array_equal(a.numpy(), b.numpy())
    assert fast[3]["clips"] is None                 # the truncated file is skipped, as without the cache
    assert cached.frame_cache.unreadable == [videos.rel(3)] == ["truncated.mp4"]   # slots: relative paths


def test_cache_is_reused_and_keyed_by_content_and_settings(videos, tmp_path):
    a = build_frame_cache(videos, tmp_path, None)
    assert build_frame_cache(videos, tmp_path, None).root == a.root      # complete copy reused
    assert cache_key(videos, 36) != cache_key(videos, None)
    before = cache_key(videos, None)
    os.utime(videos.paths[0], ns=(1, 1))                                # touched, same bytes: same key
    assert cache_key(videos, None) == before
    moved = tmp_path / "elsewhere"                                      # the dataset in another folder
    shutil.copytree(videos.root, moved)
    there = dataclasses.replace(videos, root=moved, paths=[str(moved / Path(p).name) for p in videos.paths])
    assert cache_key(there, None) == before
    found = build_frame_cache(there, tmp_path, None)
    assert found.root == a.root and not found.fresh, "found by content, not decoded again"
    cfg = Synth(size=40, n_frames=24)                                   # re-encoded in place: a new key
    write_mp4(Path(there.paths[0]), render_video("ucf", "sliding", "star", cfg, np.random.default_rng(9)), cfg.fps)
    assert cache_key(there, None) != before
    assert not list(tmp_path.glob("frames/*.part"))
