"""Caches keyed by what they depend on (issue 24): each video's content (relative path, size, fast
content hash), never where the dataset or the cache lives. A re-encoded video invalidates its
frames, the features and the model trained on it, and the rerun gives the numbers of a fresh cache;
the same dataset and cache moved to other folders reuse every artefact."""

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_PROTOCOL, run_here

from zsarbench.data.frame_cache import cache_key
from zsarbench.data.identity import file_ids
from zsarbench.data.synth import ensure_synth
from zsarbench.data.video import open_video, write_video
from zsarbench.data.videoset import dataset_digest, fingerprint, folder_per_class
from zsarbench.protocol import load_protocol

PROTOCOL = """include = "{tiny}"
name = "mine"
[source]
dataset = "mysrc"
remove_overlap_with = ["mytgt"]
[target]
dataset = "mytgt"
"""


def dataset_copy(cache_dir: Path, dest: Path) -> Path:
    """The tiny synthetic source and target as two folder-per-class datasets outside the cache."""
    root = ensure_synth(cache_dir, load_protocol(str(TINY_PROTOCOL)).synth)
    shutil.copytree(root / "kinetics", dest / "src")
    shutil.copytree(root / "ucf", dest / "tgt")
    return dest


def reencode(path: Path, crf: int = 30) -> None:
    """The same video encoded again in place (same name, other bytes), its modification time kept."""
    st = os.stat(path)
    vr = open_video(str(path))
    frames = vr.get_batch(list(range(len(vr)))).asnumpy()
    write_video(path, frames, 16, "libx264", "mp4", {"crf": str(crf), "preset": "veryfast", "threads": "1"},
                atomic=True)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_one_changed_video_changes_every_key_and_a_moved_dataset_none(tmp_path, cache_dir):
    """Frame cache key, the videos' fingerprint (features and checkpoints) and the results' digest:
    content, not paths or times."""
    data = dataset_copy(cache_dir, tmp_path / "a")
    vs = folder_per_class("mysrc", data / "src")
    keys = lambda v: (cache_key(v, None), fingerprint(v), dataset_digest(v)["videos"])  # noqa: E731
    before = keys(vs)
    shutil.move(data, tmp_path / "b")                                     # moved: the same keys
    moved = folder_per_class("mysrc", tmp_path / "b" / "src")
    assert keys(moved) == before
    os.utime(moved.paths[0], ns=(1, 1))                                   # touched: the same keys
    assert keys(dataclasses.replace(moved, ids=None)) == before
    reencode(Path(moved.paths[3]))                                        # one video re-encoded in place
    changed = keys(moved)
    assert all(a != b for a, b in zip(changed, before)), "frame cache, fingerprint and digest all change"
    # the identity memo (under the cache) is used, and sees the change through size/mtime/ctime
    ids = file_ids(moved.paths, moved.root, tmp_path / "cache")
    assert ids == file_ids(moved.paths, moved.root, tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "digests").glob("files-*.json"))) == 1


def _run(proto: Path, data: Path, cache: Path, res: Path) -> tuple[dict, str]:
    r = run_here("run", "rest_tiny", "-p", proto, "--data-root", f"mysrc={data / 'src'}",
                 "--data-root", f"mytgt={data / 'tgt'}", "--cache-dir", cache, "--results-dir", res)
    path = max(res.rglob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(path.read_text()), r.output


def _frames(cache: Path) -> set[str]:
    return {p.name for p in (cache / "frames").iterdir() if p.is_dir()}


@pytest.mark.train
def test_reencoded_videos_are_recomputed_and_a_moved_cache_is_reused(tmp_path, cache_dir):
    data = dataset_copy(cache_dir, tmp_path / "data")
    proto = tmp_path / "mine.toml"
    proto.write_text(PROTOCOL.format(tiny=TINY_PROTOCOL))
    cache = tmp_path / "cache"
    first, _ = _run(proto, data, cache, tmp_path / "res")
    assert not first["checkpoint"]["reused"] and first["protocol"]["recipe"]["frame_cache"]
    frames_first = _frames(cache)

    # every video of both datasets re-encoded in place (same names, same mtimes, other bytes)
    for p in sorted(data.rglob("*.mp4")):
        reencode(p)
    again, _ = _run(proto, data, cache, tmp_path / "res")
    assert not again["checkpoint"]["reused"] and again["checkpoint"]["key"] != first["checkpoint"]["key"]
    assert not any(f["cached"] for f in again["features"].values()), "features extracted again"
    assert _frames(cache) - frames_first, "frames decoded again"
    for role in ("source", "target"):
        assert again["data"][role]["digest"]["videos"] != first["data"][role]["digest"]["videos"]
        assert again["data"][role]["digest"]["classes"] == first["data"][role]["digest"]["classes"]

    fresh, _ = _run(proto, data, tmp_path / "fresh-cache", tmp_path / "res")
    assert fresh["checkpoint"]["key"] == again["checkpoint"]["key"]
    assert fresh["aggregate"] == again["aggregate"], "the rerun's numbers are a fresh cache's"
    assert [s["top1"] for s in fresh["splits"]] == [s["top1"] for s in again["splits"]]

    # the dataset and the cache moved to other folders: every artefact reused, nothing trained or decoded
    shutil.move(data, tmp_path / "elsewhere" / "data")
    shutil.move(cache, tmp_path / "elsewhere" / "cache")
    cache, data = tmp_path / "elsewhere" / "cache", tmp_path / "elsewhere" / "data"
    frames_before = _frames(cache)
    moved, output = _run(proto, data, cache, tmp_path / "res")
    assert moved["checkpoint"]["reused"] and moved["checkpoint"]["key"] == again["checkpoint"]["key"]
    assert moved["checkpoint"]["path"].startswith(str(cache))
    assert all(f["cached"] for f in moved["features"].values()), "features reused"
    assert _frames(cache) == frames_before, "no frame cache decoded"
    assert "training rest_tiny" not in output
    assert moved["aggregate"] == again["aggregate"]
    assert moved["data"]["source"]["digest"] == again["data"]["source"]["digest"]
    np.testing.assert_equal(moved["transfer"]["cv"]["cv_top1"], again["transfer"]["cv"]["cv_top1"])


def test_a_same_size_swap_with_its_time_restored_is_seen_and_a_symlinked_root_is_the_same(tmp_path, cache_dir):
    """A video replaced by another file of the same size, its mtime set back (`touch -r`): the memo's
    ctime no longer matches, the file is hashed again and its key changes. The same dataset reached
    through a symbolic link has the keys of its real folder."""
    data = dataset_copy(cache_dir, tmp_path / "a")
    vs = folder_per_class("mysrc", data / "src")
    memo = tmp_path / "cache"
    ids = file_ids(vs.paths, vs.root, memo)
    a, b = Path(vs.paths[0]), Path(vs.paths[1])
    st = os.stat(a)
    blob = b.read_bytes()[:st.st_size].ljust(st.st_size, b"\0")     # other bytes, the same size
    a.write_bytes(blob)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(a).st_size == st.st_size and os.stat(a).st_mtime_ns == st.st_mtime_ns
    again = file_ids(vs.paths, vs.root, memo)
    assert again[0] != ids[0] and again[1:] == ids[1:]
    (tmp_path / "link").symlink_to(data / "src")
    linked = folder_per_class("mysrc", tmp_path / "link")
    assert (cache_key(linked, None), fingerprint(linked)) == (cache_key(vs, None), fingerprint(vs))
