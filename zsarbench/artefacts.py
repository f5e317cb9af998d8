"""Files zsarbench writes and reads back: the one home of how they survive broken state.

  check_writable_dir  an output folder (results, cache, --out) checked before any work starts:
                      a file in its place, or a folder we cannot write in, is one line (UserError)
  read_or_discard     every read of a cached artefact (checkpoint, training log and state, features,
                      frame cache, synthetic data manifest, embedding cache) goes through it: an
                      unreadable file is reported in one line naming it, DELETED, and the caller
                      rebuilds it (retrains, re-extracts, regenerates); never a traceback
  part_path           the temporary name an atomic write goes to: .<name>.<pid>.part beside the file
  remove_stale_parts  after a successful write, partial files of the same artefact left by an
                      interrupted write (a process that is no longer running) are deleted
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from .errors import UserError

T = TypeVar("T")


# ----------------------------------------------------------------------------- output folders

def check_writable_dir(path: Path, what: str, how: str) -> Path:
    """`path` as a folder zsarbench may create and write in, or UserError: it (or a parent) is a file,
    or the nearest existing folder is not writable. Creates nothing. `how`: the option that sets it."""
    path = Path(path).expanduser()
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"is inside {probe}, which is a file"
        raise UserError(f"{what} {path} {where}, not a folder: give another {how}, or move the file away")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "is not writable" if probe == path else f"cannot be created: {probe} is not writable"
        raise UserError(f"{what} {path} {where}: give another {how}, or fix the permissions")
    return path


# ----------------------------------------------------------------------------- guarded reads

def _stderr_log(message: str) -> None:
    from rich.console import Console   # sys.stderr as it is now (a live progress display redirects it)

    Console(stderr=True, soft_wrap=True, highlight=False).print(message)


def discard(path: Path, also: Iterable[Path] = ()) -> None:
    """Delete a cached file or folder (and its side files)."""
    for p in (Path(path), *map(Path, also)):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def reason(e: BaseException) -> str:
    """An exception in a few words: its type and the first sentence of its message."""
    text = (str(e).strip().splitlines() or [""])[0].split(". ")[0][:160]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def read_or_discard(path: Path, read: Callable[[Path], T], what: str, then: str,
                    log: Callable[[str], None] | None = None, also: Iterable[Path] = ()) -> T | None:
    """read(path), or None when that fails (truncated, corrupt, not what it should hold): then one
    warning line names the file and why, the file (and `also`) is deleted, and the caller rebuilds it.
    `then`: what the caller does next ("retraining"); `log`: the run's one-line log (stderr if None)."""
    from rich.markup import escape

    try:
        return read(Path(path))
    except Exception as e:   # whatever a broken file raises (BadZipFile, EOFError, pickle, JSON ...)
        discard(path, also)
        (log or _stderr_log)(f"[yellow]warning: cached {what} {escape(str(path))} is unreadable "
                             f"({escape(reason(e))}); deleted it, {then}[/yellow]")
        return None


def read_json(path: Path) -> dict:
    """A JSON object from a file (raises on anything else: a truncated or empty file included)."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"holds a JSON {type(data).__name__}, not an object")
    return data


# ----------------------------------------------------------------------------- atomic writes

def part_path(path: Path) -> Path:
    """Where a write of `path` goes before it is renamed: .<name>.<pid>.part in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def write_text_atomic(path: Path, text: str) -> None:
    """Write to .<name>.<pid>.part in the same folder, fsync, then rename over `path` (a reader sees
    the old file or the new one, never half of one); then delete what interrupted writes left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = part_path(path)
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    remove_stale_parts(path)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """write_text_atomic for bytes (a predictions archive, a bundle)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = part_path(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    remove_stale_parts(path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_parts(path: Path, prefixes: tuple[str, ...] = (".",)) -> list[Path]:
    """Delete the partial files of `path` (.<name>.<pid>.part and what a writer put beside it) whose
    process is no longer running: an interrupted write of the same artefact. Call it after a
    successful write of `path`; returns what it deleted. `prefixes`: with "", also <name>.<pid>.part*
    (how the embedding cache named its partial files before)."""
    path = Path(path)
    gone = []
    for prefix in prefixes:
        for p in path.parent.glob(f"{prefix}{glob.escape(path.name)}.*.part*"):
            pid = p.name[len(prefix) + len(path.name) + 1:].split(".", 1)[0]
            if pid.isdigit() and (int(pid) == os.getpid() or not _running(int(pid))):
                discard(p)
                gone.append(p)
    return gone
