"""The benchmarks in bench/ run end to end at toy sizes. A GPU session runs them as one prepared
command with no second try, so a change to the APIs they use must fail here, not there."""

import json
import subprocess
import sys

import pytest
from helpers import ROOT


def bench(*args, timeout=600):
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.train
def test_clip_throughput_measures_every_phase(tmp_path):
    bench("bench/clip_throughput.py", "--method", "rest_tiny", "--frames", "2", "--crop", "16", "--batch", "2",
          "--steps", "2", "--skip", "1", "--videos", "2", "--device", "cpu", "--out", tmp_path)
    [path] = tmp_path.glob("clip_throughput-*.json")
    rep = json.loads(path.read_text())
    assert rep["kind"] == "zsar-bench" and rep["command"].startswith("python bench/clip_throughput.py --method rest_tiny")
    assert "git_revision" in rep["provenance"] and rep["seconds"] > 0
    assert (rep["method"], rep["device"], rep["frames"], rep["crop"], rep["batch"]) == ("rest_tiny", "cpu", 2, 16, 2)
    for key in ("compute_warmup_clips_per_s", "compute_joint_clips_per_s", "eval_clips_per_s"):
        assert rep[key] > 0, key
    for phase in ("e2e_mp4", "e2e_cache"):
        assert rep[phase]["clips_per_s"] > 0 and rep[phase]["peak"]["host_rss_gb"] > 0
        ratio = rep[phase]["clips_per_s"] / rep["compute_joint_clips_per_s"]
        assert abs(rep[f"ratio_{phase}_to_compute"] - ratio) < 1e-3
    assert rep["frame_cache_gb"] >= 0 and rep["compute_peak"]["host_rss_gb"] > 0
    assert rep["cpu_capability"]   # AVX2, AVX512, DEFAULT, ...
    for key in ("compute_warmup_steps_per_s", "compute_warmup_plain_conv_steps_per_s", "pixel_conv_speedup_warmup",
                "compute_joint_unfused_adamw_steps_per_s", "fused_adamw_speedup_joint"):
        assert rep[key] > 0, key


def test_transfer_solve_times_both_solvers_on_one_instance():
    rep = json.loads(bench("bench/transfer_solve.py", "--gamma", "5", "--kappa", "30", "--repeats", "1").stdout)
    assert rep["shape"] == [5, 30]
    assert 0 < rep["program_I_II_III"]["variables"] < rep["unconstrained"]["variables"] == 5 * 30
    for name in ("program_I_II_III", "unconstrained"):  # the script itself checks the objectives agree
        assert rep[name]["exact_ms"] > 0 and rep[name]["mip_over_exact"] > 0


def test_decode_throughput_measures_every_reader_on_both_kinds(tmp_path):
    bench("bench/decode_throughput.py", "--videos", "2", "--clips", "2", "--seconds", "4", "--frames", "4",
          "--stride", "2", "--resize", "64", "--positions", "2", "--out", tmp_path)
    [path] = tmp_path.glob("decode_throughput-*.json")
    rep = json.loads(path.read_text())
    assert rep["kind"] == "zsar-bench" and rep["cpu_capability"] and "git_revision" in rep["provenance"]
    assert set(rep["kinds"]) == {"h264_340x256", "mpeg4_320x240"}
    for r in rep["kinds"].values():
        rates = r["clips_per_s_per_core"]
        assert set(rates) == {"decord_native", "decord_resize64", "torchcodec_native", "torchcodec_resize64", "clip_store"}
        assert all(v > 0 for v in rates.values()) and r["ratio_to_decord_resize"]["decord_resize64"] == 1.0
        assert abs(r["cores_per_gpu_at_anchor"]["clip_store"] - 620 / rates["clip_store"]) < 0.1
        assert r["store_bytes_per_video"] > 0 and r["video_bytes_per_video"] > 0
