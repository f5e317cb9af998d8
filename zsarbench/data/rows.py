"""Annotation rows -> VideoSet, and reading annotation files: what every layout of adapters.py shares.

A row is (path, class name, start, end, subset or None). Segments that are not segments (empty,
reversed, negative) and videos annotated twice in one subset are left out here and recorded in
VideoSet.deviations; a run refuses them unless it accepts them (deviations.py). Annotation files are
read as UTF-8 with or without a byte-order mark and with LF or CRLF line ends (inputs.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..inputs import read_text
from .videoset import VideoSet


def rows_videoset(name, root, kind, classes, rows, subsets=None, missing=(), notes=(), bad_segments=(),
                  missing_rows=()) -> VideoSet:
    """rows: (path, class name, start, end, subset or None); starts/ends None for whole files.
    bad_segments: annotated segments left out (empty, reversed or negative), as 'video [start, end]'.
    missing_rows: (id, class name, subset or None) of the annotated videos not on disk (coverage.py).
    A video segment annotated twice in one subset is kept once (its first label) and recorded in
    deviations["duplicate-videos"]: counted twice it would weigh double in training and scoring."""
    deviations = {"bad-segments": list(bad_segments)} if bad_segments else {}
    if subsets is None:
        first, kept, repeats = {}, [], {}
        for r in rows:
            key = (r[0], r[2], r[3], r[4])
            if key in first:
                repeats.setdefault(key, [first[key]]).append(r[1])
            else:
                first[key] = r[1]
                kept.append(r)
        if repeats:
            rows = kept
            deviations["duplicate-videos"] = [
                f"{Path(p).name}" + ("" if t0 is None else f" [{t0:g}, {t1:g}]") + (f" ({s})" if s else "")
                + f" {len(labels)} times" + (f", as {' and '.join(sorted(set(labels)))}" if len(set(labels)) > 1 else "")
                for (p, t0, t1, s), labels in repeats.items()]
    index = {c: i for i, c in enumerate(classes)}
    starts = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
    ends = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
    masks = {s: np.array([r[4] == s for r in rows], dtype=bool)
             for s in sorted({r[4] for r in rows} - {None})}
    masks.update(subsets or {})
    windowed = bool(rows) and not np.isnan(starts).all()
    return VideoSet(name, Path(root), list(classes), [r[0] for r in rows],
                    np.array([index[r[1]] for r in rows], dtype=np.int64), kind,
                    starts=starts if windowed else None, ends=ends if windowed else None,
                    subsets=masks, missing=list(missing), notes=list(notes), deviations=deviations,
                    missing_rows=list(missing_rows))


def segment(start, end) -> tuple[float, float] | None:
    """(start, end) seconds of an annotated segment, or None when it is not one: not two numbers,
    negative, empty or reversed (end <= start)."""
    try:
        t0, t1 = float(start), float(end)
    except (TypeError, ValueError):
        return None
    return (t0, t1) if 0 <= t0 < t1 and np.isfinite(t1) else None


def read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in read_text(path, "annotation file").split("\n") if ln.strip()]


def read_csv(path: Path) -> csv.DictReader:
    """A CSV annotation file's rows, its column names stripped and lower-cased ('\ufeffLabel ' = 'label')."""
    reader = csv.DictReader(io.StringIO(read_text(path, "annotation file"), newline=""))
    if reader.fieldnames:
        reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
    return reader
