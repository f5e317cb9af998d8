"""Built-in methods. Importing this package registers them (registry._load does so)."""

from . import rest  # noqa: F401
