import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One cache for the session: the GloVe KeyedVectors and tiny synthetic data are built once."""
    d = Path(os.environ.get("ZSARBENCH_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    return d


def run_here(*args):
    """`zsarbench ARGS` in the test process: the CLI's own code path without a new interpreter
    (seconds of imports saved per call). Fails the test on a non-zero exit."""
    from click.testing import CliRunner

    from zsarbench.cli import main
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output[-3000:]
    return r


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
