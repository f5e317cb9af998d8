"""Kinetics scale (docs/scale.md): the smoke at the paper's recipe on a Kinetics-700-sized tree of links
(545,000 training rows with the real class names, full-size UCF101 and HMDB51) stays small: under 10
minutes on 2 CPU cores, its decode and feature steps on a handful of videos, with the full run's
estimate and the decode-bound verdict; `data check --sample` opens a few videos per class."""

import re
import time

import pytest
from helpers import run_entry
from real_layouts import build_scale_trees


@pytest.mark.slow
@pytest.mark.scale
def test_smoke_at_the_papers_recipe_on_a_kinetics_sized_tree(capsys, cache_dir, tmp_path):
    roots = build_scale_trees(tmp_path / "trees")
    t = time.time()
    code, out, err = run_entry(capsys, "run", "rest18", "-p", "ucf101-0-50", "--smoke", "--device", "cpu",
                               "--embedding", "glove-6b-50d", "--cache-dir", cache_dir,
                               "--results-dir", tmp_path / "results",
                               *[f"--data-root={k}={v}" for k, v in roots.items()])
    seconds = time.time() - t
    with capsys.disabled():   # the smoke's own report, for docs/scale.md
        print(out, f"smoke: {seconds:.0f} s")
    assert code == 0, out + err[-3000:]
    assert "545000 videos" in out and "13320 videos" in out and "6766 videos" in out
    decoded = int(re.search(r"ok     decode: (\d+) videos", out)[1])
    encoded = int(re.search(r"ok     features: (\d+) videos, (\d+) clips", out)[1])
    assert decoded <= 48 and encoded <= 48, out
    assert re.search(r"estimate of the full run: .*features [\d,]+ clips", out)
    assert re.search(r"^(not )?decode-bound: ", out, re.M)
    assert seconds < 600, f"the smoke took {seconds:.0f} s"
    t = time.time()
    code, out, err = run_entry(capsys, "data", "check", "kinetics700", "--sample", "1",
                               f"--data-root=kinetics700={roots['kinetics700']}", "--results-dir", tmp_path / "res")
    assert code == 0, err
    assert "unreadable videos: 0 of 700 opened (1 per class, --sample)" in out, out
    assert time.time() - t < 300
