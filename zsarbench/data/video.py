"""Video reading and clip sampling (T frames with a stride); video writing with PyAV.

torchvision 0.29 has no video reader. Two decoders read videos (recipe.decoder): decord (the default)
and torchcodec (data/torchcodec_reader.py: on the CPU, or NVDEC on a CUDA device); both decode only
the frames a clip needs, and their frames agree within the tolerance tests/test_decoders.py states."""

from __future__ import annotations

import itertools
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np


class CorruptVideo(Exception):
    """A video that cannot be decoded (empty, truncated, not a video)."""


def fork_pool(workers: int):
    """A multiprocessing Pool of `workers` forked processes, after a garbage collection: a decord
    reader left in a reference cycle here would otherwise be freed inside a child, whose copy of
    decord's locks belongs to threads that were not forked, and the child hangs."""
    import gc
    import multiprocessing as mp

    gc.collect()
    return mp.get_context("fork").Pool(workers)


def clip_span(frames: int, stride: int) -> int:
    return (frames - 1) * stride + 1


def sample_clips(n_video_frames: int, frames: int, stride: int, n_clips: int = 1,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Frame indices (n_clips, frames) of clips of `frames` frames spaced by `stride`.

    With rng: each clip starts at a random frame (training). Without: starts evenly spaced over
    the video (TSN-style test sampling; one clip is centred). Videos shorter than a clip repeat
    their last frame."""
    if n_video_frames <= 0:
        raise CorruptVideo("video has no frames")
    last_start = max(n_video_frames - clip_span(frames, stride), 0)
    if rng is not None:
        starts = rng.integers(0, last_start + 1, size=n_clips)
    elif n_clips == 1:
        starts = np.array([last_start // 2])
    else:
        starts = np.linspace(0, last_start, n_clips).round().astype(int)
    idx = starts[:, None] + np.arange(frames)[None, :] * stride
    return np.minimum(idx, n_video_frames - 1)


# What decord and FFmpeg write on fd 2 themselves: FFmpeg's "[mov,mp4,... @ 0x55..] moov atom not
# found" and decord's "[05:16:03] .../video_reader.cc:83: ERROR opening: x.mp4, Invalid data ...".
_NATIVE = re.compile(r"\[[^\]]* @ 0x[0-9a-f]+\] (?P<ffmpeg>.*)|\[[\d:]+\] \S+:\d+: (?:ERROR \w+: .*?, )?(?P<decord>.*)")
_lock = threading.Lock()
_sinks: dict[int, int] = {}   # pid -> fd of the temporary file fd 2 goes to (loader workers: their own)


@contextmanager
def native_stderr():
    """fd 2 sent to a temporary file while decord runs: its and FFmpeg's own lines become the list
    this yields (read once the block ends; our one-line reasons: unreadable videos are listed in the
    results) instead of flooding the user's stderr. A live progress display's redraws (another
    thread, terminal control codes) are passed on; other lines written meanwhile are dropped."""
    notes: list[str] = []
    with _lock:
        pid = os.getpid()
        if pid not in _sinks:
            fd, name = tempfile.mkstemp(prefix="zsarbench-stderr-")
            os.unlink(name)   # nothing left behind
            _sinks[pid] = fd
        sink = _sinks[pid]
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink, 2)
        try:
            yield notes
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = os.lseek(sink, 0, os.SEEK_END)
            os.lseek(sink, 0, os.SEEK_SET)
            text = os.read(sink, size).decode(errors="replace") if size else ""
            os.ftruncate(sink, 0)
            os.lseek(sink, 0, os.SEEK_SET)
            other = []
            for line in text.splitlines(keepends=True):
                if "\x1b" in line:   # terminal control: a live progress display drawn meanwhile
                    other.append(line)
                elif m := _NATIVE.match(line.strip()):
                    notes.append((m["ffmpeg"] if m["ffmpeg"] is not None else m["decord"]).strip())
            if other:
                os.write(2, "".join(other).encode())


def _why(e: Exception, notes: list[str]) -> str:
    """The reason a video is unreadable, in a few words: decord's and FFmpeg's notes, else its error."""
    said = list(dict.fromkeys(n for n in notes if n))
    return ("; ".join(said) if said else (str(e).splitlines() or [type(e).__name__])[0])[:200]


DECODERS = ("decord", "torchcodec")


def open_video(path: str, size: int | None = None, decoder: str = "decord", device: str = "cpu"):
    """A reader of `path` (decord's VideoReader, or torchcodec's behind the same four calls: len,
    get_avg_fps, get_batch, and frames as arrays), resized to size x size when given. Raises CorruptVideo."""
    if decoder == "torchcodec":
        from .torchcodec_reader import open_torchcodec

        try:   # no FFmpeg is a UserError (ffmpeg_libs.py) and passes; an unreadable file is a CorruptVideo
            return open_torchcodec(path, size, device)
        except (RuntimeError, ValueError, OSError) as e:
            raise CorruptVideo(f"{path}: {(str(e).strip().splitlines() or [type(e).__name__])[0][:200]}") from None
    import decord

    error = None
    with native_stderr() as notes:   # the notes arrive when it ends
        try:
            kw = {"width": size, "height": size} if size else {}
            vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1, **kw)
            n = len(vr)
        except Exception as e:  # decord raises DECORDError / RuntimeError for unreadable files
            error = e
    if error is not None:
        raise CorruptVideo(f"{path}: {_why(error, notes)}") from None
    if n == 0:
        raise CorruptVideo(f"{path}: no frames")
    return vr


def get_batch(vr, indices: list[int]) -> np.ndarray:
    """decord's get_batch as a (n, H, W, 3) array, its own error output captured. Raises CorruptVideo."""
    error = None
    with native_stderr() as notes:
        try:
            frames = vr.get_batch(indices)
            # decord: an NDArray; torchcodec: a numpy array, or a CUDA tensor when decoding on the GPU
            frames = frames.asnumpy() if hasattr(frames, "asnumpy") else frames
        except Exception as e:
            error = e
    if error is not None:
        raise CorruptVideo(_why(error, notes)) from None
    return frames


def read_frames(vr, indices: np.ndarray) -> np.ndarray:
    """(len(indices), H, W, 3) uint8 frames."""
    flat = np.asarray(indices).reshape(-1)
    uniq, inverse = np.unique(flat, return_inverse=True)
    frames = get_batch(vr, uniq.tolist())
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise CorruptVideo(f"decoded frames have shape {tuple(frames.shape)}")
    return frames[inverse.tolist() if not isinstance(frames, np.ndarray) else inverse].reshape(
        *np.shape(indices), *frames.shape[1:])


def frame_window(vr, window: tuple[float, float] | None) -> tuple[int, int]:
    """Frames [lo, hi) of a (start, end) window in seconds; the whole video when None."""
    n = len(vr)
    if window is None:
        return 0, n
    fps = vr.get_avg_fps()
    lo = min(max(int(window[0] * fps), 0), n - 1)
    return lo, min(max(int(np.ceil(window[1] * fps)), lo + 1), n)


def read_clips(path: str, frames: int, stride: int, n_clips: int = 1,
               rng: np.random.Generator | None = None, size: int | None = None,
               window: tuple[float, float] | None = None, decoder: str = "decord", device: str = "cpu") -> np.ndarray:
    """(n_clips, frames, H, W, 3) uint8 clips of one video, sampled inside `window` (seconds) if given
    (a torch tensor on `device` when torchcodec decodes on a GPU)."""
    vr = open_video(path, size, decoder, device)
    lo, hi = frame_window(vr, window)
    return read_frames(vr, lo + sample_clips(hi - lo, frames, stride, n_clips, rng))


def write_video(path: Path, frames, fps: int, codec: str = "libx264", format: str | None = None,
                options: dict[str, str] | None = None, atomic: bool = False) -> None:
    """Encode RGB uint8 frames (a (T, H, W, 3) array or any iterable of (H, W, 3)) as yuv420p with PyAV.

    format: the container (by default the one PyAV guesses from the suffix); options: the codec's
    (crf, preset, g, threads). atomic: written to <name>.part and renamed when complete, so a partial
    file never has the final name (nor a video suffix a folder listing would pick up)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    out = path.with_name(path.name + ".part") if atomic else path
    if atomic and format is None:
        format = path.suffix[1:]   # the .part name hides the suffix PyAV guesses the container from
    try:
        with av.open(str(out), mode="w", format=format) as container:
            stream = container.add_stream(codec, rate=fps)
            stream.width, stream.height = first.shape[1], first.shape[0]
            stream.pix_fmt = "yuv420p"
            if options:
                stream.options = dict(options)
            for f in itertools.chain([first], frames):
                for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except BaseException:
        if atomic:   # never left behind: a partial file only fills the disk
            out.unlink(missing_ok=True)
        raise
    if atomic:
        os.replace(out, path)
