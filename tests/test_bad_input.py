"""Bad input (docs/errors.md, "Bad input and broken state"): out-of-range protocol, recipe, transfer, prototypes, synth and method
values; runs in which no clip can be used; dataset roots that hold another dataset. Each is one line
on stderr, exit code 2, no traceback, and no results file."""

from pathlib import Path

import pytest
from helpers import ROOT, run_entry
from real_layouts import build_hmdb51

from zsarbench.data.signatures import SIGNATURES, signature_mismatch
from zsarbench.data.synth import ensure_synth
from zsarbench.protocol import load_protocol

RUN_TINY = ["run", "rest_tiny", "-p", "tests/protocols/tiny.toml"]


def results_files() -> set[Path]:
    return set((ROOT / "results").rglob("*.json"))


def assert_one_line_exit_2(code: int, err: str, needle: str, results_dir: Path, before: set[Path]) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert "Traceback" not in err
    assert not any(p.is_file() for p in results_dir.rglob("*")), "no results file"
    assert results_files() == before, "nothing new under results/"


@pytest.mark.parametrize("sets, needle", [
    (["recipe.frames=-4"], "recipe.frames must be an integer >= 0, got -4"),
    (["recipe.warmup_epochs=-1"], "recipe.warmup_epochs must be a number >= 0, got -1"),
    (["recipe.crop=0"], "recipe.crop must be an integer >= 1, got 0"),
    (["recipe.mlm_prob=1.5"], "recipe.mlm_prob must be a number in (0, 1], got 1.5"),
    (["recipe.warmup_momentum=1"], "recipe.warmup_momentum must be a number in [0, 1), got 1"),
    (["recipe.workers=-2"], "recipe.workers must be an integer >= -1, got -2"),
    (["recipe.crop=64", "recipe.resize=48"], "recipe.crop 64 is larger than the frames (recipe.resize 48)"),
    (["transfer.theta=[0.5, 1.2]"], "transfer.theta must be a number in [0, 1], got 1.2"),
    (["transfer.K=[0, 3]"], "transfer.K must be an integer >= 1, got 0"),
    (["transfer.rho=[]"], "transfer.rho must hold at least 1 value, got []"),
    (["transfer.cv_folds=1"], "transfer.cv_folds must be an integer >= 2, got 1"),
    (["target.n_splits=0"], "target.n_splits must be an integer >= 1, got 0"),
    (["source.tau=-0.1"], "source.tau must be a number in [0, 2], got -0.1"),
    (["prototypes.clips=0"], "prototypes.clips must be an integer >= 1, got 0"),
    (["prototypes.max_videos_per_class=-1"], "prototypes.max_videos_per_class must be an integer >= 0, got -1"),
    (["synth.n_frames=0"], "synth.n_frames must be an integer >= 1, got 0"),
    (["method.depth=0"], "method 'rest_tiny': depth must be an integer >= 1, got 0"),
    (["method.dropout=1.0"], "method 'rest_tiny': dropout must be a number in [0, 1), got 1.0"),
    (["method.mlp_ratio=-2"], "method 'rest_tiny': mlp_ratio must be a number > 0, got -2"),
])
def test_out_of_range_values_are_refused_on_load(sets, needle, capsys, tmp_path):
    before = results_files()
    code, _, err = run_entry(capsys, *RUN_TINY, *[a for s in sets for a in ("--set", s)],
                             "--results-dir", tmp_path / "results")
    assert_one_line_exit_2(code, err, needle, tmp_path / "results", before)


def test_out_of_range_seed_and_protocol_file(capsys, tmp_path):
    before = results_files()
    code, _, err = run_entry(capsys, *RUN_TINY, "--seed", "-1", "--results-dir", tmp_path / "results")
    assert_one_line_exit_2(code, err, "recipe.seed must be an integer in [0, 4294967295], got -1",
                           tmp_path / "results", before)
    f = tmp_path / "p.toml"
    f.write_text(f'include = "{ROOT}/tests/protocols/tiny.toml"\n[recipe]\njoint_epochs = -0.5\n')
    code, _, err = run_entry(capsys, "validate", f)
    assert_one_line_exit_2(code, err, "recipe.joint_epochs must be a number >= 0, got -0.5", tmp_path / "results", before)


def test_committed_protocols_keep_loading_with_legal_edge_values():
    from zsarbench.protocol import load_protocol, protocol_files

    for name in protocol_files():
        load_protocol(name)
    p = load_protocol(str(ROOT / "tests/protocols/tiny.toml"), {
        "recipe": {"warmup_epochs": 0, "joint_epochs": 0.2, "frames": 0, "resize": 0, "workers": -1},
        "prototypes": {"max_videos_per_class": 0}, "transfer": {"theta": [0, 1], "K": [1], "rho": [1]}})
    assert p.recipe.warmup_epochs == 0.0 and p.transfer.theta == [0.0, 1.0]


# ----------------------------------------------------------------------------- runs with no usable clip

