"""Per-video evidence of a real tiny run (issue 28): its predictions re-score to its JSON, a bundle
round-trips through `verify` (and `verify --rerun`), a changed video fails it in one line, and a
protocol with its own class-name file runs, records it and gets its own row."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from helpers import run_entry, run_here

from zsarbench.predictions import confusion, read_predictions, rescore

pytestmark = pytest.mark.train

def _run(res_dir: Path, cache_dir, *args) -> tuple[Path, dict]:
    """`zsarbench run rest_tiny ARGS` (the session's tiny_run's: its model and features are reused)."""
    before = set(res_dir.rglob("*.json"))
    run_here("run", "rest_tiny", *args, "--cache-dir", cache_dir, "--results-dir", res_dir)
    [path] = set(res_dir.rglob("*.json")) - before
    return path, json.loads(path.read_text())


def test_tiny_run_predictions_rescore_and_its_bundle_verifies_until_a_video_changes(tmp_path, cache_dir, capsys,
                                                                                  tiny_run):
    path, doc = _run(tmp_path / "results", cache_dir, *tiny_run.args)
    preds = read_predictions(path, doc)
    again = rescore(preds)
    for sp in doc["splits"]:
        assert again[sp["index"]] == {"top1": sp["top1"], "top5": sp["top5"]}, "per split, the JSON's top-1/top-5"
        cand = [preds.classes.index(c) for c in sp["unseen_classes"]]
        assert confusion(preds.split(sp["index"]), cand).tolist() == sp["confusion"]
        assert sp["n_listed"] == sp["n_evaluated"] == sp["n_videos"] == len(preds.split(sp["index"]).videos)
        assert sp["top1_bounds"] == [sp["top1"], sp["top1"]]
    root = Path(doc["data"]["target"]["root"])
    assert all((root / v).is_file() for v in preds.splits[0].videos), "ids: paths relative to the dataset root"
    words = doc["data"]["label_words"]
    assert words["class_names_file"] is None and len(words["embedding"]["sha256"]) == 16
    assert set(words["words"]["target"]) == set(doc["data"]["target"]["classes"])

    bundle = tmp_path / "run.tar.gz"
    code, out, err = run_entry(capsys, "bundle", path, "-o", bundle, "--cache-dir", cache_dir)
    assert code == 0 and bundle.is_file(), err
    assert run_entry(capsys, "bundle", path, "-o", bundle, "--cache-dir", cache_dir)[0] == 2, "never overwritten"
    # someone else's copy of the data: the synthetic videos in a cache of their own
    from zsarbench.data.synth import synth_root
    from zsarbench.protocol import load_protocol

    src = synth_root(cache_dir, load_protocol("tests/protocols/tiny.toml").synth)
    mine = tmp_path / "elsewhere"
    shutil.copytree(src, mine / "synth" / src.name)
    code, out, err = run_entry(capsys, "verify", bundle, "--cache-dir", mine)
    assert code == 0 and "verified" in out and "re-scored from the stored predictions" in out, err
    changed = mine / "synth" / src.name / root.name / preds.splits[0].videos[0]
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0x01
    changed.write_bytes(bytes(data))
    code, out, err = run_entry(capsys, "verify", bundle, "--cache-dir", mine)
    said = [ln for ln in err.splitlines() if "elapsed" not in ln]   # the progress lines of hashing aside
    assert code == 1 and not out and len(said) == 1 and said[0].startswith("verify failed:")
    assert "1 video differs" in said[0] and preds.splits[0].videos[0] in said[0]

    code, out, err = run_entry(capsys, "verify", bundle, "--cache-dir", cache_dir, "--rerun")
    assert code == 0 and "top-5 as in the bundle" in out, err


def test_a_protocol_with_its_own_class_name_file_runs_records_it_and_gets_its_own_row(tmp_path, cache_dir, tiny_run):
    from zsarbench.report.cells import run_cell
    from zsarbench.report.layouts import _methods
    from zsarbench.report.load import load_results

    res = tmp_path / "results"
    _, plain = _run(res, cache_dir, *tiny_run.args)
    overlapping = {r["nearest_target"] for r in plain["data"]["source"]["overlap_removed"]}
    renamed = [c for c in plain["data"]["target"]["classes"] if c not in overlapping][:2]
    names = tmp_path / "llm-names.toml"   # target classes only: the seen classes, and the model, stay
    names.write_text("[synth-ucf]\n" + "".join(f'"{c}" = "a person watching a {c.split("_")[-1]} move"\n'
                                               for c in renamed))
    overlay = tmp_path / "tiny-llm-names.toml"
    overlay.write_text(f'include = "{Path("tests/protocols/tiny.toml").resolve()}"\nname = "tiny"\n'
                       '[embedding]\nclass_names = "llm-names.toml"\n')
    _, doc = _run(res, cache_dir, "-p", overlay, "--seed", "3")
    words = doc["data"]["label_words"]
    assert words["class_names_sha256"] == hashlib.sha256(names.read_bytes()).hexdigest()
    assert words["renamed"] == {"synth-ucf": sorted(renamed)}
    assert words["words"]["target"][renamed[0]] == ["a", "person", "watching", "a", renamed[0].split("_")[-1], "move"]
    assert words["digest"] != plain["data"]["label_words"]["digest"]
    assert words["seen_digest"] == plain["data"]["label_words"]["seen_digest"]
    assert doc["checkpoint"]["key"] == plain["checkpoint"]["key"] and doc["checkpoint"]["reused"], \
        "the seen classes' words did not change: the same model"
    R = load_results(res)
    rows = _methods(R, ["tiny"], ("rest_tiny",))
    assert rows == [("rest_tiny", None, None), ("rest_tiny", None, words["class_names_sha256"][:8])]
    own = run_cell("tiny", "rest_tiny", names=rows[1][2])
    assert [r.data["data"]["label_words"]["digest"] for r in R if own.matches(r)] == [words["digest"]]
    assert [r.data["data"]["label_words"]["digest"] for r in R if run_cell("tiny", "rest_tiny").matches(r)] == \
        [plain["data"]["label_words"]["digest"]]
