"""The `zsarbench` command: parse, call, print. Bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from .errors import UserError

console = Console(stderr=True)
# Piped output (files, CI logs, tests) gets wide lines instead of names folded mid-word.
out = Console(width=None if sys.stdout.isatty() else 160)


def default_cache_dir() -> Path:
    return Path(os.environ.get("ZSARBENCH_CACHE") or Path.home() / ".cache" / "zsarbench")


def make_progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
                    transient=False, disable=not is_main_rank())


def is_main_rank() -> bool:
    """False in torchrun's ranks other than 0: they neither draw progress nor print (engine/dist.py)."""
    return int(os.environ.get("RANK", "0")) == 0


cache_option = click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                            help="Where synthetic data, checkpoints and features go "
                                 "[env ZSARBENCH_CACHE; default ~/.cache/zsarbench].")
data_root_option = click.option("--data-root", "data_roots", multiple=True, metavar="NAME=PATH",
                                 help="Where dataset NAME lives (repeatable) [else env ZSARBENCH_DATA_<NAME>, "
                                      "else ~/.config/zsarbench/datasets.toml].")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zsarbench")
def main():
    """Zero-shot action recognition benchmark: ResT and baselines under leak-free protocols."""


# ----------------------------------------------------------------------------- run

@main.command()
@click.argument("method")
@click.option("--protocol", "-p", "protocol_name", required=True,
              help="Protocol name or .toml path; several separated by commas share one trained model.")
@click.option("--seed", type=int, default=None, help="Training seed (recipe.seed).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a protocol field (recipe.joint_epochs=1) or a method option (method.depth=2).")
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--solver", type=click.Choice(["mip", "exact"]), default=None,
              help="Transfer solver (transfer.solver): integer program or the exact row-wise solver.")
@click.option("--gzsl", is_flag=True, help="Also evaluate generalized ZSL (seen + unseen candidates).")
@click.option("--embedding", default=None, help="Label embedding (embedding.name): glove-6b-50d or word2vec:PATH.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue an interrupted training of the same run from its last saved state "
                   "(saved at epoch ends and every recipe.checkpoint_every steps).")
@data_root_option
@cache_option
def run(method, protocol_name, seed, sets, device, results_dir, solver, gzsl, embedding, resume, data_roots,
        cache_dir):
    """Train (or reuse) METHOD and evaluate it zero-shot under a protocol."""
    from .data.roots import parse_roots
    from .run import RunContext, run as run_pipeline

    sets = (*sets, f"embedding.name={embedding}") if embedding else sets
    loaded = [_load_for_method(method, p.strip(), sets, seed, solver)  # all checked before any work
              for p in protocol_name.split(",") if p.strip()]
    command = "zsarbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with make_progress() as progress:
        ctx = RunContext(cache_dir or default_cache_dir(), results_dir, device, command, progress,
                         log=progress.console.print if is_main_rank() else lambda *a, **k: None,
                         data_roots=parse_roots(data_roots), resume=resume)
        done = [run_pipeline(method, protocol, ctx, method_overrides, overrides, gzsl)
                for protocol, method_overrides, overrides in loaded]
    for result, path in done if is_main_rank() else ():
        print_result(result, path)


def _load_for_method(method, protocol_name, sets, seed, solver):
    """--set / --seed / --solver -> (protocol, method options, overrides as recorded in results)."""
    from .protocol import load_protocol, parse_set
    from .registry import create_method

    overrides = parse_set(list(sets))
    method_overrides = overrides.pop("method", {})
    if seed is not None:
        overrides.setdefault("recipe", {})["seed"] = seed
    if solver is not None:
        overrides.setdefault("transfer", {})["solver"] = solver
    create_method(method, **method_overrides)  # fail fast on an unknown method before loading data
    protocol = load_protocol(protocol_name, overrides)
    return protocol, method_overrides, {**overrides, **({"method": method_overrides} if method_overrides else {})}


