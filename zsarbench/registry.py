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
