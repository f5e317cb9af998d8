"""Broken state (issue 16): output folders that cannot be written, corrupt cached artefacts, partial
files left by interrupted writes, progress and decord's output on a stderr that is not a terminal.

Each case: an error is one line on stderr, exit code 2, no traceback, nothing new under the
results folder; a corrupt cache file is one warning line naming it, then rebuilt, exit code 0."""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import run_cli, run_entry

from zsarbench import prepare
from zsarbench.artefacts import read_or_discard, remove_stale_parts
from zsarbench.cli.lineprogress import LineProgress
from zsarbench.data.frame_cache import build_frame_cache
from zsarbench.data.synth import ensure_synth, write_mp4
from zsarbench.data.video import CorruptVideo, read_clips
from zsarbench.data.videoset import VideoSet
from zsarbench.engine.checkpoint import save_atomic
from zsarbench.engine.train import TrainState
from zsarbench.feature_cache import cached_features
from zsarbench.methods.base import Encoded, Method
from zsarbench.protocol import Recipe, load_protocol
from zsarbench.results import write_json_atomic

TINY_ARGS = ("-p", "tests/protocols/tiny.toml", "--seed", "3")   # conftest's tiny_run (these cases fail before any work)
DECORD = re.compile(r"ERROR opening|moov atom|Invalid data found|video_reader\.cc|@ 0x[0-9a-f]+\]")


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in Path(root).rglob("*")} if Path(root).exists() else set()


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def warnings_in(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [ln for ln in err.splitlines() if "warning:" in ln]


def dead_pid() -> int:
    """The id of a process that has exited (a partial file's writer that is gone)."""
    p = subprocess.Popen([sys.executable, "-c", ""])
    p.wait()
    return p.pid


# ----------------------------------------------------------------------------- output folders: exit 2

def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a file, not a folder\n")
    return path


OUTPUT_CASES = {  # name -> (files to make, arguments; {t} is the test's folder), words of the message
    "results dir is a file": (["results"], ["run", "rest_tiny", *TINY_ARGS, "--results-dir", "{t}/results"],
                              "results folder {t}/results is a file"),
    "results dir under a file": (["results"], ["run", "rest_tiny", *TINY_ARGS, "--results-dir", "{t}/results/x"],
                                 "is inside {t}/results, which is a file"),
    "results/<protocol> is a file": (["results/tiny"], ["run", "rest_tiny", *TINY_ARGS, "--results-dir", "{t}/results"],
                                     "results folder {t}/results/tiny is a file"),
    "ablate: results dir is a file": (["results"], ["ablate", "constraints", "-m", "rest_tiny", *TINY_ARGS,
                                                    "--results-dir", "{t}/results"], "{t}/results is a file"),
    "cache dir is a file": (["cache"], ["run", "rest_tiny", *TINY_ARGS, "--results-dir", "{t}/results"],
                            "cache folder {t}/cache is a file"),
    "data synth: cache dir is a file": (["cache"], ["data", "synth"], "cache folder {t}/cache is a file"),
    "tables --out is a file": (["results/x.json", "out"], ["tables", "--results-dir", "{t}/results", "--out", "{t}/out"],
                               "output folder {t}/out is a file"),
    "figures --out is a file": (["results/x.json", "out"], ["figures", "--results-dir", "{t}/results", "--out",
                                                           "{t}/out"], "output folder {t}/out is a file"),
}


@pytest.mark.parametrize("case", list(OUTPUT_CASES))
def test_unwritable_output_folder_is_one_line_before_any_work(case, tmp_path, capsys):
    made, args, needle = OUTPUT_CASES[case]
    for name in made:
        _file(tmp_path / name)
    if not (tmp_path / "results").exists():
        (tmp_path / "results").mkdir()
    before = files(tmp_path)
    args = [a.format(t=tmp_path) for a in args]
    if "--cache-dir" not in args and args[0] not in ("tables", "figures"):
        args += ["--cache-dir", str(tmp_path / "cache")]
    code, _, err = run_entry(capsys, *args)
    line = one_line(err)
    assert code == 2 and line.startswith("error:") and needle.format(t=tmp_path) in line, err
    assert re.search(r"give another (--results-dir|--cache-dir|--out)", line), line
    assert files(tmp_path) == before, "nothing written: the check comes before any work"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_read_only_results_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    (tmp_path / "results").chmod(0o500)
    code, _, err = run_entry(capsys, "run", "rest_tiny", *TINY_ARGS, "--results-dir", tmp_path / "results",
                             "--cache-dir", tmp_path / "cache")
    assert code == 2 and "is not writable" in one_line(err)


# ----------------------------------------------------------------------------- stale partial files

def _stale(path: Path, pid: int, tail: str = "") -> Path:
    return _file(path.with_name(f".{path.name}.{pid}.part{tail}"))


WRITERS = {
    "checkpoint (save_atomic)": lambda p: save_atomic({"w": torch.zeros(2)}, p),
    "results / logs (write_json_atomic)": lambda p: write_json_atomic(p, {"a": 1}),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_next_write_removes_stale_partial_files_of_the_same_artefact(writer, tmp_path):
    path = tmp_path / "model.pt"
    dead, alive = dead_pid(), os.getppid()
    stale, live = _stale(path, dead), _stale(path, alive)
    other = _stale(tmp_path / "other.pt", dead)
    WRITERS[writer](path)
    assert path.exists() and not stale.exists(), "an interrupted write's leftover is removed"
    assert live.exists(), "a write still running elsewhere is left alone"
    assert other.exists(), "another artefact's partial file is not touched"
    assert not list(tmp_path.glob(f".model.pt.{os.getpid()}.part*"))


def test_finished_training_removes_stale_training_state_parts(tmp_path):
    state = TrainState(tmp_path / "train_state.pt")
    stale = _stale(state.path, dead_pid())
    state.save({"stage": "warmup"})
    assert not stale.exists()
    stale = _stale(state.path, dead_pid())     # interrupted after the last save
    state.clear()
    assert not state.path.exists() and not stale.exists()


# ----------------------------------------------------------------------------- corrupt caches: unit level

class Fake(Method):
    """A Method whose fit and encode are instant; counts them."""
    name = "fake"

    def __init__(self):
        super().__init__()
        self.fits = self.encodes = 0
        self.w = torch.zeros(3)

    def fit(self, *a, **k):
        self.fits += 1
        self.w = torch.arange(3.0)
        return {"warmup": {"skipped": []}, "fits": self.fits}

    def encode(self, videos, recipe, n_clips, device, progress=None, desc=""):
        self.encodes += 1
        return Encoded(np.ones((len(videos), 4), np.float32), np.arange(len(videos)), [])

    def state_dict(self):
        return {"w": self.w}

    def load_state_dict(self, state):
        self.w = state["w"]


def _ctx(tmp_path, lines):
    return SimpleNamespace(cache_dir=tmp_path / "cache", device="cpu", progress=None, log=lines.append, resume=True)


def _data(n=4):
    vs = VideoSet("v", Path("/videos"), ["a", "b"], [f"/videos/{i}.mp4" for i in range(n)], np.arange(n) % 2)
    return SimpleNamespace(seen=vs, seen_words=[["a"], ["b"]], seen_vecs=np.eye(2))


def _train(tmp_path, lines):
    P = load_protocol("tests/protocols/tiny.toml")
    return prepare.train_or_reuse("fake", P, _data(), _ctx(tmp_path, lines))


@pytest.fixture
def fake(monkeypatch):
    made = []
    monkeypatch.setattr(prepare, "create_method", lambda name, **kw: made.append(Fake()) or made[-1])
    return made


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _corrupt_middle(path: Path) -> None:
    """The zip directory intact (the cheap check passes), the pickle inside broken."""
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("data.pkl"))
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, then, retrained", [
    ("truncated model.pt", "retraining", True),
    ("empty model.pt", "retraining", True),
    ("truncated train_log.json", "reading it from the checkpoint", False),
    ("model.pt broken inside (found when loaded)", "retraining", True),
])
def test_corrupt_checkpoint_is_one_warning_then_retrained(damage, then, retrained, tmp_path, fake):
    lines = []
    first = _train(tmp_path, lines)
    ckpt, log_file = first.ckpt, first.ckpt.with_name("train_log.json")
    target = log_file if "train_log" in damage else ckpt
    if damage.startswith("empty"):
        target.write_bytes(b"")
    elif "inside" in damage:
        _corrupt_middle(target)
    else:
        _truncate(target)
    lines.clear()
    model = _train(tmp_path, lines)
    prepare.ensure_loaded(model)     # what extracting features does
    [warning] = [ln for ln in lines if "warning:" in ln]
    assert str(target) in warning and "is unreadable" in warning and then in warning, warning
    assert (fake[-1].fits == 1) == retrained and model.reused != retrained
    assert torch.equal(fake[-1].w, torch.arange(3.0))
    again = _train(tmp_path, lines)   # the rebuilt files are whole
    prepare.ensure_loaded(again)
    assert again.reused and fake[-1].fits == 0 and len([ln for ln in lines if "warning:" in ln]) == 1


