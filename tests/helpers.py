"""What the tests import (conftest.py holds the fixtures; pytest's docs advise against importing it):
the project root, the tiny protocol, the CLI run three ways, the skip rule for missing tools, the tuning
test space and the decoding caches' test videos."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY_PROTOCOL = ROOT / "tests" / "protocols" / "tiny.toml"


def in_ci() -> bool:
    """CI runs .ci/run with CI=true (as GitHub Actions, GitLab and most others do)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def needs(available, what: str) -> None:
    """The one way a test skips for something outside the project that the machine may lack (a tool
    such as pdflatex, the public class lists of shared/): skipped on a machine without it, FAILED under
    CI, where .ci/run installs or lays out every such thing, so that a check which never ran cannot
    pass as one that did. `what`: what is missing and how to get it."""
    if available:
        return
    if in_ci():
        pytest.fail(f"CI=true and {what}: .ci/run must provide it", pytrace=False)
    pytest.skip(what)


def run_here(*args):
    """`zsarbench ARGS` in the test process: the CLI's own code path without a new interpreter
    (seconds of imports saved per call). Fails the test on a non-zero exit."""
    from click.testing import CliRunner

    from zsarbench.cli import main
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output[-3000:]
    return r


# `zsarbench tune`'s test space, seconds per trial on 2 CPU cores: a fifth of an epoch per stage, two
# method and recipe settings (tests/test_tune.py, tests/test_postgres.py)
TUNE_SPACE = """
[recipe.joint_lr]
low = 1e-5
high = 3e-4
log = true

[method.depth]
low = 1
high = 2
int = true
"""
TUNE_FAST = ["--set", "recipe.warmup_epochs=0.2", "--set", "recipe.joint_epochs=0.2"]


def small_videos(root: Path) -> list[str]:
    """Three 40 x 40 synthetic mp4s (sliding, blinking, falling star) and a truncated copy of the first,
    in that order: the decoding caches' test videos."""
    import numpy as np

    from zsarbench.data.synth import render_video, write_mp4
    from zsarbench.protocol import Synth

    cfg = Synth(size=40, n_frames=24)
    paths = []
    for k, motion in enumerate(("sliding", "blinking", "falling")):
        p = root / f"{motion}.mp4"
        write_mp4(p, render_video("ucf", motion, "star", cfg, np.random.default_rng(k)), cfg.fps)
        paths.append(str(p))
    bad = root / "truncated.mp4"
    bad.write_bytes(open(paths[0], "rb").read()[:300])
    return paths + [str(bad)]


def run_cli(*args, env=None, cwd=None, timeout=900):
    import subprocess

    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "zsarbench.cli", *args], capture_output=True, text=True,
                          env=e, cwd=cwd or ROOT, timeout=timeout)


def run_entry(capsys, *args) -> tuple[int, str, str]:
    """`zsarbench ARGS` through the console-script entry (its error handling included) in the test
    process: (exit code, stdout, stderr). Seconds of interpreter start and imports saved per call."""
    from zsarbench.cli import entry

    argv, sys.argv = sys.argv, ["zsarbench", *map(str, args)]
    try:
        entry()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err
