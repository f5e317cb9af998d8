"""Pinned video lists: `zsarbench data freeze` writes a protocol's videos (path relative to the
dataset root, size, fast content hash) to a manifest; `data check --against` compares the videos a
protocol reads today with it. Kinetics videos disappear from YouTube, so two copies of "the same"
dataset rarely hold the same videos: the manifest says which ones a result was computed on.

The hash reads at most 2 MiB a file, so freezing 650k Kinetics videos reads ~1 TB less than hashing
them whole: blake2b (16-byte digest) over the size (8 bytes, little-endian), the first 1 MiB and the
last 1 MiB. A change in the middle of a file of the same size goes unseen; re-encodes, truncations
and swapped files do not."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from ..results import git_revision, now
from .identity import CHUNK, HASH, MISSING, fast_hash, file_ids, relative  # noqa: F401  (the manifest's hash)

KIND, VERSION = "zsar-video-manifest", 1


def video_table(vs, progress=None, cache_dir=None) -> dict[str, list]:
    """Relative path -> [size, hash] of each distinct file of a VideoSet (segments share files): the
    identities runs key their caches by (identity.py; memoised under `cache_dir`)."""
    files = list(dict.fromkeys(vs.paths))
    ids = vs.ids if vs.ids is not None else file_ids(vs.paths, vs.root, cache_dir, progress, vs.name)
    by_path = dict(zip(vs.paths, ids))
    table = {}
    for p in files:
        if by_path[p] == MISSING:
            raise UserError(f"{p} cannot be read: `zsarbench data check {vs.name}` lists what is missing")
        size, digest = by_path[p].split(":")
        table[relative(p, Path(vs.root))] = [int(size), digest]
    return table


def protocol_sets(P, cache_dir, roots, allow_nonstandard: bool, progress=None) -> dict:
    """{dataset: (role, VideoSet, root)} of the videos a run of protocol P reads: the source's official
    subsets (before overlap removal, which only drops classes) and the target's test videos."""
    from .datasets import resolve_dataset
    from .roots import dataset_root

    sets = {}
    for role, name in (("source", P.source.dataset), ("target", P.target.dataset)):
        if name.startswith("synth-"):
            raise UserError(f"dataset '{name}' is generated (synthetic): nothing to freeze; "
                            "`data freeze` is for real datasets and feature files")
        sets[name] = (sets[name][0] + "+" + role if name in sets else role,
                      resolve_dataset(name, P, cache_dir, progress, roots, allow_nonstandard),
                      os.path.abspath(dataset_root(name, roots)[0]))   # checkable from any folder
    return sets


def build_manifest(P, overrides: dict, cache_dir, roots, allow_nonstandard: bool, command: str,
                   progress=None) -> dict:
    from .. import __version__

    datasets = {}
    for name, (role, vs, root) in protocol_sets(P, cache_dir, roots, allow_nonstandard, progress).items():
        table = video_table(vs, progress)   # paths relative to videos_root, where the layout keeps them
        datasets[name] = {"role": role, "root": root, "videos_root": str(vs.root), "n_videos": len(table),
                          "digest": vs.digest, "videos": dict(sorted(table.items()))}
    return {"kind": KIND, "version": VERSION, "protocol": P.name, "protocol_path": P.path,
            "overrides": overrides, "allow_nonstandard": allow_nonstandard, "command": command,
            "created": now(), "zsarbench": __version__, **git_revision(), "hash": HASH, "datasets": datasets}


def read_manifest(path: Path) -> dict:
    import json

    try:
        m = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"manifest {path} not found") from None
    except (OSError, ValueError) as e:
        raise UserError(f"manifest {path} is not a readable JSON file ({e})") from None
    if not isinstance(m, dict) or m.get("kind") != KIND or not isinstance(m.get("datasets"), dict):
        raise UserError(f"{path} is not a video manifest (`zsarbench data freeze -p PROTOCOL` writes one)")
    if m.get("version") != VERSION:
        raise UserError(f"manifest {path} has version {m.get('version')}; this zsarbench reads version {VERSION}")
    return m


def compare(frozen: dict, now_: dict) -> dict:
    """{missing, extra, changed}: relative paths, sorted. Changed: size or hash differs."""
    return {"missing": sorted(set(frozen) - set(now_)), "extra": sorted(set(now_) - set(frozen)),
            "changed": sorted(p for p in set(frozen) & set(now_) if list(frozen[p]) != list(now_[p]))}


def check_against(m: dict, cache_dir, roots: dict, progress=None) -> dict:
    """The manifest's protocol (with its recorded overrides) read again from the manifest's roots, or
    from those `roots` (--data-root) name: a copy of the dataset elsewhere is checked the same way."""
    from ..protocol import load_protocol

    P = load_protocol(m["protocol_path"] if Path(m.get("protocol_path", "")).is_file() else m["protocol"],
                      m.get("overrides") or None)
    roots = {**{name: d["root"] for name, d in m["datasets"].items()}, **(roots or {})}
    out = {}
    for name, (_, vs, root) in protocol_sets(P, cache_dir, roots, bool(m.get("allow_nonstandard")), progress).items():
        if name not in m["datasets"]:
            raise UserError(f"the manifest has no dataset '{name}' (it lists {', '.join(m['datasets'])})")
        frozen = m["datasets"][name]["videos"]
        diff = compare(frozen, video_table(vs, progress))
        out[name] = {"root": root, "n_frozen": len(frozen), **diff}
    return out
