"""The run context: where an experiment reads and writes, on which device, and how it reports.
Every command builds it through `make_context`, so the command line, the cache folder and the
rank-0-only output (`writes_outputs`) are decided in one place."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("ZSARBENCH_CACHE") or Path.home() / ".cache" / "zsarbench")


def user_config_dir() -> Path:
    """The user's zsarbench folder: $XDG_CONFIG_HOME/zsarbench, else ~/.config/zsarbench (datasets.toml,
    protocols/)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "zsarbench"


def command_line() -> str:
    """The command as typed, for the results file (`command`), with any password in it redacted."""
    from .redact import redact

    return redact("zsarbench " + " ".join(shlex.quote(a) for a in sys.argv[1:]))


def _quiet(*args, **kwargs) -> None:
    pass


def _rank_zero() -> bool:
    """Whether this process writes outputs and prints: rank 0 under torchrun (the other ranks compute
    the same numbers: engine/dist.py), and any single process."""
    from .engine import dist  # imports torch: only once a command runs an experiment

    return dist.is_main()


def literal(console):
    """A one-line log on a rich console that prints its text as it is (no markup: a path or a value
    with brackets stays whole), warnings and notes in yellow."""
    def log(message: str) -> None:
        console.print(message, markup=False, highlight=False,
                      style="yellow" if str(message).startswith(("warning", "note")) else None)
    return log


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
    writes_outputs: bool = field(default_factory=_rank_zero)   # results files (results.write_results) and logs
    train: bool = True           # False: a model not in the cache is an error, not a training (`verify --rerun`)
    tensorboard: Path | None = None  # --tensorboard DIR: live training curves (engine/curves.py)
    accept: tuple = ()           # --accept NAME: inputs that change the protocol, accepted and recorded (deviations.py)


def check_outputs(cache_dir: Path | None = None, results_dir: Path | None = None, out_dir: Path | None = None,
                  result_folders=(), cache: bool = False) -> None:
    """Every folder a command writes in, checked before it does any work: a file in a folder's place
    (or a folder we cannot write in) is one line naming it (UserError). `cache`: the command writes
    in the cache folder (`cache_dir`, else the default); `result_folders`: RESULTS_DIR/<name> too."""
    from .artefacts import check_writable_dir

    if cache or cache_dir is not None:
        check_writable_dir(Path(cache_dir) if cache_dir else default_cache_dir(), "cache folder",
                           "--cache-dir (or $ZSARBENCH_CACHE)")
    if results_dir is not None:
        for folder in (Path(results_dir), *(Path(results_dir) / name for name in result_folders)):
            check_writable_dir(folder, "results folder", "--results-dir")
    if out_dir is not None:
        check_writable_dir(out_dir, "output folder", "--out")


def make_context(cache_dir: Path | None = None, results_dir: Path = Path("results"), device: str = "auto",
                 progress=None, data_roots: dict | None = None, resume: bool = True,
                 result_folders=(), allow_nonstandard: bool = False, tensorboard: Path | None = None,
                 accept=()) -> RunContext:
    """The context of one command: its own command line; logs through the progress display on rank 0
    and nowhere on torchrun's other ranks. The cache and results folders (and RESULTS_DIR/<name> of
    `result_folders`) are checked first (check_outputs)."""
    check_outputs(cache_dir, results_dir, result_folders=result_folders, cache=True,
                  out_dir=Path(tensorboard) if tensorboard else None)
    writes = _rank_zero()
    log = (literal(progress.console) if progress is not None else print) if writes else _quiet
    return RunContext(Path(cache_dir) if cache_dir else default_cache_dir(), Path(results_dir), device,
                      command_line(), progress, log, dict(data_roots or {}), resume, allow_nonstandard,
                      writes_outputs=writes, tensorboard=Path(tensorboard) if tensorboard else None,
                      accept=tuple(accept))
