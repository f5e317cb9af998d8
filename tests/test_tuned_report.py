"""Tuned overlays in the report (issue 18): the tuning record an overlay carries into its results,
tuned rows beside untuned ones with their budget, the equal-budget tuned orderings, the ceilings
table pooled over seeds, and the search spaces the baselines declare."""

import copy

import pytest
from test_report import fake_run, fake_table_ablation, write

from zsarbench.report.load import load_results
from zsarbench.report.tables import write_tables

RECORD = {"study": "rest101--synth-ucf-0-50--abc", "storage": "sqlite:///x.db", "space_hash": "abc",
          "space": {"recipe.joint_lr": {"low": 1e-5, "high": 3e-4, "log": True}}, "fixed": {}, "seed": 0,
          "trials": 8, "complete": 6, "pruned": 2, "seconds": 2460.0, "best": {"number": 3, "cv_top1": 41.25}}
DIAG = {"oracle_top1": {"mean": 50.0, "std": 1.0, "n": 2}, "seen_probe_top1": {"mean": 60.0}, "chance_top1": 10.0,
        "note": "uses target labels"}


def tuned_run(top1s, method, protocol="synth-ucf-0-50", ckpt="t0", record=RECORD, **kw):
    doc = fake_run(top1s, method=method, protocol=protocol, ckpt=ckpt, **kw)
    doc["protocol"]["tuned"] = {**record, "study": f"{method}--{protocol}--abc"}
    return doc


def with_diag(doc, oracle):
    doc = copy.deepcopy(doc)
    doc["diagnostics"] = {**DIAG, "oracle_top1": {"mean": oracle, "std": 1.0, "n": 2}}
    return doc


def test_table1_shows_tuned_rows_beside_untuned_with_their_budget_and_orderings_test_them_apart(tmp_path):
    root, out = tmp_path / "results", tmp_path / "tables"
    methods = ("rest101", "rest34", "rest18", "e2e_r2plus1d")
    for m in methods:
        for s in range(2):
            write(root, f"synth-ucf-0-50/{m}-{s}.json", fake_run([20.0 + s, 22.0], method=m, ckpt=f"{m}{s}",
                                                                 overrides={"recipe": {"seed": s}}))
    write_tables(load_results(root), out)
    assert "tuned" not in (out / "table1.md").read_text()
    assert "No ordering has tuned results for every one of its rows" in (out / "orderings.md").read_text()

    # tuned runs of every method of Table 1's ordering: best first, two seeds each
    for k, m in enumerate(methods):
        for s in range(2):
            write(root, f"synth-ucf-0-50/{m}-tuned-{s}.json",
                  tuned_run([60.0 - 10 * k + s, 60.0 - 10 * k], m, ckpt=f"t{m}{s}", overrides={"recipe": {"seed": s}}))
    write_tables(load_results(root), out)
    t1 = (out / "table1.md").read_text()
    assert "| ResT_101 (rest101) | 21.2 ± 0.4 (n=2; splits ± 0.8) |" in t1                 # untuned: unchanged
    assert "| ResT_101 (rest101; tuned: 8 trials, 41 min) | 60.2 ± 0.4 (n=2; splits ± 0.2) |" in t1
    lines = t1.splitlines()
    assert lines.index(next(x for x in lines if x.startswith("| ResT_101 (rest101; tuned"))) == \
        lines.index(next(x for x in lines if x.startswith("| ResT_101 (rest101) |"))) + 1
    assert "- rest101 on synth-ucf-0-50: 8 trials (6 complete, 2 pruned), 2460 s of trial wall time" in t1
    assert "recipe.joint_lr in [1e-05, 0.0003 log]" in t1 and "% - rest101 on synth-ucf-0-50" in \
        (out / "table1.tex").read_text()
    orderings = (out / "orderings.md").read_text()
    block = orderings.split("## Equal-budget tuned", 1)[1]
    assert "### Summary (tuned)" in block and "rest101 > rest34 > rest18 > e2e_r2plus1d" in block
    assert "| synth-ucf-0-50 | rest101 > rest34 | 60.2 (n=2) | 50.2 (n=2) |" in block
    # the untuned block is the untuned runs only
    assert "| synth-ucf-0-50 | rest101 > rest34 | 21.2 (n=2) | 21.2 (n=2) |" in orderings.split("## Equal-budget", 1)[0]