@pytest.mark.parametrize("damage", ["truncated", "empty", "not a zip"])
def test_corrupt_features_are_one_warning_then_extracted_again(damage, tmp_path):
    lines, method, vs = [], Fake(), _data(6).seen
    ctx, R = _ctx(tmp_path, lines), Recipe()
    spec = {"v": 2, "ckpt": "k", "videos": "x", "clips": 1}
    first = cached_features(method, spec, vs, R, ctx, "features")
    [path] = (ctx.cache_dir / "features").glob("*.npz")
    {"truncated": _truncate, "empty": lambda p: p.write_bytes(b""),
     "not a zip": lambda p: p.write_text("hello")}[damage](path)
    stale = _stale(path, dead_pid())
    again = cached_features(method, spec, vs, R, ctx, "features")
    [warning] = lines
    assert str(path) in warning and "extracting them again" in warning
    assert method.encodes == 2 and not again.cached and np.array_equal(again.features, first.features)
    assert not stale.exists(), "the next write removes an interrupted write's partial file"
    assert cached_features(method, spec, vs, R, ctx, "features").cached and len(lines) == 1


def test_corrupt_training_state_is_one_warning_then_started_over(tmp_path):
    lines = []
    path = tmp_path / "train_state.pt"
    path.write_bytes(b"PK\x03\x04 half a zip")
    state = TrainState(path, log=lines.append)
    [warning] = lines
    assert state.saved is None and str(path) in warning and "starting the training over" in warning
    assert not path.exists()


