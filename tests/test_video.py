import av
import numpy as np
import pytest

from zsarbench.data.datasets import ClipDataset
from zsarbench.data.synth import render_video, write_mp4
from zsarbench.data.video import CorruptVideo, open_video, read_clips, sample_clips, write_video
from zsarbench.data.videoset import VideoSet
from zsarbench.protocol import Synth


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    cfg = Synth(size=40, n_frames=32)
    frames = render_video("kinetics", "sliding", "square", cfg, np.random.default_rng(0))
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_mp4(path, frames, cfg.fps)
    return path, frames


def test_decord_reads_generated_h264(mp4):
    path, frames = mp4
    vr = open_video(path)
    assert len(vr) == 32
    got = vr.get_batch(list(range(32))).asnumpy()
    assert got.shape == frames.shape
    # lossy H.264 at crf 18 over per-pixel noise: close to what was rendered, not equal
    assert np.abs(got.astype(int) - frames.astype(int)).mean() < 10
    np.testing.assert_allclose(got.mean((1, 2, 3)), frames.mean((1, 2, 3)), atol=2)


def test_write_video_takes_any_frame_iterable_and_renames_only_when_complete(tmp_path):
    frames = np.full((6, 32, 48, 3), 120, np.uint8)
    avi = tmp_path / "sub" / "a.avi"
    write_video(avi, iter(frames), 8, codec="mpeg4", format="avi")   # a generator, as bench/ passes
    mp4 = tmp_path / "b.mp4"
    write_video(mp4, frames, 8, options={"crf": "18", "threads": "1"}, atomic=True)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.avi", "b.mp4"], "no .part left"
    for path in (avi, mp4):   # read back with PyAV: decord 0.6 misreads some frame sizes
        with av.open(str(path)) as container:
            got = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert got.shape == frames.shape and abs(got.mean() - 120) < 3
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "c.mp4", [], 8)


def test_clip_sampling_takes_T_frames_with_the_stride(mp4):
    path, _ = mp4
    idx = sample_clips(32, frames=8, stride=3, n_clips=1, rng=np.random.default_rng(0))
    assert idx.shape == (1, 8)
    assert np.all(np.diff(idx[0]) == 3) and idx[0, -1] < 32
    clips = read_clips(str(path), frames=8, stride=3, n_clips=1, rng=np.random.default_rng(0))
    allf = open_video(path).get_batch(list(range(32))).asnumpy()
    np.testing.assert_array_equal(clips[0], allf[idx[0]])


def test_test_clips_are_evenly_spaced_and_short_videos_repeat_last_frame():
    idx = sample_clips(100, frames=4, stride=6, n_clips=3)
    assert idx[:, 0].tolist() == [0, 40, 81]  # last start 100 - 19 = 81 and np.all(np.diff(idx, axis=1) == 6)
    short = sample_clips(10, frames=4, stride=6, n_clips=1)
    assert short.max() == 9


def test_random_starts_cover_the_video():
    starts = {int(sample_clips(40, 4, 2, 1, np.random.default_rng(s))[0, 0]) for s in range(200)}
    assert min(starts) == 0 and max(starts) == 40 - 7


def test_corrupt_files_are_skipped_not_fatal(tmp_path, mp4):
    good, _ = mp4
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "text.mp4"
    text.write_text("not a video")
    truncated = tmp_path / "trunc.mp4"
    truncated.write_bytes(good.read_bytes()[:300])
    for p in (empty, text, truncated):
        with pytest.raises(CorruptVideo):
            read_clips(str(p), 4, 2)
    vs = VideoSet("t", tmp_path, ["a"], [str(good), str(empty), str(text), str(truncated)], np.zeros(4, int))
    ds = ClipDataset(vs, frames=4, stride=2, crop=32, seed=0)
    items = [ds[i] for i in range(4)]
    assert items[0]["clips"].shape == (1, 4, 3, 32, 32)
    assert [it["clips"] is None for it in items] == [False, True, True, True]