def print_result(result: dict, path: Path) -> None:
    agg, tr = result["aggregate"], result["transfer"]
    table = Table(title=f"{result['method']['name']} on {result['protocol']['name']} "
                        f"({len(result['splits'])} split{'s' if len(result['splits']) > 1 else ''}, percent)")
    for col in ("split", "unseen", "videos", "top-1", "top-5"):
        table.add_column(col, justify="right")
    for sp in result["splits"]:
        table.add_row(str(sp["index"]), str(len(sp["unseen_classes"])), str(sp["n_videos"]),
                      f"{sp['top1']:.1f}", f"{sp['top5']:.1f}")
    table.add_section()
    table.add_row("mean +- std", "", "", f"{agg['top1']['mean']:.1f} +- {agg['top1']['std']:.1f}",
                  f"{agg['top5']['mean']:.1f} +- {agg['top5']['std']:.1f}", style="bold")
    out.print(table)
    inference = (f"transfer {tr['solver']}: theta={tr['theta']} K={tr['K']} rho={tr['rho']}" if tr["variant"] == "all"
                 else f"inference {tr['variant']} ({result['method']['space']} space, no transfer)")
    cost = result.get("cost", {})
    out.print(f"chance top-1 {agg['chance_top1']:.1f}%  |  {inference} (CV top-1 on seen classes "
              f"{tr['cv']['cv_top1']:.1f}%)  |  {result['timings']['total_s']:.0f} s"
              + (f"  |  {cost['gmac_per_clip']:.3g} GMAC x {cost['test_clips']} clips" if cost.get("measured") else ""))
    if "gzsl" in agg:
        g = {k: f"{v['mean']:.1f} +- {v['std']:.1f}" for k, v in agg["gzsl"].items()}
        out.print(f"generalized ZSL (seen + unseen candidates): seen top-1 {g['seen_top1']}, "
                  f"unseen top-1 {g['unseen_top1']}, harmonic mean {g['harmonic_mean']}")
    skipped = result["data"]["skipped_videos"]
    if skipped:
        out.print(f"[yellow]{len(skipped)} unreadable videos skipped (listed in the results file)[/yellow]")
    out.print(f"results: {path}")


# ----------------------------------------------------------------------------- ablate

@main.group()
def ablate():
    """Ablations on a trained model (trained or reused as `run` does)."""


@ablate.command("constraints")
@click.option("--protocol", "-p", "protocol_names", multiple=True, default=("synth-ucf-0-50", "synth-hmdb-0-50"),
              show_default=True, help="Protocol name or .toml path; repeat for several targets.")
@click.option("--method", "-m", default="rest18", show_default=True)
@click.option("--seed", type=int, default=None, help="Training seed (recipe.seed).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a protocol field or method.<option>.")
@click.option("--solver", type=click.Choice(["mip", "exact"]), default=None, help="Transfer solver (transfer.solver).")
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@data_root_option
@cache_option
def ablate_constraints(protocol_names, method, seed, sets, solver, device, results_dir, data_roots, cache_dir):
    """Effect of the transfer constraints and of the space (paper Table 8), one table per protocol."""
    import time

    from .ablate import ablate_constraints as ablate_pipeline
    from .data.roots import parse_roots
    from .run import RunContext

    t0 = time.time()
    loaded = [_load_for_method(method, p, sets, seed, solver) for p in protocol_names]  # all checked first
    command = "zsarbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    done = []
    with make_progress() as progress:
        ctx = RunContext(cache_dir or default_cache_dir(), results_dir, device, command, progress,
                         log=progress.console.print, data_roots=parse_roots(data_roots))
        cv_memo = {}
        for protocol, method_overrides, overrides in loaded:
            done.append(ablate_pipeline(method, protocol, ctx, method_overrides, overrides, cv_memo=cv_memo))
    for result, path in done:
        print_ablation(result, path)
    out.print(f"{len(done)} protocol(s) in {time.time() - t0:.1f} s")