@pytest.fixture(scope="module")
def few_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("few")
    from real_layouts import frames
    paths = []
    for k in range(3):
        write_mp4(root / f"v{k}.mp4", frames(12, k), 8)
        paths.append(str(root / f"v{k}.mp4"))
    return VideoSet("few", root, ["a"], paths, np.zeros(3, int))


@pytest.mark.parametrize("part", ["index.npz", "meta.json", "shard-000.u8"])
def test_corrupt_frame_cache_is_one_warning_then_decoded_again(part, few_videos, tmp_path, capsys):
    fc = build_frame_cache(few_videos, tmp_path, workers=1)
    first = np.array(fc.frames(few_videos.paths[0]))
    _truncate(fc.root / part)
    capsys.readouterr()
    again = build_frame_cache(few_videos, tmp_path, workers=1)
    line = one_line(capsys.readouterr().err)
    assert "warning:" in line and str(fc.root) in line and "decoding the videos again" in line
    assert again.fresh and np.array_equal(again.frames(few_videos.paths[0]), first)


def test_corrupt_synthetic_manifest_is_one_warning_then_written_again(cache_dir, tmp_path, capsys):
    cfg = load_protocol("tests/protocols/tiny.toml").synth
    src = ensure_synth(cache_dir, cfg)
    root = tmp_path / "synth" / src.name
    shutil.copytree(src, root)
    _truncate(root / "manifest.json")
    capsys.readouterr()
    assert ensure_synth(tmp_path, cfg, workers=1) == root
    line = one_line(capsys.readouterr().err)
    assert "synthetic data manifest" in line and str(root / "manifest.json") in line
    assert json.loads((root / "manifest.json").read_text())["classes"]


def test_corrupt_glove_cache_is_one_warning_then_built_again(tmp_path, capsys):
    from zsarbench.text.embeddings import _glove_keyedvectors, glove_cache_path
    kv = _file(glove_cache_path(tmp_path))       # its vectors file missing, itself not gensim's
    stale = [_stale(kv, dead_pid(), ".vectors.npy"), _file(kv.with_name(f"{kv.name}.{dead_pid()}.part"))]
    assert _glove_keyedvectors(tmp_path).has_index_for("running")
    line = one_line(capsys.readouterr().err)
    assert "GloVe vectors" in line and str(kv) in line and "building them again" in line
    assert not any(p.exists() for p in stale), "partial files of earlier builds are gone"
    assert _glove_keyedvectors(tmp_path).has_index_for("running") and not capsys.readouterr().err


def test_read_or_discard_deletes_only_what_fails(tmp_path):
    good, bad = _file(tmp_path / "good.json"), _file(tmp_path / "bad.json")
    good.write_text('{"a": 1}')
    lines = []
    assert read_or_discard(good, lambda p: json.loads(p.read_text()), "log", "again", lines.append) == {"a": 1}
    assert read_or_discard(bad, lambda p: json.loads(p.read_text()), "log", "again", lines.append) is None
    assert good.exists() and not bad.exists() and len(lines) == 1 and "JSONDecodeError" in lines[0]
    assert remove_stale_parts(tmp_path / "nothing") == []


# ----------------------------------------------------------------------------- logs: progress lines, decord

PROGRESS = re.compile(r": \d+/\d+ \(\d+%\), \d+:\d\d:\d\d elapsed, [\d.e+]+/s, (done|eta \d+:\d\d:\d\d)$")


