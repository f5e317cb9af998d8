"""`zsarbench tune` (zsarbench/tune.py): seen classes only, the best trial by seen-class CV, the
overlay round trip, resuming a SQLite study; and the ceilings' oracle on synthetic arrays."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_PROTOCOL, TUNE_FAST, TUNE_SPACE, run_here

SPACE, FAST = TUNE_SPACE, TUNE_FAST


def _poisoned_protocol(tmp_path: Path) -> Path:
    """tiny.toml with a target dataset that does not exist: reading it in any way fails. The
    source's overlap removal (source.remove_overlap_with) still names the synthetic targets."""
    p = tmp_path / "poisoned.toml"
    p.write_text(f'include = "{TINY_PROTOCOL}"\n[target]\ndataset = "no-such-target"\n')
    return p


def _tune(tmp_path, cache_dir, protocol, *extra):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    return run_here("tune", "rest_tiny", "-p", protocol, "--space", space, *FAST, "--cache-dir", cache_dir,
                    "--storage", f"sqlite:///{tmp_path / 'study.db'}", "--results-dir", tmp_path / "res",
                    "--out", tmp_path / "overlay.toml", "--seed", "0", *extra)


@pytest.mark.train
def test_tune_reads_seen_classes_only_picks_the_best_cv_and_resumes(tmp_path, cache_dir, monkeypatch):
    import optuna

    import zsarbench.prepare as prepare
    from zsarbench.protocol import load_protocol

    encoded = []
    real = prepare.cached_features

    def guard(method, spec, vs, *args, **kwargs):   # every set encoded must be a source subset
        encoded.append(vs.name)
        return real(method, spec, vs, *args, **kwargs)

    monkeypatch.setattr(prepare, "cached_features", guard)
    protocol = _poisoned_protocol(tmp_path)
    r = _tune(tmp_path, cache_dir, protocol, "--trials", "2", "--no-prune")
    assert "seen CV top-1" in r.output and "best: trial" in r.output
    assert encoded and all(name.startswith("synth-kinetics") for name in encoded), encoded

    # resume: one more trial in the same SQLite study (with the pruner's warm-up rung)
    _tune(tmp_path, cache_dir, protocol, "--trials", "1")
    docs = sorted((tmp_path / "res" / "poisoned").glob("rest_tiny-tune-*.json"))
    doc = json.loads(docs[-1].read_text())
    assert doc["kind"] == "zsar-tune" and len(docs) == 2
    study = optuna.load_study(study_name=doc["study"]["name"], storage=doc["study"]["storage"])
    assert len(study.trials) == 3 and len(doc["trials"]) == 3
    assert study.user_attrs["source_digest"]["videos"]   # the source videos the trials read (check_source)
    assert doc["study"]["name"].startswith("rest_tiny--poisoned--")

    # the best trial: the highest seen-class CV top-1 among completed trials
    done = [t for t in doc["trials"] if t["state"] == "COMPLETE"]
    best = max(done, key=lambda t: t["value"])
    assert doc["best"]["value"] == best["value"] and doc["best"]["params"] == best["params"]
    assert all(t["user_attrs"]["cv"]["cv_top1"] == t["value"] for t in done)

    # the overlay round-trips: it includes the protocol and sets the best point
    overlay = load_protocol(str(tmp_path / "overlay.toml"))
    assert overlay.recipe.joint_lr == best["params"]["recipe.joint_lr"]
    assert overlay.recipe.warmup_epochs == 0.2 and overlay.recipe.joint_epochs == 0.2
    assert overlay.method == {"depth": best["params"]["method.depth"]}
    assert overlay.target.dataset == "no-such-target" and overlay.transfer.theta == [0.0, 0.7]

    r = run_here("tune", "rest_tiny", "-p", protocol, "--space", tmp_path / "space.toml", *FAST,
                 "--cache-dir", cache_dir, "--storage", f"sqlite:///{tmp_path / 'study.db'}", "--show")
    assert "3 trials" in r.output and f"best: trial {doc['best']['number']}" in r.output


