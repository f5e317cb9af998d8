"""What a cache build will write, said before it writes: the estimate, the free space, and a one-line
refusal when the estimate exceeds either the free space or the user's --max-bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import UserError


def gigabytes(n: float) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system of `folder` (or of its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


FRAME_CACHE_HINT = "docs/scale.md: a clip store, recipe.clip_store=N, holds N clips per video instead of every frame"


def check_budget(what: str, estimate: int, basis: str, folder: Path, max_bytes: int | None = None,
                 show=print, hint: str = FRAME_CACHE_HINT) -> None:
    """Print the estimate; raise a UserError naming the numbers when it exceeds the free space under
    `folder` or `max_bytes` (`hint`: how to write less)."""
    free = free_bytes(folder)
    show(f"{what}: will write about {gigabytes(estimate)} ({basis}) to {folder}; {gigabytes(free)} free"
         + (f", limit --max-bytes {gigabytes(max_bytes)}" if max_bytes else ""))
    if max_bytes is not None and estimate > max_bytes:
        raise UserError(f"{what} would write about {estimate:,} bytes ({gigabytes(estimate)}), more than --max-bytes "
                        f"{max_bytes:,}; raise --max-bytes, or write less ({hint})")
    if estimate > free:
        raise UserError(f"{what} would write about {estimate:,} bytes ({gigabytes(estimate)}) to {folder}, which has "
                        f"{free:,} bytes free; free space there, or give another --cache-dir")


def parse_bytes(text: str | None) -> int | None:
    """'500G', '1.5T', '800M', '123456' -> bytes (decimal units); None stays None."""
    if text is None:
        return None
    units = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    t = text.strip().upper().removesuffix("B")
    unit = t[-1] if t and t[-1] in units else ""
    try:
        value = float(t[:len(t) - len(unit)] if unit else t)
    except ValueError:
        raise UserError(f"--max-bytes expects a size like 500G, 1.5T or 800000000, got '{text}'") from None
    if value <= 0:
        raise UserError(f"--max-bytes must be positive, got '{text}'")
    return int(value * units[unit])