def test_line_progress_prints_whole_lines_at_steps_and_at_the_end():
    lines, now = [], [0.0]
    con = SimpleNamespace(print=lambda text, **kw: lines.append(text))
    with LineProgress(con, clock=lambda: now[0]) as p:
        task = p.add_task("features: test videos", total=1000)
        for _ in range(1000):
            now[0] += 0.01          # 10 s in all, 100 items/s
            p.advance(task)
        slow = p.add_task("slow", total=100)
        now[0] += 100
        p.update(slow, advance=1)   # 1% in a long gap: a line all the same
        now[0] += 31
        p.update(slow, advance=1)
        now[0] += 1
        p.update(slow, advance=1)   # not yet; its line comes when the display ends, unfinished
    assert all(PROGRESS.search(ln) for ln in lines), lines
    fast = [ln for ln in lines if ln.startswith("features")]
    assert 4 <= len(fast) <= 6, "about every 2 s (and 10%), and the end"
    assert fast[-1] == "features: test videos: 1000/1000 (100%), 0:00:10 elapsed, 100/s, done"
    assert any("eta 0:00:0" in ln for ln in fast)
    slow = lines[len(fast):]
    assert [ln.split(",")[0] for ln in slow] == [f"slow: {k}/100 ({k}%)" for k in (1, 2, 3)], "every 30 s at least"


@pytest.mark.train
def test_progress_on_a_non_terminal_stderr_is_whole_lines(tiny):
    err = tiny["stderr"]
    progress = [ln for ln in err.splitlines() if " elapsed, " in ln]
    assert progress and all(PROGRESS.search(ln) for ln in progress), err
    assert "…" not in err and "..." not in err, "nothing cut to the width of a terminal"
    assert any(ln.startswith("transfer: cross-validating") and ln.endswith("done") for ln in progress)


def test_decord_output_is_captured_and_said_in_our_words(tmp_path, few_videos, capfd):
    bad = {"empty.mp4": b"", "text.mp4": b"not a video",
           "trunc.mp4": Path(few_videos.paths[0]).read_bytes()[:300]}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CorruptVideo, match=r"\w"):
            read_clips(str(tmp_path / name), 4, 2)
    assert read_clips(few_videos.paths[0], 4, 2).shape[:2] == (1, 4)
    print("ours", file=sys.stderr)
    err = capfd.readouterr().err
    assert not DECORD.search(err), err
    assert err.strip() == "ours", "fd 2 is back to normal"


def test_data_check_prints_no_decord_lines(tmp_path):
    from real_layouts import build_ucf101
    root = build_ucf101(tmp_path / "ucf")
    (root / "UCF-101" / "YoYo" / "v_YoYo_g09_c01.avi").write_bytes(b"")
    r = run_cli("data", "check", "ucf101", "--data-root", f"ucf101={root}", "--results-dir", tmp_path / "res")
    assert r.returncode == 0, r.stderr
    assert "unreadable videos: 2" in r.stdout and not DECORD.search(r.stderr), r.stderr


# ----------------------------------------------------------------------------- corrupt caches: a tiny run

@pytest.fixture
def tiny(cache_dir, tiny_run):
    """The session's tiny run (conftest.tiny_run): its model and feature files, which a test here
    damages and restores."""
    doc = tiny_run.doc
    feats = [Path(cache_dir) / "features" / f"{f['cache_key']}.npz" for f in doc["features"].values()]
    return {"ckpt": Path(doc["checkpoint"]["path"]), "features": feats, "stderr": tiny_run.stderr, "doc": doc}


@pytest.mark.train
@pytest.mark.parametrize("damage", ["truncated model.pt", "truncated features .npz"])
def test_run_over_a_corrupt_cache_warns_once_and_rebuilds(damage, tiny, cache_dir, tmp_path, capsys):
    target = tiny["ckpt"] if "model" in damage else tiny["features"][1]
    keep = tmp_path / "original"
    shutil.copy2(target, keep)
    stale = [_stale(target, dead_pid()), _stale(target.with_name("train_state.pt"), dead_pid())]
    try:
        _truncate(target)
        code, out, err = run_entry(capsys, "run", "rest_tiny", *TINY_ARGS, "--cache-dir", cache_dir,
                                   "--results-dir", tmp_path / "results")
        assert code == 0, err
        [warning] = warnings_in(err)
        assert str(target) in warning and ("retraining" if "model" in damage else "extracting them again") in warning
        doc = json.loads(next((tmp_path / "results").glob("*/*.json")).read_text())
        assert doc["checkpoint"]["reused"] == ("model" not in damage)
        assert doc["aggregate"] == tiny["doc"]["aggregate"], "rebuilt as it was"
        if "model" in damage:
            assert not any(p.exists() for p in stale), "partial files of the retrained files are gone"
        else:
            assert not stale[0].exists() and not doc["features"]["target"]["cached"]
    finally:
        shutil.copy2(keep, target)
        for p in stale:
            p.unlink(missing_ok=True)
