"""--tensorboard DIR: a tiny run's live curves, read back from the event file TensorBoard reads."""

import json

import pytest
from helpers import ROOT, run_here


@pytest.mark.train
def test_tensorboard_event_file_has_the_runs_scalars(cache_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tiny = ROOT / "tests" / "protocols" / "tiny.toml"
    run_here("run", "rest_tiny", "-p", tiny, "--tensorboard", tmp_path / "tb", "--results-dir", tmp_path / "res",
             "--cache-dir", cache_dir, "--set", "recipe.seed=7")
    [folder] = (tmp_path / "tb" / "tiny").iterdir()
    assert folder.name.startswith("rest_tiny-seed7-")
    acc = EventAccumulator(str(folder))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    [result] = (tmp_path / "res").rglob("rest_tiny-*.json")
    doc = json.loads(result.read_text())
    log = doc["training"]
    for stage in ("warmup", "joint"):
        for what in ("loss", "lr", "clips_per_s", "data_wait_fraction", "loss_epoch"):
            assert f"train/{stage}/{what}" in tags, (stage, what, tags)
        losses = acc.Scalars(f"train/{stage}/loss")
        assert [e.step for e in losses] == list(range(1, log[stage]["steps"] + 1))   # every step on the CPU
        epochs = [round(e.value, 4) for e in acc.Scalars(f"train/{stage}/loss_epoch")]
        assert epochs == [round(x, 4) for x in log[stage]["loss_per_epoch"]]
        assert all(0 <= e.value <= 1 for e in acc.Scalars(f"train/{stage}/data_wait_fraction"))
        assert all(e.value > 0 for e in acc.Scalars(f"train/{stage}/clips_per_s"))
    [cv] = acc.Scalars("eval/seen_cv_top1")
    assert abs(cv.value - doc["transfer"]["cv"]["cv_top1"]) < 1e-4
    [top1] = acc.Scalars("eval/top1")
    assert abs(top1.value - doc["aggregate"]["top1"]["mean"]) < 1e-4
