import textwrap

import pytest
from helpers import run_cli

from zsarbench import create_method, list_methods
from zsarbench.errors import UserError
from zsarbench.registry import method_origin


def test_list_and_create():
    built_in = [m for m in list_methods("rest*") if method_origin(m).startswith("zsarbench.methods.rest:")]
    assert built_in == ["rest101", "rest18", "rest34", "rest_tiny"]   # baselines/ adds rest18_cls_only, ...
    m = create_method("rest18", depth=2)
    assert m.name == "rest18" and m.cfg["depth"] == 2 and m.cfg["backbone"] == "resnet18"
    assert create_method("rest101").cfg["frames"] == 4


def test_unknown_method_suggests():
    with pytest.raises(UserError, match="did you mean 'rest34'"):
        create_method("rest43")


def test_stale_metadata_is_named(tmp_path):
    """The built-in methods are entry points of zsarbench's installed metadata: an install whose
    metadata lacks them (an editable install made before they were declared) says how to fix it."""
    dist = tmp_path / "zsarbench-0.1.0.dist-info"   # first on the path: it is zsarbench's metadata
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zsarbench\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[console_scripts]\nzsarbench = zsarbench.cli:entry\n")
    # from tmp_path: the checkout's own zsarbench.egg-info (a setuptools leftover) is not on the path;
    # an unknown protocol: a command that fails before any work if the method were found after all
    r = run_cli("run", "rest18", "-p", "no-such-protocol", env={"PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 2 and "unknown method 'rest18'" in r.stderr, r.stderr
    assert "zsarbench's own methods are not registered" in r.stderr and "make install" in r.stderr


def test_entry_point_plugin_is_discovered(tmp_path):
    """A third-party package registers through the zsarbench.methods entry-point group."""
    (tmp_path / "my_plugin.py").write_text(textwrap.dedent('''
        from zsarbench.methods.rest import ResTMethod

        def my_method(**overrides):
            """A plugin method for the registry test."""
            return ResTMethod("my_method", **{"depth": 1, **overrides})
    '''))
    dist = tmp_path / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[zsarbench.methods]\nmy_method = my_plugin:my_method\n")
    r = run_cli("ls", "methods", env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "my_method" in r.stdout and "my_plugin:my_method" in r.stdout
