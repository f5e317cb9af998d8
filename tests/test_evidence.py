"""Per-video evidence without training: the predictions file, evaluated vs listed, class-name files,
`zsarbench compare` (counts, tests, refusals) and the tables' marks (issue 28)."""

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import run_entry
from scipy.stats import binomtest

from zsarbench.coverage import not_evaluated, split_coverage
from zsarbench.data.videoset import VideoSet
from zsarbench.errors import UserError
from zsarbench.evaluate import top_k_hits
from zsarbench.predictions import (
    Predictions,
    SplitPredictions,
    read_predictions,
    rescore,
    split_predictions,
    write_predictions,
)
from zsarbench.stats import compare as seed_level

CLASSES = [f"c{i}" for i in range(8)]
UNSEEN = [[0, 2, 4, 6], [1, 3, 5, 7]]          # two splits of 4 unseen classes
VIDEOS = [f"{c}/v{k}.mp4" for c in CLASSES for k in range(6)]
LABELS = np.repeat(np.arange(8), 6)


# ----------------------------------------------------------------------------- predictions file

def test_predictions_file_round_trips_rescores_and_is_checked_by_its_digest(tmp_path):
    rng = np.random.default_rng(0)
    splits, truth = [], {}
    for s, unseen in enumerate([[0, 2, 4], [1, 3, 5, 6, 7, 0]]):      # 3 candidates: top-5 padded
        sel = np.flatnonzero(np.isin(LABELS, unseen))
        y = np.searchsorted(np.asarray(sorted(unseen)), LABELS[sel])
        scores = rng.normal(size=(len(sel), len(unseen)))
        splits.append(split_predictions(s, scores, y, sorted(unseen), [VIDEOS[i] for i in sel]))
        truth[s] = {k: round(100 * float(top_k_hits(scores, y, n).mean()), 3) for k, n in (("top1", 1), ("top5", 5))}
    res = tmp_path / "run.json"
    rec = write_predictions(res, {"run": Predictions(CLASSES, splits)})
    doc = {"predictions": rec}
    back = read_predictions(res, doc)
    assert rescore(back) == truth, "accuracy recomputed from the file = scoring's"
    assert back.classes == CLASSES and back.split(1).videos == splits[1].videos
    assert (back.split(0).top[:, 3:] == -1).all() and np.isnan(back.split(0).score[:, 3:]).all()
    assert rec["sha256"] == hashlib.sha256((tmp_path / rec["file"]).read_bytes()).hexdigest()
    assert rec["file"] == "run.predictions.npz" and not list(tmp_path.glob(".*part*")), "written atomically"
    data = bytearray((tmp_path / rec["file"]).read_bytes())
    data[-30] ^= 0xFF
    (tmp_path / rec["file"]).write_bytes(bytes(data))
    with pytest.raises(UserError, match="is not the one it records"):
        read_predictions(res, doc)
    (tmp_path / rec["file"]).unlink()
    with pytest.raises(UserError, match="is missing"):
        read_predictions(res, doc)
    with pytest.raises(UserError, match="has no per-video predictions"):
        read_predictions(res, {})


# ----------------------------------------------------------------------------- evaluated vs listed

def test_a_split_counts_its_missing_and_unreadable_videos_and_bounds_its_accuracy():
    vs = VideoSet("t", Path("/d"), CLASSES, [f"/d/{v}" for v in VIDEOS], LABELS,
                  subsets={"test1": np.arange(48) % 2 == 0})
    vs.missing_rows = [("c0/gone.mp4", "c0", "test1"), ("c0/gone.mp4", "c0", "train1"), ("c1/gone.mp4", "c1", None),
                       ("x/gone.mp4", "not-a-class", None)]
    feats = SimpleNamespace(index=np.array([i for i in range(48) if i not in (0, 7)]), bad=["/d/c0/v0.mp4"],
                            small=[])                  # c0/v0 unreadable, c1/v1 not encoded
    ne = not_evaluated(vs, feats)
    assert sorted(zip(ne.ids, ne.why)) == [("c0/gone.mp4", "missing"), ("c0/v0.mp4", "unreadable"),
                                           ("c1/gone.mp4", "missing"), ("c1/v1.mp4", "not encoded"),
                                           ("x/gone.mp4", "missing")]
    # split of classes 0 and 2: 11 evaluated (c0 lost v0), 2 not (c0/v0, c0/gone.mp4 counted once)
    cov = split_coverage(ne, [0, 2], None, 11, hits1=5, hits5=9)
    assert cov["n_listed"] == 13 and cov["n_evaluated"] == 11
    assert sorted(cov["not_evaluated"]) == [["c0/gone.mp4", "missing"], ["c0/v0.mp4", "unreadable"]]
    assert cov["top1_bounds"] == [round(100 * 5 / 13, 3), round(100 * 7 / 13, 3)]
    assert cov["top5_bounds"] == [round(100 * 9 / 13, 3), round(100 * 11 / 13, 3)]
    official = split_coverage(ne, [0, 1], "test1", 6, 3, 6)   # only what test list 1 holds: v0 of c0, gone of c0
    assert sorted(official["not_evaluated"]) == [["c0/gone.mp4", "missing"], ["c0/v0.mp4", "unreadable"]]
    assert split_coverage(ne, [3], None, 6, 6, 6)["top1_bounds"] == [100.0, 100.0], "nothing missing: no spread"


