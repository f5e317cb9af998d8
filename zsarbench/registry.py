"""Method registry: every method, built-in or not, is a factory declared as an entry point of the
group `zsarbench.methods` by the package that ships it (zsarbench's own pyproject.toml for ResT,
baselines/pyproject.toml for the baselines, a user's package for theirs):

    [project.entry-points."zsarbench.methods"]
    my_method = "my_pkg.methods:my_method"     # def my_method(**overrides) -> Method

The entry point's name is the method's name. This module imports no method: it is a leaf that the
methods import (register_search_space), and a factory's module is imported when its entry points are
first read.
"""

from __future__ import annotations

import fnmatch
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from typing import Callable

from .errors import UserError, did_you_mean

ENTRY_POINT_GROUP = "zsarbench.methods"
_METHODS: dict[str, Callable] = {}
_ORIGIN: dict[str, str] = {}
_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _ORIGIN:
            if _ORIGIN[ep.name] != ep.value:
                raise UserError(f"method '{ep.name}' is declared twice ({_ORIGIN[ep.name]} and {ep.value}): "
                                "uninstall one of the packages")
            continue
        try:
            fn = ep.load()
        except Exception as e:  # a broken plugin must not take the built-in methods down
            raise UserError(f"method plugin '{ep.name}' ({ep.value}) failed to load: {e}") from None
        _METHODS[ep.name] = fn
        _ORIGIN[ep.name] = ep.value


def _not_installed_hint() -> str:
    """Why no built-in method may be registered: zsarbench's metadata (its entry points) is missing or
    stale, as when the source tree is imported without installing it or after the list changed."""
    try:
        declared = distribution("zsarbench").entry_points.select(group=ENTRY_POINT_GROUP)
    except PackageNotFoundError:
        declared = ()
    if declared:
        return ""
    return ("; zsarbench's own methods are not registered: its installed metadata has no entry points "
            f"'{ENTRY_POINT_GROUP}' (install it, or reinstall an editable install: `make install`)")


def list_methods(pattern: str = "*") -> list[str]:
    _load()
    return sorted(n for n in _METHODS if fnmatch.fnmatch(n, pattern))


def method_origin(name: str) -> str:
    _load()
    return _ORIGIN[name]


def create_method(name: str, **overrides):
    _load()
    if name not in _METHODS:
        raise UserError(f"unknown method '{name}'{did_you_mean(name, _METHODS)}; "
                        f"`zsarbench ls methods` lists them{_not_installed_hint()}")
    return _METHODS[name](**overrides)


def method_doc(name: str) -> str:
    """The first line of the method's factory docstring (`zsarbench ls methods`)."""
    _load()
    doc = (_METHODS[name].__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


# ----------------------------------------------------------------------------- search spaces (`zsarbench tune`)

_SPACES: dict[str, dict] = {}   # method name pattern (fnmatch) -> search space (tune.py: SPACE FORMAT)

DEFAULT_SPACE = {   # a method family that declares none: the recipe's learning rates and warm-up length
    "recipe.warmup_epochs": {"low": 1, "high": 6},
    "recipe.warmup_lr": {"low": 1e-3, "high": 0.1, "log": True},
    "recipe.joint_lr": {"low": 1e-5, "high": 3e-4, "log": True},
}


def register_search_space(pattern: str, space: dict) -> None:
    """Declare the search space of the methods whose name matches `pattern` (beside their
    registration; the first pattern that matches wins)."""
    _SPACES[pattern] = space


def search_space(name: str) -> dict:
    """The declared search space of method `name` (DEFAULT_SPACE when its family declares none)."""
    _load()
    return next((s for p, s in _SPACES.items() if fnmatch.fnmatch(name, p)), DEFAULT_SPACE)
