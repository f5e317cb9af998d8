"""Orderings tested over training seeds: the statistic (zsarbench/stats.py) against scipy called by
hand, its verdicts, and orderings.md/.tex as `zsarbench tables` writes them (report/orderings.py)
on small fake results trees and on the committed results."""

import re
import shutil

import numpy as np
import pytest
from helpers import ROOT, run_here
from scipy import stats as sps
from test_latex import compile_one, packages
from test_report import fake_ablation, fake_run, write

from zsarbench import stats
from zsarbench.paper_tables import EMBEDDINGS, PARTS
from zsarbench.protocol import load_protocol
from zsarbench.report.load import load_results
from zsarbench.report.tables import write_tables

A = [[40.0, 42.0, 45.0], [38.0, 41.0, 44.0], [43.0, 44.0, 47.0]]      # 3 seeds x 3 splits
B = [[35.0, 36.0, 40.0], [37.0, 39.0, 38.0]]                           # 2 seeds


def test_statistic_is_welch_on_per_seed_means_as_scipy_computes_it():
    a, b = np.mean(A, axis=1), np.mean(B, axis=1)
    res = sps.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    c = stats.compare(A, B)
    assert (c.n_a, c.n_b) == (3, 2)
    assert c.mean_a == pytest.approx(a.mean()) and c.mean_b == pytest.approx(b.mean())
    assert c.diff == pytest.approx(a.mean() - b.mean())
    assert c.p == pytest.approx(res.pvalue) and c.df == pytest.approx(res.df)
    assert c.ci == pytest.approx((ci.low, ci.high))
    assert c.verdict == (stats.HOLDS if res.pvalue < 0.05 else stats.HOLDS_NOISE)
    assert "Welch" in c.method and "per-seed means" in c.method


def test_one_seed_is_never_significant():
    gap = stats.compare([[90.0, 91.0]], [[10.0, 11.0], [12.0, 13.0]])
    assert gap.verdict == stats.ONE_SEED == "1 seed: not testable"
    assert gap.p is None and gap.ci is None and gap.diff == pytest.approx(79.0) and (gap.n_a, gap.n_b) == (1, 2)
    assert stats.compare([], [[1.0]]).verdict == stats.NO_RESULTS


def test_the_trap_two_seeds_of_one_method():
    """Two seeds of the same method, 3.8 points apart: a paired test over their 10 splits calls them
    different; over seeds there is nothing to test."""
    splits = np.linspace(20, 60, 10)
    seed1, seed2 = splits, splits + 3.8 + np.linspace(-0.5, 0.5, 10)
    assert sps.ttest_rel(seed1, seed2).pvalue < 1e-6
    assert stats.compare([seed1], [seed2]).verdict == stats.ONE_SEED


def test_separated_rows_hold_and_reversed_order_is_reversed():
    good = [[60.0, 62.0], [61.0, 63.0], [59.0, 62.0]]
    bad = [[40.0, 42.0], [41.0, 39.0], [42.0, 43.0]]
    assert stats.compare(good, bad).verdict == stats.HOLDS
    back = stats.compare(bad, good)
    assert back.verdict == stats.REVERSED and back.p < 0.05 and back.ci[1] < 0


def test_rows_from_one_distribution_are_within_noise():
    rng = np.random.default_rng(7)
    for _ in range(5):
        seeds = rng.normal(40.0, 3.8, size=6)          # seed offsets; each seed: 10 splits around it
        a = [list(m + rng.normal(0, 8, 10)) for m in seeds[:3]]
        b = [list(m + rng.normal(0, 8, 10)) for m in seeds[3:]]
        c = stats.compare(a, b)
        if c.p >= 0.05:                                 # 95% of draws; the verdict follows the sign
            assert c.verdict == (stats.HOLDS_NOISE if c.diff >= 0 else stats.REVERSED_NOISE)
    a, b = [[41.0, 43.0], [38.0, 40.0], [44.0, 42.0]], [[40.0, 42.0], [43.0, 45.0], [37.0, 39.0]]
    assert stats.compare(a, b).verdict == stats.HOLDS_NOISE and stats.compare(b, a).verdict == stats.REVERSED_NOISE


