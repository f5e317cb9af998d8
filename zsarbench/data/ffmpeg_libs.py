"""FFmpeg for torchcodec from the copy PyAV ships (av.libs), so recipe.decoder = "torchcodec" works
inside the project's own install, with no system FFmpeg and no LD_LIBRARY_PATH.

torchcodec's core library links FFmpeg by its usual names (libavutil.so.60, ...). PyAV's wheel bundles
the same FFmpeg under hashed names (libavutil-5809ad29.so.60.26.102: auditwheel's renaming), which the
dynamic linker never matches against those. So, once per machine and PyAV build, the seven FFmpeg
libraries are copied into CACHE/ffmpeg/<digest>/ with their own name (SONAME) and the names they
link each other by rewritten to the usual ones (a shorter string in place, NUL-padded: nothing else
in the file moves), the other bundled libraries linked beside them; loading those copies first makes
torchcodec's `libavutil.so.60` the loaded copy. A system FFmpeg that torchcodec finds itself is used
as it is.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import sys
from pathlib import Path

from ..errors import UserError

# the FFmpeg libraries in the order each one's dependencies come first
FFMPEG_LIBS = ("avutil", "swresample", "swscale", "avcodec", "avformat", "avfilter", "avdevice")
_HASHED = re.compile(r"lib(?P<lib>[a-z]+)-[0-9a-f]{8}\.so\.(?P<major>\d+)(?:\.\d+)*$")
_loaded: dict = {}


def _av_libs() -> Path | None:
    try:
        import av
    except ImportError:
        return None
    folder = Path(av.__file__).resolve().parent.parent / "av.libs"
    return folder if folder.is_dir() else None


def standard_name(hashed: str) -> str | None:
    """'libavutil-5809ad29.so.60.26.102' -> 'libavutil.so.60' for the FFmpeg libraries, else None."""
    m = _HASHED.match(hashed)
    return f"lib{m['lib']}.so.{m['major']}" if m and m["lib"] in FFMPEG_LIBS else None


def renamed_copy(src: Path, dst: Path, renames: dict[str, str]) -> None:
    """src with every NUL-terminated string of `renames` replaced in place (same offset, NUL-padded)."""
    data = src.read_bytes()
    for old, new in renames.items():
        assert len(new) <= len(old)
        data = data.replace(b"\0" + old.encode() + b"\0", b"\0" + new.encode() + b"\0" * (len(old) - len(new) + 1))
    tmp = dst.with_name(dst.name + ".part")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dst)


def ffmpeg_from_pyav(cache_dir: Path) -> Path:
    """The folder of PyAV's FFmpeg under the usual names (built on first use); raises OSError."""
    libs = _av_libs()
    if libs is None:
        raise OSError("PyAV (the av package) with its bundled FFmpeg (av.libs) is not installed")
    files = sorted(p.name for p in libs.iterdir())
    renames = {f: n for f in files if (n := standard_name(f))}
    if {n.split(".so")[0][3:] for n in renames.values()} != set(FFMPEG_LIBS):
        raise OSError(f"{libs} does not hold the seven FFmpeg libraries ({', '.join(FFMPEG_LIBS)})")
    digest = hashlib.sha256("\n".join(f"{f} {(libs / f).stat().st_size}" for f in files).encode()).hexdigest()[:12]
    out = Path(cache_dir) / "ffmpeg" / digest
    if not (out / "complete").exists():
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            if f in renames:
                renamed_copy(libs / f, out / renames[f], renames)
            elif not (out / f).exists():
                (out / f).symlink_to(libs / f)   # x264, dav1d, ...: found through the copies' $ORIGIN rpath
        (out / "complete").write_text("\n".join(f"{f} -> {n}" for f, n in renames.items()) + "\n")
    return out


def _preload(cache_dir: Path | None) -> None:
    """PyAV's FFmpeg libraries loaded and kept loaded: torchcodec's libavutil.so.60 etc. are these then."""
    from ..context import default_cache_dir

    folder = ffmpeg_from_pyav(cache_dir or default_cache_dir())
    for lib in FFMPEG_LIBS:
        ctypes.CDLL(str(next(folder.glob(f"lib{lib}.so.*"))))


def _retry_core(ops, cache_dir: Path | None) -> None:
    """Load PyAV's FFmpeg, then torchcodec's FFmpeg-dependent core again, as its import would have, and
    bind the real ops wherever torchcodec's modules imported the stand-ins (torchcodec._core re-exports
    them by name, and torchcodec.decoders calls them through it)."""
    try:
        _preload(cache_dir)
        with ops.expose_ffmpeg_dlls():
            major, path = ops.load_core_libraries()
        from torchcodec._core import _ffmpeg_ops
    except Exception:   # noqa: BLE001  (the caller's one-line error says what is missing)
        return
    real = {k: v for k, v in vars(_ffmpeg_ops).items() if not k.startswith("__")}
    real.update(ffmpeg_major_version=major, core_library_path=path)
    vars(ops).update(real)
    for name, module in list(sys.modules.items()):
        if module is not None and module is not ops and (name == "torchcodec" or name.startswith("torchcodec.")):
            names = vars(module)
            names.update({k: v for k, v in real.items() if k in names})
    ops._FFMPEG_AVAILABLE = True


def load_torchcodec(cache_dir: Path | None = None):
    """torchcodec.decoders.VideoDecoder with FFmpeg loaded (PyAV's copies, loaded before torchcodec
    is imported; else a system FFmpeg torchcodec finds itself); a UserError in one line when neither works."""
    if "decoder" in _loaded:
        return _loaded["decoder"]
    why = ""
    if "torchcodec" not in sys.modules:   # torchcodec looks for FFmpeg once, when it is imported
        try:
            _preload(cache_dir)
        except (OSError, StopIteration) as e:
            why = f" (PyAV's FFmpeg: {(str(e).strip().splitlines() or [type(e).__name__])[0][:160]})"
    try:
        from torchcodec._core import ops
    except ImportError as e:
        raise UserError(f"recipe.decoder = \"torchcodec\" needs the torchcodec package ({e}); "
                        "`pip install torchcodec==0.17.0`, or keep recipe.decoder = \"decord\"") from None
    if not ops._FFMPEG_AVAILABLE and why == "":
        _retry_core(ops, cache_dir)   # torchcodec was imported before FFmpeg was loaded (by another library)
    if not ops._FFMPEG_AVAILABLE:
        raise UserError("recipe.decoder = \"torchcodec\": torchcodec finds no FFmpeg 4-9 libraries" + why +
                        "; install FFmpeg's shared libraries (apt-get install ffmpeg) or keep recipe.decoder = \"decord\"")
    from torchcodec.decoders import VideoDecoder

    _loaded["decoder"] = VideoDecoder
    return VideoDecoder
