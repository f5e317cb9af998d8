"""Reports: the results loader, `zsarbench tables` (deterministic, relocatable, correct cells),
figures, and the per-class results that run.evaluate_split stores for them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, run_cli

from zsarbench.errors import UserError
from zsarbench.evaluate import confusion_matrix, mean_class_accuracy, per_class_accuracy
from zsarbench.report.load import load_results
from zsarbench.report.projection import tsne
from zsarbench.report.tables import write_tables
from zsarbench.results import SCHEMA_VERSION

CLASSES = [f"class_{i}" for i in range(6)]
SEEN = [f"seen_{i}" for i in range(8)]


def fake_run(top1s, method="rest18", protocol="synth-ucf-0-50", ckpt="k0", finished="2026-01-01T00:00:00+00:00",
             overrides=None, detail=False, collapsed=False):
    """A zsar-run result as run.py writes it, with made-up numbers (3 unseen classes per split; its
    predictions spread over the classes, or all to the first with `collapsed`)."""
    rng = np.random.default_rng(len(top1s))
    splits = []
    for s, t in enumerate(top1s):
        conf = np.array([[3, 0, 0]] * 3) if collapsed else np.ones((3, 3), int) + np.eye(3, dtype=int) * (1 + s % 2)
        sp = {"index": s, "unseen_classes": CLASSES[s % 3: s % 3 + 3], "n_videos": int(conf.sum()), "top1": t,
              "top5": 100.0, "mean_class_top1": t, "chance_top1": 33.333, "confusion": conf.tolist(),
              "hubness": {"k1": {"skew_sample": 0.5, "skew_paper_eq10": 1.5, "psi": [3, 1, 0]}},
              "edges": {c: [[SEEN[0], 0.9]] for c in CLASSES[s % 3: s % 3 + 3]}}
        if detail and s == 0:
            sp["relatedness"] = rng.random((3, len(SEEN))).round(4).tolist()
            sp["projection"] = {"method": "t-SNE", "classes": sp["unseen_classes"],
                                "videos": {"xy": rng.normal(size=(6, 2)).tolist(), "label": [0, 0, 1, 1, 2, 2]},
                                "prototypes": {"xy": rng.normal(size=(3, 2)).tolist()}}
        splits.append(sp)
    a = np.asarray(top1s)
    agg = {m: {"mean": round(float(a.mean()), 3), "std": round(float(a.std()), 3), "n": len(a)}
           for m in ("top1", "top5", "mean_class_top1")}
    agg["chance_top1"] = 33.333
    agg["hubness"] = {"k1": {n: {"mean": 1.0, "std": 0.0, "n": len(a)} for n in ("skew_sample", "skew_paper_eq10")}}
    split = "0/100" if protocol.endswith("0-100") else "0/50"
    return {"schema_version": 1, "kind": "zsar-run", "command": f"zsarbench run {method} -p {protocol}",
            "method": {"name": method}, "overrides": overrides or {}, "metric_scale": "percent",
            "protocol": {"name": protocol, "target": {"dataset": "synth-ucf", "split": split}},
            "data": {"source": {"seen_classes": SEEN}}, "checkpoint": {"key": ckpt},
            "transfer": {"theta": 0.7, "K": 3, "rho": 2}, "splits": splits, "aggregate": agg,
            "provenance": {"finished": finished}}


# label and space of each variant as `ablate constraints` writes them (transfer/variants.py)
VARIANT_ROWS = {"reverse": ("Reverse transfer", "S"), "none": ("No constraint", "V"), "knn": ("Constraint I", "V"),
                "relative+budget": ("Constraint II + III", "V"), "all": ("All constraints", "V"),
                "s-space-nn": ("S-space nearest neighbour", "S")}


def fake_ablation(protocol="synth-ucf-0-50"):
    """A schema-1 constraint ablation (one protocol, `variants`): the layout of the committed results."""
    variants = [{"variant": v, "label": VARIANT_ROWS[v][0], "space": VARIANT_ROWS[v][1], "aggregate": {
        "top1": {"mean": 40.0 + i, "std": 1.0, "n": 3}, "top5": {"mean": 90.0, "std": 0.0, "n": 3},
        "hubness": {"k1": {"skew_sample": {"mean": 0.25, "std": 0.0, "n": 3},
                           "skew_paper_eq10": {"mean": None, "std": None, "n": 0}}}},
        "splits": [{"hubness": {"k1": {"psi": [2, 1, 0]}}}] * 3}
        for i, v in enumerate(("reverse", "none", "knn", "relative+budget", "all", "s-space-nn"))]
    return {"schema_version": 1, "kind": "zsar-ablation", "command": "zsarbench ablate constraints",
            "method": {"name": "rest18"}, "overrides": {}, "metric_scale": "percent", "ablation": "constraints",
            "protocol": {"name": protocol, "target": {"dataset": "synth-ucf", "split": "0/50"}},
            "checkpoint": {"key": "k0"}, "variants": variants, "provenance": {"finished": "2026-01-02T00:00:00+00:00"}}


def fake_table_ablation(name="architecture", protocols=("synth-ucf-0-50", "synth-ucf-0-100")):
    """The layout of ablate.ablate_table: rows scored on several protocols."""
    def row(cells, top1, clips):
        return {"cells": cells, "method": {"name": "m"}, "variant": "all", "embedding": "glove-6b-50d",
                "recipe": {"test_clips": clips}, "checkpoint": {"key": f"k{top1}"},
                "cost": {"measured": True, "gmac_per_clip": 0.0123, "gflop_per_clip": 0.0246, "test_clips": clips},
                "results": {p: {"aggregate": {"top1": {"mean": top1 + i, "std": 2.0, "n": 10 if i == 0 else 1}}}
                            for i, p in enumerate(protocols)}}
    return {"schema_version": 1, "kind": "zsar-ablation", "ablation": name, "command": f"zsarbench ablate {name}",
            "protocols": list(protocols), "overrides": {}, "metric_scale": "percent",
            "rows": [row({"SE": "RNN", "Transfer": "✓"}, 11.0, 25), row({"SE": "RNN", "Transfer": "✓"}, 13.0, 1)],
            "provenance": {"finished": "2026-01-03T00:00:00+00:00"}}


def write(root: Path, rel: str, obj) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "results"
    write(root, "synth-ucf-0-50/rest18-a.json", fake_run([20.0, 30.0], ckpt="k1"))
    write(root, "synth-ucf-0-50/rest18-b.json", fake_run([40.0, 40.0], ckpt="k2"))
    write(root, "synth-ucf-0-50/rest18-b-again.json", fake_run([40.0, 40.0], ckpt="k2", finished="2026-02-01",
                                                              detail=True))   # the latest: figures use it
    write(root, "synth-ucf-0-50/rest18-set.json", fake_run([90.0], ckpt="k3",
                                                           overrides={"recipe": {"warmup_epochs": 3}}))
    write(root, "synth-hmdb-0-50/rest18-seed.json", fake_run([25.0, 35.0], protocol="synth-hmdb-0-50",
                                                             overrides={"recipe": {"seed": 4}}))
    write(root, "synth-ucf-0-50/rest18-all-classes.json", fake_run([70.0, 80.0], ckpt="k4",
                                                                  overrides={"source": {"remove_overlap_with": []}}))
    write(root, "synth-ucf-0-100/rest34-c.json", fake_run([12.0], method="rest34", protocol="synth-ucf-0-100"))
    write(root, "synth-ucf-0-50/rest18-ablate-constraints-x.json", fake_ablation())
    write(root, "synth-ucf-0-50/ablate-architecture-y.json", fake_table_ablation())
    write(root, "synth-ucf-0-50/ablate-backbones-y.json", fake_table_ablation("backbones"))
    write(root, "overlap/kinetics-vs-ucf.json", {"kind": "zsar-overlap", "removed": []})   # not a report input
    write(root, "synth-ucf-0-50/rest18-reserved.json", "")                                # a run in progress
    return root


def render(root: Path, out: Path) -> dict:
    write_tables(load_results(root), out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_tables_are_byte_identical_across_renders_and_copies(tree, tmp_path):
    first = render(tree, tmp_path / "t1")
    assert render(tree, tmp_path / "t2") == first
    copy = tmp_path / "elsewhere" / "results"
    shutil.copytree(tree, copy)
    assert render(copy, tmp_path / "t3") == first, "tables depend on the results alone, not their location"
    assert {f"table{i}.{e}" for i in range(1, 10) for e in ("md", "tex")} <= set(first)
    text = b"".join(first.values()).decode()
    assert str(tmp_path) not in text and "2026-0" not in text, "no absolute paths, no times"


def test_cells_pool_runs_and_list_missing_commands(tree, tmp_path):
    render(tree, tmp_path / "t")
    t1 = (tmp_path / "t" / "table1.md").read_text()
    ours, paper = t1.split("## Reported (paper")
    # two trained models (k1: 25.0, k2: 40.0; k2 evaluated twice counts once); the --set run is not pooled;
    # the spread over seeds is the sample std (ddof 1)
    assert "| ResT_18 (rest18) | 32.5 ± 10.6 (n=2; splits ± 2.5) | 30.0 ± 5.0 |" in ours, "seed-only overrides are the same cell"
    assert "90.0" not in ours
    assert "| ResT_34 (rest34) | - | - |" in ours
    assert "zsarbench run rest34 -p synth-ucf-0-50" in t1 and "zsarbench run rest101 -p synth-hmdb-0-50" in t1
    assert "zsarbench run rest18 -p synth-ucf-0-50\n" not in t1, "a filled cell lists no command"
    assert "54.7 ± 2.3" in paper and "54.7" not in ours, "the paper's numbers are never in our block"
    t2 = (tmp_path / "t" / "table2.md").read_text()
    assert "| ResT_18 (rest18) | 32.5 ± 10.6 (n=2; splits ± 2.5) | - | 30.0 ± 5.0 | - | n/a | n/a |" in t2
    assert "| ResT_34 (rest34) | - | 12.0 | - | - | n/a | n/a |" in t2, "one split: no std"
    t7 = (tmp_path / "t" / "table7.md").read_text()
    assert "| all source classes (no overlap removal) | 75.0 ± 5.0 | 75.0 ± 5.0 | - | - |" in t7
    assert "zsarbench run rest18 -p synth-hmdb-0-50 --set source.remove_overlap_with=[]" in t7
    t8 = (tmp_path / "t" / "table8.md").read_text()
    assert "| Reverse transfer | S | undefined | 0.250 ± 0.000 | 40.0 ± 1.0 | 90.0 ± 0.0 |" in t8
    assert "zsarbench ablate constraints -p synth-hmdb-0-50" in t8
    t3 = (tmp_path / "t" / "table3.md").read_text()
    assert "| SE | Transfer | 0/50 (synth-ucf-0-50) | 0/100 (synth-ucf-0-100) |" in t3
    assert "| RNN | ✓ | 11.0 ± 2.0 | 12.0 |" in t3 and "| RNN | ✓ | 13.0 ± 2.0 | 14.0 |" in t3
    assert "zsarbench ablate components -p synth-ucf-0-50" in t3
    t4 = (tmp_path / "t" / "table4.md").read_text()
    assert "| RNN | ✓ | 0.0123 × 1 | 13.0 ± 2.0 | 14.0 |" in t4, "cost: GMAC per clip x test clips"
    tex = (tmp_path / "t" / "table1.tex").read_text()
    assert r"ResT\_18 (rest18) & 32.5 $\pm$ 10.6 (n=2; splits $\pm$ 2.5)" in tex


def test_loader_rejects_malformed_and_newer_files_naming_them(tmp_path):
    root = tmp_path / "results"
    write(root, "p/ok.json", fake_run([10.0]))
    assert len(load_results(root)) == 1
    write(root, "p/broken.json", '{"schema_version": 1, "kind": "zsar-run", ')
    with pytest.raises(UserError, match=r"broken\.json: malformed JSON"):
        load_results(root)
    (root / "p/broken.json").unlink()
    write(root, "p/newer.json", {**fake_run([10.0]), "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(UserError, match=rf"newer\.json: results schema version {SCHEMA_VERSION + 1} is newer"):
        load_results(root)
    (root / "p/newer.json").unlink()
    bad = fake_run([10.0])
    del bad["aggregate"]["top1"]
    write(root, "p/incomplete.json", bad)
    with pytest.raises(UserError, match=r"incomplete\.json: malformed results file: no 'aggregate.top1'"):
        load_results(root)
    r = run_cli("tables", "--results-dir", str(root), "--out", str(tmp_path / "t"))
    assert r.returncode == 2 and "incomplete.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def as_schema_2(v1: dict, protocols=("synth-ucf-0-50",)) -> dict:
    """A schema-1 constraint ablation in the one ablation layout of schema 2: rows on protocols."""
    rows = [{"id": v["variant"], "key": v["variant"], "cells": {"variant": v["label"], "space": v["space"]},
             "method": v1["method"], "variant": v["variant"], "checkpoint": v1["checkpoint"],
             "results": {p: {"aggregate": v["aggregate"], "splits": v["splits"]} for p in protocols}}
            for v in v1["variants"]]
    return {"schema_version": 2, "kind": "zsar-ablation", "command": v1["command"], "overrides": {},
            "metric_scale": "percent", "ablation": "constraints", "protocols": list(protocols),
            "protocol": [{"name": p} for p in protocols], "rows": rows, "provenance": v1["provenance"]}


def test_schema_1_and_2_ablations_render_the_same_tables(tmp_path):
    """The loader reads both versions: the committed (schema 1) results stay valid."""
    v1 = fake_ablation()
    write(tmp_path / "one", "synth-ucf-0-50/rest18-ablate-constraints-x.json", v1)
    write(tmp_path / "two", "synth-ucf-0-50/rest18-ablate-constraints-x.json", as_schema_2(v1))
    for tree in ("one", "two"):
        assert run_cli("tables", "--results-dir", str(tmp_path / tree)).returncode == 0
    for name in ("table8.md", "table3.md"):
        assert (tmp_path / "one/tables" / name).read_text() == (tmp_path / "two/tables" / name).read_text()
    assert "| Reverse transfer | S | undefined | 0.250 ± 0.000 | 40.0 ± 1.0 | 90.0 ± 0.0 |" in \
        (tmp_path / "two/tables/table8.md").read_text()


def test_committed_tables_are_up_to_date(tmp_path):
    """`make tables` on a fresh clone regenerates results/tables byte for byte."""
    committed = ROOT / "results" / "tables"
    if not committed.is_dir():
        pytest.skip("no committed tables yet")
    fresh = render(ROOT / "results", tmp_path / "t")
    assert fresh == {p.name: p.read_bytes() for p in sorted(committed.iterdir())}, "run `make tables`"


def test_confusion_and_per_class_accuracy():
    scores = np.array([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0], [0.0, 0.2, 0.1], [0.1, 0.0, 0.8], [0.3, 0.2, 0.1]])
    y = np.array([0, 1, 1, 2, 2])
    C = confusion_matrix(scores, y, 3)
    assert C.tolist() == [[1, 0, 0], [1, 1, 0], [1, 0, 1]], "ties go to the first class, as in top-k"
    C4 = np.zeros((4, 4), dtype=int)
    C4[:3, :3] = C                              # a fourth class without test videos
    acc = per_class_accuracy(C4)
    assert acc[:3].tolist() == [100.0, 50.0, 50.0] and np.isnan(acc[3])
    assert np.nanmean(acc) == pytest.approx(mean_class_accuracy(scores, y))


def test_score_split_stores_per_class_confusion_and_figure_data():
    from zsarbench.protocol import Transfer
    from zsarbench.scoring import SplitInputs, score_split

    rng = np.random.default_rng(0)
    kappa, n_target, d = 8, 4, 16
    seen_vecs = rng.normal(size=(kappa, 5))
    seen_vecs /= np.linalg.norm(seen_vecs, axis=1, keepdims=True)
    target_vecs = rng.normal(size=(n_target, 5))
    target_vecs /= np.linalg.norm(target_vecs, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_target), 5)
    x = SplitInputs(rng.normal(size=(len(labels), d)), labels, [f"t{i}" for i in range(n_target)], target_vecs,
                    rng.normal(size=(kappa, d)), seen_vecs, [f"s{i}" for i in range(kappa)], Transfer(solver="exact"))
    unseen = [1, 2, 3]
    sp = score_split(x, 0, unseen, "all", {"theta": 0.0, "K": 3, "rho": 2}, detail=True)
    C = np.asarray(sp["confusion"])
    assert C.shape == (3, 3) and C.sum() == sp["n_videos"] == 15
    assert 100 * np.trace(C) / C.sum() == pytest.approx(sp["top1"], abs=1e-3)
    assert list(sp["per_class_top1"]) == ["t1", "t2", "t3"]
    assert np.mean(list(sp["per_class_top1"].values())) == pytest.approx(sp["mean_class_top1"], abs=1e-3)
    assert np.asarray(sp["relatedness"]).shape == (3, kappa)
    proj = sp["projection"]
    assert proj["classes"] == ["t1", "t2", "t3"] and len(proj["videos"]["xy"]) == 15
    assert len(proj["prototypes"]["xy"]) == 3 and sorted(set(proj["videos"]["label"])) == [0, 1, 2]
    assert "relatedness" not in score_split(x, 1, unseen, "all", {"theta": 0.0, "K": 3, "rho": 2})


def test_tsne_keeps_clusters_apart():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), 12)
    X = rng.normal(size=(4, 20))[y] * 4 + rng.normal(size=(len(y), 20))
    Y = tsne(X, perplexity=10, n_iter=500)
    D = ((Y[:, None] - Y[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    assert (y[D.argmin(1)] == y).mean() == 1.0


def test_figures_from_results_alone(tree, tmp_path):
    from zsarbench.report.figures import write_figures

    out = tmp_path / "figures"
    (out).mkdir()
    (out / "stale-old.png").write_bytes(b"x")
    written = write_figures(load_results(tree), out)
    for kind in ("confusion", "per-class", "tsne", "transfer", "hubness"):
        for ext in ("png", "pdf"):
            assert (out / f"{kind}-synth-ucf-0-50.{ext}").stat().st_size > 1000
    assert "confusion-synth-ucf-0-100.png" in written and "tsne-synth-ucf-0-100.png" not in written
    assert not (out / "stale-old.png").exists()