def test_kinetics_missing_clips_keep_their_class_and_subset(tmp_path):
    from real_layouts import KINETICS_KEPT, build_kinetics

    from zsarbench.data.adapters import load_dataset

    root, clip = build_kinetics(tmp_path / "k700")
    vs = load_dataset("kinetics700", root, allow_nonstandard=True)
    assert vs.missing_rows == [(clip, KINETICS_KEPT[1], "train")]
    assert vs.select_subsets(["train"]).missing_rows == vs.missing_rows
    assert vs.select_subsets(["val"]).missing_rows == [], "a missing training clip is not listed for testing"


# ----------------------------------------------------------------------------- class-name files

def test_class_name_file_is_checked_and_anchored_to_its_protocol(tmp_path, monkeypatch):
    from zsarbench.protocol import load_protocol
    from zsarbench.text.names import check_names, read_class_names, words_of

    names, tiny = tmp_path / "p" / "names.toml", Path("tests/protocols/tiny.toml").resolve()
    names.parent.mkdir()
    names.write_text('[t]\n"c1" = "A person, doing c-one!"\n')
    proto = names.with_name("p.toml")
    proto.write_text(f'include = "{tiny}"\n[embedding]\nclass_names = "names.toml"\n')
    assert load_protocol(str(proto)).embedding.class_names == str(names.resolve())
    monkeypatch.chdir(names.parent)
    P = load_protocol(str(tiny), {"embedding": {"class_names": "names.toml"}})
    assert P.embedding.class_names == str(names.resolve()), "--set: relative to the current folder"
    table = read_class_names(names)
    vs = SimpleNamespace(name="t", kind="synth", classes=CLASSES)
    assert words_of("c1", vs, "glove-6b-50d", table) == ["a", "person", "doing", "c-one"]
    assert words_of("c2", vs, "glove-6b-50d", table) == ["c2"], "classes the file does not name: the rules"
    check_names(table, vs)
    with pytest.raises(UserError, match="does not have: c9"):
        check_names({"t": {"c9": ["x"]}}, vs)
    names.write_text('[t]\n"c1" = ""\n')
    with pytest.raises(UserError, match="non-empty string"):
        read_class_names(names)
    names.write_text('c1 = "x"\n')
    with pytest.raises(UserError, match="must be a table"):
        read_class_names(names)


def test_the_seen_classes_words_are_part_of_the_checkpoint_key(tmp_path, monkeypatch):
    from test_bad_state import Fake, _ctx, _data

    from zsarbench import prepare
    from zsarbench.protocol import load_protocol

    monkeypatch.setattr(prepare, "create_method", lambda name, **kw: Fake())
    P, data = load_protocol("tests/protocols/tiny.toml"), _data()
    key = prepare.train_or_reuse("fake", P, data, _ctx(tmp_path, [])).key
    assert prepare.train_or_reuse("fake", P, data, _ctx(tmp_path, [])).key == key
    data.seen_words = [["a"], ["a", "rephrased", "b"]]
    assert prepare.train_or_reuse("fake", P, data, _ctx(tmp_path, [])).key != key, "other words, another model"


# ----------------------------------------------------------------------------- compare