def test_search_spaces_are_checked_and_declared_per_family():
    from zsarbench.errors import UserError
    from zsarbench.registry import search_space
    from zsarbench.tune import check_space

    assert "method.depth" in search_space("rest18") and "recipe.joint_lr" in search_space("rest_tiny")
    for bad in ({"recipe.no_such": {"low": 1, "high": 2}}, {"recipe.joint_lr": {"low": 1}},
                {"recipe.joint_lr": {"low": -1.0, "high": 1.0}}, {"other.x": {"choices": [1]}}):
        with pytest.raises(UserError):
            check_space(bad)


def test_oracle_ceiling_on_synthetic_arrays():
    from zsarbench.diagnostics import oracle_top1

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 5
    labels = np.repeat(np.arange(4), 5)
    feats = centres[labels] + rng.normal(size=(20, 16)) * 0.1
    assert oracle_top1(feats, labels, [0, 1, 2, 3]) == 100.0     # separable clusters
    assert oracle_top1(feats, labels, [1, 3]) == 100.0           # a split: only its classes
    # one video per class has no leave-one-out mean of its own class: a miss
    assert oracle_top1(feats[[0, 5, 6]], labels[[0, 5, 6]], [0, 1]) == pytest.approx(200 / 3, abs=1e-3)
    # the leave-one-out mean excludes the video itself: two identical-centre classes are chance-level
    mixed = np.vstack([np.eye(2)[[0, 1, 0, 1]], np.eye(2)[[0, 1, 0, 1]]])
    assert oracle_top1(mixed, np.repeat([0, 1], 4), [0, 1]) < 100.0


def test_ceilings_table_puts_each_method_between_chance_and_its_oracle():
    from zsarbench.report.ceilings import ceilings_md
    from zsarbench.report.load import Result

    diag = {"oracle_top1": {"mean": 80.0, "std": 1.0, "n": 3}, "seen_probe_top1": {"mean": 60.0},
            "chance_top1": 10.0, "note": "uses target labels"}
    doc = {"kind": "zsar-run", "method": {"name": "rest_tiny"}, "protocol": {"name": "tiny"}, "overrides": {},
           "aggregate": {"top1": {"mean": 45.0}}, "diagnostics": diag}
    md = ceilings_md([Result("tiny/a.json", doc), Result("tiny/b.json", {**doc, "diagnostics": None} | {"kind": "x"})])
    assert "| tiny | rest_tiny (rest_tiny) | real datasets | 1 | 10.0 | 45.0 | 80.0 | 0.50 | 60.0 | - | - | - |" in md
    assert "not ZSAR results" in md


def test_a_killed_trial_is_failed_and_its_point_retried(tmp_path, monkeypatch):
    """A `tune` killed mid-trial leaves a RUNNING trial that stops beating; the next `tune` on the
    study (optimize calls fail_stale_trials) marks it failed and enqueues the same point again."""
    import time

    import optuna

    from zsarbench import study as S
    from zsarbench import tune as T

    monkeypatch.setattr(S, "HEARTBEAT_S", 1)
    monkeypatch.setattr(S, "GRACE_S", 1)
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    study = T.open_study("s", storage, seed=0, prune=False)
    trial = study.ask()
    trial.suggest_float("recipe.joint_lr", 1e-5, 1e-3, log=True)
    study._storage.record_heartbeat(trial._trial_id)   # what optimize's heartbeat thread does
    time.sleep(2.5)                                     # ... then the process is killed
    optuna.storages.fail_stale_trials(study)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    assert study.trials[1].params == study.trials[0].params   # the same point, enqueued
    record = T.tuning_record(study, "s", storage, {}, {}, {}, 0, study.trials[0])
    assert (record["trials"], record["complete"], record["pruned"], record["failed"]) == (2, 0, 0, 1)


