"""A check that cannot run must not pass unseen in CI: every skip for something missing goes through
helpers.needs, which fails under CI=true (.ci/run installs what the tests need)."""

import ast

import pytest
from helpers import ROOT, needs

# Skips that are not about a missing tool or file: they hold in CI too, on purpose.
NOT_MISSING = {
    ("test_bad_state.py", "root writes in read-only folders"),   # CI runs as root: the permission test cannot
    ("test_report.py", "no committed tables yet"),               # a checkout before the first `make tables`
}


def test_needs_skips_here_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    needs(True, "never")
    with pytest.raises(pytest.skip.Exception, match="pdflatex not installed"):
        needs(None, "pdflatex not installed")
    for value in ("true", "1", "TRUE"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="CI=true and pdflatex not installed: .ci/run must provide it"):
            needs(False, "pdflatex not installed")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        needs(False, "x")


def _skips(tree: ast.AST):
    """(line, reason) of each pytest.skip(...), pytest.importorskip(...), pytest.mark.skip(if)(...)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("skip", "skipif", "importorskip"):
            reason = next((k.value for k in node.keywords if k.arg == "reason"), None)
            reason = reason or next((a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)),
                                    None)
            yield node.lineno, reason.value if isinstance(reason, ast.Constant) else ast.unparse(node)


def test_every_skip_for_something_missing_goes_through_needs():
    found = {(path.name, line, reason) for path in sorted((ROOT / "tests").rglob("*.py")) if path.name != "helpers.py"
             for line, reason in _skips(ast.parse(path.read_text(), str(path)))}
    stray = [f"{name}:{line}: {reason}" for name, line, reason in sorted(found) if (name, reason) not in NOT_MISSING]
    assert not stray, "skips that would pass unseen in CI (use helpers.needs(available, what)):\n" + "\n".join(stray)
    assert {(name, reason) for name, _, reason in found} == NOT_MISSING, "an allowed skip is gone: update NOT_MISSING"


def test_no_test_imports_conftest():
    """Fixtures live in conftest.py, importable helpers in helpers.py: pytest loads conftest.py as a plugin,
    and importing it again as a module can run it twice (pytest's docs advise against it)."""
    offenders = [f"{path.name}:{node.lineno}" for path in sorted((ROOT / "tests").rglob("*.py"))
                 for node in ast.walk(ast.parse(path.read_text(), str(path)))
                 if isinstance(node, ast.ImportFrom) and node.module == "conftest"
                 or isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names)]
    assert not offenders, "import from helpers.py, not conftest.py: " + ", ".join(offenders)