def print_ablation(result: dict, path: Path) -> None:
    table = Table(title=f"{result['method']['name']} on {result['protocol']['name']}: effect of the transfer "
                        f"constraints ({result['n_splits']} splits, percent, mean +- std)")
    for col in ("variant", "space", "skew psi_1 (sample)", "skew psi_1 (Eq. 10)", "top-1", "top-5",
                "CV top-1 (seen)", "theta, K, rho"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for row in result["variants"]:
        agg, hub = row["aggregate"], row["aggregate"]["hubness"]["k1"]
        skew = [("-" if hub[n]["mean"] is None else f"{hub[n]['mean']:.3f}") for n in ("skew_sample", "skew_paper_eq10")]
        params = ", ".join("-" if row[p] is None else f"{row[p]:g}" for p in ("theta", "K", "rho"))
        table.add_row(row["label"], row["space"], *skew, f"{agg['top1']['mean']:.1f} +- {agg['top1']['std']:.1f}",
                      f"{agg['top5']['mean']:.1f} +- {agg['top5']['std']:.1f}", f"{row['cv']['cv_top1']:.1f}", params)
    out.print(table)
    t = result["timings"]
    cached = all(f["cached"] for f in result["features"].values())
    out.print(f"solver {result['solver']}  |  features {'from cache' if cached else 'extracted'}, network "
              f"{'loaded' if result['checkpoint']['network_loaded'] else 'not loaded'}  |  ablation "
              f"{t['ablation_s']:.1f} s, total {t['total_s']:.1f} s  |  results: {path}")


def _table_command(name: str, title: str, protocols: tuple):
    """One `zsarbench ablate NAME` command per paper table (zsarbench/ablate.py TABLES)."""
    @click.option("--protocol", "-p", "protocol_names", multiple=True, default=protocols,
                  show_default=True, help="Protocol name or .toml path; repeat for the table's columns.")
    @click.option("--profile", type=click.Choice(["auto", "cheap", "protocol"]), default="auto", show_default=True,
                  help="cheap: the CPU-sized profile (ablate.py CHEAP_*); protocol: the protocols' own recipe; "
                       "auto: cheap when every protocol is synthetic.")
    @click.option("--seed", type=int, default=None, help="Training seed (recipe.seed).")
    @click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                  help="Override a protocol field, or method.<option> for every row whose method has it.")
    @click.option("--solver", type=click.Choice(["mip", "exact"]), default=None, help="Transfer solver.")
    @click.option("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    @click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
    @data_root_option
    @cache_option
    def command(protocol_names, profile, seed, sets, solver, device, results_dir, data_roots, cache_dir, word2vec=None):
        import time

        from .ablate import CHEAP_METHOD, CHEAP_PROTOCOL, EMBEDDINGS, ablate_table
        from .data.roots import parse_roots
        from .protocol import _deep_merge, load_protocol, parse_set
        from .run import RunContext

        t0 = time.time()
        overrides = parse_set(list(sets))
        method_options = overrides.pop("method", {})
        if seed is not None:
            overrides.setdefault("recipe", {})["seed"] = seed
        if solver is not None:
            overrides.setdefault("transfer", {})["solver"] = solver
        plain = [load_protocol(p, overrides) for p in protocol_names]   # all checked before any work
        cheap = profile == "cheap" or (profile == "auto" and all(p.source.dataset.startswith("synth-") for p in plain))
        protocols = [load_protocol(p, _deep_merge(CHEAP_PROTOCOL, overrides)) for p in protocol_names] if cheap else plain
        embeddings = ((f"word2vec:{word2vec}",) if word2vec else ()) + EMBEDDINGS
        command = "zsarbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        with make_progress() as progress:
            ctx = RunContext(cache_dir or default_cache_dir(), results_dir, device, command, progress,
                             log=progress.console.print, data_roots=parse_roots(data_roots))
            result, path = ablate_table(name, protocols, ctx, overrides,
                                        {"protocol": CHEAP_PROTOCOL, "method": CHEAP_METHOD} if cheap else None,
                                        embeddings, method_options)
        print_table_ablation(result, path)
        out.print(f"{time.time() - t0:.0f} s")

    command.__doc__ = f"Paper {title}."
    if name == "embeddings":
        command = click.option("--word2vec", type=click.Path(path_type=Path), default=None,
                               help="GoogleNews word2vec binary: adds the W2V rows (word2vec:PATH).")(command)
    return ablate.command(name)(command)


def print_table_ablation(result: dict, path: Path) -> None:
    rows = result["rows"]
    table = Table(title=f"{result['title']} (top-1 %, mean +- std over splits)")
    cells = list(rows[0]["cells"])
    cost = result["ablation"] in ("backbones", "clips")
    for col in cells:
        table.add_column(col)
    if cost:
        table.add_column("GMAC x clips", justify="right")
    for name in result["protocols"]:
        table.add_column(name, justify="right")
    for row in rows:
        c = row["cost"]
        gmac = [f"{c['gmac_per_clip']:.3g} x {row['test_clips']}" if c.get("measured") else "-"] if cost else []
        res = [row["results"][p]["aggregate"]["top1"] for p in result["protocols"]]
        table.add_row(*(str(row["cells"][k]) for k in cells), *gmac,
                      *(f"{a['mean']:.1f}" + (f" +- {a['std']:.1f}" if a["n"] > 1 else "") for a in res))
    out.print(table)
    prof = result["profile"]
    out.print(("profile: cheap (" + ", ".join(f"{s}.{k}={v}" for s, kv in prof["protocol"].items() for k, v in kv.items())
               + ", method " + ", ".join(f"{k}={v}" for k, v in prof["method"].items()) + " where the method has it)")
              if isinstance(prof, dict) else f"profile: {prof}")
    out.print(f"results: {path}")


# The paper's columns: 0/50 and 0/100 on UCF101 (Tables 3-5), 0/50 on UCF101 and HMDB51 (Table 6).
_UCF = ("synth-ucf-0-50", "synth-ucf-0-100")
_TABLE_COMMANDS = (
    ("architecture", "Table 3(a): RNN and LSTM two-stream models vs the Transformer", _UCF),
    ("components", "Table 3(b): CLS only, MLM only, both, both with transfer", _UCF),
    ("attention", "Table 3(c): cross-modal attention for CLS and MLM vs ResT's", _UCF),
    ("backbones", "Table 4(a): VGG16, MobileNetV2, GoogLeNet, R(2+1)D, ResNet-18 with GMAC x clips", _UCF),
    ("clips", "Table 4(b): E2E and ResT_18/34/101 with 25 and 1 test clips, GMAC x clips", _UCF),
    ("embeddings", "Table 5: word2vec, GloVe, sentence embedding in S and V space", _UCF),
    ("pretrained", "Table 6: R(2+1)D pretrained on the seen classes, frozen or end-to-end",
     ("synth-ucf-0-50", "synth-hmdb-0-50")))
for _name, _title, _protocols in _TABLE_COMMANDS:
    _table_command(_name, _title, _protocols)   # zsarbench/ablate.py TABLES holds the rows


# ----------------------------------------------------------------------------- reports

results_dir_option = click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"),
                                  show_default=True, help="Read RESULTS_DIR/**/*.json.")


