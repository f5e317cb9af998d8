"""recipe.decoder: torchcodec (with PyAV's FFmpeg standing in for a system one: data/ffmpeg_libs.py)
reads the frames decord reads, on real H.264 mp4 and MPEG-4 Part 2 AVI files.

The stated tolerance (docs/scale.md): at the native size the frames are equal, byte for byte; resized
in the decoder (recipe.resize) they differ by the resampling filter (decord: FFmpeg's bicubic scale;
torchcodec: bilinear with antialiasing), a mean absolute difference of at most 8 of 255 on these
textured frames, far below the difference between neighbouring frames. Models and features are keyed
by the decoder (engine/checkpoint.ADDED_LATER), so one decoder's cache never serves the other."""

import numpy as np
import pytest

from zsarbench.data.datasets import ClipDataset, collate_clips
from zsarbench.data.ffmpeg_libs import standard_name
from zsarbench.data.video import open_video, read_frames, write_video
from zsarbench.data.videoset import VideoSet

H, W, N = 96, 128, 60


def frames(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    for t in range(N):   # moving waves plus noise: every frame differs from its neighbours
        img = np.stack([127 + 120 * np.sin(xx / (7 + 5 * k) + yy / (9 + 3 * k) + 0.2 * t * (k + 1)) for k in range(3)], -1)
        yield (img + rng.normal(0, 6, img.shape)).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("decoders")
    write_video(d / "h264.mp4", frames(0), 25)                                    # x264, its default GOP
    write_video(d / "mpeg4.avi", frames(1), 25, codec="mpeg4", options={"qscale": "3"})
    return {"h264": d / "h264.mp4", "mpeg4": d / "mpeg4.avi"}


@pytest.mark.parametrize("kind", ["h264", "mpeg4"])
def test_torchcodec_frames_equal_decords_at_native_size(files, kind):
    a, b = open_video(files[kind]), open_video(files[kind], decoder="torchcodec")
    assert len(a) == len(b) == N and a.get_avg_fps() == b.get_avg_fps() == 25
    idx = np.array([[0, 7, 59], [30, 13, 31]])   # unsorted and repeated positions, as clips ask
    fa, fb = read_frames(a, idx), read_frames(b, idx)
    assert fa.shape == fb.shape == (2, 3, H, W, 3) and fb.dtype == np.uint8
    np.testing.assert_array_equal(fa, fb)


@pytest.mark.parametrize("kind", ["h264", "mpeg4"])
def test_resized_frames_agree_within_the_stated_tolerance(files, kind):
    idx = np.array([0, 7, 30, 59])
    fa = read_frames(open_video(files[kind], 64), idx).astype(int)
    fb = read_frames(open_video(files[kind], 64, "torchcodec"), idx).astype(int)
    assert fa.shape == fb.shape == (4, 64, 64, 3)
    same = np.abs(fa - fb).mean()
    neighbours = np.abs(fa[1:] - fa[:-1]).mean()   # what reading a wrong frame would cost
    assert same <= 8 and same < neighbours / 3, (same, neighbours)


def test_clip_dataset_reads_the_same_clips_with_either_decoder(files):
    vs = VideoSet("d", files["h264"].parent, ["a", "b"], [str(files["h264"]), str(files["mpeg4"])], np.array([0, 1]))
    out = {}
    for decoder in ("decord", "torchcodec"):
        ds = ClipDataset(vs, 4, 3, 64, n_clips=2, seed=5, flip=True, decoder=decoder)
        out[decoder] = collate_clips([ds[0], ds[1]])["clips"]
    assert out["decord"].shape == (2, 2, 4, 3, 64, 64)
    assert bool((out["decord"] == out["torchcodec"]).all())


def test_unreadable_file_is_a_corrupt_video(tmp_path):
    from zsarbench.data.video import CorruptVideo

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(CorruptVideo, match="bad.mp4"):
        read_frames(open_video(bad, decoder="torchcodec"), np.array([0]))


def test_ffmpeg_library_names():
    assert standard_name("libavutil-5809ad29.so.60.26.102") == "libavutil.so.60"
    assert standard_name("libswscale-88e9f973.so.9.5.102") == "libswscale.so.9"
    assert standard_name("libx264-d6533a8d.so.165") is None   # not FFmpeg's: linked as it is


@pytest.mark.parametrize("first", ["import torchcodec", "import torchcodec.decoders", "from torchcodec import _core"])
def test_torchcodec_imported_before_ffmpeg_still_decodes(files, first, tmp_path):
    """Another library (or test) imported torchcodec before zsarbench loaded PyAV's FFmpeg: its ops were
    bound to stand-ins then; the decoder rebinds the real ones (CI's full suite met this)."""
    import os
    import subprocess
    import sys

    code = (f"{first}\nimport numpy as np\nfrom zsarbench.data.video import open_video, read_frames\n"
            f"print(read_frames(open_video({str(files['h264'])!r}, decoder='torchcodec'), np.array([0, 9])).shape)")
    env = {**os.environ, "ZSARBENCH_CACHE": str(tmp_path / "cache")}   # a cold FFmpeg copy too
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.strip() == f"(2, {H}, {W}, 3)"