def test_zero_variance_and_one_split_per_seed():
    flat = stats.compare([[50.0, 50.0], [50.0, 50.0]], [[40.0], [40.0]])
    assert flat.verdict == stats.NO_VARIANCE and flat.p is None and flat.diff == 10.0
    one_flat = stats.compare([[50.0], [50.0]], [[40.0], [42.0]])    # the other row's spread is the noise
    assert one_flat.tested and np.isfinite(one_flat.p) and np.isfinite(one_flat.ci[0])
    zero_100 = stats.compare([[50.0], [52.0], [51.0]], [[40.0], [41.0], [39.0]])    # 0/100: one split per seed
    assert zero_100.p == pytest.approx(sps.ttest_ind([50, 52, 51], [40, 41, 39], equal_var=False).pvalue)
    assert zero_100.verdict == stats.HOLDS


# ----------------------------------------------------------------------------- orderings.md / .tex

def seeded_run(top1s, method, seed, protocol="synth-ucf-0-50", **kw):
    doc = fake_run(top1s, method=method, protocol=protocol, ckpt=f"{method}-{seed}",
                   overrides={"recipe": {"seed": seed}}, **kw)
    doc["protocol"]["recipe"] = {"seed": seed}
    return doc


LEVELS = {"rest101": 70.0, "rest34": 60.0, "rest18": 50.0, "e2e_r2plus1d": 20.0}


def table1_tree(root, seeds):
    for method, level in LEVELS.items():
        for s in range(seeds):
            write(root, f"synth-ucf-0-50/{method}-s{s}.json", seeded_run([level + s, level + 2 * s], method, s))
    # the same model evaluated again counts once; a --set run is another cell
    write(root, "synth-ucf-0-50/rest18-again.json",
          seeded_run([50.0, 50.0], "rest18", 0, finished="2026-03-01T00:00:00+00:00"))
    write(root, "synth-ucf-0-50/rest18-set.json", fake_run([99.0], ckpt="x", overrides={"recipe": {"frames": 2}}))


def orderings(root, tmp_path):
    out = tmp_path / "tables"
    write_tables(load_results(root), out)
    return (out / "orderings.md").read_text(), (out / "orderings.tex").read_text()


def section(md: str, heading: str) -> str:
    return md.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]


def test_run_filled_ordering_with_one_and_three_seeds(tmp_path):
    table1_tree(tmp_path / "one", 1)
    md, _ = orderings(tmp_path / "one", tmp_path / "o1")
    t1 = section(md, "Table 1:")
    assert "| synth-ucf-0-50 | rest101 > rest34 | 70.0 (n=1) | 60.0 (n=1) | +10.0 | - | - | - | 1 seed: not testable |" in t1
    assert ("| synth-ucf-0-50 | rest18 | 1 (fewer than 2: not testable) | 0 | format unrecorded (before 7) | - | "
            "`synth-ucf-0-50/rest18-again.json` |") in t1
    assert "| synth-hmdb-0-50 | rest34 > rest18 | - (n=0) | - (n=0) | - | - | - | - | no results: not testable |" in t1
    assert "99.0" not in t1 and "rest18-set.json" not in md

    table1_tree(tmp_path / "three", 3)
    md, tex = orderings(tmp_path / "three", tmp_path / "o3")
    t1 = section(md, "Table 1:")
    for a, b in (("rest101", "rest34"), ("rest34", "rest18"), ("rest18", "e2e_r2plus1d")):
        row = re.search(rf"\| synth-ucf-0-50 \| {a} > {b} \| ([^|]*) \| ([^|]*) \| ([^|]*) \| ([^|]*) \| ([^|]*) \| "
                        r"([^|]*) \| ([^|]*) \|", t1)
        assert row and row.group(7) == "holds", t1
        raw, holm = (0.0 if x == "<0.001" else float(x) for x in (row.group(4), row.group(5)))
        assert raw <= holm < 0.05                                  # raw p, then Holm-adjusted over the table
        assert row.group(1).endswith("(n=3)") and row.group(2).endswith("(n=3)")
        assert float(row.group(3).split()[0]) == pytest.approx(LEVELS[a] - LEVELS[b])
    assert "| synth-ucf-0-50 | rest18 | 3 | 0, 1, 2 | format unrecorded (before 7) | - |" in t1
    assert "3 of 6 pairs on 2 protocols hold; no results: not testable: rest101 > rest34 (synth-hmdb-0-50)" in md
    assert r"rest101 \textgreater{} rest34 & 71.5 (3) & 61.5 (3) & +10.0 [" in tex


