"""One resolved experiment (zsarbench/experiment.py): built once from the command line, with the method
options folded into the protocol and recipe.frames = 0 resolved in one place."""

import re
from pathlib import Path

import pytest
from helpers import ROOT

from zsarbench.cli.common import load_experiments
from zsarbench.errors import UserError
from zsarbench.experiment import experiment, resolve
from zsarbench.protocol import experiment_overrides, load_protocol

OPTS = dict(sets=(), seed=None, seeds=None, solver=None, embedding=None, protocols=("ucf101-0-50",))


@pytest.mark.parametrize("method, frames", [("rest18", 16), ("rest34", 8), ("rest101", 4), ("rest_tiny", 4)])
def test_frames_zero_becomes_the_methods_number(method, frames):
    P = load_protocol("ucf101-0-50")
    assert P.recipe.frames == 0
    exp = experiment(method, "ucf101-0-50")
    assert exp.protocol.recipe.frames == frames
    assert resolve(method, exp.protocol) == exp.protocol   # idempotent


def test_a_protocols_own_frames_and_a_method_option_win():
    assert experiment("rest18", "synth-ucf-0-50").protocol.recipe.frames == load_protocol("synth-ucf-0-50").recipe.frames
    exp = experiment("rest18", "ucf101-0-50", experiment_overrides(["method.frames=2"]))
    assert exp.protocol.method == {"frames": 2} and exp.protocol.recipe.frames == 2


def test_the_command_line_builds_one_object_per_seed_and_protocol():
    opts = {**OPTS, "sets": ("method.depth=2", "recipe.joint_epochs=0.5"), "seeds": "0-1",
            "protocols": ("ucf101-0-50,hmdb51-0-50",)}
    exps = load_experiments("rest18", opts)
    assert [(e.protocol.name, e.seed) for e in exps] == [("ucf101-0-50", 0), ("hmdb51-0-50", 0),
                                                         ("ucf101-0-50", 1), ("hmdb51-0-50", 1)]
    e = exps[0]
    # one dict as the user gave it (what the results record as `overrides`), and the protocol it made
    assert e.overrides == {"method": {"depth": 2}, "recipe": {"joint_epochs": 0.5, "seed": 0}}
    assert e.protocol.method == {"depth": 2} and e.protocol.recipe.joint_epochs == 0.5 and e.protocol.recipe.frames == 16


def test_an_unknown_method_option_fails_while_building():
    with pytest.raises(UserError, match="dpeth"):
        load_experiments("rest18", {**OPTS, "sets": ("method.dpeth=2",)})


def test_the_placeholder_is_resolved_in_one_place():
    """issue 26: `grep -rn "frames or\\|frames == 0\\|recipe.frames or" zsarbench baselines` finds one place."""
    pattern = re.compile(r"frames or|frames == 0|recipe\.frames or")
    hits = [f"{p.relative_to(ROOT)}:{i}" for folder in ("zsarbench", "baselines") for p in (ROOT / folder).rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert [h.split(":")[0] for h in hits] == [str(Path("zsarbench/experiment.py"))], hits


def test_an_ablations_smoke_gets_the_protocol_resolved_for_its_method(monkeypatch, tmp_path):
    """An ablation's experiments leave recipe.frames to each row's method; --smoke runs -m's (rest18)."""
    from types import SimpleNamespace

    from zsarbench import smoke as S
    from zsarbench.ablate import ablation_experiments

    [exp], _ = ablation_experiments("architecture", "rest18", ["ucf101-0-50"], {}, "protocol")
    assert exp.protocol.recipe.frames == 0, "resolved per row, not here"
    seen = []
    monkeypatch.setattr(S, "_checklist", lambda report, method, P, ctx, scratch: seen.append(P.recipe.frames))
    S.smoke(exp, SimpleNamespace(device="cpu", cache_dir=tmp_path), show=lambda line: None)
    assert seen == [16]