@pytest.mark.train
def test_the_full_recipe_continues_from_its_warmup_rung_with_the_weights_of_a_whole_training(tmp_path, cache_dir):
    """A tune rung (joint_epochs = 0) keeps its warm-up end state; the full recipe then trains only its
    joint stage from there, and ends with exactly the weights of the full recipe trained whole."""
    import shutil
    from dataclasses import replace

    import torch

    from zsarbench.context import RunContext
    from zsarbench.prepare import WARMUP_END, prepare
    from zsarbench.protocol import load_protocol

    P = load_protocol(str(TINY_PROTOCOL), {"recipe": {"warmup_epochs": 1.5, "joint_epochs": 0.5, "batch_size": 6}})
    rung = replace(P, recipe=replace(P.recipe, joint_epochs=0.0))
    logs = []
    ctx = RunContext(cache_dir, tmp_path / "results", device="cpu", log=logs.append)
    run = lambda p: prepare("rest_tiny", p, ctx, features=False, target=False)  # noqa: E731

    whole = run(P)
    assert not whole.reused and "warmup_continued_from" not in whole.train_log
    weights = {k: v.clone() for k, v in whole.method.model.state_dict().items()}
    shutil.rmtree(whole.ckpt.parent)              # forget it: the full recipe must train again

    first = run(rung)
    assert (first.ckpt.parent / WARMUP_END).is_file() and not (first.ckpt.parent / "train_state.pt").exists()
    logs.clear()
    again = run(P)
    assert again.key == whole.key and not again.reused
    assert again.train_log["warmup_continued_from"] == first.key
    assert any("continuing from its end" in str(m) for m in logs)
    assert again.train_log["warmup"]["steps"] == whole.train_log["warmup"]["steps"]
    assert again.train_log["joint"]["loss_per_epoch"] == whole.train_log["joint"]["loss_per_epoch"]
    for k, v in again.method.model.state_dict().items():
        assert torch.equal(v, weights[k]), k


def test_remaining_budget_charges_finished_trials_and_ignores_a_killed_one():
    """--until: the trials a study completed or pruned and the seconds they took are spent; a failed
    trial (retried at its point) and one a killed process left RUNNING neither count nor are charged."""
    from datetime import datetime, timedelta
    from types import SimpleNamespace

    from optuna.trial import FrozenTrial, TrialState

    from zsarbench.tune import remaining_budget

    t0 = datetime(2026, 12, 8)

    def trial(n, state, seconds):
        return FrozenTrial(number=n, state=state, value=0.5 if state == TrialState.COMPLETE else None,
                           datetime_start=t0, datetime_complete=None if seconds is None else t0 + timedelta(seconds=seconds),
                           params={}, distributions={}, user_attrs={}, system_attrs={}, intermediate_values={},
                           trial_id=n)
    study = SimpleNamespace(trials=[trial(0, TrialState.COMPLETE, 600), trial(1, TrialState.PRUNED, 100),
                                    trial(2, TrialState.FAIL, 50), trial(3, TrialState.RUNNING, None)])
    study.trials[1].set_user_attr("seconds", 90.0)          # the trial's own seconds, when it has them
    assert remaining_budget(study, 8, 3600) == (6, 2910.0)
    assert remaining_budget(study, 8, None) == (6, None)
    assert remaining_budget(study, 2, 600) == (0, 0.0)     # over budget on both counts: nothing more to run


