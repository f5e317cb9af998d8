"""Reading the user's own files and folders (protocols, search spaces, annotation files, dataset
trees): what cannot be read is one line naming it (UserError), never a traceback, and never
silently skipped.

  read_text  a text file as UTF-8; a byte-order mark is dropped (utf-8-sig: Excel and Notepad write
             one) and CRLF line ends read as LF. A file that is not UTF-8 names the first bad byte.
  listdir    a folder's entries, sorted; an unreadable folder (permissions) is one line
  walk       os.walk over a tree, raising on an unreadable folder instead of leaving it out
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def read_text(path: Path, what: str = "file") -> str:
    """The text of `path` (UTF-8, BOM dropped, newlines as \\n); UserError when it cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a folder, not a file") from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {_why(e)}; check its permissions") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UserError(f"{what} {path} is not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}): "
                        "save it as UTF-8 and run again") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def listdir(folder: Path, what: str = "folder") -> list[Path]:
    """The entries of `folder`, sorted by name; UserError when it cannot be listed."""
    folder = Path(folder)
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise UserError(f"cannot read {what} {folder}: {_why(e)}; check its permissions "
                        f"(every folder of a dataset must be readable)") from None


def walk(root: Path, what: str = "dataset folder"):
    """os.walk(root, followlinks=True), folders in sorted order, each real folder once (a symbolic
    link back up the tree would loop forever); an unreadable folder is a UserError (os.walk would
    leave it out, and its videos with it)."""
    def fail(e: OSError):
        raise UserError(f"cannot read {what} {e.filename}: {_why(e)}; check its permissions "
                        "(every folder of a dataset must be readable)")

    seen = set()
    for dirpath, dirnames, files in os.walk(root, onerror=fail, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames.clear()
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames.sort()
        yield dirpath, dirnames, sorted(files)
