"""`zsarbench data synth | cache | check`, `zsarbench labels`, `zsarbench overlap`: datasets, their
class names and words, and the overlap between source and targets."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from ..context import check_outputs, command_line, default_cache_dir
from ..errors import UserError
from .common import (
    allow_nonstandard_option,
    cache_option,
    data_root_option,
    first,
    make_progress,
    out,
    protocol_path_option,
    results_dir_option,
)


@click.group()
def data():
    """Datasets: check a real dataset's root, generate the embedded synthetic benchmark."""


@data.command("synth")
@click.option("--protocol", "-p", "protocol_name", default="synth-ucf-0-50", show_default=True,
              help="Protocol whose [synth] settings to use.")
@protocol_path_option
@click.option("--force", is_flag=True, help="Delete and regenerate even if a complete copy exists.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override synth.* fields.")
@cache_option
def data_synth(protocol_name, force, sets, cache_dir):
    """Generate (or regenerate) the synthetic videos into the cache."""
    import json
    import time

    from ..data.synth import ensure_synth
    from ..protocol import load_protocol, parse_set

    cfg = load_protocol(protocol_name, parse_set(list(sets))).synth
    check_outputs(cache_dir, cache=True)
    t = time.time()
    with make_progress() as progress:
        root = ensure_synth(cache_dir or default_cache_dir(), cfg, force=force, progress=progress)
    manifest = json.loads((root / "manifest.json").read_text())
    for domain, classes in manifest["classes"].items():
        out.print(f"synth-{domain}: {len(classes)} classes")
    out.print(f"{manifest['n_videos']} videos in {root} ({time.time() - t:.1f} s)")


@data.command("cache")
@click.option("--protocol", "-p", "protocol_name", default="synth-ucf-0-50", show_default=True,
              help="Protocol whose source and target datasets to decode, at its recipe.resize.")
@protocol_path_option
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override protocol fields (recipe.clip_store=4: also the source's clip store).")
@click.option("--method", "-m", default="rest18", show_default=True,
              help="The method whose frames per clip the clip store holds (when recipe.frames is 0).")
@click.option("--workers", type=int, default=None, help="Decoding processes [default: the cores, at most 8].")
@click.option("--max-bytes", default=None, metavar="SIZE",
              help="Refuse (before writing) a cache estimated larger than SIZE (500G, 1.5T, bytes).")
@data_root_option
@allow_nonstandard_option
@cache_option
def data_cache(protocol_name, sets, method, workers, max_bytes, data_roots, allow_nonstandard, cache_dir):
    """Decode a protocol's datasets once into the frame cache that recipe.frame_cache=true trains from
    (every frame at recipe.resize), and with recipe.clip_store=N the source's clip store (N clips per
    video, JPEG). Each build first prints the bytes it will write; it refuses when they exceed the free
    space or --max-bytes (docs/scale.md)."""
    from ..data.clip_store import build_clip_store
    from ..data.datasets import resolve_dataset
    from ..data.disk_budget import parse_bytes
    from ..data.frame_cache import build_frame_cache
    from ..data.roots import parse_roots
    from ..experiment import resolve
    from ..protocol import load_protocol, parse_set

    P = resolve(method, load_protocol(protocol_name, parse_set(list(sets))))
    limit = parse_bytes(max_bytes)
    check_outputs(cache_dir, cache=True)
    cache_dir, resize, R = cache_dir or default_cache_dir(), P.recipe.resize or None, P.recipe
    frames = R.frames
    with make_progress() as progress:
        say = lambda line: progress.console.print(line, markup=False)   # noqa: E731
        for name in dict.fromkeys([P.source.dataset, P.target.dataset]):  # what `run` attaches (run.prepare)
            vs = resolve_dataset(name, P, cache_dir, progress, parse_roots(data_roots), allow_nonstandard)
            if R.frame_cache or not R.clip_store:
                fc = build_frame_cache(vs, cache_dir, resize, workers, progress, f"decoding {name} ({len(vs)} videos)",
                                       limit, say)
                m, bad = fc.meta, fc.meta["unreadable"]
                how = f"decoded in {m['seconds']:.1f} s" if fc.fresh else "already there"
                say(f"{name}: {m['n_videos']} videos, {m['bytes'] / 1e9:.2f} GB in {fc.root} ({how}); "
                    f"{len(bad)} unreadable" + (f": {first(bad, 5)}" if bad else ""))
            if R.clip_store and name == P.source.dataset:
                st = build_clip_store(vs, cache_dir, resize, frames, R.stride, R.clip_store, workers, progress, limit, say)
                m = st.meta
                say(f"{name}: clip store of {m['n_videos']} videos x {m['positions']} clips x {m['frames']} frames, "
                    f"{m['bytes'] / 1e9:.2f} GB ({m['bytes_per_video'] / 1e6:.2f} MB per video) in {st.root}; "
                    f"{len(m['unreadable'])} unreadable")
    if not R.frame_cache and not R.clip_store:
        out.print("train from it with --set recipe.frame_cache=true")


@data.command("resize")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--short-side", type=click.IntRange(min=16), default=256, show_default=True,
              help="Short side of the re-encoded videos (never upscaled); keep it >= the protocols' crop.")