@main.command()
@results_dir_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where to write [default RESULTS_DIR/tables].")
def tables(results_dir, out_dir):
    """The paper's Tables 1-9 as Markdown and LaTeX, from the results files (docs/results.md)."""
    import time

    from .report.load import load_results
    from .report.tables import write_tables

    t = time.time()
    results = load_results(results_dir)
    out_dir = out_dir or results_dir / "tables"
    missing = write_tables(results, out_dir)
    out.print(f"{len(results)} results files -> {len(missing)} tables in {out_dir} "
              f"({sum(missing.values())} cells still missing; each table lists the commands) in {time.time() - t:.2f} s")


@main.command()
@results_dir_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where to write [default RESULTS_DIR/figures].")
def figures(results_dir, out_dir):
    """Confusion matrices, per-class accuracy, t-SNE, transfer matrices and hubness (PNG and PDF)."""
    import time

    from .report.figures import write_figures
    from .report.load import load_results

    t = time.time()
    out_dir = out_dir or results_dir / "figures"
    written = write_figures(load_results(results_dir), out_dir)
    out.print(f"{len(written)} figure files in {out_dir} in {time.time() - t:.1f} s")


# ----------------------------------------------------------------------------- ls / show / validate

@main.command("ls")
@click.argument("what", type=click.Choice(["methods", "protocols"]))
@click.argument("pattern", default="*")
def ls(what, pattern):
    """List registered methods or available protocols (optionally matching a glob PATTERN)."""
    if what == "methods":
        from .registry import _METHODS, list_methods, method_origin

        table = Table("method", "from", "description")
        table.columns[0].no_wrap = True
        for name in list_methods(pattern):
            doc = (_METHODS[name].__doc__ or "").strip().splitlines()
            table.add_row(name, method_origin(name), doc[0] if doc else "")
        out.print(table)
    else:
        import fnmatch

        from .protocol import load_protocol, protocol_files

        table = Table("protocol", "source", "target", "split", "embedding", "description")
        for col in table.columns[:5]:
            col.no_wrap = True
        for name, path in protocol_files().items():
            if not fnmatch.fnmatch(name, pattern):
                continue
            p = load_protocol(str(path))
            table.add_row(name, p.source.dataset, p.target.dataset, p.target.split, p.embedding.name,
                          p.description)
        out.print(table)


