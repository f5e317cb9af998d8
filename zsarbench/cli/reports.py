"""`zsarbench tables | figures | ls | show | validate`: reports from results files, and what is there."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.table import Table

from ..context import check_outputs
from .common import console, out, protocol_path_option, results_dir_option

read_results_option = results_dir_option("Read RESULTS_DIR/**/*.json.")


@click.command()
@read_results_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where to write [default RESULTS_DIR/tables].")
@click.option("--readme", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Refresh the generated blocks (orderings summary, Table 1, ceilings) between the markers of "
                   "this Markdown file [default RESULTS_DIR/README.md, where it exists and --out is not given].")
def tables(results_dir, out_dir, readme):
    """The paper's Tables 1-9 as Markdown and LaTeX, and the orderings the paper claims tested over
    training seeds (orderings.md, orderings.tex), from the results files (docs/results.md); then the
    generated blocks of RESULTS_DIR/README.md."""
    from ..report.load import load_results
    from ..report.tables import write_tables

    if readme is None and out_dir is None and (results_dir / "README.md").is_file():
        readme = results_dir / "README.md"   # the results' own page carries their generated blocks
    out_dir = out_dir or results_dir / "tables"
    check_outputs(out_dir=out_dir)
    t = time.time()
    results = load_results(results_dir)
    warnings = []
    missing = write_tables(results, out_dir, warnings)
    for line in warnings:   # a training seed found twice in a cell: counted once
        console.print(f"[yellow]warning:[/yellow] {line}", highlight=False, soft_wrap=True)
    out.print(f"{len(results)} results files -> {len(missing)} tables and orderings.md in {out_dir} "
              f"({sum(missing.values())} cells still missing; each table lists the commands) in {time.time() - t:.2f} s")
    if readme is not None:
        from ..report.readme import update_readme

        changed = update_readme(readme, out_dir)
        out.print(f"{readme}: generated blocks {'updated: ' + ', '.join(changed) if changed else 'unchanged'}")


@click.command()
@read_results_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where to write [default RESULTS_DIR/figures].")
def figures(results_dir, out_dir):
    """Confusion matrices, per-class accuracy, t-SNE, transfer matrices and hubness (PNG and PDF)."""
    from ..report.figures import write_figures
    from ..report.load import load_results

    out_dir = out_dir or results_dir / "figures"
    check_outputs(out_dir=out_dir)
    t = time.time()
    written = write_figures(load_results(results_dir), out_dir)
    out.print(f"{len(written)} figure files in {out_dir} in {time.time() - t:.1f} s")


@click.command("ls")
@click.argument("what", type=click.Choice(["methods", "protocols", "tables"]))
@click.argument("pattern", default="*")
@click.option("--names", is_flag=True, help="Only the names, one per line (for scripts and the Makefile).")
@protocol_path_option
def ls(what, pattern, names):
    """List registered methods, available protocols (and where each comes from) or the paper's tables
    (optionally matching a glob PATTERN; tables match by ablation name, table number or key)."""
    rows = {"methods": _methods, "protocols": _protocols, "tables": _tables}[what](pattern)
    if names:   # the names that resolve (a shadowed protocol file is listed, but its name means the winner)
        for row in dict.fromkeys(row[0] for row in rows[1:]):
            click.echo(row)
        return
    table = Table(*rows[0], show_lines=what == "tables")
    for col in table.columns[:-1]:
        col.no_wrap = True
    for row in rows[1:]:
        table.add_row(*row)
    out.print(table)
    if what == "protocols":
        from ..protocol_search import search_path

        out.print("search path (the first folder holding NAME.toml wins; the shipped protocols first): "
                  + "; ".join(f"{i}. {origin} {folder}" for i, (folder, origin) in enumerate(search_path(), 1)),
                  markup=False, highlight=False, soft_wrap=True)


def _methods(pattern: str) -> list[tuple]:
    from ..registry import list_methods, method_doc, method_origin

    return [("method", "from", "description"),
            *[(name, method_origin(name), method_doc(name)) for name in list_methods(pattern)]]


def _protocols(pattern: str) -> list[tuple]:
    """One row per protocol file of the search path, with where it comes from; a file whose name an
    earlier folder also holds is listed as not used. A file that does not load says why, in its row."""
    import fnmatch

    from ..errors import UserError
    from ..protocol import load_protocol
    from ..protocol_search import all_protocol_files

    rows = [("protocol", "from", "source", "target", "split", "embedding", "description")]
    for f in all_protocol_files():
        if not fnmatch.fnmatch(f.name, pattern):
            continue
        origin = f"{f.folder}. {f.origin}"
        if f.shadowed_by is not None:
            origin += f" (not used: {f.shadowed_by.folder}. wins)"
        try:
            p = load_protocol(str(f.path))
        except UserError as e:
            rows.append((f.name, origin, "", "", "", "", f"invalid: {e}"))
            continue
        rows.append((f.name, origin, p.source.dataset, p.target.dataset, p.target.split, p.embedding.name,
                     p.description))
    return rows


def _tables(pattern: str) -> list[tuple]:
    """Each part of a paper table: the command that fills it, its columns, the orderings the paper claims."""
    from ..paper_tables import list_tables

    rows = [("name", "table", "filled by", "protocols (columns)", "the paper claims")]
    for _, part in list_tables(pattern):
        cmd = f"zsarbench ablate {part.name}" if part.ablation else "zsarbench run"
        rows.append((part.name, part.label, cmd, "\n".join(part.protocols),
                     "\n".join(" > ".join(o.rows) for o in part.orderings) or "-"))
    return rows


def _nuisances(datasets: list[str]) -> None:
    """The declared nuisances of the synthetic datasets among `datasets` (data/synth.py NUISANCES)."""
    from ..data.synth import FORMAT_VERSION, nuisances

    found = [(d, nuisances(d)) for d in dict.fromkeys(datasets) if nuisances(d)]
    if found:
        out.print(f"\n# what the synthetic videos vary in (zsarbench/data/synth.py NUISANCES, data format "
                  f"{FORMAT_VERSION}); ranges are drawn uniformly per video", markup=False)
    for dataset, values in found:
        out.print(f"\n[nuisances.{dataset}]", markup=False)
        for k, v in values.items():
            out.print(f"{k} = {_toml(v)}", markup=False)


@click.command()
@click.argument("what", type=click.Choice(["protocol", "dataset"]))
@click.argument("name")
@protocol_path_option
def show(what, name):
    """Print a protocol with its includes resolved, as TOML-like tables (with the nuisances of its
    synthetic datasets), or a synthetic dataset's nuisances (`show dataset synth-hmdb`)."""
    from ..errors import UserError
    from ..protocol import load_protocol

    if what == "dataset":
        from ..data.synth import NUISANCES, nuisances

        if not nuisances(name):
            raise UserError(f"no declared nuisances for '{name}': `show dataset` knows the synthetic datasets "
                            + ", ".join(f"synth-{d}" for d in NUISANCES))
        return _nuisances([name])
    p = load_protocol(name).to_dict()
    path = p.pop("path")
    out.print(f"# {name}  ({path})")
    for k, v in p.items():
        if not isinstance(v, dict):
            out.print(f"{k} = {_toml(v)}", markup=False)
    pinned = p["target"].pop("pinned", {})
    for section, body in p.items():
        if isinstance(body, dict):
            out.print(f"\n[{section}]", markup=False)
            for k, v in body.items():
                out.print(f"{k} = {_toml(v)}", markup=False)
    for split, lists in sorted(pinned.items()):  # one name a line: the lists are the point of these protocols
        for key, what in (("test", "test classes (scored)"), ("val", "validation classes (tuning only, never scored)")):
            if key in lists:
                out.print(f"\n[target.pinned.{split}.{key}]  # {len(lists[key])} {what}", markup=False)
                for c in lists[key]:
                    out.print(c, markup=False)
    _nuisances([p["source"]["dataset"], p["target"]["dataset"]])


def _toml(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else json.dumps(v)


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="PROTOCOL...")
@protocol_path_option
def validate(files):
    """Check protocols (files or names): syntax, includes, field names, types and ranges. Stops at the
    first invalid one (exit code 2)."""
    from ..protocol import load_protocol

    for file in files:
        p = load_protocol(str(file))
        out.print(f"ok: {file} is a valid protocol '{p.name}' ({p.source.dataset} -> {p.target.dataset}, "
                  f"{p.target.split}; {p.path})", markup=False, highlight=False)