@click.option("--keyint", type=click.IntRange(min=1), default=16, show_default=True,
              help="Frames between keyframes: a random clip then decodes fewer frames before its first.")
@click.option("--crf", type=click.IntRange(min=0, max=51), default=23, show_default=True, help="x264 quality.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes [default: one per core].")
def data_resize(src, dst, short_side, keyint, crf, workers):
    """Re-encode the dataset tree SRC into DST at a short side and a short keyframe interval, keeping
    its layout and annotations (mmaction2's resize_videos); resumable (a rerun skips finished videos)
    and parallel. DST/zsarbench-resize.json records the settings and SRC's manifest digest. Point
    --data-root NAME=DST at the copy; runs read it as the dataset it came from."""
    import time

    from ..data.resize import RECORD, resize_tree

    t = time.time()
    with make_progress() as progress:
        rec = resize_tree(src, dst, short_side, keyint, crf, workers, progress, command_line())
    out.print(f"{rec['n_videos']} videos ({rec['reencoded_now']} re-encoded now, {time.time() - t:.1f} s), "
              f"{rec['n_other_files']} other files copied: {dst}", markup=False)
    for path, why in list(rec["failed"].items())[:10]:
        out.print(f"unreadable, left out: {path}: {' '.join(why.split())}", markup=False, soft_wrap=True)
    if rec["failed"]:
        out.print(f"{len(rec['failed'])} source videos could not be read and are not in {dst} (all listed in the "
                  f"record; a rerun retries them)", markup=False)
    out.print(f"record: {dst / RECORD} (source manifest digest {rec['source_manifest_digest']})", markup=False)


def _real_dataset(name: str, data_roots, allow_nonstandard: bool = False) -> tuple:
    """Dataset NAME read from its root (data/roots.py), and where that root came from."""
    from ..data.adapters import load_dataset
    from ..data.roots import dataset_root, parse_roots

    root, origin = dataset_root(name, parse_roots(data_roots))
    return load_dataset(name, root, allow_nonstandard), origin


@data.command("freeze")
@click.option("--protocol", "-p", "protocol_name", required=True, help="Protocol whose videos to list.")
@protocol_path_option
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None,
              help="Manifest file to write [default: ./<protocol>.videos.json].")