def fake_result(folder: Path, method: str, seed: int, hits: list[np.ndarray], unseen=UNSEEN, protocol="p",
                predictions=True) -> Path:
    """A zsar-run file with per-video predictions whose top-1 is right exactly where `hits` says."""
    splits, preds = [], []
    for s, (u, h) in enumerate(zip(unseen, hits)):
        sel = np.flatnonzero(np.isin(LABELS, u))
        label = LABELS[sel]
        wrong = np.array([u[(u.index(c) + 1) % len(u)] for c in label])
        top = np.full((len(sel), 5), -1)
        top[:, 0] = np.where(h, label, wrong)
        top[:, 1] = np.where(h, wrong, label)
        preds.append(SplitPredictions(s, [VIDEOS[i] for i in sel], label, top, np.zeros((len(sel), 5), np.float32)))
        splits.append({"index": s, "unseen_classes": [CLASSES[c] for c in u], "n_videos": len(sel),
                       "top1": round(100 * float(h.mean()), 3), "top5": 100.0})
    doc = {"kind": "zsar-run", "seed": seed, "command": f"zsarbench run {method}", "overrides": {"recipe": {"seed": seed}},
           "method": {"name": method, "config": {}}, "checkpoint": {"key": f"{method}-{seed}"},
           "protocol": {"name": protocol, "source": {"dataset": "s"}, "target": {"dataset": "t", "split": "0/50"}},
           "data": {"target": {"classes": CLASSES, "digest": {"videos": "v1", "n_videos": 48}}},
           "splits": splits, "provenance": {"finished": f"2026-01-0{seed + 1}"}}
    path = folder / f"{method}-{seed}.json"
    if predictions:
        doc["predictions"] = write_predictions(path, {"run": Predictions(CLASSES, preds)})
    path.write_text(json.dumps(doc))
    return path


def _hits(rng, p):
    return [rng.random(24) < p for _ in UNSEEN]


