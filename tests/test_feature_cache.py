"""The feature cache: keyed by (checkpoint, videos, clip sampling, clips), never mixed up."""

import json
import zlib
from pathlib import Path

import numpy as np

from zsarbench.context import RunContext
from zsarbench.data.videoset import VideoSet
from zsarbench.feature_cache import cached_features, feature_cache_path, feature_spec
from zsarbench.methods.base import Encoded, Method
from zsarbench.protocol import Recipe


class CountingEncoder(Method):
    """A Method whose features depend on the checkpoint it 'loaded'; counts encode calls."""
    name = "counting"

    def __init__(self, ckpt: str):
        super().__init__()
        self.ckpt, self.calls = ckpt, 0

    def fit(self, *a, **k):
        return {}

    def encode(self, videos, recipe, n_clips, device, progress=None, desc=""):
        self.calls += 1
        seed = zlib.crc32(self.ckpt.encode())
        feats = np.random.default_rng(seed).normal(size=(len(videos), 4)) + n_clips
        return Encoded(feats, np.arange(len(videos)), [])

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def videos(n=6):
    return VideoSet("toy", Path("/nowhere"), ["a", "b"], [f"/nowhere/v{i}.mp4" for i in range(n)],
                    np.arange(n) % 2)


def test_changed_checkpoint_or_sampling_gives_a_new_entry(tmp_path):
    ctx = RunContext(tmp_path, tmp_path)
    vs, R = videos(), Recipe(stride=3, crop=32)
    base = feature_spec("ckpt-A", vs, R, 6, 2)
    m = CountingEncoder("ckpt-A")
    first = cached_features(m, base, vs, R, ctx, "")
    again = cached_features(m, base, vs, R, ctx, "")
    assert (first.cached, again.cached, m.calls) == (False, True, 1)
    np.testing.assert_array_equal(first.features, again.features)
    np.testing.assert_allclose(again.class_means, [first.features[::2].mean(0), first.features[1::2].mean(0)])

    # a new checkpoint (retrained model) must never be served the old model's features
    m2 = CountingEncoder("ckpt-B")
    other = cached_features(m2, feature_spec("ckpt-B", vs, R, 6, 2), vs, R, ctx, "")
    assert not other.cached and m2.calls == 1 and other.key != first.key
    assert not np.allclose(other.features, first.features)
    # every sampling field and the video list are part of the key
    variants = [feature_spec("ckpt-A", vs, R, 6, 3), feature_spec("ckpt-A", vs, R, 8, 2),
                feature_spec("ckpt-A", vs, Recipe(stride=4, crop=32), 6, 2),
                feature_spec("ckpt-A", vs, Recipe(stride=3, crop=28), 6, 2),
                feature_spec("ckpt-A", vs, Recipe(stride=3, crop=32, resize=36), 6, 2),
                feature_spec("ckpt-A", videos(4), R, 6, 2)]
    paths = {feature_cache_path(tmp_path, s) for s in [base, *variants]}
    assert len(paths) == 1 + len(variants)
    # the original entry is still there and still served
    assert cached_features(CountingEncoder("ckpt-A"), base, vs, R, ctx, "").cached


def test_an_entry_whose_stored_spec_differs_is_not_trusted(tmp_path):
    ctx = RunContext(tmp_path, tmp_path)
    vs, R = videos(), Recipe()
    spec = feature_spec("ckpt-A", vs, R, 6, 1)
    cached_features(CountingEncoder("ckpt-A"), spec, vs, R, ctx, "")
    path = feature_cache_path(tmp_path, spec)
    z = dict(np.load(path))
    z["spec"] = json.dumps({**spec, "ckpt": "ckpt-Z"}, sort_keys=True)   # e.g. a hash collision
    np.savez(path, **z)
    m = CountingEncoder("ckpt-A")
    assert not cached_features(m, spec, vs, R, ctx, "").cached and m.calls == 1