@pytest.mark.parametrize("sets", [
    ["recipe.crop=48"],                                                  # training would skip every clip
    ["recipe.crop=48", "method.freeze=true", "recipe.joint_epochs=0"],   # no training: the features would
])
def test_clips_smaller_than_the_crop_stop_the_run(sets, capsys, tmp_path, cache_dir):
    """The tiny protocol's videos are 40 x 40: too small for a 48 crop, found by probing a few videos
    when the data is read, before any training or feature extraction."""
    assert run_entry(capsys, "data", "synth", "-p", ROOT / "tests/protocols/tiny.toml", "--cache-dir", cache_dir)[0] == 0
    capsys.readouterr()   # a cold cache generates the videos first (its progress lines): not this test's output
    before = results_files()
    code, _, err = run_entry(capsys, *RUN_TINY, *[a for s in sets for a in ("--set", s)], "--cache-dir", cache_dir,
                             "--results-dir", tmp_path / "results")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: dataset 'synth-kinetics': its videos are 40x40")
    assert "smaller than the 48-pixel crop: set recipe.resize or recipe.crop" in lines[0]
    assert "unreadable" not in lines[0] and "Traceback" not in err
    assert not list((tmp_path / "results").rglob("*.json")) and results_files() == before


# ----------------------------------------------------------------------------- dataset signatures

def test_a_wrong_dataset_root_stops_before_any_work(capsys, tmp_path, cache_dir):
    """The UCF101 root given an HMDB51 tree: refused while the data is read, before any training."""
    hmdb = build_hmdb51(tmp_path / "hmdb51")
    proto = tmp_path / "ucf-tiny.toml"
    proto.write_text(f'include = "{ROOT}/tests/protocols/tiny.toml"\n[target]\ndataset = "ucf101"\nsplit = "0/100"\n')
    ensure_synth(Path(cache_dir), load_protocol(str(proto)).synth)   # the source, made beforehand: no progress bars
    before, ckpts = results_files(), set((Path(cache_dir) / "checkpoints").glob("*"))
    code, _, err = run_entry(capsys, "run", "rest_tiny", "-p", proto, "--data-root", f"ucf101={hmdb}",
                             "--cache-dir", cache_dir, "--results-dir", tmp_path / "results")
    assert_one_line_exit_2(code, err, f"ucf101 root {hmdb} holds 4 classes like 'brush_hair' — an HMDB51 tree? "
                           "point --data-root ucf101=... at UCF-101/", tmp_path / "results", before)
    assert "--allow-nonstandard for your own subset" in err
    assert set((Path(cache_dir) / "checkpoints").glob("*")) == ckpts, "no run proceeds: nothing trained"


def test_a_wrong_root_for_labels_and_data_check(capsys, tmp_path):
    hmdb = build_hmdb51(tmp_path / "hmdb51")
    code, _, err = run_entry(capsys, "labels", "ucf101", "--data-root", f"ucf101={hmdb}")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "an HMDB51 tree?" in lines[0] and "Traceback" not in err
    code, out, err = run_entry(capsys, "data", "check", "ucf101", "--data-root", f"ucf101={hmdb}",
                               "--results-dir", tmp_path / "res")
    assert code == 0, err
    assert "signature: does not match (runs refuse this root without --allow-nonstandard): ucf101 root" in out
    assert "an HMDB51 tree?" in out and "layout: videos in <root>/<class>/, no lists" in out
    assert "digest: classes " in out


def _names(sig, n, drop=0):
    return sorted(list(sig.canonical[drop:]) + [f"Other class {i}" for i in range(n - len(sig.canonical) + drop)])


def test_signatures_compare_class_count_and_names(tmp_path):
    ucf, hmdb, k700 = SIGNATURES["ucf101"], SIGNATURES["hmdb51"], SIGNATURES["kinetics700"]
    assert signature_mismatch("ucf101", tmp_path, _names(ucf, 101)) is None
    assert signature_mismatch("ucf101", tmp_path, _names(ucf, 101, drop=1)) is None, "one renamed class is tolerated"
    assert "without 'ApplyEyeMakeup', 'BabyCrawling'" in signature_mismatch("ucf101", tmp_path, _names(ucf, 101, drop=2))
    assert "holds 100 classes like" in signature_mismatch("ucf101", tmp_path, _names(ucf, 100))
    assert "not the 101 of UCF101" in signature_mismatch("ucf101", tmp_path, _names(ucf, 100))
    assert "— an HMDB51 tree?" in signature_mismatch("ucf101", tmp_path, _names(hmdb, 51))
    assert "holds 700 classes like 'abseiling' — a Kinetics-700 tree?" in signature_mismatch(
        "kinetics400", tmp_path, _names(k700, 700))
    assert signature_mismatch("kinetics700", tmp_path, _names(k700, 700)) is None
    assert signature_mismatch("my-own-set", tmp_path, ["a", "b"]) is None, "only the official datasets have one"
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n")
    assert "— a Kinetics tree?" in signature_mismatch("hmdb51", tmp_path, ["train", "val"])


def test_a_step_that_could_use_no_video_says_why():
    """The backstop behind the probe (videos of mixed sizes, or all unreadable): one line naming the
    step, too-small videos apart from unreadable ones."""
    from zsarbench.data.datasets import skipped_error

    small = str(skipped_error("training stage 'warm-up'", 3, ["a", "b", "c"], ["a", "b"], 48))
    assert small.startswith("training stage 'warm-up': every video was skipped; 2 videos smaller than the 48-pixel")
    assert "(1 more unreadable)" in small
    assert "none of its 2 videos could be read (e.g. x)" in str(skipped_error("features", 2, ["x", "y"], [], 48))