@main.command()
@click.argument("what", type=click.Choice(["protocol"]))
@click.argument("name")
def show(what, name):
    """Print a protocol with its includes resolved, as TOML-like tables."""
    from .protocol import load_protocol

    p = load_protocol(name).to_dict()
    path = p.pop("path")
    out.print(f"# {name}  ({path})")
    scalars = {k: v for k, v in p.items() if not isinstance(v, dict)}
    for k, v in scalars.items():
        out.print(f"{k} = {_toml(v)}", markup=False)
    for section, body in p.items():
        if isinstance(body, dict):
            out.print(f"\n[{section}]", markup=False)
            for k, v in body.items():
                out.print(f"{k} = {_toml(v)}", markup=False)


def _toml(v) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
def validate(file):
    """Check a protocol file: syntax, includes, field names and types."""
    from .protocol import load_protocol

    p = load_protocol(str(file))
    out.print(f"ok: {file} is a valid protocol '{p.name}' ({p.source.dataset} -> {p.target.dataset}, {p.target.split})")


# ----------------------------------------------------------------------------- data

@main.group()
def data():
    """Datasets: check a real dataset's root, generate the embedded synthetic benchmark."""


@data.command("synth")
@click.option("--protocol", "-p", "protocol_name", default="synth-ucf-0-50", show_default=True,
              help="Protocol whose [synth] settings to use.")
@click.option("--force", is_flag=True, help="Delete and regenerate even if a complete copy exists.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override synth.* fields.")
@cache_option
def data_synth(protocol_name, force, sets, cache_dir):
    """Generate (or regenerate) the synthetic videos into the cache."""
    import json
    import time
    from .data.synth import ensure_synth
    from .protocol import load_protocol, parse_set

    cfg = load_protocol(protocol_name, parse_set(list(sets))).synth
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
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override protocol fields (recipe.resize=128).")
@click.option("--workers", type=int, default=None, help="Decoding processes [default: the cores, at most 8].")
@data_root_option
@cache_option
def data_cache(protocol_name, sets, workers, data_roots, cache_dir):
    """Decode a protocol's datasets once into the frame cache that recipe.frame_cache=true trains from."""
    from .data.datasets import resolve_dataset
    from .data.frame_cache import build_frame_cache, cache_key
    from .data.roots import parse_roots
    from .protocol import load_protocol, parse_set

    P = load_protocol(protocol_name, parse_set(list(sets)))
    cache_dir, resize = cache_dir or default_cache_dir(), P.recipe.resize or None
    with make_progress() as progress:
        for name in dict.fromkeys([P.source.dataset, P.target.dataset]):  # what `run` attaches (run.prepare)
            vs = resolve_dataset(name, P, cache_dir, progress, parse_roots(data_roots))
            reused = (cache_dir / "frames" / cache_key(vs, resize) / "meta.json").exists()
            fc = build_frame_cache(vs, cache_dir, resize, workers, progress, f"decoding {name} ({len(vs)} videos)")
            m, bad = fc.meta, fc.meta["unreadable"]
            how = "already there" if reused else f"decoded in {m['seconds']:.1f} s"
            progress.console.print(f"{name}: {m['n_videos']} videos, {m['bytes'] / 1e9:.2f} GB in {fc.root} ({how}); "
                                   f"{len(bad)} unreadable" + (f": {_first(bad, 5)}" if bad else ""), markup=False)
    if not P.recipe.frame_cache:
        out.print("train from it with --set recipe.frame_cache=true")


