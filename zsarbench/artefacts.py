"""Files zsarbench writes and reads back: the one home of how they survive broken state.

  check_writable_dir  an output folder (results, cache, --out) checked before any work starts:
                      a file in its place, or a folder we cannot write in, is one line (UserError)
  read_or_discard     every read of a cached artefact (checkpoint, training log and state, features,
                      frame cache, synthetic data manifest, embedding cache) goes through it: an
                      unreadable file is reported in one line naming it, DELETED, and the caller
                      rebuilds it (retrains, re-extracts, regenerates); never a traceback
  part_path           the temporary name an atomic write goes to: .<name>.<pid>.part beside the file
  write_atomic        every cached file is written to its part name, fsynced and renamed; a write
                      that fails deletes its part, and a full disk is one line (UserError) naming the
                      file and the bytes it needs (disk_full): nothing half-written is left to trust
  remove_stale_parts  after a successful write, partial files of the same artefact left by an
                      interrupted write (a process that is no longer running) are deleted
  built_once          a shared artefact (synthetic data, a frame cache, embedding vectors) is built
                      by one process at a time: others wait on its lock file, then reuse what it built
"""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
from contextlib import contextmanager
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
    from rich.console import Console  # sys.stderr as it is now (a live progress display redirects it)

    Console(stderr=True, soft_wrap=True, highlight=False, markup=False).print(
        message, style="yellow" if message.startswith("warning") else None)


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
    try:
        return read(Path(path))
    except Exception as e:   # whatever a broken file raises (BadZipFile, EOFError, pickle, JSON ...)
        discard(path, also)
        (log or _stderr_log)(f"warning: cached {what} {path} is unreadable ({reason(e)}); deleted it, {then}")
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


# errno values of a write that found no room: no space, quota exceeded, file too large (RLIMIT_FSIZE)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def is_disk_full(e: BaseException) -> bool:
    # numpy's tofile says it in words, with no errno: "Not enough free space to write N bytes"
    return isinstance(e, OSError) and (e.errno in DISK_FULL or "not enough free space" in str(e).lower())


def disk_full(path: Path, what: str, need: int | None = None, at_least: bool = False) -> UserError:
    """The one line of a write that found the disk full: the file, the bytes it needs, what is free."""
    probe = Path(path).parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        free = f" ({size_text(shutil.disk_usage(probe).free)} free on that disk)"
    except OSError:
        free = ""
    need_text = f" needs {'at least ' if at_least else ''}{size_text(need)}" if need else " needs more space"
    return UserError(f"disk full: writing {what} {path}{need_text}{free}; nothing half-written was kept: free "
                     "space (or point --cache-dir / --results-dir at another disk) and run again")


@contextmanager
def disk_full_guard(path: Path, what: str, need: int | None = None, cleanup: Iterable[Path] = (),
                    at_least: bool = False):
    """A write that fails on a full disk: `cleanup` (its partial files) deleted, one line raised."""
    try:
        yield
    except OSError as e:
        if not is_disk_full(e):
            raise
        for p in cleanup:
            discard(p)
        raise disk_full(path, what, need, at_least) from None


class _Recorded:
    """A binary file whose write errors are kept: torch.save turns an OSError of its writer into a
    RuntimeError ("unexpected pos"), so write_atomic re-raises the OSError that caused it."""

    def __init__(self, f):
        self._f, self.error = f, None

    def write(self, data):
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name):
        return getattr(self._f, name)


def write_atomic(path: Path, write: Callable, what: str = "file", need: int | None = None) -> None:
    """write(f) into .<name>.<pid>.part (binary) in the same folder, fsync, rename over `path` (a
    reader sees the old file or the new one, never half of one), then delete what interrupted writes
    left. A failed write deletes its part; on a full disk that is one line (disk_full), `need`:
    about how many bytes the file takes."""
    path = Path(path)
    tmp = part_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as raw:
            f = _Recorded(raw)
            try:
                write(f)
            except Exception:
                if f.error is not None:
                    raise f.error from None
                raise
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(path, what, need) from None
        raise
    remove_stale_parts(path)


def write_bytes_atomic(path: Path, data: bytes, what: str = "file") -> None:
    """`data` written atomically (write_atomic): a predictions archive, a bundle."""
    write_atomic(path, lambda f: f.write(data), what, len(data))


def write_text_atomic(path: Path, text: str, what: str = "file") -> None:
    """`text` (UTF-8) written atomically (write_atomic)."""
    data = text.encode()
    write_atomic(path, lambda f: f.write(data), what, len(data))


# ----------------------------------------------------------------------------- shared artefacts

@contextmanager
def built_once(lock: Path, what: str, log: Callable[[str], None] | None = None):
    """Hold `lock` (an fcntl lock on a file beside the artefact) while building `what`: a second
    process that needs the same artefact says once that it waits, waits, and then finds it built.
    The caller checks again, inside the block, whether the artefact is complete."""
    import fcntl

    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            (log or _stderr_log)(f"waiting for another process building {what} (lock {lock})")
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:   # a filesystem without locks (some network mounts): build without one
            pass
        try:
            yield
        finally:
            try:
                fcntl.flock(f, fcntl.LOCK_UN)
            except OSError:
                pass


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
