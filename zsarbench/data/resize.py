"""`zsarbench data resize SRC DST`: a dataset tree re-encoded to a short side and a short keyframe
interval (mmaction2's resize_videos), for protocols whose crop allows it: decoding a clip costs the
frames since the last keyframe, and a 340x256 video at short side 256 is most of a Kinetics decode.

Layout and annotations are kept: every video is written under its own relative path and name (the
container its suffix names: H.264 in mp4/mkv/mov/avi, VP9 in webm), every other file is copied, links
are followed. Videos whose short side is already at most the target keep their size (never upscaled).
Resumable: each output is written to <name>.part and renamed when complete, so a rerun skips what
exists (an unreadable source video is listed in the record, left out, and retried by a rerun).
Parallel (--workers processes), with a progress bar. DST/zsarbench-resize.json records the
settings and the source tree's manifest (data/manifest.py's fast hash per video) and its digest, so a
results file computed on DST can be traced to the original."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

from ..errors import UserError
from .manifest import HASH, fast_hash
from .video import fork_pool
from .videoset import VIDEO_EXTS

RECORD = "zsarbench-resize.json"


def target_size(w: int, h: int, short: int) -> tuple[int, int]:
    """(width, height) with the short side `short` (never larger than the source), both even."""
    scale = min(1.0, short / min(w, h))
    return max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2)


def resize_video(args) -> tuple[str, str]:
    """(relative path, "" or the reason it failed) of one video re-encoded into dst."""
    import av

    src, dst, short, keyint, crf = args
    out = Path(dst)
    part = out.with_name(out.name + ".part")
    try:
        with av.open(str(src)) as inp:
            stream = inp.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            width, height = target_size(stream.codec_context.width, stream.codec_context.height, short)
            vp9 = out.suffix.lower() == ".webm"
            with av.open(str(part), mode="w", format=out.suffix[1:].lower().replace("mkv", "matroska")) as o:
                enc = o.add_stream("libvpx-vp9" if vp9 else "libx264", rate=rate)
                enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
                enc.options = {"g": str(keyint), "crf": str(crf), **({} if vp9 else {"preset": "veryfast"}),
                               "threads": "1"}
                for frame in inp.decode(stream):
                    frame = frame.reformat(width=width, height=height, format="yuv420p")
                    frame.pts = None   # the encoder numbers frames at its own rate
                    for packet in enc.encode(frame):
                        o.mux(packet)
                for packet in enc.encode():
                    o.mux(packet)
        os.replace(part, out)
        return str(src), ""
    except Exception as e:   # noqa: BLE001 - an unreadable video is listed, the others go on
        part.unlink(missing_ok=True)
        return str(src), (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def resize_tree(src: Path, dst: Path, short: int, keyint: int, crf: int = 23, workers: int | None = None,
                progress=None, command: str = "") -> dict:
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.is_dir():
        raise UserError(f"{src} is not a folder; give the dataset root to re-encode")
    if dst == src or src in dst.parents:
        raise UserError(f"the output {dst} is inside the source {src}; give a folder outside it")
    videos, others = [], []
    for folder, _, files in os.walk(src, followlinks=True):
        for f in sorted(files):
            rel = Path(folder, f).relative_to(src)
            (videos if rel.suffix.lower() in VIDEO_EXTS else others).append(rel)
    if not videos:
        raise UserError(f"no video files ({', '.join(VIDEO_EXTS)}) under {src}")
    for rel in others:   # annotations, split lists, class indexes: as they are
        if not rel.name.endswith(".part") and not (dst / rel).exists():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, dst / rel.with_name(rel.name + ".part"))
            os.replace(dst / rel.with_name(rel.name + ".part"), dst / rel)
    todo = [rel for rel in videos if not (dst / rel).exists()]
    for rel in todo:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
    jobs = [(src / rel, dst / rel, short, keyint, crf) for rel in todo]
    failed = {}
    task = progress.add_task(f"re-encoding {len(todo)} of {len(videos)} videos (short side {short}, keyframe every "
                             f"{keyint})", total=len(jobs)) if progress else None
    workers = workers or max(1, len(os.sched_getaffinity(0)))
    if workers > 1 and len(jobs) > 1:
        with fork_pool(workers) as pool:
            results = pool.imap_unordered(resize_video, jobs, chunksize=1)
            for path, why in results:
                failed.update({path: why} if why else {})
                if progress:
                    progress.advance(task)
    else:
        for job in jobs:
            path, why = resize_video(job)
            failed.update({path: why} if why else {})
            if progress:
                progress.advance(task)
    manifest = {str(rel): [(src / rel).stat().st_size, fast_hash(src / rel, (src / rel).stat().st_size)]
                for rel in videos}
    record = {"kind": "zsar-resize", "command": command, "source": str(src), "short_side": short,
              "keyframe_interval": keyint, "crf": crf, "n_videos": len(videos), "reencoded_now": len(todo),
              "failed": failed, "n_other_files": len(others), "source_manifest_hash": HASH,
              "source_manifest_digest": hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16],
              "source_manifest": manifest}
    from ..results import write_json_atomic

    write_json_atomic(dst / RECORD, record)   # unreadable sources are listed (and left out of DST)
    return record
