"""What the tables and orderings say beside a number (report/marks.py, issue 25): Holm's correction
and the detectable difference (stats.py) against statsmodels and a hand computation, "no difference",
the sample std over seeds, a collapsed row, a model that did not train, a dirty run, a seed found
twice, a cell that never pools two data formats."""

import math
import re

import numpy as np
import pytest
from helpers import run_cli
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower
from test_report import fake_run, write

from zsarbench import stats
from zsarbench.report.cells import fmt_cell, pool
from zsarbench.report.load import load_results
from zsarbench.report.tables import write_tables

ROWS = [([[60.0, 62.0], [61.0, 63.0], [59.0, 62.0]], [[55.0, 57.0], [58.0, 57.0], [56.0, 55.0]]),    # p ~ 0.004
        ([[50.0, 52.0], [54.0, 50.0], [49.0, 53.0]], [[48.0, 50.0], [49.0, 51.0], [47.0, 49.0]]),    # p ~ 0.04
        ([[40.0, 41.0], [44.0, 43.0], [39.0, 42.0]], [[40.0, 38.0], [39.0, 41.0], [42.0, 40.0]]),    # not significant
        ([[70.0, 72.0], [71.0, 73.0], [72.0, 71.0]], [[50.0, 52.0], [51.0, 49.0], [52.0, 50.0]])]    # p < 0.001


def test_holm_adjusted_p_is_statsmodels_and_the_hand_computation():
    family = [stats.compare(a, b) for a, b in ROWS] + [stats.compare([[1.0]], [[2.0], [3.0]])]   # + a 1-seed pair
    raw = [c.p for c in family[:4]]
    adjusted = stats.adjust(family)
    assert [c.p for c in adjusted[:4]] == raw, "the raw p-value is kept beside the adjusted one"
    got = [c.p_adjusted for c in adjusted[:4]]
    assert got == pytest.approx(multipletests(raw, method="holm")[1])
    # by hand: the k-th smallest p times (m - k + 1), never below the one before, at most 1
    m, hand, running = len(raw), [0.0] * len(raw), 0.0
    for k, i in enumerate(np.argsort(raw)):
        running = max(running, min(1.0, raw[i] * (m - k)))
        hand[i] = running
    assert got == pytest.approx(hand)
    assert adjusted[4].verdict == stats.ONE_SEED and adjusted[4].p_adjusted is None, "untested pairs stay out"
    # the verdicts follow the adjusted p: a raw p below 0.05 can stop being significant
    for c in adjusted[:4]:
        assert c.verdict == stats.verdict_of(c.diff, c.p_adjusted)
    assert any(c.p < 0.05 <= c.p_adjusted and c.verdict == stats.HOLDS_NOISE for c in adjusted[:4])


def test_a_zero_difference_is_no_difference():
    c = stats.compare([[40.0, 42.0], [38.0, 40.0]], [[39.0, 41.0], [41.0, 39.0]])   # both rows average 40.0
    assert c.diff == 0 and c.p is not None and c.verdict == stats.NO_DIFFERENCE == "no difference"
    assert stats.adjust([c])[0].verdict == stats.NO_DIFFERENCE
    assert stats.verdict_of(0.0, 0.001) == stats.NO_DIFFERENCE and stats.verdict_of(0.5, 0.5) == stats.HOLDS_NOISE


def test_the_detectable_difference_has_80_percent_power():
    a, b = ROWS[2]
    c = stats.compare(a, b)
    ma, mb = np.mean(a, axis=1), np.mean(b, axis=1)
    sd = math.sqrt((np.var(ma, ddof=1) + np.var(mb, ddof=1)) / 2)          # pooled, equal n
    assert TTestIndPower().power(effect_size=c.mdd / sd, nobs1=3, ratio=1.0, alpha=0.05) == pytest.approx(0.8, abs=1e-6)
    assert c.mdd > abs(c.diff), "within noise, and too few seeds to see a difference this small"
    paired = stats.compare(a, b, ["m0", "m1", "m2"], ["m0", "m1", "m2"])
    assert paired.mdd is not None and paired.mdd != c.mdd


