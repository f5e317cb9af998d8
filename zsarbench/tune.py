"""`zsarbench tune METHOD -p PROTOCOL`: recipe fields and method options searched by Optuna on the
seen classes only.

Objective: the seen-class cross-validation top-1 that `run` computes first (transfer/cv.py, the
run's `transfer.cv.cv_top1`), on a seen-only preparation (prepare(..., target=False)): the target
dataset is never read, decoded or encoded, and its classes and labels are never looked at.

SPACE FORMAT: {"recipe.<field>" | "method.<option>": {"low": a, "high": b, "log": bool, "int": bool}
or {"choices": [...]}}, declared per method family beside its registration
(registry.register_search_space) or given as a TOML file of the same tables (--space).

Pruning rung (--prune): a trial first trains the warm-up stage alone (its recipe with
joint_epochs = 0, a model cached like any other), reports that model's seen-class CV top-1 as
step 0, and Optuna's MedianPruner stops it there when it is below the median of earlier trials at
the same step. A trial that survives trains its whole recipe; where the method's warm-up is a prefix
of it (Method.warmup_is_prefix: ResT and the two-stream models), that training continues from the
rung's warm-up end state instead of training the warm-up again (prepare.continue_warmup; the same
weights as training it whole). Methods or recipes without both stages have no rung.

The study lives in an Optuna storage (study.py: SQLite under the cache by default, or a database
server shared by several processes; a sampler seeded per trial; one-line database errors), named
<method>--<protocol>--<hash of the space, the fixed overrides and what the objective reads
from the protocol and its data format> (objective_identity; the source videos' digest is checked per
trial: check_source), and is resumed when it exists.
Its storage URL is written and printed only redacted (redact.py). The outcome: an overlay protocol that includes the protocol, keeps its name
and sets the best point (overlay_text), with a tuning record line (TUNED_MARK: study, trials by
state, the trials' seconds, space; `protocol.tuned_record`) that every result of the overlay copies into its
`protocol.tuned` (results.protocol_fields), so the tables show it as a tuned row with its budget;
and a results document of kind "zsar-tune" (results.tune_document).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import tomllib
from pathlib import Path

from .artefacts import write_text_atomic
from .errors import UserError
from .fields import check_value
from .inputs import read_text
from .protocol import TUNED_MARK, Protocol, Recipe, deep_merge, load_protocol, tuned_record
from .protocol_search import by_file_name
from .redact import redact
from .study import default_storage, open_study, storage_errors  # noqa: F401  (default_storage: cli/tuning.py)

# ----------------------------------------------------------------------------- the space

def read_space(path: Path) -> dict:
    """A search space from a TOML file: [recipe.joint_lr] low = 1e-5 high = 3e-4 log = true ..."""
    try:
        data = tomllib.loads(read_text(Path(path), "search space"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"search space {path}: {e}") from None
    return {f"{section}.{name}": spec for section, table in data.items() for name, spec in table.items()}


def check_space(space: dict) -> dict:
    """Every name a recipe field or a method option, every spec a range or a list of choices; the
    bounds of recipe fields inside their declared ranges (fields.py)."""
    if not space:
        raise UserError("the search space is empty")
    import typing

    hints = typing.get_type_hints(Recipe, include_extras=True)
    for name, spec in space.items():
        section, _, key = name.partition(".")
        if section not in ("recipe", "method") or not key:
            raise UserError(f"search space: '{name}' is neither recipe.<field> nor method.<option>")
        if section == "recipe" and key not in hints:
            raise UserError(f"search space: recipe has no field '{key}'")
        if not isinstance(spec, dict) or not ("choices" in spec or {"low", "high"} <= set(spec)):
            raise UserError(f"search space: '{name}' needs low and high, or choices")
        if "choices" not in spec and not spec["low"] < spec["high"]:
            raise UserError(f"search space: '{name}' needs low < high, got {spec['low']} and {spec['high']}")
        if section == "recipe":
            for v in spec.get("choices", [spec.get("low"), spec.get("high")]):
                check_value(v, hints[key], f"search space {name}")
    return space


def space_hash(space: dict, overrides: dict, method_options: dict) -> str:
    """What the objective depends on besides the method and the protocol."""
    text = json.dumps([space, overrides, method_options], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def suggest(trial, space: dict) -> dict:
    """One point of the space: {"recipe.joint_lr": 1e-4, "method.depth": 3, ...}."""
    point = {}
    for name, spec in space.items():
        if "choices" in spec:
            point[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec.get("int"):
            point[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            point[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
    return point


def split_point(point: dict) -> tuple[dict, dict]:
    """(recipe fields, method options) of a point."""
    recipe = {k.split(".", 1)[1]: v for k, v in point.items() if k.startswith("recipe.")}
    method = {k.split(".", 1)[1]: v for k, v in point.items() if k.startswith("method.")}
    return recipe, method


# ----------------------------------------------------------------------------- the objective

def seen_cv(prep) -> dict:
    """The seen-class CV of `run` (scoring.score_variant's first step) on a seen-only preparation."""
    from .run import inference_variant
    from .transfer.cv import cross_validate

    P, sf, T = prep.protocol, prep.seen_feats, prep.protocol.transfer
    return cross_validate(prep.seen_vecs, sf.features, sf.labels, T.theta, T.K, T.rho, T.cv_folds, P.recipe.seed,
                          T.solver, T.mip_backend, inference_variant(prep.method))


def make_objective(method: str, protocol: str, overrides: dict, space: dict, ctx, prune: bool = True):
    """Each trial: the protocol loaded with `overrides` (method.* included) and the trial's point over
    them (recipe fields and method options), resolved for its options by prepare."""
    import optuna

    from .prepare import prepare

    def objective(trial) -> float:
        t0 = time.time()
        recipe, options = split_point(suggest(trial, space))
        P = load_protocol(protocol, deep_merge(overrides, {"recipe": recipe, "method": options}))
        R = P.recipe
        if prune and R.warmup_epochs > 0 and R.joint_epochs > 0:   # the rung: warm-up alone
            rung = dataclasses.replace(P, recipe=dataclasses.replace(R, joint_epochs=0.0))
            rung_prep = prepare(method, rung, ctx, target=False)
            check_source(trial, rung_prep.data.source)
            cv0 = seen_cv(rung_prep)
            trial.set_user_attr("warmup_cv_top1", cv0["cv_top1"])
            trial.report(cv0["cv_top1"], 0)
            if trial.should_prune():
                trial.set_user_attr("seconds", round(time.time() - t0, 2))
                raise optuna.TrialPruned()
        prep = prepare(method, P, ctx, target=False)
        check_source(trial, prep.data.source)
        cv = seen_cv(prep)
        trial.report(cv["cv_top1"], 1)
        trial.set_user_attr("cv", {k: cv[k] for k in ("variant", "theta", "K", "rho", "cv_top1", "folds")})
        trial.set_user_attr("checkpoint", prep.key)
        trial.set_user_attr("reused", prep.reused)
        trial.set_user_attr("seconds", round(time.time() - t0, 2))
        return cv["cv_top1"]

    return objective


# ----------------------------------------------------------------------------- the study

def split_fixed(overrides: dict) -> tuple[dict, dict]:
    """An experiment's overrides as a study keeps them: the protocol fields apart from the method
    options (method.*), so study names, records and overlays read as they always have."""
    return {k: v for k, v in overrides.items() if k != "method"}, dict(overrides.get("method") or {})


def objective_identity(P: Protocol) -> dict:
    """What the seen-class objective reads from the protocol besides its name: everything but the
    target (never read), its wording and its file's place, and the recipe fields that do not change
    a model (engine/checkpoint.py); for a synthetic source, its data format. Part of the study's name,
    so an edited protocol file or a new synthetic format starts a new study instead of resuming one
    whose trials measured something else. (A real source's videos: `check_source`, per trial.)"""
    from .data.synth import FORMAT_VERSION, nuisances
    from .engine.checkpoint import NOT_TRAINING

    d = {k: v for k, v in P.to_dict().items() if k not in ("name", "description", "path", "target")}
    d["recipe"] = {k: v for k, v in d["recipe"].items() if k not in NOT_TRAINING}
    if nuisances(P.source.dataset) is not None:
        d["synth_format"] = FORMAT_VERSION
    return d


def study_name(method: str, P: Protocol, space: dict, overrides: dict, method_options: dict) -> str:
    text = json.dumps([space_hash(space, overrides, method_options), objective_identity(P)], sort_keys=True,
                      default=str)
    return f"{method}--{P.name}--{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def check_source(trial, source) -> None:
    """The source dataset's digest (its class and video lists as read) is recorded on the study by
    its first trial; a later trial on other videos is refused (a study never pools trials measured
    on two datasets): one line, with what to do."""
    digest = getattr(source, "digest", None)
    if not digest:
        return
    known = trial.study.user_attrs.get("source_digest")
    if known is None:
        trial.study.set_user_attr("source_digest", digest)
    elif known != digest:
        def short(d):   # VideoSet.digest: {"classes": ..., "videos": ..., counts}
            return d.get("videos", d) if isinstance(d, dict) else d
        raise UserError(f"study {trial.study.study_name}: its trials read source {source.name} with videos digest "
                        f"{short(known)}, this one reads {short(digest)} (the videos changed): tune into another "
                        "--storage, or delete the study to start again")


def trial_rows(study) -> list[dict]:
    """Every trial as a plain dict (results document and tables)."""
    return [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
             "intermediate": {str(k): v for k, v in t.intermediate_values.items()}, "user_attrs": t.user_attrs,
             "started": t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
             "finished": t.datetime_complete.isoformat(timespec="seconds") if t.datetime_complete else None}
            for t in study.trials]


