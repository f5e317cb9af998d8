"""Method registry, timm-style.

    @register_method
    def rest18(**overrides) -> Method: ...

The function's name is the method's name. Built-in methods are registered by importing
zsarbench.methods (done here, not by luck of import order); third-party packages register
factories under the entry-point group `zsarbench.methods`:

    [project.entry-points."zsarbench.methods"]
    my_method = "my_pkg.methods:my_method"
"""

from __future__ import annotations

import fnmatch
from importlib import import_module
from importlib.metadata import entry_points
from typing import Callable

from .errors import UserError, did_you_mean

ENTRY_POINT_GROUP = "zsarbench.methods"
_METHODS: dict[str, Callable] = {}
_ORIGIN: dict[str, str] = {}
_loaded = False


def register_method(fn: Callable) -> Callable:
    name = fn.__name__
    if name in _METHODS and _METHODS[name] is not fn:
        raise ValueError(f"method '{name}' is registered twice ({_ORIGIN[name]} and {fn.__module__})")
    _METHODS[name] = fn
    _ORIGIN[name] = fn.__module__
    return fn


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import_module("zsarbench.methods")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _METHODS:
            continue
        try:
            fn = ep.load()
        except Exception as e:  # a broken plugin must not take the built-in methods down
            raise UserError(f"method plugin '{ep.name}' ({ep.value}) failed to load: {e}") from None
        _METHODS[ep.name] = fn
        _ORIGIN[ep.name] = ep.value


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
                        "`zsarbench ls methods` lists them")
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
