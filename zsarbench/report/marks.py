"""What a report must say about a result beside its number: the data format it was measured on,
whether its code was committed, whether its predictions collapsed onto one class, and whether its
model trained at all. One home for these facts, read by the tables, the orderings and the ceilings.

  data format     synthetic benchmark: the format its data was generated in (data.source/target.format
                  since format 7; before, the `synth/vN-...` folder of the roots a run file records,
                  or for an ablation row the run file of the same trained model); real datasets: "real".
                  A cell pools one format only (cells.pick keeps the newest) and tables state it.
  dirty           the run started (or ended) in a worktree with uncommitted changes, or its code changed
                  during the run (provenance git_dirty, git_at_end, git_changed_during_run): marked DIRTY.
  collapsed       a split sent more than half its predictions to one class (evaluate.COLLAPSE_SHARE;
                  recorded per split as shift.top_class_share, else counted from its confusion counts).
                  A cell (a row on a protocol) whose splits, over all its seeds, collapsed at least half
                  the time is collapsed: marked, and the orderings do not test the row; fewer collapsed
                  splits are stated beside the number. (A working model on 10 candidate classes can
                  send 40-50% of a split's predictions to one hub class; a collapsed one sends ~90%.)
  accepted        the run accepted an input that changes the protocol (--accept NAME, recorded in its
                  data.accepted; deviations.py): marked ACCEPTED with the names.
  did not train   a training stage of its model ended at the loss of a uniform guess (learned.py;
                  recorded as training_verdict, else judged from the run's training log, else from the
                  run file of the same model): every cell it enters says so, the orderings do not test it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from ..evaluate import COLLAPSE_SHARE, top_class_share
from ..learned import warmup_fallback

if TYPE_CHECKING:   # report/load.py builds its results with model_facts: no import back at run time
    from .load import Result

DIRTY = "\u2021"   # double dagger: a results file behind the number ran from uncommitted code
DIRTY_NOTE = (f"{DIRTY}: a results file behind this number ran from a worktree with uncommitted changes (or its "
              "code changed during the run): its code is not a commit anyone can check out.")
ACCEPTED = "\u2020"   # dagger: the result accepted an input that changes the protocol
ACCEPTED_NOTE = (f"{ACCEPTED} name: the result accepted an input that changes the protocol, recorded in its file "
                 "(data.accepted; docs/errors.md): class-overlap, training classes that are target classes (not "
                 "zero-shot); empty-classes, classes without videos dropped; bad-segments, malformed annotated "
                 "segments left out; duplicate-videos, videos annotated twice kept once; nonstandard, a dataset "
                 "tree that is not the official one (--allow-nonstandard).")
_FOLDER = re.compile(r"/synth/v(\d+)-")


def _target(r: Result, row: dict | None) -> dict:
    return (((row or {}).get("data") if row is not None else r.data.get("data")) or {}).get("target") or {}


def model_key(r: Result, row: dict | None = None) -> str | None:
    return row.get("checkpoint") if row is not None else (r.data.get("checkpoint") or {}).get("key")


def _run_format(r: Result) -> int | None:
    d = r.data.get("data") or {}
    for side in ("target", "source"):
        info = d.get(side) or {}
        if isinstance(info.get("format"), int):
            return info["format"]
        found = _FOLDER.search(str(info.get("root") or ""))
        if found:
            return int(found[1])
    return None


def _run_not_trained(r: Result) -> list[str]:
    verdict = r.data.get("training_verdict")
    if verdict is None:
        log = r.data.get("training") or {}
        seen = ((r.data.get("data") or {}).get("source") or {}).get("seen_classes") or []
        verdict = warmup_fallback(log, len(seen))
    return list(verdict.get("did_not_train") or [])


def model_facts(R: list[Result]) -> dict:
    """checkpoint key -> {format, did_not_train} from the run files (a run file describes its model)."""
    out = {}
    for r in sorted((r for r in R if r.kind == "zsar-run"), key=lambda r: (r.finished, r.path)):
        key = model_key(r)
        if key:
            out[key] = {"format": _run_format(r), "did_not_train": _run_not_trained(r)}
    return out


def is_synthetic(r: Result, protocol: str) -> bool:
    protos = r.data.get("protocol")
    protos = protos if isinstance(protos, list) else [protos]
    p = next((p for p in protos if isinstance(p, dict) and p.get("name") == protocol), None) or {}
    return str((p.get("target") or {}).get("dataset", protocol)).startswith("synth-")


def data_format(r: Result, protocol: str, row: dict | None = None) -> int | str | None:
    """The synthetic data format of the number (an int), "real" for real datasets, None where no file
    says (an ablation row from before format 7 whose model has no run file)."""
    if not is_synthetic(r, protocol):
        return "real"
    recorded = _target(r, row).get("format")
    if isinstance(recorded, int):
        return recorded
    if row is None:
        return _run_format(r)
    return (r.models.get(model_key(r, row)) or {}).get("format")


def format_label(fmt) -> str:
    return "real datasets" if fmt == "real" else "format unrecorded (before 7)" if fmt is None else f"format {fmt}"


def format_rank(fmt) -> int:
    """Newest first: the format a cell shows when its results span several."""
    return 10 ** 6 if fmt == "real" else -1 if fmt is None else int(fmt)


def is_dirty(r: Result) -> bool:
    prov = r.data.get("provenance") or {}
    end = prov.get("git_at_end") or {}
    return bool(prov.get("git_dirty") or end.get("git_dirty") or prov.get("git_changed_during_run"))


def did_not_train(r: Result, row: dict | None = None) -> list[str]:
    """The training stages of the number's model that did not train (learned.py); [] when all did or
    none can be judged."""
    if row is None:
        return _run_not_trained(r)
    verdict = row.get("training_verdict")
    if verdict is not None:
        return list(verdict.get("did_not_train") or [])
    return list((r.models.get(model_key(r, row)) or {}).get("did_not_train") or [])


def split_share(split: dict) -> float | None:
    """Share of a split's predictions that go to its most-predicted class."""
    shift = split.get("shift") or {}
    if shift.get("top_class_share") is not None:
        return float(shift["top_class_share"])
    conf = split.get("confusion")
    return top_class_share(np.asarray(conf)) if conf else None


def is_collapsed(k: int, n: int) -> bool:
    """k collapsed splits of n: the cell is collapsed (at least half of them)."""
    return n > 0 and 2 * k >= n


def collapse_text(k: int, n: int) -> str:
    """The mark beside a number: ' (collapsed: k of n splits)', ' (k of n splits collapsed)' or ''."""
    if not k:
        return ""
    return f" (collapsed: {k} of {n} splits)" if is_collapsed(k, n) else f" ({k} of {n} splits collapsed)"


def collapsed(splits: list) -> tuple[int, int]:
    """(collapsed splits, splits with predictions) of one result's splits."""
    shares = [s for s in (split_share(sp) for sp in splits or [] if isinstance(sp, dict)) if s is not None]
    return sum(s > COLLAPSE_SHARE for s in shares), len(shares)


def accepted_text(names) -> str:
    """' \u2020 class-overlap' for results that accepted inputs that change the protocol, else ''."""
    names = sorted(set(names))
    return f" {ACCEPTED} {', '.join(names)}" if names else ""