def test_an_ablation_on_tuned_overlays_gives_tuned_rows_of_its_own(tmp_path):
    root, out = tmp_path / "results", tmp_path / "tables"
    write(root, "synth-ucf-0-50/ablate-backbones-a.json", fake_table_ablation("backbones"))
    tuned = fake_table_ablation("backbones")
    tuned["protocol"] = [{"name": p, "tuned": {**RECORD, "study": f"rest18--{p}--abc"}} for p in tuned["protocols"]]
    for row in tuned["rows"]:
        row["results"] = {p: {"aggregate": {"top1": {"mean": 70.0, "std": 1.0, "n": 10}}} for p in row["results"]}
    write(root, "synth-ucf-0-50/ablate-backbones-tuned.json", tuned)
    write_tables(load_results(root), out)
    t4 = [x for x in (out / "table4.md").read_text().splitlines() if x.startswith("| RNN")]
    assert t4[0].startswith("| RNN | ✓ |") and "| 11.0 ± 2.0 |" in t4[0]
    assert t4[1].startswith("| RNN (tuned) | ✓ |") and "| 70.0 ± 1.0 |" in t4[1]
    assert "- ablation on synth-ucf-0-50: 8 trials" in (out / "table4.md").read_text()

def test_ceilings_pool_seeds_into_one_row_per_method_and_keep_other_runs_apart(tmp_path):
    from zsarbench.report.ceilings import ceilings_md

    root = tmp_path / "results"
    for s, (z, o) in enumerate(((30.0, 50.0), (40.0, 52.0), (35.0, 48.0))):
        write(root, f"synth-ucf-0-50/rest18-{s}.json", with_diag(fake_run([z, z], ckpt=f"r{s}",
                                                                          overrides={"recipe": {"seed": s}}), o))
        write(root, f"synth-ucf-0-50/e2e-{s}.json", with_diag(fake_run([12.0, 12.0], "e2e_r2plus1d", ckpt=f"e{s}",
                                                                        overrides={"recipe": {"seed": s}}), 17.0))
    write(root, "synth-ucf-0-50/rest18-again.json", with_diag(fake_run([35.0, 35.0], ckpt="r0",
                                                                       finished="2026-02-01"), 50.0))  # r0 again
    write(root, "synth-ucf-0-50/rest18-set.json", with_diag(fake_run([20.0], ckpt="x",
                                                                     overrides={"recipe": {"warmup_epochs": 3}}), 30.0))
    write(root, "synth-ucf-0-50/rest18-tuned.json", with_diag(tuned_run([45.0], "rest18"), 55.0))
    write(root, "synth-hmdb-0-50/rest34.json", with_diag(fake_run([9.0], "rest34", "synth-hmdb-0-50"), 9.0))
    md = ceilings_md(load_results(root))
    rows = [x for x in md.splitlines() if x.startswith("| synth-")]
    f = "format unrecorded (before 7)"
    assert rows == [   # seeds: sample std (ddof 1); top-class share: the mean over the row's splits (the largest)
        f"| synth-ucf-0-50 | ResT_18 (rest18) | {f} | 3 | 10.0 | 36.7 ± 2.9 | 50.0 ± 2.0 | 0.67 | 60.0 ± 0.0 | 0.33 (max 0.33) | - | - |",
        f"| synth-ucf-0-50 | ResT_18 (rest18; tuned: 8 trials, 41 min) | {f} | 1 | 10.0 | 45.0 | 55.0 | 0.78 | 60.0 | 0.33 (max 0.33) | - | - |",
        f"| synth-ucf-0-50 | ResT_18 (rest18) `--set recipe.warmup_epochs=3` | {f} | 1 | 10.0 | 20.0 | 30.0 | 0.50 | 60.0 | 0.33 (max 0.33) | - | - |",
        f"| synth-ucf-0-50 | E2E_R(2+1)D (e2e_r2plus1d) | {f} | 3 | 10.0 | 12.0 ± 0.0 | 17.0 ± 0.0 | 0.29 | 60.0 ± 0.0 | 0.33 (max 0.33) | - | - |",
        f"| synth-hmdb-0-50 | ResT_34 (rest34) | {f} | 1 | 10.0 | 9.0 | 9.0 | - | 60.0 | 0.33 (max 0.33) | - | - |"]
    assert "- synth-ucf-0-50: loses most between oracle and ZSAR: rest18 (13.3 points" in md
    assert "least: e2e_r2plus1d (5.0 points, position 0.29)" in md and "synth-hmdb-0-50:" not in md.split("Reading")[1]
    assert ceilings_md(load_results(root)) == md


def test_tune_overlay_keeps_the_protocol_name_and_carries_its_tuning_record(tmp_path):
    from zsarbench.protocol import load_protocol, tuned_record
    from zsarbench.results import protocol_fields
    from zsarbench.tune import overlay_text

    P = load_protocol("synth-ucf-0-50")
    path = tmp_path / "rest_tiny--synth-ucf-0-50.toml"
    point = {"recipe.joint_lr": 1e-4, "method.depth": 2}
    path.write_text(overlay_text(path, P, {"recipe": {"joint_epochs": 0.2}}, {}, point, "tuned", RECORD) + "\n")
    O = load_protocol(str(path))
    assert O.name == "synth-ucf-0-50" and O.recipe.joint_lr == 1e-4 and O.recipe.joint_epochs == 0.2
    assert O.method == {"depth": 2} and tuned_record(path) == RECORD
    assert protocol_fields(O)["tuned"] == RECORD and "tuned" not in protocol_fields(P)
    assert tuned_record(P.path) is None


