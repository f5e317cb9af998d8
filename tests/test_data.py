import hashlib

import numpy as np
import pytest
from helpers import ROOT

from zsarbench.data.overlap import remove_overlap
from zsarbench.data.synth import (
    MOTIONS,
    NUISANCES,
    OBJECTS,
    class_layout,
    nuisances,
    render_video,
    synth_root,
    write_mp4,
)
from zsarbench.data.videoset import folder_per_class
from zsarbench.errors import UserError
from zsarbench.protocol import Synth, load_protocol
from zsarbench.text.embeddings import load_embedding
from zsarbench.text.labels import class_words


@pytest.fixture(scope="module")
def glove(cache_dir):
    return load_embedding("glove-6b-50d", str(cache_dir))


def test_class_vectors_are_normalised_means(glove):
    v = glove.class_vectors([["bouncing", "circle"]])
    a, b = glove.kv["bouncing"], glove.kv["circle"]
    want = a / np.linalg.norm(a) + b / np.linalg.norm(b)
    np.testing.assert_allclose(v[0], want / np.linalg.norm(want), rtol=1e-5)


def test_out_of_vocabulary_words_are_listed(glove):
    with pytest.raises(UserError, match="skijetx.*qwzx|qwzx.*skijetx") as e:
        glove.class_vectors([["ride", "skijetx"], ["qwzx", "ball"]], ["RideSkijetx", "QwzxBall"])
    assert "RideSkijetx" in str(e.value)


def test_overlap_removes_duplicate_and_keeps_unrelated(glove):
    src = ["bouncing_circle", "playing_guitar", "sliding_square"]
    src_v = glove.class_vectors([class_words(c) for c in src])
    tgt = ["bouncing_circle", "climbing_star"]
    res = remove_overlap(src, src_v, {"t": (tgt, glove.class_vectors([class_words(c) for c in tgt]))}, 0.05)
    assert [r["source"] for r in res.removed] == ["bouncing_circle"]
    assert res.removed[0]["nearest_target"] == "bouncing_circle" and res.removed[0]["distance"] < 1e-5
    assert res.kept == ["playing_guitar", "sliding_square"]


def test_overlap_removes_a_target_class_name_that_the_embedding_puts_beyond_tau(glove):
    """Kinetics' "pull ups" and UCF101's PullUps (embedded as "pullup") are farther apart than tau under
    GloVe, so E2E's rule alone would train on a test class; the same name (case, spaces, punctuation
    aside) removes it, recorded as such."""
    src = ["pull ups", "shot put", "playing guitar"]
    tgt = ["PullUps", "Shotput"]
    src_v = glove.class_vectors([class_words(c, "kinetics", "glove-6b-50d") for c in src])
    tgt_v = glove.class_vectors([class_words(c, "ucf101", "glove-6b-50d") for c in tgt])
    assert (1 - src_v[:2] @ tgt_v.T).min() > 0.05, "beyond tau: E2E's rule keeps them"
    res = remove_overlap(src, src_v, {"ucf101": (tgt, tgt_v)}, 0.05)
    assert res.kept == ["playing guitar"]
    assert [(r["source"], r["nearest_target"], r["rule"]) for r in res.removed] == [
        ("pull ups", "PullUps", "same name"), ("shot put", "Shotput", "same name")]


def test_synthetic_layout_is_compositional_and_overlapping(glove):
    lay = class_layout(Synth())
    targets = set(lay["ucf"]) | set(lay["hmdb"])
    only_source = set(lay["kinetics"]) - targets
    assert {c.split("_")[0] for c in only_source} == set(MOTIONS), "every motion is seen"
    assert {c.split("_")[1] for c in only_source} == set(OBJECTS), "every object is seen"
    assert set(lay["kinetics"]) & targets, "some target classes occur in the source"
    for domain in lay.values():   # every label word is in the default embedding
        assert not glove.oov([w for c in domain for w in class_words(c)])


def test_rendering_is_deterministic_and_domains_differ():
    cfg = Synth()
    a = render_video("ucf", "bouncing", "star", cfg, np.random.default_rng([0, 1]))
    b = render_video("ucf", "bouncing", "star", cfg, np.random.default_rng([0, 1]))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (cfg.n_frames, cfg.size, cfg.size, 3)
    dark = render_video("hmdb", "bouncing", "star", cfg, np.random.default_rng([0, 1]))
    assert dark.mean() < a.mean(), "the HMDB-like domain is darker"


