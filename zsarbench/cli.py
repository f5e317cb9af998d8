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
                    transient=False)


cache_option = click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                            help="Where synthetic data, checkpoints and features go "
                                 "[env ZSARBENCH_CACHE; default ~/.cache/zsarbench].")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zsarbench")
def main():
    """Zero-shot action recognition benchmark: ResT and baselines under leak-free protocols."""


# ----------------------------------------------------------------------------- run

@main.command()
@click.argument("method")
@click.option("--protocol", "-p", "protocol_name", required=True, help="Protocol name or .toml path.")
@click.option("--seed", type=int, default=None, help="Training seed (recipe.seed).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a protocol field (recipe.joint_epochs=1) or a method option (method.depth=2).")
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@cache_option
def run(method, protocol_name, seed, sets, device, results_dir, cache_dir):
    """Train (or reuse) METHOD and evaluate it zero-shot under a protocol."""
    from .protocol import load_protocol, parse_set
    from .registry import create_method
    from .run import RunContext, run as run_pipeline

    overrides = parse_set(list(sets))
    method_overrides = overrides.pop("method", {})
    if seed is not None:
        overrides.setdefault("recipe", {})["seed"] = seed
    create_method(method, **method_overrides)  # fail fast on an unknown method before loading data
    protocol = load_protocol(protocol_name, overrides)
    command = "zsarbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with make_progress() as progress:
        ctx = RunContext(cache_dir or default_cache_dir(), results_dir, device, command, progress,
                         log=progress.console.print)
        result, path = run_pipeline(method, protocol, ctx, method_overrides,
                                    {**overrides, **({"method": method_overrides} if method_overrides else {})})
    print_result(result, path)


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
    out.print(f"chance top-1 {agg['chance_top1']:.1f}%  |  transfer {tr['solver']}: theta={tr['theta']} "
              f"K={tr['K']} rho={tr['rho']} (CV top-1 on seen classes {tr['cv']['cv_top1']:.1f}%)  |  "
              f"{result['timings']['total_s']:.0f} s")
    skipped = result["data"]["skipped_videos"]
    if skipped:
        out.print(f"[yellow]{len(skipped)} unreadable videos skipped (listed in the results file)[/yellow]")
    out.print(f"results: {path}")


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
    """Datasets: generate the embedded synthetic benchmark."""


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