@pytest.mark.parametrize("method, names", [
    ("e2e_tiny", {"recipe.warmup_lr", "recipe.warmup_epochs", "recipe.joint_epochs", "method.loss"}),
    ("e2e_r2plus1d", {"recipe.warmup_lr", "recipe.warmup_epochs", "recipe.joint_epochs", "method.loss"}),
    ("twostream_lstm18", {"recipe.warmup_epochs", "recipe.warmup_lr", "recipe.joint_lr", "method.dim",
                          "method.layers", "method.dropout"}),
    ("twostream_rnn_tiny", {"recipe.warmup_epochs", "recipe.joint_epochs", "recipe.joint_lr", "method.dim",
                            "method.layers"}),
])
def test_baselines_declare_their_search_spaces(method, names):
    from zsarbench.registry import create_method, search_space
    from zsarbench.tune import check_space

    space = check_space(search_space(method))
    assert set(space) == names
    if "method.loss" in space:
        from zsarbench_baselines.e2e import LOSSES
        assert space["method.loss"]["choices"] == list(LOSSES)
    for name, spec in space.items():   # every option value the space can draw is one the method accepts
        if name.startswith("method."):
            for v in spec.get("choices", [spec.get("low"), spec.get("high")]):
                create_method(method, **{name.split(".", 1)[1]: int(v) if spec.get("int") else v})


@pytest.mark.train
def test_tune_e2e_tiny_then_run_its_overlay_gives_a_tuned_row_beside_the_untuned_one(tmp_path, cache_dir):
    """The whole path on a CPU in seconds: `tune` with the family's declared space (e2e_tiny: fractions
    of an epoch), `run` of the protocol and of the overlay, `tables` with both rows and the budget. The
    protocol is the tiny one named synth-ucf-0-50, so its results land in Table 1's column."""
    from helpers import ROOT, run_here

    protocol = tmp_path / "synth-ucf-0-50.toml"
    protocol.write_text(f'include = "{ROOT / "tests" / "protocols" / "tiny.toml"}"\n')
    overlay, res = tmp_path / "tuned" / "e2e_tiny--synth-ucf-0-50.toml", tmp_path / "res"
    common = ["--cache-dir", cache_dir, "--results-dir", res]
    run_here("tune", "e2e_tiny", "-p", protocol, "--trials", "2", "--storage", f"sqlite:///{tmp_path / 's.db'}",
             "--out", overlay, *common)
    assert "# zsarbench-tuned: " in overlay.read_text()
    run_here("run", "e2e_tiny", "-p", protocol, *common)
    run_here("run", "e2e_tiny", "-p", overlay, *common)
    run_here("tables", "--results-dir", res, "--out", tmp_path / "tables")
    t1 = (tmp_path / "tables" / "table1.md").read_text()
    assert "| e2e_tiny (e2e_tiny) | " in t1
    tuned_row = next(x for x in t1.splitlines() if x.startswith("| e2e_tiny (e2e_tiny; tuned: 2 trials, "))
    assert [c.strip() for c in tuned_row.strip("|").split("|")][1] != "-"   # its synth-ucf-0-50 cell is filled
    assert "- e2e_tiny on synth-ucf-0-50: 2 trials (" in t1 and "method.loss in {mse-normalised, mse-raw, cosine}" in t1
    assert "rest_tiny" not in (tmp_path / "tables" / "ceilings.md").read_text()
    assert "e2e_tiny (e2e_tiny; tuned: 2 trials" in (tmp_path / "tables" / "ceilings.md").read_text()


def test_a_study_with_killed_trials_states_them_in_its_budget(tmp_path):
    """A killed trial (failed, then retried as a new trial of its point) is named in the budget note
    and not counted among the trials of the row label."""
    root, out = tmp_path / "results", tmp_path / "tables"
    record = {**RECORD, "trials": 10, "failed": 2}
    write(root, "synth-ucf-0-50/rest101-tuned.json", tuned_run([30.0, 32.0], "rest101", record=record))
    write_tables(load_results(root), out)
    t1 = (out / "table1.md").read_text()
    assert "| ResT_101 (rest101; tuned: 8 trials, 41 min) |" in t1
    assert "10 trials (6 complete, 2 pruned, 2 killed and retried), 2460 s of trial wall time" in t1
    # the missing tuned cell (HMDB51) says how to get its overlay first
    assert ("test -f protocols/tuned/rest101--synth-hmdb-0-50.toml || zsarbench tune rest101 -p synth-hmdb-0-50 "
            "--trials 8 --out protocols/tuned/rest101--synth-hmdb-0-50.toml; "
            "zsarbench run rest101 -p protocols/tuned/rest101--synth-hmdb-0-50.toml") in t1
