"""Video reading with decord and clip sampling (T frames with a stride).

torchvision 0.29 has no video reader; decord decodes only the frames a clip needs."""

from __future__ import annotations

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