def _real_dataset(name: str, data_roots) -> tuple:
    """Dataset NAME read from its root (data/roots.py), and where that root came from."""
    from .data.adapters import load_dataset
    from .data.roots import dataset_root, parse_roots

    root, origin = dataset_root(name, parse_roots(data_roots))
    return load_dataset(name, root), origin


def _first(items, n: int = 10) -> str:
    items = list(items)
    return ", ".join(map(str, items[:n])) + (f" (+{len(items) - n} more)" if len(items) > n else "")


@data.command("check")
@click.argument("name")
@click.option("--probe", type=int, default=None, metavar="N",
              help="Open a seeded sample of N videos to find unreadable ones (default: all).")
@data_root_option
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
def data_check(name, probe, data_roots, results_dir):
    """Classes, videos per class, missing classes and videos, unreadable files of dataset NAME."""
    from .data.check import check_dataset
    from .results import new_results_path, write_json_atomic

    vs, origin = _real_dataset(name, data_roots)
    with make_progress() as progress:
        rep = check_dataset(vs, probe, progress=progress)
    counts = rep["videos_per_class"]
    if len(counts) <= 120:
        table = Table("class", "videos", "class", "videos", "class", "videos", title=f"{name}: videos per class")
        cells = [x for c, n in counts.items() for x in (c, str(n))]
        for i in range(0, len(cells), 6):
            table.add_row(*cells[i:i + 6])
        out.print(table)
    n = sorted(counts.values())
    out.print(f"{name} ({vs.kind} naming rules) at {vs.root} (root from {origin})")
    out.print(f"{rep['n_classes']} classes, {rep['n_videos']} videos"
              + (f" (annotated segments of {rep['n_files']} files)" if rep["segments"] else "")
              + (f"; videos per class min {n[0]}, median {n[len(n) // 2]}, max {n[-1]}" if n else ""))
    if rep["subsets"]:
        out.print("official subsets: " + ", ".join(f"{k} {v}" for k, v in rep["subsets"].items()))
    out.print(f"classes without videos: {len(rep['classes_without_videos'])}"
              + (f": {_first(rep['classes_without_videos'])}" if rep["classes_without_videos"] else ""))
    out.print(f"annotated videos missing on disk: {len(rep['missing_videos'])}"
              + (f": {_first(rep['missing_videos'], 5)}" if rep["missing_videos"] else ""))
    out.print(f"unreadable videos: {len(rep['unreadable'])} of {rep['probed']} opened"
              + (f": {_first((u['path'] for u in rep['unreadable']), 5)}" if rep["unreadable"] else ""))
    for note in rep["notes"]:
        out.print(f"note: {note}", markup=False)
    path = new_results_path(results_dir, "data-check", name)
    write_json_atomic(path, rep)
    out.print(f"full report: {path}")


# ----------------------------------------------------------------------------- labels / overlap

@main.command()
@click.argument("name")
@click.option("--embedding", default="glove-6b-50d", show_default=True,
              help="glove-6b-50d (offline) or word2vec:PATH (the paper's GoogleNews vectors).")
