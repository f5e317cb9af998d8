"""The test suite's shared layer. Fixtures say what a test reuses, so no test depends on another
having run first (the unit tier passes in reverse order: `pytest --reverse`):

- `cache_dir`: one cache for the session (GloVe, the tiny synthetic data);
- `tiny_protocol`: tests/protocols/tiny.toml, the CI-sized synthetic protocol;
- `tiny_run` / `tiny_runs(method)`: `zsarbench run METHOD -p tiny.toml --seed 3` in that cache, trained
  at most once per session and method family (rest_tiny, e2e_tiny, clip_tiny, ...); a test that
  reuses the model or its features asks for it;
- `cli`: the CLI three ways (in process through click, through the console entry, a new interpreter).
"""

import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import TINY_PROTOCOL, run_cli, run_entry, run_here


def pytest_addoption(parser):
    parser.addoption("--reverse", action="store_true",
                     help="run the collected tests in reverse order (a check that no test needs another first)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reverse"):
        items.reverse()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One cache for the session: the GloVe KeyedVectors and tiny synthetic data are built once."""
    d = Path(os.environ.get("ZSARBENCH_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    return d


@pytest.fixture(scope="session")
def tiny_protocol() -> Path:
    return TINY_PROTOCOL


@dataclass(frozen=True)
class TinyRun:
    """One tiny run: its CLI arguments (to run it again: the model and features are then reused),
    its results file and document, and what it printed."""
    method: str
    args: tuple
    results: Path
    doc: dict
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def tiny_runs(cache_dir, tmp_path_factory):
    """tiny_runs(METHOD) -> TinyRun of `zsarbench run METHOD -p tests/protocols/tiny.toml --seed 3` in
    the session cache, run at most once per session and method."""
    import json

    done: dict[str, TinyRun] = {}

    def get(method: str = "rest_tiny") -> TinyRun:
        if method not in done:
            folder = tmp_path_factory.mktemp(f"tiny-{method}")
            args = ("-p", "tests/protocols/tiny.toml", "--seed", "3")
            r = run_cli("run", method, *args, "--cache-dir", cache_dir, "--results-dir", folder)
            assert r.returncode == 0, r.stderr[-3000:]
            [path] = folder.glob("*/*.json")
            done[method] = TinyRun(method, args, path, json.loads(path.read_text()), r.stdout, r.stderr)
        return done[method]
    return get


@pytest.fixture(scope="session")
def tiny_run(tiny_runs) -> TinyRun:
    """The rest_tiny model of the tiny protocol, seed 3: the one most tests reuse."""
    return tiny_runs("rest_tiny")


@pytest.fixture
def cli(capsys):
    """cli.here(*args) (click in process; fails on a non-zero exit), cli.entry(*args) -> (code, out,
    err) through the console entry, cli.proc(*args) -> CompletedProcess in a new interpreter."""
    return SimpleNamespace(here=run_here, entry=lambda *args: run_entry(capsys, *args), proc=run_cli)