@click.option("--force", is_flag=True, help="Overwrite an existing manifest.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override protocol fields (recorded).")
@data_root_option
@allow_nonstandard_option
@cache_option
def data_freeze(protocol_name, out_path, force, sets, data_roots, allow_nonstandard, cache_dir):
    """Write the videos PROTOCOL reads (source and target: path relative to the root, size, fast
    content hash) to a manifest that `data check --against` compares a dataset copy with."""
    from ..data.manifest import HASH, build_manifest
    from ..data.roots import parse_roots
    from ..protocol import load_protocol, parse_set
    from ..results import write_json_atomic

    overrides = parse_set(list(sets))
    P = load_protocol(protocol_name, overrides)
    path = out_path or Path(f"{P.name}.videos.json")
    if path.exists() and not force:   # a manifest is a record: never replaced by accident
        raise UserError(f"{path} exists; pass --force to overwrite it, or --out another file")
    check_outputs(cache_dir, cache=True)
    with make_progress() as progress:
        m = build_manifest(P, overrides, cache_dir or default_cache_dir(), parse_roots(data_roots),
                           allow_nonstandard, command_line(), progress)
    write_json_atomic(path, m)
    for name, d in m["datasets"].items():
        out.print(f"{name} ({d['role']}): {d['n_videos']} videos under {d['root']}", markup=False)
    out.print(f"hash: {HASH}", markup=False)
    out.print(f"manifest: {path}", markup=False)


def _check_against(manifest_path: Path, data_roots, cache_dir) -> None:
    """`data check --against`: missing, extra and changed videos per dataset; exit 1 if any."""
    import sys

    from ..data.manifest import check_against, read_manifest
    from ..data.roots import parse_roots

    m = read_manifest(manifest_path)
    with make_progress() as progress:
        rep = check_against(m, cache_dir or default_cache_dir(), parse_roots(data_roots), progress)
    table = Table("dataset", "root", "frozen", "missing", "extra", "changed",
                  title=f"{manifest_path}: protocol {m['protocol']}, frozen {m['created']}")
    for name, r in rep.items():
        table.add_row(name, r["root"], str(r["n_frozen"]), str(len(r["missing"])), str(len(r["extra"])),
                      str(len(r["changed"])))
    out.print(table)
    differ = False
    for name, r in rep.items():
        for what in ("missing", "extra", "changed"):
            for p in r[what]:
                out.print(f"{what}: {name}: {p}", markup=False)
            differ |= bool(r[what])
    out.print("the videos differ from the manifest" if differ else "identical to the manifest", markup=False)
    sys.exit(1 if differ else 0)


@data.command("check")
@protocol_path_option
@click.argument("name", required=False)
@click.option("--against", "against", type=click.Path(path_type=Path), default=None, metavar="MANIFEST",
              help="Compare the videos of the manifest's protocol with the manifest (`data freeze`): "
                   "missing, extra and changed videos; exit code 1 if any.")
@click.option("--probe", type=int, default=None, metavar="N",
              help="Open a seeded sample of N videos to find unreadable ones (default: all).")
@click.option("--sample", "per_class", type=click.IntRange(min=1), default=None, metavar="N",
              help="Open a seeded N videos of every class (default: all; Kinetics-700 at --sample 2 opens 1,400).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that open videos [default: one per core, at most 16].")
