"""What every command shares: the consoles, the progress display, the experiment options (one
decorator) and the context they build."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..deviations import ACCEPTABLE
from .lineprogress import LineProgress

# Both print text as it is (markup=False): a user's value in a message ('[a,b]', a path with brackets)
# is never read as rich markup; colour is given with style= where wanted.
console = Console(stderr=True, markup=False, highlight=False)
# Piped output (files, CI logs, tests) gets wide lines instead of names folded mid-word.
out = Console(width=None if sys.stdout.isatty() else 160, markup=False)


def make_progress() -> Progress | LineProgress:
    """Bars on a terminal's stderr; whole lines (counts, rate, ETA) on any other stderr (lineprogress.py),
    where one-line messages stay one line. torchrun's ranks other than 0 print nothing (engine/dist.py)."""
    from ..engine import dist  # here, not at the top: `--help` and argument errors need no torch

    console.soft_wrap = not console.is_terminal   # a log line is one line, however long
    if not console.is_terminal:
        return LineProgress(console, disable=not dist.is_main())
    return Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
                    transient=False, disable=not dist.is_main())


cache_option = click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                            help="Where synthetic data, checkpoints and features go "
                                 "[env ZSARBENCH_CACHE; default ~/.cache/zsarbench].")
data_root_option = click.option("--data-root", "data_roots", multiple=True, metavar="NAME=PATH",
                                help="Where dataset NAME lives (repeatable) [else env ZSARBENCH_DATA_<NAME>, "
                                     "else ~/.config/zsarbench/datasets.toml].")


def _use_protocol_path(ctx, param, value) -> None:
    from ..protocol_search import use_protocol_path

    use_protocol_path(value)


# On every command that reads a protocol by name (eager: set before any other option is processed).
protocol_path_option = click.option(
    "--protocol-path", multiple=True, metavar="DIR", expose_value=False, is_eager=True, callback=_use_protocol_path,
    help="Also look for protocols (and the files they include) in DIR; repeatable. Searched after the shipped "
         "protocols, before $ZSARBENCH_PROTOCOL_PATH and ~/.config/zsarbench/protocols (docs/protocols.md).")

allow_nonstandard_option = click.option(
    "--allow-nonstandard", is_flag=True,
    help="Accept a dataset root that does not match its dataset's signature (class count and names): your "
         "own subset. Recorded in the results; without it such a root is refused.")


accept_option = click.option(
    "--accept", "accept", multiple=True, metavar="NAME", type=click.Choice(list(ACCEPTABLE)),
    help="Accept an input that changes the protocol instead of refusing it: "
         + "; ".join(f"{k} ({v})" for k, v in ACCEPTABLE.items())
         + ". Recorded in the results (data.accepted) and marked in every table cell (docs/errors.md). Repeatable.")


def results_dir_option(help: str = "Where results files go (RESULTS_DIR/<protocol>/...)."):
    return click.option("--results-dir", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
                        show_default=True, help=help)


def experiment_options(default_protocols: tuple = ()):
    """The options of every command that trains and scores: -p (required without defaults),
    --protocol-path, --set, --seed, --solver, --embedding, --device, --resume, --results-dir, --cache-dir,
    --data-root, --allow-nonstandard, --smoke."""
    options = [
        click.option("--protocol", "-p", "protocols", multiple=True, default=default_protocols,
                     required=not default_protocols, show_default=bool(default_protocols),
                     help="Protocol name or .toml path; repeat it or separate names by commas for several "
                          "(they share one trained model where the training is the same)."),
        protocol_path_option,
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override a protocol field (recipe.joint_epochs=1) or a method option (method.depth=2)."),
        click.option("--seed", type=int, default=None, help="Training seed (recipe.seed)."),
        click.option("--seeds", default=None, metavar="LIST",
                     help="Several training seeds, e.g. 0-2 or 0,3,7: one model and one results file per seed "
                          "(seeds are the unit of replication: docs/results.md)."),
        click.option("--solver", type=click.Choice(["mip", "exact"]), default=None,
                     help="Transfer solver (transfer.solver): integer program or the exact row-wise solver."),
        click.option("--embedding", default=None,
                     help="Label embedding (embedding.name): glove-6b-50d or word2vec:PATH."),
        click.option("--device", default="auto", help="auto, cpu, cuda, cuda:1 ..."),
        click.option("--resume/--no-resume", default=True, show_default=True,
                     help="Continue an interrupted training of the same run from its last saved state "
                          "(saved at epoch ends and every recipe.checkpoint_every steps)."),
        results_dir_option(), cache_option, data_root_option, allow_nonstandard_option, accept_option,
        click.option("--smoke", is_flag=True,
                     help="Before a long run: the whole pipeline on a handful of videos (2 optimiser steps per "
                          "training stage at the real batch size), a checklist and an estimate of the full run's "
                          "time; nothing is kept (smoke.py). Exit 0 only when every step passed."),
    ]

    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


def protocol_names(values) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


@contextmanager
def experiment_context(opts: dict, result_folders=()):
    """A progress display and the run context of the experiment options (context.make_context:
    the output folders, RESULTS_DIR/<name> of `result_folders` too, are checked before any work)."""
    from ..context import make_context
    from ..data.roots import parse_roots

    progress = make_progress()
    ctx = make_context(opts["cache_dir"], opts["results_dir"], opts["device"], progress,
                       parse_roots(opts["data_roots"]), opts["resume"], result_folders, opts["allow_nonstandard"],
                       tensorboard=opts.get("tensorboard"), accept=opts.get("accept", ()))
    with progress:
        yield ctx


def parse_seeds(text: str) -> list[int]:
    """'0-2' -> [0, 1, 2]; '0,3,7' -> [0, 3, 7]; ranges and lists mix ('0-2,5')."""
    from ..errors import UserError

    seeds = []
    for part in (p.strip() for p in text.split(",")):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()) or (hi and int(hi) < int(lo)):
            raise UserError(f"--seeds expects seeds like 0-2 or 0,3,7, got '{text}'")
        seeds += range(int(lo), int(hi or lo) + 1)
    return list(dict.fromkeys(seeds))


def seeds_of(opts: dict) -> list[int | None]:
    """The training seeds of the options: --seeds, else --seed, else [None] (the protocol's)."""
    from ..errors import UserError

    if opts["seeds"] is not None and opts["seed"] is not None:
        raise UserError("give --seed or --seeds, not both")
    return parse_seeds(opts["seeds"]) if opts["seeds"] is not None else [opts["seed"]]


def overrides_of(opts: dict, seed: int | None = None) -> dict:
    """The options' changes to the protocol (--set, --seed or `seed`, --solver, --embedding): one dict."""
    from ..protocol import experiment_overrides

    return experiment_overrides(list(opts["sets"]), seed if seed is not None else opts.get("seed"), opts["solver"],
                                opts["embedding"])


def load_experiments(method: str, opts: dict) -> list:
    """The resolved experiments (experiment.Experiment) per seed, then per protocol: all built and
    checked before any work; a seed's protocols share its model where their training is the same."""
    from ..experiment import experiment

    return [experiment(method, name, overrides_of(opts, seed))
            for seed in seeds_of(opts) for name in protocol_names(opts["protocols"])]


def first(items, n: int = 10) -> str:
    items = list(items)
    return ", ".join(map(str, items[:n])) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def run_smoke(experiments: list, opts: dict) -> None:
    """--smoke: the checklist of each experiment, printed on stdout (smoke.py)."""
    from ..smoke import smoke

    with experiment_context(opts) as ctx:
        for exp in experiments:
            smoke(exp, ctx, show=lambda line: out.print(line, highlight=False))
