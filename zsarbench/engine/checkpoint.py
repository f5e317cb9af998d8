"""Trained-model cache: one checkpoint per (method + config, training videos by content and their
classes, label embedding, recipe, seed), keyed by what it depends on and never by where the data or
the cache lives (prepare.train_or_reuse builds the source part of the key).

Files are written to a temporary name and renamed, so a crash never leaves a half checkpoint
under the final name (and the partial files of an interrupted save are deleted by the next save of
the same file: artefacts.py); loads use weights_only=True (no pickled code runs)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from ..artefacts import write_atomic
from ..errors import UserError

# bump when what a checkpoint holds or how it is keyed changes (2: training videos keyed by content)
CHECKPOINT_VERSION = 2
# Recipe fields that do not change what training learns (evaluation, speed, bookkeeping).
NOT_TRAINING = {"test_clips", "workers", "frame_cache", "checkpoint_every", "compile"}
# Training fields added after checkpoints existed: left out at their default, so those keep their keys.
ADDED_LATER = {"flip": False, "clip_store": 0, "decoder": "decord"}


def checkpoint_key(method: str, method_config: dict, source: dict, recipe: dict) -> str:
    train_recipe = {k: v for k, v in recipe.items()
                    if k not in NOT_TRAINING and not (k in ADDED_LATER and v == ADDED_LATER[k])}
    blob = json.dumps({"v": CHECKPOINT_VERSION, "method": method, "config": method_config, "source": source,
                       "recipe": train_recipe}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_DIGESTS: dict = {}


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 (hex) of a file's bytes, memoised per (path, size, mtime, ctime) in memory and, given the
    run's cache folder, on disk (CACHE/digests/), so a large weights file is hashed once, not on
    every run or process."""
    from ..artefacts import write_text_atomic

    path = Path(path)
    st = path.stat()
    memo = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if memo in _DIGESTS:
        return _DIGESTS[memo]
    disk = None if cache_dir is None else \
        Path(cache_dir) / "digests" / f"{hashlib.sha256(json.dumps(list(memo)).encode()).hexdigest()[:24]}.json"
    try:
        digest = json.loads(disk.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        digest = h.hexdigest()
        if disk is not None:
            try:
                write_text_atomic(disk, json.dumps({"path": memo[0], "size": memo[1], "mtime_ns": memo[2],
                                                    "sha256": digest}))
            except (OSError, UserError):   # an unwritable or full cache only costs hashing again
                pass
    _DIGESTS[memo] = digest
    return digest


def file_digest(path: Path, cache_dir: Path | None = None) -> str:
    """The checkpoint keys' short form of file_sha256: "sha256:" and its first 16 hex digits."""
    return "sha256:" + file_sha256(path, cache_dir)[:16]


def checkpoint_dir(cache_dir: Path, method: str, key: str) -> Path:
    return Path(cache_dir) / "checkpoints" / f"{method}-{key}"


def tensor_bytes(obj) -> int:
    """About how many bytes torch.save writes for `obj`: its tensors' bytes."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def save_atomic(obj, path: Path, what: str = "checkpoint") -> None:
    """Write to a temporary file, fsync, rename: a crash never leaves a half file under `path`, a
    full disk is one line and leaves no part (artefacts.write_atomic); then delete what interrupted
    saves of `path` left."""
    write_atomic(Path(path), lambda f: torch.save(obj, f), what, tensor_bytes(obj) or None)


def load_checkpoint(path: Path) -> dict:
    """The saved dict (raises on a truncated or corrupt file: read it through artefacts.read_or_discard)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # its message opens with advice on trusted files: keep the cause
        cause = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
        raise ValueError(f"corrupt pickled data ({cause[1].strip() if cause else 'unpickling failed'})") from None
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a checkpoint")
    return state


def check_checkpoint(path: Path) -> bool:
    """A cheap test that the file is a whole torch.save archive, without loading it: its zip directory
    (at the end of the file: any truncation loses it) lists the pickle. Raises if not."""
    with zipfile.ZipFile(path) as z:
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in z.namelist()):
            raise ValueError("not a torch checkpoint (no data.pkl)")
    return True
