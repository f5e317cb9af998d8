"""Installable anywhere: the two wheels (zsarbench and the baselines plugin) built from the sources,
installed into a fresh virtual environment that borrows only the installed dependencies, work from a
folder outside the checkout. Train-free (clip_tiny is zero-shot); nothing is downloaded (--no-index,
--no-build-isolation). docs/development.md lists the same commands."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import distributions
from pathlib import Path

import pytest
from helpers import ROOT, needs

SHIPPED = ROOT / "zsarbench" / "protocols"


def _setuptools_that_builds_wheels() -> Path | None:
    """The folder of the newest setuptools on this interpreter's path if it builds wheels by itself
    (>= 70.1). --no-build-isolation uses the first setuptools importable, and a venv's bundled one
    (65.5 for Python 3.11) can shadow a newer one that a dependency brought in."""
    found = [(tuple(int(x) for x in d.version.split(".")[:2]), Path(d.locate_file("")))
             for d in distributions(name="setuptools") if d.version.split(".")[0].isdigit()]
    best = max(found, default=None)
    return best[1] if best and best[0] >= (70, 1) else None


def _sh(*args, cwd, env=None, timeout=600) -> str:
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    """`pip wheel --no-deps` of a copy of the project and of baselines/ (the checkout stays untouched)."""
    backend = _setuptools_that_builds_wheels()
    needs(backend, "no setuptools >= 70.1 on the path to build wheels offline (`make install` brings one)")
    tmp = tmp_path_factory.mktemp("wheels")
    src = tmp / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(ROOT / "zsarbench", src / "zsarbench", ignore=skip)
    shutil.copytree(ROOT / "baselines", src / "baselines", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    env = {**os.environ, "PYTHONPATH": str(backend)}
    _sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp / "dist",
        ".", "./baselines", cwd=src, env=env)
    [core] = (tmp / "dist").glob("zsarbench-*.whl")
    [plugin] = (tmp / "dist").glob("zsarbench_baselines-*.whl")
    return {"core": core, "plugin": plugin}


def test_the_wheels_carry_their_data(wheels):
    core = set(zipfile.ZipFile(wheels["core"]).namelist())
    assert {f"zsarbench/protocols/{p.name}" for p in SHIPPED.glob("*.toml")} <= core, "every shipped protocol"
    assert not any("tuned" in n for n in core if n.startswith("zsarbench/protocols/")), "no tuned overlay inside"
    assert {"zsarbench/report/paper.toml", "zsarbench/text/overrides/ucf101.toml"} <= core
    entry_points = zipfile.ZipFile(wheels["core"]).read("zsarbench-0.1.0.dist-info/entry_points.txt").decode()
    assert "[zsarbench.methods]" in entry_points and "rest18 = zsarbench.methods.rest:rest18" in entry_points
    plugin = set(zipfile.ZipFile(wheels["plugin"]).namelist())
    assert "zsarbench_baselines/clip_configs/zsar-clip-tiny.json" in plugin


def test_a_fresh_venv_from_the_wheels_works_outside_the_checkout(wheels, tmp_path, cache_dir):
    venv = tmp_path / "venv"
    _sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    bin_ = venv / "bin"
    site = Path(_sh(bin_ / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path).strip())
    # the installed dependencies, after the fresh venv's own site-packages (so its zsarbench wins)
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "zz_zsarbench_deps.pth").write_text("\n".join(deps) + "\n")
    _sh(bin_ / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheels["core"], wheels["plugin"], cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZSARBENCH_PROTOCOL_PATH")}
    env.update(ZSARBENCH_CACHE=str(cache_dir), XDG_CONFIG_HOME=str(tmp_path / "config"))

    def zsarbench(*args) -> str:
        return _sh(bin_ / "zsarbench", *args, cwd=elsewhere, env=env)

    where = _sh(bin_ / "python", "-c", "import zsarbench, zsarbench_baselines as b; print(zsarbench.__file__, b.__file__)",
                cwd=elsewhere, env=env).split()
    assert all(Path(w).is_relative_to(site) for w in where), where

    names = zsarbench("ls", "protocols", "--names").split()
    assert names and len(set(names)) == len(names)
    assert set(names) == {p.stem for p in SHIPPED.glob("*.toml") if not p.name.startswith("_")}
    assert f"1. shipped {site / 'zsarbench' / 'protocols'}" in zsarbench("ls", "protocols", "synth-*")
    assert zsarbench("validate", *names).count("ok: ") == len(names)

    methods = set(zsarbench("ls", "methods", "--names").split())
    plugin_methods = {line.split("=")[0].strip() for line in
                      (ROOT / "baselines" / "pyproject.toml").read_text().partition('."zsarbench.methods"]')[2].splitlines()
                      if "=" in line}
    assert plugin_methods and plugin_methods | {"rest18", "rest34", "rest101", "rest_tiny"} <= methods

    # a tiny run: the test protocol, its include found on the search path (the installed _synth.toml)
    (elsewhere / "tiny.toml").write_text((ROOT / "tests" / "protocols" / "tiny.toml").read_text())
    zsarbench("run", "clip_tiny", "-p", "tiny.toml", "--results-dir", "res")
    [path] = (elsewhere / "res" / "tiny").glob("clip_tiny-*.json")
    doc = json.loads(path.read_text())
    assert doc["kind"] == "zsar-run" and doc["method"]["name"] == "clip_tiny" and len(doc["splits"]) == 3
    assert doc["protocol"]["path"] == str(elsewhere / "tiny.toml")
