"""Per-video predictions: for each split and each evaluated video, the video's id (its path relative
to the dataset root), its true class and the top-5 predicted classes with their scores.

scoring.score_split makes one `SplitPredictions` per split; `run` (and `ablate`, per row and
protocol) writes them beside the results JSON as <stem>.predictions.npz, before the JSON, which
records the file's name, size and sha256 under `predictions` (results.write_results). Reports read
the JSON alone; `compare`, `bundle`, `verify` and `confusion` read this file through
`read_predictions`, which refuses a file whose digest is not the recorded one.

The file: numpy's compressed archive (np.savez_compressed, no pickles), one group of arrays per
scored (row, protocol) ("run" for a run), each named "<group>|<array>":
  classes   (C,) str         the target's classes: every class index below points here
  videos    (V,) str         video ids, each once
  splits    (S,) int16       the splits' indices, in the results' order
  split     (N,) int16       one row per (split, evaluated video): the split's `index`
  video     (N,) int32       index into videos
  label     (N,) int16       true class
  top       (N, 5) int16     the best-scored candidate classes, best first (-1: fewer candidates)
  score     (N, 5) float32   their scores (NaN where top is -1)
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError

FORMAT = "zsar-predictions 1"
TOP = 5
RUN = "run"          # the group of a zsar-run
FIELDS = ("split", "video", "label", "top", "score")


def video_ids(vs) -> list[str]:
    """Each video's id: its path relative to the dataset root, '@start-end' (seconds) added for an
    annotated segment of a longer file (several segments share a file)."""
    root = Path(vs.root)
    out = []
    for i, p in enumerate(vs.paths):
        try:
            rel = Path(p).relative_to(root).as_posix()
        except ValueError:
            rel = str(p)
        w = vs.window(i)
        out.append(rel if w is None else f"{rel}@{w[0]:g}-{w[1]:g}")
    return out


@dataclass
class SplitPredictions:
    index: int
    videos: list[str]        # (n,) ids
    label: np.ndarray        # (n,) true class, index into the target's classes
    top: np.ndarray          # (n, TOP) predicted classes, best first; -1 pads
    score: np.ndarray        # (n, TOP) float32

    def hits(self, k: int = 1) -> np.ndarray:
        return (self.top[:, :k] == self.label[:, None]).any(1)

    def accuracy(self, k: int = 1) -> float:
        """Top-k percent, rounded as the results round it (scoring.score_split)."""
        return round(100 * float(self.hits(k).mean()), 3) if len(self.label) else float("nan")


def split_predictions(index: int, scores: np.ndarray, y: np.ndarray, candidates, videos: list[str]) -> SplitPredictions:
    """One split's predictions from its (videos x candidates) scores, `y` indexing `candidates` (the
    order scoring ranks in: stable argsort, as evaluate.top_k_hits)."""
    cand = np.asarray(candidates, dtype=np.int64)
    k = min(TOP, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.full((len(y), TOP), -1, dtype=np.int16)
    score = np.full((len(y), TOP), np.nan, dtype=np.float32)
    top[:, :k] = cand[order]
    score[:, :k] = np.take_along_axis(scores, order, 1)
    return SplitPredictions(index, list(videos), cand[y].astype(np.int16), top, score)


@dataclass
class Predictions:
    """One group: a (row, protocol)'s splits, with the target's classes."""
    classes: list[str]
    splits: list[SplitPredictions]

    def split(self, index: int) -> SplitPredictions:
        return next(s for s in self.splits if s.index == index)


def _pack(p: Predictions) -> dict[str, np.ndarray]:
    videos = list(dict.fromkeys(v for s in p.splits for v in s.videos))
    where = {v: i for i, v in enumerate(videos)}
    def cat(arrays, dtype, shape):
        return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(shape, dtype)
    return {"classes": np.array(p.classes, dtype=str), "videos": np.array(videos, dtype=str),
            "splits": np.array([s.index for s in p.splits], dtype=np.int16),     # a split of no video too
            "split": cat([np.full(len(s.label), s.index) for s in p.splits], np.int16, (0,)),
            "video": cat([np.array([where[v] for v in s.videos], dtype=np.int64) for s in p.splits], np.int32, (0,)),
            "label": cat([s.label for s in p.splits], np.int16, (0,)),
            "top": cat([s.top for s in p.splits], np.int16, (0, TOP)),
            "score": cat([s.score for s in p.splits], np.float32, (0, TOP))}


def _unpack(z, group: str) -> Predictions:
    a = {f: z[f"{group}|{f}"] for f in ("classes", "videos", "splits", *FIELDS)}
    videos = [str(v) for v in a["videos"]]
    splits = []
    for index in a["splits"].tolist():
        m = a["split"] == index
        splits.append(SplitPredictions(int(index), [videos[i] for i in a["video"][m]], a["label"][m].astype(np.int64),
                                       a["top"][m].astype(np.int64), a["score"][m]))
    return Predictions([str(c) for c in a["classes"]], splits)


def predictions_path(results_json: Path) -> Path:
    """<stem>.predictions.npz beside the results file."""
    results_json = Path(results_json)
    return results_json.with_name(f"{results_json.stem}.predictions.npz")


def write_predictions(results_json: Path, groups: dict[str, Predictions]) -> dict:
    """The groups into <stem>.predictions.npz beside `results_json`, atomically; what the JSON records."""
    from .artefacts import write_bytes_atomic

    arrays = {"format": np.array(FORMAT)}
    for name, p in groups.items():
        arrays.update({f"{name}|{k}": v for k, v in _pack(p).items()})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    path = predictions_path(results_json)
    write_bytes_atomic(path, data)
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "format": FORMAT,
            "groups": sorted(groups), "top_k": TOP,
            "n_rows": int(sum(len(s.label) for p in groups.values() for s in p.splits))}


def read_predictions(results_json: Path, doc: dict, group: str = RUN, data: bytes | None = None) -> Predictions:
    """The predictions of a results file (`data`: the file's bytes, when they come from elsewhere, e.g.
    a bundle), checked against the digest its JSON records; a one-line UserError when there are none,
    the file is missing or it is not the file the JSON names."""
    rec = doc.get("predictions")
    if not rec:
        raise UserError(f"{results_json} has no per-video predictions (written before they were recorded): "
                        "run its command again to get them")
    if data is None:
        path = Path(results_json).with_name(rec["file"])
        if not path.is_file():
            raise UserError(f"{results_json}: its predictions file {path} is missing")
        data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != rec["sha256"]:
        raise UserError(f"{results_json}: its predictions file {rec['file']} is not the one it records "
                        "(sha256 differs): the file was changed or replaced")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if str(z["format"]) != FORMAT:
            raise UserError(f"{rec['file']}: predictions format '{z['format']}', this zsarbench reads '{FORMAT}'")
        if f"{group}|label" not in z.files:
            raise UserError(f"{rec['file']} holds no predictions of '{group}' (it holds {', '.join(rec['groups'])})")
        return _unpack(z, group)


def rescore(p: Predictions) -> dict[int, dict]:
    """split index -> top1, top5 recomputed from the predictions (as the results round them)."""
    return {s.index: {"top1": s.accuracy(1), "top5": s.accuracy(5)} for s in p.splits}


def confusion(p: SplitPredictions, candidates: list[int]) -> np.ndarray:
    """counts[i, j]: videos of candidates[i] whose best-scored class is candidates[j] (scoring's matrix)."""
    pos = {c: i for i, c in enumerate(candidates)}
    out = np.zeros((len(candidates), len(candidates)), dtype=np.int64)
    for t, pr in zip(p.label, p.top[:, 0]):
        out[pos[int(t)], pos[int(pr)]] += 1
    return out
