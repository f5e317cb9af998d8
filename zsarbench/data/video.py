"""Video reading with decord and clip sampling (T frames with a stride); video writing with PyAV.

torchvision 0.29 has no video reader; decord decodes only the frames a clip needs."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np


class CorruptVideo(Exception):
    """A video that cannot be decoded (empty, truncated, not a video)."""


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


def open_video(path: str, size: int | None = None):
    """A decord VideoReader, resized to size x size when given. Raises CorruptVideo."""
    import decord

    try:
        kw = {"width": size, "height": size} if size else {}
        vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1, **kw)
        if len(vr) == 0:
            raise CorruptVideo(f"{path}: no frames")
        return vr
    except CorruptVideo:
        raise
    except Exception as e:  # decord raises DECORDError / RuntimeError for unreadable files
        raise CorruptVideo(f"{path}: {str(e).splitlines()[0][:200]}") from None


def read_frames(vr, indices: np.ndarray) -> np.ndarray:
    """(len(indices), H, W, 3) uint8 frames."""
    try:
        flat = np.asarray(indices).reshape(-1)
        uniq, inverse = np.unique(flat, return_inverse=True)
        frames = vr.get_batch(uniq.tolist()).asnumpy()
    except Exception as e:
        raise CorruptVideo(str(e).splitlines()[0][:200]) from None
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise CorruptVideo(f"decoded frames have shape {frames.shape}")
    return frames[inverse].reshape(*np.shape(indices), *frames.shape[1:])


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
               window: tuple[float, float] | None = None) -> np.ndarray:
    """(n_clips, frames, H, W, 3) uint8 clips of one video, sampled inside `window` (seconds) if given."""
    vr = open_video(path, size)
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
    if atomic:
        os.replace(out, path)