def best_trial(study):
    """The completed trial of the highest seen-class CV top-1 (None when none completed)."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


# ----------------------------------------------------------------------------- the overlay

def overlay_path(method: str, P: Protocol, cache_dir: Path, out: Path | None = None) -> Path:
    """--out, else CACHE/tuned/<method>--<protocol>.toml: a user's folder, never the installed package
    (the reference overlays of `make tune-reference` go to the repository's protocols/tuned/ by --out)."""
    return Path(out) if out is not None else Path(cache_dir) / "tuned" / f"{method}--{P.name}.toml"


def check_overlay_path(path: Path, method: str, P: Protocol) -> None:
    """Before any trial: the overlay may replace only a file that `zsarbench tune` wrote for this method
    and protocol (its tuning record says so); anything else at `path` is the user's and stays."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--out {path} is a folder: give the overlay's file name")
    if not path.exists() and not path.is_symlink():
        return
    try:
        record = tuned_record(path)
    except UserError:
        record = None
    if not record or not str(record.get("study", "")).startswith(f"{method}--{P.name}--"):
        whose = "not an overlay written by `zsarbench tune`" if not record else \
            f"the overlay of another study ({record.get('study')})"
        raise UserError(f"{path} exists and is {whose}: it is not replaced; give another --out, or move it away")


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise UserError(f"cannot write {v!r} to a protocol file")




def tuning_record(study, name: str, storage: str, space: dict, overrides: dict, method_options: dict,
                  seed: int, best) -> dict:
    """What a result of the overlay cites about its tuning (results: protocol.tuned): the study, its
    budget (trials by state, the trials' wall seconds summed), the space and the best trial. A failed
    trial (killed, its heartbeat stale) is retried as a new trial of the same point that resumes its
    checkpoints, so its partial work is not in `seconds`."""
    states = [t.state.name for t in study.trials]
    return {"study": name, "storage": storage, "space_hash": space_hash(space, overrides, method_options),
            "space": space, "fixed": {"overrides": overrides, "method_options": method_options}, "seed": seed,
            "trials": len(states), "complete": states.count("COMPLETE"), "pruned": states.count("PRUNED"),
            "failed": states.count("FAIL"),
            "seconds": round(sum(float(t.user_attrs.get("seconds") or 0.0) for t in study.trials), 1),
            "best": {"number": best.number, "cv_top1": best.value}}


def overlay_text(path: Path, P: Protocol, overrides: dict, method_options: dict, point: dict, comment: str,
                 record: dict | None = None) -> str:
    """An overlay protocol: `include` the protocol, keep its name (results of the overlay are rows of
    that protocol, marked tuned by `record`), then the fixed overrides (--set) and the best point."""
    recipe, options = split_point(point)
    # The trials' training seed (--set recipe.seed=N) stays in the record, not in the overlay: the
    # overlay's runs choose their own seeds (--seeds), and `make tune-reference` tunes at a seed they
    # never use, so no reported seed is the selected trial's model (training is deterministic: a
    # "retrained" selected model at the same seed would be the same model).
    overrides = {k: ({f: x for f, x in v.items() if f != "seed"} if k == "recipe" else v) for k, v in overrides.items()}
    overrides = {k: v for k, v in overrides.items() if v != {}}
    tables = deep_merge(overrides, {"recipe": recipe})
    tables = deep_merge(tables, {"method": {**method_options, **options}} if (method_options or options) else {})
    src, beside = Path(P.path).resolve(), Path(path).resolve().parent / Path(P.path).name
    try:   # a protocol of the search path by its name: the overlay outlives a reinstall that moves it
        by_name = by_file_name(src) and (not beside.exists() or beside.resolve() == src)
        inc = src.name if by_name else os.path.relpath(src, beside.parent)
    except ValueError:   # another drive
        inc = str(src)
    lines = [f"# {line}" for line in comment.splitlines()]
    if record is not None:
        lines.append(TUNED_MARK + json.dumps(record, sort_keys=True, default=str))
    lines += [f"include = {json.dumps(inc)}", f"name = {json.dumps(P.name)}", ""]

    def table(prefix: str, d: dict):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if scalars:
            lines.append(f"[{prefix}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
            lines.append("")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}", v)

    for name, d in tables.items():
        if isinstance(d, dict):
            table(name, d)
        else:
            lines.insert(len(lines) - 1, f"{name} = {_toml_value(d)}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the pipeline

def budget_states() -> tuple:
    """The trial states a --until budget counts: complete and pruned. A failed trial (one a killed
    process left, which the next call fails and retries at the same point, its checkpoints resuming)
    is not one."""
    import optuna

    return optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED


def remaining_budget(study, until: int, timeout: float | None) -> tuple[int, float | None]:
    """What is left of a budget of `until` finished trials and `timeout` seconds, given the trials the
    study completed or pruned and the seconds they took (their own "seconds", else start to end):
    (trials, seconds). A failed trial neither counts nor is charged (budget_states): its start-to-fail
    time would include the hours the study was stopped."""
    done = [t for t in study.trials if t.state in budget_states()]
    spent = sum(t.user_attrs.get("seconds") or (t.duration.total_seconds() if t.duration else 0.0) for t in done)
    return max(0, until - len(done)), None if timeout is None else max(0.0, timeout - spent)


def tune(exp, space: dict, ctx, trials: int | None, timeout: float | None, seed: int, storage: str | None,
         prune: bool, out: Path | None, command: str, on_trial=None,
         until: int | None = None) -> tuple[dict, Path, Path | None]:
    """Run (or resume) the study of an experiment (experiment.Experiment: method, resolved protocol,
    overrides), then write the overlay of its best trial and the "zsar-tune" results document.
    trials: trials to add in this call; until: instead, complete the study to that many completed or
    pruned trials, `timeout` then being the study's whole budget (what those trials took is spent),
    so rerunning an interrupted call finishes the budget instead of adding to it.
    Returns (document, overlay path, results path)."""
    from .results import git_revision, run_start, tune_document, write_results

    check_space(space)
    method, P, protocol, all_overrides = exp.method, exp.protocol, exp.protocol.path or exp.protocol.name, exp.overrides
    overrides, method_options = split_fixed(all_overrides)
    path = overlay_path(method, P, ctx.cache_dir, out)
    check_overlay_path(path, method, P)   # before any trial: never replaces a file tune did not write
    storage = storage or default_storage(ctx.cache_dir)
    shown = redact(storage)               # what is written and printed: the password never is
    name = study_name(method, P, space, overrides, method_options)
    study = open_study(name, storage, seed, prune)
    with storage_errors(storage):
        before, start, t0 = len(study.trials), run_start(), time.time()
        ctx.log(f"study {name} in {shown}: {before} trials so far")
        callbacks = [lambda st, tr: on_trial(st, tr)] if on_trial else []
        if until is not None:
            import optuna

            trials, timeout = remaining_budget(study, until, timeout)
            ctx.log(f"budget left: {trials} of {until} trials" + ("" if timeout is None else f", {timeout:.0f} s"))
            # several processes sharing the study (a database server) stop together at `until`
            callbacks.append(optuna.study.MaxTrialsCallback(until, states=budget_states()))
        if trials != 0 and timeout != 0:
            study.optimize(make_objective(method, protocol, all_overrides, space, ctx, prune),
                           n_trials=trials, timeout=timeout, callbacks=callbacks, gc_after_trial=True)
        best = best_trial(study)
        if best is None:
            raise UserError(f"study {name}: no trial completed, so there is no best point to write")
        rows, n_trials = trial_rows(study), len(study.trials)
        record = tuning_record(study, name, shown, space, overrides, method_options, seed, best)
    comment = (f"Tuned by `{redact(command)}` on the seen classes only (zsarbench/tune.py).\n"
               f"Best seen-class CV top-1 {best.value:.3f} (trial {best.number} of {n_trials}); "
               f"study {name} in {shown}.\nNot a ZSAR result: run `zsarbench run {method} -p {path}` for that.")
    check_overlay_path(path, method, P)   # again: a file may have appeared there during the trials
    # the code's state at the end, taken before the overlay is written: a committed overlay that the
    # study's new best rewrites is this call's output, not an edit of the code during it
    end = git_revision()
    if path.exists():   # generated: the study's newer best replaces it (the older point stays in the study)
        ctx.log(f"overlay {path}: replaced with the study's best point (trial {best.number})")
    write_text_atomic(path, overlay_text(path, P, overrides, method_options, best.params, comment, record) + "\n",
                      "the tuned overlay")
    doc = tune_document(method, P, redact(command), overrides, {"name": name, "storage": shown, "direction": "maximize",
                        "sampler": f"TPESampler seeded per trial from (seed={seed}, trial number)",
                        "pruner": "MedianPruner(n_startup_trials=2) at the warm-up rung" if prune else None,
                        "space": space, "method_options": method_options},
                        rows, {"number": best.number, "value": best.value, "params": best.params},
                        str(path), {"trials_before": before, "trials_after": n_trials, "started": start["started"],
                                    "seconds": round(time.time() - t0, 2)}, start, end)
    return doc, path, write_results(doc, ctx, P.name, f"{method}-tune")