def test_synthetic_videos_are_the_same_bytes_every_time(tmp_path):
    """Every machine generates the same benchmark: the same frames encode to the same mp4 bytes
    (x264's assembly paths did not: 2-4 of 20 videos differed over 3 encodes)."""
    cfg = Synth()
    for k, motion in enumerate(("bouncing", "sliding", "rotating", "orbiting")):
        frames = render_video("ucf", motion, "star", cfg, np.random.default_rng([0, k]))
        digests = set()
        for r in range(3):
            write_mp4(tmp_path / f"{k}-{r}.mp4", frames, cfg.fps)
            digests.add(hashlib.sha256((tmp_path / f"{k}-{r}.mp4").read_bytes()).hexdigest())
        assert len(digests) == 1, motion


def test_synthetic_data_keeps_its_cache_folder(tmp_path):
    """The folder key hashes the format and every [synth] field: a new field, default or name
    would regenerate everyone's data, so a change here must be deliberate (bump FORMAT_VERSION)."""
    assert synth_root(tmp_path, Synth()).name == "v8-seed0-f63ecc4c4e"
    assert synth_root(tmp_path, load_protocol(ROOT / "tests/protocols/tiny.toml").synth).name == "v8-seed0-b9da2287a7"


def test_formats_7_and_8_keep_the_source_and_ucf_bytes_and_change_hmdb_only():
    """Formats 7 and 8 changed the HMDB analog only: the source and the UCF analog render exactly as in
    format 6 (digests of format 6's frames), so every model trained on format 6 or 7 is a model of format
    8's source; the HMDB analog's objects are as bright (7) and as large (8) as the source's."""
    digests = {}
    for d in ("kinetics", "ucf", "hmdb"):
        h = hashlib.sha256()
        for k, (m, o) in enumerate([("bouncing", "star"), ("sliding", "square"), ("shaking", "ring")]):
            h.update(render_video(d, m, o, Synth(), np.random.default_rng([0, k])).tobytes())
        digests[d] = h.hexdigest()[:16]
    assert digests["kinetics"] == "3009df6cdc46e5f5" and digests["ucf"] == "073e3f6e3fc6a9c4"
    assert digests["hmdb"] == "40817f1f345fbc89", "format 8's HMDB analog"
    assert digests["hmdb"] not in ("41b81285188ee7c3", "4ece541528c58d36"), "format 6's dimmed, format 7's small objects"


def test_every_target_shift_stays_inside_what_the_source_covers():
    """The nuisances are declared as data; a target's object brightness, size and speed lie within
    (or next to) the source's ranges: F never meets an object it could not have seen (format 6's
    dimmed HMDB objects, 152-179 of 255, were outside the source's 217-255 and collapsed the domain;
    format 7's HMDB objects, down to 0.18 of the frame against the source's 0.20, made hubs)."""
    src = NUISANCES["kinetics"]
    for domain in ("ucf", "hmdb"):
        t = NUISANCES[domain]
        lo, hi = src.object_brightness
        assert lo <= t.object_brightness[0] <= t.object_brightness[1] <= hi, domain
        assert max(t.background_level) < 255 * lo, "objects stay brighter than every background"
        assert t.object_size[0] >= src.object_size[0] and t.object_size[1] <= src.object_size[1] + 0.01, domain
        assert src.speed[0] <= t.speed[0] <= t.speed[1] <= src.speed[1], domain
    assert nuisances("synth-hmdb")["background"] == "blotches" and nuisances("ucf101") is None
    hmdb, ucf = NUISANCES["hmdb"], NUISANCES["ucf"]
    assert hmdb.noise > ucf.noise and max(hmdb.background_level) < max(ucf.background_level) \
        and hmdb.distractors[0] > ucf.distractors[0], "HMDB stays the harder target"


def test_missing_or_empty_dataset_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        folder_per_class("ucf", tmp_path / "nope")
    with pytest.raises(UserError, match="no class folders"):
        folder_per_class("ucf", tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(UserError, match="no video files"):
        folder_per_class("ucf", tmp_path)