def registry_rows(part, protocol="synth-ucf-0-50"):
    P = load_protocol(protocol)
    return {r.id: r for r in PARTS[part].rows(P, EMBEDDINGS, "rest18")}


def ablation_doc(levels, seed, protocols=("synth-ucf-0-50", "synth-ucf-0-100"), schema=2, extra=()):
    """An architecture ablation: schema 2 rows carry their id; schema 1 rows (no id, no key) are
    named by the registry's row with the same key."""
    rows = []
    for rid, level in levels.items():
        r = registry_rows("architecture")[rid]
        rows.append({**({"id": rid} if schema == 2 else {}), "cells": r.cells, "method": {"name": r.method},
                     "variant": r.variant, "embedding": "glove-6b-50d", "recipe": r.recipe,
                     "checkpoint": {"key": f"{rid}-{seed}"},
                     "results": {p: {"aggregate": {"top1": {"mean": level + seed}},
                                     "splits": [{"top1": level + seed + d} for d in (-1.0, 1.0)]} for p in protocols}})
    rows += list(extra)
    return {"schema_version": schema, "kind": "zsar-ablation", "ablation": "architecture", "overrides": {},
            "command": "zsarbench ablate architecture", "metric_scale": "percent", "protocols": list(protocols),
            "protocol": [{"name": p, "recipe": {"seed": seed}} for p in protocols], "rows": rows,
            "provenance": {"finished": f"2026-01-0{seed + 1}T00:00:00+00:00"}}


def test_ablation_ordering_over_seeds_in_schema_1_and_2_files(tmp_path):
    root = tmp_path / "results"
    levels = {"transformer": 50.0, "lstm": 30.0, "rnn": 35.0}
    stray = {"cells": {"SE": "GRU"}, "method": {"name": "m"}, "variant": "all", "checkpoint": {"key": "g"},
             "results": {"synth-ucf-0-50": {"aggregate": {"top1": {"mean": 1.0}}}}}
    write(root, "synth-ucf-0-50/ablate-architecture-s0.json", ablation_doc(levels, 0, schema=1, extra=[stray]))
    write(root, "synth-ucf-0-50/ablate-architecture-s1.json", ablation_doc(levels, 1))
    write(root, "synth-ucf-0-50/ablate-architecture-s2.json", ablation_doc(levels, 2))
    write(root, "synth-ucf-0-50/rest18-ablate-constraints-x.json", fake_ablation())     # schema 1, one seed
    md, tex = orderings(root, tmp_path)
    t3 = section(md, "Table 3(a):")
    assert "| synth-ucf-0-50 | transformer > lstm | 51.0 (n=3) | 31.0 (n=3) | +20.0 [" in t3
    assert re.search(r"\| synth-ucf-0-100 \| transformer > lstm \|[^\n]*\| holds \|", t3)
    assert re.search(r"\| synth-ucf-0-50 \| lstm > rnn \| 31.0 \(n=3\) \| 36.0 \(n=3\) \| -5.0 \[[^\n]*\| reversed \|", t3)
    assert re.search(r"Summary: 2 of 4 pairs on 2 protocols hold; reversed: lstm > rnn \(synth-ucf-0-50: -5\.0, Holm p "
                     r"[<\d.]+, detectable [\d.]+\), lstm > rnn \(synth-ucf-0-100: [^)]*\); holds: transformer > lstm "
                     r"\(synth-ucf-0-50: \+20\.0, Holm p [<\d.]+, detectable [\d.]+\), transformer > lstm", t3), t3
    assert "| synth-ucf-0-50 | rnn | 3 | 0, 1, 2 |" in t3
    assert "- `synth-ucf-0-50/ablate-architecture-s0.json`: GRU" in section(md, "Rows not used")
    t8 = section(md, "Table 8:")
    assert "| synth-ucf-0-50 | all > knn | 44.0 (n=1) | 42.0 (n=1) | +2.0 | - | - | - | 1 seed: not testable |" in t8
    if shutil.which("pdflatex"):            # CIs and every verdict fit the page, as the tables do
        assert not re.search(r"Overfull|Float too large", compile_one("orderings", tex, tmp_path / "tex", "10pt"))
        assert set(packages(tex)) <= {"booktabs", "tabularx", "graphicx"}


