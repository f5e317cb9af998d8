"""`zsarbench data freeze` / `data check --against`: a protocol's videos pinned in a manifest, and a
deleted, a modified and an added video found again."""

import json

import pytest
from helpers import run_cli
from real_layouts import build_hmdb51_official, build_kinetics, mp4

from zsarbench.data.manifest import CHUNK, fast_hash


@pytest.fixture()
def roots(tmp_path):
    kin, missing = build_kinetics(tmp_path / "kinetics400")
    return {"kinetics400": kin, "hmdb51": build_hmdb51_official(tmp_path / "hmdb51"), "missing": missing}


def cli(*args, roots):
    return run_cli("data", *args, "--cache-dir", str(roots["kinetics400"].parent / "cache"),
                   *[f"--data-root={k}={roots[k]}" for k in ("kinetics400", "hmdb51")])


def test_freeze_then_check_finds_deleted_modified_and_added_videos(roots, tmp_path):
    man = tmp_path / "m.json"
    r = cli("freeze", "-p", "hmdb51-k400-full", "--out", str(man), "--allow-nonstandard", roots=roots)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(man.read_text())
    assert m["protocol"] == "hmdb51-k400-full" and m["allow_nonstandard"] is True and m["git_revision"]
    hmdb = m["datasets"]["hmdb51"]
    assert hmdb["role"] == "target" and hmdb["n_videos"] == 8 and hmdb["root"] == str(roots["hmdb51"])
    assert m["datasets"]["kinetics400"]["n_videos"] == 13      # the train subset on disk (one clip missing)
    size, digest = hmdb["videos"]["clap/clap_video_0.avi"]
    assert digest == fast_hash(roots["hmdb51"] / "clap" / "clap_video_0.avi", size)

    r = cli("check", "--against", str(man), roots=roots)
    assert r.returncode == 0 and "identical to the manifest" in r.stdout, r.stdout + r.stderr

    (roots["hmdb51"] / "clap" / "clap_video_0.avi").unlink()                        # deleted
    with open(roots["hmdb51"] / "situp" / "situp_video_1.avi", "ab") as f:           # modified
        f.write(b"\0")
    mp4(roots["kinetics400"] / "train" / f"{roots['missing']}.mp4", seed=9)   # an annotated clip found again: extra
    r = cli("check", "--against", str(man), roots=roots)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(("missing:", "extra:", "changed:"))]
    assert sorted(lines) == sorted([f"extra: kinetics400: train/{roots['missing']}.mp4",
                                    "missing: hmdb51: clap/clap_video_0.avi", "changed: hmdb51: situp/situp_video_1.avi"])
    assert "the videos differ from the manifest" in r.stdout


def test_freeze_never_overwrites_and_bad_manifests_are_one_line(roots, tmp_path):
    man = tmp_path / "m.json"
    man.write_text("{}")
    r = cli("freeze", "-p", "hmdb51-k400-full", "--out", str(man), "--allow-nonstandard", roots=roots)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "exists; pass --force" in r.stderr
    r = cli("check", "--against", str(man), roots=roots)
    assert r.returncode == 2 and "is not a video manifest" in r.stderr and "Traceback" not in r.stderr
    r = cli("check", "--against", str(tmp_path / "nope.json"), roots=roots)
    assert r.returncode == 2 and "not found" in r.stderr


def test_fast_hash_reads_the_ends(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"a" * (3 * CHUNK))
    h = fast_hash(p, p.stat().st_size)
    p.write_bytes(b"a" * CHUNK + b"b" + b"a" * (2 * CHUNK - 1))   # same size, change in the middle: unseen
    assert fast_hash(p, p.stat().st_size) == h
    p.write_bytes(b"a" * (3 * CHUNK - 1) + b"b")                 # last byte: seen
    assert fast_hash(p, p.stat().st_size) != h
