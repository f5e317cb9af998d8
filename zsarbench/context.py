"""The run context: where an experiment reads and writes, on which device, and how it reports.
Every command builds it through `make_context`, so the command line, the cache folder and the
rank-0-only output are decided in one place."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("ZSARBENCH_CACHE") or Path.home() / ".cache" / "zsarbench")


def command_line() -> str:
    """The command as typed, for the results file (`command`)."""
    return "zsarbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _quiet(*args, **kwargs) -> None:
    pass


@dataclass
class RunContext:
    cache_dir: Path
    results_dir: Path
    device: str = "auto"
    command: str = ""
    progress: object = None      # a rich Progress, or None
    log: object = print          # one-line status messages
    data_roots: dict = field(default_factory=dict)  # --data-root NAME=PATH (data/roots.py)
    resume: bool = True          # continue an interrupted training of the same run (engine/train.py)
    allow_nonstandard: bool = False  # accept dataset trees that do not match their signature (data/signatures.py)


def make_context(cache_dir: Path | None = None, results_dir: Path = Path("results"), device: str = "auto",
                 progress=None, data_roots: dict | None = None, resume: bool = True,
                 allow_nonstandard: bool = False) -> RunContext:
    """The context of one command: its own command line; logs through the progress display on rank 0
    and nowhere on torchrun's other ranks."""
    from .engine import dist   # imports torch: only once a command runs an experiment

    log = (progress.console.print if progress is not None else print) if dist.is_main() else _quiet
    return RunContext(Path(cache_dir) if cache_dir else default_cache_dir(), Path(results_dir), device,
                      command_line(), progress, log, dict(data_roots or {}), resume, allow_nonstandard)
