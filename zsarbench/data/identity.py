"""What a video (or any input file) is, for cache keys and results: its size and a fast content hash,
never where it lives.

The hash is `data freeze`'s (manifest.py): blake2b-128 over the size (8 bytes, little-endian), the
first 1 MiB and the last 1 MiB. A re-encoded, truncated or swapped file changes it; a change in the
middle of a file of the same size does not. Hashing reads at most 2 MiB a file, and it is memoised
per dataset root in CACHE/digests/files-<root hash>.json on (relative path, size, mtime, ctime): a
rerun stats the files and hashes only those that changed. The memo lives under the run's cache
folder and is only a memo: a dataset moved or copied elsewhere is hashed again once and gives the
same identities, so every key built from them (frame cache, features, checkpoints) stays the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 1 << 20
HASH = "blake2b-128(size as 8-byte little-endian + first 1 MiB + last 1 MiB)"
MEMO_VERSION = 1
MISSING = "missing"


def fast_hash(path: Path, size: int) -> str:
    h = hashlib.blake2b(size.to_bytes(8, "little"), digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(CHUNK))
        if size > CHUNK:
            f.seek(max(CHUNK, size - CHUNK))
            h.update(f.read(CHUNK))
    return h.hexdigest()


def relative(path: str, root: Path) -> str:
    """`path` relative to `root` ('/'-separated), or as given when it lies outside it."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def file_id(path: str | Path) -> str:
    """'<size>:<fast hash>' of one file, unmemoised; 'missing' when it cannot be read."""
    try:
        size = os.stat(path).st_size
        return f"{size}:{fast_hash(Path(path), size)}"
    except OSError:
        return MISSING


def _memo_path(cache_dir: Path, root: Path) -> Path:
    key = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:16]
    return Path(cache_dir) / "digests" / f"files-{key}.json"


def _read_memo(path: Path, root: Path) -> dict:
    try:
        memo = json.loads(path.read_text())
        if memo.get("version") == MEMO_VERSION and memo.get("root") == os.path.abspath(root):
            return dict(memo["files"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass   # absent or unreadable: a memo only costs hashing again
    return {}


def file_ids(paths, root: Path, cache_dir: Path | None = None, progress=None, what: str = "") -> list[str]:
    """'<size>:<hash>' of each path (files named several times, segments of one video, are hashed
    once), memoised under `cache_dir` (None: not memoised). Unreadable files are 'missing'."""
    from ..artefacts import write_text_atomic
    from ..errors import UserError

    root = Path(root)
    files = list(dict.fromkeys(paths))
    memo_file = _memo_path(cache_dir, root) if cache_dir is not None else None
    memo = _read_memo(memo_file, root) if memo_file is not None else {}
    out, todo = {}, []
    for p in files:
        rel = relative(p, root)
        try:
            st = os.stat(p)
        except OSError:
            out[p] = MISSING
            continue
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        known = memo.get(rel)
        if isinstance(known, list) and len(known) == 4 and known[:3] == stamp:
            out[p] = f"{st.st_size}:{known[3]}"
        else:
            todo.append((p, rel, stamp))
    if todo:
        task = progress.add_task(f"hashing {what or root.name} ({len(todo)} files, once)", total=len(todo)) \
            if progress is not None and len(todo) > 1000 else None   # a few seconds or more

        def one(item):
            p, rel, stamp = item
            try:
                return item, fast_hash(Path(p), stamp[0])
            except OSError:
                return item, None

        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:   # reads: I/O-bound, GIL released
            for (p, rel, stamp), digest in pool.map(one, todo):
                out[p] = MISSING if digest is None else f"{stamp[0]}:{digest}"
                if digest is not None:
                    memo[rel] = [*stamp, digest]
                if task is not None:
                    progress.advance(task)
        if memo_file is not None:
            try:
                write_text_atomic(memo_file, json.dumps({"version": MEMO_VERSION, "root": os.path.abspath(root),
                                                         "files": memo}, separators=(",", ":")))
            except (OSError, UserError):   # a full or read-only cache only costs hashing again next time
                pass
    return [out[p] for p in paths]
