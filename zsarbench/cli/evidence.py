"""`zsarbench compare | bundle | verify | confusion`: per-video evidence of results files (predictions.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from ..context import check_outputs, default_cache_dir
from .common import allow_nonstandard_option, cache_option, console, data_root_option, make_progress, out


def _f(x, digits: int = 1, sign: bool = False) -> str:
    return "-" if x is None else f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (for scripts) instead of tables.")
@click.option("--resamples", type=click.IntRange(100), default=2000, show_default=True,
              help="Replicates of the hierarchical bootstrap.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap's generator.")
def compare(a, b, as_json, resamples, seed):
    """Method A against method B on the same test videos. A and B: a `zsarbench run` results file, a
    quoted glob of them or a comma-separated list (the seeds of one method on one protocol).
    Per seed and split an exact McNemar test with the videos each gets right alone; across seeds the
    test orderings.md uses and a hierarchical bootstrap; the classes that change most. Files whose
    protocol, class list, split draw or videos differ are refused (docs/results.md)."""
    from ..compare import compare_sides, load_side

    res = compare_sides(load_side(a, "A"), load_side(b, "B"), resamples, seed)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    print_comparison(res)


def print_comparison(res: dict) -> None:
    A, B = res["sides"]["A"], res["sides"]["B"]
    for k, s in (("A", A), ("B", B)):
        out.print(f"{k}: {s['method']}, seeds {', '.join(map(str, s['seeds']))}: {', '.join(s['files'])}"
                  + "".join(f"; {n}" for n in s["notes"]), markup=False, highlight=False)
    if len({w for s in (A, B) for w in s["label_words"]}) > 1:
        out.print("note: the label words differ between the files (data.label_words.digest): "
                  f"A {', '.join(map(str, A['label_words']))}; B {', '.join(map(str, B['label_words']))}", markup=False)
    if "mcnemar" in res:
        table = Table(title=f"{A['method']} (A) vs {B['method']} (B) on {res['protocol']}: top-1 per seed and split, "
                            "exact McNemar on the shared videos")
        for col in ("seed", "split", "videos", "A top-1", "B top-1", "A fixes", "A breaks", "p"):
            table.add_column(col, justify="right")
        for t in res["mcnemar"]["tests"]:
            seed = str(t["seed"]) + (f" vs {t['seed_b']}" if "seed_b" in t else "")
            table.add_row(seed, str(t["split"]), str(t["n_shared"]), _f(t["a_top1"]), _f(t["b_top1"]),
                          str(t["a_fixes"]), str(t["a_breaks"]), f"{t['p']:.3f}")
        out.print(table)
        out.print("A fixes: videos A gets right and B wrong; A breaks: the reverse. " + res["mcnemar"]["method"] + ".",
                  markup=False)
    c = res["seed_level"]
    ci = f" [{_f(c['ci'][0], sign=True)}, {_f(c['ci'][1], sign=True)}]" if c["ci"] else ""
    p = f", p {c['p']:.3f}" if c["p"] is not None else ""
    out.print(f"seed level (orderings.md's test): A {_f(c['mean_a'])} (n={c['n_a']}), B {_f(c['mean_b'])} "
              f"(n={c['n_b']}), A - B {_f(c['diff'], sign=True)}{ci}{p}: {c['verdict']}", markup=False)
    out.print(f"  {c['method']}", markup=False, style="dim")
    if "bootstrap" in res:
        bs = res["bootstrap"]
        out.print(f"hierarchical bootstrap: A - B {_f(bs['diff'], sign=True)} [{bs['level']:.0%}: "
                  f"{_f(bs['ci'][0], sign=True)}, {_f(bs['ci'][1], sign=True)}] on {sum(bs['n_videos'])} "
                  f"(split, video) pairs", markup=False)
        out.print(f"  {bs['method']}", markup=False, style="dim")
        table = Table(title="Classes whose top-1 changes most (pooled over seeds and splits, shared videos)")
        for col in ("class", "videos", "A top-1", "B top-1", "A - B"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for r in res["classes"]:
            table.add_row(r["class"], str(r["n_videos"]), _f(r["a_top1"]), _f(r["b_top1"]), _f(r["change"], sign=True))
        out.print(table)
    else:
        out.print(f"per-video comparison {res['per_video']}", markup=False)


@click.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_file", type=click.Path(path_type=Path), required=True, help="The bundle (.tar.gz).")
@click.option("--force", is_flag=True, help="Overwrite an existing bundle.")
@data_root_option
@cache_option
def bundle(results, out_file, force, data_roots, cache_dir):
    """A reproduction bundle of a `zsarbench run` result: protocol, command, environment, class names ->
    words, digests of the embedding and of every video read, predictions, training log, checkpoint key."""
    from ..bundle import make_bundle
    from ..data.roots import parse_roots

    check_outputs(cache_dir, cache=True)
    with make_progress() as progress:
        index = make_bundle(results, out_file, cache_dir or default_cache_dir(), parse_roots(data_roots), force,
                            progress)
    size = sum(m["bytes"] for m in index["members"].values())
    out.print(f"{out_file}: {len(index['members'])} members ({', '.join(index['members'])}), {size / 1e3:.0f} kB "
              f"before compression, {out_file.stat().st_size / 1e3:.0f} kB written", markup=False)


@click.command()
@click.argument("bundle_file", type=click.Path(path_type=Path))
@click.option("--rerun", is_flag=True, help="Also evaluate the cached model again and compare every video's "
                                            "predictions (needs the model in the cache; never trains).")
@click.option("--device", default="auto", help="For --rerun: auto, cpu, cuda ...")
@data_root_option
@allow_nonstandard_option
@cache_option
def verify(bundle_file, rerun, device, data_roots, allow_nonstandard, cache_dir):
    """Check a bundle against your data: class lists, split draw and every video's digest, the label
    words, the stored predictions re-scored; --rerun evaluates the cached model again. Exit code 1
    with one line saying what differs."""
    import tempfile

    from ..bundle import VerifyFailed
    from ..bundle import verify as verify_bundle
    from ..data.roots import parse_roots

    check_outputs(cache_dir, cache=True)
    roots = parse_roots(data_roots)
    with make_progress() as progress, tempfile.TemporaryDirectory() as tmp:
        ctx = None
        if rerun:
            from ..context import make_context

            ctx = make_context(cache_dir, Path(tmp), device, progress, roots, allow_nonstandard=allow_nonstandard)
            ctx.train = False
        try:
            lines = verify_bundle(bundle_file, cache_dir or default_cache_dir(), roots, rerun, ctx, progress)
        except VerifyFailed as e:
            console.print(f"verify failed: {e}", style="red", markup=False, highlight=False, soft_wrap=True)
            sys.exit(1)
    for line in lines:
        out.print(f"ok: {line}", markup=False, highlight=False)
    out.print("verified: the bundle reproduces on this data", markup=False)


@click.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--split", "split", type=int, default=0, show_default=True, help="Which split (its index).")
@click.option("--row", default=None, metavar="ROW@PROTOCOL",
              help="An ablation file's row on one protocol (its predictions group, e.g. rest@synth-ucf-0-50).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder for confusion-<results stem>[-<row>]-split<N>.png and .pdf.")
def confusion(results, split, row, out_dir):
    """The confusion matrix of one split of any results file (a run, or an ablation's row), drawn
    from its per-video predictions."""
    from ..errors import UserError
    from ..predictions import RUN, read_predictions
    from ..predictions import confusion as confusion_counts
    from ..report.figures import draw_confusion

    check_outputs(out_dir=out_dir)
    try:
        doc = json.loads(Path(results).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{results} is not a readable results file ({e})") from None
    splits = doc.get("splits", [])
    if row and doc.get("kind") != "zsar-ablation":
        raise UserError(f"--row names a row of an ablation file; {results} is a '{doc.get('kind')}' file")
    if doc.get("kind") == "zsar-ablation":
        groups = (doc.get("predictions") or {}).get("groups", [])
        cell = next((c for r in doc["rows"] for c in r["results"].values() if row and c.get("predictions") == row), None)
        if cell is None:
            raise UserError(f"{results} is an ablation: give --row, one of {', '.join(groups) or '(none recorded)'}")
        splits = cell["splits"]
    preds = read_predictions(results, doc, row if doc.get("kind") == "zsar-ablation" else RUN)
    sp = next((s for s in splits if s["index"] == split), None)
    if sp is None:
        raise UserError(f"{results} has no split {split} (splits {', '.join(str(s['index']) for s in splits)})")
    classes = preds.classes
    cand = ([classes.index(c) for c in sp["unseen_classes"]] if "n_candidates" not in sp else list(range(len(classes))))
    counts = confusion_counts(preds.split(split), cand)
    out_dir.mkdir(parents=True, exist_ok=True)
    what = row or f"{doc['method']['name']} on {doc['protocol']['name']}"
    title = (f"Confusion matrix, split {split}: {len(cand)} classes, {int(counts.sum())} videos, top-1 "
             f"{100 * counts.trace() / max(counts.sum(), 1):.1f}%\n{what} ({Path(results).name}); from its per-video predictions")
    stem = f"confusion-{Path(results).stem}{'-' + row.replace('@', '-') if row else ''}-split{split}"
    written = draw_confusion(counts, [classes[c] for c in cand], title, out_dir, stem)
    out.print(f"{', '.join(str(out_dir / w) for w in written)}", markup=False)
