"""`zsarbench run` and `zsarbench ablate NAME`: parse, call the pipeline, print."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..paper_tables import ABLATIONS
from .common import (
    experiment_context,
    experiment_options,
    experiment_settings,
    load_experiment,
    out,
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

    loaded = load_experiment(method, opts)
    if opts["smoke"]:
        return run_smoke(method, loaded, opts)
    with experiment_context(opts, [protocol.name for protocol, _, _ in loaded]) as ctx:
        done = [run_pipeline(method, protocol, ctx, method_options, overrides, gzsl)
                for protocol, method_options, overrides in loaded]
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
        from ..ablate import ablation_protocols
        from ..engine import dist
        from ..paper_tables import EMBEDDINGS

        t0 = time.time()
        embeddings = ((f"word2vec:{word2vec}",) if word2vec else ()) + EMBEDDINGS
        experiments = []   # one per seed, every protocol loaded before any work
        for seed in seeds_of(opts):
            # rows mix methods: --set method.* applies to those that have the option (checked for -m only)
            overrides, method_options, recorded = experiment_settings(
                method if part.name == "constraints" else None, opts, seed)
            protocols, prof = ablation_protocols(name, protocol_names(opts["protocols"]), overrides, profile)
            experiments.append((protocols, recorded, prof, method_options))
        if opts["smoke"]:   # the models the ablation trains first: -m's (rest18) on each of its protocols
            return run_smoke(method, [(p, mo, r) for ps, r, _, mo in experiments for p in ps], opts)
        with experiment_context(opts, [protocols[0].name for protocols, *_ in experiments]) as ctx:
            done = [ablate_pipeline(name, protocols, ctx, method, recorded, prof, embeddings, method_options)
                    for protocols, recorded, prof, method_options in experiments]
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