@data_root_option
@results_dir_option()
@cache_option
def data_check(name, against, probe, per_class, workers, data_roots, results_dir, cache_dir):
    """Classes, videos per class, missing classes and videos, unreadable files of dataset NAME; the
    layout found, whether it matches the dataset's signature, and the digests runs record.
    With --against MANIFEST: the videos against a manifest `data freeze` wrote."""
    from ..data.check import check_dataset
    from ..data.identity import file_ids
    from ..data.signatures import NONSTANDARD
    from ..results import new_results_path, write_json_atomic

    if against is not None:
        if name:
            raise UserError("give NAME or --against MANIFEST, not both (the manifest names its datasets)")
        return _check_against(against, data_roots, cache_dir)
    if not name:
        raise UserError("give a dataset NAME, or --against MANIFEST")
    check_outputs(results_dir=results_dir, result_folders=["data-check"])
    vs, origin = _real_dataset(name, data_roots, allow_nonstandard=True)   # a check reports a mismatch
    with make_progress() as progress:
        # each video's content identity, for the digest: memoised in the cache, as runs do (data/identity.py)
        vs.ids = file_ids(vs.paths, vs.root, cache_dir or default_cache_dir(), progress, name)
        rep = check_dataset(vs, probe, progress=progress, per_class=per_class, workers=workers)
    counts = rep["videos_per_class"]
    if len(counts) <= 120:
        table = Table("class", "videos", "class", "videos", "class", "videos", title=f"{name}: videos per class")
        cells = [x for c, n in counts.items() for x in (c, str(n))]
        for i in range(0, len(cells), 6):
            table.add_row(*cells[i:i + 6])
        out.print(table)
    n = sorted(counts.values())
    out.print(f"{name} ({vs.kind} naming rules) at {vs.root} (root from {origin})")
    out.print(f"layout: {rep['layout'] or 'unknown'}", markup=False, soft_wrap=True)
    sig = rep["signature"] or "none (not an official dataset's name, or your own list)"
    if sig.startswith(NONSTANDARD):
        sig = "does not match (runs refuse this root without --allow-nonstandard): " + sig.removeprefix(NONSTANDARD)
    out.print(f"signature: {sig}", markup=False, soft_wrap=True)
    out.print(f"digest: classes {rep['digest']['classes']}, videos {rep['digest']['videos']} "
              "(runs record these as data.source/target.digest)")
    out.print(f"{rep['n_classes']} classes, {rep['n_videos']} videos"
              + (f" (annotated segments of {rep['n_files']} files)" if rep["segments"] else "")
              + (f"; videos per class min {n[0]}, median {n[len(n) // 2]}, max {n[-1]}" if n else ""))
    if rep["subsets"]:
        out.print("official subsets: " + ", ".join(f"{k} {v}" for k, v in rep["subsets"].items()))
    out.print(f"classes without videos: {len(rep['classes_without_videos'])}"
              + (f": {first(rep['classes_without_videos'])}" if rep["classes_without_videos"] else ""))
    out.print(f"annotated videos missing on disk: {len(rep['missing_videos'])}"
              + (f": {first(rep['missing_videos'], 5)}" if rep["missing_videos"] else ""))
    out.print(f"unreadable videos: {len(rep['unreadable'])} of {rep['probed']} opened"
              + (f" ({per_class} per class, --sample)" if per_class and rep["probed"] < rep["n_files"] else "")
              + (f": {first((u['path'] for u in rep['unreadable']), 5)}" if rep["unreadable"] else ""))
    for kind, items in rep["deviations"].items():   # runs refuse these unless --accept KIND (docs/errors.md)
        out.print(f"{kind}: {len(items)} (runs refuse them unless --accept {kind}): {first(items, 5)}")
    for note in rep["notes"]:
        if not note.startswith(NONSTANDARD):   # said on the signature line
            out.print(f"note: {note}", markup=False)
    path = new_results_path(results_dir, "data-check", name)
    write_json_atomic(path, rep)
    out.print(f"full report: {path}")


# ----------------------------------------------------------------------------- labels / overlap

@click.command()
@click.argument("name")
@click.option("--embedding", default="glove-6b-50d", show_default=True,
              help="glove-6b-50d (offline) or word2vec:PATH (the paper's GoogleNews vectors).")
