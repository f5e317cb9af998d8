"""zsarbench: a benchmark harness for zero-shot action recognition (ResT and baselines)."""

__version__ = "0.1.0"

from .registry import create_method, list_methods  # noqa: E402,F401