def test_schema_1_table_rows_get_the_registry_ids_of_the_committed_results():
    """The committed schema-1 table ablations carry no ids: each row's key is a registry row's."""
    R = load_results(ROOT / "results")
    from zsarbench.report.orderings import registry_ids

    for r in R:
        if r.kind == "zsar-ablation" and "rows" in r.data and r.data["schema_version"] == 1:
            for p in r.protocols:
                ids = [registry_ids(r.ablation, p).get(row["key"]) for row in r.rows(p)]
                assert None not in ids and len(set(ids)) == len(ids), (r.path, p)


def test_committed_results_test_exactly_the_pairs_with_seeds(tmp_path):
    """On the committed results: a pair is tested when both rows have 2 or more seeds (and measure a
    method: neither collapsed nor untrained, both of one data format), and says "1 seed: not
    testable" (never a verdict) when either has one; none has one now."""
    md, tex = orderings(ROOT / "results", tmp_path)
    rows = re.findall(r"^\| synth-[^|]+ \| [^|]+ > [^|]+ \| ([^|]+) \| ([^|]+) \|.*\| ([^|]+) \|$", md, flags=re.M)
    n_pairs = sum(len(o.rows) - 1 for p in PARTS.values() for o in p.orderings) * 2   # each part: 2 protocols
    n_pairs += 2 * (len(PARTS["table2"].orderings[0].rows) - 1)                       # Table 2 has 4
    assert len(rows) == n_pairs
    for mean_a, mean_b, verdict in rows:
        n = [int(m[1]) if (m := re.search(r"\(n=(\d+)\)", x)) else 0 for x in (mean_a, mean_b)]
        blocked = (stats.COLLAPSED, stats.NOT_TRAINED, stats.FORMATS_DIFFER)
        if min(n) == 0:
            assert verdict == stats.NO_RESULTS
        elif min(n) == 1:
            assert verdict in (stats.ONE_SEED, *blocked)
        else:
            assert verdict in stats.TESTED or verdict in (stats.NO_VARIANCE, stats.EQUAL, *blocked)
    # every row of the committed tables has seeds 0-2 (issue 29; tests/test_reference_results.py), so no
    # pair is left at one seed, and both tests (unpaired across models, paired within one) are used
    assert stats.ONE_SEED not in {v for *_, v in rows} and "Welch" in md and "ttest_rel" in md
    assert tex.count(r"\begin{table*}") + tex.count(r"\begin{table}") == \
        sum(bool(p.orderings) for p in PARTS.values())