@data_root_option
@allow_nonstandard_option
@cache_option
def labels(name, embedding, data_roots, allow_nonstandard, cache_dir):
    """Each class of dataset NAME, its words and any out-of-vocabulary word."""
    from ..text.embeddings import load_embedding
    from ..text.labels import class_words, has_override, label_table

    check_outputs(cache_dir, cache=True)
    vs, _ = _real_dataset(name, data_roots, allow_nonstandard)
    emb = load_embedding(embedding, str(cache_dir or default_cache_dir()))
    table = Table("class", "words", "out of vocabulary", "from",
                  title=f"{name}: class names -> words ({vs.kind} rules, {label_table(embedding)} override table)")
    n_over = n_oov = 0
    for c in vs.classes:
        words, over = class_words(c, vs.kind, embedding), has_override(c, vs.kind, embedding)
        oov = emb.oov(words)
        n_over, n_oov = n_over + over, n_oov + bool(oov)
        table.add_row(c, " ".join(words), Text(" ".join(oov), style="red"), "override" if over else "rules")
    out.print(table)
    out.print(f"{len(vs.classes)} classes, {n_over} from the override table, {n_oov} with out-of-vocabulary "
              f"words under {embedding}")


@click.command()
@click.option("--source", required=True, help="Source dataset (e.g. kinetics700).")
@click.option("--targets", required=True, help="Target datasets, comma-separated (e.g. ucf101,hmdb51).")
@click.option("--embedding", default="glove-6b-50d", show_default=True,
              help="glove-6b-50d (offline) or word2vec:PATH (the paper's GoogleNews vectors).")
@click.option("--tau", type=float, default=0.05, show_default=True,
              help="Remove a source class whose cosine distance to some target class is below tau.")
@data_root_option
@allow_nonstandard_option
@results_dir_option()
@cache_option
def overlap(source, targets, embedding, tau, data_roots, allow_nonstandard, results_dir, cache_dir):
    """Source classes that overlap the targets: each with its nearest target class and the distance."""
    import time

    from ..data.overlap import SUBSET_NAMES, overlap_between
    from ..results import new_results_path, now, provenance, write_json_atomic
    from ..text.embeddings import load_embedding
    names = [t.strip() for t in targets.split(",") if t.strip()]
    check_outputs(cache_dir, results_dir, result_folders=["overlap"], cache=True)
    src, tgts = (_real_dataset(source, data_roots, allow_nonstandard)[0],
                 [_real_dataset(t, data_roots, allow_nonstandard)[0] for t in names])
    emb = load_embedding(embedding, str(cache_dir or default_cache_dir()))
    t = time.time()
    res, words = overlap_between(src, tgts, emb, tau)
    seconds = time.time() - t
    table = Table("source class", "words", "nearest target class", "target", "words", "distance", "rule",
                  title=f"{source} classes removed (cosine distance < {tau} under {embedding}, or a target "
                        "class's name)")
    for r in sorted(res.removed, key=lambda r: r["distance"]):
        table.add_row(r["source"], " ".join(words[source][r["source"]]), r["nearest_target"], r["target_dataset"],
                      " ".join(words[r["target_dataset"]][r["nearest_target"]]), f"{r['distance']:.4f}", r["rule"])
    out.print(table)
    if res.by_name:
        out.print(f"{res.by_name} removed by name alone (farther than tau {tau} under {embedding}: E2E's rule kept them)")
    subset = SUBSET_NAMES.get((source, frozenset(names)), "")
    out.print(f"removed {len(res.removed)}, kept {len(res.kept)} of {len(src.classes)} {source} classes"
              + (f": the {subset} subset under {embedding} (E2E's word2vec run kept {subset[1:]})" if subset else "")
              + f"; {len(src.classes)} x {sum(len(x.classes) for x in tgts)} classes: words, vectors and "
              f"distances in {seconds:.2f} s")
    path = new_results_path(results_dir, "overlap", f"{source}-vs-{'+'.join(names)}")
    write_json_atomic(path, {
        "kind": "zsar-overlap", "command": command_line(),
        "source": source, "targets": names, "embedding": embedding, "tau": tau, "subset_name": subset,
        "n_source_classes": len(src.classes), "removed": res.removed, "kept": res.kept, "words": words,
        "seconds": round(seconds, 4), "provenance": {**provenance(), "finished": now()}})
    out.print(f"saved: {path}")
