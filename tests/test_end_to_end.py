"""Complete runs through the CLI: data generation, training, features, transfer, results."""

import json
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from zsarbench.protocol import load_protocol


def _results(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.json"))


def test_tiny_run_writes_complete_results_and_reuses_the_checkpoint(tmp_path, cache_dir):
    res_dir = tmp_path / "results"
    args = ["run", "rest_tiny", "-p", "tests/protocols/tiny.toml", "--cache-dir", str(cache_dir),
            "--results-dir", str(res_dir), "--seed", "3"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mean +- std" in r.stdout
    [path] = _results(res_dir)
    res = json.loads(path.read_text())
    assert res["schema_version"] == 1 and res["kind"] == "zsar-run"
    assert res["command"].startswith("zsarbench run rest_tiny") and res["protocol"]["recipe"]["seed"] == 3
    assert "percent" in res["metric_scale"]
    assert len(res["splits"]) == 3
    target = res["data"]["target"]["classes"]
    seen = set(res["data"]["source"]["seen_classes"])
    for sp in res["splits"]:
        assert len(sp["unseen_classes"]) == len(target) // 2
        assert seen.isdisjoint(sp["unseen_classes"]), "no unseen class is a training class"
        assert 0 <= sp["top1"] <= sp["top5"] <= 100
        for edges in sp["edges"].values():
            assert len(edges) <= res["transfer"]["rho"]
    removed = {r["source"] for r in res["data"]["source"]["overlap_removed"]}
    assert removed and removed.isdisjoint(seen)
    assert res["transfer"]["theta"] in (0.0, 0.7) and res["transfer"]["K"] in (3, 5)
    assert len(res["transfer"]["cv"]["grid"]) == 8
    for key in ("git_revision", "versions", "hardware", "started", "finished"):
        assert key in res["provenance"]
    assert res["checkpoint"]["reused"] is False and Path(res["checkpoint"]["path"]).exists()
    assert res["training"]["joint"]["mlm_mask_fraction"] > 0

    r2 = run_cli(*args)
    assert r2.returncode == 0, r2.stderr[-3000:]
    paths = _results(res_dir)
    assert len(paths) == 2, "a second run never overwrites the first"
    res2 = json.loads(max(paths, key=lambda p: p.stat().st_mtime_ns).read_text())
    assert res2["checkpoint"]["reused"] is True
    assert res2["aggregate"] == res["aggregate"], "same checkpoint, same features, same numbers"


@pytest.mark.slow
def test_main_job_beats_chance(tmp_path, cache_dir):
    """The README's main job (ResT_18, synthetic UCF 0/50, 10 splits) clearly above chance.

    The bound sits below the measured mean (see README) by several standard errors of the mean
    over 10 splits; a broken model, transfer or evaluation lands at chance (10%)."""
    res_dir = tmp_path / "results"
    r = run_cli("run", "rest18", "-p", "synth-ucf-0-50", "--cache-dir", str(cache_dir),
                "--results-dir", str(res_dir))
    assert r.returncode == 0, r.stderr[-3000:]
    [path] = _results(res_dir)
    res = json.loads(path.read_text())
    agg = res["aggregate"]
    assert agg["top1"]["n"] == 10
    assert agg["top1"]["mean"] >= 1.5 * agg["chance_top1"], agg
    assert res["training"]["warmup"]["epochs"] == load_protocol("synth-ucf-0-50").recipe.warmup_epochs