def test_compare_counts_each_videos_fixes_and_breaks_and_tests_them(tmp_path, capsys):
    rng = np.random.default_rng(1)
    A = {s: _hits(rng, 0.6) for s in range(3)}
    B = {s: _hits(rng, 0.4) for s in range(3)}
    for s in range(3):
        fake_result(tmp_path, "m1", s, A[s])
        fake_result(tmp_path, "m2", s, B[s])
    code, out, err = run_entry(capsys, "compare", tmp_path / "m1-*.json", tmp_path / "m2-*.json", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert len(res["mcnemar"]["tests"]) == 6
    for t in res["mcnemar"]["tests"]:
        a, b = A[t["seed"]][t["split"]], B[t["seed"]][t["split"]]
        assert (t["a_fixes"], t["a_breaks"], t["both_right"]) == ((a & ~b).sum(), (~a & b).sum(), (a & b).sum())
        assert t["p"] == pytest.approx(binomtest(t["a_fixes"], t["a_fixes"] + t["a_breaks"], 0.5).pvalue)
    values = lambda H: [[round(100 * h.mean(), 3) for h in H[s]] for s in range(3)]  # noqa: E731  (as the JSON rounds)
    c = seed_level(values(A), values(B), [f"m1-{s}" for s in range(3)], [f"m2-{s}" for s in range(3)])
    assert res["seed_level"]["verdict"] == c.verdict and res["seed_level"]["p"] == pytest.approx(c.p)
    bs = res["bootstrap"]
    assert bs["diff"] == pytest.approx(np.mean([values(A)[s] for s in range(3)]) - np.mean([values(B)[s] for s in range(3)]),
                                       abs=1e-3)
    assert bs["ci"][0] < bs["diff"] < bs["ci"][1] and "hierarchical" in bs["method"]
    assert run_entry(capsys, "compare", tmp_path / "m1-*.json", tmp_path / "m2-*.json", "--json")[1] == out, \
        "the bootstrap is seeded: the same output twice"
    assert len(res["classes"]) == 8 and abs(res["classes"][0]["change"]) >= abs(res["classes"][-1]["change"])
    code, text, _ = run_entry(capsys, "compare", f"{tmp_path / 'm1-0.json'},{tmp_path / 'm1-1.json'}",
                              tmp_path / "m2-*.json")
    assert code == 0 and "exact McNemar" in text and "hierarchical bootstrap: A - B" in text
    code, out, _ = run_entry(capsys, "compare", tmp_path / "m1-0.json", tmp_path / "m2-1.json", "--json")
    assert code == 0 and [(t["seed"], t["seed_b"]) for t in json.loads(out)["mcnemar"]["tests"]] == [(0, 1), (0, 1)], \
        "two single files are paired whatever their seeds"


def test_compare_refuses_files_of_another_split_draw_naming_it(tmp_path, capsys):
    rng = np.random.default_rng(2)
    fake_result(tmp_path, "m1", 0, _hits(rng, 0.5))
    fake_result(tmp_path, "m2", 0, _hits(rng, 0.5), unseen=[UNSEEN[0], [1, 3, 5, 6]])
    code, out, err = run_entry(capsys, "compare", tmp_path / "m1-0.json", tmp_path / "m2-0.json")
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "split draws differ: split 1's unseen classes" in err
    assert "only in" in err and "c7" in err and "c6" in err
    fake_result(tmp_path, "m3", 0, _hits(rng, 0.5), protocol="q")
    code, _, err = run_entry(capsys, "compare", tmp_path / "m1-0.json", tmp_path / "m3-0.json")
    assert code == 2 and "protocols differ: p in" in err
    other = json.loads((tmp_path / "m1-0.json").read_text())
    other["data"]["target"]["digest"]["videos"] = "v2"
    (tmp_path / "m4-0.json").write_text(json.dumps(other))
    code, _, err = run_entry(capsys, "compare", tmp_path / "m1-0.json", tmp_path / "m4-0.json")
    assert code == 2 and "target video sets differ" in err


def test_confusion_of_any_split_is_drawn_from_the_predictions(tmp_path, capsys):
    path = fake_result(tmp_path, "m1", 0, _hits(np.random.default_rng(4), 0.5))
    code, out, err = run_entry(capsys, "confusion", path, "--split", "1", "--out", tmp_path / "fig")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["confusion-m1-0-split1.pdf", "confusion-m1-0-split1.png"]
    assert run_entry(capsys, "confusion", path, "--split", "7")[0] == 2
    run = json.loads(path.read_text())       # the same predictions as an ablation's row on protocol p
    abl = {"kind": "zsar-ablation", "rows": [{"results": {"p": {"predictions": "r@p", "splits": run["splits"]}}}]}
    preds = read_predictions(path, run)
    abl["predictions"] = write_predictions(tmp_path / "abl.json", {"r@p": preds})
    (tmp_path / "abl.json").write_text(json.dumps(abl))
    code, _, err = run_entry(capsys, "confusion", tmp_path / "abl.json", "--out", tmp_path / "fig")
    assert code == 2 and "give --row, one of r@p" in err
    code, _, err = run_entry(capsys, "confusion", tmp_path / "abl.json", "--row", "r@p", "--out", tmp_path / "fig")
    assert code == 0 and (tmp_path / "fig" / "confusion-abl-r-p-split0.png").is_file(), err


def test_compare_without_predictions_gives_the_seed_level_test_only(tmp_path, capsys):
    rng = np.random.default_rng(3)
    for s in range(2):
        fake_result(tmp_path, "m1", s, _hits(rng, 0.6), predictions=False)
        fake_result(tmp_path, "m2", s, _hits(rng, 0.4))
    code, out, _ = run_entry(capsys, "compare", tmp_path / "m1-*.json", tmp_path / "m2-*.json", "--json")
    res = json.loads(out)
    assert code == 0 and "mcnemar" not in res and "not available" in res["per_video"]
    assert res["seed_level"]["n_a"] == 2


# ----------------------------------------------------------------------------- tables

def test_tables_give_class_name_runs_their_own_marked_row_and_show_wide_bounds(tmp_path):
    from test_report import fake_run, render, write

    root = tmp_path / "results"
    write(root, "synth-ucf-0-50/rest18-a.json", fake_run([20.0, 30.0], ckpt="k1"))
    names = fake_run([50.0, 60.0], ckpt="k2")
    names["data"]["label_words"] = {"class_names_sha256": "abcdef1234567890"}
    names["overrides"] = {"embedding": {"class_names": "llm-names.toml"}}
    write(root, "synth-ucf-0-50/rest18-names.json", names)
    bounded = fake_run([40.0, 40.0], protocol="synth-hmdb-0-50", ckpt="k3")
    bounded["aggregate"]["coverage"] = {"top1_bounds": [39.0, 41.5]}
    write(root, "synth-hmdb-0-50/rest18-b.json", bounded)
    t1 = render(root, tmp_path / "tables")["table1.md"].decode()
    plain = next(ln for ln in t1.splitlines() if ln.startswith("| ResT_18 (rest18) |"))
    renamed = next(ln for ln in t1.splitlines() if ln.startswith("| ResT_18 (rest18; class names abcdef12) |"))
    assert "25.0 ± 5.0" in plain and "55.0 ± 5.0" in renamed, "never pooled with the rules' names"
    assert "40.0 ± 0.0 [39.0–41.5]" in plain, "the bounds of the videos not evaluated, when wider than 0.1"