@data_root_option
@cache_option
def labels(name, embedding, data_roots, cache_dir):
    """Each class of dataset NAME, its words and any out-of-vocabulary word."""
    from .text.embeddings import load_embedding
    from .text.labels import class_words, has_override

    vs, _ = _real_dataset(name, data_roots)
    emb = load_embedding(embedding, str(cache_dir or default_cache_dir()))
    table = Table("class", "words", "out of vocabulary", "from", title=f"{name}: class names -> words ({vs.kind} rules)")
    n_over = n_oov = 0
    for c in vs.classes:
        words, over = class_words(c, vs.kind), has_override(c, vs.kind)
        oov = emb.oov(words)
        n_over, n_oov = n_over + over, n_oov + bool(oov)
        table.add_row(c, " ".join(words), f"[red]{' '.join(oov)}[/red]" if oov else "", "override" if over else "rules")
    out.print(table)
    out.print(f"{len(vs.classes)} classes, {n_over} from the override table, {n_oov} with out-of-vocabulary "
              f"words under {embedding}")


@main.command()
@click.option("--source", required=True, help="Source dataset (e.g. kinetics700).")
@click.option("--targets", required=True, help="Target datasets, comma-separated (e.g. ucf101,hmdb51).")
@click.option("--embedding", default="glove-6b-50d", show_default=True,
              help="glove-6b-50d (offline) or word2vec:PATH (the paper's GoogleNews vectors).")
@click.option("--tau", type=float, default=0.05, show_default=True,
              help="Remove a source class whose cosine distance to some target class is below tau.")
@data_root_option
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@cache_option
def overlap(source, targets, embedding, tau, data_roots, results_dir, cache_dir):
    """Source classes that overlap the targets: each with its nearest target class and the distance."""
    import time

    from .data.overlap import SUBSET_NAMES, overlap_between
    from .results import new_results_path, now, provenance, write_json_atomic
    from .text.embeddings import load_embedding

    names = [t.strip() for t in targets.split(",") if t.strip()]
    src, tgts = _real_dataset(source, data_roots)[0], [_real_dataset(t, data_roots)[0] for t in names]
    emb = load_embedding(embedding, str(cache_dir or default_cache_dir()))
    t = time.time()
    res, words = overlap_between(src, tgts, emb, tau)
    seconds = time.time() - t
    table = Table("source class", "words", "nearest target class", "target", "words", "distance",
                  title=f"{source} classes removed (cosine distance < {tau} under {embedding})")
    for r in sorted(res.removed, key=lambda r: r["distance"]):
        table.add_row(r["source"], " ".join(words[source][r["source"]]), r["nearest_target"], r["target_dataset"],
                      " ".join(words[r["target_dataset"]][r["nearest_target"]]), f"{r['distance']:.4f}")
    out.print(table)
    subset = SUBSET_NAMES.get((source, frozenset(names)), "")
    out.print(f"removed {len(res.removed)}, kept {len(res.kept)} of {len(src.classes)} {source} classes"
              + (f": the {subset} subset under {embedding} (E2E's word2vec run kept {subset[1:]})" if subset else "")
              + f"; {len(src.classes)} x {sum(len(x.classes) for x in tgts)} classes: words, vectors and "
              f"distances in {seconds:.2f} s")
    path = new_results_path(results_dir, "overlap", f"{source}-vs-{'+'.join(names)}")
    write_json_atomic(path, {
        "kind": "zsar-overlap", "command": "zsarbench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "source": source, "targets": names, "embedding": embedding, "tau": tau, "subset_name": subset,
        "n_source_classes": len(src.classes), "removed": res.removed, "kept": res.kept, "words": words,
        "seconds": round(seconds, 4), "provenance": {**provenance(), "finished": now()}})
    out.print(f"saved: {path}")


def entry():
    """Console-script entry: every UserError or usage error is one line and exit code 2."""
    try:
        rv = main.main(standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except UserError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except click.ClickException as e:
        console.print(f"[red]error:[/red] {e.format_message()} (see `zsarbench --help`)", highlight=False,
                      soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    entry()
