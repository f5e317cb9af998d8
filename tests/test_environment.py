"""Failures of the environment are one line each (issue 24, docs/errors.md): a full disk (on a real
small filesystem), concurrent cold runs (they wait on a lock), database failures, unreadable
folders; error text printed as it is; secrets redacted; `tune --out` never replaces a file it did
not write."""

import importlib.util
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT, TINY_PROTOCOL, needs, run_entry

from zsarbench.errors import UserError
from zsarbench.protocol import load_protocol


def one_error_line(code: int, err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------- a full disk

@contextmanager
def small_disk(path: Path, size: str):
    """A real filesystem of `size` (tmpfs) mounted at `path`; skips where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    needs(os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                               capture_output=True).returncode == 0,
          "mounting a small tmpfs needs root (CI runs as root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _left(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".part" in p.name)


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, cache_dir, capsys, monkeypatch):
    from zsarbench.artefacts import write_text_atomic
    from zsarbench.context import RunContext
    from zsarbench.data.datasets import resolve_dataset
    from zsarbench.data.frame_cache import build_frame_cache
    from zsarbench.engine.checkpoint import save_atomic
    from zsarbench.feature_cache import cached_features, feature_cache_path, feature_spec
    from zsarbench.methods.base import Encoded, Method
    from zsarbench.protocol import Recipe

    P = load_protocol(str(TINY_PROTOCOL))
    with small_disk(tmp_path / "disk", "1m") as disk:
        # a checkpoint (4 MB of weights) on a 1 MB disk
        with pytest.raises(UserError, match=r"disk full: writing checkpoint .*model\.pt needs 4\.0 MB \(.* free on that disk\); nothing"):
            save_atomic({"w": torch.zeros(1_000_000)}, disk / "ck" / "model.pt")
        assert not (disk / "ck" / "model.pt").exists() and _left(disk) == []

        # features (an extraction's .npz)
        class Big(Method):
            name = "big"

            def fit(self, *a, **k):
                return {}

            def encode(self, videos, recipe, n_clips, device, progress=None, desc=""):
                return Encoded(np.ones((len(videos), 200_000), np.float32), np.arange(len(videos)), [])

            def state_dict(self):
                return {}

            def load_state_dict(self, state):
                pass

        vs = resolve_dataset("synth-ucf", P, cache_dir)
        spec = feature_spec("k", vs, Recipe(), 4, 1)
        with pytest.raises(UserError, match=r"disk full: writing features .*\.npz needs [\d.]+ MB \([\d.]+ [kM]B free on that disk\)"):
            cached_features(Big(), spec, vs, Recipe(), RunContext(disk, disk), "features")
        assert not feature_cache_path(disk, spec).exists() and _left(disk) == []

        # the frame cache: refused before writing when its estimate exceeds the free space; and when the
        # estimate falls short (a sample of smaller videos), the write that fills the disk is one line and
        # its partial folder is deleted
        with pytest.raises(UserError, match=r"frame cache of synth-ucf would write about [\d,]+ bytes .* free space there"):
            build_frame_cache(vs, disk, None, workers=1)
        import zsarbench.data.frame_cache as fc
        monkeypatch.setattr(fc, "estimate_frame_cache", lambda videos, resize: (1, "an estimate that falls short"))
        with pytest.raises(UserError, match=r"disk full: writing the frame cache .*\.part needs at least"):
            build_frame_cache(vs, disk, None, workers=1)
        assert not list((disk / "frames").glob("*")) or all(p.suffix == ".lock" for p in (disk / "frames").iterdir())
        assert _left(disk) == []

        # an atomic text write (results, logs, overlays)
        with pytest.raises(UserError, match=r"disk full: writing file .*big\.json needs 2\.0 MB"):
            write_text_atomic(disk / "big.json", "x" * 2_000_000)
        assert not (disk / "big.json").exists() and _left(disk) == []

    # a cold cache through the command line: the synthetic videos, then a whole run: one line, exit 2
    for args in (["data", "synth", "-p", TINY_PROTOCOL], ["run", "rest_tiny", "-p", TINY_PROTOCOL, "--results-dir", tmp_path / "res"]):
        with small_disk(tmp_path / "disk2", "512k") as disk:
            code, _, err = run_entry(capsys, *args, "--cache-dir", disk / "cache")
            errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
            assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
            assert errors[0].startswith("error: disk full: writing ") and "free space" in errors[0]
            assert _left(disk) == [], "no partial file left"
            assert not list((disk / "cache").rglob("manifest.json")), "an interrupted generation is never trusted"
    assert "a synthetic video" in err or "GloVe" in err


# ----------------------------------------------------------------------------- concurrent cold runs

def _zsarbench(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zsarbench.cli", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def test_concurrent_cold_builds_wait_for_each_other(tmp_path):
    """Two `data synth`, then two `data cache`, started together on one cold cache: one builds, the
    other waits on its lock and then finds the artefact complete; neither fails."""
    cache = tmp_path / "cache"
    for command in (["data", "synth", "-p", TINY_PROTOCOL], ["data", "cache", "-p", TINY_PROTOCOL, "--workers", "1"]):
        procs = [_zsarbench(*command, "--cache-dir", cache) for _ in range(2)]
        outs = [p.communicate(timeout=900) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
        errs = " ".join(e for _, e in outs)
        assert "Traceback" not in errs and "waiting for another process building" in errs, errs
    assert len(list(cache.glob("synth/*/manifest.json"))) == 1 and _left(cache) == []
    assert len(list(cache.glob("frames/*/meta.json"))) == 2   # source and target, each built once


# ----------------------------------------------------------------------------- databases

@pytest.mark.parametrize("storage, needle", [
    ("not a url", "--storage not a url is not a database URL"),
    ("postgres://u:pw@localhost/db", "unknown database kind 'postgres' (PostgreSQL is spelled postgresql://)"),
    ("mysql+pymysql://u:pw@localhost/db", "the database driver is not installed"),
    ("sqlite:////no/such/folder/studies.db", "unable to open database file; the path must name a file (not a folder)"),
])
def test_database_failures_are_one_line(storage, needle, tmp_path, capsys):
    code, _, err = run_entry(capsys, "tune", "rest_tiny", "-p", TINY_PROTOCOL, "--trials", "1", "--storage", storage,
                             "--cache-dir", tmp_path / "cache", "--results-dir", tmp_path / "res",
                             "--out", tmp_path / "o.toml")
    line = one_error_line(code, err)
    assert needle in line and ":pw@" not in line
    assert not (tmp_path / "cache" / "checkpoints").exists()


def test_a_damaged_sqlite_study_and_a_server_that_is_down_are_one_line(tmp_path, capsys):
    db = tmp_path / "studies.db"
    db.write_bytes(b"this is not a database" * 200)
    for args in (["--trials", "1"], ["--show"]):
        code, _, err = run_entry(capsys, "tune", "rest_tiny", "-p", TINY_PROTOCOL, *args, "--storage", f"sqlite:///{db}",
                                 "--cache-dir", tmp_path / "cache", "--out", tmp_path / "o.toml")
        assert "file is not a database; the SQLite file is damaged: move it away" in one_error_line(code, err)
    needs(importlib.util.find_spec("psycopg"), "no PostgreSQL driver (pip install 'zsarbench[postgres]')")
    code, _, err = run_entry(capsys, "tune", "rest_tiny", "-p", TINY_PROTOCOL, "--trials", "1", "--storage",
                             "postgresql://zsar:Sekr3t@127.0.0.1:9/study", "--cache-dir", tmp_path / "cache",
                             "--out", tmp_path / "o.toml")
    line = one_error_line(code, err)
    assert "study storage postgresql://zsar:***@127.0.0.1:9/study:" in line and "Sekr3t" not in err
    assert "is the database server running and reachable from here?" in line


def test_storage_passwords_are_redacted():
    from zsarbench.context import command_line
    from zsarbench.redact import redact, redact_all

    assert redact("postgresql+psycopg://user:p@ss:w0rd@db.example:5432/zsar") == \
        "postgresql+psycopg://user:***@db.example:5432/zsar"
    assert redact("mysql://u@h/db and sqlite:////x.db") == "mysql://u@h/db and sqlite:////x.db"
    assert redact("https://h/x?token=abc&b=1") == "https://h/x?token=***&b=1"
    assert redact_all({"storage": ["postgresql://a:b@h/d"]}) == {"storage": ["postgresql://a:***@h/d"]}
    argv, sys.argv = sys.argv, ["zsarbench", "tune", "--storage", "postgresql://u:hunter2@h/d"]
    try:
        assert command_line() == "zsarbench tune --storage postgresql://u:***@h/d"
    finally:
        sys.argv = argv


# ----------------------------------------------------------------------------- folders, text, --out

def test_an_unreadable_folder_is_one_line(tmp_path):
    """A class folder nobody may list: one line naming it, never its videos silently left out. Root
    reads anything, so there the command runs without the capabilities that let it (setpriv)."""
    data = tmp_path / "d"
    for c in ("alpha", "beta"):
        (data / c).mkdir(parents=True)
        shutil.copy(TINY_PROTOCOL, data / c / "x.mp4")   # any file named .mp4: the listing fails first
    (data / "beta").chmod(0)
    prefix = []
    if os.geteuid() == 0:
        needs(shutil.which("setpriv"), "root reads every folder, and setpriv (util-linux) is not here to drop that")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    try:
        r = subprocess.run([*prefix, sys.executable, "-m", "zsarbench.cli", "data", "check", "mine",
                            "--data-root", f"mine={data}", "--probe", "0"], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    finally:
        (data / "beta").chmod(0o755)
    one = one_error_line(r.returncode, r.stderr)
    assert f"cannot read class folder {data / 'beta'}: Permission denied; check its permissions" in one


def test_error_text_is_printed_literally(capsys, tmp_path):
    code, _, err = run_entry(capsys, "run", "rest_tiny", "-p", TINY_PROTOCOL, "--set", "transfer.K=[a,b]")
    assert "transfer.K must be a list, got '[a,b]'" in one_error_line(code, err)
    code, _, err = run_entry(capsys, "run", "rest_tiny", "-p", tmp_path / "[red]x[/red].toml")
    assert "[red]x[/red].toml not found" in one_error_line(code, err)


def test_tune_out_never_replaces_a_file_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "mine.toml"
    mine.write_text(f'include = "{TINY_PROTOCOL}"\n[recipe]\njoint_lr = 1e-4\n')
    other = tmp_path / "other.toml"
    other.write_text('# zsarbench-tuned: {"study": "rest18--tiny--abc"}\ninclude = "x.toml"\n')
    for path, needle in ((mine, "is not an overlay written by `zsarbench tune`"),
                         (other, "is the overlay of another study (rest18--tiny--abc)")):
        before = path.read_bytes()
        code, _, err = run_entry(capsys, "tune", "rest_tiny", "-p", TINY_PROTOCOL, "--trials", "1", "--out", path,
                                 "--storage", f"sqlite:///{tmp_path / 's.db'}", "--cache-dir", tmp_path / "cache",
                                 "--results-dir", tmp_path / "res")
        line = one_error_line(code, err)
        assert needle in line and "give another --out, or move it away" in line
        assert path.read_bytes() == before and not (tmp_path / "cache" / "checkpoints").exists(), "before any trial"


@pytest.mark.train
def test_two_cold_runs_at_once_on_one_cache(tmp_path):
    """The issue's race: two `run`s started together on an empty cache. The synthetic videos, the GloVe
    vectors and each frame cache are built once (the other run waits); both finish with the same
    numbers, no traceback."""
    cache = tmp_path / "cache"
    args = ["run", "rest_tiny", "-p", TINY_PROTOCOL, "--seed", "9", "--set", "recipe.warmup_epochs=0.3",
            "--set", "recipe.joint_epochs=0.3", "--cache-dir", cache]
    procs = [_zsarbench(*args, "--results-dir", tmp_path / f"res{i}") for i in range(2)]
    outs = [p.communicate(timeout=1800) for p in procs]
    errs = " ".join(e for _, e in outs)
    assert [p.returncode for p in procs] == [0, 0] and "Traceback" not in errs, errs[-3000:]
    assert "waiting for another process building" in errs
    import json

    docs = [json.loads(next((tmp_path / f"res{i}").rglob("*.json")).read_text()) for i in range(2)]
    assert docs[0]["aggregate"] == docs[1]["aggregate"]
    assert len(list(cache.glob("synth/*/manifest.json"))) == 1 and _left(cache) == []
