"""`zsarbench tune METHOD -p PROTOCOL`: search recipe and method options on the seen classes only
(zsarbench/tune.py), with a table of trials as they finish; --show prints a study."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .common import accept_option, experiment_context, out, overrides_of, protocol_names, protocol_path_option

COLUMNS = ("trial", "state", "seen CV top-1", "warm-up rung", "params", "seconds")


def trial_table(trials, header: bool = True) -> Table:
    table = Table(show_header=header, box=None, pad_edge=False)
    for name, width in zip(COLUMNS, (5, 8, 13, 12, 70, 8)):
        table.add_column(name, min_width=width, justify="right" if name != "params" else "left")
    for t in trials:
        params = ", ".join(f"{k.split('.', 1)[1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.', 1)[1]}={v}"
                           for k, v in t.params.items())
        rung = t.user_attrs.get("warmup_cv_top1")
        table.add_row(str(t.number), t.state.name.lower(), "" if t.value is None else f"{t.value:.2f}",
                      "" if rung is None else f"{rung:.2f}", params, str(t.user_attrs.get("seconds", "")))
    return table


@click.command()
@click.argument("method")
@click.option("--protocol", "-p", "protocols", required=True, help="Protocol name or .toml path.")
@protocol_path_option
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Fix a protocol field or a method option for every trial (part of the study's identity).")
@click.option("--trials", type=click.IntRange(1), default=None, help="Trials to run in this call (added to the study).")
@click.option("--until", "until", type=click.IntRange(1), default=None,
              help="Instead of --trials: complete the study to this many completed or pruned trials, --timeout being the "
                   "study's whole budget; rerun after an interruption, it finishes the budget, never adds to it.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop starting trials after this many seconds.")
@click.option("--seed", type=int, default=0, show_default=True, help="The sampler's seed (TPESampler).")
@click.option("--space", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="A search space TOML ([recipe.joint_lr] low/high/log ...) instead of the method family's.")
@click.option("--storage", default=None,
              help="Optuna storage URL [default sqlite:///CACHE/tune/studies.db]; a server URL "
                   "(postgresql://..., mysql://...) lets several processes share one study.")
@click.option("--prune/--no-prune", default=True, show_default=True,
              help="Train the warm-up stage alone first and stop trials below the median there (MedianPruner).")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The overlay protocol to write [default CACHE/tuned/<method>--<protocol>.toml].")
@click.option("--show", is_flag=True, help="Print the study (trials and best point) and stop.")
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue interrupted trainings.")
@click.option("--results-dir", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Where the zsar-tune record goes (RESULTS_DIR/<protocol>/...).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Checkpoints, features and the default study database [env ZSARBENCH_CACHE].")
@click.option("--data-root", "data_roots", multiple=True, metavar="NAME=PATH", help="Where dataset NAME lives.")
@click.option("--allow-nonstandard", is_flag=True, help="Accept a source root that does not match its signature.")
@accept_option
def tune(method, protocols, sets, trials, until, timeout, seed, space, storage, prune, out_path, show, **opts):
    """Search recipe fields and method options of METHOD on the seen classes only (seen-class CV
    top-1; the target is never read), with Optuna; writes an overlay protocol of the best point
    and a zsar-tune results record. Not a ZSAR result: `zsarbench run METHOD -p OVERLAY` is."""
    from .. import tune as T
    from ..context import default_cache_dir
    from ..errors import UserError
    from ..experiment import experiment
    from ..redact import redact
    from ..registry import search_space

    if trials is not None and until is not None:
        raise UserError("--trials adds trials, --until completes the study to a number: give one of them")
    names = protocol_names([protocols])
    if len(names) != 1:
        raise UserError("tune searches one protocol at a time")
    opts.update(sets=sets, seeds=None, seed=None, solver=None, embedding=None)
    exp = experiment(method, names[0], overrides_of(opts))
    chosen = T.check_space(T.read_space(space) if space else search_space(method))
    if show:
        store = storage or T.default_storage(opts["cache_dir"] or default_cache_dir())
        study = T.open_study(T.study_name(method, exp.protocol, chosen, *T.split_fixed(exp.overrides)), store, seed,
                             prune, create=False)
        out.print(f"study {study.study_name} in {redact(store)}: {len(study.trials)} trials")
        out.print(trial_table(study.trials))
        best = T.best_trial(study)
        out.print(f"best: trial {best.number}, seen-class CV top-1 {best.value:.3f}, {best.params}" if best
                  else "best: none completed")
        return
    shown = []

    def on_trial(study, trial):
        out.print(trial_table([trial], header=not shown))
        shown.append(trial.number)

    with experiment_context(opts) as ctx:
        doc, overlay, path = T.tune(exp, chosen, ctx, trials, timeout, seed, storage, prune, out_path, ctx.command,
                                    on_trial, until=until)
    best = doc["best"]
    out.print(f"best: trial {best['number']}, seen-class CV top-1 {best['value']:.3f} (not a ZSAR result)")
    out.print(f"overlay: {overlay}  (zsarbench run {method} -p {overlay})")
    if path is not None:
        out.print(f"results: {path}")