def test_rows_of_the_same_models_are_paired_by_model():
    """Inference variants of one model per seed: seed i of both rows is one model, so the test is
    scipy's paired t-test on the per-seed means, aligned by model whatever the order."""
    a = [[40.0, 42.0], [30.0, 31.0], [35.0, 36.0]]       # models m0, m1, m2
    b = [[33.0, 34.0], [28.0, 29.0], [38.0, 39.0]]       # the same models, listed m2, m0, m1
    c = stats.compare(a, b, ["m0", "m1", "m2"], ["m2", "m0", "m1"])
    ma = np.array([41.0, 30.5, 35.5])
    mb = np.array([33.5, 28.5, 38.5])[[1, 2, 0]]
    res = sps.ttest_rel(ma, mb)
    assert c.method == stats.PAIRED_METHOD and c.p == pytest.approx(res.pvalue) and c.df == 2
    assert c.ci == pytest.approx(tuple(res.confidence_interval(0.95)))
    assert stats.compare(a, b, ["m0", "m1", "m2"], ["x0", "x1", "x2"]).method == stats.METHOD, "other models: Welch"


def test_rows_equal_on_every_seed_do_not_hold():
    """Two variants that give the same number on every seed: the claim A > B fails, nothing to test."""
    a = [[40.0, 42.0], [30.0, 31.0]]
    c = stats.compare(a, [list(x) for x in a], ["m0", "m1"], ["m0", "m1"])
    assert c.verdict == stats.EQUAL and c.p is None and c.diff == 0


def test_results_readme_generated_blocks_are_the_committed_ones():
    """results/README.md's orderings summary, Table 1 and ceilings are generated (make tables), never
    written by hand: each block is there, equal to what the committed tables give."""
    from zsarbench.report.readme import BLOCKS, block

    readme = (ROOT / "results" / "README.md").read_text()
    for name in BLOCKS:
        assert block(name, ROOT / "results/tables") in readme, f"results/README.md block {name!r}: run `make tables`"


def test_tables_refreshes_the_results_readme_by_default(tmp_path):
    """`zsarbench tables` (so `make tables`) refreshes the generated blocks of RESULTS_DIR/README.md
    without being told; with --out elsewhere it leaves that page alone (its blocks name
    RESULTS_DIR/tables), and --readme FILE names any page."""
    from zsarbench.report.readme import block, markers

    results = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "synth-ucf-0-50", results / "synth-ucf-0-50",
                    ignore=shutil.ignore_patterns("ablate-*", "*-ablate-*", "*-tune-*"))
    begin, end = markers("table 1 (ours)")
    stale = f"intro\n\n{begin}\nstale\n{end}\n"
    (results / "README.md").write_text(stale)
    run_here("tables", "--results-dir", results, "--out", tmp_path / "elsewhere")
    assert (results / "README.md").read_text() == stale
    run_here("tables", "--results-dir", results)
    assert (results / "README.md").read_text() == f"intro\n\n{block('table 1 (ours)', results / 'tables')}\n"
    other = tmp_path / "other.md"
    other.write_text(stale)
    run_here("tables", "--results-dir", results, "--out", tmp_path / "elsewhere", "--readme", other)
    assert other.read_text() == f"intro\n\n{block('table 1 (ours)', tmp_path / 'elsewhere')}\n"


def test_update_readme_replaces_only_what_lies_between_a_blocks_markers(tmp_path):
    """`tables --readme`: each generated block is replaced in place; text around it and a page
    without a block's markers are left as they are."""
    import shutil

    from zsarbench.report.readme import block, markers, update_readme

    tables = tmp_path / "tables"
    shutil.copytree(ROOT / "results/tables", tables)
    begin, end = markers("ceilings")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{begin}\nstale numbers\n{end}\n\noutro\n")
    assert update_readme(readme, tables) == ["ceilings"]
    assert readme.read_text() == f"intro\n\n{block('ceilings', tables)}\n\noutro\n"
    assert update_readme(readme, tables) == []                     # nothing left to change
    readme.write_text("no markers\n")
    assert update_readme(readme, tables) == [] and readme.read_text() == "no markers\n"
