"""The compressed clip store (data/clip_store.py) and the cache budget (data/disk_budget.py): stored
clips are the video's clips at the stored positions (JPEG within a stated error), training draws them,
the builds print their estimate and refuse past --max-bytes or the free space, and a failed build
leaves no partial shard."""

import numpy as np
import pytest
from helpers import ROOT, run_entry, small_videos

from zsarbench.data.clip_store import build_clip_store, encode_video
from zsarbench.data.datasets import ClipDataset
from zsarbench.data.disk_budget import check_budget, parse_bytes
from zsarbench.data.frame_cache import build_frame_cache, estimate_frame_cache
from zsarbench.data.video import open_video, read_frames, sample_clips
from zsarbench.data.videoset import VideoSet
from zsarbench.errors import UserError


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    return VideoSet("cs", root, ["a", "b"], small_videos(root), np.array([0, 1, 0, 1]))


def test_stored_clips_are_the_videos_clips_at_the_stored_positions(videos, tmp_path):
    store = build_clip_store(videos, tmp_path, None, 5, 3, 3, workers=1)
    assert store.meta["positions"] == 3 and store.meta["bytes"] > 0
    assert store.unreadable and "truncated.mp4" in store.meta["unreadable"][0]
    vr = open_video(videos.paths[1])
    truth = read_frames(vr, sample_clips(len(vr), 5, 3, 3)).astype(int)   # (3, 5, 40, 40, 3)
    seen = set()
    for draw in range(12):
        clip = store.clips(videos.rel(1), 1, np.random.default_rng(draw))[0].astype(int)   # slots: relative paths
        errors = [np.abs(clip - t).mean() for t in truth]
        k = int(np.argmin(errors))
        # JPEG at quality 90 (4:2:0 chroma) on these 40 x 40 sharp-edged, noisy frames: under 6 levels
        # of 255 on average, well apart from the other stored positions
        assert errors[k] < 6 and errors[k] < 0.7 * sorted(errors)[1], errors
        seen.add(k)
    assert seen == {0, 1, 2}                # every stored position is drawn
    assert store.clips(videos.rel(3), 1, np.random.default_rng(0)) is None
    again = build_clip_store(videos, tmp_path, None, 5, 3, 3)
    assert again.root == store.root         # reused, not rebuilt
    assert build_clip_store(videos, tmp_path, None, 5, 3, 2).root != store.root   # keyed by its settings


def test_training_draws_from_the_store_and_evaluation_decodes(videos, tmp_path):
    import dataclasses

    store = build_clip_store(videos, tmp_path, None, 5, 3, 2, workers=1)
    vs = dataclasses.replace(videos, clip_store=store)
    train = ClipDataset(vs, 5, 3, 32, 1, seed=0)
    item = train[0]
    assert item["clips"].shape == (1, 5, 3, 32, 32)
    assert train[3]["clips"] is None        # unreadable in the store: skipped, as without it
    evaluate = ClipDataset(vs, 5, 3, 32, 2)  # no seed: the videos' own evenly spaced clips
    plain = ClipDataset(videos, 5, 3, 32, 2)
    assert np.array_equal(evaluate[0]["clips"].numpy(), plain[0]["clips"].numpy())


def test_budget_refuses_past_max_bytes_and_free_space(tmp_path):
    lines = []
    check_budget("x", 10, "ten bytes", tmp_path, 100, lines.append)
    assert "10.0" not in lines[0] and "will write about" in lines[0]
    with pytest.raises(UserError, match=r"x would write about 1,000 bytes .* more than --max-bytes 100"):
        check_budget("x", 1000, "b", tmp_path, 100, lines.append)
    with pytest.raises(UserError, match="bytes free"):
        check_budget("x", 10**18, "b", tmp_path, None, lines.append)
    assert parse_bytes("1.5T") == 1_500_000_000_000 and parse_bytes("800M") == 800_000_000
    with pytest.raises(UserError, match="--max-bytes"):
        parse_bytes("lots")


def test_frame_cache_estimate_is_exact_on_a_small_set(videos, tmp_path):
    estimate, basis = estimate_frame_cache(videos, None)
    built = build_frame_cache(videos, tmp_path, None, workers=1)
    assert estimate == built.meta["bytes"] and "every one opened" in basis


def test_a_failed_build_leaves_no_partial_shard(videos, tmp_path, monkeypatch):
    import zsarbench.data.clip_store as cs

    calls = []

    def failing(args):
        calls.append(args)
        if len(calls) > 5:      # after the estimate's videos: mid-write
            raise OSError(28, "No space left on device")
        return encode_video(args)
    monkeypatch.setattr(cs, "encode_video", failing)
    with pytest.raises(OSError):
        build_clip_store(videos, tmp_path, None, 5, 3, 2, workers=1)
    assert not list((tmp_path / "clips").iterdir())


def test_data_cache_refuses_with_its_estimate_past_max_bytes(capsys, tmp_path):
    tiny = ROOT / "tests" / "protocols" / "tiny.toml"
    code, out, err = run_entry(capsys, "data", "cache", "-p", tiny, "--max-bytes", "1000", "--cache-dir", tmp_path)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: frame cache of synth-kinetics would write about") and "--max-bytes 1,000" in last
    assert "will write about" in err          # the estimate was printed before the refusal
    assert not (tmp_path / "frames").exists() or all(p.suffix == ".lock" for p in (tmp_path / "frames").iterdir())
    code, out, err = run_entry(capsys, "data", "cache", "-p", tiny, "--set", "recipe.clip_store=2",
                               "--set", "recipe.frame_cache=false", "--max-bytes", "50M", "--cache-dir", tmp_path)
    assert code == 0, err
    assert "clip store of synth-kinetics" in err and "MB per video" in err
