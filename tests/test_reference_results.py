"""The committed reference results (results/, issue 29): every cell of the paper's tables on the
synthetic benchmark pools three training seeds of the current data format, from clean runs, except
the rows results/README.md lists as still to rerun. PENDING is that list: a row that is rerun must
leave it (the test fails on a pending row that is complete), so it can only shrink."""

from pathlib import Path

import pytest

from zsarbench.data.synth import FORMAT_VERSION
from zsarbench.report import marks
from zsarbench.report.cells import Cell, pick
from zsarbench.report.load import load_results
from zsarbench.report.tables import TABLES

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 3

# (table, row label) still to rerun with seeds 0-2 on the current format, in results/README.md's
# "Still to rerun" order
PENDING = {
    ("table1", "ResT_101 (rest101; tuned: 8 trials, 96 min)"),                      # make tune-reference, then
    ("table2", "ResT_101 (rest101; tuned: 8 trials, 96 min)"),                      # each overlay --seeds 0-2
}
# make tune-reference adds Table 1's equal-budget tuned rows of rest34, rest18 and e2e_r2plus1d (not rows yet)


def cells():
    R = load_results(ROOT / "results")
    for table in TABLES:
        for grid in table.build("synthetic", R):
            for row in grid.rows:
                for c in row:
                    if isinstance(c, Cell) and c.protocol:
                        got = pick(c, [r for r in R if c.matches(r)])
                        yield table.key, str(row[0]), c.protocol, got


def complete(got) -> bool:
    return len(got.results) == SEEDS and got.fmt == FORMAT_VERSION


@pytest.fixture(scope="module")
def found():
    return list(cells())


def test_every_table_cell_has_three_seeds_of_the_current_format(found):
    short = [f"{t} | {label} | {p}: n={len(got.results)}, {marks.format_label(got.fmt)}"
             for t, label, p, got in found if (t, label) not in PENDING and not complete(got)]
    assert not short, "cells short of seeds 0-2 on format %d (rerun them, or list them as PENDING and in " \
                      "results/README.md):\n" % FORMAT_VERSION + "\n".join(short)


def test_no_pooled_result_is_git_dirty(found):
    """Every pooled result, pending rows included, ran from a clean tree."""
    dirty = sorted({r.path for t, label, p, got in found for r in got.results if marks.is_dirty(r)})
    assert not dirty, f"git-dirty results in table cells (rerun them from a clean worktree): {dirty}"


def test_pending_rows_are_still_pending(found):
    rows = {(t, label) for t, label, _, _ in found}
    assert PENDING <= rows, f"PENDING names rows no table has: {sorted(PENDING - rows)}"
    done = sorted(PENDING - {(t, label) for t, label, _, got in found if not complete(got)})
    assert not done, f"rerun: remove from PENDING (and results/README.md's list): {done}"
