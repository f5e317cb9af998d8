"""`zsarbench run` and `zsarbench ablate NAME`: parse, call the pipeline, print."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..paper_tables import ABLATIONS
from .common import (
    experiment_context,
    experiment_options,
    load_experiments,
    out,
    overrides_of,
    protocol_names,
    run_smoke,
    seeds_of,
)
from .printing import print_ablation, print_result


@click.command()
@click.argument("method")
@experiment_options()
@click.option("--gzsl", is_flag=True, help="Also evaluate generalized ZSL (seen + unseen candidates).")
@click.option("--tensorboard", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Live training curves for `tensorboard --logdir DIR` (rank 0): loss per step and stage, lr, "
                   "clips/s, data-wait fraction, seen-class CV; one folder per protocol, method and seed.")
def run(method, gzsl, **opts):
    """Train (or reuse) METHOD and evaluate it zero-shot under a protocol."""
    from ..engine import dist
    from ..run import run as run_pipeline

    experiments = load_experiments(method, opts)
    if opts["smoke"]:
        return run_smoke(experiments, opts)
    with experiment_context(opts, [exp.protocol.name for exp in experiments]) as ctx:
        done = [run_pipeline(exp, ctx, gzsl) for exp in experiments]
    for result, path in done if dist.is_main() else ():
        print_result(result, path)


@click.group()
def ablate():
    """The paper's ablation tables on trained models (trained or reused as `run` does);
    `zsarbench ls tables` lists them."""


def _ablation_command(name: str, part) -> click.Command:
    """One `zsarbench ablate NAME` per ablation part of paper_tables.TABLES."""
    @experiment_options(part.protocols)
    @click.option("--profile", type=click.Choice(["auto", "cheap", "protocol"]), default="auto", show_default=True,
                  help="cheap: the CPU-sized profile (ablate.py CHEAP_*); protocol: the protocols' own recipe; "
                       "auto: " + ("cheap when every protocol is synthetic." if part.cheap else
                                   "the protocols' own recipe (reuses the models of `zsarbench run`)."))
    def command(profile, method="rest18", word2vec=None, **opts):
        from ..ablate import ablate as ablate_pipeline
        from ..ablate import ablation_experiments
        from ..engine import dist
        from ..paper_tables import EMBEDDINGS

        t0 = time.time()
        embeddings = ((f"word2vec:{word2vec}",) if word2vec else ()) + EMBEDDINGS
        # one list of experiments (one per protocol: the table's columns) per seed, all built before any work;
        # rows mix methods: --set method.* applies to those that have the option (checked against -m for
        # constraints, whose rows are all -m's)
        per_seed = [ablation_experiments(name, method, protocol_names(opts["protocols"]), overrides_of(opts, seed),
                                         profile) for seed in seeds_of(opts)]
        if opts["smoke"]:   # the models the ablation trains first: -m's (rest18) on each of its protocols
            return run_smoke([exp for exps, _ in per_seed for exp in exps], opts)
        with experiment_context(opts, [exps[0].protocol.name for exps, _ in per_seed]) as ctx:
            done = [ablate_pipeline(name, exps, ctx, prof, embeddings) for exps, prof in per_seed]
        if dist.is_main():
            for result, path in done:
                print_ablation(result, path)
            out.print(f"{time.time() - t0:.1f} s")

    command.__doc__ = part.help()
    if name == "constraints":
        command = click.option("--method", "-m", default="rest18", show_default=True,
                               help="The model whose inference each row varies.")(command)
    if name == "embeddings":
        command = click.option("--word2vec", type=click.Path(path_type=Path), default=None,
                               help="GoogleNews word2vec binary: adds the W2V rows (word2vec:PATH).")(command)
    return click.command(name)(command)


for _name, _part in ABLATIONS.items():
    ablate.add_command(_ablation_command(_name, _part))