@pytest.mark.train
def test_until_completes_an_interrupted_study_and_never_adds_to_a_complete_one(tmp_path, cache_dir, monkeypatch):
    import optuna

    from zsarbench import results

    def trials():
        [doc] = [json.loads(p.read_text()) for p in sorted((tmp_path / "res").rglob("rest_tiny-tune-*.json"))][-1:]
        return len(optuna.load_study(study_name=doc["study"]["name"], storage=doc["study"]["storage"]).trials)

    _tune(tmp_path, cache_dir, TINY_PROTOCOL, "--trials", "1", "--no-prune")   # a study stopped after 1 trial
    assert trials() == 1
    r = _tune(tmp_path, cache_dir, TINY_PROTOCOL, "--until", "2", "--no-prune")
    assert "budget left: 1 of 2 trials" in r.output and trials() == 2
    # the budget is spent; the call still rewrites its overlay. Where that overlay is a committed file
    # (protocols/tuned/ in the repository), the rewrite is the call's output: its record stays clean
    repo = tmp_path                              # a repository where the overlay is committed
    overlay = repo / "overlay.toml"
    overlay.write_text(overlay.read_text() + "# an older best point\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "overlay.toml"], check=True)
    subprocess.run([*git, "commit", "-qm", "overlay"], check=True)
    monkeypatch.setattr(results, "git_revision", lambda cwd=None, real=results.git_revision: real(repo))
    before = set((tmp_path / "res").rglob("rest_tiny-tune-*.json"))
    r = _tune(tmp_path, cache_dir, TINY_PROTOCOL, "--until", "2", "--no-prune")
    assert "budget left: 0 of 2 trials" in r.output and trials() == 2
    assert subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                          text=True).stdout.strip() == "M overlay.toml"          # it did rewrite the file
    [doc] = [json.loads(p.read_text()) for p in set((tmp_path / "res").rglob("rest_tiny-tune-*.json")) - before]
    assert doc["provenance"]["git_dirty"] is False and doc["provenance"]["git_at_end"]["git_dirty"] is False
    assert doc["provenance"]["git_changed_during_run"] is False


def test_trials_and_until_together_are_refused(capsys):
    from helpers import run_entry

    code, _, err = run_entry(capsys, "tune", "rest_tiny", "-p", TINY_PROTOCOL, "--trials", "2", "--until", "3")
    assert code == 2 and "give one of them" in err and "Traceback" not in err


def test_a_study_is_keyed_by_what_its_objective_reads(monkeypatch):
    """An edited protocol (a training field, the transfer grid) or a new synthetic format names a new
    study; the target (never read), the wording and a non-training field (workers) do not."""
    import dataclasses

    import zsarbench.data.synth as synth
    from zsarbench.protocol import load_protocol
    from zsarbench.tune import study_name

    P = load_protocol(str(TINY_PROTOCOL))
    name = lambda Q: study_name("rest_tiny", Q, {"recipe.joint_lr": {"low": 1e-5, "high": 1e-3}}, {}, {})  # noqa: E731
    base = name(P)
    assert base.startswith(f"rest_tiny--{P.name}--")
    same = [dataclasses.replace(P, description="reworded"), dataclasses.replace(P, path="/elsewhere/tiny.toml"),
            dataclasses.replace(P, target=dataclasses.replace(P.target, n_splits=P.target.n_splits + 1)),
            dataclasses.replace(P, recipe=dataclasses.replace(P.recipe, workers=7))]
    assert all(name(Q) == base for Q in same)
    other = [dataclasses.replace(P, recipe=dataclasses.replace(P.recipe, warmup_lr=P.recipe.warmup_lr * 2)),
             dataclasses.replace(P, transfer=dataclasses.replace(P.transfer, theta=[0.0]))]
    assert all(name(Q) != base for Q in other)
    monkeypatch.setattr(synth, "FORMAT_VERSION", synth.FORMAT_VERSION + 1)
    assert name(P) != base


def test_a_study_refuses_a_trial_on_other_source_videos():
    from types import SimpleNamespace

    import optuna

    from zsarbench.errors import UserError
    from zsarbench.tune import check_source

    study = optuna.create_study(study_name="s", direction="maximize")
    seen = {"classes": "c1", "videos": "v1", "n_videos": 96}
    check_source(study.ask(), SimpleNamespace(name="src", digest=seen))
    check_source(study.ask(), SimpleNamespace(name="src", digest=dict(seen)))
    assert study.user_attrs["source_digest"] == seen
    with pytest.raises(UserError, match="videos digest v1, this one reads v2 .the videos changed"):
        check_source(study.ask(), SimpleNamespace(name="src", digest={**seen, "videos": "v2"}))
