"""`zsarbench data resize SRC DST`: the tree re-encoded at a short side and keyframe interval, layout
and annotations kept, resumable, its record naming the source's manifest digest; the copy reads as the
dataset it came from."""

import json

from helpers import run_entry
from real_layouts import build_ucf101

from zsarbench.data.adapters import load_dataset
from zsarbench.data.resize import RECORD, target_size
from zsarbench.data.video import open_video


def test_target_size_keeps_aspect_and_never_upscales():
    assert target_size(340, 256, 128) == (170, 128) and target_size(320, 240, 256) == (320, 240)
    assert all(v % 2 == 0 for v in target_size(341, 255, 101))


def test_resize_keeps_layout_and_annotations_and_resumes(capsys, tmp_path):
    src = build_ucf101(tmp_path / "src")
    dst = tmp_path / "dst"
    code, out, err = run_entry(capsys, "data", "resize", src, dst, "--short-side", "32", "--keyint", "4",
                               "--workers", "2")
    assert code == 0, err
    assert "unreadable, left out: " in out and "v_ApplyEyeMakeup_g03_c01.avi" in out   # the test tree's non-video
    rec = json.loads((dst / RECORD).read_text())
    assert rec["short_side"] == 32 and rec["keyframe_interval"] == 4 and rec["reencoded_now"] == rec["n_videos"] == 10
    assert len(rec["source_manifest"]) == 10 and len(rec["source_manifest_digest"]) == 16
    assert (dst / "ucfTrainTestlist" / "classInd.txt").read_text() == (src / "ucfTrainTestlist" / "classInd.txt").read_text()
    a = load_dataset("ucf101", src, allow_nonstandard=True)
    b = load_dataset("ucf101", dst, allow_nonstandard=True)
    assert a.classes == b.classes and len(b) == len(a) - 1          # all but the unreadable one
    vr = open_video(b.paths[0])
    assert vr[0].shape == (32, 32, 3) and len(vr) == len(open_video(a.paths[0]))
    import av
    with av.open(b.paths[0]) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        keys = [p.is_keyframe for p in c.demux(c.streams.video[0]) if p.size]
    assert sum(keys) >= len(keys) // 4                                # a keyframe every 4 frames
    before = {p: (dst / p).stat().st_mtime_ns for p in ["UCF-101/YoYo/v_YoYo_g01_c01.avi"]}
    code, out, err = run_entry(capsys, "data", "resize", src, dst, "--short-side", "32", "--keyint", "4")
    assert code == 0 and "(1 re-encoded now" in out, out               # only the unreadable one is retried
    assert {p: (dst / p).stat().st_mtime_ns for p in before} == before
    assert not list(dst.rglob("*.part"))
    assert json.loads((dst / RECORD).read_text())["source_manifest_digest"] == rec["source_manifest_digest"]