def test_the_spread_over_seeds_is_the_sample_std():
    assert pool([30.0, 34.0, 38.0]) == pytest.approx((34.0, 4.0, 3))          # ddof 1: 4.0, not 3.27
    assert pool([30.0])[1] == 0.0
    vals = [{"mean": m, "std": 5.0, "n": 10} for m in (30.0, 34.0, 38.0)]
    assert fmt_cell(vals, 1) == "34.0 ± 4.0 (n=3; splits ± 5.0)"


def seeded(top1s, method, seed, ckpt=None, **kw):
    doc = fake_run(top1s, method=method, ckpt=ckpt or f"{method}-{seed}", overrides={"recipe": {"seed": seed}}, **kw)
    doc["protocol"]["recipe"] = {"seed": seed}
    return doc


def tables(root, tmp_path):
    out, warnings = tmp_path / "tables", []
    write_tables(load_results(root), out, warnings)
    return {p.stem: p.read_text() for p in out.glob("*.md")}, warnings


def table1_row(md: str, label: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {label} "))


def pair(md: str, a: str, b: str, protocol="synth-ucf-0-50") -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {protocol} | {a} > {b} |"))


def test_a_collapsed_row_is_marked_and_not_tested(tmp_path):
    root = tmp_path / "results"
    for s in range(3):
        write(root, f"synth-ucf-0-50/rest18-{s}.json", seeded([15.0 + s, 14.0], "rest18", s, collapsed=True))
        write(root, f"synth-ucf-0-50/e2e-{s}.json", seeded([10.0 + s, 11.0], "e2e_r2plus1d", s))
    md, _ = tables(root, tmp_path)
    assert table1_row(md["table1"], "ResT_18").endswith("(collapsed: 6 of 6 splits) | - |")
    assert "collapsed" not in table1_row(md["table1"], "E2E_R(2+1)D")
    assert pair(md["orderings"], "rest18", "e2e_r2plus1d").endswith("| - | - | - | collapsed: not testable |")


def test_a_stage_that_did_not_train_is_marked_in_every_cell_and_not_tested(tmp_path):
    root = tmp_path / "results"
    flat = {"warmup": {"loss_per_epoch": [3.75, 3.66, 3.635]}}       # ln 38 = 3.638: F learned nothing
    for s in range(2):
        for protocol in ("synth-ucf-0-50", "synth-hmdb-0-50"):
            old = seeded([10.0 + s, 9.0], "rest101", s, protocol=protocol)      # a file from before the record
            old["training"], old["data"]["source"]["seen_classes"] = flat, [f"c{i}" for i in range(38)]
            write(root, f"{protocol}/rest101-{s}.json", old)
        new = seeded([30.0 + s, 31.0], "rest34", s)
        new["training_verdict"] = {"stages": {}, "did_not_train": ["joint"]}
        write(root, f"synth-ucf-0-50/rest34-{s}.json", new)
    md, _ = tables(root, tmp_path)
    row = table1_row(md["table1"], "ResT_101")
    assert row.count("(did not train: warmup)") == 2, row
    assert "(did not train: joint)" in table1_row(md["table1"], "ResT_34")
    assert pair(md["orderings"], "rest101", "rest34").endswith("| did not train: not testable |")
    assert table1_row(md["table2"], "ResT_101").count("(did not train: warmup)") == 2     # every cell it enters


def test_a_dirty_run_is_marked_in_every_cell_it_enters(tmp_path):
    root = tmp_path / "results"
    for s in range(2):
        doc = seeded([40.0 + s, 41.0], "rest18", s)
        doc["provenance"].update(git_revision="abc", git_dirty=s == 1)
        write(root, f"synth-ucf-0-50/rest18-{s}.json", doc)
        moved = seeded([20.0 + s, 21.0], "e2e_r2plus1d", s)
        moved["provenance"].update(git_dirty=False, git_changed_during_run=s == 0)     # HEAD moved during it
        write(root, f"synth-ucf-0-50/e2e-{s}.json", moved)
    write(root, "synth-ucf-0-50/rest34-0.json", seeded([30.0, 31.0], "rest34", 0))
    md, _ = tables(root, tmp_path)
    assert "‡" in table1_row(md["table1"], "ResT_18").split("|")[2]
    assert "‡" in table1_row(md["table1"], "E2E_R(2+1)D").split("|")[2]
    assert "‡" not in table1_row(md["table1"], "ResT_34")
    assert "‡: a results file behind this number ran from a worktree with uncommitted changes" in md["table1"]
    assert "‡" in table1_row(md["table2"], "ResT_18")
    assert re.search(r"\| synth-ucf-0-50 \| rest18 \| 2 \| 0, 1 \| [^|]* \| 1: ‡ \|", md["orderings"])


def test_the_same_seed_twice_counts_once_with_a_warning(tmp_path):
    """Seed 0 trained twice (e.g. in two cache folders: two checkpoint keys) is one seed, the latest."""
    root = tmp_path / "results"
    write(root, "synth-ucf-0-50/rest18-a.json", seeded([40.0, 40.0], "rest18", 0, ckpt="key-a"))
    write(root, "synth-ucf-0-50/rest18-b.json", seeded([44.0, 44.0], "rest18", 0, ckpt="key-b",
                                                       finished="2026-02-01T00:00:00+00:00"))
    write(root, "synth-ucf-0-50/rest18-c.json", seeded([50.0, 50.0], "rest18", 1, ckpt="key-c"))
    md, warnings = tables(root, tmp_path)
    assert table1_row(md["table1"], "ResT_18").split("|")[2].strip().startswith("47.0 ± 4.2 (n=2")
    assert warnings == ["synth-ucf-0-50, rest18: seed 0 has two trained models (synth-ucf-0-50/rest18-a.json, "
                        "synth-ucf-0-50/rest18-b.json); counted once, the latest (synth-ucf-0-50/rest18-b.json)"]
    r = run_cli("tables", "--results-dir", str(root), "--out", str(tmp_path / "cli"))
    assert r.returncode == 0 and r.stderr.count("seed 0 has two trained models") == 1, r.stderr


def test_a_cell_never_pools_two_data_formats_and_tables_say_which(tmp_path):
    root = tmp_path / "results"
    for s, fmt in ((0, 6), (1, 6), (0, 7), (1, 7)):
        doc = seeded([30.0 + 10 * (fmt - 6) + s, 30.0], "rest18", s, ckpt=f"f{fmt}-{s}")
        doc["data"]["target"] = {"format": fmt}
        write(root, f"synth-ucf-0-50/rest18-f{fmt}-{s}.json", doc)
    old = seeded([12.0, 12.0], "e2e_r2plus1d", 0)
    old["data"]["target"] = {"root": "/cache/synth/v6-seed0-c1ef737fb4/ucf"}        # before format 7: its folder
    write(root, "synth-ucf-0-50/e2e-0.json", old)
    md, _ = tables(root, tmp_path)
    assert table1_row(md["table1"], "ResT_18").split("|")[2].strip().startswith("35.2 ± 0.4 (n=2")   # format 7 only
    assert "format 7: ResT_18 (rest18) (synth-ucf-0-50)" in md["table1"]
    assert "format 6: E2E_R(2+1)D (e2e_r2plus1d) (synth-ucf-0-50)" in md["table1"]
    assert "- `synth-ucf-0-50/rest18-f6-0.json`" in md["table1"].split("older data format")[1]
    assert pair(md["orderings"], "rest18", "e2e_r2plus1d").endswith("| different data formats: not testable |")
